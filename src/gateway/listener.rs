//! Where requests come in: one thread per core, each with its own current-thread runtime,
//! its own `SO_REUSEPORT` listening sockets (the kernel spreads connections over them) and
//! its own upstream pool, so a request never crosses threads.
//!
//! Each connection is HTTP/1.1 (through the [`tap`](super::tap)), or TLS with HTTP/2 or
//! HTTP/1.1 by ALPN. Limits that are about connections live here: the time a request head
//! may take to arrive (slowloris), the idle keep-alive time, the TLS handshake time, and a
//! cap on open connections per core that closes the longest-idle one to make room.

use std::cell::RefCell;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::watch;
use tokio::time::Instant;

use super::forward::{ConnInfo, Core, Shared, handle};
use super::tap::{Scanner, Tap};
use crate::config::Limits;

/// Open listening sockets: for each address, one per core (`SO_REUSEPORT`).
#[derive(Debug, Default)]
pub struct Sockets {
    pub plain: Vec<StdListener>,
    pub tls: Vec<StdListener>,
}

/// A listening TCP socket on `addr` with `SO_REUSEPORT` (so each core has its own, and a new
/// process can listen beside the old), and `TCP_DEFER_ACCEPT` (a connection is handed over
/// once it has data).
pub fn bind(addr: SocketAddr) -> std::io::Result<StdListener> {
    let domain = if addr.is_ipv6() { socket2::Domain::IPV6 } else { socket2::Domain::IPV4 };
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    super::sockets::set_defer_accept(&socket);
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// What a core needs to serve its connections.
pub struct CoreSetup {
    pub shared: Arc<Shared>,
    pub plain: Vec<StdListener>,
    pub tls: Vec<StdListener>,
    pub tls_config: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    /// Becomes true when the gateway stops accepting (SIGTERM, or an upgrade handed over).
    pub stopping: watch::Receiver<bool>,
    /// The most connections this core keeps open.
    pub max_connections: usize,
    /// How long connections in flight may finish after stopping.
    pub grace: Duration,
}

/// One open client connection, as the accept loop sees it (to close the longest idle).
struct Open {
    info: Rc<ConnInfo>,
    close: Rc<tokio::sync::Notify>,
}

/// Runs one core until it has stopped and its connections have finished (or the grace
/// period has passed). Blocks the calling thread.
pub fn run_core(setup: CoreSetup) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let core = Rc::new(Core::new(setup.shared.clone()));
        let open: Rc<RefCell<Vec<Open>>> = Rc::new(RefCell::new(Vec::new()));
        let mut loops = Vec::new();
        let listeners = setup.plain.into_iter().map(|l| (l, false)).chain(setup.tls.into_iter().map(|l| (l, true)));
        for (listener, tls) in listeners {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            let tls = if tls { setup.tls_config.clone().map(tokio_rustls::TlsAcceptor::from) } else { None };
            let accept =
                accept_loop(listener, tls, core.clone(), open.clone(), setup.stopping.clone(), setup.max_connections);
            loops.push(tokio::task::spawn_local(accept));
        }
        for l in loops {
            let _ = l.await;
        }
        // Stopped accepting: ask every connection to finish, and give them the grace period.
        for o in open.borrow().iter() {
            o.close.notify_one();
        }
        let deadline = Instant::now() + setup.grace;
        while !open.borrow().is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    })
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    core: Rc<Core>,
    open: Rc<RefCell<Vec<Open>>>,
    mut stopping: watch::Receiver<bool>,
    max_connections: usize,
) {
    loop {
        let accepted = tokio::select! {
            biased;
            () = crate::serve::stopped(&mut stopping) => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(_) => {
                // Out of file descriptors, or a connection reset before it was accepted:
                // wait a moment rather than spin.
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
        };
        if !make_room(&open, max_connections) {
            // Every connection is busy: this one is refused (closed) rather than queued.
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let ip = peer.ip();
        let shared = &core.shared;
        let info = Rc::new(ConnInfo {
            peer: Some(ip),
            trusted_peer: shared.trusted_proxies.iter().any(|c| c.contains(ip)),
            scanner: Rc::new(RefCell::new(Scanner::new(shared.pipeline.limits().max_header_bytes))),
            in_flight: std::cell::Cell::new(0),
            last_done: std::cell::Cell::new(Instant::now()),
        });
        let close = Rc::new(tokio::sync::Notify::new());
        open.borrow_mut().push(Open { info: info.clone(), close: close.clone() });
        let (core, open, tls) = (core.clone(), open.clone(), tls.clone());
        tokio::task::spawn_local(async move {
            serve_connection(stream, tls, core, info.clone(), close).await;
            open.borrow_mut().retain(|o| !Rc::ptr_eq(&o.info, &info));
        });
    }
}

/// Whether a new connection may open: at the cap, the longest-idle open connection (no
/// request in flight) is asked to close to make room; if every one is busy, no.
fn make_room(open: &RefCell<Vec<Open>>, max_connections: usize) -> bool {
    let open = open.borrow();
    if open.len() < max_connections {
        return true;
    }
    let idlest = open.iter().filter(|o| o.info.in_flight.get() == 0).min_by_key(|o| o.info.last_done.get());
    match idlest {
        Some(o) => {
            o.close.notify_one();
            true
        }
        None => false,
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    tls: Option<tokio_rustls::TlsAcceptor>,
    core: Rc<Core>,
    info: Rc<ConnInfo>,
    close: Rc<tokio::sync::Notify>,
) {
    let limits = core.shared.pipeline.limits().clone();
    match tls {
        None => serve_http1(stream, core, info, close, &limits).await,
        Some(acceptor) => {
            let Ok(Ok(stream)) = tokio::time::timeout(limits.head_timeout, acceptor.accept(stream)).await else {
                return;
            };
            if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                serve_http2(stream, core, info, close, &limits).await;
            } else {
                serve_http1(stream, core, info, close, &limits).await;
            }
        }
    }
}

async fn serve_http1<S>(stream: S, core: Rc<Core>, info: Rc<ConnInfo>, close: Rc<tokio::sync::Notify>, limits: &Limits)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
{
    let scanner = info.scanner.clone();
    let io = TokioIo::new(Tap::new(stream, scanner.clone()));
    let service_info = info.clone();
    let service = service_fn(move |request| handle(core.clone(), service_info.clone(), request));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // A backstop: the watchdog below closes slow heads and idle connections first.
        .header_read_timeout(limits.head_timeout.max(limits.idle_timeout) + Duration::from_secs(1))
        .max_buf_size((limits.max_header_bytes * 2).max(16 * 1024))
        .max_headers((limits.max_headers * 2).max(100));
    let connection = builder.serve_connection(io, service);
    let mut connection = std::pin::pin!(connection);
    let mut closing = false;
    loop {
        let deadline = watchdog_deadline(&scanner.borrow(), &info, limits);
        tokio::select! {
            _ = connection.as_mut() => return,
            () = tokio::time::sleep_until(deadline), if !closing => {
                let scanner = scanner.borrow();
                if scanner.head_started().is_some_and(|t| t.elapsed() >= limits.head_timeout) {
                    // Slowloris: a head that is still arriving after head_timeout.
                    return;
                }
                let idle_since = scanner.last_byte().max(info.last_done.get());
                if info.in_flight.get() == 0 && scanner.head_started().is_none() && idle_since.elapsed() >= limits.idle_timeout {
                    closing = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
            () = close.notified(), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// When the watchdog looks next: the end of a head's time, or of the idle time (at most
/// `head_timeout` ahead, since a head may start any moment).
fn watchdog_deadline(scanner: &Scanner, info: &ConnInfo, limits: &Limits) -> Instant {
    let now = Instant::now();
    if let Some(started) = scanner.head_started() {
        return started + limits.head_timeout;
    }
    let soon = now + limits.head_timeout;
    if info.in_flight.get() > 0 {
        return soon;
    }
    let idle_since = scanner.last_byte().max(info.last_done.get());
    (idle_since + limits.idle_timeout).min(soon).max(now + Duration::from_millis(10))
}

async fn serve_http2<S>(stream: S, core: Rc<Core>, info: Rc<ConnInfo>, close: Rc<tokio::sync::Notify>, limits: &Limits)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
{
    let io = TokioIo::new(stream);
    let service_info = info.clone();
    let service = service_fn(move |request| handle(core.clone(), service_info.clone(), request));
    let mut builder = hyper::server::conn::http2::Builder::new(LocalExec);
    builder
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        // Rapid reset: streams a client opens and cancels at once, bounded.
        .max_pending_accept_reset_streams(Some(MAX_PENDING_RESETS))
        .max_local_error_reset_streams(Some(MAX_LOCAL_RESETS))
        .keep_alive_interval(Some(limits.idle_timeout))
        .keep_alive_timeout(limits.head_timeout);
    let connection = builder.serve_connection(io, service);
    let mut connection = std::pin::pin!(connection);
    let mut closing = false;
    loop {
        tokio::select! {
            _ = connection.as_mut() => return,
            () = close.notified(), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Concurrent HTTP/2 streams per connection.
const MAX_STREAMS: u32 = 128;
/// Streams reset by the client before the gateway accepted them, at most.
const MAX_PENDING_RESETS: usize = 32;
/// Streams the gateway resets for protocol errors before it closes the connection.
const MAX_LOCAL_RESETS: usize = 256;

/// Runs HTTP/2 stream tasks on this core.
#[derive(Clone, Copy)]
struct LocalExec;

impl<F> hyper::rt::Executor<F> for LocalExec
where
    F: std::future::Future + 'static,
{
    fn execute(&self, future: F) {
        tokio::task::spawn_local(future);
    }
}
