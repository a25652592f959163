//! The AuthZEN Authorization API end to end: a real `portcullis serve` with `[pdp]`, asked
//! over HTTP as a PEP would, with the specification's own request shapes. Two orgs with a
//! member of the same name; two clients, one for any org and allowed reasons, one for acme
//! only without them.

use serde_json::{Value, json};
use sha2::Digest;

use crate::gateway::{Gateway, Setup, free_port, root, send_on};

const EDGE: &str = "pdp-edge-token-0123456789";
const ACME_ONLY: &str = "pdp-acme-token-9876543210";

struct Pdp {
    port: u16,
    gateway: Gateway,
}

fn sha(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

fn start() -> Pdp {
    let port = free_port();
    let extra = format!(
        "\n[pdp]\nlisten = \"127.0.0.1:{port}\"\n\n[[pdp.client]]\nname = \"edge\"\nsha256 = \"{}\"\nreasons = true\n\n\
         [[pdp.client]]\nname = \"acme-only\"\nsha256 = \"{}\"\norg = \"acme\"\n",
        sha(EDGE),
        sha(ACME_ONLY)
    );
    let policies = root().join("tests/fixtures/pdp");
    let gateway = Gateway::start_with(Setup { policies: Some(&policies), extra_config: &extra, ..Setup::default() });
    crate::admin::wait_listening(port, &gateway);
    Pdp { port, gateway }
}

impl Pdp {
    /// A request as `token` (none: no Authorization): (status, head, JSON body).
    fn call(&self, token: Option<&str>, method: &str, path: &str, body: &str, more: &[&str]) -> (u16, String, Value) {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: pdp.test\r\nConnection: close\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n",
            body.len()
        );
        if let Some(t) = token {
            req.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        for h in more {
            req.push_str(&format!("{h}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        let (status, head, text) = send_on(self.port, req.as_bytes());
        let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}\n{}", self.gateway.log()));
        (status, head, json)
    }

    fn ok(&self, token: &str, path: &str, body: &Value) -> Value {
        let (status, _, json) = self.call(Some(token), "POST", path, &body.to_string(), &[]);
        assert_eq!(status, 200, "{body}: {json}");
        json
    }

    fn decide(&self, token: &str, body: &Value) -> bool {
        self.ok(token, "/access/v1/evaluation", body)["decision"].as_bool().unwrap()
    }
}

fn ask(subject: &str, org: &str, project: Option<&str>, id: &str, action: &str) -> Value {
    let mut properties = json!({ "org": org });
    if let Some(p) = project {
        properties["project"] = json!(p);
    }
    json!({
        "subject": { "type": "user", "id": subject },
        "resource": { "type": "todo", "id": id, "properties": properties },
        "action": { "name": action },
    })
}

#[test]
fn an_evaluation_is_decide_on_the_live_snapshot_with_two_orgs_kept_apart() {
    let pdp = start();
    // The specification's example request, with acme as the client's default org.
    let example = json!({
        "subject": { "type": "user", "id": "alice@acmecorp.com" },
        "resource": { "type": "todo", "id": "1" },
        "action": { "name": "can_read" },
        "context": { "time": "1985-10-26T01:22-07:00" }
    });
    let (status, head, body) = pdp.call(
        Some(ACME_ONLY),
        "POST",
        "/access/v1/evaluation",
        &example.to_string(),
        &["X-Request-ID: bfe9eb29-ab87-4ca3-be83-a1d5d8305716"],
    );
    assert_eq!((status, &body), (200, &json!({ "decision": true })), "no reasons for this client");
    assert!(head.to_ascii_lowercase().contains("x-request-id: bfe9eb29-ab87-4ca3-be83-a1d5d8305716"), "{head}");

    // dave reads t-1 in acme's web (a share), by verb or by the kind's action name.
    assert!(pdp.decide(EDGE, &ask("dave", "acme", Some("web"), "t-1", "read")));
    assert!(pdp.decide(EDGE, &ask("dave", "acme", Some("web"), "t-1", "can_read")));
    assert!(!pdp.decide(EDGE, &ask("dave", "acme", Some("web"), "t-1", "can_update")));
    assert!(!pdp.decide(EDGE, &ask("dave", "acme", Some("web"), "t-2", "read")));
    // The dave of globex is another principal.
    assert!(!pdp.decide(EDGE, &ask("dave", "globex", Some("web"), "t-1", "read")));
    // A client for acme only is refused other orgs, whatever the request says.
    assert!(!pdp.decide(ACME_ONLY, &ask("gina", "globex", Some("web"), "t-1", "read")));
    // A service account, of the org decided in.
    let mut bot = ask("bot", "acme", Some("web"), "t-2", "update");
    bot["subject"]["type"] = json!("service_account");
    assert!(pdp.decide(EDGE, &bot));
    bot["resource"]["properties"]["org"] = json!("globex");
    assert!(!pdp.decide(EDGE, &bot));

    // Reasons, for the client allowed them.
    let answer = pdp.ok(EDGE, "/access/v1/evaluation", &ask("dave", "acme", Some("web"), "t-1", "read"));
    assert!(answer["context"]["reason"].as_str().unwrap().contains("share"), "{answer}");
}

#[test]
fn what_the_model_does_not_know_is_a_deny_and_a_malformed_request_a_400_naming_the_field() {
    let pdp = start();
    let denied = |body: Value, why: &str| {
        let answer = pdp.ok(EDGE, "/access/v1/evaluation", &body);
        assert_eq!(answer["decision"], json!(false), "{body}: {answer}");
        let reason = answer["context"]["reason"].as_str().unwrap().to_string();
        assert!(reason.contains(why), "{body}: {reason}");
    };
    denied(ask("dave", "nowhere", Some("web"), "t-1", "read"), "org");
    denied(ask("nobody", "acme", Some("web"), "t-1", "read"), "member");
    denied(ask("dave", "acme", Some("web"), "t-1", "can_fly"), "unknown action 'can_fly'");
    let mut kind = ask("dave", "acme", Some("web"), "t-1", "read");
    kind["resource"]["type"] = json!("spaceships");
    denied(kind, "unknown resource type 'spaceships'");
    let mut who = ask("dave", "acme", Some("web"), "t-1", "read");
    who["subject"]["type"] = json!("group");
    denied(who, "unknown subject type 'group'");

    let malformed = |body: &str, field: &str| {
        let (status, _, json) = pdp.call(Some(EDGE), "POST", "/access/v1/evaluation", body, &[]);
        assert_eq!(status, 400, "{body}: {json}");
        assert_eq!(json["field"], json!(field), "{body}: {json}");
    };
    let mut no_type = ask("dave", "acme", None, "t-1", "read");
    no_type["resource"].as_object_mut().unwrap().remove("type");
    malformed(&no_type.to_string(), "resource.type");
    let mut no_action = ask("dave", "acme", None, "t-1", "read");
    no_action.as_object_mut().unwrap().remove("action");
    malformed(&no_action.to_string(), "action");
    let mut bad_org = ask("dave", "acme", None, "t-1", "read");
    bad_org["resource"]["properties"]["org"] = json!(7);
    malformed(&bad_org.to_string(), "resource.properties.org");
    // The client that decides for any org needs the request to name one.
    let mut no_org = ask("dave", "acme", None, "t-1", "read");
    no_org["resource"].as_object_mut().unwrap().remove("properties");
    malformed(&no_org.to_string(), "resource.properties.org");
    let (status, _, json) = pdp.call(Some(EDGE), "POST", "/access/v1/evaluation", "{not json", &[]);
    assert_eq!(status, 400, "{json}");
}

#[test]
fn a_stated_owner_counts_for_owned_entries_as_a_creator_record_would() {
    let pdp = start();
    let mut body = ask("erin", "acme", Some("web"), "t-9", "update");
    assert!(!pdp.decide(EDGE, &body), "nobody is recorded as t-9's creator");
    body["resource"]["properties"]["owner"] = json!("erin");
    assert!(pdp.decide(EDGE, &body));
    body["resource"]["properties"] = json!({ "org": "acme", "project": "web", "ownerID": "erin" });
    assert!(pdp.decide(EDGE, &body));
    body["resource"]["properties"]["ownerID"] = json!("dave");
    assert!(!pdp.decide(EDGE, &body), "erin's owned entry covers what erin created");
    // dave holds no owned entry: owning it gives him nothing.
    let mut dave = ask("dave", "acme", Some("web"), "t-9", "update");
    dave["resource"]["properties"]["owner"] = json!("dave");
    assert!(!pdp.decide(EDGE, &dave));
}

#[test]
fn evaluations_take_top_level_defaults_and_each_semantic() {
    let pdp = start();
    let batch = |semantic: Option<&str>| {
        let mut body = json!({
            "subject": { "type": "user", "id": "dave" },
            "action": { "name": "can_read" },
            "resource": { "type": "todo", "id": "t-1", "properties": { "org": "acme", "project": "web" } },
            "evaluations": [
                {},
                { "resource": { "type": "todo", "id": "t-2", "properties": { "org": "acme", "project": "web" } } },
                { "action": { "name": "update" } },
                { "subject": { "type": "user", "id": "olga" }, "action": { "name": "can_update" } },
            ]
        });
        if let Some(s) = semantic {
            body["options"] = json!({ "evaluations_semantic": s });
        }
        let answer = pdp.ok(ACME_ONLY, "/access/v1/evaluations", &body);
        answer["evaluations"].as_array().unwrap().iter().map(|e| e["decision"].as_bool().unwrap()).collect::<Vec<_>>()
    };
    assert_eq!(batch(None), [true, false, false, true]);
    assert_eq!(batch(Some("execute_all")), [true, false, false, true]);
    assert_eq!(batch(Some("deny_on_first_deny")), [true, false]);
    assert_eq!(batch(Some("permit_on_first_permit")), [true]);

    // Without `evaluations`, it is one evaluation.
    let one = pdp.ok(ACME_ONLY, "/access/v1/evaluations", &ask("dave", "acme", Some("web"), "t-1", "read"));
    assert_eq!(one, json!({ "decision": true }));
    // A malformed item is a 400 naming it, before anything is decided.
    let body = json!({
        "subject": { "type": "user", "id": "dave" },
        "action": { "name": "read" },
        "evaluations": [ { "resource": { "type": "todo", "id": "t-1" } }, { "resource": { "id": "t-2" } } ],
        "options": { "evaluations_semantic": "deny_on_first_deny" }
    });
    let (status, _, json) = pdp.call(Some(ACME_ONLY), "POST", "/access/v1/evaluations", &body.to_string(), &[]);
    assert_eq!((status, json["field"].clone()), (400, json!("evaluations[1].resource.type")), "{json}");
    let body = json!({ "evaluations": [], "options": { "evaluations_semantic": "most_of_them" } });
    let (status, _, json) = pdp.call(Some(ACME_ONLY), "POST", "/access/v1/evaluations", &body.to_string(), &[]);
    assert_eq!((status, json["field"].clone()), (400, json!("options.evaluations_semantic")), "{json}");
}

#[test]
fn only_listed_clients_are_answered_and_the_metadata_names_the_endpoints() {
    let pdp = start();
    let body = ask("dave", "acme", Some("web"), "t-1", "read").to_string();
    for token in [None, Some("not-a-listed-token"), Some("")] {
        let (status, head, json) = pdp.call(token, "POST", "/access/v1/evaluation", &body, &[]);
        assert_eq!(status, 401, "{token:?}: {json}");
        assert!(head.to_ascii_lowercase().contains("www-authenticate: bearer"), "{head}");
        assert!(json.get("decision").is_none(), "{json}");
    }
    // Authenticated first: a stranger's malformed body is a 401, not a 400.
    let (status, _, _) = pdp.call(Some("stranger"), "POST", "/access/v1/evaluation", "{not json", &[]);
    assert_eq!(status, 401);
    let (status, _, meta) = pdp.call(None, "GET", "/.well-known/authzen-configuration", "", &[]);
    assert_eq!(status, 200);
    let base = format!("http://127.0.0.1:{}", pdp.port);
    assert_eq!(meta["policy_decision_point"], json!(base));
    assert_eq!(meta["access_evaluation_endpoint"], json!(format!("{base}/access/v1/evaluation")));
    assert_eq!(meta["access_evaluations_endpoint"], json!(format!("{base}/access/v1/evaluations")));
}

#[test]
fn kind_actions_that_are_not_verbs_or_shadow_one_are_refused() {
    let text =
        |actions: &str| format!("[[kind]]\nname = \"todo\"\nlevels = [\"project\"]\nactions = {{ {actions} }}\n");
    let err = portcullis::policy::compile_text("k.toml", &text("can_fly = \"soar\"")).err().unwrap().to_string();
    assert!(err.contains("action 'can_fly' names verb 'soar'"), "{err}");
    let err = portcullis::policy::compile_text("k.toml", &text("read = \"update\"")).err().unwrap().to_string();
    assert!(err.contains("action 'read' is a verb's own name"), "{err}");
    assert!(portcullis::policy::compile_text("k.toml", &text("can_read = \"read\"")).is_ok());
}

/// A search request's answer, all of it.
fn searched(pdp: &Pdp, token: &str, what: &str, body: &Value) -> Value {
    pdp.ok(token, &format!("/access/v1/search/{what}"), body)
}

fn ids(answer: &Value) -> Vec<String> {
    answer["results"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn searches_answer_who_what_and_which_with_two_orgs_kept_apart() {
    let pdp = start();
    let todo = |org: &str, project: Option<&str>, id: Option<&str>| {
        let mut r = json!({ "type": "todo", "properties": { "org": org } });
        if let Some(p) = project {
            r["properties"]["project"] = json!(p);
        }
        if let Some(id) = id {
            r["id"] = json!(id);
        }
        r
    };
    // Who may read t-1 in acme's web: the owner, and dave through his share.
    let who = |client: &str, org: &str, subject_type: &str, id: &str, action: &str| {
        let body = json!({
            "subject": { "type": subject_type },
            "action": { "name": action },
            "resource": todo(org, Some("web"), Some(id)),
        });
        searched(&pdp, client, "subject", &body)
    };
    assert_eq!(ids(&who(EDGE, "acme", "user", "t-1", "can_read")), ["dave", "erin", "olga"]);
    assert_eq!(ids(&who(EDGE, "acme", "user", "t-2", "update")), ["olga"]);
    assert_eq!(ids(&who(EDGE, "acme", "service_account", "t-2", "update")), ["bot"]);
    // globex's dave is another principal, and holds nothing there.
    assert_eq!(ids(&who(EDGE, "globex", "user", "t-1", "read")), ["gina"]);
    // The client for acme only learns nothing of globex; the one with reasons is told why
    // an org it asks about does not exist.
    assert_eq!(ids(&who(ACME_ONLY, "globex", "user", "t-1", "read")), Vec::<String>::new());
    let nowhere = who(EDGE, "nowhere", "user", "t-1", "read");
    assert_eq!(
        (ids(&nowhere).len(), nowhere["context"]["reason"].clone()),
        (0, json!("organisation 'nowhere' does not exist"))
    );
    let group = who(EDGE, "acme", "group", "t-1", "read");
    assert!(group["context"]["reason"].as_str().unwrap().contains("unknown subject type 'group'"), "{group}");
    // A stated owner counts for erin's owned entry, as in an evaluation.
    let mut owned = json!({ "subject": { "type": "user" }, "action": { "name": "can_update" }, "resource": todo("acme", Some("web"), Some("t-9")) });
    assert_eq!(ids(&searched(&pdp, EDGE, "subject", &owned)), ["olga"]);
    owned["resource"]["properties"]["owner"] = json!("erin");
    assert_eq!(ids(&searched(&pdp, EDGE, "subject", &owned)), ["erin", "olga"]);

    // The specification's search examples, as written (the org is the client's default).
    let spec = json!({
        "subject": { "type": "user" },
        "action": { "name": "can_read" },
        "resource": { "type": "todo", "id": "1" },
        "context": { "time": "2024-10-26T01:22-07:00" },
        "page": { "limit": 10, "properties": { "sort": "asc" } }
    });
    assert_eq!(ids(&searched(&pdp, ACME_ONLY, "subject", &spec)), ["alice@acmecorp.com", "olga"]);
    let spec = json!({
        "subject": { "type": "user", "id": "alice@acmecorp.com" },
        "action": { "name": "can_read" },
        "resource": { "type": "todo" }
    });
    let answer = searched(&pdp, ACME_ONLY, "resource", &spec);
    assert_eq!(answer["results"], json!([{ "type": "todo", "id": "1", "properties": { "org": "acme" } }]), "{answer}");
    assert_eq!(answer["page"], json!({ "next_token": "", "count": 1, "total": 1 }));
    let spec = json!({
        "subject": { "type": "user", "id": "alice@acmecorp.com" },
        "resource": { "type": "todo", "id": "1" },
        "context": { "time": "2024-10-26T01:22-07:00" }
    });
    let answer = searched(&pdp, ACME_ONLY, "action", &spec);
    assert_eq!(
        answer["results"],
        json!([{ "name": "list" }, { "name": "read" }, { "name": "can_read" }, { "name": "can_read_todos" }]),
        "{answer}"
    );

    // What each may read: a share's id; all of the kind in a scope is one `*`.
    let reads = |client: &str, who: &str, org: &str, project: Option<&str>| {
        let body = json!({
            "subject": { "type": "user", "id": who },
            "action": { "name": "can_read" },
            "resource": todo(org, project, None),
        });
        searched(&pdp, client, "resource", &body)
    };
    let dave = reads(EDGE, "dave", "acme", None);
    assert_eq!(
        dave["results"],
        json!([{ "type": "todo", "id": "t-1", "properties": { "org": "acme", "project": "web" } }])
    );
    assert_eq!(ids(&reads(EDGE, "alice@acmecorp.com", "acme", None)), ["1"]);
    assert_eq!(ids(&reads(EDGE, "alice@acmecorp.com", "acme", Some("web"))), Vec::<String>::new());
    assert_eq!(ids(&reads(EDGE, "dave", "globex", None)), Vec::<String>::new());
    assert_eq!(ids(&reads(ACME_ONLY, "gina", "globex", None)), Vec::<String>::new());
    let gina = reads(EDGE, "gina", "globex", None);
    assert_eq!(
        gina["results"],
        json!([
            { "type": "todo", "id": "*", "properties": { "org": "globex", "match": "every" } },
            { "type": "todo", "id": "*", "properties": { "org": "globex", "project": "web", "match": "every" } },
        ])
    );
    // A service account of acme, by name, is nobody in globex.
    let bot = |org: &str| {
        let body = json!({
            "subject": { "type": "service_account", "id": "bot" },
            "action": { "name": "update" },
            "resource": todo(org, None, None),
        });
        ids(&searched(&pdp, EDGE, "resource", &body))
    };
    assert_eq!((bot("acme"), bot("globex")), (vec!["t-2".to_string()], vec![]));

    // What dave may do on t-1: verbs, then the kind's names for them.
    let actions = |who: &str, org: &str| {
        let body = json!({ "subject": { "type": "user", "id": who }, "resource": todo(org, Some("web"), Some("t-1")) });
        let answer = searched(&pdp, EDGE, "action", &body);
        answer["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(actions("dave", "acme"), ["list", "read", "can_read", "can_read_todos"]);
    assert_eq!(actions("dave", "globex"), Vec::<String>::new());
    assert_eq!(actions("olga", "acme").len(), 8);
}

#[test]
fn search_pages_follow_their_tokens_and_bad_searches_are_400s_naming_the_field() {
    let pdp = start();
    let body = |page: Value| {
        json!({
            "subject": { "type": "user", "id": "olga" },
            "resource": { "type": "todo", "id": "t-1", "properties": { "org": "acme", "project": "web" } },
            "page": page,
        })
    };
    // Olga's eight actions, three a page; `next_token` and its older name `token` both work.
    let mut seen = Vec::new();
    let mut token = json!(null);
    for (n, key) in ["token", "next_token", "token"].iter().enumerate() {
        let answer = searched(&pdp, EDGE, "action", &body(json!({ key.to_string(): token, "limit": 3 })));
        let names: Vec<String> =
            answer["results"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_string()).collect();
        assert_eq!((names.len(), answer["page"]["total"].clone()), (if n < 2 { 3 } else { 2 }, json!(8)), "{answer}");
        seen.extend(names);
        token = answer["page"]["next_token"].clone();
        assert_eq!(token == json!(""), n == 2, "{answer}");
    }
    assert_eq!(seen, ["list", "read", "create", "update", "delete", "can_read", "can_read_todos", "can_update"]);

    let malformed = |what: &str, body: &Value, field: &str| {
        let (status, _, json) =
            pdp.call(Some(EDGE), "POST", &format!("/access/v1/search/{what}"), &body.to_string(), &[]);
        assert_eq!((status, json["field"].clone()), (400, json!(field)), "{body}: {json}");
    };
    malformed("action", &body(json!({ "limit": 0 })), "page.limit");
    malformed("action", &body(json!({ "limit": 5000 })), "page.limit");
    malformed("action", &body(json!({ "limit": "3" })), "page.limit");
    malformed("action", &body(json!({ "token": "not a token" })), "page.token");
    malformed("action", &body(json!(7)), "page");
    let mut with_id = body(json!(null));
    with_id["action"] = json!({ "name": "read" });
    malformed("resource", &with_id, "resource.id");
    let mut no_type = with_id.clone();
    no_type["subject"] = json!({ "id": "olga" });
    malformed("subject", &no_type, "subject.type");
    let acme = json!({ "type": "todo", "properties": { "org": "acme" } });
    malformed("subject", &json!({ "subject": { "type": "user" }, "resource": acme }), "action");
    malformed("action", &json!({ "subject": { "type": "user" }, "resource": acme }), "subject.id");
    malformed(
        "action",
        &json!({ "subject": { "type": "user", "id": "olga" }, "resource": { "type": "todo" } }),
        "resource.properties.org",
    );
    // Searches are authenticated like evaluations.
    let (status, _, _) = pdp.call(Some("stranger"), "POST", "/access/v1/search/subject", "{}", &[]);
    assert_eq!(status, 401);
    let (status, _, meta) = pdp.call(None, "GET", "/.well-known/authzen-configuration", "", &[]);
    assert_eq!(status, 200);
    let base = format!("http://127.0.0.1:{}", pdp.port);
    for what in ["subject", "resource", "action"] {
        assert_eq!(meta[format!("search_{what}_endpoint")], json!(format!("{base}/access/v1/search/{what}")));
    }
}

#[test]
fn the_openapi_document_describes_every_pdp_operation_under_the_pdp_server() {
    let pdp = start();
    let document: Value =
        serde_json::from_str(&std::fs::read_to_string(crate::gateway::root().join("openapi.json")).unwrap()).unwrap();
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap().iter().filter(|(_, i)| i.get("servers").is_some()) {
        assert_eq!(item["servers"][0]["url"], json!("http://{listen}"), "{path}");
        for method in item.as_object().unwrap().keys().filter(|k| *k != "servers") {
            let method = method.to_uppercase();
            let (status, _, answer) = pdp.call(Some(EDGE), &method, path, "{}", &[]);
            assert!(matches!(status, 200 | 400), "{method} {path} is documented but answers {status}: {answer}");
            operations.push(format!("{method} {path}"));
        }
    }
    operations.sort();
    assert_eq!(
        operations,
        [
            "GET /.well-known/authzen-configuration",
            "POST /access/v1/evaluation",
            "POST /access/v1/evaluations",
            "POST /access/v1/search/action",
            "POST /access/v1/search/resource",
            "POST /access/v1/search/subject",
        ]
    );
}
