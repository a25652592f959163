//! Applying one admin change to an org's policy: the `OrgDecl` before, the `OrgDecl` after.
//!
//! The control plane stores each org it manages as its policy text, so a change is an edit of
//! that policy, with MODEL.md's cascades: removing a member drops its bindings, its team
//! memberships and every share to it (a later re-invite starts from nothing); deleting a team
//! or a project drops the bindings and shares that named it; a role still bound is not
//! deleted (the error names who holds it). The result is validated by the same validator as
//! policy files before anything is committed, so an edit never has to re-check the model's
//! rules itself; it only refuses what would be ambiguous (a second member of the same id, a
//! missing item to change).
//!
//! [`Edit::change`] says what [`crate::manage::authorize`] must allow first.
//!
//! ```
//! use portcullis::edit::{Edit, apply};
//! use portcullis::policy::{FileMode, SourceText, parse};
//! let text = "[[org]]\nid = \"acme\"\nowner = \"alice\"\nmembers = [\"alice\", \"bob\"]\n";
//! let (set, _) = parse(&[SourceText { path: "acme.toml".into(), text: text.into() }], FileMode::Policy).unwrap();
//! let after = apply(&set.orgs[0], &Edit::RemoveMember { id: "bob".into() }).unwrap();
//! assert_eq!(after.members.len(), 1);
//! ```

use crate::manage::Change;
use crate::model::VerbSet;
use crate::policy::{
    BindingDecl, Globals, Loc, Located, OrgDecl, Permission, ProjectDecl, RoleDecl, ShareDecl, TeamDecl,
};

/// One change to an org's access model, with everything needed to make it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edit {
    InviteMember {
        id: String,
    },
    CreateServiceAccount {
        id: String,
    },
    /// Removes a member or a service account, and everything given to it.
    RemoveMember {
        id: String,
    },
    CreateTeam {
        name: String,
        members: Vec<String>,
    },
    /// Replaces a team's members.
    UpdateTeam {
        name: String,
        members: Vec<String>,
    },
    DeleteTeam {
        name: String,
    },
    CreateProject {
        id: String,
        restricted: bool,
    },
    UpdateProject {
        id: String,
        restricted: bool,
    },
    DeleteProject {
        id: String,
    },
    CreateRole {
        name: String,
        permissions: Vec<Permission>,
    },
    UpdateRole {
        name: String,
        permissions: Vec<Permission>,
    },
    DeleteRole {
        name: String,
    },
    /// Binds a role; with `expires_at` (seconds since the epoch) only until then. Binding
    /// again what is already bound until some instant sets the new end instead.
    Bind {
        subject: String,
        role: String,
        project: Option<String>,
        expires_at: Option<i64>,
    },
    Unbind {
        subject: String,
        role: String,
        project: Option<String>,
    },
    Share {
        subject: String,
        kind: String,
        project: Option<String>,
        id: String,
        verbs: VerbSet,
        granted_by: String,
        granted_at: i64,
        expires_at: Option<i64>,
    },
    RevokeShare {
        subject: String,
        kind: String,
        project: Option<String>,
        id: String,
    },
}

/// Why an edit cannot be made to this org. Nothing changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("{what} '{id}' already exists in '{org}'")]
    Exists { org: String, what: &'static str, id: String },
    #[error("there is no {what} '{id}' in '{org}'")]
    NotFound { org: String, what: &'static str, id: String },
    #[error("role '{role}' is still bound (to {subjects}): unbind it first")]
    RoleInUse { role: String, subjects: String },
    #[error("there is no role '{role}' (neither the org's nor a global one)")]
    UnknownRole { role: String },
}

fn s(v: &str) -> Located<String> {
    Located::synthetic(v.to_string())
}

fn ids(v: &[String]) -> Vec<Located<String>> {
    v.iter().map(|m| s(m)).collect()
}

impl Edit {
    /// The change [`crate::manage::authorize`] must allow before this edit is applied to
    /// `org`: the permissions a role grants are looked up in the org, then in `globals`.
    pub fn change<'a>(
        &'a self,
        org: &OrgDecl,
        globals: &Globals,
        scratch: &'a mut Vec<Permission>,
    ) -> Result<Change<'a>, EditError> {
        Ok(match self {
            Edit::InviteMember { .. } => Change::InviteMember,
            Edit::CreateServiceAccount { .. } => Change::CreateServiceAccount,
            Edit::RemoveMember { id } => Change::RemoveMember { member: id },
            Edit::CreateTeam { .. } => Change::CreateTeam,
            Edit::UpdateTeam { name, .. } => Change::UpdateTeam { team: name },
            Edit::DeleteTeam { name } => Change::DeleteTeam { team: name },
            Edit::CreateProject { .. } => Change::CreateProject,
            Edit::UpdateProject { id, .. } => Change::UpdateProject { project: id },
            Edit::DeleteProject { id } => Change::DeleteProject { project: id },
            Edit::CreateRole { permissions, .. } => Change::CreateRole { permissions },
            Edit::UpdateRole { name, permissions } => Change::UpdateRole { role: name, permissions },
            Edit::DeleteRole { name } => Change::DeleteRole { role: name },
            Edit::Bind { subject, role, project, .. } => {
                *scratch = role_permissions(org, globals, role)?;
                Change::Bind { subject, project: project.as_deref(), permissions: scratch }
            }
            Edit::Unbind { subject, project, .. } => Change::Unbind { subject, project: project.as_deref() },
            Edit::Share { subject, kind, project, id, verbs, .. } => {
                Change::Share { subject, kind, project: project.as_deref(), id, verbs: *verbs }
            }
            Edit::RevokeShare { kind, project, id, .. } => {
                Change::RevokeShare { kind, project: project.as_deref(), id }
            }
        })
    }

    /// A short name for the audit log, e.g. `share.create`.
    pub fn action(&self) -> &'static str {
        match self {
            Edit::InviteMember { .. } => "member.invite",
            Edit::CreateServiceAccount { .. } => "service_account.create",
            Edit::RemoveMember { .. } => "member.remove",
            Edit::CreateTeam { .. } => "team.create",
            Edit::UpdateTeam { .. } => "team.update",
            Edit::DeleteTeam { .. } => "team.delete",
            Edit::CreateProject { .. } => "project.create",
            Edit::UpdateProject { .. } => "project.update",
            Edit::DeleteProject { .. } => "project.delete",
            Edit::CreateRole { .. } => "role.create",
            Edit::UpdateRole { .. } => "role.update",
            Edit::DeleteRole { .. } => "role.delete",
            Edit::Bind { .. } => "binding.create",
            Edit::Unbind { .. } => "binding.delete",
            Edit::Share { .. } => "share.create",
            Edit::RevokeShare { .. } => "share.revoke",
        }
    }
}

/// What role `name` grants: the org's own role of that name, else the global one.
pub fn role_permissions(org: &OrgDecl, globals: &Globals, name: &str) -> Result<Vec<Permission>, EditError> {
    if let Some(r) = org.roles.iter().find(|r| r.name.as_str() == name) {
        return Ok(r.permissions.iter().map(|p| p.value.clone()).collect());
    }
    let unknown = || EditError::UnknownRole { role: name.into() };
    let r = globals.role_by_name(name).ok_or_else(unknown)?;
    let def = globals.roles.get(r.0 as usize).ok_or_else(unknown)?;
    Ok(def
        .entries
        .iter()
        .filter_map(|e| {
            let kind = globals.kinds.info(e.kind)?.name.to_string();
            Some(Permission {
                level: e.level,
                kind,
                id: e.id.as_deref().map(Into::into),
                owned: e.owned,
                verbs: e.verbs,
            })
        })
        .collect())
}

/// `org` with `edit` made. The result still has to validate.
pub fn apply(org: &OrgDecl, edit: &Edit) -> Result<OrgDecl, EditError> {
    let mut o = org.clone();
    let org_id = o.id.value.clone();
    let exists = |what: &'static str, id: &str| EditError::Exists { org: org_id.clone(), what, id: id.into() };
    let not_found = |what: &'static str, id: &str| EditError::NotFound { org: org_id.clone(), what, id: id.into() };
    let is_member = |o: &OrgDecl, id: &str| o.members.iter().chain(&o.service_accounts).any(|m| m.as_str() == id);
    match edit {
        Edit::InviteMember { id } | Edit::CreateServiceAccount { id } => {
            if is_member(&o, id) {
                return Err(exists("member", id));
            }
            if matches!(edit, Edit::InviteMember { .. }) {
                o.members.push(s(id));
            } else {
                o.service_accounts.push(s(id));
            }
        }
        Edit::RemoveMember { id } => {
            if !is_member(&o, id) {
                return Err(not_found("member", id));
            }
            o.members.retain(|m| m.as_str() != id);
            o.service_accounts.retain(|m| m.as_str() != id);
            for t in &mut o.teams {
                t.members.retain(|m| m.as_str() != id);
            }
            o.bindings.retain(|b| b.subject.as_str() != id);
            o.shares.retain(|sh| sh.subject.as_str() != id);
            o.created.retain(|c| c.subject.as_str() != id);
            // Shares it gave stay (the org gave them through it); who gave them is in the
            // audit log, and `granted_by` must name a member.
            for sh in &mut o.shares {
                if sh.granted_by.as_ref().is_some_and(|g| g.as_str() == id) {
                    sh.granted_by = None;
                }
            }
        }
        Edit::CreateTeam { name, members } => {
            if o.teams.iter().any(|t| t.name.as_str() == name) {
                return Err(exists("team", name));
            }
            o.teams.push(TeamDecl { name: s(name), members: ids(members) });
        }
        Edit::UpdateTeam { name, members } => {
            let t = o.teams.iter_mut().find(|t| t.name.as_str() == name).ok_or_else(|| not_found("team", name))?;
            t.members = ids(members);
        }
        Edit::DeleteTeam { name } => {
            let before = o.teams.len();
            o.teams.retain(|t| t.name.as_str() != name);
            if o.teams.len() == before {
                return Err(not_found("team", name));
            }
            let subject = format!("team:{name}");
            o.bindings.retain(|b| b.subject.as_str() != subject);
            o.shares.retain(|sh| sh.subject.as_str() != subject);
        }
        Edit::CreateProject { id, restricted } => {
            if o.projects.iter().any(|p| p.id.as_str() == id) {
                return Err(exists("project", id));
            }
            o.projects.push(ProjectDecl { id: s(id), restricted: *restricted });
        }
        Edit::UpdateProject { id, restricted } => {
            let p = o.projects.iter_mut().find(|p| p.id.as_str() == id).ok_or_else(|| not_found("project", id))?;
            p.restricted = *restricted;
        }
        Edit::DeleteProject { id } => {
            let before = o.projects.len();
            o.projects.retain(|p| p.id.as_str() != id);
            if o.projects.len() == before {
                return Err(not_found("project", id));
            }
            let in_project = |p: &Option<Located<String>>| p.as_ref().is_some_and(|p| p.as_str() == id);
            o.bindings.retain(|b| !in_project(&b.project));
            o.shares.retain(|sh| !in_project(&sh.project));
            o.created.retain(|c| !in_project(&c.project));
        }
        Edit::CreateRole { name, permissions } => {
            if o.roles.iter().any(|r| r.name.as_str() == name) {
                return Err(exists("role", name));
            }
            let permissions = permissions.iter().map(|p| Located::synthetic(p.clone())).collect();
            o.roles.push(RoleDecl { name: s(name), permissions, loc: Loc::SYNTHETIC });
        }
        Edit::UpdateRole { name, permissions } => {
            let r = o.roles.iter_mut().find(|r| r.name.as_str() == name).ok_or_else(|| not_found("role", name))?;
            r.permissions = permissions.iter().map(|p| Located::synthetic(p.clone())).collect();
        }
        Edit::DeleteRole { name } => {
            if !o.roles.iter().any(|r| r.name.as_str() == name) {
                return Err(not_found("role", name));
            }
            let holders: Vec<&str> =
                o.bindings.iter().filter(|b| b.role.as_str() == name).map(|b| b.subject.as_str()).collect();
            if !holders.is_empty() {
                return Err(EditError::RoleInUse { role: name.clone(), subjects: holders.join(", ") });
            }
            o.roles.retain(|r| r.name.as_str() != name);
        }
        Edit::Bind { subject, role, project, expires_at } => {
            let same = |b: &&mut BindingDecl| {
                b.subject.as_str() == subject
                    && b.role.as_str() == role
                    && b.project.as_ref().map(|p| p.as_str()) == project.as_deref()
            };
            let expires_at = expires_at.map(Located::synthetic);
            match o.bindings.iter_mut().find(same) {
                // Renewed (or made permanent): a binding that ends can be given again.
                Some(b) if b.expires_at.is_some() => b.expires_at = expires_at,
                Some(_) => return Err(exists("binding", &binding_name(subject, role, project.as_deref()))),
                None => o.bindings.push(BindingDecl {
                    subject: s(subject),
                    role: s(role),
                    project: project.as_deref().map(s),
                    expires_at,
                    loc: Loc::SYNTHETIC,
                }),
            }
        }
        Edit::Unbind { subject, role, project } => {
            let before = o.bindings.len();
            o.bindings.retain(|b| {
                !(b.subject.as_str() == subject
                    && b.role.as_str() == role
                    && b.project.as_ref().map(|p| p.as_str()) == project.as_deref())
            });
            if o.bindings.len() == before {
                return Err(not_found("binding", &binding_name(subject, role, project.as_deref())));
            }
        }
        Edit::Share { subject, kind, project, id, verbs, granted_by, granted_at, expires_at } => {
            let at = share_position(&o, subject, kind, project.as_deref(), id);
            let share = ShareDecl {
                subject: s(subject),
                kind: s(kind),
                project: project.as_deref().map(s),
                id: s(id),
                verbs: *verbs,
                granted_by: Some(s(granted_by)),
                granted_at: Some(Located::synthetic(*granted_at)),
                expires_at: expires_at.map(Located::synthetic),
                loc: Loc::SYNTHETIC,
            };
            // Sharing again with the same subject replaces the verbs (who gave them, and until
            // when).
            match at.and_then(|i| o.shares.get_mut(i)) {
                Some(slot) => *slot = share,
                None => o.shares.push(share),
            }
        }
        Edit::RevokeShare { subject, kind, project, id } => {
            let at = share_position(&o, subject, kind, project.as_deref(), id)
                .ok_or_else(|| not_found("share", &format!("{kind} '{id}' to '{subject}'")))?;
            o.shares.remove(at);
        }
    }
    Ok(o)
}

fn share_position(o: &OrgDecl, subject: &str, kind: &str, project: Option<&str>, id: &str) -> Option<usize> {
    o.shares.iter().position(|sh| {
        sh.subject.as_str() == subject
            && sh.kind.as_str() == kind
            && sh.id.as_str() == id
            && sh.project.as_ref().map(|p| p.as_str()) == project
    })
}

fn binding_name(subject: &str, role: &str, project: Option<&str>) -> String {
    match project {
        Some(p) => format!("{subject} as {role} in project {p}"),
        None => format!("{subject} as {role}"),
    }
}
