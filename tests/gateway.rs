//! The gateway end to end: the real `portcullis serve` process on 127.0.0.1, a recording
//! upstream, and requests written byte for byte over TCP, so hostile targets arrive as sent.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;

/// Stops the gateway process when the test ends, pass or fail.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An upstream that records each request head it receives and answers 200.
fn recording_upstream() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let record = record.clone();
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                record.lock().unwrap().push(String::from_utf8_lossy(&head).into_owned());
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
            });
        }
    });
    (addr, seen)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn token(sub: &str) -> String {
    let key =
        EncodingKey::from_rsa_pem(&std::fs::read(root().join("tests/fixtures/keys/rsa.key.pem")).unwrap()).unwrap();
    let exp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 600;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("test".into());
    encode(&header, &json!({ "sub": sub, "exp": exp }), &key).unwrap()
}

/// Sends raw bytes, returns (status, head, body) of the response.
fn send(port: u16, request: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

fn get(port: u16, method: &str, target: &str, headers: &[&str]) -> (u16, String, String) {
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    send(port, &req)
}

#[test]
fn gateway_end_to_end() {
    let (upstream, seen) = recording_upstream();
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("portcullis-gw-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.toml");
    let shipped = std::fs::read_to_string(root().join("config.toml")).unwrap();
    let text = shipped
        .replace("listen = \"127.0.0.1:8080\"", &format!("listen = \"127.0.0.1:{port}\""))
        .replace("policies = \"policies\"", &format!("policies = \"{}\"", root().join("policies").display()))
        .replace("backends = [\"127.0.0.1:9000\"]", &format!("backends = [\"{upstream}\"]"))
        + &format!(
            "\n[auth]\n[[auth.key]]\nkid = \"test\"\nalgorithm = \"RS256\"\nfile = \"{}\"\n",
            root().join("tests/fixtures/keys/rsa.pub.pem").display()
        );
    std::fs::write(&config, text).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _running = Running(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the gateway did not start listening within 20 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let forwarded = || seen.lock().unwrap().len();
    let dave = format!("Authorization: Bearer {}", token("dave"));

    // Allowed: forwarded once, as the canonical target, with the gateway's identity.
    let (status, _, body) = get(port, "GET", "/v1/orgs/acme/projects/web/containers/c%2D42?view=full", &[&dave]);
    assert_eq!((status, body.as_str()), (200, "ok"));
    let last = seen.lock().unwrap().last().cloned().unwrap();
    assert!(last.starts_with("GET /v1/orgs/acme/projects/web/containers/c-42?view=full HTTP/1.1\r\n"), "{last}");
    assert!(last.to_ascii_lowercase().contains("x-portcullis-principal: dave\r\n"), "{last}");
    assert!(!last.to_ascii_lowercase().contains("authorization:"), "the credential reached the upstream: {last}");

    // Spoofed identity headers (CASES B14) are replaced, in every spelling.
    let before = forwarded();
    let spoof = [dave.as_str(), "X-Portcullis-Principal: alice", "x_portcullis_principal: alice"];
    assert_eq!(get(port, "GET", "/v1/orgs/acme/projects/web/containers/c-42", &spoof).0, 200);
    assert_eq!(forwarded(), before + 1);
    let last = seen.lock().unwrap().last().cloned().unwrap().to_ascii_lowercase();
    assert!(!last.contains("alice"), "{last}");

    // CASES B13 and B18: forwarding, rewrite and method-override headers never reach the
    // upstream, and the decision uses the wire method (a GET stays a read).
    let sneaky = [
        dave.as_str(),
        "X-Forwarded-For: 10.0.0.1",
        "X_Forwarded_Host: evil.test",
        "Forwarded: for=10.0.0.1",
        "X-Original-URL: /v1/orgs/acme/billing",
        "X-Rewrite-URL: /admin",
        "X-HTTP-Method-Override: DELETE",
        "X-Method-Override: DELETE",
    ];
    assert_eq!(get(port, "GET", "/v1/orgs/acme/projects/web/containers/c-42", &sneaky).0, 200);
    let last = seen.lock().unwrap().last().cloned().unwrap().to_ascii_lowercase();
    for gone in ["forwarded", "x_forwarded", "x-original-url", "x-rewrite-url", "override", "10.0.0.1", "evil.test"] {
        assert!(!last.contains(gone), "'{gone}' reached the upstream: {last}");
    }
    assert!(last.starts_with("get /v1/orgs/acme/projects/web/containers/c-42 http/1.1"), "{last}");

    // Denied, unauthenticated, ambiguous, unrouted, unmapped: nothing is forwarded.
    let before = forwarded();
    let (status, _, body) = get(port, "DELETE", "/v1/orgs/acme/projects/web/containers/c-42", &[&dave]);
    assert_eq!(status, 403);
    assert!(body.contains("\"error\":\"forbidden\"") && body.contains("\"request_id\""), "{body}");
    let (status, head, _) = get(port, "GET", "/v1/orgs/acme/projects/web/containers/c-42", &[]);
    assert_eq!(status, 401);
    assert!(head.to_ascii_lowercase().contains("www-authenticate: bearer"), "{head}");
    let forged = format!("Authorization: Bearer {}x", token("alice"));
    assert_eq!(get(port, "GET", "/v1/orgs/acme/projects/web/containers/c-42", &[&forged]).0, 401);
    for target in [
        "/v1/orgs/acme/projects/web/containers/../containers/c-42",
        "/v1/orgs/acme/projects/web/containers/c%2F42",
        "/v1/orgs/acme;x/registries",
    ] {
        assert_eq!(get(port, "GET", target, &[&dave]).0, 400, "{target}");
    }
    assert_eq!(get(port, "GET", "/admin", &[&dave]).0, 404);
    let (status, head, _) = get(port, "OPTIONS", "/v1/orgs/acme/registries/r1", &[&dave]);
    assert_eq!(status, 405);
    assert!(head.to_ascii_lowercase().contains("allow: get, head, put, patch, delete"), "{head}");
    let alice = format!("Authorization: Bearer {}", token("alice"));
    let two = [dave.as_str(), alice.as_str()];
    assert_eq!(get(port, "GET", "/v1/orgs/acme/projects/web/containers/c-42", &two).0, 400);
    assert_eq!(forwarded(), before, "a rejected request reached the upstream");
    let _ = std::fs::remove_dir_all(&dir);
}
