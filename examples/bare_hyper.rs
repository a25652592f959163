//! The floor under the gateway, for `benches/load.sh`: a hyper proxy built the way the
//! gateway is (one current-thread runtime per core, `SO_REUSEPORT` listeners, per-core
//! pooled upstream connections, mimalloc) that forwards every request to one upstream and
//! does nothing else: no canonicalisation, routing, tokens or decisions. What Portcullis
//! costs beyond it is what Portcullis itself does.
//!
//! ```sh
//! cargo run --release --example bare_hyper -- --listen 127.0.0.1:8081 --upstream 127.0.0.1:9000 --threads 2
//! ```

use std::cell::RefCell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::rc::Rc;

use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// The same allocator as the `portcullis` binary, so the difference is Portcullis's work.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// This core's idle upstream connections.
type Pool = Rc<RefCell<Vec<SendRequest<Incoming>>>>;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

/// The upstream's response, or `None` (a 502) if it could not be had.
async fn proxy(pool: Pool, upstream: SocketAddr, request: http::Request<Incoming>) -> Option<http::Response<Incoming>> {
    let pooled = pool.borrow_mut().pop();
    let ready = match pooled {
        Some(mut s) => s.ready().await.is_ok().then_some(s),
        None => None,
    };
    let mut sender = match ready {
        Some(s) => s,
        None => {
            let stream = tokio::net::TcpStream::connect(upstream).await.ok()?;
            let _ = stream.set_nodelay(true);
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.ok()?;
            tokio::task::spawn_local(conn);
            sender
        }
    };
    let response = sender.send_request(request).await.ok()?;
    // Back in the pool: its next request waits (`ready`) until this response has ended.
    pool.borrow_mut().push(sender);
    Some(response)
}

fn core(listen: SocketAddr, upstream: SocketAddr) -> std::io::Result<()> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.set_reuse_port(true)?;
    socket.bind(&listen.into())?;
    socket.listen(4096)?;
    socket.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let listener = tokio::net::TcpListener::from_std(socket.into())?;
        let pool: Pool = Rc::new(RefCell::new(Vec::new()));
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let pool = pool.clone();
            let service = service_fn(move |request| {
                let pool = pool.clone();
                async move {
                    Ok::<_, Infallible>(match proxy(pool, upstream, request).await {
                        Some(response) => response.map(http_body_util::Either::Left),
                        None => {
                            let mut r =
                                http::Response::new(http_body_util::Either::Right(http_body_util::Empty::new()));
                            *r.status_mut() = http::StatusCode::BAD_GATEWAY;
                            r
                        }
                    })
                }
            });
            tokio::task::spawn_local(async move {
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    })
}

fn main() -> std::process::ExitCode {
    let (Some(Ok(listen)), Some(Ok(upstream))) =
        (arg("--listen").map(|l| l.parse()), arg("--upstream").map(|u| u.parse()))
    else {
        eprintln!("usage: bare_hyper --listen ADDR --upstream ADDR [--threads N]");
        return std::process::ExitCode::from(2);
    };
    let threads = arg("--threads").and_then(|t| t.parse().ok()).unwrap_or(1);
    let cores: Vec<_> = (0..threads).map(|_| std::thread::spawn(move || core(listen, upstream))).collect();
    for c in cores {
        if let Ok(Err(e)) = c.join() {
            eprintln!("bare_hyper: {e}");
            return std::process::ExitCode::from(2);
        }
    }
    std::process::ExitCode::SUCCESS
}
