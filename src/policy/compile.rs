//! Validated policy to [`Snapshot`]: all the costly work (role closures, team folding,
//! interning, indexes) happens here, once per change, so that `decide` only looks up.

use std::collections::HashMap as StdHashMap;
use std::sync::Arc;

use hashbrown::HashMap;

use super::validate::{Globals, OrgModel, RoleRef, Subject, Validated};
use crate::snapshot::{
    ALL_HOLDER, GrantIndex, HAS_NARROWED, NO_PROFILE, ORG_SCOPE, OrgSnapshot, Profile, Snapshot, slot,
};

/// Compiles a validated policy set. The snapshot's revision is 0 until a
/// [`SnapshotHandle`](crate::swap::SnapshotHandle) publishes it.
pub fn compile(validated: Validated) -> Snapshot {
    let globals = Arc::new(validated.globals);
    let orgs = validated
        .orgs
        .into_iter()
        .map(|model| {
            let org = compile_org(&globals, model);
            (Arc::from(&*org.model.id), Arc::new(org))
        })
        .collect();
    Snapshot { revision: 0, globals, orgs }
}

/// Compiles one org against the kinds and global roles it was validated with.
pub fn compile_org(globals: &Globals, model: OrgModel) -> OrgSnapshot {
    let n_members = model.members.len();
    let members: HashMap<Box<str>, u32> =
        model.members.iter().enumerate().map(|(i, m)| (m.id.clone(), i as u32)).collect();
    let projects: HashMap<Box<str>, u32> =
        model.projects.iter().enumerate().map(|(i, p)| (p.id.clone(), i as u32)).collect();
    let restricted = model.projects.iter().map(|p| p.restricted).collect();

    // Who each subject stands for.
    let mut teams_of: Vec<Vec<u32>> = vec![Vec::new(); n_members];
    for (t, team) in model.teams.iter().enumerate() {
        for &m in &team.members {
            if let Some(list) = teams_of.get_mut(m as usize) {
                list.push(t as u32);
            }
        }
    }
    let expand = |s: Subject| -> Vec<u32> {
        match s {
            Subject::Member(m) => vec![m],
            Subject::Team(t) => model.teams.get(t as usize).map_or_else(Vec::new, |t| t.members.clone()),
            Subject::All => (0..n_members as u32).collect(),
        }
    };

    // Roles per member at organisation scope, and per (member, project).
    let mut org_roles: Vec<Vec<RoleRef>> = vec![Vec::new(); n_members];
    let mut project_roles: StdHashMap<u64, Vec<RoleRef>> = StdHashMap::new();
    for b in &model.bindings {
        for m in expand(b.subject) {
            match b.project {
                None => {
                    if let Some(list) = org_roles.get_mut(m as usize) {
                        list.push(b.role);
                    }
                }
                Some(p) => project_roles.entry(pair(m, p)).or_default().push(b.role),
            }
        }
    }

    let mut builder = ProfileBuilder { globals, model: &model, interned: StdHashMap::new(), profiles: Vec::new(), narrowed: GrantIndex::default() };
    let org_profile = org_roles.into_iter().map(|roles| builder.intern(roles)).collect();
    let project_profiles = project_roles.into_iter().map(|(key, roles)| (key, builder.intern(roles))).collect();
    let ProfileBuilder { profiles, mut narrowed, .. } = builder;
    narrowed.shrink();

    let mut shares = GrantIndex::default();
    let mut member_has_shares = vec![false; n_members];
    let mut all_has_shares = false;
    let mut has_wildcard_shares = false;
    for s in &model.shares {
        let scope = s.project.unwrap_or(ORG_SCOPE);
        let holders = match s.subject {
            Subject::All => {
                all_has_shares = true;
                vec![ALL_HOLDER]
            }
            other => expand(other),
        };
        for h in holders {
            if let Some(flag) = member_has_shares.get_mut(h as usize) {
                *flag = true;
            }
            shares.add(h, scope, s.kind, &s.id, s.verbs);
        }
        has_wildcard_shares |= &*s.id == "*";
    }
    shares.shrink();

    OrgSnapshot {
        members,
        projects,
        restricted,
        org_profile,
        project_profiles,
        profiles,
        narrowed,
        shares,
        member_has_shares: member_has_shares.into(),
        all_has_shares,
        has_wildcard_shares,
        model,
    }
}

pub(crate) fn pair(member: u32, project: u32) -> u64 {
    (u64::from(member) << 32) | u64::from(project)
}

struct ProfileBuilder<'a> {
    globals: &'a Globals,
    model: &'a OrgModel,
    interned: StdHashMap<Vec<RoleRef>, u32>,
    profiles: Vec<Profile>,
    narrowed: GrantIndex,
}

impl ProfileBuilder<'_> {
    /// The profile for this set of roles, built once per distinct set.
    fn intern(&mut self, mut roles: Vec<RoleRef>) -> u32 {
        if roles.is_empty() {
            return NO_PROFILE;
        }
        roles.sort_unstable();
        roles.dedup();
        if let Some(&p) = self.interned.get(&roles) {
            return p;
        }
        let id = self.profiles.len() as u32;
        let mut slots = vec![0u8; self.globals.kinds.len() * 2];
        for &r in &roles {
            let Some(role) = self.model.role(self.globals, r) else { continue };
            for e in &role.entries {
                let Some(s) = slots.get_mut(slot(e.kind, e.level)) else { continue };
                match &e.id {
                    None => *s |= e.verbs.bits(),
                    Some(entry_id) => {
                        *s |= HAS_NARROWED;
                        self.narrowed.add(id, e.level.index() as u32, e.kind, entry_id, e.verbs);
                    }
                }
            }
        }
        self.profiles.push(Profile { slots: slots.into() });
        self.interned.insert(roles, id);
        id
    }
}
