//! What the gateway counts, and its Prometheus text exposition (`GET /metrics` on the admin
//! listener).
//!
//! Every counter is an atomic in a table sized at start (route slots × decision × status), and
//! every histogram a fixed set of buckets, so recording a request is a few relaxed atomic
//! adds: no lock, no allocation, no label map on the request path. Labels are put together
//! only when `/metrics` is scraped.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Route patterns counted apart over a gateway's life (reloads add patterns); requests on
/// patterns past this many are counted under `-`.
pub const ROUTE_SLOTS: usize = 256;

/// The statuses counted by value; anything else is counted as `other`.
const STATUSES: [u16; 20] =
    [200, 201, 202, 204, 206, 301, 302, 304, 400, 401, 403, 404, 405, 413, 429, 431, 500, 502, 503, 504];
const OTHER_STATUS: usize = STATUSES.len();

/// What the decision step said about a request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Decided {
    /// Refused before a decision (framing, target, route, token, readiness).
    #[default]
    None,
    Allow,
    Deny,
    /// Denied the collection, forwarded to be answered with only the items it may read.
    Filter,
}

impl Decided {
    const ALL: [Decided; 4] = [Decided::None, Decided::Allow, Decided::Deny, Decided::Filter];

    fn index(self) -> usize {
        self as usize
    }

    fn label(self) -> &'static str {
        match self {
            Decided::None => "none",
            Decided::Allow => "allow",
            Decided::Deny => "deny",
            Decided::Filter => "filter",
        }
    }
}

/// A histogram with fixed upper bounds.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [u64],
    /// One per bound, then +Inf.
    counts: Box<[AtomicU64]>,
    sum: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [u64]) -> Histogram {
        Histogram { bounds, counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(), sum: AtomicU64::new(0) }
    }

    /// Records one observation.
    pub fn observe(&self, value: u64) {
        let i = self.bounds.iter().position(|b| value <= *b).unwrap_or(self.bounds.len());
        if let Some(c) = self.counts.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    /// `scale` divides bounds and sum for the exposition (e.g. nanoseconds to seconds).
    fn write(&self, out: &mut String, name: &str, help: &str, scale: f64) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, c) in self.counts.iter().enumerate() {
            cumulative += c.load(Ordering::Relaxed);
            match self.bounds.get(i) {
                Some(b) => {
                    let _ = writeln!(out, "{name}_bucket{{le=\"{}\"}} {cumulative}", *b as f64 / scale);
                }
                None => {
                    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
                }
            }
        }
        let _ = writeln!(out, "{name}_sum {}", self.sum.load(Ordering::Relaxed) as f64 / scale);
        let _ = writeln!(out, "{name}_count {cumulative}");
    }
}

/// Nanoseconds: 1 µs to 1 ms.
const DECISION_NS: &[u64] = &[1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000];
/// Microseconds: 0.5 ms to 10 s.
const UPSTREAM_US: &[u64] =
    &[500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 10_000_000];

/// Milliseconds: 1 ms to 10 s.
const STORE_LAG_MS: &[u64] = &[1, 2, 5, 10, 25, 50, 100, 250, 1_000, 10_000];

/// The gateway's counters.
#[derive(Debug)]
pub struct Metrics {
    /// Route patterns, each in the slot it was first given; requests no route matched are
    /// counted under `-`. Locked only when routes are bound (start, reload) and on a scrape.
    routes: Mutex<Vec<String>>,
    /// (route + 1) × decision × status.
    requests: Box<[AtomicU64]>,
    pub decision_latency: Histogram,
    pub upstream_latency: Histogram,
    /// Milliseconds from another replica's commit to this replica's snapshot.
    pub store_lag: Histogram,
    /// Per route + 1 (as `requests`): the candidate policy denied what the live one allowed,
    /// and the other way round.
    shadow_allow_to_deny: Box<[AtomicU64]>,
    shadow_deny_to_allow: Box<[AtomicU64]>,
}

impl Metrics {
    /// Counters with `routes` in the first slots (more are given by [`slots`](Self::slots)).
    pub fn new(mut routes: Vec<String>) -> Metrics {
        routes.truncate(ROUTE_SLOTS);
        let n_routes = ROUTE_SLOTS;
        let cells = (n_routes + 1) * Decided::ALL.len() * (STATUSES.len() + 1);
        Metrics {
            routes: Mutex::new(routes),
            requests: (0..cells).map(|_| AtomicU64::new(0)).collect(),
            decision_latency: Histogram::new(DECISION_NS),
            upstream_latency: Histogram::new(UPSTREAM_US),
            store_lag: Histogram::new(STORE_LAG_MS),
            shadow_allow_to_deny: (0..=n_routes).map(|_| AtomicU64::new(0)).collect(),
            shadow_deny_to_allow: (0..=n_routes).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The slot of each pattern: the one it had, or a new one (`usize::MAX`, counted under
    /// `-`, once every slot is taken).
    pub fn slots<'a>(&self, patterns: impl Iterator<Item = &'a str>) -> Vec<usize> {
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        patterns
            .map(|p| match routes.iter().position(|r| r == p) {
                Some(i) => i,
                None if routes.len() < ROUTE_SLOTS => {
                    routes.push(p.to_string());
                    routes.len() - 1
                }
                None => usize::MAX,
            })
            .collect()
    }

    fn labels(&self) -> Vec<String> {
        self.routes.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Counts one disagreement of the candidate policy with the live one on route slot `route`.
    pub fn shadow(&self, route: usize, live_allowed: bool) {
        let table = if live_allowed { &self.shadow_allow_to_deny } else { &self.shadow_deny_to_allow };
        if let Some(c) = table.get(route.min(ROUTE_SLOTS)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn cell(&self, route: Option<usize>, decided: Decided, status: u16) -> usize {
        let route = route.filter(|r| *r < ROUTE_SLOTS).map_or(0, |r| r + 1);
        let status = STATUSES.iter().position(|s| *s == status).unwrap_or(OTHER_STATUS);
        (route * Decided::ALL.len() + decided.index()) * (STATUSES.len() + 1) + status
    }

    /// Counts one finished request.
    pub fn request(&self, route: Option<usize>, decided: Decided, status: u16) {
        if let Some(c) = self.requests.get(self.cell(route, decided, status)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Requests counted so far for (route, decision, status).
    pub fn requests(&self, route: Option<usize>, decided: Decided, status: u16) -> u64 {
        self.requests.get(self.cell(route, decided, status)).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// The request counters and histograms in Prometheus text format.
    pub fn write(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP portcullis_requests_total Requests answered, by route pattern, decision and status.\n\
             # TYPE portcullis_requests_total counter"
        );
        let labels = self.labels();
        for route in 0..=labels.len() {
            let label = if route == 0 { "-" } else { labels.get(route - 1).map_or("-", String::as_str) };
            let route = route.checked_sub(1);
            for decided in Decided::ALL {
                for (si, status) in STATUSES.iter().map(|s| s.to_string()).chain(["other".to_string()]).enumerate() {
                    let code = STATUSES.get(si).copied().unwrap_or(0);
                    let n = self.requests.get(self.cell(route, decided, code)).map_or(0, |c| c.load(Ordering::Relaxed));
                    if n > 0 {
                        let _ = writeln!(
                            out,
                            "portcullis_requests_total{{route=\"{}\",decision=\"{}\",status=\"{status}\"}} {n}",
                            escape(label),
                            decided.label()
                        );
                    }
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP portcullis_shadow_disagreements_total Requests the candidate policy decided otherwise than \
             the live one, by route and change.\n# TYPE portcullis_shadow_disagreements_total counter"
        );
        for (change, table) in
            [("allow->deny", &self.shadow_allow_to_deny), ("deny->allow", &self.shadow_deny_to_allow)]
        {
            for (i, c) in table.iter().enumerate() {
                let n = c.load(Ordering::Relaxed);
                if n > 0 {
                    let label = labels.get(i).map_or("-", String::as_str);
                    let _ = writeln!(
                        out,
                        "portcullis_shadow_disagreements_total{{route=\"{}\",change=\"{change}\"}} {n}",
                        escape(label)
                    );
                }
            }
        }
        single(
            out,
            "portcullis_decision_log_dropped_total",
            "counter",
            "Decision log lines dropped because the writer was behind (a full queue) or could not write.",
            crate::decisions::dropped(),
        );
        self.decision_latency.write(
            out,
            "portcullis_decision_seconds",
            "Time to decide one request against the snapshot.",
            1e9,
        );
        self.upstream_latency.write(
            out,
            "portcullis_upstream_seconds",
            "Time from sending a request upstream to its response head.",
            1e6,
        );
        self.store_lag.write(
            out,
            "portcullis_store_propagation_seconds",
            "Time from another replica's commit to this replica serving it (PostgreSQL store).",
            1e3,
        );
    }
}

/// A label value with `\`, `"` and newlines escaped.
pub fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Appends one gauge or counter with no labels.
pub fn single(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_per_route_decision_and_status() {
        let m = Metrics::new(vec!["/v1/a/{id}".into(), "/v1/b".into()]);
        m.request(Some(1), Decided::Allow, 200);
        m.request(Some(1), Decided::Allow, 200);
        m.request(None, Decided::None, 404);
        m.request(Some(0), Decided::Deny, 403);
        m.request(Some(0), Decided::Allow, 418);
        m.decision_latency.observe(3_000);
        let mut out = String::new();
        m.write(&mut out);
        assert!(
            out.contains("portcullis_requests_total{route=\"/v1/b\",decision=\"allow\",status=\"200\"} 2"),
            "{out}"
        );
        assert!(out.contains("portcullis_requests_total{route=\"-\",decision=\"none\",status=\"404\"} 1"), "{out}");
        assert!(out.contains("portcullis_requests_total{route=\"/v1/a/{id}\",decision=\"deny\",status=\"403\"} 1"));
        assert!(out.contains("portcullis_requests_total{route=\"/v1/a/{id}\",decision=\"allow\",status=\"other\"} 1"));
        assert!(out.contains("portcullis_decision_seconds_bucket{le=\"0.0000025\"} 0"), "{out}");
        assert!(out.contains("portcullis_decision_seconds_bucket{le=\"0.000005\"} 1"), "{out}");
        assert!(out.contains("portcullis_decision_seconds_count 1"), "{out}");
    }
}
