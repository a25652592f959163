//! The store on a real PostgreSQL server, and replicas sharing it.
//!
//! `PORTCULLIS_TEST_PG` is the server's URL (`.ci/run` starts one with
//! `scripts/test-postgres.sh`); each test gets a database of its own on it. Without it these
//! tests fail under CI (`CI` set) and are skipped, with a message, elsewhere.
//!
//! The replica tests run two gateways on one database behind nginx (Debian's), as a load
//! balancer would spread clients over replicas.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Control, call, revision};
use crate::gateway::free_port;

/// A fresh database on the test server, as a `postgres = "..."` line; `None` (after saying
/// so) when no server is configured outside CI.
fn database() -> Option<String> {
    let Ok(url) = std::env::var("PORTCULLIS_TEST_PG") else {
        assert!(std::env::var_os("CI").is_none(), "PORTCULLIS_TEST_PG must name a PostgreSQL server under CI");
        eprintln!("skipped: set PORTCULLIS_TEST_PG (see scripts/test-postgres.sh) to run the PostgreSQL tests");
        return None;
    };
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!("pc_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let status = Command::new("psql").args([&url, "-qc", &format!("CREATE DATABASE {name}")]).status().unwrap();
    assert!(status.success(), "cannot create database {name} on {url}");
    let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
    Some(format!("postgres = \"{base}/{name}\""))
}

/// `globex` owned by gina with bob and dave, project web, through `c`.
fn globex(c: &Control) {
    c.expect("root", "POST", "/v1/orgs", Some(r#"{"id":"globex","owner":"gina"}"#), 201);
    for m in ["bob", "dave"] {
        c.expect("gina", "POST", "/v1/orgs/globex/members", Some(&format!(r#"{{"id":"{m}"}}"#)), 201);
    }
    c.expect("gina", "POST", "/v1/orgs/globex/projects", Some(r#"{"id":"web"}"#), 201);
}

const CONTAINER: &str = "/v1/orgs/globex/projects/web/containers/c-1";
const SHARE: &str = r#"{"subject":"dave","kind":"containers","project":"web","id":"c-1","verbs":["read"]}"#;
const REVOKE: &str = "/v1/orgs/globex/shares?subject=dave&kind=containers&project=web&id=c-1";

#[test]
fn the_api_works_on_postgres_and_survives_a_restart() {
    let Some(store) = database() else { return };
    let c = Control::start_on(&store);
    globex(&c);
    let rev = revision(&c.expect("gina", "POST", "/v1/orgs/globex/shares", Some(SHARE), 201));
    assert_eq!(c.gateway_status("dave", "GET", CONTAINER, Some(rev)), 200);
    let audit = c.expect("gina", "GET", "/v1/orgs/globex/audit", None, 200);
    assert_eq!(audit["entries"].as_array().unwrap().len(), 5);
    drop(c);
    let c = Control::start_on(&store);
    assert_eq!(c.gateway_status("dave", "GET", CONTAINER, None), 200);
    // Bad input writes nothing here either.
    assert_eq!(c.call("gina", "POST", "/v1/orgs/globex/shares", Some(r#"{"subject":1}"#)).0, 400);
    assert_eq!(c.expect("gina", "GET", "/v1/orgs/globex", None, 200)["revision"], rev);
    // A member's refused attempt is recorded here too, numbered from 1.
    assert_eq!(c.call("dave", "POST", "/v1/orgs/globex/bindings", Some(r#"{"subject":"dave","role":"admin"}"#)).0, 403);
    let refused = c.expect("gina", "GET", "/v1/orgs/globex/audit/refused", None, 200);
    assert_eq!(refused["refused"][0]["seq"], 1, "{refused}");
    assert_eq!(refused["refused"][0]["actor"], "dave", "{refused}");
}

/// nginx in front of two ports for the gateway and two for the admin API.
struct Nginx {
    child: Child,
    dir: PathBuf,
    gateway: u16,
    admin: u16,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM, so that the master stops its workers too (SIGKILL would orphan them).
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Nginx {
    fn start(gateways: [u16; 2], admins: [u16; 2]) -> Nginx {
        let dir = crate::scratch("nginx");
        let (gateway, admin) = (free_port(), free_port());
        let conf = format!(
            "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n\
             access_log off;\nclient_body_temp_path {d}/body;\nproxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fcgi;\nuwsgi_temp_path {d}/uwsgi;\nscgi_temp_path {d}/scgi;\n\
             upstream gw {{ server 127.0.0.1:{g0}; server 127.0.0.1:{g1}; keepalive 8; }}\n\
             upstream adm {{ server 127.0.0.1:{a0}; server 127.0.0.1:{a1}; keepalive 8; }}\n\
             server {{ listen 127.0.0.1:{gateway}; location / {{ proxy_pass http://gw; proxy_http_version 1.1; \
             proxy_set_header Connection \"\"; proxy_next_upstream off; }} }}\n\
             server {{ listen 127.0.0.1:{admin}; location / {{ proxy_pass http://adm; proxy_http_version 1.1; \
             proxy_set_header Connection \"\"; proxy_next_upstream off; }} }}\n}}\n",
            d = dir.display(),
            g0 = gateways[0],
            g1 = gateways[1],
            a0 = admins[0],
            a1 = admins[1],
        );
        let path = dir.join("nginx.conf");
        std::fs::File::create(&path).unwrap().write_all(conf.as_bytes()).unwrap();
        let child = Command::new("nginx").args(["-p"]).arg(&dir).arg("-c").arg(&path).spawn().unwrap();
        let nginx = Nginx { child, dir, gateway, admin };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", admin)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not start: {:?}",
                std::fs::read_to_string(nginx.dir.join("error.log"))
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        nginx
    }
}

/// The status of a gateway request as `sub` on `port`.
fn status_on(port: u16, sub: &str, target: &str, revision: Option<u64>) -> u16 {
    status_with(port, &format!("Authorization: Bearer {}", crate::gateway::token(sub)), target, revision)
}

/// [`status_on`] with a ready `Authorization` header line (signing a token per poll would
/// make the polling, not the propagation, what is measured).
fn status_with(port: u16, auth: &str, target: &str, revision: Option<u64>) -> u16 {
    let rev = revision.map(|r| format!("Portcullis-Revision: {r}"));
    let mut headers = vec![auth];
    if let Some(r) = &rev {
        headers.push(r);
    }
    crate::gateway::request_on(port, "GET", target, &headers).0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[test]
fn two_replicas_behind_nginx_enforce_each_others_writes_and_propagation_is_measured() {
    let Some(store) = database() else { return };
    let a = Control::start_on(&store);
    let b = Control::start_on(&store);
    let lb = Nginx::start([a.gateway.port, b.gateway.port], [a.admin, b.admin]);
    globex(&a);

    // Through the load balancer, a client that sends back the revision its write returned
    // always reads its write, whichever replica serves either request.
    for i in 0..100 {
        let (status, _, answer) = call(lb.admin, Some("gina"), "POST", "/v1/orgs/globex/shares", Some(SHARE));
        assert_eq!(status, 201, "{answer}");
        assert_eq!(status_on(lb.gateway, "dave", CONTAINER, Some(revision(&answer))), 200, "round {i}");
        let (status, _, answer) = call(lb.admin, Some("gina"), "DELETE", REVOKE, None);
        assert_eq!(status, 200, "{answer}");
        assert_eq!(status_on(lb.gateway, "dave", CONTAINER, Some(revision(&answer))), 403, "round {i}");
    }

    // Propagation: a change written through replica A, until replica B enforces it (polled
    // without a revision header), over 1,000 changes (share, revoke, share, ...).
    let changes = 1_000;
    let dave = format!("Authorization: Bearer {}", crate::gateway::token("dave"));
    let mut delays = Vec::with_capacity(changes);
    for i in 0..changes {
        let share = i % 2 == 0;
        let (status, _, answer) = if share {
            call(a.admin, Some("gina"), "POST", "/v1/orgs/globex/shares", Some(SHARE))
        } else {
            call(a.admin, Some("gina"), "DELETE", REVOKE, None)
        };
        assert!(status == 200 || status == 201, "{answer}");
        let written = Instant::now();
        let want = if share { 200 } else { 403 };
        loop {
            if status_with(b.gateway.port, &dave, CONTAINER, None) == want {
                delays.push(written.elapsed());
                break;
            }
            assert!(written.elapsed() < Duration::from_secs(10), "change {i} did not reach replica B in 10 s");
        }
    }
    delays.sort();
    let (p50, p99, max) = (percentile(&delays, 0.5), percentile(&delays, 0.99), delays[delays.len() - 1]);
    let line = format!(
        "propagation A -> B over {changes} changes: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );
    eprintln!("{line}");
    let report = crate::gateway::root().join("target/propagation.txt");
    let _ = std::fs::write(report, format!("{line}\n"));
    // B counted the lag of what it received (at least the 1,000 changes written through A).
    let metrics = crate::gateway::request_on(b.admin, "GET", "/metrics", &[]).2;
    let received = metrics
        .lines()
        .find_map(|l| l.strip_prefix("portcullis_store_propagation_seconds_count "))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(received >= changes as u64, "replica B counted {received} propagated changes:\n{metrics}");
    // Both replicas end on the same revision.
    let rev = a.expect("gina", "GET", "/v1/orgs/globex", None, 200)["revision"].as_u64().unwrap();
    assert_eq!(status_on(b.gateway.port, "gina", CONTAINER, Some(rev)), 200);
}

/// The owner named by an org's policy text, and whether `who` is bound to `role` at org scope.
fn owner_of(policy: &str) -> String {
    let owners: Vec<&str> = policy.lines().filter_map(|l| l.strip_prefix("owner = ")).collect();
    assert_eq!(owners.len(), 1, "not exactly one owner: {policy}");
    owners[0].trim_matches('"').to_string()
}

fn bound_at_org_scope(policy: &str, who: &str, role: &str) -> bool {
    policy.split("[[org.binding]]").skip(1).any(|b| {
        let b = b.split("\n\n").next().unwrap_or_default();
        b.contains(&format!("subject = \"{who}\""))
            && b.contains(&format!("role = \"{role}\""))
            && !b.contains("project =")
    })
}

#[test]
fn ownership_handshakes_interleaved_across_replicas_keep_exactly_one_owner() {
    let Some(store) = database() else { return };
    let store = format!("{store}\ntransfer_ttl_secs = 1");
    let replicas = [Control::start_on(&store), Control::start_on(&store)];
    let admins = [replicas[0].admin, replicas[1].admin];
    globex(&replicas[0]);
    let people = ["gina", "bob", "dave"];
    let roles = ["admin", "member", "viewer"];
    // A small deterministic generator, so a failure can be replayed.
    let mut seed: u64 = 0x005e_ed0f_0a11;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let (mut owner, mut steps, mut moves, mut expiries) = ("gina".to_string(), 0, 0, 0);
    while steps < 1_000 {
        // Two parties act at once, each on a replica of its own choosing.
        let mut batch = Vec::new();
        for _ in 0..2 {
            let actor = people[next(3) as usize].to_string();
            let port = admins[next(2) as usize];
            let (method, path, body) = match next(10) {
                0..=2 => {
                    let to = people[next(3) as usize];
                    let role = roles[next(3) as usize];
                    ("POST", "/v1/orgs/globex/transfer", Some(format!(r#"{{"to":"{to}","step_down_to":"{role}"}}"#)))
                }
                3..=7 => ("POST", "/v1/orgs/globex/transfer/confirm", None),
                _ => ("DELETE", "/v1/orgs/globex/transfer", None),
            };
            batch.push(std::thread::spawn(move || call(port, Some(&actor), method, path, body.as_deref())));
        }
        let pending_before = call(admins[0], Some(&owner), "GET", "/v1/orgs/globex/transfer", None).2;
        for t in batch {
            let (status, _, answer) = t.join().unwrap();
            assert!(matches!(status, 200 | 201 | 403 | 404 | 409), "{status} {answer}");
            steps += 1;
        }
        if next(50) == 0 {
            // Let any pending transfer expire.
            std::thread::sleep(Duration::from_millis(2_100));
            expiries += 1;
        }
        // After each step: exactly one owner, on both replicas' view of the store.
        let org: Value = call(admins[next(2) as usize], Some("gina"), "GET", "/v1/orgs/globex", None).2;
        let org = if org["policy"].is_string() {
            org
        } else {
            call(admins[0], Some(&owner), "GET", "/v1/orgs/globex", None).2
        };
        let policy = org["policy"].as_str().unwrap_or_else(|| panic!("cannot read the org: {org}"));
        let now_owner = owner_of(policy);
        if now_owner != owner {
            // It moved: the old owner holds the role it chose when it started.
            let role = pending_before["transfer"]["step_down_to"].as_str().map(str::to_string);
            let started = call(admins[0], Some(&now_owner), "GET", "/v1/orgs/globex/audit?limit=1000", None).2;
            let chosen = started["entries"]
                .as_array()
                .unwrap()
                .iter()
                .rev()
                .find(|e| e["action"] == "transfer.start" && e["actor"] == owner.as_str())
                .and_then(|e| serde_json::from_str::<Value>(e["detail"].as_str().unwrap()).ok())
                .and_then(|d| d["step_down_to"].as_str().map(str::to_string))
                .or(role)
                .expect("a completed transfer was started");
            assert!(
                bound_at_org_scope(policy, &owner, &chosen),
                "{owner} lost ownership without holding '{chosen}': {policy}"
            );
            assert!(!policy.contains(&format!("subject = \"{now_owner}\"")), "the new owner is bound: {policy}");
            owner = now_owner;
            moves += 1;
        }
    }
    eprintln!("ownership: {steps} steps across 2 replicas, {moves} completed transfers, {expiries} expiry waits");
    assert!(moves > 5, "too few transfers completed ({moves}) for the test to mean much");
}

/// A PostgreSQL server of this test's own (so that it can be stopped), on the same
/// installation as `PORTCULLIS_TEST_PG`'s.
struct OwnServer {
    dir: PathBuf,
    port: u16,
}

impl OwnServer {
    fn script(&self, action: &str) -> std::process::Output {
        Command::new(crate::gateway::root().join("scripts/test-postgres.sh"))
            .arg(action)
            .arg(self.dir.join("pg"))
            .arg(self.port.to_string())
            .output()
            .unwrap()
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.script("stop");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn with_the_store_down_the_gateway_keeps_enforcing_and_writes_fail_with_503_then_resume() {
    if database().is_none() {
        return;
    }
    let dir = crate::scratch("pg-own");
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let server = OwnServer { dir, port: free_port() };
    let out = server.script("start");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let c = Control::start_on(&format!("postgres = \"{url}\""));
    globex(&c);
    let rev = revision(&c.expect("gina", "POST", "/v1/orgs/globex/shares", Some(SHARE), 201));
    assert!(server.script("stop").status.success());

    assert_eq!(c.gateway_status("dave", "GET", CONTAINER, Some(rev)), 200, "the last snapshot keeps serving");
    let (status, answer) = c.call("gina", "DELETE", REVOKE, None);
    assert_eq!(status, 503, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("nothing was written"), "{answer}");
    assert_eq!(c.gateway_status("dave", "GET", CONTAINER, None), 200);

    assert!(server.script("resume").status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let rev = loop {
        let (status, answer) = c.call("gina", "DELETE", REVOKE, None);
        if status == 200 {
            break revision(&answer);
        }
        assert!(Instant::now() < deadline, "writes did not resume: {status} {answer}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(rev, 6, "the write refused while the store was down was not half-applied");
    assert_eq!(c.gateway_status("dave", "GET", CONTAINER, Some(rev)), 403);
}

#[test]
fn acknowledged_writes_survive_kill_9_on_postgres() {
    let Some(store) = database() else { return };
    super::api::kill_9_in_a_stream_of_writes(&store);
}

#[test]
fn a_creator_recorded_through_one_replica_is_enforced_and_dropped_on_the_other() {
    let Some(store) = database() else { return };
    let [a, b] = [Control::start_on(&store), Control::start_on(&store)];
    globex(&a);
    let role = r#"{"name":"maker","permissions":["project:containers:create","project:containers:owned:write"]}"#;
    a.expect("gina", "POST", "/v1/orgs/globex/roles", Some(role), 201);
    for m in ["bob", "dave"] {
        let bind = format!(r#"{{"subject":"{m}","role":"maker"}}"#);
        a.expect("gina", "POST", "/v1/orgs/globex/bindings", Some(&bind), 201);
    }
    let c9 = "/v1/orgs/globex/projects/web/containers/c-9";
    let rev = revision(&a.expect("gina", "GET", "/v1/orgs/globex", None, 200));
    assert_eq!(b.gateway_status("bob", "PUT", c9, Some(rev)), 403, "nobody created c-9 yet");
    let created =
        a.gateway_status_with("bob", "POST", "/v1/orgs/globex/projects/web/containers", None, &["x-create-id: c-9"]);
    assert_eq!(created, 201);
    // Replica B learns the record from the store (no revision to wait for: the gateway's
    // write happens after its answer), and enforces it for bob only.
    let until = |what: &str, on: &Control, method: &str, want: u16| {
        let deadline = Instant::now() + Duration::from_secs(15);
        while on.gateway_status("bob", method, c9, None) != want {
            assert!(Instant::now() < deadline, "{what} within 15 s\n{}", on.gateway.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    until("replica B enforcing bob's record", &b, "PUT", 200);
    assert_eq!(b.gateway_status("dave", "PUT", c9, None), 403);
    let shares = b.expect("gina", "GET", "/v1/orgs/globex/shares?kind=containers&project=web&id=c-9", None, 200);
    assert_eq!(shares["creator"]["subject"], "bob", "{shares}");
    // A delete through B drops it, on A too.
    assert_eq!(b.gateway_status("bob", "DELETE", c9, None), 200);
    until("replica A dropping the record", &a, "PUT", 403);
}
