//! [`SnapshotHandle`]: where the live snapshot is published.
//!
//! Readers call [`load`](SnapshotHandle::load) once per request: a lock-free `arc-swap`
//! load that never waits for a writer. Writers replace the whole snapshot, or one org of it
//! (compiled alone; every other org is shared with the previous snapshot). Writers are
//! serialised among themselves so that two per-org updates cannot lose each other, and
//! every publication gets the next revision number.

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use arc_swap::Guard;

use crate::policy::{OrgDecl, OrgModel, PolicyErrors, PolicySet, validate_org};
use crate::snapshot::Snapshot;

/// The live snapshot and its revision counter.
#[derive(Debug)]
pub struct SnapshotHandle {
    current: ArcSwap<Snapshot>,
    writer: Mutex<()>,
}

impl SnapshotHandle {
    /// Publishes `snapshot` as revision 1.
    pub fn new(mut snapshot: Snapshot) -> Self {
        snapshot.revision = 1;
        SnapshotHandle { current: ArcSwap::from_pointee(snapshot), writer: Mutex::new(()) }
    }

    /// The current snapshot. Lock-free; hold the guard for one request, not longer.
    #[inline]
    pub fn load(&self) -> Guard<Arc<Snapshot>> {
        self.current.load()
    }

    /// The current snapshot as an owned `Arc`, for holders that outlive a request.
    pub fn load_full(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Replaces the whole snapshot; returns the revision it was published as.
    pub fn replace(&self, snapshot: Snapshot) -> u64 {
        self.publish(|_| snapshot)
    }

    /// Compiles `org` and puts it in place of the org with the same id (or adds it).
    pub fn replace_org(&self, org: OrgModel) -> u64 {
        self.publish(|old| old.with_org(org))
    }

    /// Validates one org's policy against the live kinds and global roles, then replaces it.
    /// If it does not validate, nothing changes. `set` names the files for error messages.
    pub fn update_org(&self, set: &PolicySet, org: &OrgDecl) -> Result<u64, PolicyErrors> {
        let _w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.current.load_full();
        let model = validate_org(old.globals(), set, org)?;
        Ok(self.store(old.with_org(model), &old))
    }

    /// Removes org `id`; `None` if there was none.
    pub fn remove_org(&self, id: &str) -> Option<u64> {
        let _w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.current.load_full();
        old.org(id)?;
        Some(self.store(old.without_org(id), &old))
    }

    fn publish(&self, build: impl FnOnce(&Snapshot) -> Snapshot) -> u64 {
        let _w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.current.load_full();
        let new = build(&old);
        self.store(new, &old)
    }

    /// Stores `new` as the revision after `old`. Callers hold the writer lock.
    fn store(&self, mut new: Snapshot, old: &Snapshot) -> u64 {
        new.revision = old.revision + 1;
        let revision = new.revision;
        self.current.store(Arc::new(new));
        revision
    }
}
