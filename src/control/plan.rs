//! `portcullis org apply`: what turns an org as stored into the org a file declares, as the
//! sequence of the API's own single changes ([`Edit`]s).
//!
//! Applying a file is then exactly the individual changes made one after another, each
//! authorised against the org as the changes before it left it: the same rules and the
//! same "no escalation" as the API and CLI, with no second set of rules to keep in step.
//! Removals come first (shares and bindings before the roles, projects, teams and members
//! they name), then additions and changes (members before the teams holding them,
//! projects and roles before the bindings and shares in them).
//!
//! Creator records are the gateway's to keep (they say who created what, through it): a
//! plan leaves them as stored, whatever the file says. Who gave a share is recorded as
//! who applies it; `granted_by` and `granted_at` in the file are not compared.

use std::collections::BTreeSet;

use crate::edit::Edit;
use crate::policy::{BindingDecl, OrgDecl, ShareDecl, render_permission};

/// What one step does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Add,
    Change,
    Remove,
}

impl Op {
    fn sign(self) -> char {
        match self {
            Op::Add => '+',
            Op::Change => '~',
            Op::Remove => '-',
        }
    }
}

/// One change of a plan: what it is, in words, and the edit that makes it.
#[derive(Clone, Debug)]
pub struct Step {
    pub op: Op,
    /// `member`, `service_account`, `team`, `project`, `role`, `binding`, `share`.
    pub what: &'static str,
    /// The thing changed and how, e.g. `ops: bob, frank`.
    pub name: String,
    pub edit: Edit,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.op.sign(), self.what, self.name)
    }
}

/// Why a file cannot be applied to an org at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("the file declares org '{file}', not '{org}': apply it to '{file}', or change its `id`")]
    OtherOrg { org: String, file: String },
    #[error(
        "the file names '{file}' as owner, but '{owner}' owns org '{org}': ownership moves only by a transfer \
         (`portcullis transfer start`); keep `owner = \"{owner}\"`"
    )]
    Owner { org: String, owner: String, file: String },
    #[error("`expires_at` of the {what} {name} is not in the future: give a later instant, or leave the grant out")]
    Ended { what: &'static str, name: String },
    #[error("'{id}' is both a member and a service account in the file: an id is one or the other")]
    Both { id: String },
}

/// The steps that turn `before` into `after`, made by member `actor` at `now` (seconds
/// since the epoch). An empty plan means the file says what is stored.
pub fn plan(before: &OrgDecl, after: &OrgDecl, actor: &str, now: i64) -> Result<Vec<Step>, PlanError> {
    let org = before.id.as_str();
    if after.id.as_str() != org {
        return Err(PlanError::OtherOrg { org: org.into(), file: after.id.value.clone() });
    }
    if after.owner.as_str() != before.owner.as_str() {
        return Err(PlanError::Owner {
            org: org.into(),
            owner: before.owner.value.clone(),
            file: after.owner.value.clone(),
        });
    }
    if let Some(id) = after.members.iter().find(|m| after.service_accounts.iter().any(|s| s.as_str() == m.as_str())) {
        return Err(PlanError::Both { id: id.value.clone() });
    }
    let mut steps = Vec::new();
    removals(before, after, &mut steps);
    additions(before, after, actor, now, &mut steps)?;
    Ok(steps)
}

fn removals(before: &OrgDecl, after: &OrgDecl, steps: &mut Vec<Step>) {
    for sh in before.shares.iter().filter(|sh| !after.shares.iter().any(|a| same_share(a, sh))) {
        let edit = Edit::RevokeShare {
            subject: sh.subject.value.clone(),
            kind: sh.kind.value.clone(),
            project: sh.project.as_ref().map(|p| p.value.clone()),
            id: sh.id.value.clone(),
        };
        steps.push(Step { op: Op::Remove, what: "share", name: share_name(sh), edit });
    }
    for b in &before.bindings {
        // A permanent binding the file gives an end is unbound here and bound again below.
        let kept = after.bindings.iter().find(|a| same_binding(a, b));
        if kept.is_none_or(|a| b.expires_at.is_none() && a.expires_at.is_some()) {
            steps.push(Step { op: Op::Remove, what: "binding", name: binding_name(b), edit: unbind(b) });
        }
    }
    for r in before.roles.iter().filter(|r| !after.roles.iter().any(|a| a.name.as_str() == r.name.as_str())) {
        steps.push(Step {
            op: Op::Remove,
            what: "role",
            name: r.name.value.clone(),
            edit: Edit::DeleteRole { name: r.name.value.clone() },
        });
    }
    for p in before.projects.iter().filter(|p| !after.projects.iter().any(|a| a.id.as_str() == p.id.as_str())) {
        let edit = Edit::DeleteProject { id: p.id.value.clone() };
        steps.push(Step { op: Op::Remove, what: "project", name: p.id.value.clone(), edit });
    }
    for t in before.teams.iter().filter(|t| !after.teams.iter().any(|a| a.name.as_str() == t.name.as_str())) {
        let edit = Edit::DeleteTeam { name: t.name.value.clone() };
        steps.push(Step { op: Op::Remove, what: "team", name: t.name.value.clone(), edit });
    }
    for (what, ids, kept) in [
        ("member", &before.members, &after.members),
        ("service_account", &before.service_accounts, &after.service_accounts),
    ] {
        for m in ids.iter().filter(|m| !kept.iter().any(|k| k.as_str() == m.as_str())) {
            steps.push(Step {
                op: Op::Remove,
                what,
                name: m.value.clone(),
                edit: Edit::RemoveMember { id: m.value.clone() },
            });
        }
    }
}

fn additions(before: &OrgDecl, after: &OrgDecl, actor: &str, now: i64, steps: &mut Vec<Step>) -> Result<(), PlanError> {
    for m in after.members.iter().filter(|m| !before.members.iter().any(|b| b.as_str() == m.as_str())) {
        steps.push(Step {
            op: Op::Add,
            what: "member",
            name: m.value.clone(),
            edit: Edit::InviteMember { id: m.value.clone() },
        });
    }
    for m in after.service_accounts.iter().filter(|m| !before.service_accounts.iter().any(|b| b.as_str() == m.as_str()))
    {
        let edit = Edit::CreateServiceAccount { id: m.value.clone() };
        steps.push(Step { op: Op::Add, what: "service_account", name: m.value.clone(), edit });
    }
    for t in &after.teams {
        let members: Vec<String> = t.members.iter().map(|m| m.value.clone()).collect();
        let name =
            format!("{}: {}", t.name.value, if members.is_empty() { "no members".into() } else { members.join(", ") });
        match before.teams.iter().find(|b| b.name.as_str() == t.name.as_str()) {
            None => steps.push(Step {
                op: Op::Add,
                what: "team",
                name,
                edit: Edit::CreateTeam { name: t.name.value.clone(), members },
            }),
            Some(b) if set(b.members.iter().map(|m| m.as_str())) != set(members.iter().map(String::as_str)) => {
                steps.push(Step {
                    op: Op::Change,
                    what: "team",
                    name,
                    edit: Edit::UpdateTeam { name: t.name.value.clone(), members },
                });
            }
            Some(_) => {}
        }
    }
    for p in &after.projects {
        let id = p.id.value.clone();
        let name = if p.restricted { format!("{id} (restricted)") } else { id.clone() };
        match before.projects.iter().find(|b| b.id.as_str() == p.id.as_str()) {
            None => steps.push(Step {
                op: Op::Add,
                what: "project",
                name,
                edit: Edit::CreateProject { id, restricted: p.restricted },
            }),
            Some(b) if b.restricted != p.restricted => steps.push(Step {
                op: Op::Change,
                what: "project",
                name: format!("{id}: restricted = {}", p.restricted),
                edit: Edit::UpdateProject { id, restricted: p.restricted },
            }),
            Some(_) => {}
        }
    }
    for r in &after.roles {
        let permissions: Vec<_> = r.permissions.iter().map(|p| p.value.clone()).collect();
        let rendered: Vec<String> = permissions.iter().map(render_permission).collect();
        let name = format!("{}: {}", r.name.value, rendered.join(" "));
        let role = r.name.value.clone();
        match before.roles.iter().find(|b| b.name.as_str() == r.name.as_str()) {
            None => {
                steps.push(Step { op: Op::Add, what: "role", name, edit: Edit::CreateRole { name: role, permissions } })
            }
            Some(b)
                if set(b.permissions.iter().map(|p| render_permission(&p.value))) != set(rendered.iter().cloned()) =>
            {
                steps.push(Step {
                    op: Op::Change,
                    what: "role",
                    name,
                    edit: Edit::UpdateRole { name: role, permissions },
                });
            }
            Some(_) => {}
        }
    }
    for b in &after.bindings {
        let was = before.bindings.iter().find(|a| same_binding(a, b));
        let op = match was {
            None => Op::Add,
            // Unbound above: bound again with its end.
            Some(w) if w.expires_at.is_none() && b.expires_at.is_some() => Op::Add,
            Some(w) if w.expires_at.as_ref().map(|e| e.value) != b.expires_at.as_ref().map(|e| e.value) => Op::Change,
            Some(_) => continue,
        };
        let expires_at = b.expires_at.as_ref().map(|e| e.value);
        if expires_at.is_some_and(|e| e <= now) {
            return Err(PlanError::Ended { what: "binding", name: binding_name(b) });
        }
        let edit = Edit::Bind {
            subject: b.subject.value.clone(),
            role: b.role.value.clone(),
            project: b.project.as_ref().map(|p| p.value.clone()),
            expires_at,
        };
        steps.push(Step { op, what: "binding", name: binding_name(b), edit });
    }
    for sh in &after.shares {
        let expires_at = sh.expires_at.as_ref().map(|e| e.value);
        let op = match before.shares.iter().find(|b| same_share(b, sh)) {
            None => Op::Add,
            Some(b) if b.verbs != sh.verbs || b.expires_at.as_ref().map(|e| e.value) != expires_at => Op::Change,
            Some(_) => continue,
        };
        if expires_at.is_some_and(|e| e <= now) {
            return Err(PlanError::Ended { what: "share", name: share_name(sh) });
        }
        let edit = Edit::Share {
            subject: sh.subject.value.clone(),
            kind: sh.kind.value.clone(),
            project: sh.project.as_ref().map(|p| p.value.clone()),
            id: sh.id.value.clone(),
            verbs: sh.verbs,
            granted_by: actor.into(),
            granted_at: now,
            expires_at,
        };
        steps.push(Step { op, what: "share", name: share_name(sh), edit });
    }
    Ok(())
}

fn set<T: Ord>(items: impl Iterator<Item = T>) -> BTreeSet<T> {
    items.collect()
}

fn project_of(p: Option<&crate::policy::Located<String>>) -> Option<&str> {
    p.map(|p| p.as_str())
}

fn same_binding(a: &BindingDecl, b: &BindingDecl) -> bool {
    a.subject.as_str() == b.subject.as_str()
        && a.role.as_str() == b.role.as_str()
        && project_of(a.project.as_ref()) == project_of(b.project.as_ref())
}

fn same_share(a: &ShareDecl, b: &ShareDecl) -> bool {
    a.subject.as_str() == b.subject.as_str()
        && a.kind.as_str() == b.kind.as_str()
        && a.id.as_str() == b.id.as_str()
        && project_of(a.project.as_ref()) == project_of(b.project.as_ref())
}

fn unbind(b: &BindingDecl) -> Edit {
    Edit::Unbind {
        subject: b.subject.value.clone(),
        role: b.role.value.clone(),
        project: b.project.as_ref().map(|p| p.value.clone()),
    }
}

fn until(at: Option<&crate::policy::Located<i64>>) -> String {
    at.map_or_else(String::new, |e| format!(" until {}", crate::instant::render(e.value)))
}

fn binding_name(b: &BindingDecl) -> String {
    let scope = b.project.as_ref().map_or_else(String::new, |p| format!(" in project {}", p.value));
    format!("{} as {}{scope}{}", b.subject.value, b.role.value, until(b.expires_at.as_ref()))
}

fn share_name(sh: &ShareDecl) -> String {
    let scope = sh.project.as_ref().map_or_else(String::new, |p| format!(" in project {}", p.value));
    let verbs: Vec<&str> = sh.verbs.iter().map(crate::model::Verb::name).collect();
    format!(
        "{} {}{scope} to {}: {}{}",
        sh.kind.value,
        sh.id.value,
        sh.subject.value,
        verbs.join(","),
        until(sh.expires_at.as_ref())
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic, reason = "tests")]
mod tests {
    use super::*;
    use crate::policy::{FileMode, SourceText, parse, render_org};

    fn org(text: &str) -> OrgDecl {
        let source = SourceText { path: "t.toml".into(), text: text.into() };
        let (set, _) = parse(&[source], FileMode::Policy).unwrap();
        set.orgs[0].clone()
    }

    const BASE: &str = r#"
[[org]]
id = "globex"
owner = "gina"
members = ["gina", "bob", "dave"]
service_accounts = ["ci"]
teams = { ops = ["bob", "ci"] }
projects = [{ id = "web" }]

[[org.role]]
name = "releaser"
permissions = ["project:containers:create,update", "organisation:registries:read"]

[[org.binding]]
subject = "bob"
role = "releaser"
project = "web"

[[org.share]]
subject = "dave"
kind = "containers"
project = "web"
id = "c-1"
verbs = ["read"]
granted_by = "gina"
"#;

    fn lines(steps: &[Step]) -> Vec<String> {
        steps.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn an_org_rendered_and_read_back_needs_no_change() {
        let before = org(BASE);
        assert!(plan(&before, &org(&render_org(&before)), "gina", 0).unwrap().is_empty());
        // Order of members and permissions, and who gave a share, are not changes.
        let shuffled = BASE
            .replace(r#"["gina", "bob", "dave"]"#, r#"["dave", "gina", "bob"]"#)
            .replace(r#"granted_by = "gina""#, "");
        assert!(plan(&before, &org(&shuffled), "gina", 0).unwrap().is_empty());
    }

    #[test]
    fn removals_come_before_what_they_name_and_additions_after_what_they_need() {
        let after = BASE
            .replace(r#"members = ["gina", "bob", "dave"]"#, r#"members = ["gina", "bob", "frank"]"#)
            .replace(r#"teams = { ops = ["bob", "ci"] }"#, r#"teams = { ops = ["bob", "frank"] }"#)
            .replace(
                r#"projects = [{ id = "web" }]"#,
                r#"projects = [{ id = "web", restricted = true }, { id = "api" }]"#,
            )
            .replace("organisation:registries:read\"]", "organisation:registries:read\", \"project:secrets:read\"]")
            .replace("[[org.share]]\nsubject = \"dave\"", "[[org.share]]\nsubject = \"frank\"")
            + "\n[[org.binding]]\nsubject = \"frank\"\nrole = \"releaser\"\nproject = \"api\"\nexpires_at = \"2030-01-01T00:00:00Z\"\n";
        let steps = plan(&org(BASE), &org(&after), "gina", 0).unwrap();
        assert_eq!(
            lines(&steps),
            [
                "- share containers c-1 in project web to dave: list,read",
                "- member dave",
                "+ member frank",
                "~ team ops: bob, frank",
                "~ project web: restricted = true",
                "+ project api",
                // Verbs as the validator reads them, implied ones included.
                "~ role releaser: project:containers:list,read,create,update organisation:registries:list,read \
                 project:secrets:list,read",
                "+ binding frank as releaser in project api until 2030-01-01T00:00:00Z",
                "+ share containers c-1 in project web to frank: list,read",
            ]
        );
        assert!(matches!(&steps[8].edit, Edit::Share { granted_by, .. } if granted_by == "gina"));
    }

    #[test]
    fn a_permanent_binding_given_an_end_is_unbound_then_bound_until_it() {
        let after = BASE.replace(
            "project = \"web\"\n\n[[org.share]]",
            "project = \"web\"\nexpires_at = \"2030-01-01T00:00:00Z\"\n\n[[org.share]]",
        );
        let steps = plan(&org(BASE), &org(&after), "gina", 0).unwrap();
        assert_eq!(
            lines(&steps),
            [
                "- binding bob as releaser in project web",
                "+ binding bob as releaser in project web until 2030-01-01T00:00:00Z"
            ]
        );
        // Ending it earlier, later or never is one change of the binding that ends.
        let never = plan(&org(&after), &org(BASE), "gina", 0).unwrap();
        assert_eq!(lines(&never), ["~ binding bob as releaser in project web"]);
    }

    #[test]
    fn what_a_file_cannot_say_is_refused_with_the_fix() {
        let other = plan(&org(BASE), &org(&BASE.replace("id = \"globex\"", "id = \"acme\"")), "gina", 0);
        assert!(matches!(other, Err(PlanError::OtherOrg { .. })), "{other:?}");
        let owner =
            plan(&org(BASE), &org(&BASE.replace("owner = \"gina\"", "owner = \"bob\"")), "gina", 0).unwrap_err();
        assert!(owner.to_string().contains("transfer"), "{owner}");
        let ended = BASE.replace("verbs = [\"read\"]", "verbs = [\"read\"]\nexpires_at = \"2020-01-01T00:00:00Z\"");
        let ended = plan(&org(BASE), &org(&ended), "gina", crate::instant::now()).unwrap_err();
        assert!(matches!(ended, PlanError::Ended { what: "share", .. }), "{ended}");
    }
}
