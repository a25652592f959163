//! The admin API against SQLite: the brief's workflows, enforced by the gateway right after
//! the write; MODEL.md's managing and sharing rules; bad input on every endpoint.

use serde_json::Value;

use super::{Control, call, raw, revision};

const CONTAINER: &str = "/v1/orgs/globex/projects/web/containers/c-1";

/// `globex`, owned by gina, with members bob and dave and project web.
fn globex(c: &Control) -> u64 {
    c.expect("root", "POST", "/v1/orgs", Some(r#"{"id":"globex","owner":"gina"}"#), 201);
    c.expect("gina", "POST", "/v1/orgs/globex/members", Some(r#"{"id":"bob"}"#), 201);
    c.expect("gina", "POST", "/v1/orgs/globex/members", Some(r#"{"id":"dave"}"#), 201);
    revision(&c.expect("gina", "POST", "/v1/orgs/globex/projects", Some(r#"{"id":"web"}"#), 201))
}

fn audit_len(c: &Control) -> usize {
    c.expect("gina", "GET", "/v1/orgs/globex/audit?limit=1000", None, 200)["entries"].as_array().unwrap().len()
}

#[test]
fn a_role_created_and_assigned_is_enforced_by_the_gateway_from_the_revision_it_returned() {
    let c = Control::start();
    globex(&c);
    assert_eq!(c.gateway_status("bob", "POST", "/v1/orgs/globex/projects/web/containers", None), 403);
    let role =
        r#"{"name":"shipper","permissions":["project:containers:create,update,delete","project:containers:read"]}"#;
    c.expect("gina", "POST", "/v1/orgs/globex/roles", Some(role), 201);
    let bind = r#"{"subject":"bob","role":"shipper","project":"web"}"#;
    let rev = revision(&c.expect("gina", "POST", "/v1/orgs/globex/bindings", Some(bind), 201));
    assert_eq!(c.gateway_status("bob", "POST", "/v1/orgs/globex/projects/web/containers", Some(rev)), 200);
    assert_eq!(c.gateway_status("bob", "DELETE", CONTAINER, Some(rev)), 200);
    // Only in the project it was bound in.
    c.expect("gina", "POST", "/v1/orgs/globex/projects", Some(r#"{"id":"api"}"#), 201);
    assert_eq!(c.gateway_status("bob", "DELETE", "/v1/orgs/globex/projects/api/containers/c-1", None), 403);
    // An edit of the role changes its holders' access with the next decision.
    let rev = revision(&c.expect(
        "gina",
        "PUT",
        "/v1/orgs/globex/roles/shipper",
        Some(r#"{"permissions":["project:containers:read"]}"#),
        200,
    ));
    assert_eq!(c.gateway_status("bob", "DELETE", CONTAINER, Some(rev)), 403);
    assert_eq!(c.gateway_status("bob", "GET", CONTAINER, Some(rev)), 200);
    // A bound role is not deleted; unbound, it is.
    let (status, body) = c.call("gina", "DELETE", "/v1/orgs/globex/roles/shipper", None);
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("bob"), "{body}");
    c.expect("gina", "DELETE", "/v1/orgs/globex/bindings?subject=bob&role=shipper&project=web", None, 200);
    c.expect("gina", "DELETE", "/v1/orgs/globex/roles/shipper", None, 200);
}

#[test]
fn a_share_is_listed_with_its_giver_and_revoking_it_removes_exactly_that_access() {
    let c = Control::start();
    globex(&c);
    let share = r#"{"subject":"dave","kind":"containers","project":"web","id":"c-1","verbs":["read"]}"#;
    let rev = revision(&c.expect("gina", "POST", "/v1/orgs/globex/shares", Some(share), 201));
    assert_eq!(c.gateway_status("dave", "GET", CONTAINER, Some(rev)), 200);
    assert_eq!(c.gateway_status("dave", "DELETE", CONTAINER, Some(rev)), 403);
    assert_eq!(c.gateway_status("dave", "GET", "/v1/orgs/globex/projects/web/containers/c-2", Some(rev)), 403);
    let list = c.expect("gina", "GET", "/v1/orgs/globex/shares?kind=containers&project=web&id=c-1", None, 200);
    let shares = list["shares"].as_array().unwrap();
    assert_eq!(shares.len(), 1, "{list}");
    assert_eq!(shares[0]["subject"], "dave");
    assert_eq!(shares[0]["granted_by"], "gina");
    assert_eq!(shares[0]["verbs"], serde_json::json!(["list", "read"]), "read implies list");
    let granted_at = portcullis::instant::parse(shares[0]["granted_at"].as_str().unwrap()).unwrap();
    assert!(granted_at > 1_700_000_000, "{list}");
    // What dave can access, and what gina shared.
    let acl = c.expect("dave", "GET", "/v1/orgs/globex/acl?kind=containers", None, 200);
    assert!(
        acl["access"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == "c-1" && a["source"].as_str().unwrap().contains("gina")),
        "{acl}"
    );
    let shared = c.expect("gina", "GET", "/v1/orgs/globex/acl?shared=true", None, 200);
    assert_eq!(shared["access"].as_array().unwrap().len(), 1, "{shared}");
    // dave may not see another member's access.
    assert_eq!(c.call("dave", "GET", "/v1/orgs/globex/acl?principal=bob", None).0, 403);
    let rev = revision(&c.expect(
        "gina",
        "DELETE",
        "/v1/orgs/globex/shares?subject=dave&kind=containers&project=web&id=c-1",
        None,
        200,
    ));
    assert_eq!(c.gateway_status("dave", "GET", CONTAINER, Some(rev)), 403);
}

#[test]
fn no_escalation_through_roles_bindings_or_shares() {
    let c = Control::start();
    globex(&c);
    // bob manages roles and members, and may touch containers in web only.
    let role = r#"{"name":"helper","permissions":["organisation:roles:create,update","organisation:members:update","project:containers:read,update"]}"#;
    c.expect("gina", "POST", "/v1/orgs/globex/roles", Some(role), 201);
    c.expect("gina", "POST", "/v1/orgs/globex/bindings", Some(r#"{"subject":"bob","role":"helper"}"#), 201);
    let before = audit_len(&c);
    let attempts: [(&str, &str, &str, &str); 4] = [
        (
            "POST",
            "/v1/orgs/globex/roles",
            r#"{"name":"big","permissions":["project:containers:delete"]}"#,
            "delete on containers",
        ),
        ("POST", "/v1/orgs/globex/bindings", r#"{"subject":"dave","role":"admin"}"#, "needs"),
        ("POST", "/v1/orgs/globex/bindings", r#"{"subject":"bob","role":"admin"}"#, "needs"),
        (
            "POST",
            "/v1/orgs/globex/shares",
            r#"{"subject":"dave","kind":"containers","project":"web","id":"c-1","verbs":["delete"]}"#,
            "delete on containers",
        ),
    ];
    for (method, path, body, needle) in attempts {
        let (status, answer) = c.call("bob", method, path, Some(body));
        assert_eq!(status, 403, "{path} {body}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains(needle), "{path} {body}: {answer}");
    }
    // Within what bob holds, it works.
    c.expect(
        "bob",
        "POST",
        "/v1/orgs/globex/shares",
        Some(r#"{"subject":"dave","kind":"containers","project":"web","id":"c-1","verbs":["read"]}"#),
        201,
    );
    assert_eq!(audit_len(&c), before + 1);
    // No one binds the owner or removes them.
    let (status, answer) = c.call("gina", "DELETE", "/v1/orgs/globex/members/gina", None);
    assert_eq!(status, 403, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("transfer"), "{answer}");
    assert_eq!(
        c.call("gina", "POST", "/v1/orgs/globex/bindings", Some(r#"{"subject":"gina","role":"viewer"}"#)).0,
        403
    );
}

#[test]
fn removing_a_member_drops_its_shares_and_a_reinvite_does_not_bring_them_back() {
    let c = Control::start();
    globex(&c);
    let share = r#"{"subject":"dave","kind":"containers","project":"web","id":"c-1","verbs":["read"]}"#;
    c.expect("gina", "POST", "/v1/orgs/globex/shares", Some(share), 201);
    c.expect("gina", "DELETE", "/v1/orgs/globex/members/dave", None, 200);
    let rev = revision(&c.expect("gina", "POST", "/v1/orgs/globex/members", Some(r#"{"id":"dave"}"#), 201));
    assert_eq!(c.gateway_status("dave", "GET", CONTAINER, Some(rev)), 403);
    let list = c.expect("gina", "GET", "/v1/orgs/globex/shares?kind=containers&project=web&id=c-1", None, 200);
    assert_eq!(list["shares"], serde_json::json!([]));
}

#[test]
fn deny_is_refused_with_a_hint_to_revoke_and_sharing_needs_a_member() {
    let c = Control::start();
    globex(&c);
    let deny = r#"{"subject":"dave","kind":"containers","project":"web","id":"c-1","verbs":["deny"]}"#;
    let (status, answer) = c.call("gina", "POST", "/v1/orgs/globex/shares", Some(deny));
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("revoke"), "{answer}");
    let stranger = r#"{"subject":"eve","kind":"containers","project":"web","id":"c-1","verbs":["read"]}"#;
    let (status, answer) = c.call("gina", "POST", "/v1/orgs/globex/shares", Some(stranger));
    assert_eq!(status, 422, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("eve"), "{answer}");
}

#[test]
fn orgs_from_policy_files_are_read_only_and_only_operators_create_orgs() {
    let c = Control::start();
    let (status, answer) = c.call("alice", "POST", "/v1/orgs/acme/members", Some(r#"{"id":"zed"}"#));
    assert_eq!(status, 409, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("20-acme.toml"), "{answer}");
    let (status, answer) = c.call("root", "POST", "/v1/orgs", Some(r#"{"id":"acme","owner":"zed"}"#));
    assert_eq!(status, 409, "{answer}");
    let (status, answer) = c.call("gina", "POST", "/v1/orgs", Some(r#"{"id":"mine","owner":"gina"}"#));
    assert_eq!(status, 403, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("operator"), "{answer}");
    // Without a token: 401, and a revision the replica has not reached: 503.
    assert_eq!(call(c.admin, None, "GET", "/v1/orgs/acme", None).0, 401);
    globex(&c);
    assert_eq!(c.gateway_status("gina", "GET", CONTAINER, Some(1_000)), 503);
    assert_eq!(c.gateway_status("gina", "GET", CONTAINER, Some(1)), 200);
    let auth = format!("Authorization: Bearer {}", crate::gateway::token("gina"));
    assert_eq!(c.gateway.status("GET", CONTAINER, &[&auth, "Portcullis-Revision: soon"]), 400);
}

/// `Portcullis-Revision` makes a request wait only once its caller is authenticated and a
/// member of the org: a stranger cannot hold a connection with it.
#[test]
fn a_revision_is_waited_for_only_by_an_authenticated_member_of_the_org() {
    let c = Control::start();
    let reached = globex(&c);
    let far = "Portcullis-Revision: 999999";
    let quick = |headers: &[&str]| {
        let started = std::time::Instant::now();
        let status = c.gateway.status("GET", CONTAINER, headers);
        (status, started.elapsed())
    };
    // The wait is 2 s by default: each of these answers without it.
    let (status, took) = quick(&[far]);
    assert_eq!(status, 401, "no token");
    assert!(took < std::time::Duration::from_secs(1), "a request without a token waited {took:?}");
    let (status, took) = quick(&[far, "Authorization: Bearer not-a-token"]);
    assert_eq!(status, 401, "a bad token");
    assert!(took < std::time::Duration::from_secs(1), "a request with a bad token waited {took:?}");
    assert_eq!(quick(&["Portcullis-Revision: soon"]).0, 401, "a bad header is looked at only once authenticated");
    let stranger = format!("Authorization: Bearer {}", crate::gateway::token("mallory"));
    let (status, took) = quick(&[far, &stranger]);
    assert_eq!(status, 403, "a user who is not a member");
    assert!(took < std::time::Duration::from_secs(1), "a stranger waited {took:?}");
    // acme's service account (its token is in the config) is nobody in globex.
    let (status, took) = quick(&[far, &crate::gateway::sa_bearer("acme", "ci-bot")]);
    assert_eq!(status, 403, "another org's service account");
    assert!(took < std::time::Duration::from_secs(1), "another org's service account waited {took:?}");
    // A member waits, and is woken by the write that brings the revision.
    let next = format!("Portcullis-Revision: {}", reached + 1);
    let auth = format!("Authorization: Bearer {}", crate::gateway::token("dave"));
    assert_eq!(c.gateway.status("GET", CONTAINER, &[&auth]), 403, "dave reads c-1 only once it is shared");
    let waiting = {
        let (port, next, auth) = (c.gateway.port, next.clone(), auth.clone());
        std::thread::spawn(move || crate::gateway::request_on(port, "GET", CONTAINER, &[&auth, &next]).0)
    };
    let share = r#"{"subject":"dave","kind":"containers","project":"web","id":"c-1","verbs":["read"]}"#;
    assert_eq!(revision(&c.expect("gina", "POST", "/v1/orgs/globex/shares", Some(share), 201)), reached + 1);
    assert_eq!(waiting.join().unwrap(), 200, "the member did not read the write it waited for");
}

#[test]
fn ownership_moves_only_when_both_parties_confirmed() {
    let c = Control::start();
    globex(&c);
    let start = r#"{"to":"bob","step_down_to":"admin"}"#;
    assert_eq!(c.call("bob", "POST", "/v1/orgs/globex/transfer", Some(start)).0, 403);
    c.expect("gina", "POST", "/v1/orgs/globex/transfer", Some(start), 201);
    assert_eq!(c.call("gina", "POST", "/v1/orgs/globex/transfer", Some(start)).0, 409);
    assert_eq!(c.call("dave", "POST", "/v1/orgs/globex/transfer/confirm", None).0, 403);
    c.expect("bob", "POST", "/v1/orgs/globex/transfer/confirm", None, 200);
    // Not yet: gina still owns it.
    let org = c.expect("gina", "GET", "/v1/orgs/globex", None, 200);
    assert!(org["policy"].as_str().unwrap().contains("owner = \"gina\""), "{org}");
    let rev = revision(&c.expect("gina", "POST", "/v1/orgs/globex/transfer/confirm", None, 200));
    let org = c.expect("bob", "GET", "/v1/orgs/globex", None, 200);
    let policy = org["policy"].as_str().unwrap();
    assert!(policy.contains("owner = \"bob\""), "{policy}");
    assert!(policy.contains("subject = \"gina\"\nrole = \"admin\""), "{policy}");
    assert_eq!(org["transfer"], Value::Null);
    // bob, as owner, may transfer-start; gina, now an admin, may not.
    assert_eq!(c.gateway_status("gina", "DELETE", CONTAINER, Some(rev)), 200);
    assert_eq!(
        c.call("gina", "POST", "/v1/orgs/globex/transfer", Some(r#"{"to":"dave","step_down_to":"viewer"}"#)).0,
        403
    );
    // Cancel by either party.
    c.expect("bob", "POST", "/v1/orgs/globex/transfer", Some(r#"{"to":"gina","step_down_to":"viewer"}"#), 201);
    c.expect("gina", "DELETE", "/v1/orgs/globex/transfer", None, 200);
    assert_eq!(c.expect("bob", "GET", "/v1/orgs/globex/transfer", None, 200)["transfer"], Value::Null);
}

#[test]
fn every_write_is_in_the_audit_log_with_who_what_before_and_after() {
    let c = Control::start();
    globex(&c);
    let entries = c.expect("gina", "GET", "/v1/orgs/globex/audit", None, 200);
    let entries = entries["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["org.create", "member.invite", "member.invite", "project.create"]);
    let last = entries.last().unwrap();
    assert_eq!(last["actor"], "gina");
    assert_eq!(last["revision"], 4);
    assert!(!last["before"].as_str().unwrap().contains("web") && last["after"].as_str().unwrap().contains("web"));
    // Reading the log is "View events": `read` on `events`, which neither member nor viewer
    // has, and which a custom role can give without any power over members.
    let (status, body) = c.call("dave", "GET", "/v1/orgs/globex/audit", None);
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("read on events"), "{body}");
    c.expect(
        "gina",
        "POST",
        "/v1/orgs/globex/roles",
        Some(r#"{"name":"auditor","permissions":["organisation:events:read"]}"#),
        201,
    );
    c.expect("gina", "POST", "/v1/orgs/globex/bindings", Some(r#"{"subject":"dave","role":"auditor"}"#), 201);
    c.expect("dave", "GET", "/v1/orgs/globex/audit", None, 200);
    assert_eq!(c.call("dave", "POST", "/v1/orgs/globex/members", Some(r#"{"id":"eve"}"#)).0, 403);
}

#[test]
fn bad_input_on_every_endpoint_is_a_4xx_naming_the_field_and_writes_nothing() {
    let c = Control::start();
    globex(&c);
    c.expect("gina", "POST", "/v1/orgs/globex/teams", Some(r#"{"name":"ops"}"#), 201);
    c.expect(
        "gina",
        "POST",
        "/v1/orgs/globex/roles",
        Some(r#"{"name":"r","permissions":["project:containers:read"]}"#),
        201,
    );
    let before = audit_len(&c);
    // (method, path, body, status, a word the message must contain)
    let cases: &[(&str, &str, &str, u16, &str)] = &[
        ("POST", "/v1/orgs", r#"{"id":"x","owner":"y","colour":"red"}"#, 400, "colour"),
        ("POST", "/v1/orgs", r#"{"id":7,"owner":"y"}"#, 400, "id"),
        ("POST", "/v1/orgs/globex/members", r#"{"id":"z","role":"admin"}"#, 400, "role"),
        ("POST", "/v1/orgs/globex/members", r#"{"id":["z"]}"#, 400, "id"),
        ("POST", "/v1/orgs/globex/members", r#"{}"#, 400, "id"),
        ("POST", "/v1/orgs/globex/members", r#"{"id":"bob"}"#, 409, "bob"),
        ("POST", "/v1/orgs/globex/service-accounts", r#"{"name":"ci"}"#, 400, "name"),
        ("DELETE", "/v1/orgs/globex/members/nobody", "", 404, "nobody"),
        ("POST", "/v1/orgs/globex/teams", r#"{"name":"t","members":"bob"}"#, 400, "members"),
        ("POST", "/v1/orgs/globex/teams", r#"{"name":"t","members":["ghost"]}"#, 422, "ghost"),
        ("PUT", "/v1/orgs/globex/teams/ops", r#"{"members":[1]}"#, 400, "members"),
        ("PUT", "/v1/orgs/globex/teams/nope", r#"{"members":[]}"#, 404, "nope"),
        ("DELETE", "/v1/orgs/globex/teams/nope", "", 404, "nope"),
        ("POST", "/v1/orgs/globex/projects", r#"{"id":"p","restricted":"yes"}"#, 400, "restricted"),
        ("PUT", "/v1/orgs/globex/projects/web", r#"{"restricted":true,"x":1}"#, 400, "x"),
        ("PUT", "/v1/orgs/globex/projects/nope", r#"{"restricted":true}"#, 404, "nope"),
        ("DELETE", "/v1/orgs/globex/projects/nope", "", 404, "nope"),
        (
            "POST",
            "/v1/orgs/globex/roles",
            r#"{"name":"q","permissions":["project:containers"]}"#,
            400,
            "permissions[0]",
        ),
        ("POST", "/v1/orgs/globex/roles", r#"{"name":"q","permissions":["project:nosuch:read"]}"#, 422, "nosuch"),
        ("POST", "/v1/orgs/globex/roles", r#"{"name":"q","permissions":["project:containers:deny"]}"#, 400, "deny"),
        ("PUT", "/v1/orgs/globex/roles/r", r#"{"permissions":"all"}"#, 400, "permissions"),
        ("PUT", "/v1/orgs/globex/roles/nope", r#"{"permissions":[]}"#, 404, "nope"),
        ("DELETE", "/v1/orgs/globex/roles/nope", "", 404, "nope"),
        ("POST", "/v1/orgs/globex/bindings", r#"{"subject":"bob","role":"nope"}"#, 422, "nope"),
        ("POST", "/v1/orgs/globex/bindings", r#"{"subject":"bob","role":"r","project":"nope"}"#, 422, "nope"),
        ("POST", "/v1/orgs/globex/bindings", r#"{"subject":"bob"}"#, 400, "role"),
        ("DELETE", "/v1/orgs/globex/bindings?subject=bob", "", 400, "role"),
        ("DELETE", "/v1/orgs/globex/bindings?subject=bob&role=r&colour=1", "", 400, "colour"),
        ("DELETE", "/v1/orgs/globex/bindings?subject=bob&role=r", "", 404, "bob"),
        (
            "POST",
            "/v1/orgs/globex/shares",
            r#"{"subject":"dave","kind":"containers","project":"web","id":"c","verbs":["fly"]}"#,
            400,
            "fly",
        ),
        (
            "POST",
            "/v1/orgs/globex/shares",
            r#"{"subject":"dave","kind":"containers","project":"web","id":"c","verbs":[]}"#,
            400,
            "verbs",
        ),
        (
            "POST",
            "/v1/orgs/globex/shares",
            r#"{"subject":"dave","kind":"nosuch","project":"web","id":"c","verbs":["read"]}"#,
            422,
            "nosuch",
        ),
        ("DELETE", "/v1/orgs/globex/shares?subject=dave&kind=containers&project=web&id=c", "", 404, "dave"),
        ("GET", "/v1/orgs/globex/shares?kind=containers", "", 400, "id"),
        ("GET", "/v1/orgs/globex/acl?shared=maybe", "", 400, "shared"),
        ("GET", "/v1/orgs/globex/audit?after=x", "", 400, "after"),
        ("POST", "/v1/orgs/globex/transfer", r#"{"to":"bob"}"#, 400, "step_down_to"),
        ("POST", "/v1/orgs/globex/transfer", r#"{"to":"ghost","step_down_to":"admin"}"#, 409, "ghost"),
        ("POST", "/v1/orgs/globex/transfer/confirm", "", 404, "transfer"),
        ("DELETE", "/v1/orgs/globex/transfer", "", 404, "transfer"),
        ("GET", "/v1/orgs/nope", "", 404, "nope"),
        ("POST", "/v1/orgs/nope/members", r#"{"id":"z"}"#, 404, "nope"),
        ("POST", "/v1/orgs/globex/widgets", r#"{}"#, 404, "widgets"),
        ("POST", "/v1/orgs/globex/members", "not json", 400, "expected"),
        ("POST", "/v1/orgs/globex/members", "", 400, "empty"),
        ("DELETE", "/v1/orgs/globex/members/..", "", 400, ".."),
    ];
    for (method, path, body, status, needle) in cases {
        let body = (!body.is_empty()).then_some(*body);
        let (got, answer) = c.call("gina", method, path, body);
        assert_eq!(got, *status, "{method} {path} {body:?}: {answer}");
        let message = answer["error"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{method} {path} {body:?}: '{message}' does not name '{needle}'");
    }
    // Oversize bodies: declared, and sent in chunks.
    let big = format!(r#"{{"id":"{}"}}"#, "x".repeat(70_000));
    let (status, answer) = c.call("gina", "POST", "/v1/orgs/globex/members", Some(&big));
    assert_eq!(status, 413, "{answer}");
    let chunk = "x".repeat(40_000);
    let auth = format!("Authorization: Bearer {}", crate::gateway::token("gina"));
    let chunked = format!(
        "POST /v1/orgs/globex/members HTTP/1.1\r\nHost: a\r\n{auth}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         {:x}\r\n{chunk}\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len(),
        chunk.len()
    );
    assert_eq!(raw(c.admin, chunked.as_bytes()).0, 413);
    assert_eq!(audit_len(&c), before, "a refused request wrote something");
}

#[test]
fn acknowledged_writes_survive_kill_9_in_the_middle_of_a_stream_of_writes() {
    let dir = crate::scratch("store-kill");
    kill_9_in_a_stream_of_writes(&format!("data_dir = \"{}\"", dir.display()));
    let _ = std::fs::remove_dir_all(dir);
}

/// Writes shares one after another, `kill -9`s the gateway among them, restarts it on the
/// same store: every acknowledged write is there and enforced, and the store holds at most
/// the one write in flight besides.
pub fn kill_9_in_a_stream_of_writes(store: &str) {
    let c = Control::start_on(store);
    globex(&c);
    let admin = c.admin;
    // A client writes shares one after another until the gateway dies under it.
    let writer = std::thread::spawn(move || {
        let mut acknowledged = Vec::new();
        for i in 0..100_000 {
            let body =
                format!(r#"{{"subject":"dave","kind":"containers","project":"web","id":"c-{i}","verbs":["read"]}}"#);
            match super::try_call(admin, Some("gina"), "POST", "/v1/orgs/globex/shares", Some(&body)) {
                Some((201, _, _)) => acknowledged.push(i),
                _ => break,
            }
        }
        acknowledged
    });
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let pid = c.gateway.pid();
    assert!(std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap().success());
    let acknowledged = writer.join().unwrap();
    drop(c);
    assert!(acknowledged.len() > 5, "too few writes before the kill to mean anything: {}", acknowledged.len());
    let c = Control::start_on(store);
    let shares = c.expect("gina", "GET", "/v1/orgs/globex", None, 200)["policy"]
        .as_str()
        .unwrap()
        .matches("[[org.share]]")
        .count();
    // Every acknowledged write is there; at most the one in flight at the kill is there too.
    assert!(
        shares == acknowledged.len() || shares == acknowledged.len() + 1,
        "{shares} shares, {} acknowledged",
        acknowledged.len()
    );
    for i in &acknowledged {
        let target = format!("/v1/orgs/globex/projects/web/containers/c-{i}");
        assert_eq!(
            c.gateway_status("dave", "GET", &target, None),
            200,
            "share c-{i} was acknowledged but is not enforced"
        );
    }
}

#[test]
fn the_openapi_document_is_served_as_checked_in_and_every_operation_in_it_exists() {
    let c = Control::start();
    globex(&c);
    let checked_in: Value =
        serde_json::from_str(&std::fs::read_to_string(crate::gateway::root().join("openapi.json")).unwrap()).unwrap();
    let (status, _, served) = call(c.admin, None, "GET", "/v1/openapi.json", None);
    assert_eq!(status, 200);
    assert_eq!(served, checked_in);
    let mut operations = 0;
    // Paths with a server of their own are the [pdp] listener's (tests/pdp.rs tries them).
    for (path, methods) in checked_in["paths"].as_object().unwrap().iter().filter(|(_, m)| m.get("servers").is_none()) {
        let concrete = path
            .replace("{org}", "globex")
            .replace("{id}", "x")
            .replace("{name}", "x")
            .replace("{account}", "x")
            .replace("{token}", "x")
            .replace("{principal}", "x");
        for method in methods.as_object().unwrap().keys().filter(|k| *k != "servers") {
            let method = method.to_uppercase();
            let body = matches!(method.as_str(), "POST" | "PUT").then_some("{}");
            let (status, answer) = c.call("gina", &method, &concrete, body);
            let message = answer["error"].as_str().unwrap_or_default();
            assert!(!message.contains("no admin endpoint"), "{method} {path} is documented but not served: {answer}");
            assert!(status != 0 && status != 500, "{method} {path}: {status} {answer}");
            operations += 1;
        }
    }
    assert_eq!(operations, 47);
}

#[test]
fn service_account_tokens_are_shown_once_enforced_and_revocable() {
    let c = Control::start();
    globex(&c);
    c.expect("gina", "POST", "/v1/orgs/globex/service-accounts", Some(r#"{"id":"ci-bot"}"#), 201);
    let share = r#"{"subject":"ci-bot","kind":"containers","project":"web","id":"c-1","verbs":["read"]}"#;
    c.expect("gina", "POST", "/v1/orgs/globex/shares", Some(share), 201);
    let issued = c.expect("gina", "POST", "/v1/orgs/globex/service-accounts/ci-bot/tokens", None, 201);
    let token = issued["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("pcat_") && token.len() == 69, "{issued}");
    let auth = format!("Authorization: Bearer {token}");
    let with_rev = |rev: u64| format!("Portcullis-Revision: {rev}");
    assert_eq!(c.gateway.status("GET", CONTAINER, &[&auth, &with_rev(revision(&issued))]), 200);
    assert_eq!(c.gateway.status("DELETE", CONTAINER, &[&auth]), 403);
    // Listed without the token; dave may not manage it.
    let list = c.expect("gina", "GET", "/v1/orgs/globex/service-accounts/ci-bot/tokens", None, 200);
    assert_eq!(list["tokens"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(&token[5..]), "{list}");
    assert_eq!(c.call("dave", "POST", "/v1/orgs/globex/service-accounts/ci-bot/tokens", None).0, 403);
    assert_eq!(c.call("gina", "POST", "/v1/orgs/globex/service-accounts/bob/tokens", None).0, 404);
    let id = issued["id"].as_str().unwrap();
    let revoked =
        c.expect("gina", "DELETE", &format!("/v1/orgs/globex/service-accounts/ci-bot/tokens/{id}"), None, 200);
    assert_eq!(c.gateway.status("GET", CONTAINER, &[&auth, &with_rev(revision(&revoked))]), 401);
    // Removing the account revokes its tokens: re-creating it does not bring them back.
    let second = c.expect("gina", "POST", "/v1/orgs/globex/service-accounts/ci-bot/tokens", None, 201);
    let auth = format!("Authorization: Bearer {}", second["token"].as_str().unwrap());
    c.expect("gina", "DELETE", "/v1/orgs/globex/members/ci-bot", None, 200);
    let rev = revision(&c.expect("gina", "POST", "/v1/orgs/globex/service-accounts", Some(r#"{"id":"ci-bot"}"#), 201));
    assert_eq!(c.gateway.status("GET", CONTAINER, &[&auth, &with_rev(rev)]), 401);
    assert!(!c.gateway.log().contains(&token[5..]), "a token reached the log");
    let actions = c.expect("gina", "GET", "/v1/orgs/globex/audit?limit=1000", None, 200).to_string();
    assert!(actions.contains("token.issue") && actions.contains("token.revoke") && !actions.contains(&token[5..]));
}

#[test]
fn stored_orgs_survive_policy_file_reloads_and_a_file_may_not_claim_one() {
    let policies = crate::scratch("policies");
    for f in std::fs::read_dir(crate::gateway::root().join("policies")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, policies.join(f.file_name().unwrap())).unwrap();
    }
    let store = crate::scratch("store");
    let c = Control::start_with(&format!("data_dir = \"{}\"", store.display()), Some(&policies));
    globex(&c);
    let share = r#"{"subject":"dave","kind":"containers","project":"web","id":"c-1","verbs":["read"]}"#;
    let rev = revision(&c.expect("gina", "POST", "/v1/orgs/globex/shares", Some(share), 201));
    assert_eq!(c.gateway_status("dave", "GET", CONTAINER, Some(rev)), 200);
    let wait_for_log = |needle: &str, count: usize| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while c.gateway.log().matches(needle).count() < count {
            assert!(std::time::Instant::now() < deadline, "no '{needle}' in the log: {}", c.gateway.log());
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    // A file change reloads the files; the stored org stays, at its revision.
    let kinds = policies.join("00-kinds.toml");
    let text = std::fs::read_to_string(&kinds).unwrap();
    std::fs::write(&kinds, format!("{text}\n# touched\n")).unwrap();
    wait_for_log("policies reloaded", 1);
    assert_eq!(c.gateway_status("dave", "GET", CONTAINER, Some(rev)), 200);
    // A file that declares the same org is rejected whole, naming both; the rest keeps serving.
    std::fs::write(policies.join("90-globex.toml"), "[[org]]\nid = \"globex\"\nowner = \"eve\"\nmembers = [\"eve\"]\n")
        .unwrap();
    wait_for_log("rejected", 1);
    let log = c.gateway.log();
    assert!(log.contains("90-globex.toml") && log.contains("store:globex"), "{log}");
    assert_eq!(c.gateway_status("dave", "GET", CONTAINER, None), 200);
    assert_eq!(c.gateway_status("eve", "GET", CONTAINER, None), 403);
    drop(c);
    let _ = std::fs::remove_dir_all(policies);
    let _ = std::fs::remove_dir_all(store);
}

#[test]
fn a_store_that_cannot_be_reached_at_start_stops_the_gateway_with_its_address_and_no_password() {
    let port = crate::gateway::free_port();
    let err = crate::gateway::refused_to_start("serve", |config| {
        format!(
            "{config}\n[admin]\nlisten = \"127.0.0.1:{}\"\npostgres = \"postgres://app:s3cret@127.0.0.1:{port}/p\"\n",
            crate::gateway::free_port()
        )
    });
    assert!(err.contains(&format!("postgres://app@127.0.0.1:{port}/p")), "{err}");
    assert!(!err.contains("s3cret"), "the password reached the output: {err}");
}

#[test]
fn metrics_count_requests_by_route_decision_and_status_and_health_says_ready() {
    let c = Control::start();
    globex(&c);
    assert_eq!(c.gateway_status("gina", "GET", CONTAINER, None), 200);
    assert_eq!(c.gateway_status("gina", "GET", CONTAINER, None), 200);
    assert_eq!(c.gateway_status("dave", "GET", CONTAINER, None), 403);
    assert_eq!(c.gateway_status("dave", "GET", "/nowhere", None), 404);
    let (status, head, _) = crate::gateway::request_on(c.admin, "GET", "/metrics", &[]);
    assert_eq!(status, 200, "{head}");
    let text = crate::gateway::request_on(c.admin, "GET", "/metrics", &[]).2;
    let route = "/v1/orgs/{org}/projects/{project}/containers/{id}";
    for line in [
        format!("portcullis_requests_total{{route=\"{route}\",decision=\"allow\",status=\"200\"}} 2"),
        format!("portcullis_requests_total{{route=\"{route}\",decision=\"deny\",status=\"403\"}} 1"),
        "portcullis_requests_total{route=\"-\",decision=\"none\",status=\"404\"} 1".to_string(),
        "portcullis_decision_seconds_count 3".to_string(),
        "portcullis_upstream_seconds_count 2".to_string(),
        "portcullis_ready 1".to_string(),
        "portcullis_reload_failures_total 0".to_string(),
    ] {
        assert!(text.contains(&line), "no '{line}' in:\n{text}");
    }
    assert!(text.contains("portcullis_backend_healthy{upstream=\"platform\",backend=\"127.0.0.1:"), "{text}");
    assert!(!text.contains("Bearer"), "a token reached the metrics");
    assert_eq!(call(c.admin, None, "GET", "/healthz", None).0, 200);
    let (status, _, body) = call(c.admin, None, "GET", "/readyz", None);
    assert_eq!(status, 200, "{body}");
}

#[test]
fn readyz_is_503_naming_an_upstream_without_a_healthy_backend() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let admin = crate::gateway::free_port();
    let store = crate::scratch("store");
    let extra = super::admin_section(admin, &format!("data_dir = \"{}\"", store.display()));
    let gateway = crate::gateway::Gateway::start_with(crate::gateway::Setup {
        extra_config: &extra,
        without_recorder: true,
        extra_backends: vec![dead],
        replace: &[("interval_secs = 5", "interval_secs = 1")],
        ..Default::default()
    });
    super::wait_listening(admin, &gateway);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (status, _, body) = call(admin, None, "GET", "/readyz", None);
        if status == 503 {
            assert!(body["why"].to_string().contains("upstream 'platform' has no healthy backend"), "{body}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still ready with a dead backend: {body}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let text = crate::gateway::request_on(admin, "GET", "/metrics", &[]).2;
    assert!(
        text.contains(&format!("portcullis_backend_healthy{{upstream=\"platform\",backend=\"{dead}\"}} 0")),
        "{text}"
    );
    drop(gateway);
    let _ = std::fs::remove_dir_all(store);
}

#[test]
fn the_explain_endpoint_agrees_with_the_gateway_and_is_for_operators() {
    let c = Control::start();
    globex(&c);
    let dave = crate::gateway::token("dave");
    let ask = |method: &str, path: &str| {
        let body = serde_json::json!({ "method": method, "path": path, "token": dave }).to_string();
        c.expect("root", "POST", "/v1/explain", Some(&body), 200)
    };
    let denied = ask("GET", "/v1/orgs/globex/projects/web/containers/./c-1");
    assert_eq!(denied["status"], 400, "{denied}");
    let denied = ask("GET", CONTAINER);
    assert_eq!((denied["status"].as_u64(), denied["decision"].as_str()), (Some(403), Some("deny")), "{denied}");
    assert_eq!(denied["route"], "/v1/orgs/{org}/projects/{project}/containers/{id}");
    assert_eq!(denied["resource"]["kind"], "containers");
    assert_eq!(c.gateway_status("dave", "GET", CONTAINER, None), 403);
    let share = r#"{"subject":"dave","kind":"containers","project":"web","id":"c-1","verbs":["read"]}"#;
    let rev = revision(&c.expect("gina", "POST", "/v1/orgs/globex/shares", Some(share), 201));
    assert_eq!(c.gateway_status("dave", "GET", CONTAINER, Some(rev)), 200);
    let allowed = ask("GET", CONTAINER);
    assert_eq!(allowed["decision"], "allow", "{allowed}");
    assert!(allowed["reason"].as_str().unwrap().contains("share"), "{allowed}");
    let auth = format!("Authorization: Bearer {dave}");
    for method in ["DELETE", "PATCH", "PUT", "TRACE", "OPTIONS"] {
        let gateway = c.gateway.status(method, CONTAINER, &[&auth, "Content-Length: 0"]);
        assert_eq!(ask(method, CONTAINER)["status"], gateway, "{method}");
    }
    assert_eq!(ask("TRACE", CONTAINER)["status"], 405);
    // Headers of the explained request count as the gateway's do: two credentials are 400.
    let twice = serde_json::json!({
        "method": "GET", "path": CONTAINER, "token": dave, "headers": [format!("Authorization: Bearer {dave}")]
    })
    .to_string();
    assert_eq!(c.expect("root", "POST", "/v1/explain", Some(&twice), 200)["status"], 400);
    let bad = r#"{"method":"GET","path":"/v1/orgs/globex/billing","headers":["no colon"]}"#;
    assert_eq!(c.call("root", "POST", "/v1/explain", Some(bad)).0, 400);
    let body = serde_json::json!({ "method": "GET", "path": CONTAINER }).to_string();
    assert_eq!(c.expect("root", "POST", "/v1/explain", Some(&body), 200)["status"], 401);
    assert_eq!(c.call("gina", "POST", "/v1/explain", Some(&body)).0, 403);
}

/// A member's attempt the model refuses is recorded (who, what, why) for those who may read
/// events; an outsider's is not, and neither adds to the audit log of changes.
#[test]
fn refused_attempts_of_members_are_recorded_and_outsiders_leave_no_trace() {
    let c = Control::start();
    globex(&c);
    let changes = audit_len(&c);
    // dave (a member with the default role) tries to make himself an admin and to share.
    let bind = r#"{"subject":"dave","role":"admin"}"#;
    let (status, refusal) = c.call("dave", "POST", "/v1/orgs/globex/bindings", Some(bind));
    assert_eq!(status, 403, "{refusal}");
    let share = r#"{"subject":"bob","kind":"containers","project":"web","id":"c-1","verbs":["delete"]}"#;
    assert_eq!(c.call("dave", "POST", "/v1/orgs/globex/shares", Some(share)).0, 403);
    // Someone outside globex: refused, and not recorded.
    assert_eq!(c.call("mallory", "POST", "/v1/orgs/globex/bindings", Some(bind)).0, 403);
    // Bad input is not a refusal of the model.
    assert_eq!(c.call("dave", "POST", "/v1/orgs/globex/bindings", Some(r#"{"subject":1}"#)).0, 400);
    let refused = c.expect("gina", "GET", "/v1/orgs/globex/audit/refused", None, 200);
    let rows = refused["refused"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{refused}");
    assert_eq!(rows[0]["seq"], 1);
    assert_eq!(rows[0]["actor"], "dave");
    assert_eq!(rows[0]["org"], "globex");
    assert_eq!(rows[0]["action"], "binding.create", "{refused}");
    assert!(rows[0]["detail"].as_str().unwrap().contains("admin"), "{refused}");
    assert_eq!(rows[0]["reason"], refusal["error"], "the reason is what dave was told");
    assert!(portcullis::instant::parse(rows[0]["at"].as_str().unwrap()).unwrap() > 1_700_000_000);
    assert_eq!((rows[1]["seq"].as_u64(), rows[1]["action"].as_str()), (Some(2), Some("share.create")), "{refused}");
    let after = c.expect("gina", "GET", "/v1/orgs/globex/audit/refused?after=1", None, 200);
    assert_eq!(after["refused"].as_array().unwrap().len(), 1, "{after}");
    assert_eq!(audit_len(&c), changes, "a refusal is not a change");
    // Reading them needs read on events, like the audit log.
    assert_eq!(c.call("dave", "GET", "/v1/orgs/globex/audit/refused", None).0, 403);
}

/// One revision a user can reason about: the number a write returns is the org revision the
/// gateway's decision log reports for decisions made from it (the replica's count of
/// snapshots is logged beside it under its own name).
#[test]
fn the_revision_a_write_returns_is_the_one_the_decision_log_reports() {
    let store = crate::scratch("store");
    let log = store.join("decisions.log");
    let admin = crate::gateway::free_port();
    let extra = super::admin_section(admin, &format!("data_dir = \"{}\"", store.display()))
        + &format!("\n[log]\ndecisions = \"all\"\nallow_sample = 1.0\nfile = \"{}\"\n", log.display());
    let gateway =
        crate::gateway::Gateway::start_with(crate::gateway::Setup { extra_config: &extra, ..Default::default() });
    super::wait_listening(admin, &gateway);
    let c = Control { gateway, admin };
    globex(&c);
    let share = r#"{"subject":"dave","kind":"containers","project":"web","id":"c-1","verbs":["read"]}"#;
    let rev = revision(&c.expect("gina", "POST", "/v1/orgs/globex/shares", Some(share), 201));
    assert_eq!(c.gateway_status("dave", "GET", CONTAINER, Some(rev)), 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let line = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let found = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["principal"] == "dave" && v["decision"] == "allow");
        if let Some(v) = found {
            break v;
        }
        assert!(std::time::Instant::now() < deadline, "no decision line for dave: {text}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(line["org"], "globex", "{line}");
    assert_eq!(line["org_revision"], rev, "{line}");
    assert!(line.get("revision").is_none(), "one name per counter: {line}");
    assert!(line["snapshot_generation"].as_u64().is_some(), "{line}");
    let metrics = crate::gateway::request_on(admin, "GET", "/metrics", &[]).2;
    assert!(metrics.contains("portcullis_snapshot_generation "), "{metrics}");
    drop(c);
    let _ = std::fs::remove_dir_all(store);
}
