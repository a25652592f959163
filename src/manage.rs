//! Who may change an org's access model: MODEL.md's "Managing access" and "Sharing rules",
//! decided by the same model, against the live snapshot.
//!
//! Every change needs a permission on a built-in kind (`members`, `teams`, `projects`,
//! `roles`) or, for shares, `update` on the shared resource. On top of that, **no
//! escalation**: whoever creates or edits a role, or binds one, must hold every permission
//! the role grants where it would apply (organisation scope, which for project-level entries
//! means every project an org role reaches, so not the restricted ones; or the one project
//! of a project binding), and a share can
//! give only verbs its giver holds on that resource. The owner is never removed or bound
//! except by a transfer ([`crate::transfer`]). A refusal names the permission that was
//! missing.
//!
//! These checks are the admin API's first step; the store then applies the change, validates
//! the org's new policy, and commits.

use std::fmt;

use crate::decide::{Request, decide};
use crate::model::{Level, Verb, VerbSet};
use crate::policy::Permission;
use crate::principal::Caller;
use crate::snapshot::Snapshot;

/// A change to one org's access model, as the admin API receives it.
#[derive(Clone, Debug)]
pub enum Change<'a> {
    InviteMember,
    CreateServiceAccount,
    RemoveMember {
        member: &'a str,
    },
    /// Issue or revoke a service account's API token.
    ManageToken {
        account: &'a str,
    },
    CreateTeam,
    UpdateTeam {
        team: &'a str,
    },
    DeleteTeam {
        team: &'a str,
    },
    CreateProject,
    UpdateProject {
        project: &'a str,
    },
    DeleteProject {
        project: &'a str,
    },
    CreateRole {
        permissions: &'a [Permission],
    },
    UpdateRole {
        role: &'a str,
        permissions: &'a [Permission],
    },
    DeleteRole {
        role: &'a str,
    },
    /// Bind a role (given by what it grants) to a subject, at org scope or in a project.
    Bind {
        subject: &'a str,
        project: Option<&'a str>,
        permissions: &'a [Permission],
    },
    Unbind {
        subject: &'a str,
        project: Option<&'a str>,
    },
    Share {
        subject: &'a str,
        kind: &'a str,
        project: Option<&'a str>,
        id: &'a str,
        verbs: VerbSet,
    },
    RevokeShare {
        kind: &'a str,
        project: Option<&'a str>,
        id: &'a str,
    },
    StartTransfer,
}

/// Why a change is refused. Nothing is changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("there is no organisation '{org}'")]
    UnknownOrg { org: String },
    #[error("'{actor}' needs {needed}")]
    Missing { actor: String, needed: Needed },
    #[error("'{owner}' owns '{org}': the owner is never removed or bound; transfer ownership first")]
    Owner { org: String, owner: String },
    #[error("'{subject}' is not a member or team of '{org}' (or `all`): share with members only")]
    NotAMember { org: String, subject: String },
    #[error("only the owner of '{org}' ('{owner}') can start a transfer of its ownership; '{actor}' is not the owner")]
    NotOwner { org: String, owner: String, actor: String },
}

/// One permission a change needed and its actor did not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Needed {
    pub verb: Verb,
    pub kind: String,
    pub project: Option<String>,
    pub id: Option<String>,
}

impl fmt::Display for Needed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {}", self.verb, self.kind)?;
        if let Some(id) = &self.id {
            write!(f, " '{id}'")?;
        }
        if let Some(p) = &self.project {
            write!(f, " in project '{p}'")?;
        }
        Ok(())
    }
}

/// Decides whether `actor` may make `change` to org `org`.
pub fn authorize(snapshot: &Snapshot, org: &str, actor: Caller<'_>, change: &Change<'_>) -> Result<(), Refusal> {
    let o = snapshot.org(org).ok_or_else(|| Refusal::UnknownOrg { org: org.into() })?;
    let owner = o.model.members.get(o.model.owner as usize).map_or("", |m| &*m.id);
    let at = crate::instant::now();
    let need = |verb: Verb, kind: &str, project: Option<&str>, id: Option<&str>| -> Result<(), Refusal> {
        let request = Request { org, principal: actor, project, kind, id, verb, at };
        if decide(snapshot, &request).allowed {
            Ok(())
        } else {
            Err(Refusal::Missing {
                actor: actor.to_string(),
                needed: Needed { verb, kind: kind.into(), project: project.map(Into::into), id: id.map(Into::into) },
            })
        }
    };
    let untouchable = |who: &str| -> Result<(), Refusal> {
        if who == owner { Err(Refusal::Owner { org: org.into(), owner: owner.into() }) } else { Ok(()) }
    };
    // Org-scope roles apply in every project but the restricted ones (MODEL.md).
    let projects: Vec<&str> = o.model.projects.iter().filter(|p| !p.restricted).map(|p| &*p.id).collect();
    // Every permission of a role, where it would apply.
    let holds_all = |permissions: &[Permission], project: Option<&str>| -> Result<(), Refusal> {
        for p in permissions {
            let id = p.id.as_deref().filter(|id| *id != "*");
            let scopes: Vec<Option<&str>> = match (p.level, project) {
                (Level::Organisation, None) => vec![None],
                (Level::Project, None) => projects.iter().map(|p| Some(*p)).collect(),
                (Level::Project, Some(pr)) => vec![Some(pr)],
                // An organisation-level entry does not apply through a project binding.
                (Level::Organisation, Some(_)) => Vec::new(),
            };
            // Strongest verb first, so that a refusal names the verb the entry is about
            // rather than one it implies.
            let verbs: Vec<Verb> = p.verbs.iter().collect();
            for scope in scopes {
                for &verb in verbs.iter().rev() {
                    need(verb, &p.kind, scope, id)?;
                }
            }
        }
        Ok(())
    };
    match change {
        Change::InviteMember | Change::CreateServiceAccount => need(Verb::Create, "members", None, None),
        Change::RemoveMember { member } => {
            untouchable(member)?;
            need(Verb::Delete, "members", None, Some(member))
        }
        Change::ManageToken { account } => need(Verb::Update, "members", None, Some(account)),
        Change::CreateTeam => need(Verb::Create, "teams", None, None),
        Change::UpdateTeam { team } => need(Verb::Update, "teams", None, Some(team)),
        Change::DeleteTeam { team } => need(Verb::Delete, "teams", None, Some(team)),
        Change::CreateProject => need(Verb::Create, "projects", None, None),
        Change::UpdateProject { project } => need(Verb::Update, "projects", None, Some(project)),
        Change::DeleteProject { project } => need(Verb::Delete, "projects", None, Some(project)),
        Change::CreateRole { permissions } => {
            need(Verb::Create, "roles", None, None)?;
            holds_all(permissions, None)
        }
        Change::UpdateRole { role, permissions } => {
            need(Verb::Update, "roles", None, Some(role))?;
            holds_all(permissions, None)
        }
        Change::DeleteRole { role } => need(Verb::Delete, "roles", None, Some(role)),
        Change::Bind { subject, project, permissions } => {
            untouchable(subject)?;
            need(Verb::Update, "members", None, member_id(subject))?;
            holds_all(permissions, *project)
        }
        Change::Unbind { subject, project: _ } => {
            untouchable(subject)?;
            need(Verb::Update, "members", None, member_id(subject))
        }
        Change::Share { subject, kind, project, id, verbs } => {
            let known = *subject == "all"
                || subject.strip_prefix("team:").map_or_else(
                    || o.member_index(subject).is_some(),
                    |team| o.model.teams.iter().any(|t| &*t.name == team),
                );
            if !known {
                return Err(Refusal::NotAMember { org: org.into(), subject: (*subject).into() });
            }
            let id = Some(*id).filter(|id| *id != "*");
            need(Verb::Update, kind, *project, id)?;
            let verbs: Vec<Verb> = verbs.iter().collect();
            verbs.iter().rev().try_for_each(|&verb| need(verb, kind, *project, id))
        }
        Change::RevokeShare { kind, project, id } => {
            need(Verb::Update, kind, *project, Some(*id).filter(|id| *id != "*"))
        }
        Change::StartTransfer => need(Verb::Update, "ownership", None, None).map_err(|_| Refusal::NotOwner {
            org: org.into(),
            owner: owner.into(),
            actor: actor.to_string(),
        }),
    }
}

/// The member a binding subject names, if it names one (`team:x` and `all` do not).
fn member_id(subject: &str) -> Option<&str> {
    (subject != "all" && !subject.starts_with("team:")).then_some(subject)
}
