//! Access answers end to end, checked against what the gateway does and with two orgs of
//! the same member names against each other: the review (`GET /v1/orgs/{org}/access`,
//! `access who`), who can act on one resource and every reason; and what one principal can
//! reach (`GET /v1/orgs/{org}/access/principals/{p}`, `access reach`).

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

// What a principal can reach (`GET /v1/orgs/{org}/access/principals/{p}`, `access reach`).

fn reach_path(org: &str, who: &str, query: &str) -> String {
    format!("/v1/orgs/{org}/access/principals/{who}?kind=containers{query}")
}

fn ids(reach: &Value) -> Vec<(&str, Vec<&str>)> {
    fn verbs(v: &Value) -> Vec<&str> {
        v.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect()
    }
    reach["ids"].as_array().unwrap().iter().map(|x| (x["id"].as_str().unwrap(), verbs(&x["verbs"]))).collect()
}

/// On top of [`world`]: erin also holds update on c-2; dave holds a role narrowed to c-3's
/// update in web; the service account ci-bot holds read on c-4.
fn reach_world(c: &Control) -> u64 {
    world(c);
    let share = r#"{"subject":"erin","kind":"containers","project":"web","id":"c-2","verbs":["update"]}"#;
    post(c, "globex", "gina", "shares", share);
    post(c, "globex", "gina", "roles", r#"{"name":"c3-fixer","permissions":["project:containers:c-3:update"]}"#);
    post(c, "globex", "gina", "bindings", r#"{"subject":"dave","role":"c3-fixer","project":"web"}"#);
    post(c, "globex", "gina", "service-accounts", r#"{"id":"ci-bot"}"#);
    let share = r#"{"subject":"ci-bot","kind":"containers","project":"web","id":"c-4","verbs":["read"]}"#;
    post(c, "globex", "gina", "shares", share)
}

#[test]
fn a_principal_reaches_kind_wide_scopes_and_the_ids_beyond_them_as_the_gateway_decides() {
    let c = Control::start();
    let rev = reach_world(&c);
    // erin holds no role: only her shares' ids.
    let erin = c.expect("gina", "GET", &reach_path("globex", "erin", ""), None, 200);
    assert_eq!(erin["kind_wide"], serde_json::json!([]), "{erin}");
    assert_eq!(ids(&erin), [("c-1", vec!["list", "read"]), ("c-2", vec!["list", "read", "update"])], "{erin}");
    assert_eq!((&erin["ids"][0]["level"], &erin["ids"][0]["project"]), (&"project".into(), &"web".into()));
    // dave reads every container in web, and updates c-3 besides: said once, then the id.
    let dave = c.expect("gina", "GET", &reach_path("globex", "dave", ""), None, 200);
    let wide = &dave["kind_wide"];
    assert_eq!(wide.as_array().unwrap().len(), 1, "{dave}");
    assert_eq!((&wide[0]["project"], &wide[0]["verbs"]), (&"web".into(), &serde_json::json!(["list", "read"])));
    assert_eq!(wide[0]["text"], "every containers in project web");
    assert_eq!(ids(&dave), [("c-3", vec!["list", "read", "update"])], "{dave}");
    // The service account, named sa:NAME in the path.
    let bot = c.expect("gina", "GET", &reach_path("globex", "sa:ci-bot", ""), None, 200);
    assert_eq!(bot["principal"], "sa:globex/ci-bot");
    assert_eq!(ids(&bot), [("c-4", vec!["list", "read"])], "{bot}");

    // What the answer says is what the gateway does, on the listed ids and one no grant names.
    for (who, answer) in [("erin", &erin), ("dave", &dave)] {
        for id in ["c-1", "c-2", "c-3", "c-9"] {
            for (method, verb) in [("GET", "read"), ("PUT", "update"), ("DELETE", "delete")] {
                let listed = answer["ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x["id"] == id && x["verbs"].as_array().unwrap().iter().any(|v| v == verb));
                let wide = answer["kind_wide"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|k| k["project"] == "web" && k["verbs"].as_array().unwrap().iter().any(|v| v == verb));
                let want = if listed || wide { 200 } else { 403 };
                let path = format!("/v1/orgs/globex/projects/web/containers/{id}");
                assert_eq!(c.gateway_status(who, method, &path, Some(rev)), want, "{who} {method} {id}: {answer}");
            }
        }
    }

    // With a verb: only where the principal can do it beyond the scope.
    let update = c.expect("gina", "GET", &reach_path("globex", "erin", "&verb=update"), None, 200);
    assert_eq!(ids(&update), [("c-2", vec!["list", "read", "update"])], "{update}");
    let read = c.expect("gina", "GET", &reach_path("globex", "dave", "&verb=read"), None, 200);
    assert_eq!((read["kind_wide"][0]["project"].as_str(), ids(&read)), (Some("web"), vec![]), "{read}");
    // Paged by (project, id).
    let first = c.expect("gina", "GET", &reach_path("globex", "erin", "&limit=1"), None, 200);
    assert_eq!(ids(&first).len(), 1);
    assert_eq!(first["next"], serde_json::json!({ "project": "web", "id": "c-1" }), "{first}");
    let rest =
        c.expect("gina", "GET", &reach_path("globex", "erin", "&limit=1&after_project=web&after=c-1"), None, 200);
    assert_eq!((ids(&rest)[0].0, &rest["next"]), ("c-2", &Value::Null), "{rest}");
}

#[test]
fn a_member_reads_its_own_reach_and_another_s_only_with_read_on_members_of_that_org() {
    let c = Control::start();
    reach_world(&c);
    // erin holds no role, yet may ask about herself, and nobody else.
    c.expect("erin", "GET", &reach_path("globex", "erin", ""), None, 200);
    let (status, body) = c.call("erin", "GET", &reach_path("globex", "dave", ""), None);
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("needs read on"), "{body}");
    // Nor does she learn who is a member by asking about someone who is not.
    let (status, _) = c.call("erin", "GET", &reach_path("globex", "zed", ""), None);
    assert_eq!(status, 403);
    let (status, body) = c.call("gina", "GET", &reach_path("globex", "zed", ""), None);
    assert_eq!(status, 404, "{body}");
    // ivan owns initech only: globex's answers are not his, and initech's erin has none of
    // globex's erin's grants.
    let (status, body) = c.call("ivan", "GET", &reach_path("globex", "erin", ""), None);
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("not a member"), "{body}");
    let initech = c.expect("ivan", "GET", &reach_path("initech", "erin", ""), None, 200);
    assert_eq!((&initech["kind_wide"], ids(&initech)), (&serde_json::json!([]), vec![]), "{initech}");
    // globex's service account is nobody in initech.
    let (status, _) = c.call("ivan", "GET", &reach_path("initech", "sa:ci-bot", ""), None);
    assert_eq!(status, 404);
}

#[test]
fn a_bad_reach_question_is_a_400_that_names_the_parameter() {
    let c = Control::start();
    reach_world(&c);
    for (query, field, says) in [
        ("kind=nope", "kind", "no kind 'nope'"),
        ("kind=containers&verb=destroy", "verb", "not 'destroy'"),
        ("verb=read", "kind", "is required"),
        ("kind=containers&after_project=web", "after_project", "goes with `after`"),
        ("kind=containers&project=web", "project", "unknown query parameter"),
    ] {
        let (status, body) = c.call("gina", "GET", &format!("/v1/orgs/globex/access/principals/erin?{query}"), None);
        assert_eq!(status, 400, "{query}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(&format!("`{field}`")) && error.contains(says), "{query}: {error}");
    }
    let (status, body) = c.call("gina", "GET", "/v1/orgs/globex/access/principals/sa:?kind=containers", None);
    assert_eq!(status, 400, "{body}");
}

#[test]
fn access_reach_prints_what_a_principal_reaches() {
    let c = Control::start();
    reach_world(&c);
    let (code, out, err) =
        c.cli("gina", &["access", "reach", "--org", "globex", "--principal", "erin", "--kind", "containers"]);
    assert_eq!(code, 0, "{err}");
    let reach: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(ids(&reach).iter().map(|x| x.0).collect::<Vec<_>>(), ["c-1", "c-2"], "{out}");
    let args = ["access", "reach", "--org", "globex", "--principal", "sa:globex/ci-bot", "--kind", "containers"];
    let (code, out, err) = c.cli("gina", &args);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("c-4"), "{out}");
    let args = ["access", "reach", "--org", "globex", "--principal", "sa:initech/ci-bot", "--kind", "containers"];
    let (code, _, err) = c.cli("gina", &args);
    assert_ne!(code, 0);
    assert!(err.contains("nobody in org 'globex'"), "{err}");
    let (code, _, err) =
        c.cli("erin", &["access", "reach", "--org", "globex", "--principal", "dave", "--kind", "containers"]);
    assert_eq!(code, 2, "a refusal exits 2: {err}");
}
