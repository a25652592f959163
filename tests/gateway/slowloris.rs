//! CASES E32 at scale: 10,000 idle keep-alive connections and 5,000 that hold half a request
//! head do not slow a real request down (p99 within 10 ms), and a head that does not finish
//! within `head_timeout_secs` has its connection closed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::{Gateway, Setup, bearer};

const C42: &str = "/v1/orgs/acme/projects/web/containers/c-42";

/// Idle connections opened (and their first requests sent) at a time: the recording
/// upstream, a thread per connection, takes only so many new connections at once.
const BATCH: usize = 64;

/// Lets this test process open as many sockets as it may.
fn raise_open_files() -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit);
    }
    limit.rlim_cur
}

/// Reads one response with a Content-Length body; its status.
fn read_response(stream: &mut TcpStream) -> u16 {
    let mut buf = Vec::with_capacity(512);
    let mut byte = [0u8; 512];
    loop {
        let text = String::from_utf8_lossy(&buf);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
            }
        }
        match stream.read(&mut byte) {
            Ok(0) | Err(_) => return 0,
            Ok(n) => buf.extend_from_slice(&byte[..n]),
        }
    }
}

#[test]
fn idle_and_slow_head_connections_do_not_slow_a_real_request() {
    let limit = raise_open_files();
    let (idle, slow) = if limit >= 16_500 { (10_000, 5_000) } else { (limit as usize / 3, limit as usize / 6) };
    let gw = Gateway::start_with(Setup {
        replace: &[("head_timeout_secs = 10", "head_timeout_secs = 5")],
        ..Default::default()
    });
    let dave = bearer("dave");
    let request = format!("GET {C42} HTTP/1.1\r\nHost: gw.test\r\n{dave}\r\n\r\n");

    // Idle keep-alive connections, each after one answered request.
    let mut idle_connections = Vec::with_capacity(idle);
    for batch in 0..idle.div_ceil(BATCH) {
        let mut streams: Vec<TcpStream> =
            (0..BATCH.min(idle - batch * BATCH)).map(|_| TcpStream::connect(("127.0.0.1", gw.port)).unwrap()).collect();
        for s in &mut streams {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(request.as_bytes()).unwrap();
        }
        for s in &mut streams {
            assert_eq!(read_response(s), 200, "an idle connection's request failed: {}", gw.log());
        }
        idle_connections.extend(streams);
    }
    // Slow heads: half a request each, then nothing.
    let started_slow = Instant::now();
    let half = format!("GET {C42} HTTP/1.1\r\nHost: gw.test\r\n");
    let mut slow_connections: Vec<TcpStream> = (0..slow)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
            s.write_all(half.as_bytes()).unwrap();
            s
        })
        .collect();

    // A real client meanwhile: one keep-alive connection, requests one after another.
    let mut client = TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
    client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut latencies = Vec::new();
    for _ in 0..500 {
        let t = Instant::now();
        client.write_all(request.as_bytes()).unwrap();
        assert_eq!(read_response(&mut client), 200);
        latencies.push(t.elapsed());
    }
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100 - 1];
    eprintln!(
        "slowloris: {idle} idle and {slow} slow-head connections; real requests p50 {:.2} ms, p99 {:.2} ms",
        latencies[latencies.len() / 2].as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
    assert!(started_slow.elapsed() < Duration::from_secs(5), "the slow heads were not all open while measuring");
    assert!(p99 <= Duration::from_millis(10), "p99 {p99:?} with idle and slow-head connections open");

    // The slow heads are closed once head_timeout_secs has passed since their first byte.
    let probe = slow_connections.last_mut().unwrap();
    probe.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut rest = Vec::new();
    let _ = probe.read_to_end(&mut rest);
    let closed_after = started_slow.elapsed();
    assert!(
        closed_after >= Duration::from_secs(4) && closed_after < Duration::from_secs(9),
        "a slow head was closed after {closed_after:?}, not at head_timeout_secs (5 s)"
    );
    drop(idle_connections);
}

/// At `max_connections`, a new connection is served and the longest-idle one is closed to
/// make room; the others stay open.
#[test]
fn at_the_connection_cap_the_longest_idle_connection_makes_room() {
    let gw = Gateway::start_with(Setup {
        replace: &[
            ("explain_denials = false", "explain_denials = false\nthreads = 1"),
            ("max_connections = 16384", "max_connections = 20"),
        ],
        ..Default::default()
    });
    let dave = bearer("dave");
    let request = format!("GET {C42} HTTP/1.1\r\nHost: gw.test\r\n{dave}\r\n\r\n");
    let mut open: Vec<TcpStream> = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        assert_eq!(read_response(&mut s), 200);
        open.push(s);
        // Distinct idle times, oldest first.
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut newest = TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
    newest.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    newest.write_all(request.as_bytes()).unwrap();
    assert_eq!(read_response(&mut newest), 200, "the connection over the cap was not served");
    // The longest-idle connection was closed: it reads the end of the stream.
    let mut rest = Vec::new();
    assert_eq!(open[0].read_to_end(&mut rest).unwrap_or(usize::MAX), 0, "the longest-idle connection is still open");
    // The next one is still served.
    open[1].write_all(request.as_bytes()).unwrap();
    assert_eq!(read_response(&mut open[1]), 200, "a connection that was not the longest idle was closed");
}

/// A body that stops arriving for `body_timeout_secs` is answered 408 and closed, and the
/// upstream never receives a whole request.
#[test]
fn a_body_that_stops_arriving_is_408() {
    let gw = Gateway::start_with(Setup {
        replace: &[("body_timeout_secs = 30", "body_timeout_secs = 1")],
        ..Default::default()
    });
    let dave = bearer("dave");
    let mut s = TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = Instant::now();
    s.write_all(format!("PUT {C42} HTTP/1.1\r\nHost: gw.test\r\n{dave}\r\nContent-Length: 10\r\n\r\nabc").as_bytes())
        .unwrap();
    assert_eq!(read_response(&mut s), 408);
    assert!(started.elapsed() < Duration::from_secs(4), "took {:?}", started.elapsed());
    assert_eq!(gw.forwarded(), 0, "{}", gw.last());
}
