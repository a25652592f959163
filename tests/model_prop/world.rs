//! Random worlds for the model's property tests: the generator and its rendering to policy
//! TOML, shared by `model_prop` (decide against a reference evaluator) and `access_prop`
//! (access review against decide).

use proptest::prelude::*;

pub const VERBS: [&str; 5] = ["list", "read", "create", "update", "delete"];
pub const WORDS: [&str; 7] = ["list", "read", "create", "update", "delete", "write", "manage"];
pub const USERS: [&str; 5] = ["u0", "u1", "u2", "u3", "u4"];
pub const SERVICE_ACCOUNTS: [&str; 2] = ["s0", "s1"];
pub const TEAMS: [&str; 3] = ["t0", "t1", "t2"];
pub const PROJECTS: [&str; 3] = ["p0", "p1", "p2"];
pub const OWNER: &str = "u0";

/// (name, organisation level?, project level?, hierarchical?)
pub const DECLARED: [(&str, bool, bool, bool); 4] = [
    ("apps", false, true, false),
    ("regs", true, false, false),
    ("keys", true, true, false),
    ("fs", false, true, true),
];
pub const BUILTIN: [&str; 8] =
    ["members", "teams", "roles", "projects", "billing", "events", "organisation", "ownership"];
/// Kinds a custom role or share may name (never `ownership`).
pub const GRANTABLE: [&str; 7] = ["apps", "regs", "keys", "fs", "billing", "members", "projects"];
pub const FLAT_IDS: [&str; 3] = ["a", "b", "c"];
pub const PATHS: [&str; 6] = ["/", "/d", "/d/e", "/d/e/f", "/de", "/x"];
/// Ids a request may carry: good ones and malformed ones.
pub const REQUEST_IDS: [&str; 19] = [
    "a", "b", "c", "/", "/d", "/d/e", "/d/e/f", "/de", "/x", "/d/e/", "", "/d/../e", "/d//e", "d/e", "a/b", "..", "*",
    "/d/./e", "/d\0e",
];

/// Instants grants may end at, and instants checks are decided at (seconds since the epoch):
/// each end has a check before it, and checks fall exactly on ends too.
pub const ENDS: [i64; 3] = [100, 200, 300];
pub const INSTANTS: [i64; 6] = [50, 100, 150, 200, 250, 350];

#[derive(Clone, Debug)]
pub struct Perm {
    pub level: &'static str,
    pub kind: &'static str,
    pub id: Option<&'static str>,
    /// `level:kind:owned:verbs`
    pub owned: bool,
    pub verbs: Vec<&'static str>,
}

#[derive(Clone, Debug)]
pub struct Binding {
    pub subject: String,
    pub role: String,
    pub project: Option<&'static str>,
    pub expires: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct Share {
    pub subject: String,
    pub kind: &'static str,
    pub project: Option<&'static str>,
    pub id: &'static str,
    pub verbs: Vec<&'static str>,
    pub expires: Option<i64>,
}

/// `[[org.created]]`: (creator, kind, project, id).
pub type Created = (&'static str, &'static str, Option<&'static str>, &'static str);

#[derive(Clone, Debug)]
pub struct World {
    pub global_roles: Vec<(String, Vec<Perm>)>,
    pub org_roles: Vec<(String, Vec<Perm>)>,
    pub teams: Vec<(&'static str, Vec<&'static str>)>,
    pub projects: Vec<(&'static str, bool)>,
    pub bindings: Vec<Binding>,
    pub shares: Vec<Share>,
    pub created: Vec<Created>,
}

pub fn expiry(n: usize) -> Option<i64> {
    ENDS.get(n).copied()
}

pub fn rfc3339(secs: i64) -> String {
    portcullis::instant::render(secs)
}

pub fn kind_levels(kind: &str) -> Option<(bool, bool, bool)> {
    if let Some((_, o, p, h)) = DECLARED.iter().find(|(n, ..)| *n == kind) {
        return Some((*o, *p, *h));
    }
    BUILTIN.contains(&kind).then_some((true, false, false))
}

pub fn members() -> impl Iterator<Item = &'static str> {
    USERS.into_iter().chain(SERVICE_ACCOUNTS)
}

// ---------------------------------------------------------------------------------------
// Generation

pub fn perm() -> impl Strategy<Value = Perm> {
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

pub fn role_list(prefix: &'static str, max: usize) -> impl Strategy<Value = Vec<(String, Vec<Perm>)>> {
    prop::collection::vec(prop::collection::vec(perm(), 1..4), 0..max).prop_map(move |roles| {
        roles.into_iter().enumerate().map(|(i, perms)| (format!("{prefix}{i}"), perms)).collect()
    })
}

pub fn subject(i: usize) -> String {
    let n = USERS.len() + SERVICE_ACCOUNTS.len();
    match i % (n + TEAMS.len() + 1) {
        i if i < n => members().nth(i).unwrap().to_string(),
        i if i < n + TEAMS.len() => format!("team:{}", TEAMS[i - n]),
        _ => "all".to_string(),
    }
}

pub fn world() -> impl Strategy<Value = World> {
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
pub struct Check {
    pub principal: &'static str,
    pub org: &'static str,
    pub project: Option<&'static str>,
    pub kind: &'static str,
    pub id: Option<String>,
    pub verb: &'static str,
    pub at: i64,
}

pub fn check() -> impl Strategy<Value = Check> {
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
pub struct Aim {
    pub grant: usize,
    pub variant: usize,
    pub principal: usize,
    pub verb: usize,
    pub at: usize,
}

pub fn aim() -> impl Strategy<Value = Aim> {
    (0..64usize, 0..6usize, 0..8usize, 0..5usize, 0..INSTANTS.len())
        .prop_map(|(grant, variant, principal, verb, at)| Aim { grant, variant, principal, verb, at })
}

pub fn aimed(w: &World, a: &Aim) -> Option<Check> {
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

pub fn render(w: &World) -> String {
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

/// Kinds the reach and search tests ask about: declared, built-in, hierarchical, org-only.
pub const ASKED_KINDS: [&str; 6] = ["apps", "regs", "keys", "fs", "members", "billing"];

/// Every scope `kind` exists in: organisation level (`None`), then each project.
pub fn scopes_of(kind: &str) -> Vec<Option<&'static str>> {
    let (org_level, project_level, _) = kind_levels(kind).unwrap();
    org_level
        .then_some(None)
        .into_iter()
        .chain(project_level.then_some(PROJECTS.iter().map(|p| Some(*p))).into_iter().flatten())
        .collect()
}

/// Ids to decide on for `kind`: those grants name, and some below, beside and apart from them.
pub fn ids_of(kind: &str) -> Vec<&'static str> {
    let (_, _, hierarchical) = kind_levels(kind).unwrap();
    if hierarchical {
        PATHS.iter().chain(&["/d/e/f/g", "/q/r", "/de/x"]).copied().collect()
    } else {
        FLAT_IDS.iter().chain(&["z"]).copied().collect()
    }
}
