//! The admin commands of the binary, against a running gateway: the brief's CLI workflow.

use std::process::Command;

use super::Control;
use crate::gateway::token;

fn ok(c: &Control, sub: &str, args: &[&str]) -> serde_json::Value {
    let (code, stdout, stderr) = c.cli(sub, args);
    assert!(code == 0, "portcullis {args:?} as {sub} failed: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn the_briefs_cli_workflow_creates_assigns_shares_lists_revokes_and_transfers() {
    let c = Control::start();
    ok(&c, "root", &["org", "create", "--id", "globex", "--owner", "gina"]);
    for m in ["bob", "dave"] {
        ok(&c, "gina", &["member", "invite", "--org", "globex", m]);
    }
    ok(&c, "gina", &["org", "show", "--org", "globex"]);
    let (code, _, stderr) = c.cli("gina", &["role", "assign", "--role", "shipper", "--subject", "bob"]);
    assert!(code != 0 && stderr.contains("--org"), "{stderr}");
    c.expect("gina", "POST", "/v1/orgs/globex/projects", Some(r#"{"id":"api"}"#), 201);
    ok(
        &c,
        "gina",
        &[
            "role",
            "create",
            "--org",
            "globex",
            "--name",
            "shipper",
            "-p",
            "project:containers:create,update,delete",
            "-p",
            "organisation:registries:read",
        ],
    );
    let rev = ok(
        &c,
        "gina",
        &["role", "assign", "--org", "globex", "--role", "shipper", "--subject", "bob", "--project", "api"],
    );
    let rev = rev["revision"].as_u64().unwrap();
    assert_eq!(c.gateway_status("bob", "DELETE", "/v1/orgs/globex/projects/api/containers/c-9", Some(rev)), 200);

    ok(
        &c,
        "gina",
        &[
            "share",
            "create",
            "--org",
            "globex",
            "--kind",
            "containers",
            "--project",
            "api",
            "--id",
            "c-9",
            "--to",
            "dave",
            "--verbs",
            "read,update",
        ],
    );
    let list = ok(
        &c,
        "gina",
        &["share", "list", "--org", "globex", "--kind", "containers", "--project", "api", "--id", "c-9"],
    );
    assert_eq!(list["shares"][0]["subject"], "dave", "{list}");
    let acl = ok(&c, "dave", &["acl", "list", "--org", "globex", "-s", "containers"]);
    assert_eq!(acl["access"].as_array().unwrap().len(), 1, "{acl}");
    let shared = ok(&c, "gina", &["acl", "list", "--org", "globex", "--shared"]);
    assert_eq!(shared["access"][0]["id"], "c-9", "{shared}");
    let rev = ok(
        &c,
        "gina",
        &[
            "share",
            "revoke",
            "--org",
            "globex",
            "--kind",
            "containers",
            "--project",
            "api",
            "--id",
            "c-9",
            "--subject",
            "dave",
        ],
    );
    let rev = rev["revision"].as_u64().unwrap();
    assert_eq!(c.gateway_status("dave", "GET", "/v1/orgs/globex/projects/api/containers/c-9", Some(rev)), 403);

    // A refusal is the API's message and a failing exit.
    let (code, _, stderr) = c.cli(
        "bob",
        &[
            "share",
            "create",
            "--org",
            "globex",
            "--kind",
            "secrets",
            "--project",
            "api",
            "--id",
            "db",
            "--to",
            "dave",
            "--verbs",
            "read",
        ],
    );
    assert!(code != 0 && stderr.contains("403") && stderr.contains("'bob' needs update on secrets"), "{stderr}");
    let refused = ok(&c, "gina", &["org", "audit", "--org", "globex", "--refused"]);
    let last = refused["refused"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["actor"].as_str(), last["action"].as_str()), (Some("bob"), Some("share.create")), "{refused}");

    ok(&c, "gina", &["transfer", "start", "--org", "globex", "--to", "bob", "--step-down-to", "admin"]);
    ok(&c, "bob", &["transfer", "confirm", "--org", "globex"]);
    ok(&c, "gina", &["transfer", "confirm", "--org", "globex"]);
    let org = ok(&c, "bob", &["org", "show", "--org", "globex"]);
    assert!(org["policy"].as_str().unwrap().contains("owner = \"bob\""), "{org}");
}

/// `portcullis explain` with `[admin]` reads the store as the gateway would, and writes
/// nothing: no migration, no database created where there was none.
#[test]
fn explain_reads_the_store_and_changes_nothing() {
    let c = Control::start();
    ok(&c, "root", &["org", "create", "--id", "globex", "--owner", "gina"]);
    c.expect("gina", "POST", "/v1/orgs/globex/projects", Some(r#"{"id":"web"}"#), 201);
    let config = c.gateway.dir.join("config.toml");
    let explain = |config: &std::path::Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["explain", "--json", "--config"])
            .arg(config)
            .args(["GET", "/v1/orgs/globex/projects/web/containers/c-1"])
            .env("PORTCULLIS_TOKEN", token("gina"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (serde_json::from_str::<serde_json::Value>(&text).ok(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (run, stderr) = explain(&config);
    let run = run.unwrap_or_else(|| panic!("{stderr}"));
    assert_eq!(run["status"], 200, "the stored org is seen: {run}");
    // A config whose store does not exist yet: explained without it, and still not there.
    let text = std::fs::read_to_string(&config).unwrap();
    let empty = crate::scratch("no-store").join("data");
    let start = text.rfind("\ndata_dir = ").unwrap() + 1;
    let end = start + text[start..].find('\n').unwrap();
    let other = c.gateway.dir.join("other.toml");
    std::fs::write(&other, format!("{}data_dir = \"{}\"{}", &text[..start], empty.display(), &text[end..])).unwrap();
    let (run, stderr) = explain(&other);
    let run = run.unwrap_or_else(|| panic!("{stderr}"));
    assert_eq!(run["status"], 403, "no store, no globex: {run}\n{}", std::fs::read_to_string(&other).unwrap());
    assert!(!empty.exists(), "explain created the store's folder");
    assert!(!stderr.contains("store"), "{stderr}");
}

#[test]
fn teams_projects_and_lists_from_the_command_line_with_grants_that_end() {
    let c = Control::start();
    ok(&c, "root", &["org", "create", "--id", "globex", "--owner", "gina"]);
    for m in ["bob", "dave", "erin"] {
        ok(&c, "gina", &["member", "invite", "--org", "globex", m]);
    }
    ok(&c, "gina", &["project", "create", "--org", "globex", "--id", "web", "--restricted"]);
    ok(&c, "gina", &["project", "edit", "--org", "globex", "--id", "web", "--restricted", "false"]);
    let projects = ok(&c, "gina", &["project", "list", "--org", "globex"]);
    assert_eq!(projects["projects"], serde_json::json!([{ "id": "web", "restricted": false }]));
    ok(&c, "gina", &["team", "create", "--org", "globex", "--name", "ops", "--member", "bob"]);
    ok(&c, "gina", &["team", "add", "--org", "globex", "--name", "ops", "--member", "dave,erin"]);
    ok(&c, "gina", &["team", "remove", "--org", "globex", "--name", "ops", "--member", "bob"]);
    let teams = ok(&c, "gina", &["team", "list", "--org", "globex"]);
    assert_eq!(teams["teams"], serde_json::json!([{ "name": "ops", "members": ["dave", "erin"] }]));
    let (code, _, stderr) = c.cli("gina", &["team", "add", "--org", "globex", "--name", "nope", "--member", "bob"]);
    assert!(code != 0 && stderr.contains("there is no team 'nope'"), "{stderr}");
    ok(
        &c,
        "gina",
        &[
            "role",
            "assign",
            "--org",
            "globex",
            "--role",
            "admin",
            "--subject",
            "team:ops",
            "--project",
            "web",
            "--for",
            "2h",
        ],
    );
    let bindings = ok(&c, "gina", &["binding", "list", "--org", "globex", "--project", "web"]);
    let until = bindings["bindings"][0]["expires_at"].as_str().unwrap();
    let secs = portcullis::instant::parse(until).unwrap() - portcullis::instant::now();
    assert!((7_000..=7_200).contains(&secs), "{bindings}");
    let (code, _, stderr) =
        c.cli("gina", &["role", "assign", "--org", "globex", "--role", "admin", "--subject", "bob", "--for", "soon"]);
    assert!(code != 0 && stderr.contains("is not a duration"), "{stderr}");
    let members = ok(&c, "gina", &["member", "list", "--org", "globex", "--limit", "2"]);
    assert_eq!(members["members"].as_array().unwrap().len(), 2);
    assert_eq!(members["next"], "dave", "{members}");
    let roles = ok(&c, "gina", &["role", "list", "--org", "globex"]);
    assert!(roles["roles"].as_array().unwrap().iter().any(|r| r["name"] == "viewer"), "{roles}");
    let orgs = ok(&c, "dave", &["org", "list"]);
    assert!(orgs["orgs"].as_array().unwrap().iter().any(|o| o["id"] == "globex"), "{orgs}");
    ok(&c, "gina", &["project", "delete", "--org", "globex", "--id", "web"]);
    ok(&c, "gina", &["team", "delete", "--org", "globex", "--name", "ops"]);
}
