//! The gateway on pingora: every request head goes through the [`pipeline`] in
//! `request_filter` (admit, canonicalise, route, authenticate, decide), and only an allowed
//! request reaches `upstream_peer` and `upstream_request_filter`, which forward exactly the
//! canonical target with the gateway's identity headers.
//!
//! Rejections are the pipeline's, as JSON `{"error", "request_id"}` bodies; the reason for
//! a denial is added only when `explain_denials` is set.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::{HttpPeer, ProxyHttp, Session};
use pingora::proxy::FailToProxy;
use pingora::{Error, ErrorSource, ErrorType, Result};

use crate::admit::Wire;
use crate::auth::Verifier;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::reload::{LivePolicy, Reloader};
use crate::upstream::UpstreamGroup;

pub mod pipeline;
pub mod sockets;

use pipeline::{Head, Passage, Pipeline, Rejection, Verdict};

/// Headers the gateway sets for the upstream. Client-sent ones (in any spelling) are removed.
pub const PRINCIPAL_HEADER: &str = "x-portcullis-principal";
pub const ORG_HEADER: &str = "x-portcullis-org";
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Why a client-sent header is removed before forwarding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Strip {
    /// Identity headers the gateway sets (in every `_`/`.` spelling), rewrite and
    /// method-override headers, and the credential: removed from everyone.
    Always,
    /// `X-Forwarded-*`, `Forwarded`, `X-Real-IP`: kept only from a trusted proxy.
    Forwarding,
}

/// Whether and why `name` is removed. Compares without allocating: it runs for every
/// header of every request.
fn strip(name: &str) -> Option<Strip> {
    /// `name` equals `want` (lower case, `-` separated) up to case and `_`/`.` for `-`.
    fn same(name: &[u8], want: &[u8]) -> bool {
        name.len() == want.len()
            && name.iter().zip(want).all(|(&a, &b)| {
                let a = if a == b'_' || a == b'.' { b'-' } else { a.to_ascii_lowercase() };
                a == b
            })
    }
    let n = name.as_bytes();
    let prefixed = |p: &[u8]| n.len() > p.len() && n.get(..p.len()).is_some_and(|head| same(head, p));
    let always = [
        &b"x-request-id"[..],
        b"x-original-url",
        b"x-rewrite-url",
        b"x-http-method-override",
        b"x-method-override",
        b"x-http-method",
        b"authorization",
    ];
    if prefixed(b"x-portcullis-") || always.iter().any(|w| same(n, w)) {
        Some(Strip::Always)
    } else if prefixed(b"x-forwarded-") || same(n, b"forwarded") || same(n, b"x-real-ip") {
        Some(Strip::Forwarding)
    } else {
        None
    }
}

/// Whether a header is removed for a peer that is (or is not) a trusted proxy.
fn stripped(name: &str, trusted_peer: bool) -> bool {
    match strip(name) {
        Some(Strip::Always) => true,
        Some(Strip::Forwarding) => !trusted_peer,
        None => false,
    }
}

/// The proxy: the request pipeline, and the upstream groups allowed requests go to.
pub struct Gateway {
    pipeline: pipeline::Pipeline,
    /// Indexed like the config's `[[upstream]]`; `route_upstream` maps routes to them.
    upstreams: Arc<Vec<UpstreamGroup>>,
    metrics: Arc<Metrics>,
    route_upstream: Vec<usize>,
    trusted_proxies: Vec<crate::config::Cidr>,
    next_request_id: AtomicU64,
}

/// What one request carries from phase to phase.
#[derive(Default)]
pub struct Ctx {
    passage: Passage,
    /// Bytes of a chunked request body seen so far (counted against the body limit).
    body_bytes: u64,
    /// Backends a connection was attempted to for this request, in order.
    tried: Vec<SocketAddr>,
    /// The client's address, and whether it is a trusted proxy.
    peer: Option<std::net::IpAddr>,
    trusted_peer: bool,
    request_id: u64,
    /// When the request was sent upstream.
    sent_upstream: Option<std::time::Instant>,
    /// When the gateway started on it, and the upstream's time to a response head.
    started: Option<std::time::Instant>,
    upstream_us: Option<u64>,
}

impl Gateway {
    /// The gateway for `config`; `upstreams` are built from its `[[upstream]]` in order.
    pub fn new(
        config: &Config,
        pipeline: Pipeline,
        upstreams: Arc<Vec<UpstreamGroup>>,
        metrics: Arc<Metrics>,
    ) -> Gateway {
        // The config checked that every route names a declared upstream.
        let route_upstream = config
            .routes
            .routes()
            .iter()
            .map(|r| upstreams.iter().position(|u| u.name == r.upstream).unwrap_or(usize::MAX))
            .collect();
        Gateway {
            pipeline,
            upstreams,
            metrics,
            route_upstream,
            trusted_proxies: config.gateway.trusted_proxies.clone(),
            next_request_id: AtomicU64::new(1),
        }
    }

    /// Waits until the live snapshot has org `org` at `wanted` or later; false past
    /// `revision_wait`.
    async fn wait_for_revision(&self, org: &str, wanted: u64) -> bool {
        let handle = self.pipeline.policy().handle();
        // Subscribed before the first look, so a publication in between is not missed.
        let mut published = handle.subscribe();
        let deadline = tokio::time::Instant::now() + self.pipeline.revision_wait();
        loop {
            if handle.load().org(org).is_some_and(|o| o.model.revision >= wanted) {
                return true;
            }
            match tokio::time::timeout_at(deadline, published.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return false,
            }
        }
    }

    async fn reject(&self, session: &mut Session, ctx: &Ctx, rejection: Rejection) -> Result<bool> {
        if rejection.close {
            session.set_keepalive(None);
        }
        self.respond_error(session, ctx, rejection.status, &rejection.error, rejection.reason, rejection.header).await
    }

    async fn respond_error(
        &self,
        session: &mut Session,
        ctx: &Ctx,
        status: u16,
        error: &str,
        reason: Option<String>,
        header: Option<(&'static str, String)>,
    ) -> Result<bool> {
        let mut body = serde_json::json!({ "error": error, "request_id": ctx.request_id.to_string() });
        if let (Some(reason), Some(map)) = (reason, body.as_object_mut()) {
            map.insert("reason".into(), serde_json::Value::String(reason));
        }
        let body = Bytes::from(body.to_string());
        let mut resp = ResponseHeader::build(status, Some(4))?;
        resp.insert_header("content-type", "application/json")?;
        resp.insert_header("content-length", body.len().to_string())?;
        resp.insert_header(REQUEST_ID_HEADER, ctx.request_id.to_string())?;
        if let Some((name, value)) = header {
            resp.insert_header(name, value)?;
        }
        session.write_response_header(Box::new(resp), false).await?;
        session.write_response_body(Some(body), true).await?;
        Ok(true)
    }
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx::default()
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        ctx.request_id = self.next_request_id.fetch_add(1, Ordering::Relaxed);
        ctx.started = Some(std::time::Instant::now());
        ctx.peer = session.client_addr().and_then(|a| a.as_inet()).map(|a| a.ip());
        ctx.trusted_peer = ctx.peer.is_some_and(|ip| self.trusted_proxies.iter().any(|c| c.contains(ip)));
        let limits = self.pipeline.limits();
        session.set_keepalive(Some(limits.idle_timeout.as_secs()));
        session.set_read_timeout(Some(limits.body_timeout));

        let wire = Wire::from_raw(&session.to_h1_raw());
        let mut may_wait = true;
        loop {
            let request = session.req_header();
            let head =
                Head { method: request.method.as_str(), target: request.raw_path(), headers: &request.headers, wire };
            match self.pipeline.verdict(&head, ctx.request_id, &mut ctx.passage, may_wait) {
                Verdict::Forward => return Ok(false),
                Verdict::Reject(rejection) => return self.reject(session, ctx, rejection).await,
                Verdict::Await { revision } => {
                    let org = std::mem::take(&mut ctx.passage.org);
                    self.wait_for_revision(&org, revision).await;
                    may_wait = false;
                    ctx.passage = Passage::default();
                }
            }
        }
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // A declared length was checked in `admit`; a chunked body is counted as it comes.
        ctx.body_bytes += body.as_ref().map_or(0, |b| b.len() as u64);
        if ctx.body_bytes > self.pipeline.limits().max_body_bytes {
            return Err(Error::explain(ErrorType::HTTPStatus(413), "request body over max_body_bytes"));
        }
        Ok(())
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let upstream = self
            .route_upstream
            .get(ctx.passage.route.unwrap_or(usize::MAX))
            .and_then(|&i| self.upstreams.get(i))
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "route names an unknown upstream"))?;
        let Some(backend) = upstream.select(ctx.passage.canonical.path().as_bytes(), &ctx.tried) else {
            let why = if ctx.tried.is_empty() { "no healthy backend" } else { "no backend accepted the connection" };
            return Err(Error::explain(ErrorType::HTTPStatus(502), why));
        };
        // Each backend is tried once at most. A request whose bytes may have reached a
        // backend is retried only if idempotent (pingora's `error_while_proxy`).
        ctx.tried.push(backend);
        let mut peer = HttpPeer::new(backend, false, String::new());
        peer.options.connection_timeout = Some(upstream.connect_timeout);
        peer.options.read_timeout = Some(upstream.read_timeout);
        Ok(Box::new(peer))
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Ctx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        // Nothing was sent: trying the next backend is safe for any method.
        let backends =
            self.route_upstream.get(ctx.passage.route.unwrap_or(usize::MAX)).and_then(|&i| self.upstreams.get(i));
        let backends = backends.map_or(0, |u| u.backend_count);
        e.set_retry(ctx.tried.len() < backends);
        e
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        let code = match e.etype() {
            ErrorType::HTTPStatus(code) => *code,
            ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout
                if e.esource() == &ErrorSource::Upstream =>
            {
                504
            }
            _ => match e.esource() {
                ErrorSource::Upstream => 502,
                ErrorSource::Downstream => match e.etype() {
                    ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => 0,
                    _ => 400,
                },
                ErrorSource::Internal | ErrorSource::Unset => 500,
            },
        };
        if code > 0 {
            let message = match code {
                502 => "bad gateway: no backend of the upstream answered",
                504 => "gateway timeout: the upstream did not answer in time",
                413 => "the request body is larger than max_body_bytes",
                400 => "bad request",
                _ => "the request could not be forwarded",
            };
            // The response may already have started; then there is nothing left to say.
            let _ = self.respond_error(session, ctx, code, message, None, None).await;
        }
        FailToProxy { error_code: code, can_reuse_downstream: false }
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // 5. Forward exactly the target that was classified. Usually the client sent it in
        // canonical form already, and the request line is left as it is.
        if !ctx.passage.canonical.is_target(upstream_request.raw_path()) {
            let uri: http::Uri = ctx
                .passage
                .canonical
                .path_and_query()
                .parse()
                .map_err(|e| Error::because(ErrorType::InternalError, "canonical target is not a URI", e))?;
            upstream_request.set_uri(uri);
        }
        let trusted = ctx.trusted_peer;
        if upstream_request.headers.keys().any(|k| stripped(k.as_str(), trusted)) {
            let names: Vec<http::HeaderName> =
                upstream_request.headers.keys().filter(|k| stripped(k.as_str(), trusted)).cloned().collect();
            for name in names {
                upstream_request.remove_header(&name);
            }
        }
        // The client's address, after those of the trusted proxies it came through.
        if let Some(peer) = ctx.peer {
            let forwarded_for = match upstream_request.headers.get("x-forwarded-for").map(|v| v.to_str()) {
                Some(Ok(earlier)) => format!("{earlier}, {peer}"),
                _ => peer.to_string(),
            };
            upstream_request.insert_header("x-forwarded-for", forwarded_for)?;
        }
        if let Some(p) = &ctx.passage.principal {
            upstream_request.insert_header(PRINCIPAL_HEADER, p.header_value.clone())?;
        }
        upstream_request.insert_header(ORG_HEADER, ctx.passage.org.as_str())?;
        if let Some(host) = &ctx.passage.host {
            upstream_request.insert_header(http::header::HOST, host.as_str())?;
        }
        upstream_request.insert_header(REQUEST_ID_HEADER, ctx.request_id.to_string())?;
        ctx.sent_upstream = Some(std::time::Instant::now());
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        _upstream_response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if let Some(sent) = ctx.sent_upstream.take() {
            let us = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.metrics.upstream_latency.observe(us);
            ctx.upstream_us = Some(us);
        }
        Ok(())
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut Ctx) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        self.metrics.request(ctx.passage.route, ctx.passage.decided, status);
        if let Some(record) = ctx.passage.record.take() {
            let total_us = ctx.started.map_or(0, |s| u64::try_from(s.elapsed().as_micros()).unwrap_or(u64::MAX));
            let method = session.req_header().method.as_str();
            crate::decisions::emit(
                &record,
                ctx.request_id,
                method,
                ctx.passage.canonical.path(),
                status,
                ctx.upstream_us,
                total_us,
            );
        }
    }
}

/// Seconds a SIGTERM waits for requests in flight before the gateway exits.
const SHUTDOWN_GRACE_SECS: u64 = 3;

/// A server with the gateway's services: the proxy on the configured listener, and the
/// policy reloader. The caller may add services, then calls `run_forever`.
pub fn server(
    config: &Config,
    policy: Arc<LivePolicy>,
    verifier: Option<Arc<Verifier>>,
    metrics: Arc<Metrics>,
    upgrade: bool,
) -> std::result::Result<(pingora::server::Server, Arc<Vec<UpstreamGroup>>), String> {
    let options = pingora::server::configuration::Opt { upgrade, ..Default::default() };
    let conf = pingora::server::configuration::ServerConf {
        // On SIGTERM pingora stops accepting, then waits the whole grace period (5 minutes by
        // default) before it stops: wait long enough for requests in flight, no longer.
        grace_period_seconds: Some(SHUTDOWN_GRACE_SECS),
        graceful_shutdown_timeout_seconds: Some(SHUTDOWN_GRACE_SECS),
        // SIGQUIT hands the listening sockets to a `serve --upgrade` waiting on this socket
        // (read when the server is made, so it is set here, not after).
        upgrade_sock: sockets::upgrade_socket(&config.gateway)?.display().to_string(),
        ..Default::default()
    };
    let mut server = pingora::server::Server::new_with_opt_and_conf(options, conf);
    server.bootstrap();
    let reloader = Reloader { live: policy.clone() };
    server.add_service(pingora::services::background::background_service("policy reloader", reloader));
    let mut upstreams = Vec::with_capacity(config.upstreams.len());
    for u in &config.upstreams {
        let (group, health_check) = crate::upstream::build(u)?;
        if let Some(service) = health_check {
            server.add_boxed_service(service);
        }
        upstreams.push(group);
    }
    let upstreams = Arc::new(upstreams);
    let mut pipeline = Pipeline::new(config, policy, verifier).observed(config, metrics.clone());
    if let Some(dir) = &config.gateway.candidate_policies {
        let (candidate, error) = LivePolicy::load(dir);
        match error {
            None => eprintln!(
                "portcullis: candidate policies {} loaded (shadow mode: compared, not enforced)",
                dir.display()
            ),
            Some(e) => eprintln!(
                "portcullis: candidate policies {} do not validate; nothing is compared until they do:\n{}",
                dir.display(),
                e.to_string().trim_end()
            ),
        }
        let candidate = Arc::new(candidate);
        let reloader = Reloader { live: candidate.clone() };
        server.add_service(pingora::services::background::background_service("candidate reloader", reloader));
        pipeline = pipeline.shadowed_by(candidate);
    }
    let gateway = Gateway::new(config, pipeline, upstreams.clone(), metrics);
    let mut service = pingora::proxy::http_proxy_service(&server.configuration, gateway);
    service.threads = Some(config.gateway.threads);
    service.add_tcp(&config.gateway.listen.to_string());
    if let Some(tls) = &config.gateway.tls {
        let settings = crate::tls::settings(tls).map_err(|e| e.to_string())?;
        service.add_tls_with_settings(&tls.listen.to_string(), None, settings);
    }
    server.add_service(service);
    let ports: Vec<u16> = std::iter::once(config.gateway.listen.port())
        .chain(config.gateway.tls.as_ref().map(|t| t.listen.port()))
        .collect();
    std::thread::spawn(move || {
        let set = sockets::defer_accept(&ports, std::time::Duration::from_secs(10));
        if set < ports.len() {
            eprintln!(
                "portcullis: TCP_DEFER_ACCEPT is set on {set} of the listeners on ports {ports:?}: an upgrade may drop \
                 a connection accepted just before the old process stops"
            );
        }
    });
    Ok((server, upstreams))
}

#[cfg(test)]
mod tests {
    use super::stripped;

    #[test]
    fn forwarding_headers_are_kept_from_trusted_proxies_only() {
        for name in ["X-Forwarded-For", "x_forwarded_proto", "Forwarded", "X-Real-IP"] {
            assert!(stripped(name, false), "{name}");
            assert!(!stripped(name, true), "{name}");
        }
        for name in ["X-Portcullis-Principal", "authorization", "X-Original-URL", "x-http-method-override"] {
            assert!(stripped(name, true), "{name}");
        }
    }

    #[test]
    fn identity_headers_are_stripped_in_every_spelling() {
        for name in [
            "X-Portcullis-Principal",
            "x_portcullis_principal",
            "x.portcullis.org",
            "X-Forwarded-For",
            "forwarded",
            "X-HTTP-Method-Override",
            "x_original_url",
            "authorization",
        ] {
            assert!(stripped(name, false), "{name}");
        }
        for name in ["accept", "content-type", "x-trace", "x-forwarded", "x-portcullis"] {
            assert!(!stripped(name, false), "{name}");
        }
    }
}
