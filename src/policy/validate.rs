//! Resolves a parsed [`PolicySet`] into checked, index-based form: kinds to [`KindId`]s, role
//! names to [`RoleRef`]s, subjects to members and teams. Everything MODEL.md forbids is
//! reported here, all at once.
//!
//! The output, [`Globals`] plus one [`OrgModel`] per org, is what `compile` indexes for the
//! decision path, and what `explain` reads to name the binding or share behind a decision.

use hashbrown::HashMap;

use super::ast::*;
use super::err::{PolicyError, PolicyErrorKind as E, PolicyErrors, Problems, nearest};
use crate::model::{Level, Verb, VerbSet, normalise_id};

/// Index of a kind in [`Kinds`].
pub type KindId = u16;

/// The built-in kinds, all at organisation level. `ownership` is reserved to the owner.
pub const BUILTIN_KINDS: [&str; 8] =
    ["members", "teams", "roles", "projects", "billing", "events", "organisation", "ownership"];
pub(crate) const OWNERSHIP: KindId = 7;
const PROJECTS: KindId = 3;

/// The built-in roles a binding may name (`owner` is never bound).
pub const BUILTIN_ROLES: [&str; 3] = ["admin", "member", "viewer"];

#[derive(Clone, Debug)]
pub struct KindInfo {
    pub name: Box<str>,
    /// Bit 0: organisation level, bit 1: project level.
    levels: u8,
    pub hierarchical: bool,
    pub builtin: bool,
    /// Other names for its verbs (`[[kind]] actions`), in the order declared.
    pub actions: Box<[(Box<str>, Verb)]>,
}

impl KindInfo {
    /// The verb `action` names on this kind: a verb's own name, or one of its `actions`.
    pub fn verb(&self, action: &str) -> Option<Verb> {
        Verb::parse(action).or_else(|| self.actions.iter().find(|(a, _)| &**a == action).map(|(_, v)| *v))
    }

    pub fn exists_at(&self, level: Level) -> bool {
        self.levels & (1 << level.index()) != 0
    }

    pub fn levels(&self) -> impl Iterator<Item = Level> + '_ {
        [Level::Organisation, Level::Project].into_iter().filter(|l| self.exists_at(*l))
    }

    fn level_names(&self) -> String {
        self.levels().map(Level::name).collect::<Vec<_>>().join(", ")
    }
}

/// Every kind, built-in ones first.
#[derive(Clone, Debug)]
pub struct Kinds {
    by_name: crate::strmap::StrMap<KindId>,
    list: Vec<KindInfo>,
}

impl Kinds {
    pub fn get(&self, name: &str) -> Option<KindId> {
        self.by_name.get(name).copied()
    }

    pub fn info(&self, id: KindId) -> Option<&KindInfo> {
        self.list.get(usize::from(id))
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (KindId, &KindInfo)> {
        self.list.iter().enumerate().map(|(i, k)| (i as KindId, k))
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.list.iter().map(|k| &*k.name)
    }
}

/// A role flattened to entries over kind ids.
#[derive(Clone, Debug)]
pub struct RoleDef {
    pub name: Box<str>,
    pub entries: Vec<RoleEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleEntry {
    pub level: Level,
    pub kind: KindId,
    /// `None`: every resource of the kind (written without an id, or as `*`). Otherwise one
    /// id, normalised; for hierarchical kinds it covers the subtree below it.
    pub id: Option<Box<str>>,
    /// Only the resources whose recorded creator is the holder (`id` is `None`).
    pub owned: bool,
    pub verbs: VerbSet,
}

/// A role as a binding names it: an index into the global roles, or past them into the org's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleRef(pub u32);

/// Kinds and global roles: shared by every org, compiled once per policy set.
#[derive(Clone, Debug)]
pub struct Globals {
    pub kinds: Kinds,
    /// `admin`, `member`, `viewer`, then the global custom roles in file order.
    pub roles: Vec<RoleDef>,
    role_names: HashMap<Box<str>, (u32, Loc)>,
    /// Unique per validation: an [`OrgModel`] holds kind and role indexes into exactly
    /// these globals, and this is how compiling checks it is given the right ones.
    id: u64,
}

impl Globals {
    /// The built-in kinds and roles alone, as validated from an empty policy set.
    pub fn builtin() -> Globals {
        let set = PolicySet::default();
        let mut errors = Errors::new(&set);
        validate_globals(&set, &mut errors)
    }

    /// The identity [`OrgModel::globals_id`] must match.
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn role_by_name(&self, name: &str) -> Option<RoleRef> {
        self.role_names.get(name).map(|(i, _)| RoleRef(*i))
    }
}

/// Who a binding or share is given to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    Member(u32),
    Team(u32),
    All,
}

#[derive(Clone, Debug)]
pub struct Member {
    pub id: Box<str>,
    pub service_account: bool,
}

#[derive(Clone, Debug)]
pub struct Team {
    pub name: Box<str>,
    pub members: Vec<u32>,
}

#[derive(Clone, Debug)]
pub struct Project {
    pub id: Box<str>,
    pub restricted: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    pub subject: Subject,
    pub role: RoleRef,
    pub project: Option<u32>,
    /// From this instant it counts for nothing.
    pub expires_at: Expiry,
}

impl Binding {
    /// Whether it still counts at `at`.
    pub fn live_at(&self, at: i64) -> bool {
        self.expires_at.live_at(at)
    }
}

/// When a grant stops counting: seconds since the Unix epoch, or never. Eight bytes, where
/// an `Option<i64>` takes sixteen: a snapshot holds millions of shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Expiry(i64);

impl Expiry {
    pub const NEVER: Expiry = Expiry(i64::MAX);

    /// `None` is never; an instant at the very end of time is treated as never too.
    pub fn new(at: Option<i64>) -> Expiry {
        at.map_or(Expiry::NEVER, Expiry)
    }

    /// The instant, unless it never expires.
    pub fn get(self) -> Option<i64> {
        (self != Expiry::NEVER).then_some(self.0)
    }

    /// Whether a grant with this expiry counts at `at`.
    pub fn live_at(self, at: i64) -> bool {
        self == Expiry::NEVER || at < self.0
    }
}

/// A direct grant. `id` is `*` or a normalised id.
#[derive(Clone, Debug)]
pub struct Share {
    pub subject: Subject,
    pub kind: KindId,
    pub project: Option<u32>,
    pub id: Box<str>,
    pub verbs: VerbSet,
    pub granted_by: Option<u32>,
    /// From this instant it counts for nothing.
    pub expires_at: Expiry,
}

impl Share {
    pub fn level(&self) -> Level {
        if self.project.is_some() { Level::Project } else { Level::Organisation }
    }

    /// Whether it still counts at `at`.
    pub fn live_at(&self, at: i64) -> bool {
        self.expires_at.live_at(at)
    }
}

/// The recorded creator of one resource: what `owned` role entries match. `id` is normalised
/// (never `*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    pub member: u32,
    pub kind: KindId,
    pub project: Option<u32>,
    pub id: Box<str>,
}

/// One org, resolved and checked.
#[derive(Clone, Debug)]
pub struct OrgModel {
    pub id: Box<str>,
    pub members: Vec<Member>,
    pub owner: u32,
    pub teams: Vec<Team>,
    pub projects: Vec<Project>,
    /// The org's own roles; `RoleRef(globals.roles.len() + i)` names `roles[i]`.
    pub roles: Vec<RoleDef>,
    pub bindings: Vec<Binding>,
    pub shares: Vec<Share>,
    /// Creator records, at most one per resource. Emptied when the org is compiled: the
    /// snapshot keeps them in its creator index only (the org's policy text has them all).
    pub created: Vec<Created>,
    /// The control plane's revision of an org it manages (each write makes the next one);
    /// 0 for an org declared in a policy file.
    pub revision: u64,
    /// The [`Globals::id`] this org was validated against; only `validate` sets it.
    pub(crate) globals_id: u64,
}

impl OrgModel {
    /// Which globals this org's kind and role indexes refer to.
    pub fn globals_id(&self) -> u64 {
        self.globals_id
    }

    /// The role behind `r`, global or the org's own.
    pub fn role<'a>(&'a self, globals: &'a Globals, r: RoleRef) -> Option<&'a RoleDef> {
        let i = r.0 as usize;
        globals.roles.get(i).or_else(|| self.roles.get(i.checked_sub(globals.roles.len())?))
    }

    pub fn subject_name(&self, s: Subject) -> String {
        match s {
            Subject::Member(m) => self.members.get(m as usize).map_or("?".into(), |m| m.id.to_string()),
            Subject::Team(t) => format!("team:{}", self.teams.get(t as usize).map_or("?", |t| &*t.name)),
            Subject::All => "all".into(),
        }
    }
}

/// A whole policy set, checked.
#[derive(Clone, Debug)]
pub struct Validated {
    pub globals: Globals,
    pub orgs: Vec<OrgModel>,
}

/// Checks a policy set, reporting every problem at once.
pub fn validate(set: &PolicySet) -> Result<Validated, PolicyErrors> {
    let mut errors = Errors::new(set);
    let globals = validate_globals(set, &mut errors);
    let mut orgs = Vec::with_capacity(set.orgs.len());
    let mut seen: HashMap<&str, Loc> = HashMap::new();
    for org in &set.orgs {
        if let Some(first) = seen.insert(&org.id.value, org.id.loc) {
            errors.dup("org", &org.id, first);
        }
        if let Some(model) = validate_org_into(&globals, org, &mut errors) {
            orgs.push(model);
        }
    }
    errors.finish()?;
    Ok(Validated { globals, orgs })
}

/// Checks one org against already validated globals: what a per-org update does.
/// `set` supplies the file names for error locations (it may hold no orgs).
pub fn validate_org(globals: &Globals, set: &PolicySet, org: &OrgDecl) -> Result<OrgModel, PolicyErrors> {
    let mut errors = Errors::new(set);
    let model = validate_org_into(globals, org, &mut errors);
    errors.finish()?;
    model.ok_or_else(|| Problems(Vec::new()))
}

/// Problems found so far, with the set to name their files.
struct Errors<'s> {
    set: &'s PolicySet,
    list: Vec<(Loc, E)>,
}

impl<'s> Errors<'s> {
    fn new(set: &'s PolicySet) -> Self {
        Errors { set, list: Vec::new() }
    }

    fn push(&mut self, loc: Loc, kind: E) {
        self.list.push((loc, kind));
    }

    fn dup(&mut self, what: &'static str, name: &Located<String>, first: Loc) {
        let first = self.set.source_loc(first).to_string();
        self.push(name.loc, E::Duplicate { what, name: name.value.clone(), first });
    }

    fn finish(mut self) -> Result<(), PolicyErrors> {
        if self.list.is_empty() {
            return Ok(());
        }
        self.list.sort_by_key(|(loc, _)| *loc);
        let set = self.set;
        Err(Problems(self.list.into_iter().map(|(loc, kind)| PolicyError { loc: set.source_loc(loc), kind }).collect()))
    }
}

/// Why a name of a kind, role or team cannot be used, if it cannot.
fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.contains(':') {
        Some("it contains ':', which separates the parts of a permission")
    } else if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("it contains white space or a control character")
    } else if name == "*" {
        Some("'*' is a pattern")
    } else {
        None
    }
}

/// An existing name equal to `name` but for ASCII case, if there is one.
fn case_twin<'a>(name: &str, existing: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    existing.into_iter().find(|e| *e != name && e.eq_ignore_ascii_case(name))
}

/// Why a member or service account id cannot be used, if it cannot.
fn member_id_problem(id: &str) -> Option<&'static str> {
    if id.is_empty() {
        Some("it is empty")
    } else if id == "all" {
        Some("'all' is the subject for every member")
    } else if id.starts_with("team:") {
        Some("'team:' starts a team subject")
    } else if id.starts_with(crate::principal::SERVICE_ACCOUNT_PREFIX) {
        Some("'sa:' starts a service account as logs and headers write it (sa:ORG/NAME)")
    } else if id.chars().any(char::is_control) {
        Some("it contains a control character")
    } else {
        None
    }
}

fn validate_globals(set: &PolicySet, errors: &mut Errors<'_>) -> Globals {
    let mut list: Vec<KindInfo> = BUILTIN_KINDS
        .iter()
        .map(|n| KindInfo { name: (*n).into(), levels: 1, hierarchical: false, builtin: true, actions: Box::default() })
        .collect();
    let mut first_decl: HashMap<&str, Loc> = HashMap::new();
    for k in &set.kinds {
        let name = k.name.as_str();
        if let Some(problem) = name_problem(name) {
            errors.push(k.name.loc, E::BadName { name: name.into(), problem });
            continue;
        }
        if BUILTIN_KINDS.contains(&name) {
            errors.push(k.name.loc, E::BuiltinKind { name: name.into() });
            continue;
        }
        if let Some(first) = first_decl.insert(name, k.name.loc) {
            errors.dup("kind", &k.name, first);
            continue;
        }
        if let Some(other) = case_twin(name, list.iter().map(|k| &*k.name)) {
            errors.push(k.name.loc, E::CaseTwin { what: "kind", name: name.into(), other: other.into() });
            continue;
        }
        let levels = k.levels.iter().fold(0u8, |acc, l| acc | (1 << l.index()));
        let actions = k.actions.iter().map(|(a, v)| (a.value.as_str().into(), *v)).collect();
        list.push(KindInfo { name: name.into(), levels, hierarchical: k.hierarchical, builtin: false, actions });
    }
    let by_name = list.iter().enumerate().map(|(i, k)| (&*k.name, i as KindId)).collect();
    let kinds = Kinds { by_name, list };

    let mut roles = builtin_roles(&kinds);
    let mut role_names: HashMap<Box<str>, (u32, Loc)> =
        roles.iter().enumerate().map(|(i, r)| (r.name.clone(), (i as u32, Loc::SYNTHETIC))).collect();
    for r in &set.roles {
        let Some(def) = role_def(&kinds, r, errors) else { continue };
        if let Some((_, first)) = role_names.get(&*def.name) {
            errors.dup("role", &r.name, *first);
            continue;
        }
        if let Some(other) = case_twin(&def.name, role_names.keys().map(|k| &**k)) {
            errors.push(r.name.loc, E::CaseTwin { what: "role", name: def.name.to_string(), other: other.into() });
            continue;
        }
        role_names.insert(def.name.clone(), (roles.len() as u32, r.name.loc));
        roles.push(def);
    }
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Globals { kinds, roles, role_names, id }
}

/// `admin`, `member` and `viewer` as MODEL.md defines them over the declared kinds.
fn builtin_roles(kinds: &Kinds) -> Vec<RoleDef> {
    let whole = |kind: KindId, level: Level, verbs: VerbSet| RoleEntry { level, kind, id: None, owned: false, verbs };
    let mut admin = Vec::new();
    let mut member = Vec::new();
    let mut viewer = Vec::new();
    for (id, k) in kinds.iter() {
        for level in k.levels() {
            if id != OWNERSHIP {
                admin.push(whole(id, level, VerbSet::ALL));
            }
            let (m, v) = match &*k.name {
                _ if !k.builtin || id == PROJECTS => (VerbSet::READ_UPDATE, VerbSet::READ),
                "members" | "teams" | "roles" => (VerbSet::READ, VerbSet::READ),
                _ => continue,
            };
            member.push(whole(id, level, m));
            viewer.push(whole(id, level, v));
        }
    }
    vec![
        RoleDef { name: "admin".into(), entries: admin },
        RoleDef { name: "member".into(), entries: member },
        RoleDef { name: "viewer".into(), entries: viewer },
    ]
}

fn role_def(kinds: &Kinds, r: &RoleDecl, errors: &mut Errors<'_>) -> Option<RoleDef> {
    let name = r.name.as_str();
    if let Some(problem) = name_problem(name) {
        errors.push(r.name.loc, E::BadName { name: name.into(), problem });
        return None;
    }
    if name == "owner" || BUILTIN_ROLES.contains(&name) {
        errors.push(r.name.loc, E::BuiltinRole { name: name.into() });
        return None;
    }
    let mut entries = Vec::new();
    for p in &r.permissions {
        if let Some(e) = role_entry(kinds, p, errors) {
            entries.push(e);
        }
    }
    Some(RoleDef { name: name.into(), entries })
}

fn resolve_kind<'k>(kinds: &'k Kinds, name: &str, loc: Loc, errors: &mut Errors<'_>) -> Option<(KindId, &'k KindInfo)> {
    let Some(id) = kinds.get(name) else {
        errors.push(loc, E::UnknownKind { name: name.into(), suggestion: nearest(name, kinds.names()) });
        return None;
    };
    if id == OWNERSHIP {
        errors.push(loc, E::OwnershipGrant);
        return None;
    }
    kinds.info(id).map(|info| (id, info))
}

fn role_entry(kinds: &Kinds, p: &Located<Permission>, errors: &mut Errors<'_>) -> Option<RoleEntry> {
    let perm = &p.value;
    let (kind, info) = resolve_kind(kinds, &perm.kind, p.loc, errors)?;
    if !info.exists_at(perm.level) {
        let kind_name = perm.kind.clone();
        errors.push(
            p.loc,
            E::KindNotAtLevel { kind: kind_name, level: perm.level.name(), levels: info.level_names(), hint: "" },
        );
        return None;
    }
    let id = match perm.id.as_deref() {
        None | Some("*") => None,
        Some(raw) => match normalise_id(raw, info.hierarchical) {
            Ok(id) => Some(id.into()),
            Err(problem) => {
                errors.push(p.loc, E::BadId { id: raw.into(), problem });
                return None;
            }
        },
    };
    Some(RoleEntry { level: perm.level, kind, id, owned: perm.owned, verbs: perm.verbs })
}

/// Name lookups of one org while it is being resolved.
struct OrgNames<'a> {
    org: &'a str,
    members: HashMap<&'a str, u32>,
    service_accounts: HashMap<&'a str, u32>,
    teams: HashMap<&'a str, u32>,
    projects: HashMap<&'a str, u32>,
}

impl OrgNames<'_> {
    fn subject(&self, s: &Located<String>, errors: &mut Errors<'_>) -> Option<Subject> {
        let s_str = s.as_str();
        if s_str == "all" {
            return Some(Subject::All);
        }
        if let Some(team) = s_str.strip_prefix("team:") {
            return match self.teams.get(team) {
                Some(t) => Some(Subject::Team(*t)),
                None => {
                    let suggestion = nearest(team, self.teams.keys().copied());
                    errors.push(s.loc, E::UnknownTeam { team: team.into(), org: self.org.into(), suggestion });
                    None
                }
            };
        }
        match self.member(s_str) {
            Some(m) => Some(Subject::Member(m)),
            None => {
                let all = self.members.keys().chain(self.service_accounts.keys()).copied();
                let suggestion = nearest(s_str, all);
                errors.push(s.loc, E::NotAMember { subject: s_str.into(), org: self.org.into(), suggestion });
                None
            }
        }
    }

    fn member(&self, id: &str) -> Option<u32> {
        self.members.get(id).or_else(|| self.service_accounts.get(id)).copied()
    }

    fn project(&self, p: &Located<String>, errors: &mut Errors<'_>) -> Option<u32> {
        let found = self.projects.get(p.as_str()).copied();
        if found.is_none() {
            let suggestion = nearest(p.as_str(), self.projects.keys().copied());
            errors.push(p.loc, E::UnknownProject { project: p.value.clone(), org: self.org.into(), suggestion });
        }
        found
    }
}

fn validate_org_into(globals: &Globals, org: &OrgDecl, errors: &mut Errors<'_>) -> Option<OrgModel> {
    let before = errors.list.len();
    let org_id = org.id.as_str();
    let org_problem = member_id_problem(org_id).or_else(|| org_id.contains('/').then_some("it contains '/'"));
    if let Some(problem) = org_problem {
        errors.push(org.id.loc, E::BadName { name: org_id.into(), problem });
    }
    let mut names = OrgNames {
        org: org_id,
        members: HashMap::with_capacity(org.members.len()),
        service_accounts: HashMap::with_capacity(org.service_accounts.len()),
        teams: HashMap::with_capacity(org.teams.len()),
        projects: HashMap::with_capacity(org.projects.len()),
    };
    let mut members: Vec<Member> = Vec::with_capacity(org.members.len() + org.service_accounts.len());
    let mut first_seen: HashMap<&str, Loc> = HashMap::with_capacity(org.members.len() + org.service_accounts.len());
    for (list, service_account) in [(&org.members, false), (&org.service_accounts, true)] {
        for m in list {
            let id = m.as_str();
            if let Some(problem) = member_id_problem(id) {
                errors.push(m.loc, E::BadName { name: id.into(), problem });
                continue;
            }
            if let Some(first) = first_seen.insert(id, m.loc) {
                if service_account && names.members.contains_key(id) {
                    errors.push(m.loc, E::MemberAndServiceAccount { id: id.into(), org: org_id.into() });
                } else {
                    errors.dup("member", m, first);
                }
                continue;
            }
            let idx = members.len() as u32;
            if service_account {
                names.service_accounts.insert(id, idx);
            } else {
                names.members.insert(id, idx);
            }
            members.push(Member { id: id.into(), service_account });
        }
    }
    let limit = crate::snapshot::MAX_SUBJECT_INDEX as usize + 1;
    for (what, count) in [("members", members.len()), ("teams", org.teams.len())] {
        if count > limit {
            errors.push(org.id.loc, E::TooMany { org: org_id.into(), what, count, limit });
        }
    }
    let owner = match names.members.get(org.owner.as_str()) {
        Some(o) => Some(*o),
        None => {
            let owner = org.owner.value.clone();
            if names.service_accounts.contains_key(org.owner.as_str()) {
                errors.push(org.owner.loc, E::OwnerIsServiceAccount { owner, org: org_id.into() });
            } else {
                errors.push(org.owner.loc, E::OwnerNotMember { owner, org: org_id.into() });
            }
            None
        }
    };

    let mut teams = Vec::new();
    for t in &org.teams {
        if let Some(problem) = name_problem(t.name.as_str()) {
            errors.push(t.name.loc, E::BadName { name: t.name.value.clone(), problem });
            continue;
        }
        let mut team_members = Vec::new();
        for m in &t.members {
            match names.member(m.as_str()) {
                Some(idx) if team_members.contains(&idx) => {
                    errors.push(m.loc, E::TeamMemberTwice { team: t.name.value.clone(), member: m.value.clone() })
                }
                Some(idx) => team_members.push(idx),
                None => errors.push(
                    m.loc,
                    E::TeamMemberUnknown { team: t.name.value.clone(), member: m.value.clone(), org: org_id.into() },
                ),
            }
        }
        if let Some(other) = case_twin(t.name.as_str(), names.teams.keys().copied()) {
            errors.push(t.name.loc, E::CaseTwin { what: "team", name: t.name.value.clone(), other: other.into() });
            continue;
        }
        names.teams.insert(t.name.as_str(), teams.len() as u32);
        teams.push(Team { name: t.name.as_str().into(), members: team_members });
    }

    let mut projects = Vec::new();
    let mut project_locs: HashMap<&str, Loc> = HashMap::new();
    for p in &org.projects {
        if let Some(problem) = member_id_problem(p.id.as_str()).or_else(|| name_problem(p.id.as_str())) {
            errors.push(p.id.loc, E::BadName { name: p.id.value.clone(), problem });
            continue;
        }
        if let Some(&first) = project_locs.get(p.id.as_str()) {
            errors.dup("project", &p.id, first);
            continue;
        }
        project_locs.insert(p.id.as_str(), p.id.loc);
        names.projects.insert(p.id.as_str(), projects.len() as u32);
        projects.push(Project { id: p.id.as_str().into(), restricted: p.restricted });
    }

    let mut roles: Vec<RoleDef> = Vec::new();
    let mut org_role_names: HashMap<&str, u32> = HashMap::new();
    let mut org_role_locs: HashMap<&str, Loc> = HashMap::new();
    for r in &org.roles {
        let name = r.name.as_str();
        if let Some((_, first)) = globals.role_names.get(name).filter(|_| !BUILTIN_ROLES.contains(&name)) {
            let first = errors.set.source_loc(*first).to_string();
            errors.push(r.name.loc, E::ShadowsGlobalRole { name: name.into(), first });
            continue;
        }
        let Some(def) = role_def(&globals.kinds, r, errors) else { continue };
        if let Some(&first) = org_role_locs.get(r.name.as_str()) {
            errors.dup("org role", &r.name, first);
            continue;
        }
        let taken = globals.role_names.keys().map(|k| &**k).chain(org_role_locs.keys().copied());
        if let Some(other) = case_twin(name, taken) {
            errors.push(r.name.loc, E::CaseTwin { what: "role", name: name.into(), other: other.into() });
            continue;
        }
        org_role_locs.insert(r.name.as_str(), r.name.loc);
        org_role_names.insert(r.name.as_str(), roles.len() as u32);
        roles.push(def);
    }

    let mut bindings: Vec<Binding> = Vec::new();
    for b in &org.bindings {
        let subject = names.subject(&b.subject, errors);
        let role_name = b.role.as_str();
        let role = if role_name == "owner" {
            errors.push(b.role.loc, E::BindOwner);
            None
        } else if let Some(i) = org_role_names.get(role_name) {
            Some(RoleRef(globals.roles.len() as u32 + i))
        } else if let Some(r) = globals.role_by_name(role_name) {
            Some(r)
        } else {
            let all = globals.role_names.keys().map(|k| &**k).chain(org_role_names.keys().copied());
            let suggestion = nearest(role_name, all);
            errors.push(b.role.loc, E::UnknownRole { name: role_name.into(), org: org_id.into(), suggestion });
            None
        };
        let project = match &b.project {
            Some(p) => names.project(p, errors).map(Some),
            None => Some(None),
        };
        if let (Some(Subject::Member(m)), Some(o)) = (subject, owner)
            && m == o
        {
            errors.push(b.subject.loc, E::OwnerBound { owner: org.owner.value.clone(), org: org_id.into() });
            continue;
        }
        let (Some(subject), Some(role), Some(project)) = (subject, role, project) else { continue };
        let binding =
            Binding { subject, role, project, expires_at: Expiry::new(b.expires_at.as_ref().map(|e| e.value)) };
        if bindings.iter().any(|o| (o.subject, o.role, o.project) == (subject, role, project)) {
            let scope = b.project.as_ref().map_or(String::new(), |p| format!(", project {}", p.value));
            errors.push(b.loc, E::DuplicateBinding { subject: b.subject.value.clone(), role: role_name.into(), scope });
            continue;
        }
        bindings.push(binding);
    }

    let mut shares = Vec::with_capacity(org.shares.len());
    for s in &org.shares {
        if let Some(share) = resolve_share(globals, &names, s, errors) {
            shares.push(share);
        }
    }

    let mut created: Vec<Created> = Vec::with_capacity(org.created.len());
    let mut first_creator: HashMap<(KindId, Option<u32>, Box<str>), u32> = HashMap::with_capacity(org.created.len());
    for c in &org.created {
        let Some(record) = resolve_created(globals, &names, c, errors) else { continue };
        let key = (record.kind, record.project, record.id.clone());
        if let Some(&first) = first_creator.get(&key) {
            let first = members.get(first as usize).map_or(String::new(), |m| m.id.to_string());
            let project = c.project.as_ref().map_or(String::new(), |p| format!(" in project {}", p.value));
            errors.push(c.loc, E::CreatorTwice { kind: c.kind.value.clone(), id: c.id.value.clone(), project, first });
            continue;
        }
        first_creator.insert(key, record.member);
        created.push(record);
    }

    if errors.list.len() > before {
        return None;
    }
    Some(OrgModel {
        id: org_id.into(),
        members,
        owner: owner?,
        teams,
        projects,
        roles,
        bindings,
        shares,
        created,
        revision: 0,
        globals_id: globals.id,
    })
}

/// A kind at the level a `project` key (or its absence) says, and an id of one resource of
/// it, normalised (`*` allowed where `wildcard`).
fn resolve_resource(
    globals: &Globals,
    names: &OrgNames<'_>,
    kind: &Located<String>,
    project: Option<&Located<String>>,
    id: &Located<String>,
    wildcard: bool,
    errors: &mut Errors<'_>,
) -> Option<(KindId, Option<u32>, Box<str>)> {
    let resolved = resolve_kind(&globals.kinds, kind.as_str(), kind.loc, errors);
    let project = match project {
        Some(p) => Some(names.project(p, errors)?),
        None => None,
    };
    let (kind_id, info) = resolved?;
    let level = if project.is_some() { Level::Project } else { Level::Organisation };
    if !info.exists_at(level) {
        let hint = if level == Level::Project {
            " (omit `project` for an organisation-level resource)"
        } else {
            " (add `project = \"...\"` for a project-level resource)"
        };
        errors.push(
            kind.loc,
            E::KindNotAtLevel { kind: kind.value.clone(), level: level.name(), levels: info.level_names(), hint },
        );
        return None;
    }
    let id: Box<str> = match id.as_str() {
        "*" if wildcard => "*".into(),
        raw => match normalise_id(raw, info.hierarchical) {
            Ok(id) => id.into(),
            Err(problem) => {
                errors.push(id.loc, E::BadId { id: raw.into(), problem });
                return None;
            }
        },
    };
    Some((kind_id, project, id))
}

fn resolve_created(
    globals: &Globals,
    names: &OrgNames<'_>,
    c: &CreatedDecl,
    errors: &mut Errors<'_>,
) -> Option<Created> {
    let member = names.member(c.subject.as_str());
    if member.is_none() {
        let all = names.members.keys().chain(names.service_accounts.keys()).copied();
        let suggestion = nearest(c.subject.as_str(), all);
        errors
            .push(c.subject.loc, E::NotAMember { subject: c.subject.value.clone(), org: names.org.into(), suggestion });
    }
    let (kind, project, id) = resolve_resource(globals, names, &c.kind, c.project.as_ref(), &c.id, false, errors)?;
    Some(Created { member: member?, kind, project, id })
}

fn resolve_share(globals: &Globals, names: &OrgNames<'_>, s: &ShareDecl, errors: &mut Errors<'_>) -> Option<Share> {
    let subject = names.subject(&s.subject, errors);
    let granted_by = match &s.granted_by {
        Some(g) => match names.member(g.as_str()) {
            Some(m) => Some(Some(m)),
            None => {
                errors.push(g.loc, E::GrantorNotMember { who: g.value.clone(), org: names.org.into() });
                None
            }
        },
        None => Some(None),
    };
    let (kind, project, id) = resolve_resource(globals, names, &s.kind, s.project.as_ref(), &s.id, true, errors)?;
    if s.verbs.is_empty() {
        return None;
    }
    Some(Share {
        subject: subject?,
        kind,
        project,
        id,
        verbs: s.verbs,
        granted_by: granted_by?,
        expires_at: Expiry::new(s.expires_at.as_ref().map(|e| e.value)),
    })
}
