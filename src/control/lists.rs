//! What an org holds, listed: members and service accounts, teams, projects, roles and
//! bindings, and the orgs a caller belongs to.
//!
//! Lists read the live snapshot, so they answer for file-owned orgs as well as stored ones,
//! and each is decided by the model like any other read: `read` on the built-in kind it
//! lists (bindings are part of `members`). A caller who is not a member of the org learns
//! nothing but that. Each list is sorted by its key and paged with `after` (the last key of
//! the previous page) and `limit`.

use serde::Serialize;

use super::{AdminError, ControlPlane};
use crate::decide::member_of;
use crate::model::Verb;
use crate::policy::{OrgModel, Subject};
use crate::principal::Identity;
use crate::snapshot::{OrgSnapshot, Snapshot};

/// Which list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing {
    Members,
    Teams,
    Projects,
    Roles,
    Bindings,
}

impl Listing {
    pub fn parse(segment: &str) -> Option<Listing> {
        Some(match segment {
            "members" => Listing::Members,
            "teams" => Listing::Teams,
            "projects" => Listing::Projects,
            "roles" => Listing::Roles,
            "bindings" => Listing::Bindings,
            _ => return None,
        })
    }

    /// The built-in kind whose `read` it needs.
    fn kind(self) -> &'static str {
        match self {
            Listing::Members | Listing::Bindings => "members",
            Listing::Teams => "teams",
            Listing::Projects => "projects",
            Listing::Roles => "roles",
        }
    }
}

/// One page of a list: its items, and the key to ask for the next page with, if any.
#[derive(Clone, Debug, Serialize)]
pub struct Page {
    pub items: Vec<serde_json::Value>,
    pub next: Option<String>,
}

/// Filters a list may take.
#[derive(Clone, Debug, Default)]
pub struct Filter<'a> {
    /// Bindings: only those in this project (`""`: only organisation scope).
    pub project: Option<&'a str>,
    /// Bindings: only those to this subject.
    pub subject: Option<&'a str>,
}

/// One org the caller belongs to.
#[derive(Clone, Debug, Serialize)]
pub struct OrgEntry {
    pub id: String,
    pub owner: String,
    pub revision: u64,
    /// Whether the admin API can change it (else its policy file owns it).
    pub stored: bool,
}

impl ControlPlane {
    /// The orgs `actor` is a member of (an operator: every org), sorted by id.
    pub fn orgs_of(&self, actor: &Identity, after: Option<&str>, limit: usize) -> (Vec<OrgEntry>, Option<String>) {
        let live = self.live.handle().load();
        let operator = self.is_operator(actor);
        let mut list: Vec<OrgEntry> = live
            .orgs()
            .filter(|o| operator || member_of(o, o.id(), actor.caller()).is_some())
            .map(|o| OrgEntry {
                id: o.id().to_string(),
                owner: o.model.members.get(o.model.owner as usize).map_or(String::new(), |m| m.id.to_string()),
                revision: o.model.revision,
                stored: self.live.is_stored(o.id()),
            })
            .collect();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        let (page, next) = paginate(list, |o| &o.id, after, limit);
        (page, next)
    }

    /// One page of `listing` in `org`, as `actor` may read it.
    pub fn list(
        &self,
        org: &str,
        actor: &Identity,
        listing: Listing,
        filter: &Filter<'_>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page, AdminError> {
        let live = self.live.handle().load_full();
        let (o, _) = super::live_member(&live, org, actor)?;
        super::need_in(&live, org, actor, Verb::Read, listing.kind(), None, None)?;
        let items = items(&live, o, listing, filter);
        let (items, next) = paginate(items, |(key, _)| key, after, limit);
        Ok(Page { items: items.into_iter().map(|(_, v)| v).collect(), next })
    }
}

/// Every item of `listing`, with its sort key.
fn items(live: &Snapshot, o: &OrgSnapshot, listing: Listing, filter: &Filter<'_>) -> Vec<(String, serde_json::Value)> {
    let m = &o.model;
    let project_name = |p: Option<u32>| p.and_then(|p| m.projects.get(p as usize)).map(|p| p.id.to_string());
    let role_name = |r| m.role(live.globals(), r).map_or(String::new(), |r| r.name.to_string());
    let mut out: Vec<(String, serde_json::Value)> = match listing {
        Listing::Members => m
            .members
            .iter()
            .enumerate()
            .map(|(i, member)| {
                let i = i as u32;
                let teams: Vec<&str> = m.teams.iter().filter(|t| t.members.contains(&i)).map(|t| &*t.name).collect();
                let roles: Vec<serde_json::Value> = m
                    .bindings
                    .iter()
                    .filter(|b| b.subject == Subject::Member(i))
                    .map(|b| binding_json(m, b, &role_name(b.role), project_name(b.project)))
                    .collect();
                let value = serde_json::json!({
                    "id": member.id,
                    "type": if member.service_account { "service_account" } else { "user" },
                    "owner": i == m.owner,
                    "teams": teams,
                    "roles": roles,
                });
                (member.id.to_string(), value)
            })
            .collect(),
        Listing::Teams => m
            .teams
            .iter()
            .map(|t| {
                let members: Vec<&str> =
                    t.members.iter().filter_map(|&i| m.members.get(i as usize)).map(|x| &*x.id).collect();
                (t.name.to_string(), serde_json::json!({ "name": t.name, "members": members }))
            })
            .collect(),
        Listing::Projects => m
            .projects
            .iter()
            .map(|p| (p.id.to_string(), serde_json::json!({ "id": p.id, "restricted": p.restricted })))
            .collect(),
        Listing::Roles => {
            let globals = live.globals();
            let n_global = globals.roles.len();
            let all =
                globals.roles.iter().enumerate().chain(m.roles.iter().enumerate().map(|(i, r)| (n_global + i, r)));
            all.map(|(i, r)| {
                let holders = m.bindings.iter().filter(|b| b.role.0 as usize == i).count();
                let scope = match i {
                    _ if i >= n_global => "org",
                    _ if crate::policy::BUILTIN_ROLES.contains(&&*r.name) => "built-in",
                    _ => "global",
                };
                let permissions: Vec<String> = r
                    .entries
                    .iter()
                    .filter_map(|e| {
                        let kind = globals.kinds.info(e.kind)?.name.to_string();
                        let p = crate::policy::Permission {
                            level: e.level,
                            kind,
                            id: e.id.as_deref().map(Into::into),
                            owned: e.owned,
                            verbs: e.verbs,
                        };
                        Some(crate::policy::render_permission(&p))
                    })
                    .collect();
                let value = serde_json::json!({
                    "name": r.name, "scope": scope, "permissions": permissions, "bindings": holders,
                });
                (r.name.to_string(), value)
            })
            .collect()
        }
        Listing::Bindings => m
            .bindings
            .iter()
            .filter(|b| match filter.project {
                None => true,
                Some("") => b.project.is_none(),
                Some(p) => project_name(b.project).as_deref() == Some(p),
            })
            .filter(|b| filter.subject.is_none_or(|s| m.subject_name(b.subject) == s))
            .map(|b| {
                let project = project_name(b.project);
                let key = format!(
                    "{}\u{0}{}\u{0}{}",
                    m.subject_name(b.subject),
                    role_name(b.role),
                    project.as_deref().unwrap_or("")
                );
                (key, binding_json(m, b, &role_name(b.role), project))
            })
            .collect(),
    };
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn binding_json(m: &OrgModel, b: &crate::policy::Binding, role: &str, project: Option<String>) -> serde_json::Value {
    serde_json::json!({
        "subject": m.subject_name(b.subject),
        "role": role,
        "project": project,
        "expires_at": b.expires_at.get().map(crate::instant::render),
    })
}

/// The items after key `after`, at most `limit`, and the key to continue from.
fn paginate<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> &String,
    after: Option<&str>,
    limit: usize,
) -> (Vec<T>, Option<String>) {
    let start = after.map_or(0, |a| items.partition_point(|x| key(x).as_str() <= a));
    let mut page: Vec<T> = items.into_iter().skip(start).take(limit.saturating_add(1)).collect();
    let next = if page.len() > limit {
        page.truncate(limit);
        page.last().map(|x| key(x).clone())
    } else {
        None
    };
    (page, next)
}
