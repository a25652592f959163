//! Upstream groups: which backend an allowed request goes to.
//!
//! Each `[[upstream]]` is a group of backends chosen round robin or by consistent hashing
//! (a ring of 160 points per backend keyed by the canonical path, so one resource keeps going
//! to the same backend while the set is stable, and a backend leaving moves only its own
//! share). With a `health_check`, a background task probes every backend with `GET <path>`
//! and selection skips those that failed twice in a row (one slow probe on a busy machine
//! does not take a backend out); one success brings it back. Without one, every backend is
//! taken as healthy and a failed connect moves on to the next.
//!
//! Selection reads atomics only: no lock on the request path.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use crate::config::{self, HealthCheck, Selection};

/// Failed health checks in a row before a backend stops getting requests.
const FAILURES_BEFORE_UNHEALTHY: u32 = 2;

/// Points per backend on the consistent-hashing ring.
const POINTS_PER_BACKEND: u32 = 160;

struct Backend {
    addr: SocketAddr,
    healthy: AtomicBool,
    failures: AtomicU32,
}

enum Balancer {
    RoundRobin(AtomicUsize),
    /// (point, backend index), sorted by point.
    Consistent(Vec<(u64, usize)>),
}

/// One named group of backends.
pub struct UpstreamGroup {
    pub name: String,
    backends: Vec<Backend>,
    balancer: Balancer,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    health_check: Option<HealthCheck>,
}

impl std::fmt::Debug for UpstreamGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamGroup").field("name", &self.name).field("backends", &self.backends.len()).finish()
    }
}

/// FNV-1a, 64 bits: stable across processes and versions, so replicas agree on the ring.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

impl UpstreamGroup {
    /// The group for `upstream`, every backend healthy until a probe says otherwise.
    pub fn new(upstream: &config::Upstream) -> UpstreamGroup {
        let backends: Vec<Backend> = upstream
            .backends
            .iter()
            .map(|&addr| Backend { addr, healthy: AtomicBool::new(true), failures: AtomicU32::new(0) })
            .collect();
        let balancer = match upstream.selection {
            Selection::RoundRobin => Balancer::RoundRobin(AtomicUsize::new(0)),
            Selection::ConsistentHash => {
                let mut ring: Vec<(u64, usize)> = backends
                    .iter()
                    .enumerate()
                    .flat_map(|(i, b)| {
                        let name = b.addr.to_string();
                        (0..POINTS_PER_BACKEND).map(move |p| (fnv1a(format!("{name}-{p}").as_bytes()), i))
                    })
                    .collect();
                ring.sort_unstable();
                Balancer::Consistent(ring)
            }
        };
        UpstreamGroup {
            name: upstream.name.clone(),
            backends,
            balancer,
            connect_timeout: upstream.connect_timeout,
            read_timeout: upstream.read_timeout,
            health_check: upstream.health_check.clone(),
        }
    }

    pub fn backend_count(&self) -> usize {
        self.backends.len()
    }

    /// A healthy backend for `key` that is not in `tried`; `None` when there is none.
    pub fn select(&self, key: &[u8], tried: &[SocketAddr]) -> Option<SocketAddr> {
        let usable = |i: usize| {
            self.backends
                .get(i)
                .filter(|b| b.healthy.load(Ordering::Relaxed) && !tried.contains(&b.addr))
                .map(|b| b.addr)
        };
        let n = self.backends.len();
        match &self.balancer {
            Balancer::RoundRobin(next) => {
                let start = next.fetch_add(1, Ordering::Relaxed);
                (0..n).find_map(|k| usable(start.wrapping_add(k) % n.max(1)))
            }
            Balancer::Consistent(ring) => {
                let point = fnv1a(key);
                let first = ring.partition_point(|&(p, _)| p < point);
                // Walk the ring from the key's point to the first usable backend.
                (0..ring.len()).find_map(|k| ring.get((first + k) % ring.len()).and_then(|&(_, i)| usable(i)))
            }
        }
    }

    /// Each backend's address and whether it is healthy (always, without a health check).
    pub fn health(&self) -> Vec<(String, bool)> {
        self.backends.iter().map(|b| (b.addr.to_string(), b.healthy.load(Ordering::Relaxed))).collect()
    }

    /// Probes every backend every interval until the process ends (spawn it on a runtime);
    /// returns at once without a health check.
    pub async fn run_health_checks(self: Arc<Self>) {
        let Some(hc) = self.health_check.clone() else { return };
        let mut tick = tokio::time::interval(hc.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let mut probes = tokio::task::JoinSet::new();
            for (i, b) in self.backends.iter().enumerate() {
                let (addr, host, hc) = (b.addr, self.name.clone(), hc.clone());
                probes.spawn(async move { (i, probe(addr, &host, &hc).await) });
            }
            while let Some(Ok((i, ok))) = probes.join_next().await {
                let Some(b) = self.backends.get(i) else { continue };
                if ok {
                    b.failures.store(0, Ordering::Relaxed);
                    b.healthy.store(true, Ordering::Relaxed);
                } else if b.failures.fetch_add(1, Ordering::Relaxed) + 1 >= FAILURES_BEFORE_UNHEALTHY {
                    b.healthy.store(false, Ordering::Relaxed);
                }
            }
        }
    }
}

/// One `GET <path>` to `addr` on a new connection: a 2xx within the timeout is healthy.
async fn probe(addr: SocketAddr, host: &str, hc: &HealthCheck) -> bool {
    let attempt = async {
        let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let io = hyper_util::rt::TokioIo::new(stream);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.ok()?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let request = http::Request::get(hc.path.as_str())
            .header(http::header::HOST, host)
            .header(http::header::CONNECTION, "close")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .ok()?;
        let response = sender.send_request(request).await.ok()?;
        Some(response.status().is_success())
    };
    tokio::time::timeout(hc.timeout, attempt).await.ok().flatten().unwrap_or(false)
}
