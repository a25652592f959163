//! GitOps for store-owned orgs: `portcullis org export` then `org apply [--dry-run]`, the
//! write errors of the API in the request's terms, and `portcullis check` against the
//! store as the gateway decides.

use std::process::Command;

use super::{Control, revision};

/// globex: owner gina, members bob and dave, project web, role releaser bound to bob in
/// web, container c-1 shared with dave.
fn globex(c: &Control) {
    c.expect("root", "POST", "/v1/orgs", Some(r#"{"id":"globex","owner":"gina"}"#), 201);
    for m in ["bob", "dave"] {
        c.expect("gina", "POST", "/v1/orgs/globex/members", Some(&format!(r#"{{"id":"{m}"}}"#)), 201);
    }
    c.expect("gina", "POST", "/v1/orgs/globex/projects", Some(r#"{"id":"web"}"#), 201);
    let role = r#"{"name":"releaser","permissions":["project:containers:create,update,delete"]}"#;
    c.expect("gina", "POST", "/v1/orgs/globex/roles", Some(role), 201);
    let bind = r#"{"subject":"bob","role":"releaser","project":"web"}"#;
    c.expect("gina", "POST", "/v1/orgs/globex/bindings", Some(bind), 201);
    let share = r#"{"subject":"dave","kind":"containers","project":"web","id":"c-1","verbs":["read"]}"#;
    c.expect("gina", "POST", "/v1/orgs/globex/shares", Some(share), 201);
}

fn stored_revision(c: &Control) -> u64 {
    revision(&c.expect("gina", "GET", "/v1/orgs/globex", None, 200))
}

fn audit_len(c: &Control) -> usize {
    c.expect("gina", "GET", "/v1/orgs/globex/audit?limit=1000", None, 200)["entries"].as_array().unwrap().len()
}

const CREATE: &str = "/v1/orgs/globex/projects/web/containers";

#[test]
fn an_exported_org_applies_as_an_empty_plan_and_an_edited_file_as_one_write() {
    let c = Control::start();
    globex(&c);
    let dir = crate::scratch("gitops");
    let file = dir.join("globex.toml");
    let (code, exported, stderr) = c.cli("gina", &["org", "export", "globex"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(exported.starts_with("[[org]]\nid = \"globex\""), "{exported}");
    std::fs::write(&file, &exported).unwrap();
    let (before, entries) = (stored_revision(&c), audit_len(&c));
    let (code, out, stderr) = c.cli("gina", &["org", "apply", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(out.trim(), format!("no changes: the org is as the file says (revision {before})"));
    assert_eq!((stored_revision(&c), audit_len(&c)), (before, entries), "an empty plan wrote something");

    // frank joins and is bound as releaser in web; dave's share goes.
    let share = exported.find("[[org.share]]").unwrap();
    let end = exported[share..].find("\n\n").map_or(exported.len(), |i| share + i + 2);
    let edited =
        format!("{}{}", &exported[..share], &exported[end..]).replacen("members = [", "members = [\"frank\", ", 1)
            + "\n[[org.binding]]\nsubject = \"frank\"\nrole = \"releaser\"\nproject = \"web\"\n";
    std::fs::write(&file, &edited).unwrap();
    let (code, out, stderr) = c.cli("gina", &["org", "apply", file.to_str().unwrap(), "--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "- share containers c-1 in project web to dave: list,read",
            "+ member frank",
            "+ binding frank as releaser in project web",
        ],
        "{out}"
    );
    assert!(lines[3].starts_with("dry run: 3 changes"), "{out}");
    assert_eq!((stored_revision(&c), audit_len(&c)), (before, entries), "a dry run wrote something");
    assert_eq!(c.gateway_status("frank", "POST", CREATE, None), 403);

    let (code, out, stderr) = c.cli("gina", &["org", "apply", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let rev = before + 1;
    assert!(out.ends_with(&format!("applied 3 changes: revision {rev}\n")), "{out}");
    assert_eq!(c.gateway_status("frank", "POST", CREATE, Some(rev)), 200, "frank's binding is enforced");
    assert_eq!(c.gateway_status("dave", "GET", &format!("{CREATE}/c-1"), Some(rev)), 403, "dave's share is gone");
    let audit = c.expect("gina", "GET", "/v1/orgs/globex/audit?limit=1000", None, 200);
    let last = audit["entries"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["action"].as_str(), last["revision"].as_u64()), (Some("org.apply"), Some(rev)), "{last}");
    assert_eq!(audit_len(&c), entries + 1, "one write, one audit entry");

    // What was applied exports as what applies to nothing.
    let (_, again, _) = c.cli("gina", &["org", "export", "--org", "globex"]);
    std::fs::write(&file, &again).unwrap();
    let (code, out, _) = c.cli("gina", &["org", "apply", file.to_str().unwrap()]);
    assert_eq!((code, out.trim()), (0, format!("no changes: the org is as the file says (revision {rev})").as_str()));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn apply_refuses_escalation_and_what_a_file_cannot_say_and_writes_nothing() {
    let c = Control::start();
    globex(&c);
    // bob may manage members (invite, bind), but holds nothing of `admin`.
    let people = r#"{"name":"people","permissions":["organisation:members:create,update,delete"]}"#;
    c.expect("gina", "POST", "/v1/orgs/globex/roles", Some(people), 201);
    c.expect("gina", "POST", "/v1/orgs/globex/bindings", Some(r#"{"subject":"bob","role":"people"}"#), 201);
    let exported = c.expect("gina", "GET", "/v1/orgs/globex", None, 200)["policy"].as_str().unwrap().to_string();
    let (before, entries) = (stored_revision(&c), audit_len(&c));
    let apply = |who: &str, org: &str, policy: &str| {
        let body = serde_json::json!({ "policy": policy, "file": "globex.toml" }).to_string();
        c.call(who, "POST", &format!("/v1/orgs/{org}/apply"), Some(&body))
    };
    let unchanged = |what: &str| {
        assert_eq!((stored_revision(&c), audit_len(&c)), (before, entries), "{what} wrote something");
    };

    // Inviting frank alone is within bob's rights; with himself made admin it is not, and
    // frank is not invited either.
    let invite = exported.replacen("members = [", "members = [\"frank\", ", 1);
    let (status, answer) =
        apply("bob", "globex", &format!("{invite}\n[[org.binding]]\nsubject = \"bob\"\nrole = \"admin\"\n"));
    assert_eq!(status, 403, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(error.contains("'+ binding bob as admin'") && error.contains("nothing was written"), "{error}");
    unchanged("a refused apply");
    let refused = c.expect("gina", "GET", "/v1/orgs/globex/audit/refused", None, 200);
    let refused = refused["refused"].as_array().unwrap().clone();
    assert!(refused.iter().any(|r| r["action"] == "org.apply" && r["actor"] == "bob"), "{refused:?}");
    let (status, answer) = apply("bob", "globex", &invite);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["written"], true, "{answer}");
    let (before, entries) = (stored_revision(&c), audit_len(&c));
    let unchanged = |what: &str| {
        assert_eq!((stored_revision(&c), audit_len(&c)), (before, entries), "{what} wrote something");
    };

    // The owner moves only by transfer.
    let (status, answer) = apply("gina", "globex", &invite.replacen("owner = \"gina\"", "owner = \"bob\"", 1));
    assert_eq!(status, 422, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("transfer"), "{answer}");
    // A problem in the file is named by the file's own line and column.
    let typo = invite.replacen("kind = \"containers\"", "kind = \"container\"", 1);
    let line = typo.lines().position(|l| l == "kind = \"container\"").unwrap() + 1;
    let (status, answer) = apply("gina", "globex", &typo);
    assert_eq!(status, 422, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(error.contains(&format!("globex.toml:{line}:")) && error.contains("unknown kind 'container'"), "{error}");
    unchanged("a refused file");

    // Two orgs: a file of one org applied to the other, and an outsider applying the
    // other's own file, change nothing.
    let (initech, ivan) = ("initech", "ivan");
    c.expect("root", "POST", "/v1/orgs", Some(r#"{"id":"initech","owner":"ivan"}"#), 201);
    c.expect(ivan, "POST", "/v1/orgs/initech/members", Some(r#"{"id":"bob"}"#), 201);
    let (status, answer) =
        apply("gina", "globex", &format!("[[org]]\nid = \"{initech}\"\nowner = \"{ivan}\"\nmembers = [\"{ivan}\"]\n"));
    assert_eq!(status, 422, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("declares org 'initech'"), "{answer}");
    let (status, answer) = apply(ivan, "globex", &invite.replacen("members = [", "members = [\"ivan\", ", 1));
    assert_eq!(status, 403, "{answer}");
    unchanged("another org's attempt");
}

#[test]
fn a_write_error_names_the_request_field_not_the_stored_toml() {
    let c = Control::start();
    globex(&c);
    let cases = [
        (
            "/v1/orgs/globex/shares",
            r#"{"subject":"dave","kind":"container","project":"web","id":"c-2","verbs":["read"]}"#,
            "kind",
            "unknown kind 'container'",
        ),
        (
            "/v1/orgs/globex/roles",
            r#"{"name":"r","permissions":["project:container:read"]}"#,
            "permissions",
            "unknown kind 'container'",
        ),
        ("/v1/orgs/globex/teams", r#"{"name":"ops","members":["nobody"]}"#, "members", "nobody"),
        (
            "/v1/orgs/globex/shares",
            r#"{"subject":"dave","kind":"containers","project":"nope","id":"c-2","verbs":["read"]}"#,
            "project",
            "nope",
        ),
    ];
    for (path, body, field, says) in cases {
        let (status, answer) = c.call("gina", "POST", path, Some(body));
        assert_eq!(status, 422, "{body}: {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(!error.contains("store:"), "{body}: quotes the stored text: {error}");
        assert!(error.contains(&format!("'{field}': ")) && error.contains(says), "{body}: {error}");
        assert_eq!(answer["problems"][0]["field"], field, "{answer}");
    }
}

#[test]
fn check_decides_against_the_store_as_the_gateway_does_and_exits_by_the_answer() {
    let c = Control::start();
    globex(&c);
    let config = c.gateway.dir.join("config.toml");
    let check = |id: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["check", "--config", config.to_str().unwrap(), "--principal", "dave", "--org", "globex"])
            .args(["--project", "web", "--kind", "containers", "--id", id, "--verb", "read"])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = check("c-1");
    assert_eq!(code, Some(0), "dave's share on c-1 allows: {out}{err}");
    assert!(out.contains("allow"), "{out}");
    let (code, out, err) = check("c-2");
    assert_eq!(code, Some(1), "nothing gives dave c-2: {out}{err}");
    assert!(out.contains("deny"), "{out}");
    // The policies folder alone does not know globex.
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["check", "--policies", crate::gateway::root().join("policies").to_str().unwrap()])
        .args(["--principal", "dave", "--org", "globex", "--project", "web", "--kind", "containers", "--id", "c-1"])
        .args(["--verb", "read"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}
