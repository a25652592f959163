//! [`SnapshotHandle`]: where the live snapshot is published.
//!
//! Readers call [`load`](SnapshotHandle::load) once per request: a lock-free `arc-swap`
//! load that never waits for a writer. Writers replace the whole snapshot, or one org of it
//! (compiled alone; every other org is shared with the previous snapshot). Writers are
//! serialised among themselves so that two per-org updates cannot lose each other, and
//! every publication gets the next generation number (a count of publications on this
//! replica; an org's revision, the number admin writes return, is the org's own).
//!
//! A replaced snapshot is not freed by whoever happens to drop the last reference, which
//! could be a request in flight paying for freeing a whole policy set. It is handed to a
//! reclaimer thread that frees it once nothing else holds it.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use arc_swap::Guard;

use crate::policy::{OrgDecl, OrgModel, PolicyError, PolicyErrorKind, PolicyErrors, PolicySet, Problems, validate_org};
use crate::snapshot::{Snapshot, StaleOrgModel};

/// The live snapshot and its generation counter.
#[derive(Debug)]
pub struct SnapshotHandle {
    current: ArcSwap<Snapshot>,
    writer: Mutex<()>,
    /// Where replaced snapshots go to be freed; `None` if the reclaimer could not start,
    /// in which case they are freed by their last holder.
    retired: Option<Sender<Arc<Snapshot>>>,
    /// The generation last published, for those who wait for a publication (a request
    /// naming the org revision its admin write returned) without polling.
    published: tokio::sync::watch::Sender<u64>,
}

impl SnapshotHandle {
    /// Publishes `snapshot` as generation 1.
    pub fn new(mut snapshot: Snapshot) -> Self {
        snapshot.generation = 1;
        let (tx, rx) = channel();
        let reclaimer = std::thread::Builder::new().name("portcullis-reclaim".into()).spawn(move || reclaim(&rx));
        SnapshotHandle {
            current: ArcSwap::from_pointee(snapshot),
            writer: Mutex::new(()),
            retired: reclaimer.ok().map(|_| tx),
            published: tokio::sync::watch::Sender::new(1),
        }
    }

    /// Notified after each publication (with its generation): subscribe, check the snapshot,
    /// then wait for a change, and no publication in between is missed.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.published.subscribe()
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

    /// Replaces the whole snapshot; returns the generation it was published as.
    pub fn replace(&self, snapshot: Snapshot) -> u64 {
        let _w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.current.load_full();
        self.store(snapshot, &old)
    }

    /// Compiles `org` and puts it in place of the org with the same id (or adds it). Fails,
    /// changing nothing, if `org` was validated against other globals than the live ones.
    pub fn replace_org(&self, org: OrgModel) -> Result<u64, StaleOrgModel> {
        let _w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.current.load_full();
        let new = old.with_org(org)?;
        Ok(self.store(new, &old))
    }

    /// Validates one org's policy against the live kinds and global roles, then replaces it.
    /// If it does not validate, nothing changes. `set` names the files for error messages.
    pub fn update_org(&self, set: &PolicySet, org: &OrgDecl) -> Result<u64, PolicyErrors> {
        self.update_org_at(set, org, 0)
    }

    /// [`update_org`](Self::update_org) for an org the control plane stores, at its store
    /// revision.
    pub fn update_org_at(&self, set: &PolicySet, org: &OrgDecl, revision: u64) -> Result<u64, PolicyErrors> {
        let _w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.current.load_full();
        let mut model = validate_org(old.globals(), set, org)?;
        model.revision = revision;
        // Validated against `old`'s globals just now, under the writer lock: cannot be stale.
        match old.with_org(model) {
            Ok(new) => Ok(self.store(new, &old)),
            Err(stale) => Err(Problems(vec![PolicyError {
                loc: set.source_loc(org.loc),
                kind: PolicyErrorKind::Stale { message: stale.to_string() },
            }])),
        }
    }

    /// Publishes the live orgs with `routes` in place of the route table.
    pub fn replace_routes(&self, routes: Arc<crate::route::Routes>) -> u64 {
        let _w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.current.load_full();
        self.store(old.with_routes(routes), &old)
    }

    /// Removes org `id`; `None` if there was none.
    pub fn remove_org(&self, id: &str) -> Option<u64> {
        let _w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.current.load_full();
        old.org(id)?;
        Some(self.store(old.without_org(id), &old))
    }

    /// Stores `new` as the generation after `old` (with `old`'s routes if it has none), and
    /// retires the snapshot it replaces. Callers hold the writer lock.
    fn store(&self, mut new: Snapshot, old: &Snapshot) -> u64 {
        new.generation = old.generation + 1;
        // Routes change only when a new table comes with the snapshot.
        if new.routes.is_none() {
            new.routes = old.routes.clone();
        }
        let generation = new.generation;
        let replaced = self.current.swap(Arc::new(new));
        if let Some(retired) = &self.retired {
            // If the reclaimer is gone, the snapshot comes back in the error and is freed
            // here, which is only slower.
            let _ = retired.send(replaced);
        }
        self.published.send_replace(generation);
        generation
    }
}

/// Frees retired snapshots once the reclaimer holds the only reference. Ends when the
/// handle is dropped (the channel closes) and everything pending is freed.
fn reclaim(retired: &Receiver<Arc<Snapshot>>) {
    let mut pending: Vec<Arc<Snapshot>> = Vec::new();
    loop {
        let wait = if pending.is_empty() { Duration::from_secs(3600) } else { Duration::from_millis(1) };
        match retired.recv_timeout(wait) {
            Ok(snapshot) => pending.push(snapshot),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                // Whoever still holds one frees it; nothing here waits for them.
                return;
            }
        }
        pending.retain(|s| Arc::strong_count(s) > 1);
    }
}
