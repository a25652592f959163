//! Grants that end by themselves, through the admin API and the gateway: enforced from
//! their instant with no write in between, listed with their end, refused when already
//! past, and removed from the store (audited) by the sweep, in one org and not the other.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Control, revision};

const C1: &str = "/v1/orgs/globex/projects/web/containers/c-1";

/// globex (gina) and initech (ivan), each with dave and project web.
fn two_orgs(c: &Control) {
    super::two_orgs(c, &["dave"]);
}

fn in_secs(secs: i64) -> String {
    portcullis::instant::render(portcullis::instant::now() + secs)
}

/// Polls `probe` until it holds, for at most `limit`.
fn eventually(limit: Duration, what: &str, mut probe: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !probe() {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn org_revision(c: &Control, org: &str, owner: &str) -> u64 {
    revision(&c.expect(owner, "GET", &format!("/v1/orgs/{org}"), None, 200))
}

#[test]
fn an_expiring_share_allows_until_its_instant_and_not_from_it_with_no_write_in_between() {
    let c = Control::start();
    two_orgs(&c);
    let until = in_secs(3);
    let share = format!(
        r#"{{"subject":"dave","kind":"containers","project":"web","id":"c-1","verbs":["read"],"expires_at":"{until}"}}"#
    );
    let rev = revision(&c.expect("gina", "POST", "/v1/orgs/globex/shares", Some(&share), 201));
    assert_eq!(c.gateway_status("dave", "GET", C1, Some(rev)), 200);
    // The same dave in initech has nothing.
    assert_eq!(c.gateway_status("dave", "GET", "/v1/orgs/initech/projects/web/containers/c-1", None), 403);
    let list = c.expect("gina", "GET", "/v1/orgs/globex/shares?kind=containers&project=web&id=c-1", None, 200);
    assert_eq!(list["shares"][0]["expires_at"], Value::String(until.clone()), "{list}");
    let before = org_revision(&c, "globex", "gina");
    eventually(Duration::from_secs(15), "the share stops counting", || {
        c.gateway_status("dave", "GET", C1, None) == 403
    });
    let ended = portcullis::instant::parse(&until).unwrap();
    assert!(portcullis::instant::now() >= ended, "denied before its instant");
    assert_eq!(org_revision(&c, "globex", "gina"), before, "nothing was written in between");
}

#[test]
fn an_expires_at_that_is_past_or_malformed_is_refused_naming_the_field() {
    let c = Control::start();
    two_orgs(&c);
    for (at, says) in [(in_secs(-60), "is not in the future"), ("tomorrow".to_string(), "is not an RFC 3339")] {
        let share = format!(
            r#"{{"subject":"dave","kind":"containers","project":"web","id":"c-1","verbs":["read"],"expires_at":"{at}"}}"#
        );
        let (status, body) = c.call("gina", "POST", "/v1/orgs/globex/shares", Some(&share));
        assert_eq!(status, 400, "{body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains("field `expires_at`") && error.contains(says), "{error}");
        let bind = format!(r#"{{"subject":"dave","role":"admin","project":"web","expires_at":"{at}"}}"#);
        let (status, body) = c.call("gina", "POST", "/v1/orgs/globex/bindings", Some(&bind));
        assert_eq!(status, 400, "{body}");
    }
}

#[test]
fn the_sweep_removes_ended_grants_from_the_store_and_audits_it_in_that_org_only() {
    let dir = crate::scratch("store");
    let c = Control::start_on(&format!("data_dir = \"{}\"\nexpiry_sweep_secs = 1", dir.display()));
    two_orgs(&c);
    let bind = format!(r#"{{"subject":"dave","role":"admin","project":"web","expires_at":"{}"}}"#, in_secs(2));
    let rev = revision(&c.expect("gina", "POST", "/v1/orgs/globex/bindings", Some(&bind), 201));
    assert_eq!(c.gateway_status("dave", "DELETE", C1, Some(rev)), 200);
    // A binding that does not end, in the other org, stays.
    c.expect("ivan", "POST", "/v1/orgs/initech/bindings", Some(r#"{"subject":"dave","role":"viewer"}"#), 201);
    eventually(Duration::from_secs(20), "the sweep removes the binding", || {
        let org = c.expect("gina", "GET", "/v1/orgs/globex", None, 200);
        !org["policy"].as_str().unwrap().contains("expires_at")
    });
    assert_eq!(c.gateway_status("dave", "DELETE", C1, None), 403);
    let audit = c.expect("gina", "GET", "/v1/orgs/globex/audit?limit=100", None, 200);
    let last = audit["entries"].as_array().unwrap().last().cloned().unwrap();
    assert_eq!(last["action"], "grants.expire", "{audit}");
    assert_eq!(last["actor"], portcullis::control::EXPIRY_ACTOR);
    assert!(last["detail"].as_str().unwrap().contains("\"role\":\"admin\""), "{last}");
    let initech = c.expect("ivan", "GET", "/v1/orgs/initech/audit?limit=100", None, 200);
    assert!(initech["entries"].as_array().unwrap().iter().all(|e| e["action"] != "grants.expire"), "{initech}");
    assert_eq!(c.gateway_status("dave", "GET", "/v1/orgs/initech/projects/web/containers/c-1", None), 200);
}
