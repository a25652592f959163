//! One request, end to end: the [`pipeline`](super::pipeline) decides, then an allowed
//! request is forwarded to a backend of its route's upstream group over a pooled
//! connection of this core, and the response streams back.
//!
//! Exactly the canonical target is forwarded, with the gateway's identity headers set after
//! every client-sent spelling of them (and of the forwarding, rewrite, method-override and
//! hop-by-hop headers) is removed. A failed connect moves on to the next backend; a request
//! is sent again only if hyper hands it back unsent (a pooled connection the backend had
//! closed). No backend: 502; no response head in time: 504; all as JSON.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;

use super::creators::CreatedBody;
use super::headers::{hop_by_hop, stripped};
use super::pipeline::{Head, Passage, Pipeline, Rejection, Verdict};
use super::tap::Scanner;
use super::upstream::UpstreamGroup;
use crate::admit::Wire;
use crate::metrics::Metrics;

/// Headers the gateway sets for the upstream. Client-sent ones (in any spelling) are removed.
pub const PRINCIPAL_HEADER: &str = "x-portcullis-principal";
pub const ORG_HEADER: &str = "x-portcullis-org";
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Idle upstream connections kept per backend and core.
const MAX_IDLE_PER_BACKEND: usize = 256;

/// What every core shares.
pub struct Shared {
    pub pipeline: Pipeline,
    /// Indexed like the config's `[[upstream]]`; the snapshot's routes point into it.
    pub upstreams: Vec<Arc<UpstreamGroup>>,
    pub metrics: Arc<Metrics>,
    pub trusted_proxies: Vec<crate::config::Cidr>,
    next_request_id: AtomicU64,
}

impl Shared {
    pub fn new(
        pipeline: Pipeline,
        upstreams: Vec<Arc<UpstreamGroup>>,
        metrics: Arc<Metrics>,
        trusted_proxies: Vec<crate::config::Cidr>,
    ) -> Shared {
        Shared { pipeline, upstreams, metrics, trusted_proxies, next_request_id: AtomicU64::new(1) }
    }
}

/// One core's state: the shared parts, and this core's idle upstream connections.
pub struct Core {
    pub shared: Arc<Shared>,
    pool: RefCell<HashMap<SocketAddr, Vec<SendRequest<RequestBody>>>>,
}

impl Core {
    pub fn new(shared: Arc<Shared>) -> Core {
        Core { shared, pool: RefCell::new(HashMap::new()) }
    }

    /// An idle connection to `addr` that can take a request.
    async fn checkout(&self, addr: SocketAddr) -> Option<SendRequest<RequestBody>> {
        loop {
            let mut sender = self.pool.borrow_mut().get_mut(&addr)?.pop()?;
            if sender.is_closed() {
                continue;
            }
            // Ready once the connection has finished its last exchange.
            if sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    /// Keeps a connection whose last exchange has ended for the next request to `addr`.
    fn checkin(&self, addr: SocketAddr, sender: SendRequest<RequestBody>) {
        if sender.is_closed() {
            return;
        }
        let mut pool = self.pool.borrow_mut();
        let idle = pool.entry(addr).or_default();
        if idle.len() < MAX_IDLE_PER_BACKEND {
            idle.push(sender);
        }
    }
}

/// One client connection, as its requests see it.
pub struct ConnInfo {
    pub peer: Option<IpAddr>,
    pub trusted_peer: bool,
    /// The framing scanner of the connection (HTTP/1 only).
    pub scanner: Rc<RefCell<Scanner>>,
    /// Requests being answered now, and when the last one was.
    pub in_flight: Cell<u32>,
    pub last_done: Cell<tokio::time::Instant>,
}

/// Counts a request in flight on its connection while alive.
struct InFlight(Rc<ConnInfo>);

impl InFlight {
    fn new(conn: Rc<ConnInfo>) -> InFlight {
        conn.in_flight.set(conn.in_flight.get() + 1);
        InFlight(conn)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.set(self.0.in_flight.get().saturating_sub(1));
        self.0.last_done.set(tokio::time::Instant::now());
    }
}

/// The request target as the pipeline takes it: the path and query of an origin-form (or
/// HTTP/2) target; anything else whole, which the canonicaliser refuses.
fn target_of(parts: &http::request::Parts) -> std::borrow::Cow<'_, str> {
    let origin = parts.version == http::Version::HTTP_2 || parts.uri.scheme().is_none();
    match parts.uri.path_and_query() {
        Some(pq) if origin => std::borrow::Cow::Borrowed(pq.as_str()),
        _ => std::borrow::Cow::Owned(parts.uri.to_string()),
    }
}

/// Answers one request on `conn`.
pub async fn handle(
    core: Rc<Core>,
    conn: Rc<ConnInfo>,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let _in_flight = InFlight::new(conn.clone());
    let shared = core.shared.clone();
    let started = Instant::now();
    let request_id = shared.next_request_id.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = request.into_parts();
    // Kept for the decision log (a standard method is copied without allocating).
    let method = parts.method.clone();
    let target = target_of(&parts);
    // HTTP/2 has no framing of its own to confuse: its head is what was sent.
    let wire = if parts.version == http::Version::HTTP_2 {
        Some(Wire::rendered(parts.method.as_str(), target.as_bytes(), &parts.headers))
    } else {
        conn.scanner.borrow_mut().next_head()
    };
    let mut passage = Passage::default();
    let verdict = match wire {
        None => {
            let error = "the request's framing could not be followed; send one Content-Length or chunked";
            Verdict::Reject(Rejection { status: 400, error: error.into(), reason: None, header: None, close: true })
        }
        Some(wire) => {
            let head = Head { method: parts.method.as_str(), target: target.as_bytes(), headers: &parts.headers, wire };
            let mut verdict = shared.pipeline.verdict(&head, request_id, &mut passage, true);
            if let Verdict::Await { revision } = verdict {
                wait_for_revision(&shared.pipeline, &passage.org, revision).await;
                passage = Passage::default();
                verdict = shared.pipeline.verdict(&head, request_id, &mut passage, false);
            }
            verdict
        }
    };
    let mut response = match verdict {
        Verdict::Forward => forward(&core, &conn, parts, body, &passage, request_id).await,
        Verdict::Reject(r) => rejection(&r, request_id),
        Verdict::Await { .. } => error_response(503, "revision not reached", None, None, request_id, false),
    };
    if let Some(filtering) = passage.filtering.take() {
        let deadline = shared.upstreams.get(passage.upstream).map_or(Duration::from_secs(30), |g| g.read_timeout);
        response = super::filter::filtered(response, &filtering, &shared.pipeline, deadline, request_id).await;
    }
    let status = response.status().as_u16();
    shared.metrics.request(passage.metric, passage.decided, status);
    if let Some(creation) = passage.creation.take()
        && response.status().is_success()
    {
        let path = passage.canonical.path();
        if let Some(watch) = super::creators::answered(&shared.pipeline, *creation, response.headers(), path) {
            response.body_mut().watch(watch);
        }
    }
    if let Some(record) = passage.record.take() {
        let total_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let upstream_us = response.extensions().get::<UpstreamTime>().map(|t| t.0);
        crate::decisions::emit(
            &record,
            request_id,
            method.as_str(),
            passage.canonical.path(),
            status,
            upstream_us,
            total_us,
        );
    }
    Ok(response)
}

/// The upstream's time to a response head, in microseconds.
#[derive(Clone, Copy)]
struct UpstreamTime(u64);

/// Waits until the live snapshot has org `org` at `wanted` or later, or `revision_wait`
/// passes.
async fn wait_for_revision(pipeline: &Pipeline, org: &str, wanted: u64) {
    let handle = pipeline.policy().handle();
    // Subscribed before the first look, so a publication in between is not missed.
    let mut published = handle.subscribe();
    let deadline = tokio::time::Instant::now() + pipeline.revision_wait();
    loop {
        if handle.load().org(org).is_some_and(|o| o.model.revision >= wanted) {
            return;
        }
        match tokio::time::timeout_at(deadline, published.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return,
        }
    }
}

fn rejection(r: &Rejection, request_id: u64) -> Response<ResponseBody> {
    let header = r.header.as_ref().map(|(n, v)| (*n, v.as_str()));
    error_response(r.status, &r.error, r.reason.as_deref(), header, request_id, r.close)
}

/// A JSON error: `{"error", "request_id"[, "reason"]}`.
pub fn error_response(
    status: u16,
    error: &str,
    reason: Option<&str>,
    header: Option<(&'static str, &str)>,
    request_id: u64,
    close: bool,
) -> Response<ResponseBody> {
    let mut body = serde_json::json!({ "error": error, "request_id": request_id.to_string() });
    if let (Some(reason), Some(map)) = (reason, body.as_object_mut()) {
        map.insert("reason".into(), serde_json::Value::String(reason.into()));
    }
    let mut response = Response::new(ResponseBody::full(Bytes::from(body.to_string())));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(REQUEST_ID_HEADER, HeaderValue::from(request_id));
    if let Some((name, value)) = header
        && let Ok(value) = HeaderValue::from_str(value)
    {
        headers.insert(name, value);
    }
    if close {
        headers.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Forwards an allowed request and returns the upstream's response (or the 5xx).
async fn forward(
    core: &Rc<Core>,
    conn: &ConnInfo,
    parts: http::request::Parts,
    body: Incoming,
    passage: &Passage,
    request_id: u64,
) -> Response<ResponseBody> {
    let shared = &core.shared;
    let Some(group) = shared.upstreams.get(passage.upstream) else {
        return error_response(500, "the route names an unknown upstream", None, None, request_id, false);
    };
    let Ok(uri) = http::Uri::try_from(passage.canonical.path_and_query()) else {
        return error_response(500, "the canonical target is not a URI", None, None, request_id, false);
    };
    let headers = upstream_headers(&parts, conn, passage, request_id);
    let limits = shared.pipeline.limits();
    let stopped = Rc::new(Cell::new(None));
    let body = RequestBody::new(body, limits.max_body_bytes, limits.body_timeout, stopped.clone());
    let mut request = Request::new(body);
    *request.method_mut() = parts.method;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;

    let key = passage.canonical.path().as_bytes();
    let mut tried: Vec<SocketAddr> = Vec::new();
    // Requests hyper handed back unsent, each on a pooled connection the backend had closed.
    let mut handed_back = 0;
    loop {
        let Some(backend) = group.select(key, &tried) else {
            let message = "bad gateway: no backend of the upstream answered";
            return error_response(502, message, None, None, request_id, false);
        };
        let pooled = if handed_back < 2 { core.checkout(backend).await } else { None };
        let mut sender = match pooled {
            Some(sender) => sender,
            None => match connect(backend, group.connect_timeout).await {
                Some(sender) => sender,
                None => {
                    // Nothing was sent: the next backend is safe for any method.
                    tried.push(backend);
                    continue;
                }
            },
        };
        let sent_at = Instant::now();
        let answer = tokio::time::timeout(group.read_timeout, sender.try_send_request(request)).await;
        match answer {
            Ok(Ok(response)) => {
                let upstream_us = u64::try_from(sent_at.elapsed().as_micros()).unwrap_or(u64::MAX);
                shared.metrics.upstream_latency.observe(upstream_us);
                let mut response = downstream_response(response, core.clone(), backend, sender);
                response.extensions_mut().insert(UpstreamTime(upstream_us));
                return response;
            }
            Ok(Err(mut e)) => match e.take_message() {
                Some(unsent) => {
                    request = unsent;
                    handed_back += 1;
                }
                None => {
                    // The client's body, not the upstream, may be why the exchange failed.
                    let response = match stopped.get() {
                        Some(BodyStop::TooLarge) => {
                            let message = "the request body is larger than max_body_bytes";
                            error_response(413, message, None, None, request_id, true)
                        }
                        Some(BodyStop::TimedOut) => {
                            let message = "the request body did not arrive within body_timeout_secs";
                            error_response(408, message, None, None, request_id, true)
                        }
                        None => {
                            let message = "bad gateway: the upstream closed the connection";
                            error_response(502, message, None, None, request_id, true)
                        }
                    };
                    return response;
                }
            },
            Err(_) => {
                let message = "gateway timeout: the upstream did not answer in time";
                return error_response(504, message, None, None, request_id, false);
            }
        }
    }
}

/// A new HTTP/1.1 connection to `addr`, its driver spawned on this core; `None` if it did
/// not connect in time.
async fn connect(addr: SocketAddr, timeout: Duration) -> Option<SendRequest<RequestBody>> {
    let stream = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await.ok()?.ok()?;
    let _ = stream.set_nodelay(true);
    let io = hyper_util::rt::TokioIo::new(stream);
    let (sender, connection) = hyper::client::conn::http1::Builder::new().handshake(io).await.ok()?;
    tokio::task::spawn_local(async move {
        let _ = connection.await;
    });
    Some(sender)
}

/// The headers sent upstream: the client's, less the stripped and hop-by-hop ones, then the
/// gateway's own.
fn upstream_headers(parts: &http::request::Parts, conn: &ConnInfo, passage: &Passage, request_id: u64) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(parts.headers.len() + 4);
    let listed = parts.headers.get_all(http::header::CONNECTION);
    for (name, value) in &parts.headers {
        let named_by_connection = listed.iter().any(|v| {
            v.as_bytes().split(|&b| b == b',').any(|n| n.trim_ascii().eq_ignore_ascii_case(name.as_str().as_bytes()))
        });
        if hop_by_hop(name) || named_by_connection || stripped(name.as_str(), conn.trusted_peer) {
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    // The client's address, after those of the trusted proxies it came through.
    if let Some(peer) = conn.peer {
        let forwarded_for = match parts.headers.get("x-forwarded-for").map(|v| v.to_str()) {
            Some(Ok(earlier)) if conn.trusted_peer => format!("{earlier}, {peer}"),
            _ => peer.to_string(),
        };
        if let Ok(v) = HeaderValue::from_str(&forwarded_for) {
            headers.insert(HeaderName::from_static("x-forwarded-for"), v);
        }
    }
    if let Some(p) = &passage.principal {
        headers.insert(HeaderName::from_static(PRINCIPAL_HEADER), p.header_value.clone());
    }
    if let Ok(org) = HeaderValue::from_str(&passage.org) {
        headers.insert(HeaderName::from_static(ORG_HEADER), org);
    }
    match &passage.host {
        Some(host) => {
            if let Ok(v) = HeaderValue::from_str(host) {
                headers.insert(http::header::HOST, v);
            }
        }
        // HTTP/2 carries the host as the authority.
        None if !headers.contains_key(http::header::HOST) => {
            if let Some(v) = parts.uri.authority().and_then(|a| HeaderValue::from_str(a.as_str()).ok()) {
                headers.insert(http::header::HOST, v);
            }
        }
        None => {}
    }
    headers.insert(HeaderName::from_static(REQUEST_ID_HEADER), HeaderValue::from(request_id));
    // An answer to filter must come whole and readable.
    if passage.filtering.is_some() {
        for name in [http::header::ACCEPT_ENCODING, http::header::RANGE, http::header::IF_RANGE] {
            headers.remove(name);
        }
    }
    headers
}

/// The upstream's response for the client: hop-by-hop headers removed, the body streamed,
/// and the connection back in this core's pool once the body has ended.
fn downstream_response(
    response: Response<Incoming>,
    core: Rc<Core>,
    backend: SocketAddr,
    sender: SendRequest<RequestBody>,
) -> Response<ResponseBody> {
    let (mut parts, body) = response.into_parts();
    let remove: Vec<HeaderName> = parts.headers.keys().filter(|n| hop_by_hop(n)).cloned().collect();
    for name in remove {
        parts.headers.remove(name);
    }
    let body = if body.is_end_stream() {
        core.checkin(backend, sender);
        ResponseBody::Upstream { body, home: None, created: None }
    } else {
        ResponseBody::Upstream { body, home: Some((core, backend, sender)), created: None }
    };
    Response::from_parts(parts, body)
}

/// Why a request body stopped.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the request body is larger than max_body_bytes")]
    TooLarge,
    #[error("the request body did not arrive within body_timeout_secs")]
    TimedOut,
    #[error("the request body could not be read: {0}")]
    Read(#[from] hyper::Error),
}

/// Why the gateway stopped a client's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BodyStop {
    TooLarge,
    TimedOut,
}

/// A client's request body on its way upstream: counted against the body limit, and given
/// at most the body timeout between two pieces.
pub struct RequestBody {
    inner: Incoming,
    seen: u64,
    limit: u64,
    timeout: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    stopped: Rc<Cell<Option<BodyStop>>>,
}

impl RequestBody {
    fn new(inner: Incoming, limit: u64, timeout: Duration, stopped: Rc<Cell<Option<BodyStop>>>) -> RequestBody {
        RequestBody { inner, seen: 0, limit, timeout, timer: None, stopped }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.seen += frame.data_ref().map_or(0, |d| d.len() as u64);
                if this.seen > this.limit {
                    this.stopped.set(Some(BodyStop::TooLarge));
                    return Poll::Ready(Some(Err(BodyError::TooLarge)));
                }
                if let Some(timer) = this.timer.as_mut() {
                    timer.as_mut().reset(tokio::time::Instant::now() + this.timeout);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let timeout = this.timeout;
                let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.stopped.set(Some(BodyStop::TimedOut));
                        Poll::Ready(Some(Err(BodyError::TimedOut)))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body: the gateway's own, or the upstream's streamed through.
pub enum ResponseBody {
    Full(Option<Bytes>),
    /// The upstream's body, where its connection goes when the body ends, and what reads
    /// a create's answer for the new id on the way.
    Upstream {
        body: Incoming,
        home: Option<(Rc<Core>, SocketAddr, SendRequest<RequestBody>)>,
        created: Option<Box<CreatedBody>>,
    },
}

impl ResponseBody {
    pub fn full(bytes: Bytes) -> ResponseBody {
        ResponseBody::Full(Some(bytes))
    }

    /// Reads this answer for a create's new id as it streams. An answer with no body left
    /// to read is read at once (and has no id to give).
    fn watch(&mut self, watch: Box<CreatedBody>) {
        match self {
            ResponseBody::Upstream { body, created, .. } if !body.is_end_stream() => *created = Some(watch),
            _ => watch.ended(),
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match &mut *self {
            ResponseBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            ResponseBody::Upstream { body, home, created } => {
                let polled = Pin::new(&mut *body).poll_frame(cx);
                if let Some(watch) = created.as_mut() {
                    match &polled {
                        Poll::Ready(Some(Ok(frame))) => {
                            if let Some(data) = frame.data_ref() {
                                watch.frame(data);
                            }
                        }
                        // A broken answer names nothing.
                        Poll::Ready(Some(Err(_))) => *created = None,
                        _ => {}
                    }
                }
                // Back in the pool once the body has ended (the server may not poll again
                // after the last frame, so that is checked too).
                let ended = match &polled {
                    Poll::Ready(None) => true,
                    Poll::Ready(Some(Ok(_))) => body.is_end_stream(),
                    _ => false,
                };
                if ended {
                    if let Some((core, backend, sender)) = home.take() {
                        core.checkin(backend, sender);
                    }
                    if let Some(watch) = created.take() {
                        watch.ended();
                    }
                }
                polled
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Full(bytes) => bytes.is_none(),
            ResponseBody::Upstream { body, .. } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            ResponseBody::Full(None) => SizeHint::with_exact(0),
            ResponseBody::Upstream { body, .. } => body.size_hint(),
        }
    }
}
