//! A generated world of the engine benchmark's size, built as a policy AST (no text), and
//! requests to decide against it. Deterministic: the same seed gives the same world.
//!
//! Shape (issue 3): 10,000 orgs, 100,000 members, 1,000,000 shares, 1,000 custom roles,
//! teams and restricted projects. Org `org-0` is the slice given to Cedar: 1,000 members
//! and 10,000 shares.
//!
//! Every other org also has what issue 13 added to the model, drawn from a second generator
//! so the rest of the world stays as it was: a role with an `owned` entry held by 5% of
//! members, creator records for a tenth as many resources as shares, 5% of shares and 1% of
//! members' project bindings expiring around [`AT`], the instant requests are decided at.
//! `PORTCULLIS_BENCH_PLAIN_WORLD=1` leaves them out: the world exactly as before, to compare
//! the engine's code with an older commit's on the same requests.

use portcullis::model::{Level, VerbSet};
use portcullis::policy::{
    BindingDecl, CreatedDecl, KindDecl, Loc, Located, OrgDecl, Permission, PolicySet, ProjectDecl, RoleDecl, ShareDecl,
    TeamDecl,
};

pub const ORGS: usize = 10_000;
pub const MEMBERS: usize = 100_000;
pub const SHARES: usize = 1_000_000;
pub const CUSTOM_ROLES: usize = 1_000;
pub const GLOBAL_ROLES: usize = 100;
pub const SLICE_MEMBERS: usize = 1_000;
pub const SLICE_SHARES: usize = 10_000;
pub const SLICE_ORG: &str = "org-0";
/// When the requests are decided (seconds since the epoch); expiring grants end within a
/// day either side of it, so about half of them have ended.
pub const AT: i64 = 1_800_000_000;

/// (name, organisation level, project level, hierarchical): the brief's kinds.
pub const KINDS: [(&str, bool, bool, bool); 9] = [
    ("containers", false, true, false),
    ("cronjobs", false, true, false),
    ("workers", false, true, false),
    ("memcached", false, true, false),
    ("registries", true, false, false),
    ("secrets", true, true, false),
    ("vault-items", true, true, false),
    ("config-files", false, true, false),
    ("storage", false, true, true),
];

/// SplitMix64: small, fast, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

fn s(v: impl Into<String>) -> Located<String> {
    Located::synthetic(v.into())
}

fn verbs(rng: &mut Rng) -> VerbSet {
    VerbSet::from_bits(1 + rng.below(31) as u8)
}

/// A resource id for a kind: a path for `storage`, a flat id otherwise.
pub fn resource_id(rng: &mut Rng, kind: usize) -> String {
    if KINDS[kind].3 {
        format!("/data/d{}/f{}", rng.below(20), rng.below(50))
    } else {
        format!("{}-{}", &KINDS[kind].0[..3], rng.below(500))
    }
}

fn project_of(rng: &mut Rng, kind: usize, projects: usize) -> Option<usize> {
    let (_, org_level, project_level, _) = KINDS[kind];
    (project_level && (!org_level || rng.chance(50))).then(|| rng.below(projects))
}

fn permission(rng: &mut Rng) -> Permission {
    let kind = rng.below(KINDS.len());
    let level = if project_of(rng, kind, 1).is_some() { Level::Project } else { Level::Organisation };
    let id = rng.chance(20).then(|| resource_id(rng, kind));
    Permission { level, kind: KINDS[kind].0.to_string(), id, owned: false, verbs: verbs(rng) }
}

fn role(rng: &mut Rng, name: String) -> RoleDecl {
    let n = 2 + rng.below(3);
    RoleDecl {
        name: s(name),
        permissions: (0..n).map(|_| Located::synthetic(permission(rng))).collect(),
        loc: Loc::SYNTHETIC,
    }
}

/// The whole world.
pub fn build() -> PolicySet {
    let mut rng = Rng::new(0x5eed);
    let kinds = KINDS
        .iter()
        .map(|(name, o, p, h)| {
            let mut levels = Vec::new();
            if *o {
                levels.push(Level::Organisation);
            }
            if *p {
                levels.push(Level::Project);
            }
            KindDecl { name: s(*name), levels, hierarchical: *h, actions: Vec::new(), loc: Loc::SYNTHETIC }
        })
        .collect();
    let roles = (0..GLOBAL_ROLES).map(|i| role(&mut rng, format!("role-{i}"))).collect();
    // Members and shares left once org-0 has its part, spread over the other orgs.
    let other_members = MEMBERS - SLICE_MEMBERS;
    let other_shares = SHARES - SLICE_SHARES;
    let org_roles_left = CUSTOM_ROLES - GLOBAL_ROLES - 2;
    let orgs = (0..ORGS)
        .map(|i| {
            let (members, shares, org_roles) = if i == 0 {
                (SLICE_MEMBERS, SLICE_SHARES, 2)
            } else {
                let n = ORGS - 1;
                let k = i - 1;
                let spread = |total: usize| total / n + usize::from(k < total % n);
                (spread(other_members), spread(other_shares), usize::from(k < org_roles_left))
            };
            org(&mut rng, i, members, shares, org_roles)
        })
        .collect();
    PolicySet { sources: Vec::new(), kinds, roles, orgs }
}

fn org(rng: &mut Rng, index: usize, n_members: usize, n_shares: usize, n_roles: usize) -> OrgDecl {
    let service_accounts = (n_members / 100).max(1);
    let users = n_members - service_accounts;
    let user_ids: Vec<String> = (0..users).map(|u| format!("u{u}")).collect();
    let sa_ids: Vec<String> = (0..service_accounts).map(|u| format!("sa{u}")).collect();
    let all_ids: Vec<&String> = user_ids.iter().chain(&sa_ids).collect();
    let n_projects = if n_members >= 1_000 { 5 } else { 3 };
    let projects: Vec<ProjectDecl> = (0..n_projects)
        .map(|p| ProjectDecl { id: s(format!("p{p}")), restricted: p == n_projects - 1 && index.is_multiple_of(3) })
        .collect();
    let n_teams = (n_members / 50).max(2);
    let teams: Vec<TeamDecl> = (0..n_teams)
        .map(|t| {
            let size = (n_members / n_teams).max(2);
            let mut members: Vec<usize> = (0..size).map(|_| 1 + rng.below(n_members - 1)).collect();
            members.sort_unstable();
            members.dedup();
            TeamDecl { name: s(format!("t{t}")), members: members.into_iter().map(|m| s(all_ids[m].clone())).collect() }
        })
        .collect();
    let roles: Vec<RoleDecl> = (0..n_roles).map(|r| role(rng, format!("org-role-{r}"))).collect();
    let role_name = |rng: &mut Rng| -> String {
        match rng.below(10) {
            0..=2 => "member".into(),
            3..=4 => "viewer".into(),
            5 => "admin".into(),
            6 if n_roles > 0 => format!("org-role-{}", rng.below(n_roles)),
            _ => format!("role-{}", rng.below(GLOBAL_ROLES)),
        }
    };
    let mut bindings = Vec::new();
    let mut bound = std::collections::HashSet::new();
    let mut bind = |subject: String, role: String, project: Option<usize>, bindings: &mut Vec<BindingDecl>| {
        if bound.insert((subject.clone(), role.clone(), project)) {
            let project = project.map(|p| s(format!("p{p}")));
            bindings.push(BindingDecl {
                subject: s(subject),
                role: s(role),
                project,
                expires_at: None,
                loc: Loc::SYNTHETIC,
            });
        }
    };
    // Member 0 is the owner and is never bound.
    for m in all_ids.iter().skip(1) {
        if rng.chance(70) {
            let r = role_name(rng);
            bind((*m).clone(), r, None, &mut bindings);
        }
        if rng.chance(10) {
            let (r, p) = (role_name(rng), rng.below(n_projects));
            bind((*m).clone(), r, Some(p), &mut bindings);
        }
    }
    for t in 0..n_teams {
        let (r, p) = (role_name(rng), rng.chance(50).then(|| rng.below(n_projects)));
        bind(format!("team:t{t}"), r, p, &mut bindings);
    }
    if index.is_multiple_of(4) {
        bind("all".into(), "viewer".into(), None, &mut bindings);
    }
    let shares = (0..n_shares)
        .map(|_| {
            let subject = match rng.below(100) {
                0..=89 => all_ids[1 + rng.below(n_members - 1)].clone(),
                90..=97 => format!("team:t{}", rng.below(n_teams)),
                _ => "all".into(),
            };
            let kind = rng.below(KINDS.len());
            let project = project_of(rng, kind, n_projects).map(|p| s(format!("p{p}")));
            let id = if rng.chance(1) { "*".to_string() } else { resource_id(rng, kind) };
            ShareDecl {
                subject: s(subject),
                kind: s(KINDS[kind].0),
                project,
                id: s(id),
                verbs: verbs(rng),
                granted_by: Some(s("u0")),
                granted_at: None,
                expires_at: None,
                loc: Loc::SYNTHETIC,
            }
        })
        .collect();
    let mut org = OrgDecl {
        id: s(format!("org-{index}")),
        owner: s("u0"),
        members: user_ids.into_iter().map(s).collect(),
        service_accounts: sa_ids.into_iter().map(s).collect(),
        teams,
        projects,
        roles,
        bindings,
        shares,
        created: Vec::new(),
        loc: Loc::SYNTHETIC,
    };
    if index != 0 && std::env::var_os("PORTCULLIS_BENCH_PLAIN_WORLD").is_none() {
        add_owned_and_expiring(&mut org, index, n_projects);
    }
    org
}

/// Issue 13's additions to one org (see the module docs), from a generator of their own.
fn add_owned_and_expiring(org: &mut OrgDecl, index: usize, n_projects: usize) {
    let mut rng = Rng::new(0xc0ffee ^ index as u64);
    let around_at = |rng: &mut Rng| Some(Located::synthetic(AT - 86_400 + rng.below(2 * 86_400) as i64));
    let permissions = ["project:containers:create", "project:containers:owned:write", "project:cronjobs:owned:read"];
    org.roles.push(RoleDecl {
        name: s("maker"),
        permissions: permissions
            .iter()
            .map(|p| Located::synthetic(portcullis::policy::parse_permission(p).unwrap()))
            .collect(),
        loc: Loc::SYNTHETIC,
    });
    let ids: Vec<String> = org.members.iter().chain(&org.service_accounts).map(|m| m.value.clone()).collect();
    for m in ids.iter().skip(1) {
        if rng.chance(5) {
            org.bindings.push(BindingDecl {
                subject: s(m.clone()),
                role: s("maker"),
                project: None,
                expires_at: None,
                loc: Loc::SYNTHETIC,
            });
        }
        let p = rng.below(n_projects);
        let taken = |b: &BindingDecl| {
            b.subject.as_str() == m
                && b.role.as_str() == "admin"
                && b.project.as_ref().is_some_and(|x| x.value == format!("p{p}"))
        };
        if rng.chance(1) && !org.bindings.iter().any(taken) {
            org.bindings.push(BindingDecl {
                subject: s(m.clone()),
                role: s("admin"),
                project: Some(s(format!("p{p}"))),
                expires_at: around_at(&mut rng),
                loc: Loc::SYNTHETIC,
            });
        }
    }
    for share in &mut org.shares {
        if rng.chance(5) {
            share.expires_at = around_at(&mut rng);
        }
    }
    let mut seen = std::collections::HashSet::new();
    for _ in 0..org.shares.len() / 10 {
        let kind = if rng.chance(50) { 0 } else { 1 };
        let (p, id) = (rng.below(n_projects), resource_id(&mut rng, kind));
        if seen.insert((kind, p, id.clone())) {
            org.created.push(CreatedDecl {
                subject: s(ids[1 + rng.below(ids.len() - 1)].clone()),
                kind: s(KINDS[kind].0),
                project: Some(s(format!("p{p}"))),
                id: s(id),
                at: None,
                loc: Loc::SYNTHETIC,
            });
        }
    }
}

/// A request with owned strings.
#[derive(Clone, Debug)]
pub struct Check {
    pub org: String,
    pub principal: String,
    /// Whether `principal` is a service account of `org` (else a user).
    pub service_account: bool,
    pub project: Option<String>,
    pub kind: String,
    pub id: Option<String>,
    pub verb: portcullis::Verb,
}

impl Check {
    pub fn request(&self) -> portcullis::Request<'_> {
        portcullis::Request {
            org: &self.org,
            principal: if self.service_account {
                portcullis::Caller::ServiceAccount { org: &self.org, name: &self.principal }
            } else {
                portcullis::Caller::User(&self.principal)
            },
            project: self.project.as_deref(),
            kind: &self.kind,
            id: self.id.as_deref(),
            verb: self.verb,
            at: AT,
        }
    }
}

/// `n` well-formed requests on the orgs of `set` chosen by `pick_org`: 60% aimed at an
/// existing share (its subject or a member, its resource or a child path), the rest at
/// random members, kinds, projects and ids.
pub fn checks(set: &PolicySet, n: usize, seed: u64, pick_org: impl Fn(&mut Rng) -> usize) -> Vec<Check> {
    let mut rng = Rng::new(seed);
    let verbs = portcullis::Verb::ALL;
    (0..n)
        .map(|_| {
            let org = &set.orgs[pick_org(&mut rng)];
            let members: Vec<&str> = org.members.iter().chain(&org.service_accounts).map(|m| m.as_str()).collect();
            let verb = verbs[rng.below(verbs.len())];
            let aimed = rng.chance(60) && !org.shares.is_empty();
            let (kind, project, id, principal) = if aimed {
                let share = &org.shares[rng.below(org.shares.len())];
                let kind = KINDS.iter().position(|k| k.0 == share.kind.as_str()).unwrap_or(0);
                let id = match share.id.as_str() {
                    "*" => (!rng.chance(20)).then(|| resource_id(&mut rng, kind)),
                    id if KINDS[kind].3 && rng.chance(50) => Some(format!("{id}/x{}", rng.below(5))),
                    id => Some(id.to_string()),
                };
                let principal = if share.subject.as_str().starts_with("team:") || share.subject.as_str() == "all" {
                    members[1 + rng.below(members.len() - 1)].to_string()
                } else {
                    share.subject.value.clone()
                };
                (share.kind.value.clone(), share.project.as_ref().map(|p| p.value.clone()), id, principal)
            } else {
                let kind = rng.below(KINDS.len());
                let project = project_of(&mut rng, kind, org.projects.len()).map(|p| format!("p{p}"));
                let id = (!rng.chance(15)).then(|| resource_id(&mut rng, kind));
                // Now and then the owner (index 0), usually anyone else.
                let principal = members[if rng.chance(2) { 0 } else { 1 + rng.below(members.len() - 1) }].to_string();
                (KINDS[kind].0.to_string(), project, id, principal)
            };
            let service_account = org.service_accounts.iter().any(|s| s.as_str() == principal);
            Check { org: org.id.value.clone(), principal, service_account, project, kind, id, verb }
        })
        .collect()
}
