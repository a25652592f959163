//! The control plane end to end: a real `portcullis serve` with `[admin]`, its admin API
//! called over HTTP, and the change enforced by the same process's gateway. Every module
//! here runs against SQLite; `postgres.rs` runs against a real PostgreSQL server.

mod access;
mod api;
mod apply;
mod cli;
mod creators;
mod filter;
mod grants;
mod lists;
mod postgres;
mod requests;
mod tenancy;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::gateway::{Gateway, Setup, free_port, token};

/// A gateway with the admin API, on the shipped config and policies.
pub struct Control {
    pub gateway: Gateway,
    pub admin: u16,
}

/// `[admin]` text for a listener on `port` and a store at `store` (`data_dir = ...` or
/// `postgres = ...`); `root` is the operator.
pub fn admin_section(port: u16, store: &str) -> String {
    format!("\n[admin]\nlisten = \"127.0.0.1:{port}\"\noperators = [\"root\"]\n{store}\n")
}

impl Control {
    /// A gateway with a fresh SQLite store in its scratch folder.
    pub fn start() -> Control {
        let dir = crate::scratch("store");
        Control::start_on(&format!("data_dir = \"{}\"", dir.display()))
    }

    /// A gateway whose store is `store` (a `data_dir` or `postgres` line).
    pub fn start_on(store: &str) -> Control {
        Control::start_with(store, None)
    }

    /// [`start_on`](Self::start_on) over a policies folder of the test's own.
    pub fn start_with(store: &str, policies: Option<&std::path::Path>) -> Control {
        Control::start_setup(store, Setup { policies, ..Setup::default() })
    }

    /// [`start`](Self::start) with (from, to) replacements in the shipped config.
    pub fn start_replacing(replace: &[(&str, &str)]) -> Control {
        let dir = crate::scratch("store");
        Control::start_setup(&format!("data_dir = \"{}\"", dir.display()), Setup { replace, ..Setup::default() })
    }

    fn start_setup(store: &str, setup: Setup<'_>) -> Control {
        let admin = free_port();
        let extra = admin_section(admin, store);
        let gateway = Gateway::start_with(Setup { extra_config: &extra, ..setup });
        wait_listening(admin, &gateway);
        Control { gateway, admin }
    }

    /// One admin call as `sub`.
    pub fn call(&self, sub: &str, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let (status, _, json) = call(self.admin, Some(sub), method, path, body);
        (status, json)
    }

    /// Like [`call`](Self::call), asserting the status; returns the JSON.
    pub fn expect(&self, sub: &str, method: &str, path: &str, body: Option<&str>, status: u16) -> Value {
        let (got, json) = self.call(sub, method, path, body);
        assert_eq!(got, status, "{method} {path} as {sub}: {json}\n{}", self.gateway.log());
        json
    }

    /// `portcullis ARGS` as `sub` against this admin API: (exit code, stdout, stderr).
    pub fn cli(&self, sub: &str, args: &[&str]) -> (i32, String, String) {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(args)
            .env("PORTCULLIS_ADMIN", format!("http://127.0.0.1:{}", self.admin))
            .env("PORTCULLIS_TOKEN", token(sub))
            .output()
            .unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
    }

    /// A gateway request as `sub` (optionally naming a revision to read), its status.
    pub fn gateway_status(&self, sub: &str, method: &str, target: &str, revision: Option<u64>) -> u16 {
        self.gateway_status_with(sub, method, target, revision, &[])
    }

    /// [`gateway_status`](Self::gateway_status) with more header lines.
    pub fn gateway_status_with(
        &self,
        sub: &str,
        method: &str,
        target: &str,
        revision: Option<u64>,
        more: &[&str],
    ) -> u16 {
        let auth = format!("Authorization: Bearer {}", token(sub));
        let rev = revision.map(|r| format!("Portcullis-Revision: {r}"));
        let mut headers = vec![auth.as_str()];
        if let Some(r) = &rev {
            headers.push(r);
        }
        headers.extend_from_slice(more);
        self.gateway.status(method, target, &headers)
    }
}

/// Two orgs with the same member names, to test one against the other: globex (owned by
/// gina) and initech (ivan), each with `members` and a project `web`. Returns the (org,
/// owner) pairs.
pub fn two_orgs(c: &Control, members: &[&str]) -> [(&'static str, &'static str); 2] {
    let orgs = [("globex", "gina"), ("initech", "ivan")];
    for (org, owner) in orgs {
        c.expect("root", "POST", "/v1/orgs", Some(&format!(r#"{{"id":"{org}","owner":"{owner}"}}"#)), 201);
        for m in members {
            c.expect(owner, "POST", &format!("/v1/orgs/{org}/members"), Some(&format!(r#"{{"id":"{m}"}}"#)), 201);
        }
        c.expect(owner, "POST", &format!("/v1/orgs/{org}/projects"), Some(r#"{"id":"web"}"#), 201);
    }
    orgs
}

/// Waits until `port` accepts connections (the admin listener starts beside the gateway's).
pub fn wait_listening(port: u16, gateway: &Gateway) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the admin API did not listen within 20 s: {}", gateway.log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One HTTP/1.1 call to the admin API on `port` as `sub` (no token if `None`): status, head,
/// and the body as JSON (`Null` if it is not JSON).
pub fn call(port: u16, sub: Option<&str>, method: &str, path: &str, body: Option<&str>) -> (u16, String, Value) {
    try_call(port, sub, method, path, body)
        .unwrap_or_else(|| panic!("{method} {path}: no answer from 127.0.0.1:{port}"))
}

/// [`call`], or `None` when there is no answer (the server is gone).
pub fn try_call(
    port: u16,
    sub: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Option<(u16, String, Value)> {
    try_call_with(port, sub.map(token).as_deref(), method, path, body)
}

/// [`try_call`] with any bearer token (a JWT or a service account's API token).
pub fn try_call_with(
    port: u16,
    bearer: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Option<(u16, String, Value)> {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n");
    if let Some(bearer) = bearer {
        request.push_str(&format!("Authorization: Bearer {bearer}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || method == "POST" || method == "PUT" {
        request.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    try_raw(port, request.as_bytes())
}

/// Sends raw bytes; (status, head, JSON body).
pub fn raw(port: u16, request: &[u8]) -> (u16, String, Value) {
    try_raw(port, request).unwrap_or_else(|| panic!("no answer from 127.0.0.1:{port}"))
}

fn try_raw(port: u16, request: &[u8]) -> Option<(u16, String, Value)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    s.write_all(request).ok()?;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let (status, head, body) = crate::gateway::parse_response(&out);
    (status != 0).then(|| (status, head, serde_json::from_str(&body).unwrap_or(Value::Null)))
}

/// The `revision` of a write's answer.
pub fn revision(v: &Value) -> u64 {
    v["revision"].as_u64().unwrap_or_else(|| panic!("no revision in {v}"))
}
