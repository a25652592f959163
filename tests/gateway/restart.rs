//! Zero-downtime upgrade: a new `portcullis serve --upgrade` takes the listening sockets
//! over from the running one on SIGQUIT, while a client keeps sending requests. No request
//! may fail; the p99 over the run is reported.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{Gateway, bearer};

fn alive(pid: u32) -> bool {
    // Signal 0 checks for existence; a zombie of ours would still count, so callers reap.
    Command::new("kill").args(["-0", &pid.to_string()]).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

#[test]
fn ten_upgrades_under_load_drop_no_request() {
    let mut gw = Gateway::start();
    let port = gw.port;
    let config = gw.dir.join("config.toml");
    let sock = portcullis::gateway::sockets::runtime_dir().unwrap().join(format!("portcullis-upgrade-{port}.sock"));
    let stop = Arc::new(AtomicBool::new(false));
    let auth = bearer("alice");
    let load = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (mut latencies, mut failures) = (Vec::new(), Vec::new());
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let (status, head, _) =
                    super::request_on(port, "GET", "/v1/orgs/acme/projects/web/containers/c-1", &[&auth]);
                latencies.push(started.elapsed());
                if status != 200 {
                    failures.push(format!("{status} {head}"));
                }
            }
            (latencies, failures)
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let mut old_pid = gw.pid();
    let mut newest: Option<Child> = None;
    for round in 0..10 {
        let _ = std::fs::remove_file(&sock);
        let log = std::fs::File::create(gw.dir.join(format!("upgrade-{round}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["serve", "--upgrade", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !sock.exists() {
            assert!(Instant::now() < deadline, "round {round}: the new process never waited for the sockets");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(Command::new("kill").args(["-QUIT", &old_pid.to_string()]).status().unwrap().success());
        // The old process hands over, drains and exits; reap it if it is ours.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(previous) = newest.as_mut() {
                let _ = previous.try_wait();
            } else {
                let _ = gw.try_wait();
            }
            if !alive(old_pid) {
                break;
            }
            assert!(Instant::now() < deadline, "round {round}: the old process did not exit after SIGQUIT");
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Some(mut previous) = newest.take() {
            let _ = previous.wait();
        }
        old_pid = child.id();
        newest = Some(child);
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let (mut latencies, failures) = load.join().unwrap();
    if let Some(mut last) = newest {
        let _ = last.kill();
        let _ = last.wait();
    }
    let _ = std::fs::remove_file(&sock);
    latencies.sort();
    let p99 = latencies[(latencies.len() - 1) * 99 / 100];
    eprintln!(
        "upgrades: 10 under load, {} requests, {} failed, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        failures.len(),
        p99.as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3
    );
    assert!(
        failures.is_empty(),
        "{} requests failed during upgrades: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(latencies.len() > 100, "too few requests to mean anything");
}

/// An upstream that answers `/healthz` at once and everything else after `delay`.
fn slow_upstream(delay: Duration) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                let n = stream.read(&mut buf).unwrap_or(0);
                if !String::from_utf8_lossy(&buf[..n]).starts_with("GET /healthz") {
                    std::thread::sleep(delay);
                }
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\nslow");
            });
        }
    });
    addr
}

#[test]
fn sigterm_finishes_requests_in_flight_then_exits() {
    let slow = slow_upstream(Duration::from_millis(1500));
    let mut gw =
        Gateway::start_with(super::Setup { without_recorder: true, extra_backends: vec![slow], ..Default::default() });
    let port = gw.port;
    let in_flight = std::thread::spawn(move || {
        let started = Instant::now();
        let (status, _, body) =
            super::request_on(port, "GET", "/v1/orgs/acme/projects/web/containers/c-1", &[&bearer("alice")]);
        (status, body, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(400));
    let terminated = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &gw.pid().to_string()]).status().unwrap().success());
    let (status, body, took) = in_flight.join().unwrap();
    assert_eq!((status, body.as_str()), (200, "slow"), "the request in flight was cut");
    assert!(took >= Duration::from_millis(1400), "{took:?}");
    // It exits within the grace period (3 s).
    let deadline = Instant::now() + Duration::from_secs(8);
    while gw.try_wait().is_none() {
        assert!(Instant::now() < deadline, "still running 8 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "sigterm: in-flight request answered 200 after {took:?}; exited {:?} after SIGTERM",
        terminated.elapsed()
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "still accepting after exit");
}
