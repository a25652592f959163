//! Keeping the live policy current: the policies folder is read again when a file in it
//! changes (`notify`) and on SIGHUP.
//!
//! A new set is published only if the whole folder validates; otherwise it is rejected
//! whole, the last good snapshot keeps serving, and the error (file, line, what to fix) is
//! reported. A gateway that starts without a valid policy is *not ready*: it answers every
//! request 503 until a valid set appears, and never decides against a partial or empty one.
//!
//! A gateway's routes (the `[[route]]` tables of its config file) are part of the snapshot:
//! a change to the config file, or SIGHUP, reads them again with the policies, and both are
//! published together or not at all.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use crate::policy::{self, FileMode, LoadError, PolicyErrors, SourceText};
use crate::route::{RouteTable, Routes, RoutesError};
use crate::snapshot::Snapshot;
use crate::source::{load_policy_dir, read_policy_dir};
use crate::swap::SnapshotHandle;

/// How long to wait after a file event for the burst to settle (an editor's save is often
/// several events: write, rename, chmod) before reading the folder.
const SETTLE: Duration = Duration::from_millis(150);

/// How many settle periods a burst of changes may extend the wait (then it reloads anyway).
const MAX_SETTLE_ROUNDS: usize = 20;

/// The live policy of a policies folder and of the orgs the control plane stores, and
/// whether one has ever loaded.
#[derive(Debug)]
pub struct LivePolicy {
    dir: PathBuf,
    handle: Arc<SnapshotHandle>,
    /// The orgs from the store, as last published: policy text and revision. Locked by
    /// writers only (reloads, store updates), and briefly: a reload reads the files and
    /// compiles with it released.
    stored: Mutex<Stored>,
    ready: AtomicBool,
    reloads: AtomicU64,
    failures: AtomicU64,
    /// When a policy was last published (seconds since the epoch; 0: never).
    published_at: AtomicU64,
    /// Where the routes are read from on a reload, for a gateway's policy.
    routes: std::sync::OnceLock<RouteSource>,
}

/// Where a gateway's routes come from: the `[[route]]` tables of its config file, bound to
/// the upstream groups it started with and counted in its metrics.
#[derive(Debug)]
pub struct RouteSource {
    pub config: PathBuf,
    /// The gateway's upstream groups, in config order.
    pub upstreams: Vec<String>,
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl RouteSource {
    /// Binds `table` to the upstream groups and metric slots.
    pub fn bind(&self, table: RouteTable) -> Result<Routes, RoutesError> {
        let metric = match &self.metrics {
            Some(m) => m.slots(table.routes().iter().map(|r| r.path.as_str())),
            None => vec![usize::MAX; table.routes().len()],
        };
        Routes::bind(table, &self.upstreams, metric)
    }

    /// Reads the config file's routes again.
    fn read(&self) -> Result<Routes, RoutesError> {
        let config = crate::config::load(&self.config).map_err(|e| RoutesError::Config(e.to_string()))?;
        self.bind(config.routes)
    }
}

impl LivePolicy {
    /// Loads `dir`. If it does not validate, the result is not ready (every request is
    /// answered 503) and the error is returned beside it for the caller to report.
    pub fn load(dir: &Path) -> (LivePolicy, Option<LoadError>) {
        let (snapshot, error) = match load_policy_dir(dir) {
            Ok(s) => (s, None),
            Err(e) => (Snapshot::empty(), Some(e)),
        };
        let live = LivePolicy {
            dir: dir.into(),
            handle: Arc::new(SnapshotHandle::new(snapshot)),
            stored: Mutex::new(Stored::default()),
            ready: AtomicBool::new(error.is_none()),
            reloads: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            published_at: AtomicU64::new(if error.is_none() { unix_now() } else { 0 }),
            routes: std::sync::OnceLock::new(),
        };
        (live, error)
    }

    /// A live policy over an already compiled snapshot (tests, benchmarks).
    pub fn from_snapshot(dir: &Path, snapshot: Snapshot) -> LivePolicy {
        LivePolicy {
            dir: dir.into(),
            handle: Arc::new(SnapshotHandle::new(snapshot)),
            stored: Mutex::new(Stored::default()),
            ready: AtomicBool::new(true),
            reloads: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            published_at: AtomicU64::new(unix_now()),
            routes: std::sync::OnceLock::new(),
        }
    }

    /// Publishes `table` (the config's routes at start) and, from now on, reads the routes
    /// from `source` on every reload. Only the first call sets the source.
    pub fn follow_routes(&self, source: RouteSource, table: RouteTable) -> Result<(), RoutesError> {
        let routes = source.bind(table)?;
        self.handle.replace_routes(Arc::new(routes));
        let _ = self.routes.set(source);
        Ok(())
    }

    /// Publishes `table` as the routes, unbound to any upstream or metric (explain).
    pub fn set_routes(&self, table: RouteTable) {
        let metric = vec![usize::MAX; table.routes().len()];
        let upstream = vec![usize::MAX; table.routes().len()];
        self.handle.replace_routes(Arc::new(Routes { table, upstream, metric }));
    }

    /// The config file the routes are read from, if they are followed.
    pub fn routes_file(&self) -> Option<&Path> {
        self.routes.get().map(|s| s.config.as_path())
    }

    /// Where the snapshot is published.
    pub fn handle(&self) -> &Arc<SnapshotHandle> {
        &self.handle
    }

    /// Whether a valid policy has been loaded. Once true, it stays true: a later invalid set
    /// is rejected and the last good one keeps serving.
    #[inline]
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Successful reloads and rejected ones since start.
    pub fn reload_counts(&self) -> (u64, u64) {
        (self.reloads.load(Ordering::Relaxed), self.failures.load(Ordering::Relaxed))
    }

    /// Reads the folder again and publishes it, with the stored orgs, if it all validates;
    /// returns the new revision. On error nothing changes.
    ///
    /// The files are read and compiled with no lock held, against a copy of the stored orgs;
    /// the result is published only if no stored org changed meanwhile (else it is compiled
    /// again), so a reload never puts an older stored org back. After
    /// [`RELOAD_ATTEMPTS`] such races it compiles holding the lock, to finish.
    pub fn reload(&self) -> Result<u64, LoadError> {
        let routes = match self.routes.get().map(RouteSource::read).transpose() {
            Ok(routes) => routes.map(Arc::new),
            Err(e) => return self.publish_reload(Err(e.into())),
        };
        let with_routes = |compiled: Result<Snapshot, LoadError>| {
            compiled.map(|mut snapshot| {
                snapshot.routes = routes.clone();
                snapshot
            })
        };
        let mut attempt = 0;
        loop {
            let (orgs, ignored, generation) = {
                let stored = self.lock_stored();
                (stored.orgs.clone(), stored.ignored.clone(), stored.generation)
            };
            let compiled = compile_with_stored(&self.dir, &orgs, &ignored);
            let stored = self.lock_stored();
            if stored.generation == generation {
                return self.publish_reload(with_routes(compiled));
            }
            attempt += 1;
            if attempt >= RELOAD_ATTEMPTS {
                let compiled = compile_with_stored(&self.dir, &stored.orgs, &stored.ignored);
                return self.publish_reload(with_routes(compiled));
            }
        }
    }

    /// Publishes what a reload compiled; the caller holds the stored-orgs lock.
    fn publish_reload(&self, compiled: Result<Snapshot, LoadError>) -> Result<u64, LoadError> {
        match compiled {
            Ok(snapshot) => {
                let revision = self.handle.replace(snapshot);
                // Published before it is announced: a reader that sees `ready` sees the set.
                self.ready.store(true, Ordering::Release);
                self.reloads.fetch_add(1, Ordering::Relaxed);
                self.published_at.store(unix_now(), Ordering::Relaxed);
                Ok(revision)
            }
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    fn lock_stored(&self) -> std::sync::MutexGuard<'_, Stored> {
        self.stored.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When a policy was last published from the files (start or reload), in seconds since
    /// the epoch; 0 if never.
    pub fn last_published(&self) -> u64 {
        self.published_at.load(Ordering::Relaxed)
    }

    /// Whether org `id` is one the store owns (as opposed to a policy file).
    pub fn is_stored(&self, id: &str) -> bool {
        self.lock_stored().orgs.contains_key(id)
    }

    /// From now on org `id` comes from the store only: a declaration of it in the policy
    /// files is left out of every reload (`portcullis demo` imports the sample orgs into its
    /// store so that the admin API can change them).
    pub fn ignore_file_org(&self, id: &str) {
        let mut stored = self.lock_stored();
        stored.ignored.insert(id.to_string());
        stored.generation += 1;
    }

    /// Publishes a stored org's policy at `revision`, unless a revision as recent is already
    /// live (notifications and a writer's own publication may arrive in any order). The org
    /// is validated against the live kinds and global roles; if it does not validate, nothing
    /// changes. Returns whether it was published.
    pub fn publish_stored(&self, id: &str, policy_text: &str, revision: u64) -> Result<bool, PolicyErrors> {
        let mut stored = self.lock_stored();
        if stored.orgs.get(id).is_some_and(|s| s.revision >= revision) {
            return Ok(false);
        }
        // Recorded even if it does not publish: the next full reload compiles it with the
        // files, and so either publishes it or is rejected naming it (`store:<org>`).
        stored.orgs.insert(id.to_string(), Arc::new(StoredText { policy: policy_text.to_string(), revision }));
        stored.generation += 1;
        let text = stored_source(id, policy_text);
        let (set, _) = policy::parse(std::slice::from_ref(&text), FileMode::Policy)?;
        let Some(org) = set.orgs.first().filter(|o| o.id.as_str() == id && set.orgs.len() == 1) else {
            return Err(policy::Problems(vec![policy::PolicyError {
                loc: set.source_loc(policy::Loc::SYNTHETIC),
                kind: policy::PolicyErrorKind::Stale {
                    message: format!("the store's text for '{id}' is not one org '{id}'"),
                },
            }]));
        };
        self.handle.update_org_at(&set, org, revision)?;
        // A store org makes a gateway that started without a policy ready only through a
        // full reload (the files must validate too).
        Ok(true)
    }

    /// The policies folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the policy files declare org `id` (file and line), if they do.
    pub fn file_declaring(&self, id: &str) -> Option<policy::SourceLoc> {
        let files = read_policy_dir(&self.dir).ok()?;
        let parsed = files
            .iter()
            .enumerate()
            .filter(|(_, f)| f.text.contains(id))
            .map(|(i, f)| (i, policy::parse(std::slice::from_ref(f), FileMode::Policy)));
        for (i, result) in parsed {
            if let (Ok((set, _)), Some(file)) = (result, files.get(i))
                && let Some(org) = set.orgs.iter().find(|o| o.id.as_str() == id)
            {
                let mut loc = set.source_loc(org.loc);
                loc.file = file.path.clone();
                return Some(loc);
            }
        }
        None
    }

    /// The revision of stored org `id` that is live, if it is one.
    pub fn stored_revision(&self, id: &str) -> Option<u64> {
        self.lock_stored().orgs.get(id).map(|s| s.revision)
    }

    /// Reloads and reports the outcome on stderr.
    fn reload_and_report(&self, why: &str) {
        match self.reload() {
            Ok(revision) => {
                eprintln!(
                    "portcullis: policies reloaded from {} ({why}): snapshot generation {revision}",
                    self.dir.display()
                );
            }
            Err(e) => {
                let keeping = if self.is_ready() {
                    format!(
                        "the last good policy (snapshot generation {}) keeps serving",
                        self.handle.load().generation()
                    )
                } else {
                    "no valid policy is loaded: every request is answered 503".to_string()
                };
                eprintln!("portcullis: policy reload ({why}) rejected, {keeping}:\n{}", e.to_string().trim_end());
            }
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Races with store publications a reload retries before it compiles holding the lock.
const RELOAD_ATTEMPTS: u32 = 3;

/// The stored orgs, and a count of their changes (so a reload can tell it raced one).
#[derive(Debug, Default)]
struct Stored {
    orgs: BTreeMap<String, Arc<StoredText>>,
    /// Orgs whose declarations in the policy files are left out (the store owns them).
    ignored: std::collections::BTreeSet<String>,
    generation: u64,
}

/// A stored org's policy text and revision.
#[derive(Clone, Debug)]
struct StoredText {
    policy: String,
    revision: u64,
}

/// How a stored org's text is named in error messages: `store:<org>`.
fn stored_source(id: &str, text: &str) -> SourceText {
    SourceText { path: PathBuf::from(format!("store:{id}")), text: text.to_string() }
}

/// The folder's files and the stored orgs, compiled together (so an org in both is reported
/// as declared twice, unless its file declaration is `ignored`), with each stored org's
/// revision set.
fn compile_with_stored(
    dir: &Path,
    stored: &BTreeMap<String, Arc<StoredText>>,
    ignored: &std::collections::BTreeSet<String>,
) -> Result<Snapshot, LoadError> {
    if stored.is_empty() && ignored.is_empty() {
        return load_policy_dir(dir);
    }
    let mut files = read_policy_dir(dir)?;
    let from_files = files.len();
    files.extend(stored.iter().map(|(id, s)| stored_source(id, &s.policy)));
    let (mut set, _) = policy::parse(&files, FileMode::Policy)?;
    set.orgs.retain(|o| (o.loc.file as usize) >= from_files || !ignored.contains(o.id.as_str()));
    let mut snapshot = policy::compile(policy::validate(&set)?);
    for (id, s) in stored {
        snapshot.set_org_revision(id, s.revision);
    }
    Ok(snapshot)
}

/// The background task that reloads a [`LivePolicy`] on file changes and SIGHUP.
pub struct Reloader {
    live: Arc<LivePolicy>,
    /// File events, from the watchers beside it.
    changes: tokio::sync::mpsc::UnboundedReceiver<std::time::Instant>,
    _watchers: Vec<notify::RecommendedWatcher>,
}

impl Reloader {
    /// Watches the policies folder (and the config file whose routes `live` follows) from
    /// now on, before the gateway serves: a change made just after start is not missed.
    pub fn new(live: Arc<LivePolicy>) -> Reloader {
        let (tx, changes) = tokio::sync::mpsc::unbounded_channel::<std::time::Instant>();
        // Any event (or a watch error) is a reason to look again; reading a folder that did
        // not change publishes an identical policy, which is harmless.
        let interesting = |event: &notify::Result<notify::Event>| {
            event.as_ref().map_or(true, |e| !matches!(e.kind, notify::EventKind::Access(_)))
        };
        let policies_tx = tx.clone();
        let mut watchers: Vec<_> = watch(&live.dir, move |event| {
            if interesting(&event) {
                let _ = policies_tx.send(std::time::Instant::now());
            }
        })
        .into_iter()
        .collect();
        // The config file's folder, for events on the config file (an editor may replace
        // the file, which a watch on the file itself would not survive).
        watchers.extend(live.routes_file().and_then(|config| {
            let name = config.file_name()?.to_owned();
            let folder = config.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            watch(folder, move |event| {
                let about_config =
                    event.as_ref().map_or(true, |e| e.paths.iter().any(|p| p.file_name() == Some(&name)));
                if about_config && interesting(&event) {
                    let _ = tx.send(std::time::Instant::now());
                }
            })
        }));
        Reloader { live, changes, _watchers: watchers }
    }

    /// Reloads on file changes and SIGHUP until `stopping` becomes true (run it on a
    /// runtime).
    pub async fn run(self, mut stopping: tokio::sync::watch::Receiver<bool>) {
        // The watchers stay alive as long as the loop, in `_watchers`.
        let Reloader { live, changes: mut changed, _watchers } = self;
        let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => {
                // From here on SIGHUP reloads (before, it would have ended the process).
                eprintln!("portcullis: {} reloads on SIGHUP", live.dir.display());
                Some(s)
            }
            Err(e) => {
                eprintln!("portcullis: cannot listen for SIGHUP ({e}); policies reload on file changes only");
                None
            }
        };
        loop {
            tokio::select! {
                () = crate::serve::stopped(&mut stopping) => return,
                Some(first) = changed.recv() => {
                    // Wait for a quiet moment: SETTLE with no event (an editor's save, or a
                    // tool writing several files, is a burst), at most MAX_SETTLE_ROUNDS
                    // settles in all.
                    let mut last = first;
                    for _ in 0..MAX_SETTLE_ROUNDS {
                        tokio::time::sleep_until(tokio::time::Instant::from_std(last + SETTLE)).await;
                        while let Ok(at) = changed.try_recv() {
                            last = last.max(at);
                        }
                        if last.elapsed() >= SETTLE {
                            break;
                        }
                    }
                    live.reload_and_report("files changed");
                }
                Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                    live.reload_and_report("SIGHUP");
                }
            }
        }
    }
}

/// A watch on `folder` calling `on_event`; `None`, with the reason on stderr, if the
/// system cannot watch it (then SIGHUP still reloads).
fn watch(
    folder: &Path,
    on_event: impl Fn(notify::Result<notify::Event>) + Send + 'static,
) -> Option<notify::RecommendedWatcher> {
    let mut watcher = match notify::recommended_watcher(on_event) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("portcullis: cannot watch for file changes ({e}); reload with SIGHUP");
            return None;
        }
    };
    match watcher.watch(folder, RecursiveMode::NonRecursive) {
        Ok(()) => Some(watcher),
        Err(e) => {
            eprintln!("portcullis: cannot watch {} for changes ({e}); reload with SIGHUP", folder.display());
            None
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, reason = "tests")]
mod tests {
    use super::LivePolicy;
    use std::path::Path;
    use std::sync::Arc;

    fn zeta(member: usize) -> String {
        format!("[[org]]\nid = \"zeta\"\nowner = \"zed\"\nmembers = [\"zed\", \"m{member}\"]\n")
    }

    /// Reloads race store publications: whichever finishes last, the live org is the newest
    /// stored revision, never one a reload compiled from an older copy.
    #[test]
    fn a_reload_never_puts_back_an_older_stored_org() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        let (live, error) = LivePolicy::load(&dir);
        assert!(error.is_none(), "{error:?}");
        let live = Arc::new(live);
        live.publish_stored("zeta", &zeta(1), 1).unwrap();
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reloader = {
            let (live, done) = (live.clone(), done.clone());
            std::thread::spawn(move || {
                for _ in 0..30 {
                    live.reload().unwrap();
                }
                done.store(true, std::sync::atomic::Ordering::SeqCst);
            })
        };
        let mut revision = 1;
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            let live_now = live.handle().load().org("zeta").map(|o| o.model.revision);
            assert_eq!(live_now, Some(revision), "a reload put back an older zeta");
            revision += 1;
            live.publish_stored("zeta", &zeta(revision as usize), revision).unwrap();
        }
        reloader.join().unwrap();
        let snapshot = live.handle().load();
        let org = snapshot.org("zeta").unwrap();
        assert_eq!(org.model.revision, revision);
        assert!(org.model.members.iter().any(|m| *m.id == *format!("m{revision}")), "an older text of zeta is live");
        assert_eq!(live.stored_revision("zeta"), Some(revision));
    }
}
