//! What an AuthZEN evaluation costs a PEP on this machine (issue 14): the PDP served as
//! `[pdp]` serves it (hyper, on the background runtime), asked over one keep-alive
//! connection on 127.0.0.1, against `decide` on the same request in the same run.
//!
//! Prints p50 and p99 of one evaluation, of the same server answering its metadata (no
//! token, no decision: the floor of the HTTP stack), of a bare TCP echo of the same bytes
//! between two threads (the floor of the machine: no HTTP, no runtime), of `decide` alone,
//! the differences (goal: within 50 us of `decide` at p99), and of a batch of 100
//! evaluations (goal: under 1 ms).
//!
//! ```sh
//! cargo run --release --example pdp_latency
//! taskset -c 0 cargo run --release --example pdp_latency   # the PEP on the PDP's core
//! ```
//!
//! Across cores, most of a round trip on a VM is waking the other core (the bare echo shows
//! it); on one core, as for a PEP beside the PDP sharing its CPU, that cost is gone.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, reason = "bench tooling")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis::config::{Pdp, PdpClient};
use portcullis::pdp::PdpApi;
use portcullis::reload::LivePolicy;
use portcullis::{Caller, Request, Verb, decide};
use sha2::Digest;

const TOKEN: &str = "pdp-latency-token";
const ROUNDS: usize = 20_000;
const BATCHES: usize = 500;

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Sends one GET of the metadata on `stream` and reads the whole answer.
fn get_metadata(stream: &mut BufReader<TcpStream>) -> String {
    stream.get_mut().write_all(b"GET /.well-known/authzen-configuration HTTP/1.1\r\nHost: pdp\r\n\r\n").unwrap();
    read_answer(stream)
}

/// Sends one POST on `stream` and reads the whole answer; returns its body.
fn post(stream: &mut BufReader<TcpStream>, path: &str, body: &str) -> String {
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: pdp\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.get_mut().write_all(request.as_bytes()).unwrap();
    read_answer(stream)
}

fn read_answer(stream: &mut BufReader<TcpStream>) -> String {
    let mut length = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        stream.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
    }
    let mut out = vec![0u8; length];
    stream.read_exact(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pdp");
    let (policy, error) = LivePolicy::load(&dir);
    assert!(error.is_none(), "{error:?}");
    let policy = Arc::new(policy);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = PdpClient {
        name: "bench".into(),
        sha256: sha2::Sha256::digest(TOKEN.as_bytes()).into(),
        org: Some("acme".into()),
        reasons: false,
    };
    let api = Arc::new(PdpApi::new(&Pdp { listen: addr, issuer: None, clients: vec![client] }, policy.clone()));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (stop, stopping) = tokio::sync::watch::channel(false);
    runtime.spawn(portcullis::serve::serve(listener, api, stopping));

    let one = r#"{"subject":{"type":"user","id":"dave"},"resource":{"type":"todo","id":"t-1","properties":{"project":"web"}},"action":{"name":"can_read"}}"#;
    let mut stream = BufReader::new(TcpStream::connect(addr).unwrap());
    stream.get_mut().set_nodelay(true).unwrap();
    assert_eq!(post(&mut stream, "/access/v1/evaluation", one).trim(), r#"{"decision":true}"#);
    for _ in 0..1_000 {
        post(&mut stream, "/access/v1/evaluation", one);
    }
    let mut pdp = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        post(&mut stream, "/access/v1/evaluation", one);
        pdp.push(t.elapsed());
    }

    // The floor: the same server answering a fixed document, with no token and no decision.
    let mut floor = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        get_metadata(&mut stream);
        floor.push(t.elapsed());
    }

    // The machine's floor: the request's bytes echoed by a blocking thread, no HTTP at all.
    let echo = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let echo_addr = echo.local_addr().unwrap();
    let echoing = std::thread::spawn(move || {
        let (mut peer, _) = echo.accept().unwrap();
        peer.set_nodelay(true).unwrap();
        let mut buf = [0u8; 4096];
        loop {
            match peer.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => peer.write_all(&buf[..n]).unwrap(),
            }
        }
    });
    let mut raw = TcpStream::connect(echo_addr).unwrap();
    raw.set_nodelay(true).unwrap();
    let bytes = format!(
        "POST /access/v1/evaluation HTTP/1.1\r\nHost: pdp\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{one}",
        one.len()
    );
    let mut back = vec![0u8; bytes.len()];
    let mut bare = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        raw.write_all(bytes.as_bytes()).unwrap();
        raw.read_exact(&mut back).unwrap();
        bare.push(t.elapsed());
    }
    drop(raw);
    echoing.join().unwrap();

    let snapshot = policy.handle().load();
    let request = Request {
        org: "acme",
        principal: Caller::User("dave"),
        project: Some("web"),
        kind: "todo",
        id: Some("t-1"),
        verb: Verb::Read,
        at: portcullis::instant::now(),
    };
    assert!(decide(&snapshot, &request).allowed);
    let mut alone = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        std::hint::black_box(decide(&snapshot, std::hint::black_box(&request)));
        alone.push(t.elapsed());
    }

    let items: Vec<String> = (0..100)
        .map(|i| format!(r#"{{"resource":{{"type":"todo","id":"t-{i}","properties":{{"project":"web"}}}}}}"#))
        .collect();
    let batch = format!(
        r#"{{"subject":{{"type":"user","id":"dave"}},"action":{{"name":"read"}},"evaluations":[{}]}}"#,
        items.join(",")
    );
    assert_eq!(post(&mut stream, "/access/v1/evaluations", &batch).matches("decision").count(), 100);
    let mut batches = Vec::with_capacity(BATCHES);
    for _ in 0..BATCHES {
        let t = Instant::now();
        post(&mut stream, "/access/v1/evaluations", &batch);
        batches.push(t.elapsed());
    }
    let _ = stop.send(true);
    drop(stream);
    runtime.shutdown_timeout(Duration::from_secs(2));

    let (p50, p99) = (percentile(&mut pdp, 0.50), percentile(&mut pdp, 0.99));
    let (d50, d99) = (percentile(&mut alone, 0.50), percentile(&mut alone, 0.99));
    let (b50, b99) = (percentile(&mut batches, 0.50), percentile(&mut batches, 0.99));
    println!("evaluation over 1 connection ({ROUNDS}): p50 {:.1} us, p99 {:.1} us", us(p50), us(p99));
    let (f50, f99) = (percentile(&mut floor, 0.50), percentile(&mut floor, 0.99));
    println!("the server's floor, metadata GET ({ROUNDS}): p50 {:.1} us, p99 {:.1} us", us(f50), us(f99));
    let (e50, e99) = (percentile(&mut bare, 0.50), percentile(&mut bare, 0.99));
    println!("bare TCP echo of the request ({ROUNDS}): p50 {:.1} us, p99 {:.1} us", us(e50), us(e99));
    println!("decide alone ({ROUNDS}):               p50 {:.3} us, p99 {:.3} us", us(d50), us(d99));
    println!("p99 evaluation - decide: {:.1} us (goal: within 50 us)", us(p99) - us(d99));
    println!("p99 evaluation - bare echo: {:.1} us (what the PDP adds to the machine's round trip)", us(p99) - us(e99));
    println!(
        "batch of 100 ({BATCHES}):               p50 {:.1} us, p99 {:.1} us (goal: under 1000 us)",
        us(b50),
        us(b99)
    );
}
