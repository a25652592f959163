//! Resources owned by their creator, end to end: a create the gateway forwards and the
//! upstream answers with a `Location` records its creator in the store (audited); a role's
//! `owned` entry then covers it for that member only; a delete through the gateway drops
//! the record; removing the member drops its records. Two orgs with the same names never
//! see each other's records.

use std::time::{Duration, Instant};

use super::{Control, revision};

const WEB: &str = "/v1/orgs/globex/projects/web/containers";

/// globex (gina) and initech (ivan), each with bob and dave bound to `maker`, which creates
/// containers and manages the ones its holder created.
fn two_orgs(c: &Control) {
    for (org, owner) in super::two_orgs(c, &["bob", "dave"]) {
        let role = r#"{"name":"maker","permissions":["project:containers:create","project:containers:owned:write"]}"#;
        c.expect(owner, "POST", &format!("/v1/orgs/{org}/roles"), Some(role), 201);
        for m in ["bob", "dave"] {
            let bind = format!(r#"{{"subject":"{m}","role":"maker"}}"#);
            c.expect(owner, "POST", &format!("/v1/orgs/{org}/bindings"), Some(&bind), 201);
        }
    }
}

fn policy(c: &Control, org: &str, owner: &str) -> String {
    c.expect(owner, "GET", &format!("/v1/orgs/{org}"), None, 200)["policy"].as_str().unwrap().to_string()
}

fn eventually(what: &str, mut probe: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !probe() {
        assert!(Instant::now() < deadline, "{what} within 15 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_forwarded_create_records_its_creator_whose_owned_entry_then_covers_it_until_deleted() {
    let c = Control::start();
    two_orgs(&c);
    let c9 = format!("{WEB}/c-9");
    assert_eq!(c.gateway_status("bob", "DELETE", &c9, None), 403, "nobody created c-9 yet");
    assert_eq!(c.gateway_status_with("bob", "POST", WEB, None, &["x-create-id: c-9"]), 201);
    eventually("the creator record", || policy(&c, "globex", "gina").contains("[[org.created]]"));
    let text = policy(&c, "globex", "gina");
    assert!(text.contains("subject = \"bob\"") && text.contains("id = \"c-9\""), "{text}");
    let audit = c.expect("gina", "GET", "/v1/orgs/globex/audit?limit=100", None, 200);
    let last = audit["entries"].as_array().unwrap().last().cloned().unwrap();
    assert_eq!(last["action"], "created.update", "{last}");
    assert!(last["detail"].as_str().unwrap().contains("\"creator\":\"bob\""), "{last}");
    // The share list names the creator; bob's access list shows what he created.
    let list = c.expect("gina", "GET", "/v1/orgs/globex/shares?kind=containers&project=web&id=c-9", None, 200);
    assert_eq!(list["creator"]["subject"], "bob", "{list}");
    let acl = c.expect("bob", "GET", "/v1/orgs/globex/acl?kind=containers", None, 200);
    let created = acl["access"].as_array().unwrap().iter().find(|a| a["source"] == "created it").cloned().unwrap();
    assert_eq!(created["id"], "c-9");
    // Everything bob holds on it: his kind-wide create and the owned entry's write.
    assert_eq!(created["verbs"], serde_json::json!(["list", "read", "create", "update", "delete"]), "{created}");
    let rev = revision(&c.expect("gina", "GET", "/v1/orgs/globex", None, 200));
    // bob manages what he created; dave, with the same role, does not; initech's bob is
    // another principal in another org.
    assert_eq!(c.gateway_status("bob", "PUT", &c9, Some(rev)), 200);
    assert_eq!(c.gateway_status("dave", "PUT", &c9, Some(rev)), 403);
    assert_eq!(c.gateway_status("bob", "PUT", "/v1/orgs/initech/projects/web/containers/c-9", None), 403);
    assert!(!policy(&c, "initech", "ivan").contains("[[org.created]]"));
    // A delete through the gateway drops the record.
    assert_eq!(c.gateway_status("bob", "DELETE", &c9, Some(rev)), 200);
    eventually("the record dropped", || !policy(&c, "globex", "gina").contains("[[org.created]]"));
    assert_eq!(c.gateway_status("bob", "DELETE", &c9, None), 403);
}

#[test]
fn removing_a_member_drops_its_creator_records_and_a_reinvite_does_not_bring_them_back() {
    let c = Control::start();
    two_orgs(&c);
    assert_eq!(c.gateway_status_with("dave", "POST", WEB, None, &["x-create-id: c-7"]), 201);
    eventually("the creator record", || policy(&c, "globex", "gina").contains("[[org.created]]"));
    c.expect("gina", "DELETE", "/v1/orgs/globex/members/dave", None, 200);
    assert!(!policy(&c, "globex", "gina").contains("[[org.created]]"));
    c.expect("gina", "POST", "/v1/orgs/globex/members", Some(r#"{"id":"dave"}"#), 201);
    let bind = r#"{"subject":"dave","role":"maker"}"#;
    let rev = revision(&c.expect("gina", "POST", "/v1/orgs/globex/bindings", Some(bind), 201));
    assert_eq!(c.gateway_status("dave", "DELETE", &format!("{WEB}/c-7"), Some(rev)), 403);
}

#[test]
fn a_create_refused_or_answered_without_a_location_records_nothing() {
    let c = Control::start();
    two_orgs(&c);
    // ivan is not a member of globex: refused before any upstream.
    assert_eq!(c.gateway_status_with("ivan", "POST", WEB, None, &["x-create-id: c-1"]), 403);
    // Answered 200 without a Location (no x-create-id): nothing to record.
    assert_eq!(c.gateway_status("bob", "POST", WEB, None), 200);
    // A later recorded create proves the recorder ran after the two above.
    assert_eq!(c.gateway_status_with("bob", "POST", WEB, None, &["x-create-id: c-2"]), 201);
    eventually("the creator record", || policy(&c, "globex", "gina").contains("[[org.created]]"));
    let text = policy(&c, "globex", "gina");
    assert_eq!(text.matches("[[org.created]]").count(), 1, "{text}");
    assert!(text.contains("id = \"c-2\""), "{text}");
}

/// The shipped cronjobs collection, its create answered with the new id in the body.
const CRON: &str = "/v1/orgs/globex/projects/web/cronjobs";
const CRON_ROUTE: &str = "path = \"/v1/orgs/{org}/projects/{project}/cronjobs\"\n";

/// globex and initech as in [`two_orgs`], `maker` for cronjobs too.
fn two_orgs_cron(c: &Control) {
    for (org, owner) in super::two_orgs(c, &["bob", "dave"]) {
        let role = r#"{"name":"maker","permissions":["project:cronjobs:create","project:cronjobs:owned:write"]}"#;
        c.expect(owner, "POST", &format!("/v1/orgs/{org}/roles"), Some(role), 201);
        let bind = r#"{"subject":"bob","role":"maker"}"#;
        c.expect(owner, "POST", &format!("/v1/orgs/{org}/bindings"), Some(bind), 201);
    }
}

#[test]
fn a_route_with_created_id_records_the_id_the_answer_body_names() {
    let with_pointer = format!("{CRON_ROUTE}created_id = \"/data/id\"\n");
    let c = Control::start_replacing(&[(CRON_ROUTE, &with_pointer)]);
    two_orgs_cron(&c);
    let create = |body: &str, pad: usize| {
        let auth = format!("Authorization: Bearer {}", crate::gateway::token("bob"));
        let body = format!("x-create-body: {body}");
        let pad = format!("x-create-pad: {pad}");
        c.gateway.request("POST", CRON, &[&auth, &body, &pad])
    };
    // None of these names a resource the gateway would record: each still reaches bob whole.
    let refused = [
        (r#"{"data":{"id":"j-big"}}"#, 300 * 1024),
        ("not json", 0),
        (r#"{"data":{"name":"j-x"}}"#, 0),
        (r#"{"data":{"id":"a/b"}}"#, 0),
        (r#"{"data":{"id":"j%2D2"}}"#, 0),
        (r#"{"data":{"id":true}}"#, 0),
    ];
    for (body, pad) in refused {
        let (status, _, text) = create(body, pad);
        assert_eq!(status, 201, "{body}");
        assert!(
            text.len() >= pad + body.len().min(8),
            "{body}: the answer reached the client whole ({} bytes)",
            text.len()
        );
    }
    let (status, _, text) = create(r#"{"data":{"id":"j-1"}}"#, 1000);
    assert_eq!(status, 201);
    assert!(text.ends_with(r#""data":{"id":"j-1"}}"#), "{text}");
    eventually("the creator record", || policy(&c, "globex", "gina").contains("[[org.created]]"));
    let text = policy(&c, "globex", "gina");
    assert_eq!(text.matches("[[org.created]]").count(), 1, "only j-1 is recorded:\n{text}");
    assert!(text.contains("id = \"j-1\"") && text.contains("subject = \"bob\""), "{text}");
    assert!(!policy(&c, "initech", "ivan").contains("[[org.created]]"));
    let rev = revision(&c.expect("gina", "GET", "/v1/orgs/globex", None, 200));
    assert_eq!(c.gateway_status("bob", "PUT", &format!("{CRON}/j-1"), Some(rev)), 200);
    assert_eq!(c.gateway_status("bob", "PUT", &format!("{CRON}/j-big"), Some(rev)), 403);
    assert_eq!(c.gateway_status("bob", "PUT", "/v1/orgs/initech/projects/web/cronjobs/j-1", None), 403);
    // An integer id counts as its decimal text.
    assert_eq!(create(r#"{"data":{"id":42}}"#, 0).0, 201);
    eventually("the integer id's record", || policy(&c, "globex", "gina").contains("id = \"42\""));
    // The unrecorded creates were said in the log, at most once a minute.
    let log = c.gateway.log();
    assert_eq!(log.matches("no creator is recorded").count(), 1, "{log}");
}
