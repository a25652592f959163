//! The compiled `decide` against a slow, obvious reference evaluator written straight from
//! MODEL.md (no compilation, no indexes, no shared code with the engine), on random worlds:
//! custom and built-in roles, narrowed entries, teams, `all`, org and project bindings,
//! restricted projects, `*` and subtree shares, service accounts, non-members, unknown
//! kinds and projects, malformed ids, creator records with `owned` entries, and bindings and
//! shares that expire, decided at instants before, at and after their ends.
//!
//! The worlds are rendered to policy TOML and go through the real parser, validator and
//! compiler, so every generated world must also validate.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use portcullis::{Caller, Request, Verb, decide, policy};

const VERBS: [&str; 5] = ["list", "read", "create", "update", "delete"];
const WORDS: [&str; 7] = ["list", "read", "create", "update", "delete", "write", "manage"];
const USERS: [&str; 5] = ["u0", "u1", "u2", "u3", "u4"];
const SERVICE_ACCOUNTS: [&str; 2] = ["s0", "s1"];
const TEAMS: [&str; 3] = ["t0", "t1", "t2"];
const PROJECTS: [&str; 3] = ["p0", "p1", "p2"];
const OWNER: &str = "u0";

/// (name, organisation level?, project level?, hierarchical?)
const DECLARED: [(&str, bool, bool, bool); 4] = [
    ("apps", false, true, false),
    ("regs", true, false, false),
    ("keys", true, true, false),
    ("fs", false, true, true),
];
const BUILTIN: [&str; 8] = ["members", "teams", "roles", "projects", "billing", "events", "organisation", "ownership"];
/// Kinds a custom role or share may name (never `ownership`).
const GRANTABLE: [&str; 7] = ["apps", "regs", "keys", "fs", "billing", "members", "projects"];
const FLAT_IDS: [&str; 3] = ["a", "b", "c"];
const PATHS: [&str; 6] = ["/", "/d", "/d/e", "/d/e/f", "/de", "/x"];
/// Ids a request may carry: good ones and malformed ones.
const REQUEST_IDS: [&str; 19] = [
    "a", "b", "c", "/", "/d", "/d/e", "/d/e/f", "/de", "/x", "/d/e/", "", "/d/../e", "/d//e", "d/e", "a/b", "..", "*",
    "/d/./e", "/d\0e",
];

/// Instants grants may end at, and instants checks are decided at (seconds since the epoch):
/// each end has a check before it, and checks fall exactly on ends too.
const ENDS: [i64; 3] = [100, 200, 300];
const INSTANTS: [i64; 6] = [50, 100, 150, 200, 250, 350];

#[derive(Clone, Debug)]
struct Perm {
    level: &'static str,
    kind: &'static str,
    id: Option<&'static str>,
    /// `level:kind:owned:verbs`
    owned: bool,
    verbs: Vec<&'static str>,
}

#[derive(Clone, Debug)]
struct Binding {
    subject: String,
    role: String,
    project: Option<&'static str>,
    expires: Option<i64>,
}

#[derive(Clone, Debug)]
struct Share {
    subject: String,
    kind: &'static str,
    project: Option<&'static str>,
    id: &'static str,
    verbs: Vec<&'static str>,
    expires: Option<i64>,
}

/// `[[org.created]]`: (creator, kind, project, id).
type Created = (&'static str, &'static str, Option<&'static str>, &'static str);

#[derive(Clone, Debug)]
struct World {
    global_roles: Vec<(String, Vec<Perm>)>,
    org_roles: Vec<(String, Vec<Perm>)>,
    teams: Vec<(&'static str, Vec<&'static str>)>,
    projects: Vec<(&'static str, bool)>,
    bindings: Vec<Binding>,
    shares: Vec<Share>,
    created: Vec<Created>,
}

fn expiry(n: usize) -> Option<i64> {
    ENDS.get(n).copied()
}

fn rfc3339(secs: i64) -> String {
    portcullis::instant::render(secs)
}

fn kind_levels(kind: &str) -> Option<(bool, bool, bool)> {
    if let Some((_, o, p, h)) = DECLARED.iter().find(|(n, ..)| *n == kind) {
        return Some((*o, *p, *h));
    }
    BUILTIN.contains(&kind).then_some((true, false, false))
}

fn members() -> impl Iterator<Item = &'static str> {
    USERS.into_iter().chain(SERVICE_ACCOUNTS)
}

// ---------------------------------------------------------------------------------------
// Generation

fn perm() -> impl Strategy<Value = Perm> {
    (0..GRANTABLE.len(), any::<bool>(), 0..12usize, prop::collection::vec(0..WORDS.len(), 1..3)).prop_map(
        |(k, want_project, id, words)| {
            let kind = GRANTABLE[k];
            let (org_level, project_level, hier) = kind_levels(kind).unwrap();
            let level = if (want_project && project_level) || !org_level { "project" } else { "organisation" };
            let owned = id >= 10;
            let id = match id {
                0..=5 | 10.. => None,
                6 => Some("*"),
                n if hier => Some(PATHS[n % PATHS.len()]),
                n => Some(FLAT_IDS[n % FLAT_IDS.len()]),
            };
            let mut verbs: Vec<&'static str> = words.into_iter().map(|w| WORDS[w]).collect();
            if owned {
                // `create` in an `owned` entry is invalid (a validation test covers it).
                verbs.retain(|w| *w != "create");
                if verbs.is_empty() {
                    verbs.push("update");
                }
            }
            Perm { level, kind, id, owned, verbs }
        },
    )
}

fn role_list(prefix: &'static str, max: usize) -> impl Strategy<Value = Vec<(String, Vec<Perm>)>> {
    prop::collection::vec(prop::collection::vec(perm(), 1..4), 0..max).prop_map(move |roles| {
        roles.into_iter().enumerate().map(|(i, perms)| (format!("{prefix}{i}"), perms)).collect()
    })
}

fn subject(i: usize) -> String {
    let n = USERS.len() + SERVICE_ACCOUNTS.len();
    match i % (n + TEAMS.len() + 1) {
        i if i < n => members().nth(i).unwrap().to_string(),
        i if i < n + TEAMS.len() => format!("team:{}", TEAMS[i - n]),
        _ => "all".to_string(),
    }
}

fn world() -> impl Strategy<Value = World> {
    (
        role_list("g", 4),
        role_list("o", 3),
        prop::collection::vec(prop::collection::vec(any::<bool>(), 7), 3),
        prop::collection::vec(any::<bool>(), 3),
        prop::collection::vec((0..11usize, 0..12usize, prop::option::of(0..3usize), 0..6usize), 0..10),
        prop::collection::vec(
            (
                0..11usize,
                0..GRANTABLE.len(),
                prop::option::of(0..3usize),
                0..12usize,
                prop::collection::vec(0..7usize, 1..3),
                0..6usize,
            ),
            0..14,
        ),
        prop::collection::vec((0..7usize, 0..GRANTABLE.len(), prop::option::of(0..3usize), 0..12usize), 0..8),
    )
        .prop_map(|(global_roles, org_roles, team_masks, restricted, raw_bindings, raw_shares, raw_created)| {
            let teams = TEAMS
                .iter()
                .zip(&team_masks)
                .map(|(t, mask)| (*t, members().zip(mask).filter(|(_, m)| **m).map(|(n, _)| n).collect()))
                .collect();
            let projects = PROJECTS.iter().copied().zip(restricted).collect();
            let mut role_names: Vec<String> = ["admin", "member", "viewer"].map(String::from).to_vec();
            role_names.extend(global_roles.iter().map(|(n, _)| n.clone()));
            role_names.extend(org_roles.iter().map(|(n, _)| n.clone()));
            let mut bindings: Vec<Binding> = Vec::new();
            for (s, r, p, e) in raw_bindings {
                let b = Binding {
                    subject: subject(s),
                    role: role_names[r % role_names.len()].clone(),
                    project: p.map(|p| PROJECTS[p]),
                    expires: expiry(e),
                };
                let dup = bindings.iter().any(|x| x.subject == b.subject && x.role == b.role && x.project == b.project);
                if b.subject != OWNER && !dup {
                    bindings.push(b);
                }
            }
            let place = |k: usize, p: Option<usize>, id: usize| {
                let kind = GRANTABLE[k];
                let (org_level, project_level, hier) = kind_levels(kind).unwrap();
                let project =
                    if project_level && (p.is_some() || !org_level) { Some(PROJECTS[p.unwrap_or(0)]) } else { None };
                let id = match id {
                    0 | 1 => "*",
                    n if hier => PATHS[n % PATHS.len()],
                    n => FLAT_IDS[n % FLAT_IDS.len()],
                };
                (kind, project, id)
            };
            let shares = raw_shares
                .into_iter()
                .map(|(s, k, p, id, words, e)| {
                    let (kind, project, id) = place(k, p, id);
                    Share {
                        subject: subject(s),
                        kind,
                        project,
                        id,
                        verbs: words.into_iter().map(|w| WORDS[w]).collect(),
                        expires: expiry(e),
                    }
                })
                .collect();
            let mut created: Vec<Created> = Vec::new();
            for (m, k, p, id) in raw_created {
                let (kind, project, id) = place(k, p, id.max(2));
                if !created.iter().any(|c| (c.1, c.2, c.3) == (kind, project, id)) {
                    created.push((members().nth(m).unwrap(), kind, project, id));
                }
            }
            World { global_roles, org_roles, teams, projects, bindings, shares, created }
        })
}

#[derive(Clone, Debug)]
struct Check {
    principal: &'static str,
    org: &'static str,
    project: Option<&'static str>,
    kind: &'static str,
    id: Option<String>,
    verb: &'static str,
    at: i64,
}

fn check() -> impl Strategy<Value = Check> {
    let principals: Vec<&'static str> = members().chain(["stranger"]).collect();
    let kinds: Vec<&'static str> = DECLARED.iter().map(|d| d.0).chain(BUILTIN).chain(["nope"]).collect();
    (
        0..principals.len(),
        0..20usize,
        prop::option::of(0..4usize),
        0..kinds.len(),
        prop::option::of(0..REQUEST_IDS.len()),
        0..5usize,
        0..INSTANTS.len(),
    )
        .prop_map(move |(p, org, project, k, id, v, at)| Check {
            principal: principals[p],
            org: if org == 0 { "other" } else { "acme" },
            project: project.map(|p| if p == 3 { "px" } else { PROJECTS[p] }),
            kind: kinds[k],
            id: id.map(|i| REQUEST_IDS[i].to_string()),
            verb: VERBS[v],
            at: INSTANTS[at],
        })
}

/// A check aimed at a share or a narrowed role entry of the world: the same kind and
/// project, and an id that is the grant's own, below it, beside it (`/d` and `/de`) or
/// above it, asked by a member the grant reaches (or not).
#[derive(Clone, Debug)]
struct Aim {
    grant: usize,
    variant: usize,
    principal: usize,
    verb: usize,
    at: usize,
}

fn aim() -> impl Strategy<Value = Aim> {
    (0..64usize, 0..6usize, 0..8usize, 0..5usize, 0..INSTANTS.len())
        .prop_map(|(grant, variant, principal, verb, at)| Aim { grant, variant, principal, verb, at })
}

fn aimed(w: &World, a: &Aim) -> Option<Check> {
    let mut targets: Vec<(&'static str, Option<&'static str>, &'static str, &str)> =
        w.shares.iter().map(|s| (s.kind, s.project, s.id, s.subject.as_str())).collect();
    targets.extend(w.created.iter().map(|&(m, kind, project, id)| (kind, project, id, m)));
    let role_entries = w.global_roles.iter().chain(&w.org_roles).flat_map(|(_, ps)| ps);
    for p in role_entries {
        let project = (p.level == "project").then_some(PROJECTS[a.grant % PROJECTS.len()]);
        targets.push((p.kind, project, p.id.unwrap_or("*"), "all"));
    }
    let (kind, project, id, subject) = *targets.get(a.grant % targets.len().max(1))?;
    let id = match (a.variant, id) {
        (0, _) => None,
        (_, "*") => Some("a".to_string()),
        (1, id) => Some(id.to_string()),
        (2, "/") => Some("/z".to_string()),
        (2, id) => Some(format!("{id}/z")),
        (3, id) => Some(format!("{id}z")),
        (4, id) => Some(
            id.rsplit_once('/').map_or("/", |(parent, _)| if parent.is_empty() { "/" } else { parent }).to_string(),
        ),
        (_, id) => Some(format!("{id}/")),
    };
    let reached: Vec<&'static str> = match subject.strip_prefix("team:") {
        Some(t) => w.teams.iter().find(|(n, _)| *n == t).map(|(_, m)| m.clone()).unwrap_or_default(),
        None if subject == "all" => members().collect(),
        None => members().filter(|m| *m == subject).collect(),
    };
    let principal = match reached.get(a.principal) {
        Some(p) => *p,
        None => members().nth(a.principal % 7).unwrap(),
    };
    Some(Check { principal, org: "acme", project, kind, id, verb: VERBS[a.verb], at: INSTANTS[a.at] })
}

// ---------------------------------------------------------------------------------------
// Rendering to policy text

fn render(w: &World) -> String {
    let mut s = String::new();
    for (name, o, p, h) in DECLARED {
        let mut levels = Vec::new();
        if o {
            levels.push("\"organisation\"");
        }
        if p {
            levels.push("\"project\"");
        }
        s += &format!("[[kind]]\nname = \"{name}\"\nlevels = [{}]\nhierarchical = {h}\n\n", levels.join(", "));
    }
    let perm_text = |p: &Perm| match (p.id, p.owned) {
        (_, true) => format!("\"{}:{}:owned:{}\"", p.level, p.kind, p.verbs.join(",")),
        (Some(id), false) => format!("\"{}:{}:{}:{}\"", p.level, p.kind, id, p.verbs.join(",")),
        (None, false) => format!("\"{}:{}:{}\"", p.level, p.kind, p.verbs.join(",")),
    };
    for (name, perms) in &w.global_roles {
        let perms: Vec<String> = perms.iter().map(perm_text).collect();
        s += &format!("[[role]]\nname = \"{name}\"\npermissions = [{}]\n\n", perms.join(", "));
    }
    let quoted = |xs: &[&str]| xs.iter().map(|x| format!("\"{x}\"")).collect::<Vec<_>>().join(", ");
    s += &format!(
        "[[org]]\nid = \"acme\"\nowner = \"{OWNER}\"\nmembers = [{}]\nservice_accounts = [{}]\n",
        quoted(&USERS),
        quoted(&SERVICE_ACCOUNTS)
    );
    let teams: Vec<String> = w.teams.iter().map(|(t, m)| format!("{t} = [{}]", quoted(m))).collect();
    s += &format!("teams = {{ {} }}\n", teams.join(", "));
    let projects: Vec<String> =
        w.projects.iter().map(|(p, r)| format!("{{ id = \"{p}\", restricted = {r} }}")).collect();
    s += &format!("projects = [{}]\n\n", projects.join(", "));
    for (name, perms) in &w.org_roles {
        let perms: Vec<String> = perms.iter().map(perm_text).collect();
        s += &format!("[[org.role]]\nname = \"{name}\"\npermissions = [{}]\n\n", perms.join(", "));
    }
    for b in &w.bindings {
        s += &format!("[[org.binding]]\nsubject = \"{}\"\nrole = \"{}\"\n", b.subject, b.role);
        if let Some(p) = b.project {
            s += &format!("project = \"{p}\"\n");
        }
        if let Some(e) = b.expires {
            s += &format!("expires_at = \"{}\"\n", rfc3339(e));
        }
        s += "\n";
    }
    for sh in &w.shares {
        s += &format!(
            "[[org.share]]\nsubject = \"{}\"\nkind = \"{}\"\nid = \"{}\"\nverbs = [{}]\n",
            sh.subject,
            sh.kind,
            sh.id,
            quoted(&sh.verbs)
        );
        if let Some(p) = sh.project {
            s += &format!("project = \"{p}\"\n");
        }
        if let Some(e) = sh.expires {
            s += &format!("expires_at = \"{}\"\n", rfc3339(e));
        }
        s += "\n";
    }
    for (m, kind, project, id) in &w.created {
        s += &format!("[[org.created]]\nsubject = \"{m}\"\nkind = \"{kind}\"\nid = \"{id}\"\n");
        if let Some(p) = project {
            s += &format!("project = \"{p}\"\n");
        }
        s += "\n";
    }
    s
}

// ---------------------------------------------------------------------------------------
// The reference evaluator: MODEL.md, step by step, as plainly as possible.

type Verbs = BTreeSet<&'static str>;

fn words_to_verbs(words: &[&'static str]) -> Verbs {
    let mut v = Verbs::new();
    for w in words {
        match *w {
            "write" | "manage" => v.extend(VERBS),
            other => {
                v.insert(VERBS.iter().copied().find(|x| *x == other).unwrap());
            }
        }
    }
    v
}

/// `read` implies `list`; `create`, `update`, `delete` imply `read` (and so `list`).
fn implied(mut v: Verbs) -> Verbs {
    if v.contains("create") || v.contains("update") || v.contains("delete") {
        v.insert("read");
    }
    if v.contains("read") {
        v.insert("list");
    }
    v
}

/// MODEL.md "Targets and patterns", for ids: `None` when malformed; otherwise the normal form.
fn well_formed(id: &str, hierarchical: bool) -> Option<String> {
    if id.is_empty() || id == "*" || id.len() > 1024 || id.chars().any(|c| c.is_control()) {
        return None;
    }
    if !hierarchical {
        return (!id.contains('/') && id != "." && id != "..").then(|| id.to_string());
    }
    if id == "/" {
        return Some("/".into());
    }
    let trimmed = id.strip_suffix('/').unwrap_or(id);
    let mut parts = trimmed.split('/');
    if parts.next() != Some("") {
        return None;
    }
    for seg in parts {
        if seg.is_empty() || seg == "." || seg == ".." {
            return None;
        }
    }
    Some(trimmed.to_string())
}

/// Does a grant on `pattern` cover resource `id` (None = the collection)?
fn grant_covers(pattern: Option<&str>, id: Option<&str>, hierarchical: bool) -> bool {
    match (pattern, id) {
        (None | Some("*"), _) => true,
        (Some(_), None) => false,
        (Some(p), Some(id)) => {
            p == id || (hierarchical && (p == "/" || (id.starts_with(p) && id[p.len()..].starts_with('/'))))
        }
    }
}

fn role_perms(w: &World, role: &str) -> Vec<Perm> {
    let mut out = Vec::new();
    let mut whole = |kind: &'static str, verbs: Vec<&'static str>| {
        let (o, p, _) = kind_levels(kind).unwrap();
        for (present, level) in [(o, "organisation"), (p, "project")] {
            if present {
                out.push(Perm { level, kind, id: None, owned: false, verbs: verbs.clone() });
            }
        }
    };
    let declared = DECLARED.iter().map(|d| d.0);
    match role {
        "admin" => {
            for k in DECLARED.iter().map(|d| d.0).chain(BUILTIN).filter(|k| *k != "ownership") {
                whole(k, VERBS.to_vec());
            }
        }
        "member" => {
            for k in declared.chain(["projects"]) {
                whole(k, vec!["list", "read", "update"]);
            }
            for k in ["members", "teams", "roles"] {
                whole(k, vec!["list", "read"]);
            }
        }
        "viewer" => {
            for k in declared.chain(["projects", "members", "teams", "roles"]) {
                whole(k, vec!["list", "read"]);
            }
        }
        custom => {
            let found = w.global_roles.iter().chain(&w.org_roles).find(|(n, _)| n == custom);
            out.extend(found.unwrap().1.iter().cloned());
        }
    }
    out
}

fn reference(w: &World, c: &Check) -> bool {
    // 1. a member of the org
    if c.org != "acme" || !members().any(|m| m == c.principal) {
        return false;
    }
    // 2. the resource makes sense
    let Some((org_level, project_level, hierarchical)) = kind_levels(c.kind) else { return false };
    let level = if c.project.is_some() { "project" } else { "organisation" };
    if (level == "project" && !project_level) || (level == "organisation" && !org_level) {
        return false;
    }
    if let Some(p) = c.project
        && !w.projects.iter().any(|(id, _)| *id == p)
    {
        return false;
    }
    let id = match c.id.as_deref() {
        Some(raw) => match well_formed(raw, hierarchical) {
            Some(id) => Some(id),
            None => return false,
        },
        None => None,
    };
    // 3. the owner
    if c.principal == OWNER {
        return true;
    }
    // 4. subjects
    let mut subjects: Vec<String> = vec![c.principal.to_string(), "all".to_string()];
    for (t, ms) in &w.teams {
        if ms.contains(&c.principal) {
            subjects.push(format!("team:{t}"));
        }
    }
    // Only grants that have not ended at the check's instant count.
    let live = |expires: Option<i64>| expires.is_none_or(|e| c.at < e);
    let mine: Vec<&Binding> = w.bindings.iter().filter(|b| subjects.contains(&b.subject) && live(b.expires)).collect();
    // 5. base access
    // A project binding of the principal itself or of one of its teams replaces the org
    // bindings in that project; `all`'s project bindings only ever add.
    let all_in = |p: &'static str| mine.iter().copied().filter(move |b| b.subject == "all" && b.project == Some(p));
    let roles: Vec<&str> = match c.project {
        Some(p) if mine.iter().any(|b| b.project == Some(p) && b.subject != "all") => {
            mine.iter().filter(|b| b.project == Some(p)).map(|b| b.role.as_str()).collect()
        }
        Some(p) if w.projects.iter().any(|(id, r)| *id == p && *r) => all_in(p).map(|b| b.role.as_str()).collect(),
        Some(p) => {
            mine.iter().copied().filter(|b| b.project.is_none()).chain(all_in(p)).map(|b| b.role.as_str()).collect()
        }
        None => mine.iter().filter(|b| b.project.is_none()).map(|b| b.role.as_str()).collect(),
    };
    let mut granted = Verbs::new();
    for role in roles {
        for perm in role_perms(w, role) {
            if perm.level != level || perm.kind != c.kind {
                continue;
            }
            if perm.owned {
                // Only a resource whose recorded creator is the principal; `write` and
                // `manage` there mean everything but `create`.
                let created = id.as_deref().is_some_and(|id| {
                    w.created.iter().any(|&(m, k, p, i)| m == c.principal && k == c.kind && p == c.project && i == id)
                });
                if created {
                    let mut v = words_to_verbs(&perm.verbs);
                    v.remove("create");
                    granted.extend(v);
                }
            } else if grant_covers(perm.id, id.as_deref(), hierarchical) {
                granted.extend(words_to_verbs(&perm.verbs));
            }
        }
    }
    // 6. shares
    for s in &w.shares {
        if subjects.contains(&s.subject)
            && live(s.expires)
            && s.kind == c.kind
            && s.project == c.project
            && grant_covers(Some(s.id), id.as_deref(), hierarchical)
        {
            granted.extend(words_to_verbs(&s.verbs));
        }
    }
    // 7. implication
    implied(granted).contains(c.verb)
}

// ---------------------------------------------------------------------------------------

#[test]
fn compiled_decide_agrees_with_the_reference_model() {
    const WORLDS: u32 = 400;
    const CHECKS_PER_WORLD: usize = 40;
    let checks_run = AtomicUsize::new(0);
    let allows = AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config { cases: WORLDS, failure_persistence: None, ..Config::default() });
    let strategy = (
        world(),
        prop::collection::vec(check(), CHECKS_PER_WORLD / 2),
        prop::collection::vec(aim(), CHECKS_PER_WORLD / 2),
    );
    runner
        .run(&strategy, |(w, mut checks, aims)| {
            checks.extend(aims.iter().filter_map(|a| aimed(&w, a)));
            let text = render(&w);
            let snapshot = match policy::compile_text("world.toml", &text) {
                Ok(s) => s,
                Err(e) => return Err(TestCaseError::fail(format!("a generated world must validate:\n{e}\n{text}"))),
            };
            for c in &checks {
                let verb = Verb::parse(c.verb).unwrap();
                let principal = if SERVICE_ACCOUNTS.contains(&c.principal) {
                    Caller::ServiceAccount { org: c.org, name: c.principal }
                } else {
                    Caller::User(c.principal)
                };
                let request = Request {
                    org: c.org,
                    principal,
                    project: c.project,
                    kind: c.kind,
                    id: c.id.as_deref(),
                    verb,
                    at: c.at,
                };
                let got = decide(&snapshot, &request);
                let want = reference(&w, c);
                prop_assert_eq!(got.allowed, want, "check {:?} ({:?})\nworld:\n{}", c, got.reason, text);
                checks_run.fetch_add(1, Ordering::Relaxed);
                allows.fetch_add(usize::from(want), Ordering::Relaxed);
            }
            Ok(())
        })
        .unwrap();
    let n = checks_run.load(Ordering::Relaxed);
    let a = allows.load(Ordering::Relaxed);
    assert!(n >= 10_000, "only {n} checks ran");
    // The comparison is only meaningful if both answers occur often.
    assert!(a > n / 10 && a < n * 9 / 10, "{a} allows of {n}: the generator is lopsided");
    eprintln!("{n} random checks agreed ({a} allows)");
}

#[test]
fn malformed_hierarchical_ids_never_match() {
    // Even a grant on the root of the tree does not reach a malformed id.
    let text = r#"
[[kind]]
name = "fs"
levels = ["project"]
hierarchical = true

[[org]]
id = "acme"
owner = "o"
members = ["o", "u"]
projects = [{ id = "p" }]

[[org.share]]
subject = "u"
kind = "fs"
project = "p"
id = "/"
level = "write"
"#;
    let snapshot = policy::compile_text("fs.toml", text).unwrap();
    for principal in [Caller::User("u"), Caller::User("o")] {
        for bad in ["/a/../b", "/..", "/.", "/a/./b", "//a", "/a//b", "a", "", "/a\0b", "*"] {
            let r = Request {
                org: "acme",
                principal,
                project: Some("p"),
                kind: "fs",
                id: Some(bad),
                verb: Verb::List,
                at: 0,
            };
            assert!(!decide(&snapshot, &r).allowed, "{principal:?} {bad:?} must not match");
        }
        let good = Request {
            org: "acme",
            principal,
            project: Some("p"),
            kind: "fs",
            id: Some("/a/b"),
            verb: Verb::Delete,
            at: 0,
        };
        assert!(decide(&snapshot, &good).allowed);
    }
}

#[test]
fn identical_shares_to_one_subject_are_one_grant() {
    // Found by the property test: two identical shares merged into a single holder that
    // was then misread. Kept as a fixed case.
    let text = r#"
[[org]]
id = "acme"
owner = "u0"
members = ["u0", "u1"]
service_accounts = ["s1"]
teams = { t2 = ["s1"] }

[[org.share]]
subject = "team:t2"
kind = "billing"
id = "b"
verbs = ["list"]

[[org.share]]
subject = "team:t2"
kind = "billing"
id = "b"
verbs = ["list"]

[[org.share]]
subject = "u1"
kind = "billing"
id = "c"
verbs = ["read"]

[[org.share]]
subject = "u1"
kind = "billing"
id = "c"
verbs = ["update"]
"#;
    let snapshot = policy::compile_text("dup.toml", text).unwrap();
    let r = |principal, id, verb| Request {
        org: "acme",
        principal,
        project: None,
        kind: "billing",
        id: Some(id),
        verb,
        at: 0,
    };
    let s1 = Caller::ServiceAccount { org: "acme", name: "s1" };
    let u1 = Caller::User("u1");
    assert!(decide(&snapshot, &r(s1, "b", Verb::List)).allowed);
    assert!(!decide(&snapshot, &r(s1, "b", Verb::Read)).allowed);
    assert!(!decide(&snapshot, &r(u1, "b", Verb::List)).allowed);
    assert!(decide(&snapshot, &r(u1, "c", Verb::Update)).allowed);
    assert!(!decide(&snapshot, &r(u1, "c", Verb::Delete)).allowed);
}
