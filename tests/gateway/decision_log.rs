//! Decision logs: one JSON line per decision, with what decided it, and never a token; a
//! log nobody reads never holds a request up.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::{Gateway, Setup, bearer, scratch, token};

/// A JSON value parsed strictly: an object with the same key twice is an error (serde_json
/// alone keeps the last).
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Strict, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Strict;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
                let mut out = serde_json::Map::new();
                while let Some((k, Strict(v))) = map.next_entry::<String, Strict>()? {
                    if out.insert(k.clone(), v).is_some() {
                        return Err(serde::de::Error::custom(format!("key '{k}' appears twice")));
                    }
                }
                Ok(Strict(Value::Object(out)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
                let mut out = Vec::new();
                while let Some(Strict(v)) = seq.next_element()? {
                    out.push(v);
                }
                Ok(Strict(Value::Array(out)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Strict, E> {
                Ok(Strict(Value::from(v)))
            }
            fn visit_string<E>(self, v: String) -> Result<Strict, E> {
                Ok(Strict(Value::from(v)))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Strict, E> {
                Ok(Strict(Value::from(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Strict, E> {
                Ok(Strict(Value::from(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Strict, E> {
                Ok(Strict(Value::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Strict, E> {
                Ok(Strict(Value::from(v)))
            }
            fn visit_unit<E>(self) -> Result<Strict, E> {
                Ok(Strict(Value::Null))
            }
            fn visit_none<E>(self) -> Result<Strict, E> {
                Ok(Strict(Value::Null))
            }
        }
        d.deserialize_any(V)
    }
}

pub fn strict(line: &str) -> Value {
    match serde_json::from_str::<Strict>(line) {
        Ok(Strict(v)) => v,
        Err(e) => panic!("not one JSON object with unique keys ({e}): {line}"),
    }
}

#[test]
fn the_strict_parser_refuses_a_key_twice() {
    assert_eq!(strict(r#"{"a":{"b":[1,"x",null]}}"#)["a"]["b"][1], "x");
    assert!(serde_json::from_str::<Strict>(r#"{"level":"INFO","level":"project"}"#).is_err());
    assert!(serde_json::from_str::<Strict>(r#"{"a":[{"k":1,"k":2}]}"#).is_err());
}

fn lines(path: &std::path::Path, want: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<Value> = text.lines().map(strict).collect();
        if lines.len() >= want || std::time::Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn every_decision_is_one_json_line_with_its_reason_and_no_token() {
    let dir = scratch("declog");
    let file = dir.join("decisions.log");
    let extra = format!("\n[log]\ndecisions = \"all\"\nallow_sample = 1.0\nfile = \"{}\"\n", file.display());
    let gw = Gateway::start_with(Setup { extra_config: &extra, ..Setup::default() });
    let allowed = "/v1/orgs/acme/projects/web/containers/c-1";
    assert_eq!(gw.status("GET", allowed, &[&bearer("alice")]), 200);
    assert_eq!(gw.status("DELETE", allowed, &[&bearer("erin"), "Content-Length: 0"]), 403);
    assert_eq!(gw.status("GET", "/nowhere", &[&bearer("alice")]), 404, "not a decision, not logged");
    let got = lines(&file, 2);
    assert_eq!(got.len(), 2, "{got:?}");
    let (allow, deny) = (&got[0], &got[1]);
    assert_eq!(allow["decision"], "allow");
    assert_eq!(allow["principal"], "alice");
    assert_eq!(allow["org"], "acme");
    assert_eq!(allow["kind"], "containers");
    assert_eq!(allow["resource_level"], "project");
    assert_eq!(allow["level"], "INFO", "the logger's own level");
    assert_eq!(allow["project"], "web");
    assert_eq!(allow["id"], "c-1");
    assert_eq!(allow["verb"], "read");
    assert_eq!(allow["method"], "GET");
    assert_eq!(allow["path"], allowed);
    assert_eq!(allow["status"], 200);
    assert_eq!(allow["route"], "/v1/orgs/{org}/projects/{project}/containers/{id}");
    assert!(allow["upstream_us"].as_u64().is_some() && allow["total_us"].as_u64().is_some(), "{allow}");
    assert!(allow["reason"].as_str().unwrap().contains("owner"), "{allow}");
    assert!(allow["snapshot_generation"].as_u64().unwrap() >= 1 && allow["request_id"].as_u64().is_some(), "{allow}");
    assert_eq!(allow["org_revision"], 0, "acme is an org of the policy files: {allow}");
    assert!(allow["timestamp"].is_string(), "{allow}");
    assert_eq!(deny["decision"], "deny");
    assert_eq!(deny["status"], 403);
    assert_eq!(deny["verb"], "delete");
    assert_eq!(deny["method"], "DELETE");
    assert!(deny["reason"].as_str().unwrap().contains("erin"), "{deny}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(&token("alice")[..40]) && !text.contains("Bearer"), "a token reached the decision log");
    drop(gw);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn by_default_only_denials_are_logged() {
    let dir = scratch("declog");
    let file = dir.join("decisions.log");
    let extra = format!("\n[log]\nfile = \"{}\"\n", file.display());
    let gw = Gateway::start_with(Setup { extra_config: &extra, ..Setup::default() });
    for _ in 0..5 {
        assert_eq!(gw.status("GET", "/v1/orgs/acme/projects/web/containers/c-1", &[&bearer("alice")]), 200);
    }
    assert_eq!(gw.status("GET", "/v1/orgs/acme/projects/web/containers/c-1", &[&bearer("nobody")]), 403);
    let got = lines(&file, 1);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let got_later = lines(&file, 1);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got_later.len(), 1);
    assert_eq!(got[0]["decision"], "deny");
    drop(gw);
    let _ = std::fs::remove_dir_all(dir);
}

/// A decision log whose reader has stalled (a pipe nobody reads) fills, then drops lines
/// and counts them; requests are answered all along.
#[test]
fn a_stalled_decision_log_drops_and_counts_lines_and_never_holds_a_request() {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = scratch("declog");
    let fifo = dir.join("decisions.pipe");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    // Opened for reading (and never read) so that the gateway's open for writing succeeds.
    let _reader = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&fifo).unwrap();
    let admin = super::free_port();
    let extra = format!(
        "\n[log]\nfile = \"{}\"\n[admin]\nlisten = \"127.0.0.1:{admin}\"\ndata_dir = \"{}\"\n",
        fifo.display(),
        dir.display()
    );
    let gw = Gateway::start_with(Setup { extra_config: &extra, ..Setup::default() });
    crate::admin::wait_listening(admin, &gw);
    // More denials than the queue (16,384 lines) and the pipe (64 KiB) hold together.
    let port = gw.port;
    let clients: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let auth = bearer("nobody");
                (0..5_000)
                    .filter(|_| {
                        super::request_on(port, "GET", "/v1/orgs/acme/projects/web/containers/c-1", &[&auth]).0 != 403
                    })
                    .count()
            })
        })
        .collect();
    let wrong: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(wrong, 0, "requests not answered 403 while the log was stalled");
    let text = super::request_on(admin, "GET", "/metrics", &[]).2;
    let dropped: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("portcullis_decision_log_dropped_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no drop counter: {text}"));
    assert!(dropped > 0, "20,000 denials into a stalled log, none dropped");
    eprintln!("stalled decision log: 20,000 denials answered, {dropped} lines dropped and counted");
    drop(gw);
    let _ = std::fs::remove_dir_all(dir);
}

/// A decision log that cannot be written (a full disk: /dev/full) loses lines, and every
/// one of them is counted, once; requests are answered all along.
#[test]
fn lines_that_cannot_be_written_are_each_counted_once() {
    let dir = scratch("declog");
    let admin = super::free_port();
    let extra = format!(
        "\n[log]\nfile = \"/dev/full\"\n[admin]\nlisten = \"127.0.0.1:{admin}\"\ndata_dir = \"{}\"\n",
        dir.display()
    );
    let gw = Gateway::start_with(Setup { extra_config: &extra, ..Setup::default() });
    crate::admin::wait_listening(admin, &gw);
    let auth = bearer("nobody");
    for _ in 0..50 {
        assert_eq!(gw.status("GET", "/v1/orgs/acme/projects/web/containers/c-1", &[&auth]), 403);
    }
    let dropped = || -> u64 {
        let text = super::request_on(admin, "GET", "/metrics", &[]).2;
        text.lines()
            .find_map(|l| l.strip_prefix("portcullis_decision_log_dropped_total "))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no drop counter: {text}"))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while dropped() < 50 {
        assert!(std::time::Instant::now() < deadline, "{} of 50 lost lines counted", dropped());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(dropped(), 50, "a lost line was counted twice");
    assert_eq!(gw.log().matches("cannot write the decision log /dev/full").count(), 1, "{}", gw.log());
    drop(gw);
    let _ = std::fs::remove_dir_all(dir);
}
