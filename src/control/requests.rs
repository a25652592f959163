//! Access requests (just-in-time access): a member asks for verbs on one resource, or a
//! role in one project, for a while, with a reason; anyone who could grant it directly
//! approves or denies it; approval makes the share or binding, ending after that while.
//!
//! Approving is giving: it goes through the same edit, authorisation (no escalation) and
//! audit as a share or binding the approver made by hand. The request is claimed before
//! the grant is written (pending to approved, in one conditional update), so an approval
//! and a denial racing on two replicas cannot both win; if the grant then fails, the claim
//! is released. A request nobody answers expires (`[admin] access_request_ttl_secs`).

use super::{AdminError, ControlPlane, Current, member_of};
use crate::edit::{Edit, EditError};
use crate::manage;
use crate::model::Verb;
use crate::principal::Identity;
use crate::store::AccessRequest;

/// The most pending requests one member may have in one org.
pub const MAX_PENDING: usize = 20;
/// The longest grant a request may ask for: 90 days.
pub const MAX_DURATION_SECS: u64 = 90 * 86_400;

/// What a member asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Asked {
    /// Verbs (already checked words) on one resource.
    Resource { kind: String, project: Option<String>, id: String, verbs: Vec<String> },
    /// A role in one project.
    Role { role: String, project: String },
}

/// Why a request cannot be made or decided, beyond the model's refusals.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("there is no access request '{id}' in org '{org}'")]
    NotFound { org: String, id: String },
    #[error("access request '{id}' is {state}, not pending: it can no longer be approved or denied")]
    Closed { id: String, state: String },
    #[error("'{who}' already has {MAX_PENDING} pending access requests in org '{org}': wait for answers first")]
    TooMany { who: String, org: String },
}

impl ControlPlane {
    /// `actor` asks for `asked` for `duration_secs`, because `reason`.
    pub async fn request_access(
        &self,
        org: &str,
        actor: &Identity,
        asked: Asked,
        duration_secs: u64,
        reason: &str,
    ) -> Result<AccessRequest, AdminError> {
        let cur = self.current(org).await?;
        let me = member_of(&cur, actor)?.to_string();
        let now = crate::instant::now();
        let mine = self.store.requests(org, 10_000).await?;
        if mine.iter().filter(|r| r.requester == me && r.state_at(now) == "pending").count() >= MAX_PENDING {
            return Err(AdminError::Request(RequestError::TooMany { who: me, org: org.into() }));
        }
        let mut request = AccessRequest {
            org: org.into(),
            id: random_id()?,
            requester: me,
            kind: None,
            project: None,
            resource_id: None,
            verbs: Vec::new(),
            role: None,
            duration_secs,
            reason: reason.into(),
            created_at: now,
            expires_at: now.saturating_add(i64::try_from(self.request_ttl_secs).unwrap_or(i64::MAX)),
            state: "pending".into(),
            decided_by: None,
            decided_at: None,
        };
        match asked {
            Asked::Resource { kind, project, id, verbs } => {
                request.kind = Some(kind);
                request.project = project;
                request.resource_id = Some(id);
                request.verbs = verbs;
            }
            Asked::Role { role, project } => {
                request.role = Some(role);
                request.project = Some(project);
            }
        }
        // What approval would write must make a valid org: an unknown kind, role or project
        // is said now, not to the approver.
        let edit = grant_of(&request, &request.requester, now)?;
        let after = crate::edit::apply(&cur.decl, &edit)?;
        super::checked(&cur.snapshot, org, &crate::policy::render_org(&after))?;
        self.store.insert_request(&request).await?;
        Ok(request)
    }

    /// The requests of `org` `actor` may see, newest first: its own, and every one if it
    /// holds `read` on `members`; with `approvable`, only pending ones it could approve.
    pub async fn access_requests(
        &self,
        org: &str,
        actor: &Identity,
        approvable: bool,
    ) -> Result<Vec<AccessRequest>, AdminError> {
        let cur = self.current(org).await?;
        let me = member_of(&cur, actor)?.to_string();
        let sees_all = Self::need(&cur, actor, Verb::Read, "members", None, None).is_ok();
        let now = crate::instant::now();
        let mut out = Vec::new();
        for mut r in self.store.requests(org, 1_000).await? {
            let state = r.state_at(now).to_string();
            r.state = state;
            let visible = if approvable {
                r.state == "pending" && r.requester != me && may_grant(&cur, actor, &r, now).is_ok()
            } else {
                sees_all || r.requester == me
            };
            if visible {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// `actor` approves request `id`: the grant is written as if `actor` made it, ending
    /// `duration_secs` from now.
    pub async fn approve_request(&self, org: &str, actor: &Identity, id: &str) -> Result<super::Written, AdminError> {
        let (cur, request) = self.open_request(org, actor, id).await?;
        let approver = member_of(&cur, actor)?.to_string();
        let now = crate::instant::now();
        may_grant(&cur, actor, &request, now)?;
        if !self.store.decide_request(org, id, "approved", &approver, now).await? {
            return Err(self.closed(org, id).await);
        }
        let edit = grant_of(&request, &approver, now)?;
        let detail = serde_json::json!({ "access_request": id, "requester": request.requester }).to_string();
        match self.edit(org, actor, &edit, &detail).await {
            Ok(written) => Ok(written),
            Err(e) => {
                // Release the claim: the request is still open to someone who can grant it.
                if let Err(store) = self.store.reopen_request(org, id, &approver).await {
                    eprintln!(
                        "portcullis: access request '{id}' of org '{org}' stays approved without its grant: {store}"
                    );
                }
                Err(e)
            }
        }
    }

    /// `actor`, who could grant request `id`, denies it.
    pub async fn deny_request(&self, org: &str, actor: &Identity, id: &str) -> Result<(), AdminError> {
        let (cur, request) = self.open_request(org, actor, id).await?;
        let approver = member_of(&cur, actor)?.to_string();
        let now = crate::instant::now();
        may_grant(&cur, actor, &request, now)?;
        if !self.store.decide_request(org, id, "denied", &approver, now).await? {
            return Err(self.closed(org, id).await);
        }
        Ok(())
    }

    /// The org as stored and request `id`, still pending.
    async fn open_request(
        &self,
        org: &str,
        actor: &Identity,
        id: &str,
    ) -> Result<(Current, AccessRequest), AdminError> {
        let cur = self.current(org).await?;
        member_of(&cur, actor)?;
        let request = self
            .store
            .request(org, id)
            .await?
            .ok_or_else(|| RequestError::NotFound { org: org.into(), id: id.into() })?;
        let state = request.state_at(crate::instant::now());
        if state != "pending" {
            return Err(RequestError::Closed { id: id.into(), state: state.into() }.into());
        }
        Ok((cur, request))
    }

    async fn closed(&self, org: &str, id: &str) -> AdminError {
        let state = match self.store.request(org, id).await {
            Ok(Some(r)) => r.state_at(crate::instant::now()).to_string(),
            _ => "decided".into(),
        };
        RequestError::Closed { id: id.into(), state }.into()
    }
}

/// Whether `actor` could make the grant `request` asks for, by hand, now.
fn may_grant(cur: &Current, actor: &Identity, request: &AccessRequest, now: i64) -> Result<(), AdminError> {
    let edit = grant_of(request, "", now)?;
    let mut scratch = Vec::new();
    let change = edit.change(&cur.decl, cur.snapshot.globals(), &mut scratch)?;
    manage::authorize(&cur.snapshot, &cur.stored.id, actor.caller(), &change)?;
    Ok(())
}

/// The share or binding `request` asks for, given by `giver`, ending its duration after `now`.
fn grant_of(request: &AccessRequest, giver: &str, now: i64) -> Result<Edit, EditError> {
    let expires_at = Some(now.saturating_add(i64::try_from(request.duration_secs).unwrap_or(i64::MAX)));
    let missing = || EditError::NotFound { org: request.org.clone(), what: "access request", id: request.id.clone() };
    Ok(match (&request.role, &request.kind, &request.resource_id) {
        (Some(role), _, _) => Edit::Bind {
            subject: request.requester.clone(),
            role: role.clone(),
            project: request.project.clone(),
            expires_at,
        },
        (None, Some(kind), Some(id)) => Edit::Share {
            subject: request.requester.clone(),
            kind: kind.clone(),
            project: request.project.clone(),
            id: id.clone(),
            verbs: crate::policy::parse_share_verbs(&request.verbs).map_err(|_| missing())?,
            granted_by: giver.into(),
            granted_at: now,
            expires_at,
        },
        _ => return Err(missing()),
    })
}

fn random_id() -> Result<String, AdminError> {
    let mut bytes = [0u8; 8];
    getrandom::getrandom(&mut bytes).map_err(|e| AdminError::Random(e.to_string()))?;
    Ok(format!("ar-{}", hex::encode(bytes)))
}
