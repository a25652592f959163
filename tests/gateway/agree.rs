//! `portcullis explain` runs the gateway's own pipeline: on a request of every case of
//! `../shared/security/CASES.md` that a head can carry (the rest are bytes no parser turns
//! into a head: a NUL in a value, a bare CR), it answers the status the gateway answers.
//! (Every conformance check is compared the same way in `conformance.rs`.)

use std::process::Command;

use super::{Gateway, Setup, bearer, token, token_with};

const C42: &str = "/v1/orgs/acme/projects/web/containers/c-42";
const STORAGE: &str = "/v1/orgs/acme/projects/web/storage";

/// (method, target, header lines) of one request; `Host: gw.test` unless a Host is given.
type Case = (&'static str, String, Vec<String>);

fn case(method: &'static str, target: &str, headers: &[&str]) -> Case {
    (method, target.to_string(), headers.iter().map(|h| h.to_string()).collect())
}

/// Sends each case to `gw` and to `portcullis explain` on the same config; asserts both
/// give the same status, and returns the statuses.
fn agree(gw: &Gateway, cases: &[Case]) -> Vec<u16> {
    let mut statuses = Vec::new();
    for (method, target, headers) in cases {
        let mut lines = headers.clone();
        if !lines.iter().any(|h| h.to_ascii_lowercase().starts_with("host:")) {
            lines.insert(0, "Host: gw.test".into());
        }
        lines.push("Connection: close".into());
        let request = format!("{method} {target} HTTP/1.1\r\n{}\r\n\r\n", lines.join("\r\n"));
        let (status, head, _) = gw.send(request.as_bytes());
        let mut explain = Command::new(env!("CARGO_BIN_EXE_portcullis"));
        explain.args(["explain", "--json", "--config"]).arg(gw.dir.join("config.toml"));
        for line in &lines {
            explain.args(["--header", line]);
        }
        let out = explain.args(["--", method, target]).env_remove("PORTCULLIS_TOKEN").output().unwrap();
        let explained: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{method} {target}: {e}: {}", String::from_utf8_lossy(&out.stderr)));
        assert_eq!(explained["status"], status, "{method} {target} {headers:?}: gateway {head}\nexplain {explained}");
        statuses.push(status);
    }
    statuses
}

#[test]
fn explain_answers_what_the_gateway_answers_on_every_security_case() {
    let gw = Gateway::start();
    let dave = bearer("dave");
    let alice = bearer("alice");
    let put = |target: &str| case("PUT", target, &[&dave, "Content-Length: 0"]);
    let get = |target: &str| case("GET", target, &[&dave]);
    let public = |rest: &str| format!("{STORAGE}/assets/images{rest}");
    let expired = format!("Authorization: Bearer {}", token_with("dave", &serde_json::json!({ "exp": 1000 })));
    let in_query = format!("{C42}?access_token={}", token("alice"));
    let many: Vec<String> = (0..70).map(|i| format!("X-H{i}: {i}")).collect();
    let mut many: Vec<&str> = many.iter().map(String::as_str).collect();
    many.push(&dave);
    let big = format!("X-Big: {}", "a".repeat(17_000));
    let cases = vec![
        // A. Path and URL confusion.
        put(&public("/x")),
        put(&public("/../../private/x")),
        put(&format!("{STORAGE}/assets/images/../private/x")),
        put(&public("/%2e%2e/../private/x")),
        put(&public("/.%2E/x")),
        put(&public("%2F..%2F..%2Fprivate")),
        put(&public("%5C..%5Cprivate")),
        put(&public("\\..\\x")),
        get("//v1/orgs/acme/registries/r1"),
        get(&format!("{STORAGE}//assets/private/x")),
        get("/v1/orgs/acme/registries/r1;x"),
        get("/v1/orgs/acme/registries/r1%3Bx"),
        get("/v1/orgs/acme/registries/r1#f"),
        get("/v1/orgs/acme/registries/r1%23f"),
        get(&public("/a.png?next=/v1/orgs/acme/billing&x=%2F..%2F")),
        get(&public("/a%00b")),
        get(&public("/a%0ab")),
        get(&public("/a%09b")),
        get("/v1/orgs/acme/projects/web/containers/c%2d42"),
        get("/V1/orgs/acme/projects/web/containers/c-42"),
        put("/v1/orgs/acme/projects/web/containers/C-42"),
        put(&format!("{STORAGE}/assets/imagesx/a")),
        put(&public("/")),
        put(&public("/%252e%252e/x")),
        put(&public("/%c0%ae%c0%ae/x")),
        put(&public("/a%EF%BC%8Fb")),
        get("/v1/orgs/acme/projects/web/containers/1%2F2"),
        get("/v1/orgs/acme/projects/web/containers/../containers/9"),
        // B. Headers and identity.
        case("GET", C42, &[&dave, "X-Forwarded-For: 10.0.0.1", "X-Original-URL: /v1/orgs/acme/billing"]),
        case("GET", C42, &[&dave, "X-Portcullis-Principal: alice", "x_portcullis_org: globex"]),
        case("GET", C42, &[&dave, "Connection: close, X-Portcullis-Principal"]),
        case("GET", C42, &[&dave, &alice]),
        case("GET", C42, &[&dave, &dave]),
        case("GET", &in_query, &[&dave]),
        case("GET", &format!("{C42}?ACCESS%5FTOKEN=x"), &[&dave]),
        case("GET", C42, &[&dave, "X-HTTP-Method-Override: DELETE"]),
        case("DELETE", C42, &[&dave, "X-HTTP-Method-Override: GET"]),
        case("GET", C42, &[&dave, "Host: API.Example.COM."]),
        case("GET", C42, &[&dave, "Host: a.example/evil"]),
        case("GET", C42, &[&dave, "Host: x:99999"]),
        case("GET", C42, &[&dave, "Host: a.test", "Host: b.test"]),
        // C. Framing (the head is refused before a body would be read).
        case("PUT", C42, &[&dave, "Content-Length: 5", "Transfer-Encoding: chunked"]),
        case("PUT", C42, &[&dave, "Transfer-Encoding: chunked, chunked"]),
        case("PUT", C42, &[&dave, "Transfer-Encoding: gzip, chunked"]),
        case("PUT", C42, &[&dave, "Content-Length: +3"]),
        case("PUT", C42, &[&dave, "Content-Length: 3, 4"]),
        case("PUT", C42, &[&dave, "Content-Length: 3", "Content-Length: 3"]),
        // D. Tokens.
        case("GET", C42, &[]),
        case("GET", C42, &["Authorization: Bearer not.a.token"]),
        case("GET", C42, &["Authorization: Basic ZGF2ZTpkYXZl"]),
        case("GET", C42, &[&expired]),
        // E. Limits.
        case("GET", C42, &many),
        case("GET", C42, &[&dave, &big]),
        case("PUT", C42, &[&dave, "Content-Length: 20000000"]),
        // F. Routes and methods the config does not map; read your writes.
        case("PATCH", "/v1/orgs/acme/billing", &[&alice]),
        case("OPTIONS", C42, &[&alice]),
        case("FOO", C42, &[&alice]),
        case("GET", "/v1/orgs/acme/nothing-here", &[&alice]),
        case("GET", "/", &[&alice]),
        case("PUT", "/v1/orgs/acme/billing", &[&alice, "Content-Length: 0"]),
        case("GET", C42, &[&dave, "Portcullis-Revision: soon"]),
        case("GET", C42, &[&dave, "Portcullis-Revision: 0"]),
    ];
    let statuses = agree(&gw, &cases);
    // The list reaches every kind of answer, so agreeing is not agreeing on one status.
    for want in [200, 400, 401, 403, 404, 405, 413, 431] {
        assert!(statuses.contains(&want), "no case was answered {want}: {statuses:?}");
    }
}

#[test]
fn explain_answers_503_like_a_gateway_without_a_valid_policy() {
    let policies = crate::scratch("agree-broken");
    std::fs::write(policies.join("broken.toml"), "[[org]]\nid = 3\n").unwrap();
    let gw = Gateway::start_with(Setup { policies: Some(&policies), ..Default::default() });
    let dave = bearer("dave");
    assert_eq!(agree(&gw, &[case("GET", C42, &[&dave])]), [503]);
    let _ = std::fs::remove_dir_all(&policies);
}
