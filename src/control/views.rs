//! What an org's people can see of access: a resource's share list (every direct grant,
//! and who created it) and a principal's access list (what reaches it, and from where), read
//! from the org as stored and decided by the model like any read.

use super::{AdminError, ControlPlane, member_of, verbs};
use crate::edit::{EditError, role_permissions};
use crate::model::{Level, Verb, VerbSet};
use crate::policy::Located;
use crate::principal::{Caller, Identity};

/// One entry of what a principal can access, and where it comes from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Access {
    pub kind: String,
    pub level: &'static str,
    /// The project, for a project-level entry; `*` for every (non-restricted) project an
    /// org-scope role reaches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The resource, or `*` for the whole kind.
    pub id: String,
    pub verbs: Vec<&'static str>,
    /// `owner`, `role 'R' bound to S [in project P]`, or `share from G`.
    pub source: String,
}

/// One share, as a resource's share list shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ShareView {
    pub subject: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    pub id: String,
    pub verbs: Vec<&'static str>,
    pub granted_by: Option<String>,
    #[serde(serialize_with = "crate::instant::serialize_opt")]
    pub granted_at: Option<i64>,
    /// When it stops counting; `null` for a share that does not end.
    #[serde(serialize_with = "crate::instant::serialize_opt")]
    pub expires_at: Option<i64>,
}

/// A resource's share list: every direct grant on it, and who created it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ShareList {
    pub shares: Vec<ShareView>,
    /// The resource's recorded creator, if it has one.
    pub creator: Option<CreatorView>,
}

/// A recorded creator.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CreatorView {
    pub subject: String,
    #[serde(serialize_with = "crate::instant::serialize_opt")]
    pub at: Option<i64>,
}

impl ControlPlane {
    /// Every direct grant on one resource (or on a whole kind with `id` `*`). Needs `read`
    /// on it.
    pub async fn shares(
        &self,
        org: &str,
        actor: &Identity,
        kind: &str,
        project: Option<&str>,
        id: &str,
    ) -> Result<ShareList, AdminError> {
        let cur = self.current(org).await?;
        member_of(&cur, actor)?;
        Self::need(&cur, actor, Verb::Read, kind, project, Some(id).filter(|i| *i != "*"))?;
        let same = |k: &Located<String>, p: &Option<Located<String>>, i: &Located<String>| {
            k.as_str() == kind && i.as_str() == id && p.as_ref().map(|p| p.as_str()) == project
        };
        let shares = cur.decl.shares.iter().filter(|s| same(&s.kind, &s.project, &s.id)).map(share_view).collect();
        let creator = cur
            .decl
            .created
            .iter()
            .find(|c| same(&c.kind, &c.project, &c.id))
            .map(|c| CreatorView { subject: c.subject.value.clone(), at: c.at.as_ref().map(|a| a.value) });
        Ok(ShareList { shares, creator })
    }

    /// What `principal` (the caller itself when `None`) can access in `org` (optionally one
    /// kind), with the source of each entry; or, with `shared`, what it has shared with
    /// others. A member sees its own; seeing another's needs `read` on `members`.
    pub async fn acl(
        &self,
        org: &str,
        actor: &Identity,
        principal: Option<Caller<'_>>,
        kind: Option<&str>,
        shared: bool,
    ) -> Result<Vec<Access>, AdminError> {
        let cur = self.current(org).await?;
        let me = member_of(&cur, actor)?;
        let principal = match principal {
            None => me,
            Some(p) => {
                let member = cur.snapshot.org(org).and_then(|o| crate::decide::member_of(o, org, p));
                let id = member.and_then(|m| cur.snapshot.org(org)?.model.members.get(m as usize)).map(|m| &*m.id);
                if id != Some(me) {
                    Self::need(&cur, actor, Verb::Read, "members", None, id)?;
                }
                id.ok_or_else(|| EditError::NotFound { org: org.into(), what: "member", id: p.to_string() })?
            }
        };
        let d = &cur.decl;
        let kind_ok = |k: &str| kind.is_none_or(|want| want == k);
        let mut out = Vec::new();
        if shared {
            for s in d.shares.iter().filter(|s| s.granted_by.as_ref().is_some_and(|g| g.as_str() == principal)) {
                if kind_ok(s.kind.as_str()) {
                    out.push(share_access(s, format!("shared with {}", s.subject.as_str())));
                }
            }
            return Ok(out);
        }
        if d.owner.as_str() == principal {
            out.push(Access {
                kind: kind.unwrap_or("*").into(),
                level: "organisation",
                project: None,
                id: "*".into(),
                verbs: verbs(VerbSet::ALL),
                source: "owner".into(),
            });
        }
        let mut subjects = vec![principal.to_string(), "all".to_string()];
        subjects.extend(
            d.teams
                .iter()
                .filter(|t| t.members.iter().any(|m| m.as_str() == principal))
                .map(|t| format!("team:{}", t.name.as_str())),
        );
        for b in d.bindings.iter().filter(|b| subjects.iter().any(|s| s == b.subject.as_str())) {
            let Ok(permissions) = role_permissions(d, cur.snapshot.globals(), b.role.as_str()) else { continue };
            let source = match &b.project {
                Some(p) => {
                    format!("role '{}' bound to {} in project {}", b.role.as_str(), b.subject.as_str(), p.as_str())
                }
                None => format!("role '{}' bound to {}", b.role.as_str(), b.subject.as_str()),
            };
            for p in permissions.iter().filter(|p| kind_ok(&p.kind)) {
                let project = match (p.level, &b.project) {
                    (Level::Organisation, Some(_)) => continue,
                    (Level::Organisation, None) => None,
                    (Level::Project, Some(pr)) => Some(pr.value.clone()),
                    (Level::Project, None) => Some("*".to_string()),
                };
                out.push(Access {
                    kind: p.kind.clone(),
                    level: p.level.name(),
                    project,
                    id: p.id.clone().unwrap_or_else(|| "*".into()),
                    verbs: verbs(p.verbs),
                    source: source.clone(),
                });
            }
        }
        for s in
            d.shares.iter().filter(|s| subjects.iter().any(|x| x == s.subject.as_str()) && kind_ok(s.kind.as_str()))
        {
            let from = s.granted_by.as_ref().map_or("the org".to_string(), |g| format!("'{}'", g.as_str()));
            out.push(share_access(s, format!("share to {} from {from}", s.subject.as_str())));
        }
        // What it created: the verbs it holds there now (its roles' `owned` entries, and
        // anything else that reaches the resource).
        let caller = cur.snapshot.org(org).and_then(|o| {
            let m = o.member_index(principal)?;
            let service_account = o.model.members.get(m as usize)?.service_account;
            Some(if service_account {
                Caller::ServiceAccount { org, name: principal }
            } else {
                Caller::User(principal)
            })
        });
        let now = crate::instant::now();
        for c in d.created.iter().filter(|c| c.subject.as_str() == principal && kind_ok(c.kind.as_str())) {
            let Some(caller) = caller else { break };
            let held = Verb::ALL.into_iter().filter(|&verb| {
                let request = crate::decide::Request {
                    org,
                    principal: caller,
                    project: c.project.as_ref().map(|p| p.as_str()),
                    kind: c.kind.as_str(),
                    id: Some(c.id.as_str()),
                    verb,
                    at: now,
                };
                crate::decide::decide(&cur.snapshot, &request).allowed
            });
            out.push(Access {
                kind: c.kind.value.clone(),
                level: if c.project.is_some() { "project" } else { "organisation" },
                project: c.project.as_ref().map(|p| p.value.clone()),
                id: c.id.value.clone(),
                verbs: held.map(Verb::name).collect(),
                source: "created it".into(),
            });
        }
        Ok(out)
    }
}

/// One share as an entry of an access list.
fn share_access(s: &crate::policy::ShareDecl, source: String) -> Access {
    Access {
        kind: s.kind.value.clone(),
        level: if s.project.is_some() { "project" } else { "organisation" },
        project: s.project.as_ref().map(|p| p.value.clone()),
        id: s.id.value.clone(),
        verbs: verbs(s.verbs),
        source,
    }
}

fn share_view(s: &crate::policy::ShareDecl) -> ShareView {
    ShareView {
        subject: s.subject.value.clone(),
        kind: s.kind.value.clone(),
        project: s.project.as_ref().map(|p| p.value.clone()),
        id: s.id.value.clone(),
        verbs: verbs(s.verbs),
        granted_by: s.granted_by.as_ref().map(|g| g.value.clone()),
        granted_at: s.granted_at.as_ref().map(|a| a.value),
        expires_at: s.expires_at.as_ref().map(|a| a.value),
    }
}
