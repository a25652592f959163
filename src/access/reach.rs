//! What one principal can reach: the other way round from a review ("what can dave read?").
//!
//! Listing every id a principal may touch is impossible when access is kind-wide (the ids
//! live upstream), so the answer comes in two parts: per level and project, the verbs it
//! holds on every resource of the kind; then the ids where it holds more, found from the only
//! grants that name ids (shares, creator records, role entries narrowed to an id), each
//! decided by the steps `decide` takes. Between them they say exactly what `decide` allows
//! on any id (a property test holds them to it).

use std::collections::BTreeMap;

use crate::decide::{Target, effective_verbs, member_of};
use crate::model::{Level, Verb, VerbSet};
use crate::policy::{KindId, Subject};
use crate::principal::Caller;
use crate::snapshot::{ORG_SCOPE, Snapshot};

/// Kind-wide access in one scope: every resource of the kind there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KindWide<'s> {
    /// `None`: organisation level.
    pub project: Option<&'s str>,
    pub verbs: VerbSet,
}

/// One id where the principal holds more than its scope's kind-wide verbs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReachedId<'s> {
    pub project: Option<&'s str>,
    /// Normal form.
    pub id: &'s str,
    /// What `decide` allows on it.
    pub verbs: VerbSet,
    /// Hierarchical kinds: what every id below it holds, unless listed itself (grants on an
    /// id cover its subtree; a creator record covers the id alone).
    pub below: Option<VerbSet>,
}

/// What a principal can reach of one kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reach<'s> {
    /// Every scope where the kind exists and the principal holds something kind-wide (with
    /// a verb asked: that verb), organisation level first, then projects in order.
    pub kind_wide: Vec<KindWide<'s>>,
    /// In (project, id) order.
    pub ids: Vec<ReachedId<'s>>,
}

/// Why a reach could not be worked out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReachError {
    UnknownOrg,
    NotAMember,
    UnknownKind,
}

/// What `principal` can do on `kind` in `org_id` at `at`: kind-wide access per scope, then
/// ids beyond it; with `verb`, only where it can do that.
pub fn reach<'s>(
    snapshot: &'s Snapshot,
    org_id: &str,
    principal: Caller<'_>,
    kind: &str,
    verb: Option<Verb>,
    at: i64,
) -> Result<Reach<'s>, ReachError> {
    let org = snapshot.org(org_id).ok_or(ReachError::UnknownOrg)?;
    let m = member_of(org, org_id, principal).ok_or(ReachError::NotAMember)?;
    let kinds = &snapshot.globals().kinds;
    let (kind, info) = kinds.get(kind).and_then(|k| Some((k, kinds.info(k)?))).ok_or(ReachError::UnknownKind)?;
    let model = &org.model;
    let wanted = |v: VerbSet| !v.is_empty() && verb.is_none_or(|w| v.contains(w));
    fn at_id<'a>(kind: KindId, hierarchical: bool, project: Option<u32>, id: Option<&'a str>) -> Target<'a> {
        let level = if project.is_some() { Level::Project } else { Level::Organisation };
        Target { kind, level, project, id, hierarchical, creator: None }
    }
    let target = |project, id| at_id(kind, info.hierarchical, project, id);

    // Kind-wide verbs per scope (the collection counts kind-wide grants only).
    let mut scopes: Vec<Option<u32>> = Vec::new();
    if info.exists_at(Level::Organisation) {
        scopes.push(None);
    }
    if info.exists_at(Level::Project) {
        scopes.extend((0..model.projects.len() as u32).map(Some));
    }
    let wide: BTreeMap<Option<u32>, VerbSet> =
        scopes.iter().map(|&p| (p, effective_verbs(org, m, &target(p, None), at))).collect();

    // Every id some grant reaching the member names, in its scope.
    let mut candidates: BTreeMap<(Option<u32>, &'s str), ()> = BTreeMap::new();
    let teams = org.member_info.get(m as usize).map_or(&[][..], |i| org.teams_of(i));
    let reaches = |s: Subject| match s {
        Subject::Member(x) => x == m,
        Subject::Team(t) => teams.contains(&t),
        Subject::All => true,
    };
    for s in model.shares.iter().filter(|s| s.kind == kind && &*s.id != "*" && s.live_at(at) && reaches(s.subject)) {
        candidates.insert((s.project, &s.id), ());
    }
    // (The model's own list of creator records is dropped once compiled into the index.)
    for (scope, _, id) in org.created_records(m).filter(|&(_, k, _)| k == kind) {
        candidates.insert(((scope != ORG_SCOPE).then_some(scope), id), ());
    }
    for b in model.bindings.iter().filter(|b| b.live_at(at) && reaches(b.subject)) {
        let Some(role) = model.role(snapshot.globals(), b.role) else { continue };
        for e in role.entries.iter().filter(|e| e.kind == kind && !e.owned) {
            let Some(id) = e.id.as_deref() else { continue };
            // An org-scope binding's project entries apply in every project.
            let projects: Vec<Option<u32>> = match (e.level, b.project) {
                (Level::Organisation, None) => vec![None],
                (Level::Organisation, Some(_)) => continue,
                (Level::Project, Some(p)) => vec![Some(p)],
                (Level::Project, None) => (0..model.projects.len() as u32).map(Some).collect(),
            };
            for p in projects {
                candidates.insert((p, id), ());
            }
        }
    }

    let project_name = |p: Option<u32>| p.and_then(|p| model.projects.get(p as usize)).map(|p| &*p.id);
    let kind_wide = wide
        .iter()
        .filter(|(_, v)| wanted(**v))
        .map(|(&p, &verbs)| KindWide { project: project_name(p), verbs })
        .collect();
    let mut ids = Vec::new();
    for (p, id) in candidates.into_keys() {
        let Some(&scope_verbs) = wide.get(&p) else { continue };
        let verbs = effective_verbs(org, m, &target(p, Some(id)), at);
        // An id below it that no grant names (ids never hold a NUL): what its subtree holds.
        let below = info.hierarchical.then(|| {
            let child = format!("{}/\u{0}", id.trim_end_matches('/'));
            effective_verbs(org, m, &at_id(kind, true, p, Some(&child)), at)
        });
        let beyond = match verb {
            Some(w) => verbs.contains(w) && !scope_verbs.contains(w),
            None => verbs != scope_verbs,
        };
        if beyond {
            ids.push(ReachedId { project: project_name(p), id, verbs, below });
        }
    }
    Ok(Reach { kind_wide, ids })
}

/// Whether `r`, as it states access, allows `verb` on `id` (normal form) in `project`: what a
/// client of the answer would conclude, and what `decide` must agree with.
pub fn covers(r: &Reach<'_>, project: Option<&str>, id: &str, verb: Verb) -> bool {
    r.kind_wide.iter().any(|k| k.project == project && k.verbs.contains(verb))
        || r.ids.iter().any(|x| {
            x.project == project
                && ((x.id == id && x.verbs.contains(verb))
                    || x.below.is_some_and(|b| b.contains(verb) && crate::model::path_covers(x.id, id)))
        })
}

/// Whether `r` (a reach asked for `read`) allows reading something in `project`: all of the
/// kind there, or some id. A caller for whom this is false sees no item of a collection.
pub fn reads_some(r: &Reach<'_>, project: Option<&str>) -> bool {
    r.kind_wide.iter().any(|k| k.project == project && k.verbs.contains(Verb::Read))
        || r.ids.iter().any(|x| {
            x.project == project && (x.verbs.contains(Verb::Read) || x.below.is_some_and(|b| b.contains(Verb::Read)))
        })
}
