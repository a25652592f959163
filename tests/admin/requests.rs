//! Access requests end to end: asked, approved (the grant then works through the gateway,
//! and ends), denied, refused to whoever could not grant it directly, expired unanswered;
//! two orgs with the same names never see or decide each other's.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Control, revision};

const C1: &str = "/v1/orgs/globex/projects/web/containers/c-1";

/// globex (gina) and initech (ivan), each with bob (viewer) and dave (no role), project web.
fn two_orgs(c: &Control) {
    for (org, owner) in super::two_orgs(c, &["bob", "dave"]) {
        c.expect(owner, "POST", &format!("/v1/orgs/{org}/bindings"), Some(r#"{"subject":"bob","role":"viewer"}"#), 201);
    }
}

fn ask(c: &Control, who: &str, org: &str, body: &str) -> Value {
    c.expect(who, "POST", &format!("/v1/orgs/{org}/access-requests"), Some(body), 201)
}

const READ_C1: &str =
    r#"{"kind":"containers","project":"web","id":"c-1","verbs":["read"],"duration":"2s","reason":"incident 42"}"#;

#[test]
fn an_approved_request_grants_until_its_duration_ends_and_only_a_granter_may_approve() {
    let c = Control::start();
    two_orgs(&c);
    assert_eq!(c.gateway_status("dave", "GET", C1, None), 403);
    let asked = ask(&c, "dave", "globex", READ_C1);
    let id = asked["id"].as_str().unwrap().to_string();
    assert_eq!(asked["state"], "pending");
    assert_eq!(asked["reason"], "incident 42");
    // gina sees it to approve; bob (viewer: no update on containers) may not approve it.
    let approvable = c.expect("gina", "GET", "/v1/orgs/globex/access-requests?approvable=true", None, 200);
    assert_eq!(approvable["access_requests"][0]["id"], Value::String(id.clone()), "{approvable}");
    let (status, body) = c.call("bob", "POST", &format!("/v1/orgs/globex/access-requests/{id}/approve"), None);
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("needs update on containers"), "{body}");
    // initech's owner is nobody in globex; the same id in initech does not exist.
    assert_eq!(c.call("ivan", "POST", &format!("/v1/orgs/globex/access-requests/{id}/approve"), None).0, 403);
    assert_eq!(c.call("ivan", "POST", &format!("/v1/orgs/initech/access-requests/{id}/approve"), None).0, 404);
    let rev = revision(&c.expect("gina", "POST", &format!("/v1/orgs/globex/access-requests/{id}/approve"), None, 200));
    assert_eq!(c.gateway_status("dave", "GET", C1, Some(rev)), 200);
    assert_eq!(c.gateway_status("dave", "DELETE", C1, Some(rev)), 403, "only what was asked");
    let share = c.expect("gina", "GET", "/v1/orgs/globex/shares?kind=containers&project=web&id=c-1", None, 200);
    assert_eq!(share["shares"][0]["granted_by"], "gina", "{share}");
    assert!(share["shares"][0]["expires_at"].is_string(), "{share}");
    // Decided once: a second approval or a denial is a conflict.
    assert_eq!(c.call("gina", "POST", &format!("/v1/orgs/globex/access-requests/{id}/deny"), None).0, 409);
    let mine = c.expect("dave", "GET", "/v1/orgs/globex/access-requests", None, 200);
    assert_eq!(mine["access_requests"][0]["state"], "approved");
    assert_eq!(mine["access_requests"][0]["decided_by"], "gina");
    // The grant ends by itself.
    let deadline = Instant::now() + Duration::from_secs(15);
    while c.gateway_status("dave", "GET", C1, None) != 403 {
        assert!(Instant::now() < deadline, "the approved share did not end");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The audit log says who approved which request.
    let audit = c.expect("gina", "GET", "/v1/orgs/globex/audit?limit=100", None, 200);
    let entry = audit["entries"].as_array().unwrap().iter().find(|e| e["action"] == "share.create").unwrap().clone();
    assert_eq!(entry["actor"], "gina");
    assert!(entry["detail"].as_str().unwrap().contains(&id), "{entry}");
}

#[test]
fn a_role_request_is_denied_and_requests_are_private_to_their_org_and_requester() {
    let c = Control::start();
    two_orgs(&c);
    let asked = ask(&c, "dave", "globex", r#"{"role":"admin","project":"web","duration":"8h","reason":"release"}"#);
    let id = asked["id"].as_str().unwrap();
    // erin, with no role, sees only her own (none); bob (viewer: read on members) sees all;
    // initech's dave sees none of globex's.
    c.expect("gina", "POST", "/v1/orgs/globex/members", Some(r#"{"id":"erin"}"#), 201);
    let erin = c.expect("erin", "GET", "/v1/orgs/globex/access-requests", None, 200);
    assert_eq!(erin["access_requests"], serde_json::json!([]));
    let bob = c.expect("bob", "GET", "/v1/orgs/globex/access-requests", None, 200);
    assert_eq!(bob["access_requests"].as_array().unwrap().len(), 1);
    assert_eq!(
        c.expect("dave", "GET", "/v1/orgs/initech/access-requests", None, 200)["access_requests"],
        serde_json::json!([])
    );
    assert_eq!(c.call("ivan", "GET", "/v1/orgs/globex/access-requests", None).0, 403);
    c.expect("gina", "POST", &format!("/v1/orgs/globex/access-requests/{id}/deny"), None, 200);
    let all = c.expect("gina", "GET", "/v1/orgs/globex/access-requests", None, 200);
    assert_eq!(all["access_requests"][0]["state"], "denied", "{all}");
    assert_eq!(c.gateway_status("dave", "DELETE", C1, None), 403);
    // Bad requests name the field.
    for (body, field) in [
        (r#"{"role":"admin","duration":"8h","reason":"x"}"#, "`project`"),
        (r#"{"role":"admin","project":"web","duration":"soon","reason":"x"}"#, "`duration`"),
        (r#"{"role":"admin","project":"web","duration":"8h","reason":" "}"#, "`reason`"),
        (
            r#"{"kind":"containers","project":"web","id":"c-1","verbs":["deny"],"duration":"1h","reason":"x"}"#,
            "`verbs`",
        ),
        (r#"{"role":"admin","kind":"containers","project":"web","duration":"1h","reason":"x"}"#, "not both"),
    ] {
        let (status, answer) = c.call("dave", "POST", "/v1/orgs/globex/access-requests", Some(body));
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains(field), "{body}: {answer}");
    }
    // What could never be granted is said to the one who asks.
    let (status, answer) = c.call(
        "dave",
        "POST",
        "/v1/orgs/globex/access-requests",
        Some(r#"{"role":"wizard","project":"web","duration":"1h","reason":"x"}"#),
    );
    assert_eq!(status, 422, "{answer}");
}

#[test]
fn an_unanswered_request_expires_and_can_no_longer_be_approved() {
    let dir = crate::scratch("store");
    let c = Control::start_on(&format!("data_dir = \"{}\"\naccess_request_ttl_secs = 1", dir.display()));
    two_orgs(&c);
    let id = ask(&c, "dave", "globex", READ_C1)["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mine = c.expect("dave", "GET", "/v1/orgs/globex/access-requests", None, 200);
        if mine["access_requests"][0]["state"] == "expired" {
            break;
        }
        assert!(Instant::now() < deadline, "{mine}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, body) = c.call("gina", "POST", &format!("/v1/orgs/globex/access-requests/{id}/approve"), None);
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("is expired"), "{body}");
    assert_eq!(c.gateway_status("dave", "GET", C1, None), 403);
}
