//! The data plane, on hyper. A request's way through it, one module per step:
//!
//! 1. [`listener`]: a core's `SO_REUSEPORT` socket accepts the connection (plain, or
//!    [`tls`] with HTTP/2 or HTTP/1.1 by ALPN); connection limits and timeouts live there;
//! 2. [`tap`]: the HTTP/1 bytes are scanned for what the parsed head loses;
//! 3. [`pipeline`]: admit, canonicalise, route, authenticate, decide: a verdict;
//! 4. [`forward`]: an allowed request goes, with the [`headers`] the gateway sets, to a
//!    backend its [`upstream`] group chooses, over this core's pooled connections;
//! 5. [`filter`]: a collection forwarded for a caller who may read only some of it comes
//!    back with the rest of its items removed.
//!
//! [`upgrade`] hands the listening sockets to a new process; [`sockets`] says where.
//! Every core runs its own current-thread runtime: a request never crosses threads. A
//! second runtime runs what is not on the request path: policy reloads, health checks,
//! the admin API and the demo's sample platform.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::auth::Verifier;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::reload::{LivePolicy, Reloader};

mod creators;
pub mod filter;
pub mod forward;
pub mod headers;
pub mod listener;
pub mod pipeline;
pub mod sockets;
pub mod tap;
pub mod tls;
pub mod upgrade;
pub mod upstream;

use forward::Shared;
use pipeline::Pipeline;
use upgrade::{Inherited, Role};
use upstream::UpstreamGroup;

/// How long a SIGTERM (or an upgrade) waits for requests in flight before the process exits.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Why the gateway cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}; is another program using the port?")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Upgrade(#[from] upgrade::UpgradeError),
    #[error("{0}")]
    Sockets(String),
    #[error("cannot start the gateway's threads: {0}")]
    Threads(std::io::Error),
}

/// What a gateway process serves besides the data plane.
#[derive(Default)]
pub struct Extras {
    /// The admin API and its address.
    pub admin: Option<(SocketAddr, Arc<crate::admin::AdminApi>)>,
    /// The AuthZEN decision API and its address.
    pub pdp: Option<(SocketAddr, Arc<crate::pdp::PdpApi>)>,
    /// Addresses of the demo's sample platform.
    pub sample: Vec<SocketAddr>,
    /// The demo's sample platform, served on those addresses.
    pub sample_app: Arc<crate::demo::SampleUpstream>,
}

/// The upstream groups of `config`, in its order.
pub fn upstream_groups(config: &Config) -> Vec<Arc<UpstreamGroup>> {
    config.upstreams.iter().map(|u| Arc::new(UpstreamGroup::new(u))).collect()
}

/// The listening sockets of one role: the ones a previous process handed over, else new.
fn sockets_for(
    inherited: &mut Inherited,
    role: Role,
    addr: SocketAddr,
    count: usize,
) -> Result<Vec<TcpListener>, StartError> {
    let mut sockets = inherited.take(role, addr);
    if sockets.is_empty() {
        // SO_REUSEPORT would let this process share the port with one already listening
        // there (a second gateway by mistake): a plain bind first says whether it is free.
        std::net::TcpListener::bind(addr).map_err(|source| StartError::Listen { addr, source })?;
    }
    while sockets.len() < count {
        sockets.push(listener::bind(addr).map_err(|source| StartError::Listen { addr, source })?);
    }
    Ok(sockets)
}

/// Lets this process have as many open files as it may (a connection is one), and says
/// when that is still few.
fn raise_open_files(wanted: usize) {
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) } != 0 {
        return;
    }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: as above.
        let _ = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit) };
    }
    if usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX) < wanted + 64 {
        eprintln!(
            "portcullis: this process may open {} files, fewer than [limits] max_connections = {wanted}; raise the \
             limit (ulimit -n, or LimitNOFILE= under systemd)",
            limit.rlim_cur
        );
    }
}

/// Runs the gateway until SIGTERM or SIGINT (or SIGQUIT, after an upgrade took the sockets
/// over), then lets requests in flight finish for [`SHUTDOWN_GRACE`]. With `upgrade`, it
/// first waits for the running gateway's sockets.
pub fn run(
    config: &Config,
    policy: Arc<LivePolicy>,
    verifier: Option<Arc<Verifier>>,
    metrics: Arc<Metrics>,
    upstreams: Vec<Arc<UpstreamGroup>>,
    extras: Extras,
    upgrade: bool,
) -> Result<(), StartError> {
    let g = &config.gateway;
    let upgrade_path = sockets::upgrade_socket(g).map_err(StartError::Sockets)?;
    let tls_config = g.tls.as_ref().map(tls::server_config).transpose()?;
    let mut inherited = if upgrade {
        eprintln!("portcullis: waiting for the running gateway's sockets on {}", upgrade_path.display());
        upgrade::receive(&upgrade_path)?
    } else {
        Inherited::default()
    };
    let threads = g.threads.max(1);
    let plain = sockets_for(&mut inherited, Role::Gateway, g.listen, threads)?;
    let tls_sockets = match &g.tls {
        Some(t) => sockets_for(&mut inherited, Role::Tls, t.listen, threads)?,
        None => Vec::new(),
    };
    let admin = match &extras.admin {
        Some((addr, api)) => Some((*addr, sockets_for(&mut inherited, Role::Admin, *addr, 1)?, api.clone())),
        None => None,
    };
    let pdp = match &extras.pdp {
        Some((addr, api)) => Some((*addr, sockets_for(&mut inherited, Role::Pdp, *addr, 1)?, api.clone())),
        None => None,
    };
    let mut sample = Vec::new();
    for &addr in &extras.sample {
        sample.push((addr, sockets_for(&mut inherited, Role::Sample, addr, 1)?));
    }
    let leftover = inherited.leftover();
    if !leftover.is_empty() {
        eprintln!("portcullis: sockets handed over that this config does not listen on were closed: {leftover:?}");
    }
    raise_open_files(config.limits.max_connections);
    eprintln!("portcullis: listening on {} (policies: {})", g.listen, g.policies.display());

    // What a later upgrade hands over: a duplicate of every listening socket.
    let mut handover: Vec<(Role, SocketAddr, TcpListener)> = Vec::new();
    let dup = |l: &TcpListener| l.try_clone().map_err(|e| StartError::Sockets(format!("cannot keep a socket: {e}")));
    for l in &plain {
        handover.push((Role::Gateway, g.listen, dup(l)?));
    }
    if let Some(t) = &g.tls {
        for l in &tls_sockets {
            handover.push((Role::Tls, t.listen, dup(l)?));
        }
    }
    if let Some((addr, sockets, _)) = &admin {
        for l in sockets {
            handover.push((Role::Admin, *addr, dup(l)?));
        }
    }
    if let Some((addr, sockets, _)) = &pdp {
        for l in sockets {
            handover.push((Role::Pdp, *addr, dup(l)?));
        }
    }
    for (addr, sockets) in &sample {
        for l in sockets {
            handover.push((Role::Sample, *addr, dup(l)?));
        }
    }

    let (stop, stopping) = watch::channel(false);
    let background = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("portcullis-bg")
        .enable_all()
        .build()
        .map_err(StartError::Threads)?;
    // Background work, started before the first request can arrive.
    let mut pipeline = Pipeline::new(config, policy.clone(), verifier).observed(config, metrics.clone());
    if let Some((_, api)) = &extras.admin {
        pipeline = pipeline.recording(crate::control::Recorder::start(&api.control));
    }
    background.spawn(Reloader::new(policy).run(stopping.clone()));
    if let Some(dir) = &g.candidate_policies {
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
        background.spawn(Reloader::new(candidate.clone()).run(stopping.clone()));
        pipeline = pipeline.shadowed_by(candidate);
    }
    for group in &upstreams {
        background.spawn(group.clone().run_health_checks());
    }
    let _guard = background.enter();
    if let Some((_, sockets, api)) = admin {
        for l in sockets {
            background.spawn(crate::serve::serve(l, api.clone(), stopping.clone()));
        }
    }
    if let Some((_, sockets, api)) = pdp {
        for l in sockets {
            background.spawn(crate::serve::serve(l, api.clone(), stopping.clone()));
        }
    }
    let sample_app = extras.sample_app.clone();
    for (_, sockets) in sample {
        for l in sockets {
            background.spawn(crate::serve::serve(l, sample_app.clone(), stopping.clone()));
        }
    }
    let signals = background.block_on(Signals::new()).map_err(StartError::Threads)?;

    // The cores: each takes every `threads`-th socket of each listener.
    let shared = Arc::new(Shared::new(pipeline, upstreams, metrics, g.trusted_proxies.clone()));
    let per_core = config.limits.max_connections.div_ceil(threads).max(1);
    let mut plain: Vec<Option<TcpListener>> = plain.into_iter().map(Some).collect();
    let mut tls_sockets: Vec<Option<TcpListener>> = tls_sockets.into_iter().map(Some).collect();
    let mut cores = Vec::with_capacity(threads);
    for core in 0..threads {
        let mine = |all: &mut Vec<Option<TcpListener>>| -> Vec<TcpListener> {
            all.iter_mut().enumerate().filter(|(i, _)| i % threads == core).filter_map(|(_, l)| l.take()).collect()
        };
        let setup = listener::CoreSetup {
            shared: shared.clone(),
            plain: mine(&mut plain),
            tls: mine(&mut tls_sockets),
            tls_config: tls_config.clone(),
            stopping: stopping.clone(),
            max_connections: per_core,
            grace: SHUTDOWN_GRACE,
        };
        let thread = std::thread::Builder::new()
            .name(format!("portcullis-core-{core}"))
            .spawn(move || listener::run_core(setup))
            .map_err(StartError::Threads)?;
        cores.push(thread);
    }

    // Until a signal says stop.
    background.block_on(signals.wait(&upgrade_path, &handover));
    let _ = stop.send(true);
    for core in cores {
        let _ = core.join();
    }
    drop(handover);
    background.shutdown_timeout(Duration::from_millis(200));
    Ok(())
}

/// The signals that stop the gateway, listened for from start.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    quit: tokio::signal::unix::Signal,
}

impl Signals {
    async fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            quit: signal(SignalKind::quit())?,
        })
    }

    /// Returns on SIGTERM or SIGINT, or on SIGQUIT once the sockets are handed over to the
    /// process waiting on `upgrade_path` (if that fails, the gateway goes on serving).
    async fn wait(mut self, upgrade_path: &std::path::Path, handover: &[(Role, SocketAddr, TcpListener)]) {
        loop {
            tokio::select! {
                _ = self.term.recv() => return eprintln!("portcullis: SIGTERM: finishing requests in flight, then exiting"),
                _ = self.int.recv() => return eprintln!("portcullis: SIGINT: finishing requests in flight, then exiting"),
                _ = self.quit.recv() => {
                    let sockets: Vec<_> = handover.iter().map(|(r, a, l)| (*r, *a, l)).collect();
                    // Blocking calls on a local socket, bounded by the new process's answer; this
                    // future runs on the main thread, which serves nothing else.
                    match upgrade::send(upgrade_path, &sockets) {
                        Ok(()) => {
                            return eprintln!("portcullis: SIGQUIT: sockets handed over; finishing requests in flight");
                        }
                        Err(e) => eprintln!("portcullis: SIGQUIT: {e}; still serving"),
                    }
                }
            }
        }
    }
}
