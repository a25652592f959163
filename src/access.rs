//! Access review: who can do what on one resource, and every reason why.
//!
//! `explain` answers for one principal and names the grant that decided; a reviewer asks the
//! other way round ("who can delete c-1?") and wants every grant that contributes, so that
//! removing one is not mistaken for removing access. The verbs of each principal come from
//! [`decide`] itself, one call per verb, so the review can never disagree with enforcement;
//! the reasons are found by walking the org's bindings and shares once, and between them
//! they account for exactly those verbs (a property test holds them to it).

use crate::Request;
use crate::decide::{ResourceProblem, Scope, Target, base_access, decide, target};
use crate::explain::id_matches;
use crate::model::{Verb, VerbSet};
use crate::policy::{Member, OrgModel, Subject};
use crate::principal::Caller;
use crate::snapshot::{ORG_SCOPE, OrgSnapshot, Snapshot};

/// The resource reviewed: `kind` in `project` (or at organisation level), one `id` or the
/// collection.
#[derive(Clone, Copy, Debug)]
pub struct Resource<'a> {
    pub kind: &'a str,
    pub project: Option<&'a str>,
    pub id: Option<&'a str>,
}

/// One member or service account with some access, and why.
#[derive(Clone, Debug)]
pub struct Holder<'s> {
    pub member: &'s Member,
    /// What `decide` allows it (closed under implication).
    pub verbs: VerbSet,
    /// Every grant that contributes, and org bindings a project role replaces here.
    pub reasons: Vec<Why<'s>>,
}

/// How a grant's subject stands for the member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via<'s> {
    Direct,
    Team(&'s str),
    All,
}

/// Why an organisation binding counts for nothing on this resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ignored {
    /// The member's own (or a team's) project binding replaces its org bindings here.
    ReplacedByProjectRole,
    /// The project is restricted and the member has no project binding of its own in it.
    Restricted,
}

/// One reason a member has access.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why<'s> {
    /// It owns the org: every verb.
    Owner,
    /// A role through a binding.
    Role {
        role: &'s str,
        subject: Subject,
        via: Via<'s>,
        /// The binding's project; `None` for organisation scope.
        project: Option<&'s str>,
        /// What this binding gives on the resource.
        verbs: VerbSet,
        expires_at: Option<i64>,
        /// Some of `verbs` come from an `owned` entry (the member created the resource).
        owned: bool,
        /// Set when the binding counts for nothing here; its `verbs` are what it would give.
        ignored: Option<Ignored>,
    },
    /// A share on the resource, `*` of its kind, or (hierarchical kinds) an ancestor.
    Share {
        subject: Subject,
        via: Via<'s>,
        id: &'s str,
        verbs: VerbSet,
        granted_by: Option<&'s str>,
        expires_at: Option<i64>,
    },
    /// It is the resource's recorded creator (what `owned` role entries act on).
    Creator,
}

impl Why<'_> {
    /// The verbs it gives, or would give if it were not ignored.
    pub fn verbs(&self) -> VerbSet {
        match self {
            Why::Owner => VerbSet::ALL,
            Why::Role { verbs, .. } | Why::Share { verbs, .. } => *verbs,
            Why::Creator => VerbSet::EMPTY,
        }
    }

    /// The verbs this reason contributes to the member's access (none if ignored).
    pub fn counted(&self) -> VerbSet {
        match self {
            Why::Owner => VerbSet::ALL,
            Why::Role { verbs, ignored: None, .. } | Why::Share { verbs, .. } => *verbs,
            Why::Role { .. } | Why::Creator => VerbSet::EMPTY,
        }
    }
}

/// Why a review could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReviewError {
    UnknownOrg,
    UnknownResource(ResourceProblem),
}

/// Every member of `org` with some access to `resource` at instant `at` (or, with `verb`,
/// that access), in member order, each with its reasons.
pub fn review<'s>(
    snapshot: &'s Snapshot,
    org_id: &str,
    resource: &Resource<'_>,
    verb: Option<Verb>,
    at: i64,
) -> Result<Vec<Holder<'s>>, ReviewError> {
    let org = snapshot.org(org_id).ok_or(ReviewError::UnknownOrg)?;
    let t =
        target(snapshot, org, resource.kind, resource.project, resource.id).map_err(ReviewError::UnknownResource)?;
    let model = &org.model;
    let grants = Grants::of(snapshot, org, &t, at);
    let mut out = Vec::new();
    for (index, member) in model.members.iter().enumerate() {
        let m = index as u32;
        let caller = if member.service_account {
            Caller::ServiceAccount { org: org_id, name: &member.id }
        } else {
            Caller::User(&member.id)
        };
        let request = |verb| Request {
            org: org_id,
            principal: caller,
            project: resource.project,
            kind: resource.kind,
            id: resource.id,
            verb,
            at,
        };
        let verbs = Verb::ALL
            .into_iter()
            .filter(|&v| decide(snapshot, &request(v)).allowed)
            .fold(VerbSet::EMPTY, |s, v| s.union(VerbSet::of(v)));
        let wanted = |v: VerbSet| verb.is_none_or(|w| v.contains(w)) && !v.is_empty();
        if !wanted(verbs) {
            continue;
        }
        let mut reasons = grants.reasons(org, m, &t, at);
        reasons.retain(|r| matches!(r, Why::Creator) || verb.is_none_or(|w| r.verbs().contains(w)));
        out.push(Holder { member, verbs, reasons });
    }
    Ok(out)
}

/// The bindings and shares that bear on one resource, found once for all members.
struct Grants<'s> {
    /// (binding index, role name, verbs from kind-wide and narrowed entries, verbs from `owned` entries)
    bindings: Vec<(usize, &'s str, VerbSet, VerbSet)>,
    /// Indexes of live shares that cover the resource.
    shares: Vec<usize>,
}

impl<'s> Grants<'s> {
    fn of(snapshot: &'s Snapshot, org: &'s OrgSnapshot, t: &Target<'_>, at: i64) -> Grants<'s> {
        let model = &org.model;
        let mut bindings = Vec::new();
        for (i, b) in model.bindings.iter().enumerate() {
            let in_scope = b.project.is_none() || (b.project.is_some() && b.project == t.project);
            if !in_scope || !b.live_at(at) {
                continue;
            }
            let Some(role) = model.role(snapshot.globals(), b.role) else { continue };
            let (mut plain, mut owned) = (VerbSet::EMPTY, VerbSet::EMPTY);
            for e in role.entries.iter().filter(|e| e.level == t.level && e.kind == t.kind) {
                if e.owned {
                    if t.id.is_some() {
                        owned = owned.union(e.verbs);
                    }
                } else if id_matches(e.id.as_deref(), t.id, t.hierarchical) {
                    plain = plain.union(e.verbs);
                }
            }
            if !(plain.is_empty() && owned.is_empty()) {
                bindings.push((i, &*role.name, plain, owned));
            }
        }
        let shares = model
            .shares
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                s.kind == t.kind
                    && s.project == t.project
                    && s.live_at(at)
                    && id_matches(Some(&s.id), t.id, t.hierarchical)
            })
            .map(|(i, _)| i)
            .collect();
        Grants { bindings, shares }
    }

    fn reasons(&self, org: &'s OrgSnapshot, m: u32, t: &Target<'_>, at: i64) -> Vec<Why<'s>> {
        let model = &org.model;
        let mut out = Vec::new();
        if m == model.owner {
            out.push(Why::Owner);
        }
        let creator = t.id.is_some_and(|id| org.created_by(t.project.unwrap_or(ORG_SCOPE), t.kind, id, m));
        if creator {
            out.push(Why::Creator);
        }
        let base = base_access(org, m, t.project, at);
        for &(i, role, plain, owned) in &self.bindings {
            let Some(b) = model.bindings.get(i) else { continue };
            let Some(via) = via(model, m, b.subject) else { continue };
            let verbs = if creator { plain.union(owned.without_create()) } else { plain };
            if verbs.is_empty() {
                continue;
            }
            // Org bindings count where the member's base access is the org profile; `all`'s
            // project bindings always add; the member's own project bindings are its base.
            let ignored = match (b.project, base.scope) {
                (None, Scope::Project) if own_project_binding(model, m, t.project, at) => {
                    Some(Ignored::ReplacedByProjectRole)
                }
                (None, Scope::Project) => Some(Ignored::Restricted),
                _ => None,
            };
            out.push(Why::Role {
                role,
                subject: b.subject,
                via,
                project: b.project.and_then(|p| model.projects.get(p as usize)).map(|p| &*p.id),
                verbs,
                expires_at: b.expires_at.get(),
                owned: creator && !owned.is_empty(),
                ignored,
            });
        }
        for &i in &self.shares {
            let Some(s) = model.shares.get(i) else { continue };
            let Some(via) = via(model, m, s.subject) else { continue };
            out.push(Why::Share {
                subject: s.subject,
                via,
                id: &s.id,
                verbs: s.verbs,
                granted_by: s.granted_by.and_then(|g| model.members.get(g as usize)).map(|g| &*g.id),
                expires_at: s.expires_at.get(),
            });
        }
        out
    }
}

/// Whether a live binding of the member's own or a team's is in `project`.
fn own_project_binding(model: &OrgModel, m: u32, project: Option<u32>, at: i64) -> bool {
    model.bindings.iter().any(|b| {
        b.project.is_some()
            && b.project == project
            && b.live_at(at)
            && !matches!(b.subject, Subject::All)
            && via(model, m, b.subject).is_some()
    })
}

/// How `s` stands for member `m`, if it does.
fn via(model: &OrgModel, m: u32, s: Subject) -> Option<Via<'_>> {
    match s {
        Subject::Member(x) => (x == m).then_some(Via::Direct),
        Subject::Team(t) => model.teams.get(t as usize).filter(|t| t.members.contains(&m)).map(|t| Via::Team(&t.name)),
        Subject::All => Some(Via::All),
    }
}
