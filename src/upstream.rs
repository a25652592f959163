//! Step 5 of a request's path: choose the backend an allowed request is forwarded to.
//!
//! Each `[[upstream]]` is a pingora `LoadBalancer` over its backends, round robin or
//! consistent hashing (Ketama, keyed by the canonical path, so one resource keeps going to
//! the same backend while the set is stable). With a `health_check`, a background service
//! probes every backend with `GET <path>` and selection skips those that fail twice in a
//! row (so one slow probe does not take a backend out); without one,
//! every backend is taken as healthy and a failed connect moves on to the next.
//!
//! What the client sees when forwarding fails is decided in the gateway: no backend
//! accepts a connection, 502; a backend times out, 504. A request whose bytes may have
//! reached a backend is never retried unless its method is idempotent (pingora's rule);
//! a failed connect is retried on another backend, since nothing was sent.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pingora::lb::health_check::HttpHealthCheck;
use pingora::lb::selection::{Consistent, RoundRobin};
use pingora::lb::{Backend, LoadBalancer};
use pingora::services::ServiceWithDependents;
use pingora::services::background::background_service;

use crate::config::{self, Selection};

/// Failed health checks in a row before a backend stops getting requests.
const FAILURES_BEFORE_UNHEALTHY: usize = 2;

/// How far selection looks for a healthy backend that was not tried yet.
const MAX_SELECT_STEPS: usize = 256;

enum Balancer {
    RoundRobin(Arc<LoadBalancer<RoundRobin>>),
    Consistent(Arc<LoadBalancer<Consistent>>),
}

/// One named group of backends.
pub struct UpstreamGroup {
    pub name: String,
    balancer: Balancer,
    pub backend_count: usize,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
}

impl std::fmt::Debug for UpstreamGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamGroup").field("name", &self.name).field("backends", &self.backend_count).finish()
    }
}

impl UpstreamGroup {
    /// A healthy backend for `key` that is not in `tried`; `None` when there is none.
    pub fn select(&self, key: &[u8], tried: &[SocketAddr]) -> Option<SocketAddr> {
        let accept = |b: &Backend, healthy: bool| healthy && b.addr.as_inet().is_some_and(|a| !tried.contains(a));
        let backend = match &self.balancer {
            Balancer::RoundRobin(lb) => lb.select_with(key, MAX_SELECT_STEPS, accept),
            Balancer::Consistent(lb) => lb.select_with(key, MAX_SELECT_STEPS, accept),
        };
        backend.and_then(|b| b.addr.as_inet().copied())
    }
}

impl UpstreamGroup {
    /// Each backend's address and whether it is healthy (always, without a health check).
    pub fn health(&self) -> Vec<(String, bool)> {
        fn of<S>(lb: &LoadBalancer<S>) -> Vec<(String, bool)>
        where
            S: pingora::lb::selection::BackendSelection + 'static,
            S::Iter: pingora::lb::selection::BackendIter,
        {
            lb.backends().get_backend().iter().map(|b| (b.addr.to_string(), lb.backends().ready(b))).collect()
        }
        match &self.balancer {
            Balancer::RoundRobin(lb) => of(lb),
            Balancer::Consistent(lb) => of(lb),
        }
    }
}

/// Builds the group for `upstream`, and the health-check service to run beside the proxy
/// when it has a `health_check`.
pub fn build(upstream: &config::Upstream) -> Result<(UpstreamGroup, Option<Box<dyn ServiceWithDependents>>), String> {
    let cannot = |e: std::io::Error| format!("upstream '{}': cannot use its backends: {e}", upstream.name);
    let (balancer, service): (Balancer, Option<Box<dyn ServiceWithDependents>>) = match upstream.selection {
        Selection::RoundRobin => {
            let lb = LoadBalancer::<RoundRobin>::try_from_iter(upstream.backends.iter().copied()).map_err(cannot)?;
            let (lb, service) = with_health_check(lb, upstream);
            (Balancer::RoundRobin(lb), service)
        }
        Selection::ConsistentHash => {
            let lb = LoadBalancer::<Consistent>::try_from_iter(upstream.backends.iter().copied()).map_err(cannot)?;
            let (lb, service) = with_health_check(lb, upstream);
            (Balancer::Consistent(lb), service)
        }
    };
    let group = UpstreamGroup {
        name: upstream.name.clone(),
        balancer,
        backend_count: upstream.backends.len(),
        connect_timeout: upstream.connect_timeout,
        read_timeout: upstream.read_timeout,
    };
    Ok((group, service))
}

fn with_health_check<S>(
    mut lb: LoadBalancer<S>,
    upstream: &config::Upstream,
) -> (Arc<LoadBalancer<S>>, Option<Box<dyn ServiceWithDependents>>)
where
    S: pingora::lb::selection::BackendSelection + Send + Sync + 'static,
    S::Iter: pingora::lb::selection::BackendIter,
{
    let Some(hc) = &upstream.health_check else {
        return (Arc::new(lb), None);
    };
    let mut check = HttpHealthCheck::new(&upstream.name, false);
    if let Ok(req) = pingora::http::RequestHeader::build("GET", hc.path.as_bytes(), None) {
        check.req = req;
        let _ = check.req.insert_header("host", upstream.name.as_str());
    }
    check.peer_template.options.connection_timeout = Some(hc.timeout);
    check.peer_template.options.read_timeout = Some(hc.timeout);
    // One slow probe on a busy machine should not take the only backend out of service.
    check.consecutive_failure = FAILURES_BEFORE_UNHEALTHY;
    lb.set_health_check(Box::new(check));
    lb.health_check_frequency = Some(hc.interval);
    let service = background_service(&format!("health check of upstream {}", upstream.name), lb);
    let lb = service.task();
    (lb, Some(Box::new(service)))
}
