//! The gateway end to end: the real `portcullis serve` process on 127.0.0.1 in front of a
//! recording upstream, with requests written byte for byte over TCP so that hostile targets
//! arrive exactly as sent. Each test starts its own gateway ([`Gateway::start`]) and the
//! process is killed when the test ends, pass or fail.
//!
//! Tests named `aNN_`, `bNN_`, ... are the cases of `../shared/security/CASES.md`.

mod agree;
mod api_tokens;
mod cases;
mod conformance;
mod decision_log;
pub mod demo;
mod forwarding;
mod jwks;
mod reload;
mod restart;
mod shadow;
mod slowloris;
mod tls;
mod upstream;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub use crate::scratch;

/// A token for `sub`, signed with the test RSA key (kid `test`), valid for 10 minutes.
pub fn token(sub: &str) -> String {
    token_with(sub, &json!({}))
}

/// A token for `sub` with extra claims merged in.
pub fn token_with(sub: &str, extra: &serde_json::Value) -> String {
    let key =
        EncodingKey::from_rsa_pem(&std::fs::read(root().join("tests/fixtures/keys/rsa.key.pem")).unwrap()).unwrap();
    let exp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 600;
    let mut claims = json!({ "sub": sub, "exp": exp });
    for (k, v) in extra.as_object().unwrap() {
        claims[k] = v.clone();
    }
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("test".into());
    encode(&header, &claims, &key).unwrap()
}

/// `Authorization: Bearer <token for sub>`.
pub fn bearer(sub: &str) -> String {
    format!("Authorization: Bearer {}", token(sub))
}

/// A fixed API token for service account `account` of `org` (derived from both names, so
/// tests need not pass it around); [`sa_token_entry`] is the config that accepts it.
pub fn sa_token(org: &str, account: &str) -> String {
    let digest = portcullis::auth::TokenCache::digest(&format!("test token of {org}/{account}"));
    format!("pcat_{}", portcullis::auth::hex(&digest))
}

/// The `[[auth.api_token]]` entry for [`sa_token`].
pub fn sa_token_entry(org: &str, account: &str) -> String {
    let sha256 = portcullis::auth::hex(&portcullis::auth::TokenCache::digest(&sa_token(org, account)));
    format!("\n[[auth.api_token]]\norg = \"{org}\"\naccount = \"{account}\"\nsha256 = \"{sha256}\"\n")
}

/// `Authorization: Bearer <API token of service account org/account>`.
pub fn sa_bearer(org: &str, account: &str) -> String {
    format!("Authorization: Bearer {}", sa_token(org, account))
}

/// What the recording upstream received: one entry per request, head and body.
pub type Seen = Arc<Mutex<Vec<String>>>;

/// An upstream that records each request it receives (head, then the body its
/// Content-Length or chunked framing delimits) and answers `200 ok`; `/healthz` is
/// answered 200 and not recorded.
pub fn recording_upstream() -> (SocketAddr, Seen) {
    upstream_with(Health::Healthy, "ok")
}

/// How an upstream answers its health checks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Healthy,
    /// `/healthz` is answered 503, every other request as usual.
    Failing,
}

/// A recording upstream whose health checks answer as `health` and whose body is `body`.
pub fn upstream_with(health: Health, body: &'static str) -> (SocketAddr, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let record = record.clone();
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                while let Some(request) = read_request(&mut stream) {
                    let is_health = request.starts_with("GET /healthz ");
                    let created = create_request(&request);
                    let create_body = header_of(&request, "x-create-body");
                    let pad = header_of(&request, "x-create-pad").and_then(|n| n.parse().ok()).unwrap_or(0);
                    let listed = list_reply(&request);
                    if !is_health {
                        record.lock().unwrap().push(request);
                    }
                    let reply = if is_health && health == Health::Failing {
                        "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n".to_string()
                    } else if let Some(reply) = listed {
                        reply
                    } else if let Some((path, id)) = created {
                        // A create the test names (`x-create-id: ID`) is answered as a platform
                        // answers one: 201 and where the new resource is.
                        format!("HTTP/1.1 201 Created\r\nlocation: {path}/{id}\r\ncontent-length: 0\r\n\r\n")
                    } else if let Some(json) = create_body {
                        // Or as a platform that names it in the body only (`created_id`), padded
                        // to `x-create-pad` bytes more, sent in pieces to be read as a stream.
                        let body = json.replacen('{', &format!("{{\"pad\":\"{}\",", "x".repeat(pad)), 1);
                        let head = format!("HTTP/1.1 201 Created\r\ncontent-length: {}\r\n\r\n", body.len());
                        let mut reply = head.into_bytes();
                        reply.extend_from_slice(body.as_bytes());
                        for piece in reply.chunks(64 * 1024) {
                            if stream.write_all(piece).and_then(|()| stream.flush()).is_err() {
                                return;
                            }
                        }
                        continue;
                    } else {
                        format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len())
                    };
                    if stream.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

/// A collection as a platform lists one, for a request that asks (`x-list: N`): `N` items
/// `{"id": "c-I", "name": "container I"}` under `items`, with a `next` cursor; or the body
/// `x-list-raw` as it is, with `x-list-encoding` as its Content-Encoding.
fn list_reply(request: &str) -> Option<String> {
    let (body, encoding) = match (header_of(request, "x-list"), header_of(request, "x-list-raw")) {
        (Some(n), _) => {
            let items: Vec<String> = (0..n.parse::<usize>().ok()?)
                .map(|i| format!(r#"{{"id": "c-{i}", "name": "container {i}"}}"#))
                .collect();
            (format!(r#"{{"items": [{}], "next": "page-2"}}"#, items.join(", ")), None)
        }
        (None, Some(raw)) => (raw, header_of(request, "x-list-encoding")),
        (None, None) => return None,
    };
    let encoding = encoding.map(|e| format!("content-encoding: {e}\r\n")).unwrap_or_default();
    Some(format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\netag: \"whole\"\r\n{encoding}content-length: {}\r\n\r\n{body}",
        body.len()
    ))
}

/// A `POST` carrying `x-create-id: ID`: its path and the id to answer with.
fn create_request(request: &str) -> Option<(String, String)> {
    let path = request.strip_prefix("POST ")?.split(' ').next()?.to_string();
    let id = header_of(request, "x-create-id")?;
    Some((path, id))
}

/// The value of header `name` in `request`'s head.
fn header_of(request: &str, name: &str) -> Option<String> {
    let head = request.split("\r\n\r\n").next()?;
    head.lines().find_map(|l| {
        let (n, value) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| value.trim().to_string())
    })
}

/// Reads one request (head and framed body) as text; `None` at EOF or on a timeout.
fn read_request(stream: &mut TcpStream) -> Option<String> {
    let mut data = Vec::new();
    let mut byte = [0u8; 1];
    while !data.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => data.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&data).to_ascii_lowercase();
    let length =
        head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse::<usize>().ok());
    if let Some(n) = length {
        let mut body = vec![0u8; n];
        stream.read_exact(&mut body).ok()?;
        data.extend_from_slice(&body);
    } else if head.contains("transfer-encoding: chunked") {
        while !data.ends_with(b"\r\n0\r\n\r\n") && !data.ends_with(b"\r\n\r\n0\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(1) => data.push(byte[0]),
                _ => return None,
            }
        }
    }
    Some(String::from_utf8_lossy(&data).into_owned())
}

/// A port for a server under test to listen on. Taken below Linux's ephemeral range
/// (32768 and up), where the tests' own client connections would otherwise take it between
/// this check and the server's bind, and handed out once per test process.
pub fn free_port() -> u16 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let base = 20_000 + (u64::from(std::process::id()) * 131) % 8_000;
    loop {
        let candidate = base + NEXT.fetch_add(1, Ordering::Relaxed) % 4_000;
        let port = u16::try_from(candidate).unwrap();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A running `portcullis serve`, its recording upstream and its scratch folder.
pub struct Gateway {
    pub port: u16,
    pub seen: Seen,
    pub dir: PathBuf,
    child: Child,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// How to start a gateway for a test.
#[derive(Default)]
pub struct Setup<'a> {
    /// The policies folder (default: the shipped `policies/`).
    pub policies: Option<&'a Path>,
    /// Text appended to the config, after `[[auth.key]]`: start it with a table header.
    pub extra_config: &'a str,
    /// Require `iss = "https://id.test"` and `aud = "platform"` in tokens.
    pub issuer_audience: bool,
    /// No clock leeway on `exp` and `nbf`.
    pub leeway_zero: bool,
    /// More lines for the `[auth]` table.
    pub auth_lines: &'a str,
    /// More backends for the shipped upstream, after the recording one.
    pub extra_backends: Vec<SocketAddr>,
    /// Leave the recording upstream out of the backends (`extra_backends` only).
    pub without_recorder: bool,
    /// (from, to) replacements applied to the shipped config text.
    pub replace: &'a [(&'a str, &'a str)],
    /// Keep the shipped `demo_key = true` (the console's demo sign-in).
    pub demo_key: bool,
}

impl Gateway {
    /// The shipped config and policies, with the test RSA key as the only token key.
    pub fn start() -> Gateway {
        Gateway::start_with(Setup::default())
    }

    pub fn start_with(setup: Setup<'_>) -> Gateway {
        let (upstream, seen) = recording_upstream();
        let port = free_port();
        let dir = scratch("gw");
        let policies = setup.policies.map_or_else(|| root().join("policies"), Path::to_path_buf);
        let shipped = std::fs::read_to_string(root().join("config.toml")).unwrap();
        let mut text = shipped
            .replace("listen = \"127.0.0.1:8080\"", &format!("listen = \"127.0.0.1:{port}\""))
            .replace("policies = \"policies\"", &format!("policies = \"{}\"", policies.display()))
            .replace("backends = [\"127.0.0.1:9000\"]", &{
                let all: Vec<String> = std::iter::once(upstream)
                    .filter(|_| !setup.without_recorder)
                    .chain(setup.extra_backends.iter().copied())
                    .map(|a| format!("\"{a}\""))
                    .collect();
                format!("backends = [{}]", all.join(", "))
            });
        for (from, to) in setup.replace {
            assert!(text.contains(from), "the shipped config has no '{from}' to replace");
            text = text.replace(from, to);
        }
        let mut auth = String::from(if setup.demo_key { "demo_key = true\n" } else { "demo_key = false\n" });
        if setup.issuer_audience {
            auth.push_str("issuer = \"https://id.test\"\naudience = \"platform\"\n");
        }
        if setup.leeway_zero {
            auth.push_str("leeway_secs = 0\n");
        }
        auth.push_str(setup.auth_lines);
        assert!(text.contains("demo_key = true"), "the shipped config has no demo_key line");
        text = text.replacen("demo_key = true", &auth, 1);
        // The shipped policies' service account has a token, like every user has a JWT.
        text.push_str(&format!(
            "\n[[auth.key]]\nkid = \"test\"\nalgorithm = \"RS256\"\nfile = \"{}\"\n{}{}",
            root().join("tests/fixtures/keys/rsa.pub.pem").display(),
            sa_token_entry("acme", "ci-bot"),
            setup.extra_config
        ));
        Gateway::launch(port, seen, dir, &text)
    }

    /// A gateway on a config of its own: `[gateway]` on `port` over `policies`, the test key,
    /// the recording upstream as upstream `platform`, and then `rest` (routes and more).
    pub fn start_custom(policies: &Path, rest: &str) -> Gateway {
        let (upstream, seen) = recording_upstream();
        let port = free_port();
        let text = format!(
            "[gateway]\nlisten = \"127.0.0.1:{port}\"\npolicies = \"{}\"\n\n[auth]\n[[auth.key]]\nkid = \"test\"\n\
             algorithm = \"RS256\"\nfile = \"{}\"\n\n[[upstream]]\nname = \"platform\"\nbackends = [\"{upstream}\"]\n\n{rest}",
            policies.display(),
            root().join("tests/fixtures/keys/rsa.pub.pem").display(),
        );
        Gateway::launch(port, seen, scratch("gw"), &text)
    }

    /// Writes `config` into `dir` and runs `portcullis serve` on it until it listens.
    fn launch(port: u16, seen: Seen, dir: PathBuf, config_text: &str) -> Gateway {
        let config = dir.join("config.toml");
        std::fs::write(&config, config_text).unwrap();
        let log = std::fs::File::create(dir.join("gateway.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["serve", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut gateway = Gateway { port, seen, dir, child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = gateway.child.try_wait() {
                panic!("the gateway exited ({status}) before it listened: {}", gateway.log());
            }
            assert!(Instant::now() < deadline, "the gateway did not listen within 20 s: {}", gateway.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        gateway
    }

    /// The gateway's process id (to send it signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Reaps the gateway process if it has exited.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// What the gateway wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("gateway.log")).unwrap_or_default()
    }

    /// How many requests reached the upstream.
    pub fn forwarded(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// The last request the upstream received.
    pub fn last(&self) -> String {
        self.seen.lock().unwrap().last().cloned().unwrap_or_default()
    }

    /// Sends raw bytes on a new connection; returns (status, head, body) of the first
    /// response, 0 if there was none.
    pub fn send(&self, request: &[u8]) -> (u16, String, String) {
        send_on(self.port, request)
    }

    /// One request with `Connection: close`, the given method, target and header lines.
    pub fn request(&self, method: &str, target: &str, headers: &[&str]) -> (u16, String, String) {
        request_on(self.port, method, target, headers)
    }

    /// The status of one request.
    pub fn status(&self, method: &str, target: &str, headers: &[&str]) -> u16 {
        self.request(method, target, headers).0
    }

    /// Asserts `target` gets `status` and nothing reaches the upstream.
    pub fn assert_rejected(&self, method: &str, target: &str, headers: &[&str], status: u16) {
        let before = self.forwarded();
        let (got, head, body) = self.request(method, target, headers);
        assert_eq!(got, status, "{method} {target}: {head}\r\n\r\n{body}");
        assert_eq!(self.forwarded(), before, "{method} {target} reached the upstream: {}", self.last());
    }

    /// Asserts `target` is forwarded as exactly `forwarded` (request line target).
    pub fn assert_forwarded_as(&self, method: &str, target: &str, headers: &[&str], forwarded: &str) {
        let before = self.forwarded();
        let (got, head, body) = self.request(method, target, headers);
        assert_eq!(got, 200, "{method} {target}: {head}\r\n\r\n{body}");
        assert_eq!(self.forwarded(), before + 1, "{method} {target} was not forwarded once");
        let last = self.last();
        let line = last.lines().next().unwrap_or_default();
        assert_eq!(line, format!("{method} {forwarded} HTTP/1.1"), "{last}");
    }
}

/// Sends raw bytes to a port on a new connection; (status, head, body) of the response.
pub fn send_on(port: u16, request: &[u8]) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    parse_response(&out)
}

/// One request with `Connection: close` to a port.
pub fn request_on(port: u16, method: &str, target: &str, headers: &[&str]) -> (u16, String, String) {
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    send_on(port, req.as_bytes())
}

/// Runs `portcullis COMMAND --config` on the shipped config, edited by `edit` (its policies
/// path made absolute first), expecting it to refuse to start; returns what it printed.
pub fn refused_to_start(command: &str, edit: impl FnOnce(String) -> String) -> String {
    let dir = scratch("refused");
    let shipped = std::fs::read_to_string(root().join("config.toml")).unwrap();
    let shipped =
        shipped.replace("policies = \"policies\"", &format!("policies = \"{}\"", root().join("policies").display()));
    let config = dir.join("config.toml");
    std::fs::write(&config, edit(shipped)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis")).args([command, "--config"]).arg(&config).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "portcullis {command} did not refuse to start: {err}");
    err
}

/// (status, head, body) of raw response bytes; status 0 if there is no status line.
pub fn parse_response(out: &[u8]) -> (u16, String, String) {
    let text = String::from_utf8_lossy(out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_string(), body.to_string())
}
