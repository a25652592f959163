//! `decide(snapshot, request) -> Decision`: the step every request goes through.
//!
//! It follows MODEL.md's decision procedure in order (member, resource, owner, base access
//! from bindings, shares) against the compiled [`Snapshot`]. It does no I/O, takes no lock,
//! allocates nothing and cannot fail: a deny is a value. The cost is a handful of hash
//! probes (org, member, kind, project, the member's project profile, the share index) and
//! bit tests; a hierarchical id adds one share probe per path segment.
//!
//! The [`Decision`] names its cause cheaply (an enum); the readable account of which
//! binding or share it was is built only on request, by [`crate::explain`].
//!
//! ```
//! use portcullis::{decide, policy, Caller, Request, Verb};
//! let text = r#"
//! [[kind]]
//! name = "containers"
//! levels = ["project"]
//!
//! [[org]]
//! id = "acme"
//! owner = "olga"
//! members = ["olga", "bob"]
//! projects = [{ id = "web" }]
//!
//! [[org.binding]]
//! subject = "bob"
//! role = "viewer"
//! "#;
//! let snapshot = policy::compile_text("example.toml", text).unwrap();
//! let read = Request { org: "acme", principal: Caller::User("bob"), project: Some("web"),
//!                      kind: "containers", id: Some("c1"), verb: Verb::Read,
//!                      at: portcullis::instant::now() };
//! assert!(decide(&snapshot, &read).allowed);
//! assert!(!decide(&snapshot, &Request { verb: Verb::Delete, ..read }).allowed);
//! ```

use crate::model::{IdProblem, Level, Verb, VerbSet, normalise_id};
use crate::policy::KindId;
use crate::policy::Subject;
use crate::principal::Caller;
use crate::snapshot::{HAS_NARROWED, HAS_OWNED, NO_PROFILE, ORG_SCOPE, OrgSnapshot, Snapshot, slot};

/// What is asked: may `principal` do `verb` on this resource of `org`?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    pub org: &'a str,
    /// A user, or a service account (a member of its own org only).
    pub principal: Caller<'a>,
    /// The project of a project-level resource; `None` for an organisation-level one.
    pub project: Option<&'a str>,
    pub kind: &'a str,
    /// `None` addresses the collection.
    pub id: Option<&'a str>,
    pub verb: Verb,
    /// When it is decided, in seconds since the Unix epoch: grants that expire at or before
    /// this instant count for nothing.
    pub at: i64,
}

/// The answer, with its cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: Reason,
}

/// Which scope of bindings granted a role-based allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Organisation,
    Project,
}

/// Why a decision came out as it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Allowed: the principal owns the org.
    Owner,
    /// Allowed by a role bound at this scope (to the principal, a team of it, or `all`).
    Role(Scope),
    /// Allowed by a share (to the principal, a team of it, or `all`).
    Share,
    /// Denied: there is no such org.
    UnknownOrg,
    /// Denied: the principal is not a member of the org.
    NotAMember,
    /// Denied: the resource does not make sense.
    UnknownResource(ResourceProblem),
    /// Denied: the principal is a member but nothing grants the verb.
    NoGrant,
}

/// Why a resource does not make sense.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceProblem {
    UnknownKind,
    UnknownProject,
    /// The kind does not exist at the level asked for (a project was given or missing).
    KindNotAtLevel,
    MalformedId(IdProblem),
}

const fn deny(reason: Reason) -> Decision {
    Decision { allowed: false, reason }
}

const fn allow(reason: Reason) -> Decision {
    Decision { allowed: true, reason }
}

/// Decides `request` against `snapshot`.
pub fn decide(snapshot: &Snapshot, request: &Request<'_>) -> Decision {
    match resolve(snapshot, request) {
        Ok((org, member, target)) => decide_resolved(org, member, &target, request),
        Err(reason) => deny(reason),
    }
}

/// Decides `request` as [`decide`] does, with `creator` (a member id of the request's org)
/// counted as the resource's creator for `owned` role entries, as a creator record would be:
/// a decision API's caller may know who created a resource the gateway never saw created.
pub fn decide_with_creator(snapshot: &Snapshot, request: &Request<'_>, creator: Option<&str>) -> Decision {
    match resolve(snapshot, request) {
        Ok((org, member, mut target)) => {
            target.creator = creator.and_then(|c| org.member_index(c));
            decide_resolved(org, member, &target, request)
        }
        Err(reason) => deny(reason),
    }
}

#[inline(always)]
fn decide_resolved(org: &OrgSnapshot, member: u32, target: &Target<'_>, request: &Request<'_>) -> Decision {
    let target = *target;
    if member == org.model.owner {
        return allow(Reason::Owner);
    }
    let base = base_access(org, member, target.project, request.at);
    if role_verbs(org, base.profile, &target, member).contains(request.verb) {
        return allow(Reason::Role(base.scope));
    }
    if role_verbs(org, base.all_in_project, &target, member).contains(request.verb) {
        return allow(Reason::Role(Scope::Project));
    }
    if base.expiring {
        let (org_scope, project_scope) = expiring_verbs(org, member, &target, request.at, base.scope);
        if org_scope.contains(request.verb) {
            return allow(Reason::Role(Scope::Organisation));
        }
        if project_scope.contains(request.verb) {
            return allow(Reason::Role(Scope::Project));
        }
    }
    if share_verbs(org, member, &target, request.at).contains(request.verb) {
        return allow(Reason::Share);
    }
    deny(Reason::NoGrant)
}

/// Every verb [`decide`] allows `member` on the target at `at`: the union of what each of
/// its steps gives. `decide` asks the same one verb at a time and stops at the first grant;
/// a review asks for all of them at once (a property test holds the two together).
pub(crate) fn effective_verbs(org: &OrgSnapshot, member: u32, t: &Target<'_>, at: i64) -> VerbSet {
    if member == org.model.owner {
        return VerbSet::ALL;
    }
    let base = base_access(org, member, t.project, at);
    let mut verbs = role_verbs(org, base.profile, t, member).union(role_verbs(org, base.all_in_project, t, member));
    if base.expiring {
        let (org_scope, project_scope) = expiring_verbs(org, member, t, at, base.scope);
        verbs = verbs.union(org_scope).union(project_scope);
    }
    verbs.union(share_verbs(org, member, t, at))
}

/// MODEL.md steps 1 and 2: the org and the member in it, and the resource checked and
/// turned into the snapshot's indexes; or the reason to deny.
pub(crate) fn resolve<'s, 'r>(
    snapshot: &'s Snapshot,
    request: &Request<'r>,
) -> Result<(&'s OrgSnapshot, u32, Target<'r>), Reason> {
    let org = snapshot.org(request.org).ok_or(Reason::UnknownOrg)?;
    let member = member_of(org, request.org, request.principal).ok_or(Reason::NotAMember)?;
    let target = target(snapshot, org, request.kind, request.project, request.id).map_err(Reason::UnknownResource)?;
    Ok((org, member, target))
}

/// MODEL.md step 2: the resource `kind` (in `project`, if given; `id`, or the collection)
/// checked against `org` and turned into the snapshot's indexes.
pub(crate) fn target<'r>(
    snapshot: &Snapshot,
    org: &OrgSnapshot,
    kind: &str,
    project: Option<&str>,
    id: Option<&'r str>,
) -> Result<Target<'r>, ResourceProblem> {
    let kinds = &snapshot.globals().kinds;
    let (kind, info) = kinds.get(kind).and_then(|k| Some((k, kinds.info(k)?))).ok_or(ResourceProblem::UnknownKind)?;
    let (level, project) = match project {
        None => (Level::Organisation, None),
        Some(p) => (Level::Project, Some(org.project_index(p).ok_or(ResourceProblem::UnknownProject)?)),
    };
    if !info.exists_at(level) {
        return Err(ResourceProblem::KindNotAtLevel);
    }
    let id = match id {
        None => None,
        Some(raw) => Some(normalise_id(raw, info.hierarchical).map_err(ResourceProblem::MalformedId)?),
    };
    Ok(Target { kind, level, project, id, hierarchical: info.hierarchical, creator: None })
}

/// MODEL.md step 1: the caller's index among `org`'s members, if it is one. A user matches
/// only a member listed as a user, a service account only a service account of this org
/// (`org_id`): equal names of different kinds, or of other orgs, are different callers.
pub(crate) fn member_of(org: &OrgSnapshot, org_id: &str, caller: Caller<'_>) -> Option<u32> {
    let id = caller.member_id_in(org_id)?;
    let member = org.member_index(id)?;
    let service_account = org.model.members.get(member as usize)?.service_account;
    (service_account == caller.is_service_account()).then_some(member)
}

/// A checked resource, in the snapshot's indexes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target<'a> {
    pub kind: KindId,
    pub level: Level,
    pub project: Option<u32>,
    /// Normal form; `None` for the collection.
    pub id: Option<&'a str>,
    pub hierarchical: bool,
    /// A creator the asker states for the resource (AuthZEN's `owner` property), counted
    /// beside the recorded ones; `None` from the gateway, which knows only records.
    pub creator: Option<u32>,
}

/// The profiles whose roles count for a resource (MODEL.md step 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BaseAccess {
    /// The member's own: its project profile where it or a team of it has a project
    /// binding (replacing the org one), none in a restricted project without one, else the
    /// org profile.
    pub profile: u32,
    /// Where `profile` was bound.
    pub scope: Scope,
    /// `all`'s bindings in the resource's project, added to `profile` and never replacing it.
    pub all_in_project: u32,
    /// Whether bindings that expire reach the member (see [`expiring_verbs`]).
    pub expiring: bool,
}

/// MODEL.md step 5: which bindings count for this resource. In a project where the member
/// (directly or by team) has a project binding, those replace the org ones; a restricted
/// project without one gives nothing of the member's own; otherwise the org bindings.
/// `all`'s bindings in the project add to each of these. A binding counts only until it
/// expires (`at`).
pub(crate) fn base_access(org: &OrgSnapshot, member: u32, project: Option<u32>, at: i64) -> BaseAccess {
    let (org_profile, expiring) =
        org.member_info.get(member as usize).map_or((NO_PROFILE, false), |m| (m.profile, m.expiring));
    let Some(p) = project else {
        return BaseAccess { profile: org_profile, scope: Scope::Organisation, all_in_project: NO_PROFILE, expiring };
    };
    let all_in_project = org.all_project_profiles.get(p as usize).copied().unwrap_or(NO_PROFILE);
    let (profile, scope) = if let Some(&profile) = org.project_profiles.get(&crate::policy::pair(member, p)) {
        (profile, Scope::Project)
    } else if expiring && own_expiring_in(org, member, p, at) {
        // Its own project binding, live until it expires, replaces the org ones here; its
        // verbs come from `expiring_verbs`.
        (NO_PROFILE, Scope::Project)
    } else if org.restricted.get(p as usize).copied().unwrap_or(true) {
        (NO_PROFILE, Scope::Project)
    } else {
        (org_profile, Scope::Organisation)
    };
    BaseAccess { profile, scope, all_in_project, expiring }
}

/// Whether `subject` is `member` or a team of it (not `all`).
fn reaches(subject: Subject, member: u32, teams: &[u32]) -> bool {
    match subject {
        Subject::Member(m) => m == member,
        Subject::Team(t) => teams.contains(&t),
        Subject::All => false,
    }
}

fn teams_of_member(org: &OrgSnapshot, member: u32) -> &[u32] {
    org.member_info.get(member as usize).map_or(&[], |info| org.teams_of(info))
}

/// Whether a live expiring binding of the member's own (or a team's) is in project `p`.
fn own_expiring_in(org: &OrgSnapshot, member: u32, p: u32, at: i64) -> bool {
    let teams = teams_of_member(org, member);
    org.expiring.iter().any(|g| g.scope == p && at < g.expires && reaches(g.subject, member, teams))
}

/// The verbs live expiring bindings give the member on the target: (organisation scope,
/// project scope). Organisation-scope ones count where the org bindings do (`base_scope`);
/// project-scope ones in their project.
pub(crate) fn expiring_verbs(
    org: &OrgSnapshot,
    member: u32,
    t: &Target<'_>,
    at: i64,
    base_scope: Scope,
) -> (VerbSet, VerbSet) {
    let teams = teams_of_member(org, member);
    let (mut org_scope, mut project_scope) = (VerbSet::EMPTY, VerbSet::EMPTY);
    for g in org.expiring.iter() {
        if at >= g.expires || !(g.subject == Subject::All || reaches(g.subject, member, teams)) {
            continue;
        }
        if g.scope == ORG_SCOPE {
            if base_scope == Scope::Organisation {
                org_scope = org_scope.union(role_verbs(org, g.profile, t, member));
            }
        } else if Some(g.scope) == t.project {
            project_scope = project_scope.union(role_verbs(org, g.profile, t, member));
        }
    }
    (org_scope, project_scope)
}

/// The verbs a profile grants `member` on the target: the kind-wide entries, plus entries
/// narrowed to this id (or an ancestor of it), plus `owned` entries if `member` is the
/// resource's recorded creator. A collection counts kind-wide entries only.
pub(crate) fn role_verbs(org: &OrgSnapshot, profile: u32, t: &Target<'_>, member: u32) -> VerbSet {
    let at = slot(t.kind, t.level);
    let bits = org.profile_slot(profile, at);
    let mut verbs = VerbSet::from_bits(bits);
    let Some(id) = t.id else { return verbs };
    if bits & HAS_NARROWED != 0 {
        let narrowed = org.narrowed.covering(profile, t.level.index() as u32, t.kind, id, t.hierarchical);
        verbs = verbs.union(narrowed);
    }
    if bits & HAS_OWNED != 0
        && (t.creator == Some(member) || org.created_by(t.project.unwrap_or(ORG_SCOPE), t.kind, id, member))
    {
        verbs = verbs.union(org.owned_verbs(profile, t.kind, t.level));
    }
    verbs
}

/// The verbs shares live at `at` give the member on the target: shares to it, to one of its
/// teams or to `all`, on the id or (hierarchical kinds) an ancestor of it; `*` shares cover
/// every id and the collection.
pub(crate) fn share_verbs(org: &OrgSnapshot, member: u32, t: &Target<'_>, at: i64) -> VerbSet {
    let scope = t.project.unwrap_or(ORG_SCOPE);
    let Some(info) = org.member_info.get(member as usize) else {
        return VerbSet::EMPTY;
    };
    let teams = org.teams_of(info);
    let mut verbs = org.shares.wildcard_verbs(scope, t.kind, member, teams, at);
    if let Some(id) = t.id {
        verbs = verbs.union(org.shares.verbs(scope, t.kind, id, t.hierarchical, member, teams, at));
    }
    verbs
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    const TWO_ORGS: &str = r#"
[[kind]]
name = "secrets"
levels = ["organisation"]

[[org]]
id = "alpha"
owner = "anna"
members = ["anna", "ben"]
service_accounts = ["deploy"]

[[org.binding]]
subject = "deploy"
role = "admin"

[[org]]
id = "beta"
owner = "bert"
members = ["bert"]
service_accounts = ["anna", "ben", "deploy"]

[[org.binding]]
subject = "all"
role = "admin"
"#;

    fn allowed(principal: Caller<'_>, org: &str) -> Decision {
        let snapshot = crate::policy::compile_text("two.toml", TWO_ORGS).unwrap();
        decide(
            &snapshot,
            &Request { org, principal, project: None, kind: "secrets", id: Some("s"), verb: Verb::Delete, at: 0 },
        )
    }

    #[test]
    fn a_service_account_is_nobody_outside_its_org_whatever_its_name() {
        for name in ["anna", "ben", "deploy"] {
            let sa = Caller::ServiceAccount { org: "beta", name };
            assert!(allowed(sa, "beta").allowed, "{name} is an admin of beta");
            assert_eq!(allowed(sa, "alpha").reason, Reason::NotAMember, "sa:beta/{name} in alpha");
        }
        assert!(allowed(Caller::ServiceAccount { org: "alpha", name: "deploy" }, "alpha").allowed);
    }

    #[test]
    fn users_and_service_accounts_never_stand_for_each_other() {
        // A user named like a service account is not that account, and the reverse.
        assert_eq!(allowed(Caller::User("deploy"), "alpha").reason, Reason::NotAMember);
        assert_eq!(allowed(Caller::ServiceAccount { org: "alpha", name: "anna" }, "alpha").reason, Reason::NotAMember);
        assert_eq!(allowed(Caller::User("anna"), "alpha").reason, Reason::Owner);
        assert_eq!(allowed(Caller::User("anna"), "beta").reason, Reason::NotAMember);
    }
}
