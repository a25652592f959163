//! TOML text to [`ast`](super::ast): types, required keys, unknown keys, verb and level
//! words. Nothing is resolved against anything else here; that is `validate`'s job.
//!
//! The walker keeps going after a problem, dropping only the piece that is wrong, so one run
//! reports every mistake in a file rather than the first.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::ast::*;
use super::err::{PolicyErrorKind as E, nearest};
use crate::model::{AccessWord, Level, Verb, VerbSet};

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
    let mut p = Walker { file, out: Parsed::default() };
    let (doc, errors) = DeTable::parse_recoverable(text);
    for e in errors {
        let at = e.span().map_or(0, |s| s.start);
        p.error(at, E::Syntax { message: e.message().trim().to_string() });
    }
    let root = Fields { table: doc.get_ref(), what: "the top level", at: 0 };
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
        if let Some(k) = p.kind(&t) {
            p.out.kinds.push(k);
        }
    }
    for t in root.tables(&mut p, "role", "[[role]]") {
        if let Some(r) = p.role(&t) {
            p.out.roles.push(r);
        }
    }
    for t in root.tables(&mut p, "org", "[[org]]") {
        if let Some(o) = p.org(&t) {
            p.out.orgs.push(o);
        }
    }
    if mode == FileMode::Case {
        for t in root.tables(&mut p, "check", "[[check]]") {
            if let Some(c) = p.check(&t) {
                p.out.checks.push(c);
            }
        }
    }
    p.out
}

struct Walker {
    file: u32,
    out: Parsed,
}

impl Walker {
    fn loc(&self, at: usize) -> Loc {
        Loc { file: self.file, offset: u32::try_from(at).unwrap_or(u32::MAX) }
    }

    fn error(&mut self, at: usize, kind: E) {
        let loc = self.loc(at);
        self.out.errors.push((loc, kind));
    }

    fn located(&self, s: &Spanned<DeValue<'_>>, value: String) -> Located<String> {
        Located::new(value, self.loc(s.span().start))
    }

    fn kind(&mut self, t: &Fields<'_, '_>) -> Option<KindDecl> {
        t.check_keys(self, &["name", "levels", "hierarchical"], &[]);
        let name = t.required_string(self, "name");
        let mut levels = Vec::new();
        if let Some(words) = t.required_strings(self, "levels") {
            if words.is_empty() {
                self.error(t.at, E::Empty { key: "levels".into(), table: t.what.into() });
            }
            for w in words {
                match Level::parse(&w.value) {
                    Some(l) if !levels.contains(&l) => levels.push(l),
                    Some(_) => {}
                    None => {
                        let suggestion = nearest(&w.value, ["organisation", "project"]);
                        self.error(w.loc.offset as usize, E::UnknownLevel { value: w.value, suggestion });
                    }
                }
            }
        }
        let hierarchical = t.bool(self, "hierarchical").unwrap_or(false);
        Some(KindDecl { name: name?, levels, hierarchical, loc: self.loc(t.at) })
    }

    fn role(&mut self, t: &Fields<'_, '_>) -> Option<RoleDecl> {
        t.check_keys(self, &["name", "permissions", "description"], &[]);
        let name = t.required_string(self, "name");
        t.string(self, "description");
        let mut permissions = Vec::new();
        for entry in t.required_strings(self, "permissions").unwrap_or_default() {
            match parse_permission(&entry.value) {
                Ok(perm) => permissions.push(Located::new(perm, entry.loc)),
                Err(kind) => self.out.errors.push((entry.loc, kind)),
            }
        }
        Some(RoleDecl { name: name?, permissions, loc: self.loc(t.at) })
    }

    fn org(&mut self, t: &Fields<'_, '_>) -> Option<OrgDecl> {
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
            "description",
        ];
        t.check_keys(self, &keys, &["role", "binding", "share"]);
        let id = t.required_string(self, "id");
        let owner = t.required_string(self, "owner");
        t.string(self, "description");
        let members = t.strings(self, "members").unwrap_or_default();
        let service_accounts = t.strings(self, "service_accounts").unwrap_or_default();
        let mut teams = Vec::new();
        if let Some(v) = t.get("teams") {
            match v.get_ref() {
                DeValue::Table(map) => {
                    for (name, members) in map.iter() {
                        let what = format!("team '{}'", name.get_ref());
                        let list = self.string_list(members, name.get_ref(), &what);
                        teams.push(TeamDecl {
                            name: Located::new(name.get_ref().to_string(), self.loc(name.span().start)),
                            members: list.unwrap_or_default(),
                        });
                    }
                }
                other => self.wrong_type(v, "teams", t.what, "a table of team = [members]", other),
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
                                f.check_keys(self, &["id", "restricted"], &[]);
                                let pid = f.required_string(self, "id");
                                let restricted = f.bool(self, "restricted").unwrap_or(false);
                                if let Some(pid) = pid {
                                    projects.push(ProjectDecl { id: pid, restricted });
                                }
                            }
                            other => self.wrong_type(item, "projects", t.what, "a table like { id = \"web\" }", other),
                        }
                    }
                }
                other => self.wrong_type(v, "projects", t.what, "an array of { id = ... } tables", other),
            }
        }
        let mut roles = Vec::new();
        for rt in t.tables(self, "role", "[[org.role]]") {
            if let Some(r) = self.role(&rt) {
                roles.push(r);
            }
        }
        let mut bindings = Vec::new();
        for bt in t.tables(self, "binding", "[[org.binding]]") {
            bt.check_keys(self, &["subject", "role", "project"], &[]);
            let subject = bt.required_string(self, "subject");
            let role = bt.required_string(self, "role");
            let project = bt.string(self, "project");
            if let (Some(subject), Some(role)) = (subject, role) {
                bindings.push(BindingDecl { subject, role, project, loc: self.loc(bt.at) });
            }
        }
        let mut shares = Vec::new();
        for st in t.tables(self, "share", "[[org.share]]") {
            if let Some(s) = self.share(&st) {
                shares.push(s);
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
            loc: self.loc(t.at),
        })
    }

    fn share(&mut self, t: &Fields<'_, '_>) -> Option<ShareDecl> {
        let keys = ["subject", "kind", "project", "id", "verbs", "level", "granted_by"];
        t.check_keys(self, &keys, &[]);
        let subject = t.required_string(self, "subject");
        let kind = t.required_string(self, "kind");
        let project = t.string(self, "project");
        let id = t.required_string(self, "id");
        let granted_by = t.string(self, "granted_by");
        let verbs_list = t.strings(self, "verbs");
        let level = t.string(self, "level");
        let mut verbs = VerbSet::EMPTY;
        let mut ok = true;
        match (verbs_list, level) {
            (Some(_), Some(_)) => {
                self.error(t.at, E::VerbsAndLevel);
                ok = false;
            }
            (None, None) => {
                self.error(t.at, E::NoVerbs);
                ok = false;
            }
            (Some(list), None) => {
                if list.is_empty() {
                    self.error(t.at, E::Empty { key: "verbs".into(), table: t.what.into() });
                    ok = false;
                }
                for w in list {
                    match access_word(&w.value, E::DenyShare) {
                        Ok(set) => verbs = verbs.union(set),
                        Err(kind) => {
                            self.out.errors.push((w.loc, kind));
                            ok = false;
                        }
                    }
                }
            }
            (None, Some(level)) => match access_word(&level.value, E::DenyShare) {
                Ok(set) => verbs = set,
                Err(kind) => {
                    self.out.errors.push((level.loc, kind));
                    ok = false;
                }
            },
        }
        let share =
            ShareDecl { subject: subject?, kind: kind?, project, id: id?, verbs, granted_by, loc: self.loc(t.at) };
        ok.then_some(share)
    }

    fn check(&mut self, t: &Fields<'_, '_>) -> Option<CheckDecl> {
        t.check_keys(self, &["principal", "org", "project", "kind", "id", "verb", "expect"], &[]);
        let principal = t.required_string(self, "principal");
        let org = t.required_string(self, "org");
        let project = t.string(self, "project");
        let kind = t.required_string(self, "kind");
        let id = t.string(self, "id");
        let verb = t.required_string(self, "verb").and_then(|v| match Verb::parse(&v.value) {
            Some(verb) => Some(verb),
            None => {
                let suggestion = nearest(&v.value, Verb::ALL.map(Verb::name));
                self.out.errors.push((v.loc, E::BadCheckVerb { value: v.value, suggestion }));
                None
            }
        });
        let expect = t.required_string(self, "expect").and_then(|v| match v.value.as_str() {
            "allow" => Some(true),
            "deny" => Some(false),
            _ => {
                self.out.errors.push((v.loc, E::BadExpect { value: v.value }));
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
            loc: self.loc(t.at),
        })
    }

    fn string_list(&mut self, v: &Spanned<DeValue<'_>>, key: &str, table: &str) -> Option<Vec<Located<String>>> {
        match v.get_ref() {
            DeValue::Array(items) => {
                let mut out = Vec::new();
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::String(s) => out.push(self.located(item, s.to_string())),
                        other => self.wrong_type(item, key, table, "a string", other),
                    }
                }
                Some(out)
            }
            other => {
                self.wrong_type(v, key, table, "an array of strings", other);
                None
            }
        }
    }

    fn wrong_type(
        &mut self,
        v: &Spanned<DeValue<'_>>,
        key: &str,
        table: &str,
        expected: &'static str,
        found: &DeValue<'_>,
    ) {
        let kind = E::WrongType { key: key.into(), table: table.into(), expected, found: type_name(found) };
        self.error(v.span().start, kind);
    }
}

/// A table being read, with a name for messages (`[[org.binding]]`) and its position.
struct Fields<'t, 'i> {
    table: &'t DeTable<'i>,
    what: &'static str,
    at: usize,
}

impl<'t, 'i> Fields<'t, 'i> {
    fn get(&self, key: &str) -> Option<&'t Spanned<DeValue<'i>>> {
        self.table.iter().find(|(k, _)| k.get_ref() == key).map(|(_, v)| v)
    }

    /// Reports every key not in `allowed`, with the nearest allowed key as a hint.
    /// `hidden` keys are accepted but reported elsewhere (or not suggested).
    fn check_keys(&self, p: &mut Walker, allowed: &[&str], hidden: &[&str]) {
        for (k, _) in self.table.iter() {
            let key = k.get_ref();
            if allowed.contains(&key.as_ref()) || hidden.contains(&key.as_ref()) {
                continue;
            }
            let kind = E::UnknownKey {
                key: key.to_string(),
                table: self.what.to_string(),
                suggestion: nearest(key, allowed.iter().copied()),
                allowed: allowed.join(", "),
            };
            p.error(k.span().start, kind);
        }
    }

    fn string(&self, p: &mut Walker, key: &str) -> Option<Located<String>> {
        let v = self.get(key)?;
        match v.get_ref() {
            DeValue::String(s) => Some(p.located(v, s.to_string())),
            other => {
                p.wrong_type(v, key, self.what, "a string", other);
                None
            }
        }
    }

    fn required_string(&self, p: &mut Walker, key: &str) -> Option<Located<String>> {
        self.require(p, key);
        self.string(p, key)
    }

    /// Reports `key` missing, unless a misspelling of it is present: the unknown-key error
    /// already names it.
    fn require(&self, p: &mut Walker, key: &str) {
        if self.get(key).is_some() {
            return;
        }
        let misspelt = self.table.iter().any(|(k, _)| k.get_ref() != key && nearest(k.get_ref(), [key]).0.is_some());
        if !misspelt {
            p.error(self.at, E::MissingKey { key: key.into(), table: self.what.into() });
        }
    }

    fn bool(&self, p: &mut Walker, key: &str) -> Option<bool> {
        let v = self.get(key)?;
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            other => {
                p.wrong_type(v, key, self.what, "true or false", other);
                None
            }
        }
    }

    fn strings(&self, p: &mut Walker, key: &str) -> Option<Vec<Located<String>>> {
        let v = self.get(key)?;
        p.string_list(v, key, self.what)
    }

    fn required_strings(&self, p: &mut Walker, key: &str) -> Option<Vec<Located<String>>> {
        self.require(p, key);
        self.strings(p, key)
    }

    /// An array of tables (`[[key]]`), each as `Fields` named `what`.
    fn tables(&self, p: &mut Walker, key: &str, what: &'static str) -> Vec<Fields<'t, 'i>> {
        let Some(v) = self.get(key) else { return Vec::new() };
        match v.get_ref() {
            DeValue::Array(items) => {
                let mut out = Vec::new();
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::Table(table) => out.push(Fields { table, what, at: item.span().start }),
                        other => p.wrong_type(item, key, self.what, "a table", other),
                    }
                }
                out
            }
            other => {
                p.wrong_type(v, key, self.what, "an array of tables ([[...]])", other);
                Vec::new()
            }
        }
    }
}

fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// One verb or access level word; `deny` gives `on_deny`.
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

/// Parses `level:kind:verbs` or `level:kind:id:verbs`.
///
/// ```
/// use portcullis::policy::parse_permission;
/// let p = parse_permission("project:storage:/datasets:write").unwrap();
/// assert_eq!(p.id.as_deref(), Some("/datasets"));
/// assert!(parse_permission("project:containers:read,execute").is_err());
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
    let mut set = VerbSet::EMPTY;
    for word in verbs.split(',') {
        set = set.union(access_word(word.trim(), E::DenyInRole)?);
    }
    Ok(Permission { level, kind: kind.to_string(), id: id.map(str::to_string), verbs: set })
}
