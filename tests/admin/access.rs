//! Access review end to end (`GET /v1/orgs/{org}/access`, `portcullis access who`): who can
//! act on one resource and every reason, checked against what the gateway does, and with
//! two orgs of the same member names against each other.

use serde_json::Value;

use super::{Control, two_orgs};

const C1: &str = "/v1/orgs/globex/projects/web/containers/c-1";
const REVIEW: &str = "/v1/orgs/globex/access?kind=containers&project=web&id=c-1";

fn post(c: &Control, org: &str, owner: &str, what: &str, body: &str) -> u64 {
    super::revision(&c.expect(owner, "POST", &format!("/v1/orgs/{org}/{what}"), Some(body), 201))
}

fn principal<'a>(review: &'a Value, id: &str) -> Option<&'a Value> {
    review["principals"].as_array().unwrap().iter().find(|p| p["subject"] == id)
}

fn names(review: &Value) -> Vec<&str> {
    review["principals"].as_array().unwrap().iter().map(|p| p["subject"].as_str().unwrap()).collect()
}

/// globex: bob a member through team ops, dave an org admin replaced in web by a viewer
/// binding, erin holding an expiring read share on c-1. initech (same names) only has the
/// members.
fn world(c: &Control) -> u64 {
    two_orgs(c, &["bob", "dave", "erin"]);
    post(c, "globex", "gina", "teams", r#"{"name":"ops","members":["bob"]}"#);
    post(c, "globex", "gina", "bindings", r#"{"subject":"team:ops","role":"member"}"#);
    post(c, "globex", "gina", "bindings", r#"{"subject":"dave","role":"admin"}"#);
    post(c, "globex", "gina", "bindings", r#"{"subject":"dave","role":"viewer","project":"web"}"#);
    let share = r#"{"subject":"erin","kind":"containers","project":"web","id":"c-1","verbs":["read"],"expires_at":"2099-01-01T00:00:00Z"}"#;
    post(c, "globex", "gina", "shares", share)
}

#[test]
fn the_review_names_everyone_who_can_act_and_every_reason_and_agrees_with_the_gateway() {
    let c = Control::start();
    let rev = world(&c);
    let review = c.expect("gina", "GET", REVIEW, None, 200);
    assert_eq!(names(&review), ["bob", "dave", "erin", "gina"], "{review}");

    let gina = principal(&review, "gina").unwrap();
    assert_eq!(gina["verbs"], serde_json::json!(["list", "read", "create", "update", "delete"]));
    assert_eq!(gina["reasons"][0]["source"], "owner");

    let bob = principal(&review, "bob").unwrap();
    assert_eq!(bob["verbs"], serde_json::json!(["list", "read", "update"]), "{bob}");
    let r = &bob["reasons"][0];
    assert_eq!((&r["source"], &r["role"], &r["bound_to"]), (&"role".into(), &"member".into(), &"team:ops".into()));
    assert_eq!((&r["via"], &r["team"], &r["scope"]), (&"team".into(), &"ops".into(), &"organisation".into()));

    // dave's org admin binding is shown, and said not to count in web.
    let dave = principal(&review, "dave").unwrap();
    assert_eq!(dave["verbs"], serde_json::json!(["list", "read"]), "{dave}");
    let reasons = dave["reasons"].as_array().unwrap();
    let admin = reasons.iter().find(|r| r["role"] == "admin").unwrap();
    assert_eq!(admin["ignored"], "replaced by its project role", "{dave}");
    let viewer = reasons.iter().find(|r| r["role"] == "viewer").unwrap();
    assert_eq!(
        (&viewer["scope"], &viewer["project"], &viewer["ignored"]),
        (&"project".into(), &"web".into(), &Value::Null)
    );

    let erin = principal(&review, "erin").unwrap();
    assert_eq!(erin["verbs"], serde_json::json!(["list", "read"]), "{erin}");
    let share = &erin["reasons"][0];
    assert_eq!(share["source"], "share");
    assert_eq!((&share["granted_by"], &share["expires_at"]), (&"gina".into(), &"2099-01-01T00:00:00Z".into()));

    // What the review says each one can do is what the gateway does.
    for (who, verbs) in
        [("bob", ["GET", "PUT", "DELETE"]), ("dave", ["GET", "PUT", "DELETE"]), ("erin", ["GET", "PUT", "DELETE"])]
    {
        let listed = principal(&review, who).unwrap()["verbs"].as_array().unwrap().clone();
        for (method, verb) in verbs.iter().zip(["read", "update", "delete"]) {
            let want = if listed.iter().any(|v| v == verb) { 200 } else { 403 };
            assert_eq!(c.gateway_status(who, method, C1, Some(rev)), want, "{who} {method} c-1: {review}");
        }
    }

    // With a verb: only those that can do it, with only the reasons that give it.
    let update = c.expect("gina", "GET", &format!("{REVIEW}&verb=update"), None, 200);
    assert_eq!(names(&update), ["bob", "gina"], "{update}");
    let read = c.expect("gina", "GET", &format!("{REVIEW}&verb=read"), None, 200);
    let dave = principal(&read, "dave").unwrap();
    assert!(dave["reasons"].as_array().unwrap().iter().all(|r| r["role"] != "member"), "{dave}");
    // Paged by member id.
    let first = c.expect("gina", "GET", &format!("{REVIEW}&limit=2"), None, 200);
    assert_eq!((names(&first), &first["next"]), (vec!["bob", "dave"], &Value::from("dave")));
    let rest = c.expect("gina", "GET", &format!("{REVIEW}&limit=2&after=dave"), None, 200);
    assert_eq!((names(&rest), &rest["next"]), (vec!["erin", "gina"], &Value::Null));
}

#[test]
fn the_review_is_for_members_who_read_members_of_that_org_only() {
    let c = Control::start();
    world(&c);
    // bob reads members (the member role); erin holds no role; ivan owns initech only.
    c.expect("bob", "GET", REVIEW, None, 200);
    let (status, body) = c.call("erin", "GET", REVIEW, None);
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("needs read on"), "{body}");
    let (status, body) = c.call("ivan", "GET", REVIEW, None);
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("not a member"), "{body}");
    // A non-member learns nothing about the resource, not even that the kind is unknown.
    let (status, _) = c.call("ivan", "GET", "/v1/orgs/globex/access?kind=nope", None);
    assert_eq!(status, 403);
    // The same names in initech have none of globex's grants.
    let initech = c.expect("ivan", "GET", "/v1/orgs/initech/access?kind=containers&project=web&id=c-1", None, 200);
    assert_eq!(names(&initech), ["ivan"], "{initech}");
}

#[test]
fn a_bad_question_is_a_400_that_names_the_parameter() {
    let c = Control::start();
    world(&c);
    for (query, field, says) in [
        ("kind=nope", "kind", "kind 'nope' is not declared"),
        ("kind=containers&project=nope&id=c-1", "project", "project 'nope' does not exist"),
        ("kind=containers&id=c-1", "kind", "does not exist at organisation level"),
        ("kind=containers&project=web&verb=destroy", "verb", "not 'destroy'"),
        ("project=web", "kind", "is required"),
        ("kind=containers&project=web&who=bob", "who", "unknown query parameter"),
    ] {
        let (status, body) = c.call("gina", "GET", &format!("/v1/orgs/globex/access?{query}"), None);
        assert_eq!(status, 400, "{query}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(&format!("`{field}`")) && error.contains(says), "{query}: {error}");
    }
}

#[test]
fn access_who_prints_the_review() {
    let c = Control::start();
    world(&c);
    let args = ["access", "who", "--org", "globex", "--kind", "containers", "--project", "web", "--id", "c-1"];
    let (code, out, err) = c.cli("gina", &[&args[..], &["--verb", "read"]].concat());
    assert_eq!(code, 0, "{err}");
    let review: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(names(&review), ["bob", "dave", "erin", "gina"], "{out}");
    let (code, _, err) = c.cli("erin", &args);
    assert_eq!(code, 2, "a refusal exits 2: {err}");
    assert!(err.contains("403") && err.contains("needs read on"), "{err}");
}
