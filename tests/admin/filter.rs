//! Collection answers filtered at the gateway, end to end: a member who may read some
//! containers but not list them gets the collection with only those items; the owner, who
//! may list, gets the upstream's answer untouched; a member who may read none, or the same
//! name in another org, is refused before anything is forwarded; an answer the gateway
//! cannot filter is a 502, never passed through.

use serde_json::Value;

use super::{Control, revision, two_orgs};
use crate::gateway::token;

const WEB: &str = "/v1/orgs/globex/projects/web/containers";

/// A request through the gateway as `sub`: (status, head, body).
fn get(c: &Control, sub: &str, target: &str, more: &[&str]) -> (u16, String, String) {
    let auth = format!("Authorization: Bearer {}", token(sub));
    let mut headers = vec![auth.as_str()];
    headers.extend_from_slice(more);
    c.gateway.request("GET", target, &headers)
}

fn ids(body: &str) -> Vec<String> {
    let json: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    json["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()).collect()
}

fn header<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.lines().find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
}

/// globex and initech with dave and carol; in globex, dave may read c-1 and c-3 of project
/// web (and nothing of project api). Returns globex's revision after the shares.
fn world(c: &Control) -> u64 {
    two_orgs(c, &["dave", "carol"]);
    c.expect("gina", "POST", "/v1/orgs/globex/projects", Some(r#"{"id":"api"}"#), 201);
    let mut rev = 0;
    for id in ["c-1", "c-3"] {
        let share = format!(r#"{{"subject":"dave","kind":"containers","project":"web","id":"{id}","verbs":["read"]}}"#);
        rev = revision(&c.expect("gina", "POST", "/v1/orgs/globex/shares", Some(&share), 201));
    }
    rev
}

fn control() -> Control {
    Control::start_replacing(&[("max_filtered_bytes = 8388608", "max_filtered_bytes = 65536")])
}

#[test]
fn a_member_who_may_read_some_items_gets_only_those_and_the_rest_of_the_answer_as_written() {
    let c = control();
    let rev = world(&c);
    let rev = format!("Portcullis-Revision: {rev}");
    let (status, head, body) = get(&c, "dave", WEB, &["x-list: 5", &rev, "Accept-Encoding: gzip", "Range: bytes=0-10"]);
    assert_eq!(status, 200, "{head}\n{body}");
    assert_eq!(ids(&body), ["c-1", "c-3"]);
    assert_eq!(
        body,
        r#"{"items": [{"id": "c-1", "name": "container 1"},{"id": "c-3", "name": "container 3"}], "next": "page-2"}"#
    );
    assert_eq!(header(&head, "portcullis-filtered"), Some("true"), "{head}");
    assert_eq!(header(&head, "cache-control"), Some("private, no-store"), "{head}");
    assert_eq!(header(&head, "etag"), None, "the upstream's validator was for the whole collection: {head}");
    assert_eq!(header(&head, "content-length"), Some(body.len().to_string().as_str()));
    // The upstream was asked for a whole, readable answer.
    let asked = c.gateway.last().to_ascii_lowercase();
    assert!(asked.starts_with("get /v1/orgs/globex/projects/web/containers "), "{asked}");
    assert!(!asked.contains("accept-encoding") && !asked.contains("range:"), "{asked}");

    // The owner lists the kind: the answer streams through as the upstream wrote it.
    let (status, head, body) = get(&c, "gina", WEB, &["x-list: 5"]);
    assert_eq!(status, 200);
    assert_eq!(ids(&body), ["c-0", "c-1", "c-2", "c-3", "c-4"]);
    assert_eq!(header(&head, "etag"), Some("\"whole\""), "{head}");
    assert_eq!(header(&head, "portcullis-filtered"), None, "{head}");

    // Filtering is counted as its own decision.
    let metrics = crate::gateway::request_on(c.admin, "GET", "/metrics", &[]).2;
    assert!(metrics.lines().any(|l| l.contains("decision=\"filter\"") && l.contains("status=\"200\"")), "{metrics}");
}

#[test]
fn who_may_read_nothing_there_is_refused_before_anything_is_forwarded() {
    let c = control();
    let rev = world(&c);
    let rev = format!("Portcullis-Revision: {rev}");
    let before = c.gateway.forwarded();
    for (sub, target) in [
        ("carol", WEB),
        // The same name in another org holds nothing there.
        ("dave", "/v1/orgs/initech/projects/web/containers"),
        // dave's shares are in web, not api.
        ("dave", "/v1/orgs/globex/projects/api/containers"),
    ] {
        // (A revision is an org's own: only globex's is named.)
        let more: &[&str] = if target.contains("globex") { &["x-list: 5", &rev] } else { &["x-list: 5"] };
        let (status, _, body) = get(&c, sub, target, more);
        assert_eq!(status, 403, "{sub} {target}: {body}");
    }
    assert_eq!(c.gateway.forwarded(), before, "a refused collection reached the upstream: {}", c.gateway.last());
    // Only GET is filtered: dave still may not create.
    assert_eq!(c.gateway_status("dave", "POST", WEB, None), 403);
    // Once his shares are gone, dave is refused too.
    for id in ["c-1", "c-3"] {
        let path = format!("/v1/orgs/globex/shares?subject=dave&kind=containers&project=web&id={id}");
        c.expect("gina", "DELETE", &path, None, 200);
    }
    let rev = revision(&c.expect("gina", "GET", "/v1/orgs/globex", None, 200));
    assert_eq!(c.gateway_status_with("dave", "GET", WEB, Some(rev), &["x-list: 5"]), 403);
}

#[test]
fn an_answer_that_cannot_be_filtered_is_a_502_never_passed_through() {
    let c = control();
    let rev = world(&c);
    let rev = format!("Portcullis-Revision: {rev}");
    let whole = r#"x-list-raw: {"items": [{"id": "c-1"}, {"id": "c-2"}]}"#;
    let cases: [(&[&str], &str); 5] = [
        (&["x-list-raw: <html>c-2</html>"], "not JSON"),
        (&[r#"x-list-raw: {"data": [{"id": "c-2"}]}"#], "no array at the route's filter.items '/items'"),
        (&[whole, "x-list-encoding: gzip"], "content-encoded (gzip)"),
        (&[r#"x-list-raw: {"items": [], "items": [{"id": "c-2"}]}"#], "twice"),
        // About 80 KB, over this gateway's max_filtered_bytes of 64 KiB.
        (&["x-list: 2000"], "larger than max_filtered_bytes (65536 bytes)"),
    ];
    for (more, why) in cases {
        let mut headers = more.to_vec();
        headers.push(&rev);
        let (status, _, body) = get(&c, "dave", WEB, &headers);
        assert_eq!(status, 502, "{more:?}: {body}");
        assert!(body.contains(why) && !body.contains("c-2"), "{more:?}: {body}");
    }
    // The same answers reach a caller who may list, untouched.
    let (status, _, body) = get(&c, "gina", WEB, &["x-list-raw: <html>c-2</html>"]);
    assert_eq!((status, body.as_str()), (200, "<html>c-2</html>"));
    // Items without an id a request could name are removed, not guessed at.
    let odd =
        r#"x-list-raw: {"items": [{"id": "c-1"}, {"name": "c-3"}, {"id": ["c-3"]}, {"id": "c-3/x"}, {"id": "c-3"}]}"#;
    let (status, _, body) = get(&c, "dave", WEB, &[odd, &rev]);
    assert_eq!((status, body.as_str()), (200, r#"{"items": [{"id": "c-1"},{"id": "c-3"}]}"#));
}
