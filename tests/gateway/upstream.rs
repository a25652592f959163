//! Forwarding to an upstream group: round robin and consistent hashing, health checks,
//! failover on connect, 502 when no backend answers, 504 on a timeout, and no retry of a
//! request that is not idempotent.

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{Gateway, Health, Setup, bearer, upstream_with};

const C42: &str = "/v1/orgs/acme/projects/web/containers/c-42";

/// An address nothing listens on.
fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// A backend that accepts connections, reads, and never answers; counts connections.
fn silent_upstream() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            seen.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    (addr, count)
}

#[test]
fn round_robin_spreads_requests_over_every_backend() {
    let (second, seen_second) = upstream_with(Health::Healthy, "second");
    let gw = Gateway::start_with(Setup { extra_backends: vec![second], ..Default::default() });
    let dave = bearer("dave");
    for _ in 0..10 {
        assert_eq!(gw.status("GET", C42, &[&dave]), 200);
    }
    let (first, second) = (gw.forwarded(), seen_second.lock().unwrap().len());
    assert_eq!(first + second, 10);
    assert!(first >= 3 && second >= 3, "first {first}, second {second}");
}

#[test]
fn consistent_hashing_sends_one_path_to_one_backend() {
    let (second, seen_second) = upstream_with(Health::Healthy, "second");
    let gw = Gateway::start_with(Setup {
        extra_backends: vec![second],
        replace: &[("selection = \"round_robin\"", "selection = \"consistent_hash\"")],
        ..Default::default()
    });
    let dave = bearer("dave");
    for id in 0..8 {
        let target = format!("/v1/orgs/acme/projects/web/containers/c-{id}");
        for _ in 0..4 {
            assert_eq!(gw.status("GET", &target, &[&dave]), 200);
        }
    }
    let first = gw.seen.lock().unwrap().clone();
    let second = seen_second.lock().unwrap().clone();
    assert_eq!(first.len() + second.len(), 32);
    for id in 0..8 {
        let line = format!("GET /v1/orgs/acme/projects/web/containers/c-{id} ");
        let (a, b) = (
            first.iter().filter(|r| r.starts_with(&line)).count(),
            second.iter().filter(|r| r.starts_with(&line)).count(),
        );
        assert!(a == 0 || b == 0, "c-{id} went to both backends ({a} and {b})");
    }
}

#[test]
fn a_backend_that_fails_its_health_check_gets_no_requests() {
    let (sick, seen_sick) = upstream_with(Health::Failing, "sick");
    let gw = Gateway::start_with(Setup {
        extra_backends: vec![sick],
        replace: &[("interval_secs = 5", "interval_secs = 1")],
        ..Default::default()
    });
    // Two failed checks a second apart take it out.
    std::thread::sleep(Duration::from_millis(3500));
    let dave = bearer("dave");
    for _ in 0..10 {
        assert_eq!(gw.status("GET", C42, &[&dave]), 200);
    }
    assert_eq!(seen_sick.lock().unwrap().len(), 0, "the unhealthy backend was used");
    assert_eq!(gw.forwarded(), 10);
}

const NO_HEALTH_CHECK: (&str, &str) =
    ("health_check = { path = \"/healthz\", interval_secs = 5, timeout_ms = 1000 }\n", "");

#[test]
fn a_backend_that_refuses_connections_is_skipped_for_the_next() {
    let gw = Gateway::start_with(Setup {
        extra_backends: vec![closed_port()],
        replace: &[NO_HEALTH_CHECK],
        ..Default::default()
    });
    let dave = bearer("dave");
    for _ in 0..6 {
        assert_eq!(gw.status("GET", C42, &[&dave]), 200);
    }
    // Writes with a body too: a failed connect sent nothing, so the next backend is safe.
    let bob = bearer("bob");
    for _ in 0..6 {
        let request = format!(
            "POST /v1/orgs/acme/projects/web/containers HTTP/1.1\r\nHost: gw.test\r\n{bob}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
        );
        assert_eq!(gw.send(request.as_bytes()).0, 200);
    }
    assert_eq!(gw.forwarded(), 12);
}

#[test]
fn no_backend_answering_is_502() {
    let gw = Gateway::start_with(Setup {
        without_recorder: true,
        extra_backends: vec![closed_port(), closed_port()],
        replace: &[NO_HEALTH_CHECK],
        ..Default::default()
    });
    let (status, _, body) = gw.request("GET", C42, &[&bearer("dave")]);
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("\"error\":\"bad gateway") && body.contains("request_id"), "{body}");
}

#[test]
fn a_backend_that_times_out_is_504_and_a_write_is_not_retried() {
    let (silent, connections) = silent_upstream();
    let gw = Gateway::start_with(Setup {
        extra_backends: vec![silent],
        replace: &[
            NO_HEALTH_CHECK,
            ("selection = \"round_robin\"", "selection = \"round_robin\"\nread_timeout_secs = 1"),
        ],
        ..Default::default()
    });
    let bob = bearer("bob");
    let (mut ok, mut timed_out) = (0, 0);
    for _ in 0..6 {
        let started = Instant::now();
        let request = format!(
            "POST /v1/orgs/acme/projects/web/containers HTTP/1.1\r\nHost: gw.test\r\n{bob}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
        );
        let (status, _, body) = gw.send(request.as_bytes());
        match status {
            200 => ok += 1,
            504 => {
                assert!(body.contains("gateway timeout"), "{body}");
                assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
                timed_out += 1;
            }
            other => panic!("status {other}: {body}"),
        }
    }
    assert!(ok > 0 && timed_out > 0, "ok {ok}, timed out {timed_out}");
    // Every POST that timed out reached the silent backend only: none was sent again.
    assert_eq!(gw.forwarded(), ok, "a POST that timed out was retried on the other backend");
    assert!(connections.load(Ordering::SeqCst) >= timed_out);
}
