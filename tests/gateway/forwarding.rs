//! What an allowed request looks like at the upstream, and the rejections a client sees.

use super::{Gateway, bearer, token};

#[test]
fn an_allowed_request_is_forwarded_once_as_the_canonical_target_with_the_gateways_identity() {
    let gw = Gateway::start();
    let dave = bearer("dave");
    gw.assert_forwarded_as(
        "GET",
        "/v1/orgs/acme/projects/web/containers/c%2D42?view=full",
        &[&dave],
        "/v1/orgs/acme/projects/web/containers/c-42?view=full",
    );
    let last = gw.last().to_ascii_lowercase();
    assert!(last.contains("\r\nx-portcullis-principal: dave\r\n"), "{last}");
    assert!(last.contains("\r\nx-portcullis-org: acme\r\n"), "{last}");
    assert!(last.contains("\r\nx-request-id: "), "{last}");
    assert!(!last.contains("authorization:"), "the credential reached the upstream: {last}");
}

#[test]
fn rejections_are_json_with_a_request_id_and_the_right_headers() {
    let gw = Gateway::start();
    let dave = bearer("dave");
    let (status, head, body) = gw.request("DELETE", "/v1/orgs/acme/projects/web/containers/c-42", &[&dave]);
    assert_eq!(status, 403);
    assert!(body.contains("\"error\":\"forbidden\"") && body.contains("\"request_id\""), "{body}");
    assert!(!body.contains("reason"), "the reason is only sent when explain_denials is set: {body}");
    // No line per denial on stderr: that is the decision log's job, when one is configured.
    let log = gw.log();
    assert!(!log.contains("403") && !log.contains("dave"), "{log}");
    assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "{head}");

    let (status, head, _) = gw.request("GET", "/v1/orgs/acme/projects/web/containers/c-42", &[]);
    assert_eq!(status, 401);
    assert!(head.to_ascii_lowercase().contains("www-authenticate: bearer"), "{head}");
    let forged = format!("Authorization: Bearer {}x", token("alice"));
    gw.assert_rejected("GET", "/v1/orgs/acme/projects/web/containers/c-42", &[&forged], 401);
    gw.assert_rejected("GET", "/admin", &[&dave], 404);
    let (status, head, _) = gw.request("OPTIONS", "/v1/orgs/acme/registries/r1", &[&dave]);
    assert_eq!(status, 405);
    assert!(head.to_ascii_lowercase().contains("allow: get, head, put, patch, delete"), "{head}");
    assert_eq!(gw.forwarded(), 0);
}

#[test]
fn explain_denials_puts_the_reason_in_the_403() {
    let gw = Gateway::start_with(super::Setup {
        replace: &[("explain_denials = false", "explain_denials = true")],
        ..Default::default()
    });
    let (status, _, body) = gw.request("DELETE", "/v1/orgs/acme/projects/web/containers/c-42", &[&bearer("dave")]);
    assert_eq!(status, 403);
    assert!(body.contains("\"reason\":\"deny:"), "{body}");
}
