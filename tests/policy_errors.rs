//! What a user sees when a policy is wrong: every problem, located, with the fix.

use portcullis::policy::{self, FileMode, PolicyErrors, SourceText};

fn errors_of(files: &[(&str, &str)]) -> PolicyErrors {
    let files: Vec<SourceText> =
        files.iter().map(|(p, t)| SourceText { path: (*p).into(), text: (*t).to_string() }).collect();
    match policy::compile_files(&files) {
        Ok(_) => panic!("expected the policy to be rejected"),
        Err(e) => e,
    }
}

const KINDS: &str = r#"
[[kind]]
name = "containers"
levels = ["project"]

[[kind]]
name = "storage"
levels = ["project"]
hierarchical = true
"#;

#[test]
fn every_problem_in_every_file_is_reported_at_once_in_order() {
    let org = r#"
[[org]]
id = "acme"
owner = "olga"
members = ["olga", "bob"]
projects = [{ id = "web" }]

[[org.binding]]
subject = "bobb"
role = "viewer"

[[org.share]]
subject = "bob"
kind = "containerz"
project = "web"
id = "c1"
verbs = ["read"]
"#;
    let roles = r#"
[[role]]
name = "r"
permissions = ["project:containers:read,exec"]
"#;
    let e = errors_of(&[("00-kinds.toml", KINDS), ("10-acme.toml", org), ("20-roles.toml", roles)]);
    let lines: Vec<String> = e.0.iter().map(|e| e.to_string()).collect();
    assert_eq!(lines.len(), 3, "{e}");
    assert!(lines[0].starts_with("10-acme.toml:9:11: 'bobb' is not a member"), "{}", lines[0]);
    assert!(lines[0].contains("did you mean 'bob'?"), "{}", lines[0]);
    assert!(lines[1].starts_with("10-acme.toml:14:8: unknown kind 'containerz'"), "{}", lines[1]);
    assert!(lines[1].contains("did you mean 'containers'?"), "{}", lines[1]);
    assert!(lines[2].starts_with("20-roles.toml:4:16: unknown verb 'exec'"), "{}", lines[2]);
}

#[test]
fn wrong_types_and_missing_keys_name_the_key() {
    let text = r#"
[[kind]]
name = "containers"
levels = "project"

[[org]]
id = "acme"
members = ["olga"]
"#;
    let e = errors_of(&[("p.toml", text)]).to_string();
    assert!(e.contains("p.toml:4:10: 'levels' in [[kind]] must be an array of strings, found a string"), "{e}");
    assert!(e.contains("missing key 'owner' in [[org]]"), "{e}");
}

#[test]
fn a_kind_declared_in_two_files_points_at_both() {
    let e = errors_of(&[("a.toml", KINDS), ("b.toml", KINDS)]).to_string();
    assert!(e.contains("b.toml:3:8: kind 'containers' is declared twice (first at a.toml:3:8)"), "{e}");
}

#[test]
fn shares_say_which_level_the_kind_exists_at() {
    let text = format!(
        "{KINDS}\n{}",
        r#"
[[org]]
id = "acme"
owner = "olga"
members = ["olga", "bob"]

[[org.share]]
subject = "bob"
kind = "containers"
id = "c1"
level = "read"
"#
    );
    let e = errors_of(&[("p.toml", &text)]).to_string();
    assert!(e.contains("does not exist at organisation level"), "{e}");
    assert!(e.contains("add `project = \"...\"`"), "{e}");
}

#[test]
fn nothing_grants_ownership() {
    let text = r#"
[[role]]
name = "usurper"
permissions = ["organisation:ownership:update"]
"#;
    let e = errors_of(&[("p.toml", text)]).to_string();
    assert!(e.contains("nothing can grant 'ownership'"), "{e}");
}

#[test]
fn malformed_share_paths_are_rejected() {
    for bad in ["/datasets/../x", "datasets", "/a//b", "/a/./b"] {
        let text = format!(
            "{KINDS}\n[[org]]\nid = \"acme\"\nowner = \"olga\"\nmembers = [\"olga\", \"bob\"]\nprojects = [{{ id = \"ml\" }}]\n\n[[org.share]]\nsubject = \"bob\"\nkind = \"storage\"\nproject = \"ml\"\nid = \"{bad}\"\nlevel = \"read\"\n"
        );
        let e = errors_of(&[("p.toml", &text)]).to_string();
        assert!(e.contains(&format!("invalid id '{bad}'")), "{bad}: {e}");
    }
}

#[test]
fn checks_do_not_belong_in_a_policies_folder() {
    let text = "[[check]]\nprincipal = \"a\"\norg = \"b\"\nkind = \"c\"\nverb = \"read\"\nexpect = \"allow\"\n";
    let e = errors_of(&[("p.toml", text)]).to_string();
    assert!(e.contains("[[check]] tables belong in conformance case files"), "{e}");
}

#[test]
fn a_toml_syntax_error_is_located() {
    let e = errors_of(&[("p.toml", "[[kind]]\nname = \"x\nlevels = []\n")]).to_string();
    assert!(e.contains("p.toml:2:"), "{e}");
    assert!(e.contains("TOML syntax error"), "{e}");
}

#[test]
fn a_valid_set_parses_in_case_mode_with_its_checks() {
    let text = format!(
        "{KINDS}\n[[org]]\nid = \"a\"\nowner = \"o\"\nmembers = [\"o\"]\n\n[[check]]\nprincipal = \"o\"\norg = \"a\"\nkind = \"billing\"\nverb = \"read\"\nexpect = \"allow\"\n"
    );
    let (set, checks) = policy::parse(&[SourceText { path: "c.toml".into(), text }], FileMode::Case).unwrap();
    assert_eq!(checks.len(), 1);
    assert_eq!(set.orgs.len(), 1);
}
