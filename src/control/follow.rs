//! Following other replicas: each commit to the PostgreSQL store is announced (NOTIFY, with
//! the org, its revision and the commit time), and this replica rebuilds that org alone.
//! A burst of commits to one org costs at most one rebuild in flight and one more after
//! it, not one task per notification: the rebuild reads the org's newest revision anyway.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::ControlPlane;

/// Per org being rebuilt: `Some(commit time)` of the newest notification that came while
/// it was (the rebuild runs once more), or `None`.
#[derive(Debug, Default)]
pub(crate) struct Coalescer {
    running: Mutex<HashMap<String, Option<u64>>>,
}

impl Coalescer {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<u64>>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the caller should start rebuilding `org`: false if a rebuild is in flight,
    /// which is then told to run once more (for the commit at `committed_ms`).
    pub(crate) fn begin(&self, org: &str, committed_ms: u64) -> bool {
        let mut running = self.lock();
        match running.get_mut(org) {
            Some(again) => {
                *again = Some(again.map_or(committed_ms, |t| t.max(committed_ms)));
                false
            }
            None => {
                running.insert(org.to_string(), None);
                true
            }
        }
    }

    /// After a rebuild of `org`: the commit time to rebuild for once more, if a notification
    /// came meanwhile; otherwise `org` is released (the next notification starts afresh).
    pub(crate) fn again(&self, org: &str) -> Option<u64> {
        let mut running = self.lock();
        match running.get_mut(org).map(Option::take) {
            Some(Some(committed_ms)) => Some(committed_ms),
            _ => {
                running.remove(org);
                None
            }
        }
    }
}

/// Listens to the store's notifications: rebuilds an org another replica changed, and
/// resyncs everything when the notification connection was lost (commits may be missed).
pub(super) fn other_replicas(control: &Arc<ControlPlane>, url: &str) {
    let (on_change, on_lost) = (Arc::downgrade(control), Arc::downgrade(control));
    control.store.listen(
        url,
        move |org, revision, committed_ms| {
            let Some(c) = on_change.upgrade() else { return };
            if c.live.stored_revision(org).is_some_and(|r| r >= revision) || !c.refreshing.begin(org, committed_ms) {
                return;
            }
            let org = org.to_string();
            tokio::spawn(async move {
                let mut committed_ms = committed_ms;
                loop {
                    match c.refresh(&org).await {
                        // From the writer's commit to this replica's snapshot (both clocks).
                        Ok(()) => c.metrics.store_lag.observe(crate::store::now_ms().saturating_sub(committed_ms)),
                        Err(e) => eprintln!("portcullis: cannot read org '{org}' after its change: {e}"),
                    }
                    match c.refreshing.again(&org) {
                        Some(next) => committed_ms = next,
                        None => break,
                    }
                }
            });
        },
        move || {
            let Some(c) = on_lost.upgrade() else { return };
            tokio::spawn(async move {
                if let Err(e) = c.resync().await {
                    eprintln!("portcullis: cannot resync with the store: {e}");
                }
            });
        },
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::Coalescer;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A burst of notifications for one org while its rebuild is slow: one rebuild in
    /// flight at a time, far fewer rebuilds than notifications, and one that starts after
    /// the last notification (so the newest commit is read). Another org is not held up.
    #[test]
    fn a_burst_of_notifications_is_one_rebuild_in_flight_and_one_after() {
        let coalescer = Arc::new(Coalescer::default());
        let (in_flight, most, rebuilds) =
            (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let last_notified = Arc::new(AtomicUsize::new(0));
        let last_rebuild_started = Arc::new(AtomicUsize::new(0));
        let mut workers = Vec::new();
        for n in 1..=500usize {
            last_notified.store(n, Ordering::SeqCst);
            if coalescer.begin("alpha", n as u64) {
                let (coalescer, in_flight, most, rebuilds, last_notified, last_rebuild_started) = (
                    coalescer.clone(),
                    in_flight.clone(),
                    most.clone(),
                    rebuilds.clone(),
                    last_notified.clone(),
                    last_rebuild_started.clone(),
                );
                workers.push(std::thread::spawn(move || {
                    loop {
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        last_rebuild_started.store(last_notified.load(Ordering::SeqCst), Ordering::SeqCst);
                        rebuilds.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(5));
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        if coalescer.again("alpha").is_none() {
                            break;
                        }
                    }
                }));
            }
            assert!(coalescer.begin("beta", 0), "beta waited for alpha");
            assert!(coalescer.again("beta").is_none());
            if n % 50 == 0 {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 1, "two rebuilds of one org at once");
        let rebuilds = rebuilds.load(Ordering::SeqCst);
        assert!((2..100).contains(&rebuilds), "{rebuilds} rebuilds for 500 notifications");
        assert_eq!(last_rebuild_started.load(Ordering::SeqCst), 500, "no rebuild after the last notification");
    }
}
