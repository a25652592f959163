//! The list endpoints: what they show, paging, filters, the permission each needs, and a
//! file-owned org listed like a stored one.

use super::Control;

fn globex(c: &Control) {
    c.expect("root", "POST", "/v1/orgs", Some(r#"{"id":"globex","owner":"gina"}"#), 201);
    for m in ["bob", "dave", "erin"] {
        c.expect("gina", "POST", "/v1/orgs/globex/members", Some(&format!(r#"{{"id":"{m}"}}"#)), 201);
    }
    c.expect("gina", "POST", "/v1/orgs/globex/service-accounts", Some(r#"{"id":"ci"}"#), 201);
    c.expect("gina", "POST", "/v1/orgs/globex/teams", Some(r#"{"name":"ops","members":["bob","ci"]}"#), 201);
    c.expect("gina", "POST", "/v1/orgs/globex/projects", Some(r#"{"id":"web","restricted":true}"#), 201);
    c.expect("gina", "POST", "/v1/orgs/globex/projects", Some(r#"{"id":"api"}"#), 201);
    let role = r#"{"name":"maker","permissions":["project:containers:create","project:containers:owned:write"]}"#;
    c.expect("gina", "POST", "/v1/orgs/globex/roles", Some(role), 201);
    c.expect("gina", "POST", "/v1/orgs/globex/bindings", Some(r#"{"subject":"bob","role":"viewer"}"#), 201);
    c.expect(
        "gina",
        "POST",
        "/v1/orgs/globex/bindings",
        Some(r#"{"subject":"bob","role":"maker","project":"web"}"#),
        201,
    );
    c.expect("gina", "POST", "/v1/orgs/globex/bindings", Some(r#"{"subject":"team:ops","role":"member"}"#), 201);
}

#[test]
fn members_teams_projects_roles_and_bindings_are_listed_for_who_may_read_them() {
    let c = Control::start();
    globex(&c);
    let members = c.expect("gina", "GET", "/v1/orgs/globex/members", None, 200);
    let ids: Vec<&str> = members["members"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["bob", "ci", "dave", "erin", "gina"], "{members}");
    let bob = &members["members"][0];
    assert_eq!(bob["type"], "user");
    assert_eq!(bob["teams"], serde_json::json!(["ops"]));
    assert_eq!(bob["roles"].as_array().unwrap().len(), 2, "{bob}");
    assert_eq!(members["members"][1]["type"], "service_account");
    assert_eq!(members["members"][4]["owner"], true);
    let teams = c.expect("gina", "GET", "/v1/orgs/globex/teams", None, 200);
    assert_eq!(teams["teams"], serde_json::json!([{ "name": "ops", "members": ["bob", "ci"] }]));
    let projects = c.expect("gina", "GET", "/v1/orgs/globex/projects", None, 200);
    assert_eq!(projects["projects"][1], serde_json::json!({ "id": "web", "restricted": true }), "{projects}");
    let roles = c.expect("gina", "GET", "/v1/orgs/globex/roles", None, 200);
    let maker = roles["roles"].as_array().unwrap().iter().find(|r| r["name"] == "maker").unwrap();
    assert_eq!(maker["scope"], "org");
    assert_eq!(maker["bindings"], 1);
    assert!(
        maker["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "project:containers:owned:list,read,update,delete")
    );
    let admin = roles["roles"].as_array().unwrap().iter().find(|r| r["name"] == "admin").unwrap();
    assert_eq!(admin["scope"], "built-in");
    // Filters: one project, organisation scope only, one subject.
    let web = c.expect("gina", "GET", "/v1/orgs/globex/bindings?project=web", None, 200);
    assert_eq!(
        web["bindings"],
        serde_json::json!([{ "subject": "bob", "role": "maker", "project": "web", "expires_at": null }])
    );
    let org_scope = c.expect("gina", "GET", "/v1/orgs/globex/bindings?project=", None, 200);
    assert_eq!(org_scope["bindings"].as_array().unwrap().len(), 2, "{org_scope}");
    let ops = c.expect("gina", "GET", "/v1/orgs/globex/bindings?subject=team:ops", None, 200);
    assert_eq!(ops["bindings"][0]["role"], "member");
    // erin holds no role: every list needs read on its kind. bob (viewer) reads them.
    for list in ["members", "teams", "projects", "roles", "bindings"] {
        let (status, body) = c.call("erin", "GET", &format!("/v1/orgs/globex/{list}"), None);
        assert_eq!(status, 403, "{list}: {body}");
        assert!(body["error"].as_str().unwrap().contains("needs read on"), "{body}");
        c.expect("bob", "GET", &format!("/v1/orgs/globex/{list}"), None, 200);
    }
}

#[test]
fn lists_page_by_key_and_say_where_to_continue() {
    let c = Control::start();
    globex(&c);
    let mut seen = Vec::new();
    let mut path = "/v1/orgs/globex/members?limit=2".to_string();
    loop {
        let page = c.expect("gina", "GET", &path, None, 200);
        let items = page["members"].as_array().unwrap();
        assert!(items.len() <= 2, "{page}");
        seen.extend(items.iter().map(|m| m["id"].as_str().unwrap().to_string()));
        match page["next"].as_str() {
            Some(next) => path = format!("/v1/orgs/globex/members?limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ["bob", "ci", "dave", "erin", "gina"]);
    let (status, body) = c.call("gina", "GET", "/v1/orgs/globex/members?limit=x", None);
    assert_eq!(status, 400, "{body}");
    let (status, body) = c.call("gina", "GET", "/v1/orgs/globex/teams?project=web", None);
    assert_eq!(status, 400, "only bindings take a project: {body}");
}

#[test]
fn the_orgs_of_a_caller_and_a_file_owned_org_are_listed_too() {
    let c = Control::start();
    globex(&c);
    let orgs = c.expect("dave", "GET", "/v1/orgs", None, 200);
    let globex = orgs["orgs"].as_array().unwrap().iter().find(|o| o["id"] == "globex").unwrap();
    assert_eq!(globex["stored"], true);
    assert_eq!(globex["owner"], "gina");
    // The operator sees every org, the shipped policies' file-owned ones included.
    let all = c.expect("root", "GET", "/v1/orgs", None, 200);
    let acme = all["orgs"].as_array().unwrap().iter().find(|o| o["id"] == "acme").unwrap();
    assert_eq!(acme["stored"], false);
    // A member of the file-owned org reads its members through the API.
    let owner = acme["owner"].as_str().unwrap();
    let members = c.expect(owner, "GET", "/v1/orgs/acme/members", None, 200);
    assert!(members["members"].as_array().unwrap().len() > 1, "{members}");
}

#[test]
fn names_that_differ_only_by_case_from_existing_ones_are_refused() {
    let c = Control::start();
    globex(&c);
    for (path, body, other) in [
        ("/v1/orgs/globex/roles", r#"{"name":"Viewer","permissions":["organisation:billing:read"]}"#, "'viewer'"),
        ("/v1/orgs/globex/roles", r#"{"name":"MAKER","permissions":["organisation:billing:read"]}"#, "'maker'"),
        ("/v1/orgs/globex/teams", r#"{"name":"Ops","members":[]}"#, "'ops'"),
    ] {
        let (status, answer) = c.call("gina", "POST", path, Some(body));
        assert_eq!(status, 422, "{body}: {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains("differs only by case") && error.contains(other), "{error}");
    }
}
