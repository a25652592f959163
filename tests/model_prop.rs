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

pub mod world;
use world::*;
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
