//! Validated policy to [`Snapshot`]: all the costly work (role closures, team folding,
//! interning, indexes) happens here, once per change, so that `decide` only looks up.

use std::sync::Arc;

use hashbrown::HashMap;

use super::validate::{Globals, OrgModel, RoleRef, Subject, Validated};
use crate::model::VerbSet;
use crate::snapshot::{
    ExpiringBinding, GrantIndex, HAS_NARROWED, HAS_OWNED, MemberInfo, NO_PROFILE, ORG_SCOPE, OWNED_SCOPE, OrgSnapshot,
    ShareIndex, Snapshot, pack_holder, slot,
};
use crate::strmap::StrMap;

/// Compiles a validated policy set. The snapshot's revision is 0 until a
/// [`SnapshotHandle`](crate::swap::SnapshotHandle) publishes it.
pub fn compile(validated: Validated) -> Snapshot {
    let globals = Arc::new(validated.globals);
    let orgs = validated.orgs.into_iter().map(|model| Arc::new(compile_org(&globals, model))).collect();
    Snapshot::from_orgs(globals, orgs)
}

/// Compiles one org against the kinds and global roles it was validated with.
pub fn compile_org(globals: &Globals, mut model: OrgModel) -> OrgSnapshot {
    let n_members = model.members.len();
    let members: StrMap<u32> = model.members.iter().enumerate().map(|(i, m)| (&*m.id, i as u32)).collect();
    let projects: StrMap<u32> = model.projects.iter().enumerate().map(|(i, p)| (&*p.id, i as u32)).collect();
    let restricted = model.projects.iter().map(|p| p.restricted).collect();

    // Each member's teams, sorted, back to back.
    let team_offsets = group_offsets(n_members, model.teams.iter().flat_map(|t| t.members.iter().copied()));
    let mut member_teams = vec![0u32; team_offsets.last().copied().unwrap_or(0) as usize];
    let mut fill = team_offsets.clone();
    for (t, team) in model.teams.iter().enumerate() {
        for &m in &team.members {
            if let Some(at) = fill.get_mut(m as usize) {
                if let Some(slot) = member_teams.get_mut(*at as usize) {
                    *slot = t as u32;
                }
                *at += 1;
            }
        }
    }
    let teams_of = |m: usize| -> &[u32] { member_teams.get(group_range(&team_offsets, m)).unwrap_or(&[]) };

    // Bindings grouped by subject: (project or ORG_SCOPE, role). Members' bindings are
    // sorted by member into one array, so no member needs an allocation of its own.
    // Bindings that expire are kept apart: a profile cannot change with time.
    let mut by_member: Vec<(u32, u32, RoleRef)> = Vec::with_capacity(model.bindings.len());
    let mut by_team: Vec<Vec<(u32, RoleRef)>> = vec![Vec::new(); model.teams.len()];
    let mut by_all: Vec<(u32, RoleRef)> = Vec::new();
    for b in model.bindings.iter().filter(|b| b.expires_at.get().is_none()) {
        let scope = b.project.unwrap_or(ORG_SCOPE);
        match b.subject {
            Subject::Member(m) => by_member.push((m, scope, b.role)),
            Subject::Team(t) => {
                if let Some(list) = by_team.get_mut(t as usize) {
                    list.push((scope, b.role));
                }
            }
            Subject::All => by_all.push((scope, b.role)),
        }
    }
    // Stable, so each member's bindings keep their file order.
    by_member.sort_by_key(|e| e.0);
    let own_offsets = group_offsets(n_members, by_member.iter().map(|e| e.0));
    let own_bindings = |m: usize| {
        by_member.get(group_range(&own_offsets, m)).unwrap_or(&[]).iter().map(|&(_, scope, role)| (scope, role))
    };

    let mut builder = ProfileBuilder {
        globals,
        model: &model,
        interned: HashMap::new(),
        slots_per_profile: globals.kinds.len() * 2,
        profile_slots: Vec::new(),
        profiles: 0,
        narrowed: GrantIndex::default(),
    };
    let mut member_info = Vec::with_capacity(n_members);
    let project_bindings = model.bindings.iter().filter(|b| b.project.is_some()).count();
    let mut project_profiles: HashMap<u64, u32> = HashMap::with_capacity(project_bindings.min(n_members));
    let mut scratch: Vec<(u32, RoleRef)> = Vec::new();
    let mut roles: Vec<RoleRef> = Vec::new();
    // All Users' project bindings add to everyone's access in that project and never
    // replace anyone's own role (MODEL.md step 5), so they are one profile per project,
    // joined with the member's own at decision time.
    let mut all_project_profiles = vec![NO_PROFILE; model.projects.len()];
    let mut all_in_projects: Vec<(u32, RoleRef)> = by_all.iter().copied().filter(|b| b.0 != ORG_SCOPE).collect();
    all_in_projects.sort_unstable();
    for group in all_in_projects.chunk_by(|a, b| a.0 == b.0) {
        let Some(&(project, _)) = group.first() else { continue };
        roles.clear();
        roles.extend(group.iter().map(|(_, r)| *r));
        let p = builder.intern(&mut roles);
        if let Some(slot) = all_project_profiles.get_mut(project as usize) {
            *slot = p;
        }
    }
    for m in 0..n_members {
        // Every (scope, role) reaching this member: its own and its teams' at any scope,
        // all's at organisation scope. A project group here replaces the org one there.
        scratch.clear();
        scratch.extend(own_bindings(m));
        for &t in teams_of(m) {
            scratch.extend(by_team.get(t as usize).into_iter().flatten());
        }
        scratch.extend(by_all.iter().filter(|b| b.0 == ORG_SCOPE));
        // Sorted by scope, organisation scope (u32::MAX) last; one profile per scope.
        if scratch.len() > 1 {
            scratch.sort_unstable();
        }
        let mut profile = NO_PROFILE;
        for group in scratch.chunk_by(|a, b| a.0 == b.0) {
            let Some(&(scope, _)) = group.first() else { continue };
            roles.clear();
            roles.extend(group.iter().map(|(_, r)| *r));
            let p = builder.intern(&mut roles);
            if scope == ORG_SCOPE {
                profile = p;
            } else {
                project_profiles.insert(pair(m as u32, scope), p);
            }
        }
        let teams = group_range(&team_offsets, m);
        member_info.push(MemberInfo {
            profile,
            teams_start: teams.start as u32,
            teams_len: teams.len() as u32,
            expiring: false,
        });
    }

    // Each expiring binding is a profile of its one role; the members it reaches are marked,
    // so that everyone else's decision never looks at them.
    let mut expiring = Vec::new();
    for b in model.bindings.iter() {
        let Some(expires) = b.expires_at.get() else { continue };
        roles.clear();
        roles.push(b.role);
        let profile = builder.intern(&mut roles);
        expiring.push(ExpiringBinding { subject: b.subject, scope: b.project.unwrap_or(ORG_SCOPE), profile, expires });
        let mut mark = |m: u32| {
            if let Some(info) = member_info.get_mut(m as usize) {
                info.expiring = true;
            }
        };
        match b.subject {
            Subject::Member(m) => mark(m),
            Subject::Team(t) => model.teams.get(t as usize).into_iter().flat_map(|t| &t.members).for_each(|&m| mark(m)),
            Subject::All => (0..n_members as u32).for_each(mark),
        }
    }
    let ProfileBuilder { profile_slots, slots_per_profile, narrowed, .. } = builder;

    let shares = ShareIndex::build(model.shares.iter().map(|s| {
        (s.project.unwrap_or(ORG_SCOPE), s.kind, &*s.id, pack_holder(s.subject, s.verbs, s.expires_at.get()))
    }));
    let creators = ShareIndex::build(model.created.iter().map(|c| {
        (c.project.unwrap_or(ORG_SCOPE), c.kind, &*c.id, pack_holder(Subject::Member(c.member), VerbSet::ALL, None))
    }));
    // The index is all a decision needs, and a second copy would cost as much again.
    model.created = Vec::new();

    OrgSnapshot {
        members,
        member_info: member_info.into(),
        member_teams: member_teams.into(),
        projects,
        restricted,
        project_profiles,
        all_project_profiles: all_project_profiles.into(),
        profile_slots: profile_slots.into(),
        slots_per_profile,
        narrowed,
        shares,
        creators,
        expiring: expiring.into(),
        model,
    }
}

/// Where each of `n` groups starts once items are laid out group by group, given the group
/// of every item: group `g` is `offsets[g]..offsets[g + 1]` (see [`group_range`]).
fn group_offsets(n: usize, groups: impl Iterator<Item = u32>) -> Vec<u32> {
    let mut offsets = vec![0u32; n + 1];
    for g in groups {
        if let Some(count) = offsets.get_mut(g as usize + 1) {
            *count += 1;
        }
    }
    let mut total = 0;
    for o in &mut offsets {
        total += *o;
        *o = total;
    }
    offsets
}

fn group_range(offsets: &[u32], g: usize) -> std::ops::Range<usize> {
    let at = |i: usize| offsets.get(i).copied().unwrap_or(0) as usize;
    at(g)..at(g + 1)
}

pub(crate) fn pair(member: u32, project: u32) -> u64 {
    (u64::from(member) << 32) | u64::from(project)
}

struct ProfileBuilder<'a> {
    globals: &'a Globals,
    model: &'a OrgModel,
    interned: HashMap<Vec<RoleRef>, u32>,
    slots_per_profile: usize,
    profile_slots: Vec<u8>,
    profiles: u32,
    narrowed: GrantIndex,
}

impl ProfileBuilder<'_> {
    /// The profile for this set of roles, built once per distinct set. `roles` is a
    /// scratch buffer; it is sorted and deduplicated in place.
    fn intern(&mut self, roles: &mut Vec<RoleRef>) -> u32 {
        if roles.is_empty() {
            return NO_PROFILE;
        }
        roles.sort_unstable();
        roles.dedup();
        if let Some(&p) = self.interned.get(roles.as_slice()) {
            return p;
        }
        let id = self.profiles;
        self.profiles += 1;
        let mut slots = vec![0u8; self.slots_per_profile];
        for &r in roles.iter() {
            let Some(role) = self.model.role(self.globals, r) else { continue };
            for e in &role.entries {
                let Some(s) = slots.get_mut(slot(e.kind, e.level)) else { continue };
                match &e.id {
                    _ if e.owned => {
                        *s |= HAS_OWNED;
                        self.narrowed.add(id, OWNED_SCOPE + e.level.index() as u32, e.kind, "", e.verbs);
                    }
                    None => *s |= e.verbs.bits(),
                    Some(entry_id) => {
                        *s |= HAS_NARROWED;
                        self.narrowed.add(id, e.level.index() as u32, e.kind, entry_id, e.verbs);
                    }
                }
            }
        }
        self.profile_slots.extend_from_slice(&slots);
        self.interned.insert(roles.clone(), id);
        id
    }
}
