//! TOML text to [`ast`](super::ast): types, required keys, unknown keys, verb and level
//! words. Nothing is resolved against anything else here; that is `validate`'s job.
//!
//! The walker keeps going after a problem, dropping only the piece that is wrong, so one run
//! reports every mistake in a file rather than the first.

use toml::de::DeValue;

use super::ast::*;
use super::err::{PolicyErrorKind as E, nearest};
use crate::model::{AccessWord, Level, Verb, VerbSet};
use crate::tomlwalk::{Fields, WalkError, Walker};

/// Which top-level tables a file may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileMode {
    /// A file of a policies folder: `kind`, `role`, `org`, and an optional `description`.
    Policy,
    /// A conformance case file: a policy document plus `[[check]]` tables.
    Case,
}

/// What one file contributed.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub kinds: Vec<KindDecl>,
    pub roles: Vec<RoleDecl>,
    pub orgs: Vec<OrgDecl>,
    pub checks: Vec<CheckDecl>,
    pub errors: Vec<(Loc, E)>,
}

/// Parses one file's text. `file` is its index in the policy set's sources.
pub(crate) fn parse_file(text: &str, file: u32, mode: FileMode) -> Parsed {
    let mut p: W = Walker::new(file);
    let mut out = Parsed::default();
    let doc = p.parse(text);
    let root = Fields::root(&doc);
    let top_keys: &[&str] = match mode {
        FileMode::Policy => &["description", "kind", "role", "org"],
        FileMode::Case => &["description", "kind", "role", "org", "check"],
    };
    if mode == FileMode::Policy
        && let Some(v) = root.get("check")
    {
        p.error(v.span().start, E::CheckInPolicy);
    }
    root.check_keys(&mut p, top_keys, &["check"]);
    root.string(&mut p, "description");
    for t in root.tables(&mut p, "kind", "[[kind]]") {
        if let Some(k) = kind(&mut p, &t) {
            out.kinds.push(k);
        }
    }
    for t in root.tables(&mut p, "role", "[[role]]") {
        if let Some(r) = role(&mut p, &t) {
            out.roles.push(r);
        }
    }
    for t in root.tables(&mut p, "org", "[[org]]") {
        if let Some(o) = org(&mut p, &t) {
            out.orgs.push(o);
        }
    }
    if mode == FileMode::Case {
        for t in root.tables(&mut p, "check", "[[check]]") {
            if let Some(c) = check(&mut p, &t) {
                out.checks.push(c);
            }
        }
    }
    out.errors = p.errors;
    out
}

type W = Walker<E>;

fn kind(p: &mut W, t: &Fields<'_, '_>) -> Option<KindDecl> {
    t.check_keys(p, &["name", "levels", "hierarchical", "actions"], &[]);
    let name = t.required_string(p, "name");
    let mut levels = Vec::new();
    if let Some(words) = t.required_strings(p, "levels") {
        if words.is_empty() {
            p.error(t.at, WalkError::Empty { key: "levels".into(), table: t.what.into() }.into());
        }
        for w in words {
            match Level::parse(&w.value) {
                Some(l) if !levels.contains(&l) => levels.push(l),
                Some(_) => {}
                None => {
                    let suggestion = nearest(&w.value, ["organisation", "project"]);
                    p.error(w.loc.offset as usize, E::UnknownLevel { value: w.value, suggestion });
                }
            }
        }
    }
    let hierarchical = t.bool(p, "hierarchical").unwrap_or(false);
    let mut actions = Vec::new();
    for (alias, verb) in t.string_entries(p, "actions").unwrap_or_default() {
        if Verb::parse(&alias.value).is_some() {
            p.error(alias.loc.offset as usize, E::ActionIsVerb { alias: alias.value });
            continue;
        }
        match Verb::parse(&verb.value) {
            Some(v) => actions.push((alias, v)),
            None => {
                let suggestion = nearest(&verb.value, Verb::ALL.map(Verb::name));
                p.error(
                    verb.loc.offset as usize,
                    E::BadActionVerb { alias: alias.value, value: verb.value, suggestion },
                );
            }
        }
    }
    Some(KindDecl { name: name?, levels, hierarchical, actions, loc: p.loc(t.at) })
}

fn role(p: &mut W, t: &Fields<'_, '_>) -> Option<RoleDecl> {
    t.check_keys(p, &["name", "permissions", "description"], &[]);
    let name = t.required_string(p, "name");
    t.string(p, "description");
    let mut permissions = Vec::new();
    for entry in t.required_strings(p, "permissions").unwrap_or_default() {
        match parse_permission(&entry.value) {
            Ok(perm) => permissions.push(Located::new(perm, entry.loc)),
            Err(kind) => p.errors.push((entry.loc, kind)),
        }
    }
    Some(RoleDecl { name: name?, permissions, loc: p.loc(t.at) })
}

fn org(p: &mut W, t: &Fields<'_, '_>) -> Option<OrgDecl> {
    let keys = [
        "id",
        "owner",
        "members",
        "service_accounts",
        "teams",
        "projects",
        "role",
        "binding",
        "share",
        "created",
        "description",
    ];
    t.check_keys(p, &keys, &["role", "binding", "share", "created"]);
    let id = t.required_string(p, "id");
    let owner = t.required_string(p, "owner");
    t.string(p, "description");
    let members = t.strings(p, "members").unwrap_or_default();
    let service_accounts = t.strings(p, "service_accounts").unwrap_or_default();
    let mut teams = Vec::new();
    if let Some(v) = t.get("teams") {
        match v.get_ref() {
            DeValue::Table(map) => {
                for (name, members) in map.iter() {
                    let what = format!("team '{}'", name.get_ref());
                    let list = p.string_list(members, name.get_ref(), &what);
                    teams.push(TeamDecl {
                        name: Located::new(name.get_ref().to_string(), p.loc(name.span().start)),
                        members: list.unwrap_or_default(),
                    });
                }
            }
            other => p.wrong_type(v, "teams", t.what, "a table of team = [members]", other),
        }
    }
    let mut projects = Vec::new();
    if let Some(v) = t.get("projects") {
        match v.get_ref() {
            DeValue::Array(items) => {
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::Table(table) => {
                            let f = Fields { table, what: "a project", at: item.span().start };
                            f.check_keys(p, &["id", "restricted"], &[]);
                            let pid = f.required_string(p, "id");
                            let restricted = f.bool(p, "restricted").unwrap_or(false);
                            if let Some(pid) = pid {
                                projects.push(ProjectDecl { id: pid, restricted });
                            }
                        }
                        other => p.wrong_type(item, "projects", t.what, "a table like { id = \"web\" }", other),
                    }
                }
            }
            other => p.wrong_type(v, "projects", t.what, "an array of { id = ... } tables", other),
        }
    }
    let mut roles = Vec::new();
    for rt in t.tables(p, "role", "[[org.role]]") {
        if let Some(r) = role(p, &rt) {
            roles.push(r);
        }
    }
    let mut bindings = Vec::new();
    for bt in t.tables(p, "binding", "[[org.binding]]") {
        bt.check_keys(p, &["subject", "role", "project", "expires_at"], &[]);
        let subject = bt.required_string(p, "subject");
        let role = bt.required_string(p, "role");
        let project = bt.string(p, "project");
        let expires_at = instant(p, &bt, "expires_at", false);
        if let (Some(subject), Some(role)) = (subject, role) {
            bindings.push(BindingDecl { subject, role, project, expires_at, loc: p.loc(bt.at) });
        }
    }
    let mut shares = Vec::new();
    for st in t.tables(p, "share", "[[org.share]]") {
        if let Some(s) = share(p, &st) {
            shares.push(s);
        }
    }
    let mut created = Vec::new();
    for ct in t.tables(p, "created", "[[org.created]]") {
        ct.check_keys(p, &["subject", "kind", "project", "id", "at"], &[]);
        let subject = ct.required_string(p, "subject");
        let kind = ct.required_string(p, "kind");
        let project = ct.string(p, "project");
        let rid = ct.required_string(p, "id");
        let at = instant(p, &ct, "at", true);
        if let (Some(subject), Some(kind), Some(id)) = (subject, kind, rid) {
            created.push(CreatedDecl { subject, kind, project, id, at, loc: p.loc(ct.at) });
        }
    }
    Some(OrgDecl {
        id: id?,
        owner: owner?,
        members,
        service_accounts,
        teams,
        projects,
        roles,
        bindings,
        shares,
        created,
        loc: p.loc(t.at),
    })
}

/// An instant: an RFC 3339 string or TOML date-time, or (where `seconds_ok`, for records
/// written before instants were RFC 3339) an integer of seconds since the Unix epoch.
fn instant(p: &mut W, t: &Fields<'_, '_>, key: &'static str, seconds_ok: bool) -> Option<Located<i64>> {
    let v = t.get(key)?;
    let at = v.span().start;
    let text = match v.get_ref() {
        DeValue::String(s) => s.to_string(),
        DeValue::Datetime(d) => d.to_string(),
        DeValue::Integer(_) if seconds_ok => return t.integer(p, key),
        other => {
            p.wrong_type(v, key, t.what, "an RFC 3339 date-time such as \"2026-12-01T00:00:00Z\"", other);
            return None;
        }
    };
    match crate::instant::parse(&text) {
        Ok(secs) => Some(Located::new(secs, p.loc(at))),
        Err(problem) => {
            p.error(at, E::BadInstant { key, problem });
            None
        }
    }
}

fn share(p: &mut W, t: &Fields<'_, '_>) -> Option<ShareDecl> {
    let keys = ["subject", "kind", "project", "id", "verbs", "level", "granted_by", "granted_at", "expires_at"];
    t.check_keys(p, &keys, &[]);
    let subject = t.required_string(p, "subject");
    let kind = t.required_string(p, "kind");
    let project = t.string(p, "project");
    let id = t.required_string(p, "id");
    let granted_by = t.string(p, "granted_by");
    let granted_at = instant(p, t, "granted_at", true);
    let expires_at = instant(p, t, "expires_at", false);
    let verbs_list = t.strings(p, "verbs");
    let level = t.string(p, "level");
    let mut verbs = VerbSet::EMPTY;
    let mut ok = true;
    match (verbs_list, level) {
        (Some(_), Some(_)) => {
            p.error(t.at, E::VerbsAndLevel);
            ok = false;
        }
        (None, None) => {
            p.error(t.at, E::NoVerbs);
            ok = false;
        }
        (Some(list), None) => {
            if list.is_empty() {
                p.error(t.at, WalkError::Empty { key: "verbs".into(), table: t.what.into() }.into());
                ok = false;
            }
            for w in list {
                match access_word(&w.value, E::DenyShare) {
                    Ok(set) => verbs = verbs.union(set),
                    Err(kind) => {
                        p.errors.push((w.loc, kind));
                        ok = false;
                    }
                }
            }
        }
        (None, Some(level)) => match access_word(&level.value, E::DenyShare) {
            Ok(set) => verbs = set,
            Err(kind) => {
                p.errors.push((level.loc, kind));
                ok = false;
            }
        },
    }
    let share = ShareDecl {
        subject: subject?,
        kind: kind?,
        project,
        id: id?,
        verbs,
        granted_by,
        granted_at,
        expires_at,
        loc: p.loc(t.at),
    };
    ok.then_some(share)
}

fn check(p: &mut W, t: &Fields<'_, '_>) -> Option<CheckDecl> {
    t.check_keys(p, &["principal", "org", "project", "kind", "id", "verb", "expect", "at"], &[]);
    let at = instant(p, t, "at", false);
    let principal = t.required_string(p, "principal");
    let org = t.required_string(p, "org");
    let project = t.string(p, "project");
    let kind = t.required_string(p, "kind");
    let id = t.string(p, "id");
    let verb = t.required_string(p, "verb").and_then(|v| match Verb::parse(&v.value) {
        Some(verb) => Some(verb),
        None => {
            let suggestion = nearest(&v.value, Verb::ALL.map(Verb::name));
            p.errors.push((v.loc, E::BadCheckVerb { value: v.value, suggestion }));
            None
        }
    });
    let expect = t.required_string(p, "expect").and_then(|v| match v.value.as_str() {
        "allow" => Some(true),
        "deny" => Some(false),
        _ => {
            p.errors.push((v.loc, E::BadExpect { value: v.value }));
            None
        }
    });
    Some(CheckDecl {
        principal: principal?.value,
        org: org?.value,
        project: project.map(|p| p.value),
        kind: kind?.value,
        id: id.map(|i| i.value),
        verb: verb?,
        expect_allow: expect?,
        at: at.map(|a| a.value),
        loc: p.loc(t.at),
    })
}

/// One verb or access level word; `deny` gives `on_deny`.
/// A share's verb list (verbs or ACL levels): their union. `deny` is refused with the hint to
/// revoke instead, an unknown word with the nearest known one.
pub fn parse_share_verbs<S: AsRef<str>>(words: &[S]) -> Result<VerbSet, E> {
    let mut verbs = VerbSet::EMPTY;
    for w in words {
        verbs = verbs.union(access_word(w.as_ref(), E::DenyShare)?);
    }
    Ok(verbs)
}

fn access_word(word: &str, on_deny: E) -> Result<VerbSet, E> {
    match AccessWord::parse(word) {
        Some(AccessWord::Deny) => Err(on_deny),
        Some(w) => Ok(w.verbs()),
        None => {
            let suggestion = nearest(word, AccessWord::WORDS.iter().copied().filter(|w| *w != "deny"));
            Err(E::UnknownVerb { word: word.to_string(), suggestion })
        }
    }
}

/// Parses `level:kind:verbs`, `level:kind:id:verbs` or `level:kind:owned:verbs`.
///
/// ```
/// use portcullis::model::Verb;
/// use portcullis::policy::parse_permission;
/// let p = parse_permission("project:storage:/datasets:write").unwrap();
/// assert_eq!(p.id.as_deref(), Some("/datasets"));
/// assert!(parse_permission("project:containers:read,execute").is_err());
/// let owned = parse_permission("project:containers:owned:manage").unwrap();
/// assert!(owned.owned && owned.id.is_none() && !owned.verbs.contains(Verb::Create));
/// assert!(parse_permission("project:containers:owned:create").is_err());
/// ```
pub fn parse_permission(entry: &str) -> Result<Permission, E> {
    let bad = |problem| E::BadPermission { entry: entry.to_string(), problem };
    let parts: Vec<&str> = entry.split(':').collect();
    let (level, kind, id, verbs) = match parts.as_slice() {
        [l, k, v] => (*l, *k, None, *v),
        [l, k, i, v] => (*l, *k, Some(*i), *v),
        _ => return Err(bad("it needs 3 or 4 parts separated by ':', and an id cannot contain ':'")),
    };
    let Some(level) = Level::parse(level) else {
        let suggestion = nearest(level, ["organisation", "project"]);
        return Err(E::UnknownLevel { value: level.to_string(), suggestion });
    };
    if kind.is_empty() {
        return Err(bad("the kind is empty"));
    }
    if id == Some("") {
        return Err(bad("the id is empty"));
    }
    if verbs.is_empty() {
        return Err(bad("no verbs are given"));
    }
    let owned = id == Some("owned");
    let mut set = VerbSet::EMPTY;
    for word in verbs.split(',') {
        let word = word.trim();
        if owned && word == Verb::Create.name() {
            return Err(E::CreateInOwned { entry: entry.to_string() });
        }
        set = set.union(access_word(word, E::DenyInRole)?);
    }
    if owned {
        // `write` and `manage` there mean everything an existing resource can be asked for.
        set = set.without_create();
    }
    let id = if owned { None } else { id.map(str::to_string) };
    Ok(Permission { level, kind: kind.to_string(), id, owned, verbs: set })
}
