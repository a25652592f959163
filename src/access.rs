//! Access review: who can do what on one resource, and every reason why.
//!
//! `explain` answers for one principal and names the grant that decided; a reviewer asks the
//! other way round ("who can delete c-1?") and wants every grant that contributes, so that
//! removing one is not mistaken for removing access. The verbs of each principal come from
//! the steps `decide` takes (all verbs at once), so the review agrees with enforcement; the
//! bindings and shares that bear on the resource are found once and indexed by subject, so
//! each member's reasons cost what it holds, not what the org holds. Between them the
//! reasons account for exactly those verbs (a property test holds both to `decide`).

pub mod reach;

use hashbrown::{HashMap, HashSet};

use crate::decide::{ResourceProblem, Target, effective_verbs, target};
use crate::explain::id_matches;
use crate::model::{Verb, VerbSet};
use crate::policy::{Member, OrgModel, Subject};
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
    let grants = Grants::of(snapshot, org, &t, at);
    let mut out = Vec::new();
    for (index, member) in org.model.members.iter().enumerate() {
        let m = index as u32;
        let verbs = effective_verbs(org, m, &t, at);
        if verbs.is_empty() || verb.is_some_and(|w| !verbs.contains(w)) {
            continue;
        }
        let mut reasons = grants.reasons(org, m, &t);
        reasons.retain(|r| matches!(r, Why::Creator) || verb.is_none_or(|w| r.verbs().contains(w)));
        out.push(Holder { member, verbs, reasons });
    }
    Ok(out)
}

/// Grants of one kind, by the subject they are given to, so that each member finds its own
/// without walking everyone's.
struct BySubject<T> {
    members: HashMap<u32, Vec<T>>,
    teams: HashMap<u32, Vec<T>>,
    all: Vec<T>,
}

impl<T: Copy> BySubject<T> {
    fn new() -> BySubject<T> {
        BySubject { members: HashMap::new(), teams: HashMap::new(), all: Vec::new() }
    }

    fn push(&mut self, subject: Subject, item: T) {
        match subject {
            Subject::Member(m) => self.members.entry(m).or_default().push(item),
            Subject::Team(t) => self.teams.entry(t).or_default().push(item),
            Subject::All => self.all.push(item),
        }
    }

    /// What reaches the member in `teams`: its own, its teams', then `all`'s, with how.
    fn reaching<'s>(&self, model: &'s OrgModel, m: u32, teams: &[u32], mut f: impl FnMut(Via<'s>, T)) {
        for &x in self.members.get(&m).into_iter().flatten() {
            f(Via::Direct, x);
        }
        for &team in teams {
            let Some(name) = model.teams.get(team as usize).map(|t| &*t.name) else { continue };
            for &x in self.teams.get(&team).into_iter().flatten() {
                f(Via::Team(name), x);
            }
        }
        for &x in &self.all {
            f(Via::All, x);
        }
    }
}

/// A binding that bears on the resource: its index, role name, the verbs of its kind-wide
/// and narrowed entries, and those of its `owned` entries.
type Bearing<'s> = (usize, &'s str, VerbSet, VerbSet);

/// The bindings and shares that bear on one resource, found once for all members.
struct Grants<'s> {
    bindings: BySubject<Bearing<'s>>,
    /// Indexes of live shares that cover the resource.
    shares: BySubject<usize>,
    /// Members and teams with a live binding of their own in the resource's project.
    project_bound: (HashSet<u32>, HashSet<u32>),
}

impl<'s> Grants<'s> {
    fn of(snapshot: &'s Snapshot, org: &'s OrgSnapshot, t: &Target<'_>, at: i64) -> Grants<'s> {
        let model = &org.model;
        let mut bindings = BySubject::new();
        let mut project_bound = (HashSet::new(), HashSet::new());
        for (i, b) in model.bindings.iter().enumerate() {
            let in_scope = b.project.is_none() || (b.project.is_some() && b.project == t.project);
            if !in_scope || !b.live_at(at) {
                continue;
            }
            if b.project.is_some() {
                match b.subject {
                    Subject::Member(m) => project_bound.0.insert(m),
                    Subject::Team(team) => project_bound.1.insert(team),
                    Subject::All => false,
                };
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
                bindings.push(b.subject, (i, &*role.name, plain, owned));
            }
        }
        let mut shares = BySubject::new();
        for (i, s) in model.shares.iter().enumerate() {
            if s.kind == t.kind
                && s.project == t.project
                && s.live_at(at)
                && id_matches(Some(&s.id), t.id, t.hierarchical)
            {
                shares.push(s.subject, i);
            }
        }
        Grants { bindings, shares, project_bound }
    }

    fn reasons(&self, org: &'s OrgSnapshot, m: u32, t: &Target<'_>) -> Vec<Why<'s>> {
        let model = &org.model;
        let teams = org.member_info.get(m as usize).map_or(&[][..], |info| org.teams_of(info));
        let mut out = Vec::new();
        if m == model.owner {
            out.push(Why::Owner);
        }
        let creator = t.id.is_some_and(|id| org.created_by(t.project.unwrap_or(ORG_SCOPE), t.kind, id, m));
        if creator {
            out.push(Why::Creator);
        }
        // Org bindings count where the member's base access is the org profile; `all`'s
        // project bindings always add; the member's own project bindings are its base.
        let own_in_project = t.project.is_some()
            && (self.project_bound.0.contains(&m) || teams.iter().any(|team| self.project_bound.1.contains(team)));
        let restricted = t.project.is_some_and(|p| org.restricted.get(p as usize).copied().unwrap_or(true));
        let replaced = match (own_in_project, restricted) {
            (true, _) => Some(Ignored::ReplacedByProjectRole),
            (false, true) => Some(Ignored::Restricted),
            (false, false) => None,
        };
        self.bindings.reaching(model, m, teams, |via, (i, role, plain, owned)| {
            let Some(b) = model.bindings.get(i) else { return };
            let verbs = if creator { plain.union(owned.without_create()) } else { plain };
            if verbs.is_empty() {
                return;
            }
            out.push(Why::Role {
                role,
                subject: b.subject,
                via,
                project: b.project.and_then(|p| model.projects.get(p as usize)).map(|p| &*p.id),
                verbs,
                expires_at: b.expires_at.get(),
                owned: creator && !owned.is_empty(),
                ignored: if b.project.is_none() { replaced } else { None },
            });
        });
        self.shares.reaching(model, m, teams, |via, i| {
            let Some(s) = model.shares.get(i) else { return };
            out.push(Why::Share {
                subject: s.subject,
                via,
                id: &s.id,
                verbs: s.verbs,
                granted_by: s.granted_by.and_then(|g| model.members.get(g as usize)).map(|g| &*g.id),
                expires_at: s.expires_at.get(),
            });
        });
        out
    }
}
