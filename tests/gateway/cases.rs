//! `../shared/security/CASES.md`, one test per case, named after its number.
//!
//! The cases' example policy maps onto the shipped one: dave may write under storage
//! `/assets/images` of project web (a share), the cases' "/public"; everything else in that
//! storage he may only read (the `viewer` role), so a `PUT` under `/assets/private` is the
//! cases' "/admin".

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::{Gateway, Setup, bearer, parse_response};

const STORAGE: &str = "/v1/orgs/acme/projects/web/storage";

fn public(rest: &str) -> String {
    format!("{STORAGE}/assets/images{rest}")
}

/// Asserts a write to `target` is never allowed: 400 (ambiguous) or 403 (decided as the
/// protected path), and nothing reaches the upstream.
fn never_allowed(gw: &Gateway, target: &str) {
    let before = gw.forwarded();
    let (status, head, _) = gw.request("PUT", target, &[&bearer("dave"), "Content-Length: 0"]);
    assert!(status == 400 || status == 403, "PUT {target}: {head}");
    assert_eq!(gw.forwarded(), before, "PUT {target} reached the upstream: {}", gw.last());
}

#[test]
fn a01_dot_dot_is_never_forwarded() {
    let gw = Gateway::start();
    gw.assert_forwarded_as("PUT", &public("/x"), &[&bearer("dave"), "Content-Length: 0"], &public("/x"));
    never_allowed(&gw, &public("/../../private/x"));
    never_allowed(&gw, &format!("{STORAGE}/assets/images/../private/x"));
    never_allowed(&gw, "/v1/orgs/acme/projects/web/storage/../../payments/storage/x");
}

#[test]
fn a02_encoded_dot_segments_are_treated_like_dot_dot() {
    let gw = Gateway::start();
    for dots in ["%2e%2e", ".%2E", "%2E.", "%2E%2E"] {
        never_allowed(&gw, &public(&format!("/{dots}/../private/x")));
        never_allowed(&gw, &public(&format!("/{dots}/x")));
    }
}

#[test]
fn a03_encoded_slash_and_backslash_are_400() {
    let gw = Gateway::start();
    for target in
        [public("%2F..%2F..%2Fprivate"), public("%2f..%2fprivate"), public("%5C..%5Cprivate"), public("\\..\\x")]
    {
        gw.assert_rejected("PUT", &target, &[&bearer("dave"), "Content-Length: 0"], 400);
    }
}

#[test]
fn a04_empty_segments_are_refused_and_a_leading_double_slash_is_not_an_authority() {
    let gw = Gateway::start();
    never_allowed(&gw, &format!("{STORAGE}//assets/private/x"));
    never_allowed(&gw, &public("//../private/x"));
    gw.assert_rejected("GET", "//v1/orgs/acme/registries/r1", &[&bearer("dave")], 400);
    gw.assert_rejected("GET", "//evil.test/v1/orgs/acme/registries/r1", &[&bearer("dave")], 400);
}

#[test]
fn a05_matrix_parameters_are_400() {
    let gw = Gateway::start();
    for target in
        ["/v1/orgs/acme/registries/r1;x", "/v1/orgs/acme/registries/..;a=b/r1", "/v1/orgs/acme/registries/r1%3Bx"]
    {
        gw.assert_rejected("GET", target, &[&bearer("dave")], 400);
    }
}

#[test]
fn a06_fragments_are_400() {
    let gw = Gateway::start();
    for target in ["/v1/orgs/acme/registries/r1#f", "/v1/orgs/acme/registries/r1%23f"] {
        gw.assert_rejected("GET", target, &[&bearer("dave")], 400);
    }
}

#[test]
fn a07_only_the_path_is_matched_and_the_query_is_forwarded_untouched() {
    let gw = Gateway::start();
    let target = public("/a.png?next=/v1/orgs/acme/billing&x=%2F..%2F");
    gw.assert_forwarded_as("GET", &target, &[&bearer("dave")], &target);
    never_allowed(&gw, &format!("{STORAGE}/assets/private/x?next={}", public("/x")));
}

#[test]
fn a08_nul_newlines_spaces_and_tabs_in_the_target_are_400() {
    let gw = Gateway::start();
    let dave = bearer("dave");
    for bad in ["%00", "%0a", "%0d", "%0D%0A", "%09"] {
        gw.assert_rejected("GET", &public(&format!("/a{bad}b")), &[&dave], 400);
    }
    for raw in ["a b", "a\tb"] {
        let before = gw.forwarded();
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n{dave}\r\n\r\n",
            public(&format!("/{raw}"))
        );
        let (status, head, _) = gw.send(request.as_bytes());
        assert_eq!(status, 400, "{raw:?}: {head}");
        assert_eq!(gw.forwarded(), before);
    }
}

#[test]
fn a09_escapes_are_normalised_and_the_path_is_case_sensitive() {
    let gw = Gateway::start();
    let dave = bearer("dave");
    let want = "/v1/orgs/acme/projects/web/containers/c-42";
    gw.assert_forwarded_as("GET", "/v1/orgs/acme/projects/web/containers/c%2d42", &[&dave], want);
    gw.assert_forwarded_as("GET", "/v1/orgs/acme/projects/web/containers/c%2D42", &[&dave], want);
    gw.assert_forwarded_as(
        "GET",
        "/v1/orgs/acme/projects/web/containers/%7e",
        &[&dave],
        "/v1/orgs/acme/projects/web/containers/~",
    );
    gw.assert_rejected("GET", "/V1/orgs/acme/projects/web/containers/c-42", &[&dave], 404);
    // Ids are case-sensitive: C-42 is not the shared c-42.
    gw.assert_rejected("PUT", "/v1/orgs/acme/projects/web/containers/C-42", &[&dave, "Content-Length: 0"], 403);
    gw.assert_forwarded_as(
        "PUT",
        "/v1/orgs/acme/projects/web/containers/c-42",
        &[&dave, "Content-Length: 0"],
        "/v1/orgs/acme/projects/web/containers/c-42",
    );
}

#[test]
fn a10_grants_stop_at_segment_boundaries_and_a_trailing_slash_is_the_same_resource() {
    let gw = Gateway::start();
    let put = [bearer("dave"), "Content-Length: 0".to_string()];
    let put: Vec<&str> = put.iter().map(String::as_str).collect();
    gw.assert_rejected("PUT", &format!("{STORAGE}/assets/imagesx/a"), &put, 403);
    gw.assert_rejected("PUT", &format!("{STORAGE}/assets/imagesx"), &put, 403);
    gw.assert_forwarded_as("PUT", &public(""), &put, &public(""));
    gw.assert_forwarded_as("PUT", &public("/"), &put, &public(""));
}

#[test]
fn a11_decoded_exactly_once_and_invalid_utf8_overlong_and_fullwidth_slash_are_400() {
    let gw = Gateway::start();
    let put = [bearer("dave"), "Content-Length: 0".to_string()];
    let put: Vec<&str> = put.iter().map(String::as_str).collect();
    // `%252e%252e` is the literal segment `%2e%2e`, forwarded encoded once more, not `..`.
    gw.assert_forwarded_as("PUT", &public("/%252e%252e/x"), &put, &public("/%252e%252e/x"));
    for bad in ["/%c0%ae%c0%ae/x", "/%ff", "/a%EF%BC%8Fb", "/%e2%88%95x"] {
        gw.assert_rejected("PUT", &public(bad), &put, 400);
    }
    let before = gw.forwarded();
    let raw = format!(
        "PUT {}/a\u{ff0f}b HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\nContent-Length: 0\r\n{}\r\n\r\n",
        public(""),
        put[0]
    );
    let (status, _, _) = gw.send(raw.as_bytes());
    assert_eq!(status, 400);
    assert_eq!(gw.forwarded(), before);
}

#[test]
fn a12_resource_ids_come_from_the_canonical_path_only() {
    let gw = Gateway::start();
    let dave = bearer("dave");
    gw.assert_rejected("GET", "/v1/orgs/acme/projects/web/containers/1%2F2", &[&dave], 400);
    gw.assert_rejected("GET", "/v1/orgs/acme/projects/web/containers/../containers/9", &[&dave], 400);
    // The id decided on is the id forwarded: the share on c-42 allows update of c-42 only.
    gw.assert_forwarded_as(
        "PUT",
        "/v1/orgs/acme/projects/web/containers/c%2d42",
        &[&dave, "Content-Length: 0"],
        "/v1/orgs/acme/projects/web/containers/c-42",
    );
}

#[test]
fn b13_forwarding_and_rewrite_headers_are_stripped() {
    let gw = Gateway::start();
    let dave = bearer("dave");
    let sneaky = [
        dave.as_str(),
        "X-Forwarded-For: 10.0.0.1",
        "X_Forwarded_Host: evil.test",
        "X-Forwarded-Uri: /admin",
        "Forwarded: for=10.0.0.1",
        "X-Real-IP: 10.0.0.1",
        "X-Original-URL: /v1/orgs/acme/billing",
        "X-Rewrite-URL: /admin",
    ];
    let target = "/v1/orgs/acme/projects/web/containers/c-42";
    gw.assert_forwarded_as("GET", target, &sneaky, target);
    let last = gw.last().to_ascii_lowercase();
    for gone in [
        "\r\nforwarded",
        "x-real-ip",
        "x-original-url",
        "x-rewrite-url",
        "10.0.0.1",
        "evil.test",
        "/admin",
        "x-forwarded-host",
        "x-forwarded-uri",
    ] {
        assert!(!last.contains(gone), "'{gone}' reached the upstream: {last}");
    }
    // The gateway says who its client was, and nothing the client claimed.
    assert_eq!(last.matches("x-forwarded-for").count(), 1, "{last}");
    assert!(last.contains("\r\nx-forwarded-for: 127.0.0.1\r\n"), "{last}");
}

#[test]
fn b13_forwarding_headers_are_kept_from_a_configured_trusted_proxy() {
    let gw = Gateway::start_with(Setup {
        replace: &[("explain_denials = false", "explain_denials = false\ntrusted_proxies = [\"127.0.0.0/8\"]")],
        ..Default::default()
    });
    let dave = bearer("dave");
    let from_lb = [
        dave.as_str(),
        "X-Forwarded-For: 203.0.113.9",
        "X-Forwarded-Proto: https",
        "X-Portcullis-Principal: alice",
        "X-Original-URL: /admin",
    ];
    let target = "/v1/orgs/acme/projects/web/containers/c-42";
    gw.assert_forwarded_as("GET", target, &from_lb, target);
    let last = gw.last().to_ascii_lowercase();
    assert!(last.contains("\r\nx-forwarded-for: 203.0.113.9, 127.0.0.1\r\n"), "{last}");
    assert!(last.contains("\r\nx-forwarded-proto: https\r\n"), "{last}");
    // Identity and rewrite headers are never trusted, whoever sends them.
    assert!(!last.contains("alice") && !last.contains("/admin"), "{last}");
}

#[test]
fn b14_client_identity_headers_are_replaced_in_every_spelling() {
    let gw = Gateway::start();
    let dave = bearer("dave");
    let spoof = [
        dave.as_str(),
        "X-Portcullis-Principal: alice",
        "x_portcullis_principal: alice",
        "X.Portcullis.Org: lab",
        "X-PORTCULLIS-ORG: lab",
        "X-Request-Id: forged",
    ];
    let target = "/v1/orgs/acme/projects/web/containers/c-42";
    gw.assert_forwarded_as("GET", target, &spoof, target);
    let last = gw.last().to_ascii_lowercase();
    for gone in ["alice", "lab", "forged"] {
        assert!(!last.contains(gone), "'{gone}' reached the upstream: {last}");
    }
    assert_eq!(last.matches("x-portcullis-principal: dave\r\n").count(), 1, "{last}");
    assert_eq!(last.matches("x-portcullis-org: acme\r\n").count(), 1, "{last}");
}

#[test]
fn b15_hop_by_hop_stripping_never_removes_the_gateways_headers() {
    let gw = Gateway::start();
    let dave = bearer("dave");
    let target = "/v1/orgs/acme/projects/web/containers/c-42";
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: gw.test\r\nConnection: close, X-Portcullis-Principal, X-Portcullis-Org, X-Request-Id\r\n{dave}\r\n\r\n"
    );
    let (status, head, _) = gw.send(request.as_bytes());
    assert_eq!(status, 200, "{head}");
    let last = gw.last().to_ascii_lowercase();
    assert!(last.contains("x-portcullis-principal: dave\r\n"), "{last}");
    assert!(last.contains("x-portcullis-org: acme\r\n"), "{last}");
    assert!(last.contains("x-request-id: "), "{last}");
}

#[test]
fn b16_two_credentials_are_400() {
    let gw = Gateway::start();
    let (dave, alice) = (bearer("dave"), bearer("alice"));
    let target = "/v1/orgs/acme/projects/web/containers/c-42";
    gw.assert_rejected("GET", target, &[&dave, &alice], 400);
    gw.assert_rejected("GET", target, &[&dave, &dave], 400);
    let in_query = format!("{target}?access_token={}", super::token("alice"));
    gw.assert_rejected("GET", &in_query, &[&dave], 400);
    gw.assert_rejected("GET", &format!("{target}?ACCESS%5FTOKEN=x"), &[&dave], 400);
}

#[test]
fn b17_header_values_with_nul_or_bare_cr_or_lf_are_400() {
    let gw = Gateway::start();
    let dave = bearer("dave");
    let target = "/v1/orgs/acme/projects/web/containers/c-42";
    for bad in ["X-A: a\0b", "X-A: a\rb", "X-A: a\r\n b"] {
        let request = format!("GET {target} HTTP/1.1\r\nHost: gw.test\r\n{bad}\r\n{dave}\r\nConnection: close\r\n\r\n");
        let (status, head, _) = gw.send(request.as_bytes());
        assert_eq!(status, 400, "{bad:?}: {head}");
    }
    // A bare LF ends the header line, so `b: c` becomes a header of its own: it is not
    // smuggled inside X-A's value.
    assert_eq!(gw.forwarded(), 0, "{}", gw.last());
}

#[test]
fn b18_method_override_headers_are_stripped_and_the_wire_method_decides() {
    let gw = Gateway::start();
    let dave = bearer("dave");
    let target = "/v1/orgs/acme/projects/web/containers/c-42";
    let overrides =
        [dave.as_str(), "X-HTTP-Method-Override: DELETE", "X-Method-Override: DELETE", "X-HTTP-Method: DELETE"];
    gw.assert_forwarded_as("GET", target, &overrides, target);
    assert!(!gw.last().to_ascii_lowercase().contains("delete"), "{}", gw.last());
    // A wire DELETE stays denied whatever an override header says.
    let down = [dave.as_str(), "X-HTTP-Method-Override: GET"];
    gw.assert_rejected("DELETE", target, &down, 403);
}

#[test]
fn b19_host_is_canonicalised_or_400() {
    let gw = Gateway::start();
    let dave = bearer("dave");
    let target = "/v1/orgs/acme/projects/web/containers/c-42";
    for (host, want) in [("API.Example.COM.", "api.example.com"), ("api.example.com:8443", "api.example.com:8443")] {
        let request = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{dave}\r\n\r\n");
        assert_eq!(gw.send(request.as_bytes()).0, 200);
        let last = gw.last().to_ascii_lowercase();
        assert!(last.contains(&format!("\r\nhost: {want}\r\n")), "{last}");
    }
    let before = gw.forwarded();
    for host in ["a.example/evil", "a b", "x:99999", "a, b", "a@b"] {
        let request = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{dave}\r\n\r\n");
        assert_eq!(gw.send(request.as_bytes()).0, 400, "{host}");
    }
    let twice = format!("GET {target} HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\nConnection: close\r\n{dave}\r\n\r\n");
    assert_eq!(gw.send(twice.as_bytes()).0, 400);
    assert_eq!(gw.forwarded(), before);
}

/// Sends `request` and returns every byte the gateway wrote back until it closed (or 3 s).
fn exchange(gw: &Gateway, request: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

const PUT_C42: &str = "PUT /v1/orgs/acme/projects/web/containers/c-42 HTTP/1.1\r\nHost: gw.test\r\n";

#[test]
fn c20_content_length_with_transfer_encoding_is_400_and_closes() {
    let gw = Gateway::start();
    let request = format!(
        "{PUT_C42}{}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /v1/orgs/acme/registries/r1 HTTP/1.1\r\nHost: gw.test\r\n\r\n",
        bearer("dave")
    );
    let out = exchange(&gw, request.as_bytes());
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert_eq!(out.matches("HTTP/1.1").count(), 1, "a second response came back: {out}");
    assert_eq!(gw.forwarded(), 0, "{}", gw.last());
}

#[test]
fn c21_transfer_encodings_other_than_chunked_are_400() {
    let gw = Gateway::start();
    let dave = bearer("dave");
    for te in ["chunked, chunked", "gzip, chunked", "chunked\r\nTransfer-Encoding: chunked"] {
        let request = format!("{PUT_C42}{dave}\r\nTransfer-Encoding: {te}\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
        let out = exchange(&gw, request.as_bytes());
        assert!(out.starts_with("HTTP/1.1 400"), "{te:?}: {out}");
    }
    let old = format!(
        "PUT /v1/orgs/acme/projects/web/containers/c-42 HTTP/1.0\r\nHost: gw.test\r\n{dave}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    );
    let out = exchange(&gw, old.as_bytes());
    assert!(out.starts_with("HTTP/1.1 400") || out.starts_with("HTTP/1.0 400"), "TE on HTTP/1.0: {out}");
    assert_eq!(gw.forwarded(), 0, "{}", gw.last());
}

#[test]
fn c22_ambiguous_content_lengths_are_400() {
    let gw = Gateway::start();
    let dave = bearer("dave");
    for cl in ["+3", "3, 4", "3\r\nContent-Length: 4", "3, 3", "3\r\nContent-Length: 3", "0x3", "-1"] {
        let request = format!("{PUT_C42}{dave}\r\nContent-Length: {cl}\r\n\r\nabcd");
        let out = exchange(&gw, request.as_bytes());
        assert!(out.starts_with("HTTP/1.1 400"), "{cl:?}: {out}");
    }
    assert_eq!(gw.forwarded(), 0, "{}", gw.last());
}

#[test]
fn c23_the_body_of_a_denied_request_is_never_read_as_the_next_request() {
    let gw = Gateway::start();
    let dave = bearer("dave");
    let smuggled = "GET /v1/orgs/acme/projects/web/containers/smuggled HTTP/1.1\r\nHost: gw.test\r\n\r\n";
    for framing in [
        format!("Content-Length: {}\r\n\r\n{smuggled}", smuggled.len()),
        format!("Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{smuggled}\r\n0\r\n\r\n", smuggled.len()),
    ] {
        let request = format!(
            "DELETE /v1/orgs/acme/projects/web/containers/c-42 HTTP/1.1\r\nHost: gw.test\r\n{dave}\r\n{framing}"
        );
        let out = exchange(&gw, request.as_bytes());
        assert!(out.starts_with("HTTP/1.1 403"), "{out}");
        assert_eq!(out.matches("HTTP/1.1").count(), 1, "the body was read as a request: {out}");
    }
    assert_eq!(gw.forwarded(), 0, "{}", gw.last());
}

#[test]
fn c24_a_refused_upgrade_does_not_tunnel_the_next_request() {
    let gw = Gateway::start();
    let dave = bearer("dave");
    let request = format!(
        "GET /v1/orgs/acme/projects/web/containers/c-42 HTTP/1.1\r\nHost: gw.test\r\n{dave}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nDELETE /v1/orgs/acme/projects/web/containers/c-42 HTTP/1.1\r\nHost: gw.test\r\n\r\n"
    );
    let out = exchange(&gw, request.as_bytes());
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    let seen = gw.seen.lock().unwrap().clone();
    assert!(seen.iter().all(|r| !r.contains("DELETE")), "the second request was tunnelled: {seen:?}");
}

fn bearer_token(token: &str) -> String {
    format!("Authorization: Bearer {token}")
}

fn b64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn exp_in(secs: i64) -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 + secs
}

const C42: &str = "/v1/orgs/acme/projects/web/containers/c-42";

#[test]
fn d25_alg_none_and_empty_signatures_are_401() {
    let gw = Gateway::start();
    let claims = b64(format!(r#"{{"sub":"alice","exp":{}}}"#, exp_in(600)).as_bytes());
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64(format!(r#"{{"alg":"{alg}","kid":"test"}}"#).as_bytes());
        for sig in ["", "AAAA"] {
            gw.assert_rejected("GET", C42, &[&bearer_token(&format!("{header}.{claims}.{sig}"))], 401);
        }
    }
    let good = super::token("alice");
    let unsigned = good.rsplit_once('.').unwrap().0.to_string() + ".";
    gw.assert_rejected("GET", C42, &[&bearer_token(&unsigned)], 401);
}

#[test]
fn d26_hs256_signed_with_the_rsa_public_key_is_401() {
    let gw = Gateway::start();
    let public = std::fs::read(super::root().join("tests/fixtures/keys/rsa.pub.pem")).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("test".into());
    let claims = serde_json::json!({ "sub": "alice", "exp": exp_in(600) });
    let forged = jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(&public)).unwrap();
    gw.assert_rejected("GET", C42, &[&bearer_token(&forged)], 401);
}

#[test]
fn d27_embedded_keys_are_ignored_and_unknown_kids_are_401() {
    let gw = Gateway::start();
    let attacker = std::fs::read(super::root().join("tests/fixtures/keys/attacker-ec.key.pem")).unwrap();
    let key = jsonwebtoken::EncodingKey::from_ec_pem(&attacker).unwrap();
    let claims = serde_json::json!({ "sub": "alice", "exp": exp_in(600) });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("test".into());
    header.jku = Some("http://127.0.0.1:1/jwks.json".into());
    header.x5u = Some("http://127.0.0.1:1/cert.pem".into());
    let forged = jsonwebtoken::encode(&header, &claims, &key).unwrap();
    gw.assert_rejected("GET", C42, &[&bearer_token(&forged)], 401);
    header.kid = Some("attacker".into());
    let unknown = jsonwebtoken::encode(&header, &claims, &key).unwrap();
    let (status, head, _) = gw.request("GET", C42, &[&bearer_token(&unknown)]);
    assert_eq!(status, 401);
    assert!(head.contains("names no configured key"), "{head}");
    assert_eq!(gw.forwarded(), 0);
}

#[test]
fn d28_exp_nbf_aud_and_iss_are_checked_when_configured() {
    let gw = Gateway::start_with(Setup { issuer_audience: true, ..Default::default() });
    let ok = json_claims(&[("iss", "https://id.test".into()), ("aud", "platform".into())]);
    gw.assert_forwarded_as("GET", C42, &[&bearer_token(&super::token_with("dave", &ok))], C42);
    let cases = [
        (
            "exp missing",
            json_claims(&[
                ("exp", serde_json::Value::Null),
                ("iss", "https://id.test".into()),
                ("aud", "platform".into()),
            ]),
        ),
        (
            "exp a string",
            json_claims(&[
                ("exp", format!("{}", exp_in(600)).into()),
                ("iss", "https://id.test".into()),
                ("aud", "platform".into()),
            ]),
        ),
        (
            "expired",
            json_claims(&[("exp", exp_in(-120).into()), ("iss", "https://id.test".into()), ("aud", "platform".into())]),
        ),
        (
            "nbf ahead",
            json_claims(&[("nbf", exp_in(600).into()), ("iss", "https://id.test".into()), ("aud", "platform".into())]),
        ),
        ("wrong aud", json_claims(&[("iss", "https://id.test".into()), ("aud", "other".into())])),
        ("no aud", json_claims(&[("iss", "https://id.test".into())])),
        ("wrong iss", json_claims(&[("iss", "https://evil.test".into()), ("aud", "platform".into())])),
        ("no iss", json_claims(&[("aud", "platform".into())])),
    ];
    for (what, claims) in cases {
        let t = super::token_with("dave", &claims);
        let (status, head, _) = gw.request("GET", C42, &[&bearer_token(&t)]);
        assert_eq!(status, 401, "{what}: {head}");
    }
    assert_eq!(gw.forwarded(), 1);
}

fn json_claims(pairs: &[(&str, serde_json::Value)]) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (k, v) in pairs {
        m.insert((*k).to_string(), v.clone());
    }
    serde_json::Value::Object(m)
}

#[test]
fn d30_a_cached_verification_is_not_reused_after_exp_or_across_issuers() {
    let gw = Gateway::start_with(Setup { issuer_audience: true, leeway_zero: true, ..Default::default() });
    let claims =
        json_claims(&[("exp", exp_in(2).into()), ("iss", "https://id.test".into()), ("aud", "platform".into())]);
    let short = bearer_token(&super::token_with("dave", &claims));
    gw.assert_forwarded_as("GET", C42, &[&short], C42);
    gw.assert_forwarded_as("GET", C42, &[&short], C42);
    std::thread::sleep(Duration::from_millis(3100));
    gw.assert_rejected("GET", C42, &[&short], 401);
    let other = json_claims(&[("iss", "https://evil.test".into()), ("aud", "platform".into())]);
    gw.assert_rejected("GET", C42, &[&bearer_token(&super::token_with("dave", &other))], 401);
}

#[test]
fn e31_oversized_heads_are_431_and_oversized_bodies_413() {
    let gw = Gateway::start_with(Setup {
        replace: &[
            ("max_header_bytes = 16384", "max_header_bytes = 4096"),
            ("max_headers = 64", "max_headers = 20"),
            ("max_body_bytes = 10485760", "max_body_bytes = 1000"),
        ],
        ..Default::default()
    });
    let dave = bearer("dave");
    let many: Vec<String> = (0..25).map(|i| format!("X-H{i}: {i}")).collect();
    let mut headers: Vec<&str> = many.iter().map(String::as_str).collect();
    headers.push(&dave);
    gw.assert_rejected("GET", C42, &headers, 431);
    let big = format!("X-Big: {}", "a".repeat(5000));
    gw.assert_rejected("GET", C42, &[&dave, &big], 431);
    let request = format!("{PUT_C42}{dave}\r\nContent-Length: 1001\r\n\r\n{}", "b".repeat(1001));
    assert!(exchange(&gw, request.as_bytes()).starts_with("HTTP/1.1 413"));
    let chunk = "c".repeat(600);
    let request =
        format!("{PUT_C42}{dave}\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n");
    let out = exchange(&gw, request.as_bytes());
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
    // Within the limits the same requests pass.
    let request = format!("{PUT_C42}{dave}\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n{}", "b".repeat(1000));
    let out = exchange(&gw, request.as_bytes());
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(gw.last().ends_with(&"b".repeat(1000)));
}

#[test]
fn e32_idle_connections_are_closed_and_do_not_stop_service() {
    let gw = Gateway::start_with(Setup {
        replace: &[("idle_timeout_secs = 60", "idle_timeout_secs = 1")],
        ..Default::default()
    });
    let dave = bearer("dave");
    // After one request, an idle keep-alive connection is closed at the idle timeout.
    let mut s = TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(format!("GET {C42} HTTP/1.1\r\nHost: gw.test\r\n{dave}\r\n\r\n").as_bytes()).unwrap();
    let started = Instant::now();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert!(parse_response(&out).0 == 200, "{}", String::from_utf8_lossy(&out));
    assert!(started.elapsed() < Duration::from_secs(5), "an idle connection stayed open {:?}", started.elapsed());
    // Many idle connections do not stop others from being served.
    let idle: Vec<TcpStream> = (0..500).filter_map(|_| TcpStream::connect(("127.0.0.1", gw.port)).ok()).collect();
    assert!(idle.len() >= 400, "only {} connections opened", idle.len());
    gw.assert_forwarded_as("GET", C42, &[&dave], C42);
    drop(idle);
}

#[test]
fn f34_methods_and_routes_the_config_does_not_map_are_never_forwarded() {
    let gw = Gateway::start();
    let alice = bearer("alice");
    gw.assert_rejected("PATCH", "/v1/orgs/acme/billing", &[&alice], 405);
    gw.assert_rejected("DELETE", "/v1/orgs/acme/billing", &[&alice], 405);
    gw.assert_rejected("OPTIONS", C42, &[&alice], 405);
    gw.assert_rejected("FOO", C42, &[&alice], 405);
    gw.assert_rejected("get", C42, &[&alice], 405);
    gw.assert_rejected("GET", "/v1/orgs/acme/nothing-here", &[&alice], 404);
    gw.assert_rejected("GET", "/", &[&alice], 404);
    gw.assert_forwarded_as("PUT", "/v1/orgs/acme/billing", &[&alice, "Content-Length: 0"], "/v1/orgs/acme/billing");
}
