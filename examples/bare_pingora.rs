//! The floor under the gateway, for `benches/load.sh`: a pingora proxy that forwards every
//! request to one upstream and does nothing else (no canonicalisation, routing, tokens or
//! decisions). What Portcullis costs beyond it is what Portcullis itself does.
//!
//! ```sh
//! cargo run --release --example bare_pingora -- --listen 127.0.0.1:8081 --upstream 127.0.0.1:9000 --threads 2
//! ```

use std::net::SocketAddr;

use async_trait::async_trait;
use pingora::prelude::{HttpPeer, ProxyHttp, Result, Session};

/// The same allocator as the `portcullis` binary, so the difference is Portcullis's work.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Bare {
    upstream: SocketAddr,
}

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.upstream, false, String::new())))
    }
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn main() -> std::process::ExitCode {
    let (Some(listen), Some(Ok(upstream))) = (arg("--listen"), arg("--upstream").map(|u| u.parse())) else {
        eprintln!("usage: bare_pingora --listen ADDR --upstream ADDR [--threads N]");
        return std::process::ExitCode::from(2);
    };
    let threads = arg("--threads").and_then(|t| t.parse().ok()).unwrap_or(1);
    let Ok(mut server) = pingora::server::Server::new(None) else {
        eprintln!("bare_pingora: cannot create the server");
        return std::process::ExitCode::from(2);
    };
    server.bootstrap();
    let mut service = pingora::proxy::http_proxy_service(&server.configuration, Bare { upstream });
    service.threads = Some(threads);
    service.add_tcp(&listen);
    server.add_service(service);
    server.run_forever()
}
