//! The compiled, immutable permission snapshot that every decision reads.
//!
//! A [`Snapshot`] is partitioned by organisation: each org is an [`OrgSnapshot`] behind its
//! own `Arc`, so replacing one org (an admin write, a changed file) builds only that org and
//! shares the rest with the previous snapshot. Inside an org, everything the decision needs
//! is an array index or one hash probe:
//!
//! - members and projects map their string ids to dense indexes;
//! - each member's roles at organisation scope, unioned over its own bindings, its teams'
//!   and `all`'s, are interned as a *profile*: one verb set per (kind, level), so a role
//!   check is one array read;
//! - project-scope bindings, folded the same way, map (member, project) to a profile;
//! - role entries narrowed to an id and shares live in a [`GrantIndex`], a flat hash table
//!   keyed by (holder, scope, kind, id) with no per-entry allocation. Subtree grants of
//!   hierarchical kinds are found by probing each ancestor of the requested path, at most
//!   once per path segment.
//!
//! Shares to a team are folded into each member of it; shares to `all` are held once under
//! a shared holder, so one probe covers them for everybody.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use hashbrown::{DefaultHashBuilder, HashMap, HashTable};

use crate::model::VerbSet;
use crate::policy::{Globals, KindId, OrgModel};

/// One compiled policy set: the kinds and global roles, and every org.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub(crate) revision: u64,
    pub(crate) globals: Arc<Globals>,
    pub(crate) orgs: HashMap<Arc<str>, Arc<OrgSnapshot>>,
}

impl Snapshot {
    /// The revision this snapshot was published as (0 until a [`SnapshotHandle`] publishes it).
    ///
    /// [`SnapshotHandle`]: crate::swap::SnapshotHandle
    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn globals(&self) -> &Globals {
        &self.globals
    }

    pub fn org(&self, id: &str) -> Option<&OrgSnapshot> {
        self.orgs.get(id).map(|o| &**o)
    }

    pub fn orgs(&self) -> impl Iterator<Item = &OrgSnapshot> {
        self.orgs.values().map(|o| &**o)
    }

    /// A copy of this snapshot with `org` compiled and put in place of the org of the same
    /// id (or added). The other orgs are shared, not rebuilt.
    pub fn with_org(&self, org: OrgModel) -> Snapshot {
        let compiled = crate::policy::compile_org(&self.globals, org);
        let mut orgs = self.orgs.clone();
        orgs.insert(Arc::from(&*compiled.model.id), Arc::new(compiled));
        Snapshot { revision: self.revision, globals: self.globals.clone(), orgs }
    }

    /// A copy of this snapshot without org `id`.
    pub fn without_org(&self, id: &str) -> Snapshot {
        let mut orgs = self.orgs.clone();
        orgs.remove(id);
        Snapshot { revision: self.revision, globals: self.globals.clone(), orgs }
    }
}

/// No profile: the member holds no role at that scope.
pub(crate) const NO_PROFILE: u32 = u32::MAX;
/// The holder of shares given to `all`.
pub(crate) const ALL_HOLDER: u32 = u32::MAX;
/// The scope of organisation-level shares (project-level ones use the project index).
pub(crate) const ORG_SCOPE: u32 = u32::MAX;
/// Set in a profile's slot when narrowed entries exist for that (kind, level).
pub(crate) const HAS_NARROWED: u8 = 0x80;

/// One org, compiled.
#[derive(Debug)]
pub struct OrgSnapshot {
    /// The resolved org this was compiled from: what explanations and listings read.
    pub model: OrgModel,
    pub(crate) members: HashMap<Box<str>, u32>,
    pub(crate) projects: HashMap<Box<str>, u32>,
    pub(crate) restricted: Box<[bool]>,
    /// Per member: its organisation-scope profile, or [`NO_PROFILE`].
    pub(crate) org_profile: Box<[u32]>,
    /// `(member << 32) | project` to the member's profile in that project.
    pub(crate) project_profiles: HashMap<u64, u32>,
    pub(crate) profiles: Vec<Profile>,
    /// Narrowed role entries: holder = profile, scope = level index.
    pub(crate) narrowed: GrantIndex,
    /// Shares: holder = member or [`ALL_HOLDER`], scope = project or [`ORG_SCOPE`].
    pub(crate) shares: GrantIndex,
    pub(crate) member_has_shares: Box<[bool]>,
    pub(crate) all_has_shares: bool,
    pub(crate) has_wildcard_shares: bool,
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
}

/// A set of roles, flattened: one verb set per (kind, level) slot.
#[derive(Debug)]
pub(crate) struct Profile {
    /// Index `kind * 2 + level`; low five bits are verbs (closed under implication),
    /// [`HAS_NARROWED`] says to look in the narrowed index too.
    pub(crate) slots: Box<[u8]>,
}

pub(crate) fn slot(kind: KindId, level: crate::model::Level) -> usize {
    usize::from(kind) * 2 + level.index()
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
        let mut h = self.hasher.build_hasher();
        h.write_u32(holder);
        h.write_u32(scope);
        h.write_u16(kind);
        h.write(id.as_bytes());
        h.finish()
    }

    fn id_of(&self, e: &GrantEntry) -> &str {
        let start = e.id_start as usize;
        self.ids.get(start..start + e.id_len as usize).unwrap_or("")
    }

    fn position(&self, hash: u64, holder: u32, scope: u32, kind: KindId, id: &str) -> Option<u32> {
        self.table
            .find(hash, |&i| {
                self.entries.get(i as usize).is_some_and(|e| {
                    e.holder == holder && e.scope == scope && e.kind == kind && self.id_of(e) == id
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
            let start = e.id_start as usize;
            let id = ids.get(start..start + e.id_len as usize).unwrap_or("");
            let mut h = hasher.build_hasher();
            h.write_u32(e.holder);
            h.write_u32(e.scope);
            h.write_u16(e.kind);
            h.write(id.as_bytes());
            h.finish()
        });
    }

    /// Frees spare capacity once building is done.
    pub(crate) fn shrink(&mut self) {
        self.entries.shrink_to_fit();
        self.ids.shrink_to_fit();
        let (entries, ids, hasher) = (&self.entries, &self.ids, &self.hasher);
        self.table.shrink_to_fit(|&i| {
            let Some(e) = entries.get(i as usize) else { return 0 };
            let start = e.id_start as usize;
            let id = ids.get(start..start + e.id_len as usize).unwrap_or("");
            let mut h = hasher.build_hasher();
            h.write_u32(e.holder);
            h.write_u32(e.scope);
            h.write_u16(e.kind);
            h.write(id.as_bytes());
            h.finish()
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
        let mut verbs = self.get(holder, scope, kind, id);
        if hierarchical && id != "/" {
            for (i, _) in id.rmatch_indices('/') {
                let prefix = if i == 0 { "/" } else { id.get(..i).unwrap_or("/") };
                verbs = verbs.union(self.get(holder, scope, kind, prefix));
            }
        }
        verbs
    }
}
