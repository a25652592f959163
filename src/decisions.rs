//! Decision logs: one JSON line per decision (`tracing` with a JSON layer), to stdout or a
//! file, as `[log]` says: every denial, and allowed requests at a sample rate.
//!
//! A line carries what a person needs to see why a request was decided as it was: request
//! id, method, canonical path, principal, org, resource (kind, level, project, id), verb,
//! the decision and its reason, the org's revision (the number admin writes return; 0 for
//! an org from the policy files) and the replica's snapshot generation, the route, and at the end of the
//! request the status, the upstream's latency and the total. Never a token: the principal
//! is the id the token named.
//!
//! Only requests that will be logged pay for the record (and for the explanation behind
//! `reason`); sampling is every Nth allowed request by request id, with no random source
//! or lock on the request path. Lines go through a bounded queue to a writer thread: a
//! proxy thread never waits for a disk or a pipe, and a line that finds the queue full is
//! dropped and counted (`portcullis_decision_log_dropped_total`).
//!
//! Each line is one JSON object with unique keys: `timestamp`, `level` and `target` from the
//! logger, the fields below (the resource's level is `resource_level`).

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;

use crate::config::{DecisionLogging, LogSpec};

/// The `tracing` target of decision lines.
pub const TARGET: &str = "portcullis::decision";

/// Which decisions a gateway logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Log every denial.
    pub denies: bool,
    /// Log one allowed request in this many (0: none).
    pub allow_every: u64,
}

impl Policy {
    pub const OFF: Policy = Policy { denies: false, allow_every: 0 };

    pub fn from_spec(spec: Option<&LogSpec>) -> Policy {
        match spec {
            None => Policy::OFF,
            Some(s) => {
                let allow_every = match s.decisions {
                    DecisionLogging::Deny => 0,
                    DecisionLogging::All if s.allow_sample > 0.0 => (1.0 / s.allow_sample).round().max(1.0) as u64,
                    DecisionLogging::All => 0,
                };
                Policy { denies: true, allow_every }
            }
        }
    }

    /// Whether the decision of request `request_id` is logged.
    #[inline]
    pub fn logs(&self, allowed: bool, request_id: u64) -> bool {
        if allowed { self.allow_every != 0 && request_id.is_multiple_of(self.allow_every) } else { self.denies }
    }
}

/// What a logged request carries from its decision to its end.
#[derive(Clone, Debug, Default)]
pub struct Record {
    pub principal: String,
    pub org: String,
    pub kind: String,
    pub level: &'static str,
    pub project: Option<String>,
    pub id: Option<String>,
    pub verb: &'static str,
    pub allowed: bool,
    /// Denied the collection, but forwarded for its answer to be filtered to the items the
    /// caller may read (a route's `filter`): logged as decision `filter`.
    pub filtered: bool,
    pub reason: String,
    /// The org's revision the decision was made at: what an admin write returned.
    pub org_revision: u64,
    /// How many snapshots this replica had published (reloads and org updates).
    pub snapshot_generation: u64,
    pub route: String,
}

/// Writes one decision line.
pub fn emit(
    r: &Record,
    request_id: u64,
    method: &str,
    path: &str,
    status: u16,
    upstream_us: Option<u64>,
    total_us: u64,
) {
    tracing::info!(
        target: TARGET,
        request_id,
        method,
        path,
        principal = r.principal.as_str(),
        org = r.org.as_str(),
        kind = r.kind.as_str(),
        resource_level = r.level,
        project = r.project.as_deref(),
        id = r.id.as_deref(),
        verb = r.verb,
        decision = if r.filtered {
            "filter"
        } else if r.allowed {
            "allow"
        } else {
            "deny"
        },
        reason = r.reason.as_str(),
        org_revision = r.org_revision,
        snapshot_generation = r.snapshot_generation,
        route = r.route.as_str(),
        status,
        upstream_us,
        total_us,
    );
}

/// The `tracing` target of shadow disagreements.
pub const SHADOW_TARGET: &str = "portcullis::shadow";

/// One disagreement between the live policy and the candidate, with both reasons.
#[derive(Debug)]
pub struct Disagreement<'a> {
    pub request_id: u64,
    pub method: &'a str,
    pub path: &'a str,
    pub route: &'a str,
    pub principal: &'a str,
    pub live_allowed: bool,
    pub live_reason: &'a str,
    pub candidate_reason: &'a str,
}

/// Writes one disagreement: to the decision log when one is installed, else to stderr.
pub fn emit_shadow(d: &Disagreement<'_>, to_stderr: bool) {
    let word = |allowed: bool| if allowed { "allow" } else { "deny" };
    let change = if d.live_allowed { "allow->deny" } else { "deny->allow" };
    if to_stderr {
        let line = serde_json::json!({
            "shadow": change, "request_id": d.request_id, "method": d.method, "path": d.path, "route": d.route,
            "principal": d.principal, "live": word(d.live_allowed), "live_reason": d.live_reason,
            "candidate": word(!d.live_allowed), "candidate_reason": d.candidate_reason,
        });
        eprintln!("portcullis: shadow disagreement {line}");
        return;
    }
    tracing::info!(
        target: SHADOW_TARGET,
        shadow = change,
        request_id = d.request_id,
        method = d.method,
        path = d.path,
        route = d.route,
        principal = d.principal,
        live = word(d.live_allowed),
        live_reason = d.live_reason,
        candidate = word(!d.live_allowed),
        candidate_reason = d.candidate_reason,
    );
}

/// Lines the writer thread may be behind by before new ones are dropped.
const QUEUE_LINES: usize = 16_384;

/// Decision and shadow lines dropped because the writer was that far behind (or gone).
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// How many lines the decision log has dropped since the process started.
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// The logger's writer: each formatted line is handed to the writer thread, or dropped and
/// counted if the queue is full. Never blocks.
#[derive(Clone)]
struct Queue(SyncSender<Vec<u8>>);

impl Write for Queue {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.try_send(buf.to_vec()) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                DROPPED.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Queue {
    type Writer = Queue;

    fn make_writer(&'a self) -> Queue {
        self.clone()
    }
}

/// Bytes gathered from the queue before they are written out in one call.
const WRITE_BYTES: usize = 64 * 1024;

/// Writes queued lines to `out`, gathered into one write of up to [`WRITE_BYTES`] or of
/// whatever is queued, whichever is less; ends when every sender is gone. The lines of a
/// write that fails are counted as dropped (not kept to be written twice); the first error
/// is reported.
fn drain(lines: &Receiver<Vec<u8>>, mut out: Box<dyn Write + Send>, name: &str) {
    let mut reported = false;
    let mut batch: Vec<u8> = Vec::with_capacity(WRITE_BYTES);
    let mut count = 0u64;
    let mut write_out = |batch: &mut Vec<u8>, count: &mut u64| {
        if let Err(e) = out.write_all(batch).and_then(|()| out.flush()) {
            DROPPED.fetch_add(*count, Ordering::Relaxed);
            if !std::mem::replace(&mut reported, true) {
                eprintln!("portcullis: cannot write the decision log {name}: {e}; lines are dropped and counted");
            }
        }
        batch.clear();
        *count = 0;
    };
    while let Ok(first) = lines.recv() {
        let mut next = Some(first);
        while let Some(line) = next {
            batch.extend_from_slice(&line);
            count += 1;
            if batch.len() >= WRITE_BYTES {
                write_out(&mut batch, &mut count);
            }
            next = lines.try_recv().ok();
        }
        write_out(&mut batch, &mut count);
    }
}

/// Installs the JSON writer for decision lines (to `spec.file`, appended, or stdout) behind
/// a bounded queue and a writer thread. Other `tracing` events (the store's driver logs
/// some) are not written there.
pub fn install(spec: &LogSpec) -> Result<(), String> {
    let filter =
        Targets::new().with_target(TARGET, tracing::Level::INFO).with_target(SHADOW_TARGET, tracing::Level::INFO);
    let (out, name): (Box<dyn Write + Send>, String) = match &spec.file {
        Some(path) => (Box::new(open(path)?), path.display().to_string()),
        None => (Box::new(std::io::stdout()), "(stdout)".into()),
    };
    let (tx, rx) = sync_channel(QUEUE_LINES);
    std::thread::Builder::new()
        .name("portcullis-decision-log".into())
        .spawn(move || drain(&rx, out, &name))
        .map_err(|e| format!("cannot start the decision log writer: {e}"))?;
    let layer = tracing_subscriber::fmt::layer().json().flatten_event(true).with_current_span(false);
    let subscriber = tracing_subscriber::registry().with(layer.with_writer(Queue(tx)).with_filter(filter));
    tracing::subscriber::set_global_default(subscriber).map_err(|e| format!("cannot install the decision log: {e}"))
}

fn open(path: &Path) -> Result<std::fs::File, String> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open the decision log {}: {e}", path.display()))
}
