//! The compiled, immutable permission snapshot that every decision reads.
//!
//! A [`Snapshot`] is partitioned by organisation: each org is an [`OrgSnapshot`] behind its
//! own `Arc`, so replacing one org (an admin write, a changed file) builds only that org and
//! shares the rest with the previous snapshot. Inside an org, everything the decision needs
//! is an array index or one hash probe:
//!
//! - members and projects map their string ids to dense indexes; a member's entry holds
//!   its organisation-scope profile and its (sorted) teams;
//! - each member's roles at organisation scope, unioned over its own bindings, its teams'
//!   and `all`'s, are interned as a *profile*: one verb set per (kind, level), so a role
//!   check is one array read;
//! - project-scope bindings, folded the same way, map (member, project) to a profile;
//! - shares are indexed by resource first ([`ShareIndex`]): one probe for the requested id
//!   (and one per ancestor, for hierarchical kinds) yields the few subjects it was shared
//!   with, checked against the member, its teams and `all`; `*` shares sit in a small
//!   integer-keyed table per (scope, kind);
//! - role entries narrowed to an id live in a [`GrantIndex`] keyed by (profile, level,
//!   kind, id), consulted only for slots that have any.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use hashbrown::{DefaultHashBuilder, HashMap, HashTable};

use crate::model::VerbSet;
use crate::policy::{Globals, KindId, OrgModel};
use crate::strmap::{StrMap, bytes_eq};

/// One compiled policy set: the kinds and global roles, and every org.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// How many snapshots this replica had published when it published this one (whole
    /// reloads and org updates alike). Not an org's revision: that is `OrgModel::revision`,
    /// the number an admin write returns.
    pub(crate) generation: u64,
    pub(crate) globals: Arc<Globals>,
    /// Org id to its place in `orgs`. Shared between snapshots until the set of orgs
    /// changes, so replacing one org copies pointers, not keys.
    pub(crate) org_index: Arc<StrMap<u32>>,
    pub(crate) orgs: Vec<Arc<OrgSnapshot>>,
    /// The gateway's routes, published with the policies; `None` outside a gateway (and
    /// carried over from the snapshot replaced when a new one comes without).
    pub(crate) routes: Option<Arc<crate::route::Routes>>,
}

impl Snapshot {
    /// The generation this snapshot was published as (0 until a [`SnapshotHandle`] publishes
    /// it): a count of publications on this replica, for logs and metrics. An org's revision
    /// is [`OrgModel::revision`](crate::policy::OrgModel).
    ///
    /// [`SnapshotHandle`]: crate::swap::SnapshotHandle
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn globals(&self) -> &Globals {
        &self.globals
    }

    pub fn org(&self, id: &str) -> Option<&OrgSnapshot> {
        let i = *self.org_index.get(id)?;
        self.orgs.get(i as usize).map(|o| &**o)
    }

    pub fn orgs(&self) -> impl Iterator<Item = &OrgSnapshot> {
        self.orgs.iter().map(|o| &**o)
    }

    /// A snapshot with the built-in kinds and roles and no orgs: every decision is a denial
    /// (unknown org). What a gateway holds before any valid policy has loaded.
    pub fn empty() -> Snapshot {
        Snapshot::from_orgs(Arc::new(Globals::builtin()), Vec::new())
    }

    /// Builds a snapshot from compiled orgs (generation 0).
    pub(crate) fn from_orgs(globals: Arc<Globals>, orgs: Vec<Arc<OrgSnapshot>>) -> Snapshot {
        let org_index = orgs.iter().enumerate().map(|(i, o)| (&*o.model.id, i as u32)).collect();
        Snapshot { generation: 0, globals, org_index: Arc::new(org_index), orgs, routes: None }
    }

    /// The route table published with this snapshot.
    #[inline]
    pub fn routes(&self) -> Option<&crate::route::Routes> {
        self.routes.as_deref()
    }

    /// A copy of this snapshot (orgs shared) with `routes`.
    pub fn with_routes(&self, routes: Arc<crate::route::Routes>) -> Snapshot {
        Snapshot {
            generation: self.generation,
            globals: self.globals.clone(),
            org_index: self.org_index.clone(),
            orgs: self.orgs.clone(),
            routes: Some(routes),
        }
    }

    /// A copy of this snapshot with `org` compiled and put in place of the org of the same
    /// id (or added). The other orgs are shared, not rebuilt. `org` must have been validated
    /// against this snapshot's globals (its kind and role indexes point into them).
    pub fn with_org(&self, org: OrgModel) -> Result<Snapshot, StaleOrgModel> {
        if org.globals_id() != self.globals.id() {
            return Err(StaleOrgModel { org: org.id.to_string() });
        }
        let compiled = Arc::new(crate::policy::compile_org(&self.globals, org));
        let mut orgs = self.orgs.clone();
        match self.org_index.get(&compiled.model.id).and_then(|&i| orgs.get_mut(i as usize)) {
            Some(slot) => {
                *slot = compiled;
                Ok(Snapshot {
                    generation: self.generation,
                    globals: self.globals.clone(),
                    org_index: self.org_index.clone(),
                    orgs,
                    routes: self.routes.clone(),
                })
            }
            None => {
                orgs.push(compiled);
                Ok(Snapshot::from_orgs(self.globals.clone(), orgs))
            }
        }
    }

    /// Sets the store revision of org `id` in a snapshot that is still being built (its orgs
    /// not yet shared with another snapshot); does nothing otherwise.
    pub(crate) fn set_org_revision(&mut self, id: &str, revision: u64) {
        let Some(&i) = self.org_index.get(id) else { return };
        if let Some(org) = self.orgs.get_mut(i as usize).and_then(Arc::get_mut) {
            org.model.revision = revision;
        }
    }

    /// A copy of this snapshot without org `id`.
    pub fn without_org(&self, id: &str) -> Snapshot {
        let orgs = self.orgs.iter().filter(|o| &*o.model.id != id).cloned().collect();
        Snapshot::from_orgs(self.globals.clone(), orgs)
    }
}

/// An org was validated against other kinds and global roles than the snapshot's (the
/// policy files changed in between): its indexes would point at the wrong ones.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("org '{org}' was validated against other kinds and global roles than the live policy's: validate it again")]
pub struct StaleOrgModel {
    pub org: String,
}

/// No profile: the member holds no role at that scope.
pub(crate) const NO_PROFILE: u32 = u32::MAX;
/// The scope of organisation-level shares (project-level ones use the project index).
pub(crate) const ORG_SCOPE: u32 = u32::MAX;
/// Set in a profile's slot when narrowed entries exist for that (kind, level).
pub(crate) const HAS_NARROWED: u8 = 0x80;
/// Set in a profile's slot when `owned` entries exist for that (kind, level).
pub(crate) const HAS_OWNED: u8 = 0x40;
/// Where `owned` entries' verbs sit in the narrowed index (see [`OrgSnapshot::narrowed`]).
pub(crate) const OWNED_SCOPE: u32 = 2;

/// One org, compiled.
#[derive(Debug)]
pub struct OrgSnapshot {
    /// The resolved org this was compiled from: what explanations and listings read.
    pub model: OrgModel,
    pub(crate) members: StrMap<u32>,
    pub(crate) member_info: Box<[MemberInfo]>,
    /// Every member's teams, sorted, back to back; [`MemberInfo`] says where each starts.
    pub(crate) member_teams: Box<[u32]>,
    pub(crate) projects: StrMap<u32>,
    pub(crate) restricted: Box<[bool]>,
    /// `(member << 32) | project` to the profile of the member's own and its teams'
    /// bindings in that project, which replaces its org profile there.
    pub(crate) project_profiles: HashMap<u64, u32>,
    /// Per project: the profile of `all`'s bindings in it, added to every member's access
    /// there (never replacing), or [`NO_PROFILE`].
    pub(crate) all_project_profiles: Box<[u32]>,
    /// Every profile's slots back to back, `slots_per_profile` each.
    pub(crate) profile_slots: Box<[u8]>,
    pub(crate) slots_per_profile: usize,
    /// Narrowed role entries: holder = profile, scope = level index; and the verbs of
    /// `owned` entries: holder = profile, scope = [`OWNED_SCOPE`] + level index, id `""`
    /// (never a resource id), so that a profile without them costs nothing.
    pub(crate) narrowed: GrantIndex,
    pub(crate) shares: ShareIndex,
    /// Creator records, as an index of "shares" to the creator: a probe answers whether a
    /// member created a resource.
    pub(crate) creators: ShareIndex,
    /// Bindings with an `expires_at`: kept out of the interned profiles (which cannot
    /// change with time) and checked against the request's instant.
    pub(crate) expiring: Box<[ExpiringBinding]>,
}

/// A binding that ends at `expires`, compiled to a one-role profile.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ExpiringBinding {
    pub(crate) subject: crate::policy::Subject,
    /// A project index, or [`ORG_SCOPE`].
    pub(crate) scope: u32,
    pub(crate) profile: u32,
    pub(crate) expires: i64,
}

/// What the decision needs of one member, in one place (one cache line read).
#[derive(Clone, Copy, Debug)]
pub(crate) struct MemberInfo {
    /// Organisation-scope profile, or [`NO_PROFILE`].
    pub(crate) profile: u32,
    pub(crate) teams_start: u32,
    pub(crate) teams_len: u32,
    /// Whether some expiring binding reaches this member (itself, a team of it, or `all`).
    pub(crate) expiring: bool,
}

impl OrgSnapshot {
    pub fn id(&self) -> &str {
        &self.model.id
    }

    pub fn member_index(&self, id: &str) -> Option<u32> {
        self.members.get(id).copied()
    }

    pub fn project_index(&self, id: &str) -> Option<u32> {
        self.projects.get(id).copied()
    }

    /// The sorted teams of a member.
    pub(crate) fn teams_of(&self, info: &MemberInfo) -> &[u32] {
        let start = info.teams_start as usize;
        self.member_teams.get(start..start + info.teams_len as usize).unwrap_or(&[])
    }
}

/// A profile is a set of roles flattened to one byte per (kind, level) slot: the low five
/// bits are verbs (closed under implication), [`HAS_NARROWED`] says to look in the narrowed
/// index too. All profiles of an org live in one array.
impl OrgSnapshot {
    #[inline]
    pub(crate) fn profile_slot(&self, profile: u32, slot: usize) -> u8 {
        if profile == NO_PROFILE || slot >= self.slots_per_profile {
            return 0;
        }
        self.profile_slots.get(profile as usize * self.slots_per_profile + slot).copied().unwrap_or(0)
    }

    /// The verbs of a profile's `owned` entries on a kind at a level.
    #[inline]
    pub(crate) fn owned_verbs(&self, profile: u32, kind: KindId, level: crate::model::Level) -> VerbSet {
        self.narrowed.get(profile, OWNED_SCOPE + level.index() as u32, kind, "")
    }

    /// Whether `member` is the recorded creator of the resource (`scope` a project index or
    /// [`ORG_SCOPE`]; `id` in normal form).
    #[inline]
    pub(crate) fn created_by(&self, scope: u32, kind: KindId, id: &str, member: u32) -> bool {
        !self.creators.verbs(scope, kind, id, false, member, &[], i64::MIN).is_empty()
    }
}

impl OrgSnapshot {
    /// The resources `member` is the recorded creator of: (scope, kind, id).
    pub(crate) fn created_records(&self, member: u32) -> impl Iterator<Item = (u32, KindId, &str)> {
        self.creators.held_by(member)
    }
}

pub(crate) fn slot(kind: KindId, level: crate::model::Level) -> usize {
    usize::from(kind) * 2 + level.index()
}

fn grant_hash(hasher: &DefaultHashBuilder, holder: u32, scope: u32, kind: KindId, id: &str) -> u64 {
    let mut h = hasher.build_hasher();
    h.write_u32(holder);
    h.write_u32(scope);
    h.write_u16(kind);
    h.write(id.as_bytes());
    h.finish()
}

fn arena_str(arena: &str, start: u32, len: u32) -> &str {
    let start = start as usize;
    arena.get(start..start + len as usize).unwrap_or("")
}

/// The ids whose grants cover `id` (in normal form): `id` itself and, for hierarchical
/// kinds, each ancestor, nearest first (`/a/b/c`, `/a/b`, `/a`, `/`). Slices of the input;
/// nothing is allocated.
pub(crate) fn covering_ids(id: &str, hierarchical: bool) -> impl Iterator<Item = &str> {
    let below_root = hierarchical && id != "/";
    let ancestors = id
        .rmatch_indices('/')
        .filter(move |_| below_root)
        .map(move |(i, _)| if i == 0 { "/" } else { id.get(..i).unwrap_or("/") });
    std::iter::once(id).chain(ancestors)
}

/// A flat hash table of grants keyed by (holder, scope, kind, id), ids stored in one arena.
#[derive(Debug, Default)]
pub(crate) struct GrantIndex {
    hasher: DefaultHashBuilder,
    table: HashTable<u32>,
    entries: Vec<GrantEntry>,
    ids: String,
}

#[derive(Clone, Copy, Debug)]
struct GrantEntry {
    holder: u32,
    scope: u32,
    id_start: u32,
    id_len: u32,
    kind: KindId,
    verbs: u8,
}

impl GrantIndex {
    fn hash(&self, holder: u32, scope: u32, kind: KindId, id: &str) -> u64 {
        grant_hash(&self.hasher, holder, scope, kind, id)
    }

    fn id_of(&self, e: &GrantEntry) -> &str {
        arena_str(&self.ids, e.id_start, e.id_len)
    }

    fn position(&self, hash: u64, holder: u32, scope: u32, kind: KindId, id: &str) -> Option<u32> {
        self.table
            .find(hash, |&i| {
                self.entries.get(i as usize).is_some_and(|e| {
                    e.holder == holder
                        && e.scope == scope
                        && e.kind == kind
                        && bytes_eq(self.id_of(e).as_bytes(), id.as_bytes())
                })
            })
            .copied()
    }

    /// Adds `verbs` to the grant for this key, creating it if new.
    pub(crate) fn add(&mut self, holder: u32, scope: u32, kind: KindId, id: &str, verbs: VerbSet) {
        let hash = self.hash(holder, scope, kind, id);
        if let Some(i) = self.position(hash, holder, scope, kind, id) {
            if let Some(e) = self.entries.get_mut(i as usize) {
                e.verbs |= verbs.bits();
            }
            return;
        }
        let entry = GrantEntry {
            holder,
            scope,
            id_start: u32::try_from(self.ids.len()).unwrap_or(u32::MAX),
            id_len: u32::try_from(id.len()).unwrap_or(0),
            kind,
            verbs: verbs.bits(),
        };
        self.ids.push_str(id);
        let index = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        self.entries.push(entry);
        let (entries, ids, hasher) = (&self.entries, &self.ids, &self.hasher);
        self.table.insert_unique(hash, index, |&i| {
            let Some(e) = entries.get(i as usize) else { return 0 };
            grant_hash(hasher, e.holder, e.scope, e.kind, arena_str(ids, e.id_start, e.id_len))
        });
    }

    /// The verbs granted for exactly this key.
    #[inline]
    pub(crate) fn get(&self, holder: u32, scope: u32, kind: KindId, id: &str) -> VerbSet {
        let hash = self.hash(holder, scope, kind, id);
        match self.position(hash, holder, scope, kind, id).and_then(|i| self.entries.get(i as usize)) {
            Some(e) => VerbSet::from_bits(e.verbs),
            None => VerbSet::EMPTY,
        }
    }

    /// The verbs granted on `id` by a grant on `id` itself or, for hierarchical kinds, on
    /// any ancestor of it (`/a/b` and `/a` and `/` for `/a/b`). `id` is in normal form.
    #[inline]
    pub(crate) fn covering(&self, holder: u32, scope: u32, kind: KindId, id: &str, hierarchical: bool) -> VerbSet {
        covering_ids(id, hierarchical).fold(VerbSet::EMPTY, |v, i| v.union(self.get(holder, scope, kind, i)))
    }
}

/// Shares indexed by resource: (scope, kind, id) to the subjects it is shared with.
///
/// A holder is packed in a `u64`: the subject's index (25 bits), its tag (member, team or
/// `all`, 2 bits), the verbs (5 bits), and in the high 32 bits the instant it expires in
/// seconds since the epoch ([`NEVER`] for a share without one; an instant past 2106 counts
/// as never).
#[derive(Debug, Default)]
pub(crate) struct ShareIndex {
    hasher: DefaultHashBuilder,
    table: HashTable<u32>,
    buckets: Vec<Bucket>,
    holders: Vec<u64>,
    ids: String,
    /// `*` shares: `(scope << 16) | kind` to a range of `holders`.
    wildcard: HashMap<u64, (u32, u32)>,
    /// Bit `kind % 64` is set if some `*` share is on a kind with that remainder: most
    /// requests skip the wildcard probe on one bit test.
    wildcard_kinds: u64,
}

/// 24 bytes: one per shared resource.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    scope: u32,
    id_start: u32,
    /// At most [`crate::model::MAX_ID_LEN`].
    id_len: u16,
    kind: KindId,
    holders_len: u32,
    /// With one holder (the common case), the packed holder itself; otherwise where the
    /// holders start in `holders`.
    inline: u64,
}

const TAG_MEMBER: u32 = 0;
const TAG_TEAM: u32 = 1;
const TAG_ALL: u32 = 2;
const INDEX_BITS: u32 = 25;
/// Members and teams per org are limited to 2^25 (33 million) by the holder packing.
pub(crate) const MAX_SUBJECT_INDEX: u32 = (1 << INDEX_BITS) - 1;

/// The expiry of a holder that never expires.
pub(crate) const NEVER: u32 = u32::MAX;
/// The bits of a packed holder that name who it is for and until when (all but the verbs).
const SUBJECT_AND_EXPIRY: u64 = ((1 << (INDEX_BITS + 2)) - 1) | (0xFFFF_FFFF << 32);

/// A share's subject, verbs and expiry, packed for the index.
pub(crate) fn pack_holder(subject: crate::policy::Subject, verbs: VerbSet, expires: Option<i64>) -> u64 {
    use crate::policy::Subject;
    let (tag, index) = match subject {
        Subject::Member(m) => (TAG_MEMBER, m),
        Subject::Team(t) => (TAG_TEAM, t),
        Subject::All => (TAG_ALL, 0),
    };
    let expiry = match expires {
        None => NEVER,
        Some(e) => u32::try_from(e.max(0)).map_or(NEVER, |e| e.min(NEVER - 1)),
    };
    let low = (index & MAX_SUBJECT_INDEX) | (tag << INDEX_BITS) | (u32::from(verbs.bits()) << (INDEX_BITS + 2));
    u64::from(low) | (u64::from(expiry) << 32)
}

fn wildcard_key(scope: u32, kind: KindId) -> u64 {
    (u64::from(scope) << 16) | u64::from(kind)
}

impl ShareIndex {
    /// Builds the index from `(scope, kind, id, packed holder)` for each share.
    pub(crate) fn build<'a>(shares: impl ExactSizeIterator<Item = (u32, KindId, &'a str, u64)> + Clone) -> ShareIndex {
        let n = shares.len();
        let id_bytes = shares.clone().map(|(_, _, id, _)| id.len()).sum();
        let mut index = ShareIndex {
            table: HashTable::with_capacity(n),
            buckets: Vec::with_capacity(n),
            ids: String::with_capacity(id_bytes),
            ..ShareIndex::default()
        };
        // One pass: a new resource gets a bucket holding its first holder inline. Further
        // holders of the same resource (rare) wait in `extra` for the second pass.
        let mut extra: Vec<(u32, u64)> = Vec::new();
        let mut wild: Vec<(u64, u64)> = Vec::new();
        for (scope, kind, id, holder) in shares {
            if id == "*" {
                wild.push((wildcard_key(scope, kind), holder));
                continue;
            }
            let hash = grant_hash(&index.hasher, 0, scope, kind, id);
            match index.find(hash, scope, kind, id) {
                Some(b) => extra.push((b, holder)),
                None => {
                    let b = index.buckets.len() as u32;
                    index.buckets.push(Bucket {
                        scope,
                        id_start: u32::try_from(index.ids.len()).unwrap_or(u32::MAX),
                        id_len: u16::try_from(id.len()).unwrap_or(0),
                        inline: holder,
                        holders_len: 1,
                        kind,
                    });
                    index.ids.push_str(id);
                    let (buckets, ids, hasher) = (&index.buckets, &index.ids, &index.hasher);
                    index.table.insert_unique(hash, b, |&i| {
                        let Some(e) = buckets.get(i as usize) else { return 0 };
                        grant_hash(hasher, 0, e.scope, e.kind, arena_str(ids, e.id_start, u32::from(e.id_len)))
                    });
                }
            }
        }
        // Second pass, for resources with more than one share: their holders back to back in
        // `holders`, one entry per subject; one left after merging goes back inline.
        extra.sort_by_key(|&(b, _)| b);
        for group in extra.chunk_by(|x, y| x.0 == y.0) {
            let Some(b) = group.first().and_then(|&(b, _)| index.buckets.get_mut(b as usize)) else { continue };
            let start = index.holders.len();
            push_merged(&mut index.holders, start, b.inline);
            for &(_, holder) in group {
                push_merged(&mut index.holders, start, holder);
            }
            b.holders_len = (index.holders.len() - start) as u32;
            match (b.holders_len, index.holders.pop()) {
                (1, Some(lone)) => b.inline = lone,
                (_, popped) => {
                    index.holders.extend(popped);
                    b.inline = start as u64;
                }
            }
        }
        wild.sort_unstable_by_key(|(key, _)| *key);
        for group in wild.chunk_by(|a, b| a.0 == b.0) {
            let Some(&(key, _)) = group.first() else { continue };
            index.wildcard_kinds |= 1 << (key % 64);
            let start = index.holders.len();
            for &(_, holder) in group {
                push_merged(&mut index.holders, start, holder);
            }
            index.wildcard.insert(key, (start as u32, (index.holders.len() - start) as u32));
        }
        index.holders.shrink_to_fit();
        index.buckets.shrink_to_fit();
        index.ids.shrink_to_fit();
        index
    }

    fn find(&self, hash: u64, scope: u32, kind: KindId, id: &str) -> Option<u32> {
        self.table
            .find(hash, |&i| {
                self.buckets.get(i as usize).is_some_and(|b| {
                    b.scope == scope
                        && b.kind == kind
                        && bytes_eq(arena_str(&self.ids, b.id_start, u32::from(b.id_len)).as_bytes(), id.as_bytes())
                })
            })
            .copied()
    }

    fn holders_verbs(&self, start: u32, len: u32, member: u32, teams: &[u32], at: i64) -> VerbSet {
        let start = start as usize;
        let mut bits = 0u8;
        for &h in self.holders.get(start..start + len as usize).unwrap_or(&[]) {
            bits |= holder_verbs(h, member, teams, at);
        }
        VerbSet::from_bits(bits)
    }

    fn bucket_verbs(&self, b: &Bucket, member: u32, teams: &[u32], at: i64) -> VerbSet {
        if b.holders_len == 1 {
            VerbSet::from_bits(holder_verbs(b.inline, member, teams, at))
        } else {
            self.holders_verbs(b.inline as u32, b.holders_len, member, teams, at)
        }
    }

    /// The verbs shared with `member` (directly, through one of `teams`, or with `all`) on
    /// `id`, or on an ancestor of it for hierarchical kinds, by shares live at `at`.
    #[inline]
    #[allow(clippy::too_many_arguments, reason = "the decision's coordinates, passed by value")]
    pub(crate) fn verbs(
        &self,
        scope: u32,
        kind: KindId,
        id: &str,
        hierarchical: bool,
        member: u32,
        teams: &[u32],
        at: i64,
    ) -> VerbSet {
        if self.buckets.is_empty() {
            return VerbSet::EMPTY;
        }
        covering_ids(id, hierarchical)
            .fold(VerbSet::EMPTY, |v, i| v.union(self.exact(scope, kind, i, member, teams, at)))
    }

    fn exact(&self, scope: u32, kind: KindId, id: &str, member: u32, teams: &[u32], at: i64) -> VerbSet {
        let hash = grant_hash(&self.hasher, 0, scope, kind, id);
        match self.find(hash, scope, kind, id).and_then(|b| self.buckets.get(b as usize)) {
            Some(b) => self.bucket_verbs(b, member, teams, at),
            None => VerbSet::EMPTY,
        }
    }

    /// Every resource (scope, kind, id) shared with `member` itself, at any time: a scan,
    /// for answers about one principal, never for a decision.
    pub(crate) fn held_by(&self, member: u32) -> impl Iterator<Item = (u32, KindId, &str)> {
        self.buckets
            .iter()
            .filter(move |b| !self.bucket_verbs(b, member, &[], i64::MIN).is_empty())
            .map(|b| (b.scope, b.kind, arena_str(&self.ids, b.id_start, u32::from(b.id_len))))
    }

    /// The verbs `*` shares live at `at` give `member` on every resource of this kind in
    /// this scope.
    #[inline]
    pub(crate) fn wildcard_verbs(&self, scope: u32, kind: KindId, member: u32, teams: &[u32], at: i64) -> VerbSet {
        if self.wildcard_kinds & (1 << (u64::from(kind) % 64)) == 0 {
            return VerbSet::EMPTY;
        }
        match self.wildcard.get(&wildcard_key(scope, kind)) {
            Some(&(start, len)) => self.holders_verbs(start, len, member, teams, at),
            None => VerbSet::EMPTY,
        }
    }
}

/// The verbs in packed holder `h` if it reaches `member` (itself, one of its `teams`, or
/// `all`) and has not expired at `at`; none otherwise.
#[inline]
fn holder_verbs(h: u64, member: u32, teams: &[u32], at: i64) -> u8 {
    let expiry = (h >> 32) as u32;
    if expiry != NEVER && at >= i64::from(expiry) {
        return 0;
    }
    let low = h as u32;
    let index = low & MAX_SUBJECT_INDEX;
    let reaches = match (low >> INDEX_BITS) & 0b11 {
        TAG_MEMBER => index == member,
        TAG_TEAM => teams.contains(&index),
        _ => true,
    };
    if reaches { (low >> (INDEX_BITS + 2)) as u8 } else { 0 }
}

/// Appends `holder`, or ORs its verbs into the entry for the same subject and expiry at or
/// after `start` (a subject given the same resource twice, or through two share entries).
fn push_merged(holders: &mut Vec<u64>, start: usize, holder: u64) {
    let same = |h: &&mut u64| **h & SUBJECT_AND_EXPIRY == holder & SUBJECT_AND_EXPIRY;
    if let Some(h) = holders.get_mut(start..).and_then(|s| s.iter_mut().find(same)) {
        *h |= holder;
    } else {
        holders.push(holder);
    }
}
