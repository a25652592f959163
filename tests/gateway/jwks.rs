//! CASES D29 and key rotation: keys from a JWKS URL. The endpoint going down, slow, or
//! returning garbage keeps the last good set; unknown `kid`s refetch at a bounded rate and
//! are refused meanwhile; a key removed from the set stops verifying, cached or not.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};

use super::{Gateway, Setup, root};

const C42: &str = "/v1/orgs/acme/projects/web/containers/c-42";

#[derive(Clone)]
enum Mode {
    Serve(String),
    Down,
    Slow(String),
    Garbage,
}

struct JwksServer {
    addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    fn start(mode: Mode) -> JwksServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(Mutex::new(mode));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (m, f) = (mode.clone(), fetches.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                f.fetch_add(1, Ordering::SeqCst);
                let mode = m.lock().unwrap().clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    let _ = stream.read(&mut buf);
                    let body = match mode {
                        Mode::Down => return,
                        Mode::Serve(body) => body,
                        Mode::Slow(body) => {
                            std::thread::sleep(Duration::from_secs(3));
                            body
                        }
                        Mode::Garbage => "<html>oops</html>".to_string(),
                    };
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(reply.as_bytes());
                });
            }
        });
        JwksServer { addr, mode, fetches }
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

fn jwk(name: &str) -> String {
    std::fs::read_to_string(root().join("tests/fixtures/keys").join(name)).unwrap()
}

fn key_set(names: &[&str]) -> String {
    let keys: Vec<String> = names.iter().map(|n| jwk(n)).collect();
    format!("{{\"keys\": [{}]}}", keys.join(","))
}

fn signed(kid: &str, alg: Algorithm, pem: &str, sub: &str) -> String {
    let pem = std::fs::read(root().join("tests/fixtures/keys").join(pem)).unwrap();
    let key = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem).unwrap(),
        _ => EncodingKey::from_ec_pem(&pem).unwrap(),
    };
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    let exp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 600;
    let token = jsonwebtoken::encode(&header, &serde_json::json!({ "sub": sub, "exp": exp }), &key).unwrap();
    format!("Authorization: Bearer {token}")
}

fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "not within 10 s: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn d29_the_last_good_key_set_survives_a_bad_endpoint_and_unknown_kids_refetch_at_a_bounded_rate() {
    let server = JwksServer::start(Mode::Serve(key_set(&["rsa.jwk.json"])));
    let jwks_lines =
        format!("jwks_url = \"http://{}/jwks.json\"\njwks_min_interval_secs = 1\njwks_timeout_ms = 500\n", server.addr);
    let gw = Gateway::start_with(Setup { auth_lines: &jwks_lines, ..Default::default() });
    let rsa = signed("jwks-rsa", Algorithm::RS256, "rsa.key.pem", "dave");
    let ec = signed("jwks-ec", Algorithm::ES256, "ec.key.pem", "dave");
    gw.assert_forwarded_as("GET", C42, &[&rsa], C42);

    // A key the set does not have yet: refused at once, fetched soon, then accepted.
    gw.assert_rejected("GET", C42, &[&ec], 401);
    server.set(Mode::Serve(key_set(&["rsa.jwk.json", "ec.jwk.json"])));
    eventually("the rotated-in key verifies", || gw.status("GET", C42, &[&ec]) == 200);

    // A flood of made-up kids: every one refused, and the endpoint asked at most about once
    // a second (jwks_min_interval_secs = 1).
    let before = server.fetches();
    let started = Instant::now();
    for i in 0..200 {
        let fake = signed(&format!("made-up-{i}"), Algorithm::ES256, "attacker-ec.key.pem", "alice");
        assert_eq!(gw.status("GET", C42, &[&fake]), 401);
    }
    let seconds = started.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(1200));
    let fetched = server.fetches() - before;
    assert!(fetched as f64 <= seconds + 3.0, "{fetched} fetches for 200 unknown kids in {seconds:.1} s");

    // Garbage, down, slow: the last good set keeps verifying, and requests never wait.
    for mode in [Mode::Garbage, Mode::Down, Mode::Slow(key_set(&["ec.jwk.json"]))] {
        server.set(mode);
        let fetched = server.fetches();
        let unknown = signed("made-up", Algorithm::ES256, "attacker-ec.key.pem", "alice");
        assert_eq!(gw.status("GET", C42, &[&unknown]), 401);
        eventually("the endpoint is asked again", || server.fetches() > fetched);
        let started = Instant::now();
        assert_eq!(gw.status("GET", C42, &[&rsa]), 200, "{}", gw.log());
        assert_eq!(gw.status("GET", C42, &[&ec]), 200);
        assert!(started.elapsed() < Duration::from_secs(1), "a request waited for the key set");
    }
    std::thread::sleep(Duration::from_secs(3));
    let log = gw.log();
    assert!(log.contains("keeping the last good set"), "{log}");

    // Rotation out: once the set drops the RSA key, its tokens are refused, though cached.
    server.set(Mode::Serve(key_set(&["ec.jwk.json"])));
    let unknown = signed("made-up-again", Algorithm::ES256, "attacker-ec.key.pem", "alice");
    assert_eq!(gw.status("GET", C42, &[&unknown]), 401);
    eventually("the removed key stops verifying", || gw.status("GET", C42, &[&rsa]) == 401);
    assert_eq!(gw.status("GET", C42, &[&ec]), 200);
}

#[test]
fn jwks_fetches_and_failures_are_counted_in_the_metrics() {
    let server = JwksServer::start(Mode::Garbage);
    let jwks_lines =
        format!("jwks_url = \"http://{}/jwks.json\"\njwks_min_interval_secs = 1\njwks_timeout_ms = 500\n", server.addr);
    let admin = super::free_port();
    let store = super::scratch("store");
    let extra = format!("\n[admin]\nlisten = \"127.0.0.1:{admin}\"\ndata_dir = \"{}\"\n", store.display());
    let gw = Gateway::start_with(Setup { auth_lines: &jwks_lines, extra_config: &extra, ..Default::default() });
    crate::admin::wait_listening(admin, &gw);
    eventually("the garbage key set was fetched", || server.fetches() >= 1);
    let metric = |name: &str| -> u64 {
        let text = super::request_on(admin, "GET", "/metrics", &[]).2;
        text.lines().find_map(|l| l.strip_prefix(&format!("{name} "))).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    eventually("a failed fetch is counted", || metric("portcullis_jwks_fetch_failures_total") >= 1);
    assert!(metric("portcullis_jwks_fetches_total") >= 1);
    drop(gw);
    let _ = std::fs::remove_dir_all(store);
}
