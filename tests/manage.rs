//! MODEL.md's "Managing access" and "Sharing rules": each change needs its permission, and
//! no one creates, edits or binds a role, or shares, beyond what they hold themselves.

use portcullis::manage::{Change, Refusal, authorize};
use portcullis::model::{Verb, VerbSet};
use portcullis::policy::{Permission, compile_text, parse_permission};
use portcullis::{Caller, Snapshot};

const POLICY: &str = r#"
[[kind]]
name = "containers"
levels = ["project"]

[[org]]
id = "acme"
owner = "alice"
members = ["alice", "mia", "nora", "dave", "erin"]
teams = { ops = ["nora"] }
projects = [{ id = "web" }, { id = "api" }, { id = "payments", restricted = true }]

[[org.role]]
name = "role-manager"
permissions = ["organisation:roles:create,update,delete", "organisation:members:update", "project:containers:read"]

[[org.binding]]
subject = "mia"
role = "role-manager"

[[org.binding]]
subject = "mia"
role = "admin"
project = "web"

[[org.binding]]
subject = "all"
role = "viewer"

[[org.share]]
subject = "dave"
kind = "containers"
project = "web"
id = "c-42"
verbs = ["read", "update"]
granted_by = "alice"
"#;

fn snapshot() -> Snapshot {
    compile_text("acme.toml", POLICY).unwrap()
}

fn perms(entries: &[&str]) -> Vec<Permission> {
    entries.iter().map(|e| parse_permission(e).unwrap()).collect()
}

fn missing(r: Result<(), Refusal>) -> String {
    match r {
        Err(Refusal::Missing { needed, .. }) => needed.to_string(),
        other => panic!("expected a missing permission, got {other:?}"),
    }
}

#[test]
fn roles_grant_no_more_than_their_author_holds_where_they_apply() {
    let s = snapshot();
    let read = perms(&["project:containers:read"]);
    let delete = perms(&["project:containers:delete"]);
    assert_eq!(authorize(&s, "acme", Caller::User("mia"), &Change::CreateRole { permissions: &read }), Ok(()));
    // mia may delete containers in web (admin there) but not in api: an org-wide role would
    // apply in both (and not in the restricted payments, where org roles do not reach).
    let r = authorize(&s, "acme", Caller::User("mia"), &Change::CreateRole { permissions: &delete });
    assert_eq!(missing(r), "delete on containers in project 'api'");
    let r = authorize(&s, "acme", Caller::User("mia"), &Change::UpdateRole { role: "x", permissions: &delete });
    assert_eq!(missing(r), "delete on containers in project 'api'");
    // The owner holds everything.
    assert_eq!(authorize(&s, "acme", Caller::User("alice"), &Change::CreateRole { permissions: &delete }), Ok(()));
    // Creating a role at all needs `create` on roles.
    let r = authorize(&s, "acme", Caller::User("nora"), &Change::CreateRole { permissions: &read });
    assert_eq!(missing(r), "create on roles");
}

#[test]
fn a_binding_grants_no_more_than_the_binder_holds_in_its_scope() {
    let s = snapshot();
    let delete = perms(&["project:containers:delete"]);
    let bind = |subject, project, permissions: &[Permission]| {
        authorize(&s, "acme", Caller::User("mia"), &Change::Bind { subject, project, permissions })
    };
    assert_eq!(bind("nora", Some("web"), &delete), Ok(()));
    assert_eq!(missing(bind("nora", Some("payments"), &delete)), "delete on containers in project 'payments'");
    assert_eq!(missing(bind("nora", None, &delete)), "delete on containers in project 'api'");
    assert_eq!(bind("team:ops", Some("web"), &delete), Ok(()));
    // Binding needs `update` on members.
    let r = authorize(
        &s,
        "acme",
        Caller::User("dave"),
        &Change::Bind { subject: "nora", project: Some("web"), permissions: &[] },
    );
    assert_eq!(missing(r), "update on members 'nora'");
}

#[test]
fn the_owner_is_never_removed_or_bound() {
    let s = snapshot();
    for change in [
        Change::RemoveMember { member: "alice" },
        Change::Bind { subject: "alice", project: None, permissions: &[] },
        Change::Unbind { subject: "alice", project: Some("web") },
    ] {
        let r = authorize(&s, "acme", Caller::User("alice"), &change);
        assert!(matches!(r, Err(Refusal::Owner { .. })), "{change:?}: {r:?}");
    }
    assert_eq!(authorize(&s, "acme", Caller::User("alice"), &Change::RemoveMember { member: "nora" }), Ok(()));
    assert_eq!(authorize(&s, "acme", Caller::User("alice"), &Change::StartTransfer), Ok(()));
    // A non-owner is told that only the owner can, not which permission it lacks.
    let refused = authorize(&s, "acme", Caller::User("mia"), &Change::StartTransfer).unwrap_err();
    assert!(matches!(refused, Refusal::NotOwner { .. }), "{refused:?}");
    assert!(refused.to_string().contains("only the owner of 'acme' ('alice') can start a transfer"), "{refused}");
}

#[test]
fn a_share_needs_update_on_the_resource_and_gives_only_verbs_its_giver_holds() {
    let s = snapshot();
    let read = VerbSet::of(Verb::Read);
    let read_delete = VerbSet::of(Verb::Read).union(VerbSet::of(Verb::Delete));
    let share = |subject, id, verbs| {
        authorize(
            &s,
            "acme",
            Caller::User("dave"),
            &Change::Share { subject, kind: "containers", project: Some("web"), id, verbs },
        )
    };
    assert_eq!(share("erin", "c-42", read), Ok(()));
    assert_eq!(share("team:ops", "c-42", read), Ok(()));
    assert_eq!(missing(share("erin", "c-42", read_delete)), "delete on containers 'c-42' in project 'web'");
    assert_eq!(missing(share("erin", "c-43", read)), "update on containers 'c-43' in project 'web'");
    assert!(matches!(share("zed", "c-42", read), Err(Refusal::NotAMember { .. })));
    assert!(matches!(share("team:nobody", "c-42", read), Err(Refusal::NotAMember { .. })));
    let r = authorize(
        &s,
        "acme",
        Caller::User("dave"),
        &Change::RevokeShare { kind: "containers", project: Some("web"), id: "c-9" },
    );
    assert_eq!(missing(r), "update on containers 'c-9' in project 'web'");
    assert!(matches!(
        authorize(&s, "nope", Caller::User("dave"), &Change::InviteMember),
        Err(Refusal::UnknownOrg { .. })
    ));
}
