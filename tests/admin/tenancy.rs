//! Tenant isolation end to end: org `beta`'s principals (its owner, an admin, a member, and
//! service accounts named like `alpha`'s owner, `alpha`'s members, `alpha`'s service account
//! and an operator) against every operation of `openapi.json` and every gateway route on org
//! `alpha`. Each attempt is refused, and afterwards alpha's policy, revision, pending transfer,
//! tokens and audit log are exactly what they were.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Control, revision, try_call_with};
use crate::gateway::{bearer, token};

/// One caller: how it is named in messages, and its bearer token.
struct Who {
    name: String,
    token: String,
}

impl Who {
    fn user(sub: &str) -> Who {
        Who { name: sub.into(), token: token(sub) }
    }
}

fn call(c: &Control, who: &Who, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let (status, _, json) = try_call_with(c.admin, Some(&who.token), method, path, body)
        .unwrap_or_else(|| panic!("{method} {path}: no answer"));
    (status, json)
}

/// alpha: owner anna, admin adam, member mia (in team ops), service account alpha-bot with a
/// token, project web, role auditor, a share on c-1, and a pending transfer to adam.
/// Returns alpha-bot's token id.
fn alpha(c: &Control) -> String {
    c.expect("root", "POST", "/v1/orgs", Some(r#"{"id":"alpha","owner":"anna"}"#), 201);
    for body in [
        ("POST", "/v1/orgs/alpha/members", r#"{"id":"adam"}"#),
        ("POST", "/v1/orgs/alpha/members", r#"{"id":"mia"}"#),
        ("POST", "/v1/orgs/alpha/service-accounts", r#"{"id":"alpha-bot"}"#),
        ("POST", "/v1/orgs/alpha/projects", r#"{"id":"web"}"#),
        ("POST", "/v1/orgs/alpha/teams", r#"{"name":"ops","members":["mia"]}"#),
        ("POST", "/v1/orgs/alpha/roles", r#"{"name":"auditor","permissions":["organisation:events:read"]}"#),
        ("POST", "/v1/orgs/alpha/bindings", r#"{"subject":"adam","role":"admin"}"#),
        ("POST", "/v1/orgs/alpha/bindings", r#"{"subject":"mia","role":"member"}"#),
        (
            "POST",
            "/v1/orgs/alpha/shares",
            r#"{"subject":"mia","kind":"containers","project":"web","id":"c-1","verbs":["read"]}"#,
        ),
    ] {
        c.expect("anna", body.0, body.1, Some(body.2), 201);
    }
    let issued = c.expect("anna", "POST", "/v1/orgs/alpha/service-accounts/alpha-bot/tokens", None, 201);
    c.expect("anna", "POST", "/v1/orgs/alpha/transfer", Some(r#"{"to":"adam","step_down_to":"admin"}"#), 201);
    issued["id"].as_str().unwrap().to_string()
}

/// beta: owner bert, admin bea, member bob, and service accounts named like alpha's people
/// and like the operator, each an admin of beta with a token. Returns beta's callers.
fn beta(c: &Control) -> Vec<Who> {
    c.expect("root", "POST", "/v1/orgs", Some(r#"{"id":"beta","owner":"bert"}"#), 201);
    c.expect("bert", "POST", "/v1/orgs/beta/projects", Some(r#"{"id":"web"}"#), 201);
    for (id, role) in [("bea", "admin"), ("bob", "member")] {
        c.expect("bert", "POST", "/v1/orgs/beta/members", Some(&format!(r#"{{"id":"{id}"}}"#)), 201);
        let bind = format!(r#"{{"subject":"{id}","role":"{role}"}}"#);
        c.expect("bert", "POST", "/v1/orgs/beta/bindings", Some(&bind), 201);
    }
    // `all` and `team:x` are subjects, not names: no service account can take them.
    for reserved in ["all", "team:x", "sa:alpha/anna"] {
        let (status, body) =
            c.call("bert", "POST", "/v1/orgs/beta/service-accounts", Some(&format!(r#"{{"id":"{reserved}"}}"#)));
        assert!(matches!(status, 400 | 422), "a service account named '{reserved}': {status} {body}");
    }
    let mut callers = vec![Who::user("bert"), Who::user("bea"), Who::user("bob")];
    for name in ["anna", "adam", "mia", "alpha-bot", "root"] {
        c.expect("bert", "POST", "/v1/orgs/beta/service-accounts", Some(&format!(r#"{{"id":"{name}"}}"#)), 201);
        let bind = format!(r#"{{"subject":"{name}","role":"admin"}}"#);
        c.expect("bert", "POST", "/v1/orgs/beta/bindings", Some(&bind), 201);
        let issued = c.expect("bert", "POST", &format!("/v1/orgs/beta/service-accounts/{name}/tokens"), None, 201);
        callers.push(Who { name: format!("sa:beta/{name}"), token: issued["token"].as_str().unwrap().into() });
    }
    callers
}

/// Everything of alpha an outsider could change, as its owner reads it.
fn alpha_state(c: &Control) -> Value {
    let org = c.expect("anna", "GET", "/v1/orgs/alpha", None, 200);
    let audit = c.expect("anna", "GET", "/v1/orgs/alpha/audit?limit=1000", None, 200);
    let tokens = c.expect("anna", "GET", "/v1/orgs/alpha/service-accounts/alpha-bot/tokens", None, 200);
    let refused = c.expect("anna", "GET", "/v1/orgs/alpha/audit/refused?limit=1000", None, 200);
    serde_json::json!({ "org": org, "audit": audit, "tokens": tokens, "refused": refused })
}

/// A concrete request for each operation of `openapi.json` that touches an org, aimed at
/// alpha, with a body that would succeed for alpha's owner.
fn operations(token_id: &str, alpha_policy: &str) -> Vec<(&'static str, String, Option<String>)> {
    let explain = format!(
        r#"{{"method":"GET","path":"/v1/orgs/alpha/projects/web/containers/c-1","token":"{}"}}"#,
        token("anna")
    );
    let o = |m: &'static str, p: &str, b: Option<&str>| (m, p.to_string(), b.map(str::to_string));
    // alpha as it is, plus a member: what alpha's owner could apply.
    let apply = serde_json::json!({ "policy": alpha_policy.replacen("members = [", "members = [\"intruder\", ", 1) });
    vec![
        o("POST", "/v1/orgs", Some(r#"{"id":"alpha2","owner":"bert"}"#)),
        o("GET", "/v1/orgs/alpha", None),
        o("POST", "/v1/orgs/alpha/apply", Some(&apply.to_string())),
        o("GET", "/v1/orgs/alpha/members", None),
        o("GET", "/v1/orgs/alpha/teams", None),
        o("GET", "/v1/orgs/alpha/projects", None),
        o("GET", "/v1/orgs/alpha/roles", None),
        o("GET", "/v1/orgs/alpha/bindings?project=web", None),
        o("POST", "/v1/orgs/alpha/members", Some(r#"{"id":"intruder"}"#)),
        o("POST", "/v1/orgs/alpha/service-accounts", Some(r#"{"id":"intruder-bot"}"#)),
        o("DELETE", "/v1/orgs/alpha/members/mia", None),
        o("POST", "/v1/orgs/alpha/teams", Some(r#"{"name":"t2","members":["mia"]}"#)),
        o("PUT", "/v1/orgs/alpha/teams/ops", Some(r#"{"members":[]}"#)),
        o("DELETE", "/v1/orgs/alpha/teams/ops", None),
        o("POST", "/v1/orgs/alpha/projects", Some(r#"{"id":"p2"}"#)),
        o("PUT", "/v1/orgs/alpha/projects/web", Some(r#"{"restricted":true}"#)),
        o("DELETE", "/v1/orgs/alpha/projects/web", None),
        o("POST", "/v1/orgs/alpha/roles", Some(r#"{"name":"r2","permissions":["organisation:billing:read"]}"#)),
        o("PUT", "/v1/orgs/alpha/roles/auditor", Some(r#"{"permissions":["organisation:billing:read"]}"#)),
        o("DELETE", "/v1/orgs/alpha/roles/auditor", None),
        o("POST", "/v1/orgs/alpha/bindings", Some(r#"{"subject":"mia","role":"admin"}"#)),
        o("DELETE", "/v1/orgs/alpha/bindings?subject=adam&role=admin", None),
        o(
            "POST",
            "/v1/orgs/alpha/shares",
            Some(r#"{"subject":"mia","kind":"containers","project":"web","id":"c-1","verbs":["update"]}"#),
        ),
        o("GET", "/v1/orgs/alpha/shares?kind=containers&project=web&id=c-1", None),
        o("DELETE", "/v1/orgs/alpha/shares?subject=mia&kind=containers&project=web&id=c-1", None),
        o("GET", "/v1/orgs/alpha/acl", None),
        o("GET", "/v1/orgs/alpha/acl?principal=mia", None),
        o("GET", "/v1/orgs/alpha/access?kind=containers&project=web&id=c-1", None),
        o("GET", "/v1/orgs/alpha/access/principals/mia?kind=containers", None),
        o("POST", "/v1/orgs/alpha/transfer", Some(r#"{"to":"mia","step_down_to":"admin"}"#)),
        o("GET", "/v1/orgs/alpha/transfer", None),
        o("DELETE", "/v1/orgs/alpha/transfer", None),
        o("POST", "/v1/orgs/alpha/transfer/confirm", None),
        o("GET", "/v1/orgs/alpha/audit", None),
        o(
            "POST",
            "/v1/orgs/alpha/access-requests",
            Some(r#"{"role":"admin","project":"web","duration":"1h","reason":"let me in"}"#),
        ),
        o("GET", "/v1/orgs/alpha/access-requests", None),
        o("POST", "/v1/orgs/alpha/access-requests/ar-0/approve", None),
        o("POST", "/v1/orgs/alpha/access-requests/ar-0/deny", None),
        o("GET", "/v1/orgs/alpha/audit/refused", None),
        o("POST", "/v1/orgs/alpha/service-accounts/alpha-bot/tokens", None),
        o("GET", "/v1/orgs/alpha/service-accounts/alpha-bot/tokens", None),
        o("DELETE", &format!("/v1/orgs/alpha/service-accounts/alpha-bot/tokens/{token_id}"), None),
        o("POST", "/v1/explain", Some(&explain)),
    ]
}

/// Endpoints that hold nothing of any org (health, readiness, metrics, the API document),
/// and the list of the caller's own orgs (checked on its own below).
const NOT_ORG_DATA: [&str; 5] = ["GET /healthz", "GET /readyz", "GET /metrics", "GET /v1/openapi.json", "GET /v1/orgs"];

/// `/v1/orgs/{org}/members/{id}` for `/v1/orgs/alpha/members/mia`: the operation a request
/// exercises, in the document's spelling.
fn template_of(path: &str, templates: &[String]) -> Option<String> {
    let path = path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').collect();
    templates
        .iter()
        .find(|t| {
            let ts: Vec<&str> = t.split('/').collect();
            ts.len() == segments.len() && ts.iter().zip(&segments).all(|(t, s)| t.starts_with('{') || t == s)
        })
        .cloned()
}

#[test]
fn no_principal_of_one_org_reads_or_changes_anything_of_another() {
    let c = Control::start();
    let token_id = alpha(&c);
    let outsiders = beta(&c);
    // At home, beta's service accounts are admins: what they are refused below is refused
    // because alpha is not their org, not because they can do nothing.
    let sa_anna = &outsiders[3];
    assert_eq!(sa_anna.name, "sa:beta/anna");
    assert_eq!(call(&c, sa_anna, "GET", "/v1/orgs/beta", None).0, 200);
    assert_eq!(call(&c, sa_anna, "POST", "/v1/orgs/beta/members", Some(r#"{"id":"newbie"}"#)).0, 201);

    // Every operation of the API document is tried, except those that hold no org's data.
    let document: Value =
        serde_json::from_str(&std::fs::read_to_string(crate::gateway::root().join("openapi.json")).unwrap()).unwrap();
    let templates: Vec<String> = document["paths"].as_object().unwrap().keys().cloned().collect();
    let mut documented = BTreeSet::new();
    // Paths with a server of their own are the [pdp] listener's, whose tenancy tests/pdp.rs
    // checks.
    for (path, methods) in document["paths"].as_object().unwrap().iter().filter(|(_, m)| m.get("servers").is_none()) {
        for method in methods.as_object().unwrap().keys() {
            documented.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let alpha_policy = c.expect("anna", "GET", "/v1/orgs/alpha", None, 200)["policy"].as_str().unwrap().to_string();
    let ops = operations(&token_id, &alpha_policy);
    let tried: BTreeSet<String> = ops
        .iter()
        .map(|(m, p, _)| format!("{m} {}", template_of(p, &templates).unwrap_or_else(|| p.clone())))
        .collect();
    let untried: Vec<_> =
        documented.iter().filter(|d| !tried.contains(*d) && !NOT_ORG_DATA.contains(&d.as_str())).collect();
    assert!(untried.is_empty(), "operations without a cross-tenant case: {untried:?}");

    // The list of one's orgs names one's own orgs only (a user of the same id may also be
    // a member of the shipped policies' orgs).
    for who in &outsiders {
        let (status, orgs) = call(&c, who, "GET", "/v1/orgs", None);
        assert_eq!(status, 200, "{orgs}");
        let ids: Vec<&str> = orgs["orgs"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
        assert!(ids.contains(&"beta") && !ids.contains(&"alpha"), "{} sees {ids:?}", who.name);
    }
    let before = alpha_state(&c);
    let mut attempts = 0;
    for who in &outsiders {
        for (method, path, body) in &ops {
            let (status, answer) = call(&c, who, method, path, body.as_deref());
            assert_eq!(status, 403, "{} got {status} on {method} {path}: {answer}", who.name);
            attempts += 1;
        }
    }
    assert_eq!(before, alpha_state(&c), "an outsider's attempt changed alpha");
    assert_eq!(c.call("root", "GET", "/v1/orgs/alpha2", None).0, 404, "an outsider created an org");

    // The gateway: every route, every method, on alpha's resources.
    let config: toml::Table =
        std::fs::read_to_string(crate::gateway::root().join("config.toml")).unwrap().parse().unwrap();
    let forwarded = c.gateway.forwarded();
    let mut routes = 0;
    for route in config["route"].as_array().unwrap() {
        let target = route["path"]
            .as_str()
            .unwrap()
            .replace("{org}", "alpha")
            .replace("{project}", "web")
            .replace("{id...}", "data/sets")
            .replace("{id}", "c-1");
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            for who in &outsiders {
                let auth = format!("Authorization: Bearer {}", who.token);
                let status = c.gateway.status(method, &target, &[&auth, "Content-Length: 0"]);
                assert!(matches!(status, 403 | 405), "{} got {status} on {method} {target}", who.name);
                attempts += 1;
            }
        }
        routes += 1;
    }
    assert!(routes >= 15, "{routes} routes");
    assert_eq!(c.gateway.forwarded(), forwarded, "an outsider's request reached the upstream: {}", c.gateway.last());
    // ...while alpha's own people get through, and beta's accounts do at home.
    let container = "/v1/orgs/alpha/projects/web/containers/c-1";
    assert_eq!(c.gateway.status("DELETE", container, &[&bearer("adam")]), 200);
    assert_eq!(c.gateway.status("GET", container, &[&bearer("mia")]), 200);
    let home = format!("Authorization: Bearer {}", sa_anna.token);
    assert_eq!(c.gateway.status("DELETE", "/v1/orgs/beta/projects/web/containers/c-1", &[&home]), 200);
    eprintln!("tenancy: {attempts} cross-tenant attempts by {} principals of beta, all refused", outsiders.len());
}

/// The reproduction of the defect as filed: bert makes a service account of beta named after
/// alpha's owner and uses its token against alpha.
#[test]
fn a_service_account_named_like_another_orgs_owner_is_nobody_there() {
    let c = Control::start();
    c.expect("root", "POST", "/v1/orgs", Some(r#"{"id":"alpha","owner":"anna"}"#), 201);
    c.expect("anna", "POST", "/v1/orgs/alpha/projects", Some(r#"{"id":"web"}"#), 201);
    c.expect("anna", "POST", "/v1/orgs/alpha/members", Some(r#"{"id":"adam"}"#), 201);
    c.expect("root", "POST", "/v1/orgs", Some(r#"{"id":"beta","owner":"bert"}"#), 201);
    c.expect("bert", "POST", "/v1/orgs/beta/service-accounts", Some(r#"{"id":"anna"}"#), 201);
    let issued = c.expect("bert", "POST", "/v1/orgs/beta/service-accounts/anna/tokens", None, 201);
    let forged = Who { name: "sa:beta/anna".into(), token: issued["token"].as_str().unwrap().into() };
    let rev = format!("Portcullis-Revision: {}", revision(&issued));
    let auth = format!("Authorization: Bearer {}", forged.token);
    // Through the gateway: alpha's secrets, billing, a DELETE.
    for (method, target) in [
        ("GET", "/v1/orgs/alpha/projects/web/secrets/s-1"),
        ("GET", "/v1/orgs/alpha/billing"),
        ("DELETE", "/v1/orgs/alpha/projects/web/containers/c-1"),
    ] {
        let status = c.gateway.status(method, target, &[&auth, &rev, "Content-Length: 0"]);
        assert!(matches!(status, 403 | 404), "{method} {target}: {status}");
    }
    // On alpha's admin API: read, invite, share, start and confirm a transfer.
    for (method, path, body) in [
        ("GET", "/v1/orgs/alpha", None),
        ("POST", "/v1/orgs/alpha/members", Some(r#"{"id":"mole"}"#)),
        (
            "POST",
            "/v1/orgs/alpha/shares",
            Some(r#"{"subject":"adam","kind":"containers","project":"web","id":"c-1","verbs":["read"]}"#),
        ),
        ("POST", "/v1/orgs/alpha/transfer", Some(r#"{"to":"adam","step_down_to":"admin"}"#)),
        ("POST", "/v1/orgs/alpha/transfer/confirm", None),
    ] {
        assert_eq!(call(&c, &forged, method, path, body).0, 403, "{method} {path}");
    }
    // A transfer anna really started cannot be confirmed by the forged anna.
    c.expect("anna", "POST", "/v1/orgs/alpha/transfer", Some(r#"{"to":"adam","step_down_to":"admin"}"#), 201);
    assert_eq!(call(&c, &forged, "POST", "/v1/orgs/alpha/transfer/confirm", None).0, 403);
    assert_eq!(call(&c, &forged, "DELETE", "/v1/orgs/alpha/transfer", None).0, 403);
    let t = c.expect("anna", "GET", "/v1/orgs/alpha/transfer", None, 200);
    assert_eq!(t["transfer"]["confirmed_by_owner"], false, "{t}");
    // beta's audit log names the account as what it is, never as alpha's owner.
    let audit = c.expect("bert", "GET", "/v1/orgs/beta/audit", None, 200);
    assert!(audit["entries"].as_array().unwrap().iter().all(|e| e["actor"] != "anna"), "{audit}");
    // An account named like the operator is not one.
    c.expect("bert", "POST", "/v1/orgs/beta/service-accounts", Some(r#"{"id":"root"}"#), 201);
    let issued = c.expect("bert", "POST", "/v1/orgs/beta/service-accounts/root/tokens", None, 201);
    let fake_root = Who { name: "sa:beta/root".into(), token: issued["token"].as_str().unwrap().into() };
    assert_eq!(call(&c, &fake_root, "POST", "/v1/orgs", Some(r#"{"id":"gamma","owner":"bert"}"#)).0, 403);
    let explain = r#"{"method":"GET","path":"/v1/orgs/alpha/billing"}"#;
    assert_eq!(call(&c, &fake_root, "POST", "/v1/explain", Some(explain)).0, 403);
}
