//! The control plane's core: one admin change, from request to published snapshot.
//!
//! A write reads the org from the [`Store`] (the source of truth, not this replica's
//! snapshot, which may lag), decides it with [`manage::authorize`] against the org *as
//! stored*, makes it with [`edit::apply`] (or a [`Transfer`] step), renders the result to
//! policy text and validates that text with the same validator as policy files. Only then
//! does it commit, as the next revision, if no other write got there first (otherwise it
//! starts again from the new state). The committed text is published to this replica's
//! snapshot at once; other replicas get it through the store's notifications.
//!
//! Orgs declared in policy files are read-only here: the error names the file to edit.

use std::sync::Arc;

mod apply;
mod check;
mod follow;
mod lists;
mod plan;
mod reach;
mod requests;
mod review;
mod system;
mod views;

pub use apply::{Applied, PlannedChange};
pub use check::{FieldProblem, FieldProblems};
pub use lists::{Filter, Listing, OrgEntry, Page};
pub use plan::{Op, PlanError};
pub use reach::{ReachCursor, ReachQuery};
pub use requests::{Asked, MAX_DURATION_SECS, RequestError};
pub use review::ReviewQuery;
pub use system::{CreatorEvent, EXPIRY_ACTOR, GATEWAY_ACTOR, IMPORT_ACTOR, Recorder, Resource};
pub use views::{Access, CreatorView, ShareList, ShareView};

use check::checked;

use crate::auth::StoredTokens;
use crate::edit::{self, Edit, EditError};
use crate::manage::{self, Change, Refusal};
use crate::model::{Verb, VerbSet};
use crate::policy::{Loc, Located, OrgDecl, SourceLoc, render_org};
use crate::principal::Identity;
use crate::reload::LivePolicy;
use crate::snapshot::{OrgSnapshot, Snapshot};
use crate::store::{AuditEntry, Committed, Store, StoreError, StoredOrg, StoredToken, TokenChange, now};
use crate::transfer::{Confirmed, Transfer, TransferError, TransferRules};

/// How many times a write starts again when another write to the same org commits first.
const MAX_ATTEMPTS: usize = 16;

/// Why an admin request did nothing.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Edit(#[from] EditError),
    #[error(transparent)]
    Transfer(#[from] TransferError),
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error("the change would leave org '{org}' invalid, so nothing was written:\n{problems}")]
    Invalid { org: String, problems: FieldProblems },
    #[error(
        "org '{org}' as stored no longer validates against the policy files' kinds and roles, so nothing was \
         written; restore what the files took away:\n{problems}"
    )]
    StoredInvalid { org: String, problems: FieldProblems },
    #[error(
        "org '{org}' is declared in the policy file {file}: it is read-only through the admin API; change that file \
         instead"
    )]
    FileOwned { org: String, file: SourceLoc },
    #[error("there is no org '{org}'")]
    UnknownOrg { org: String },
    #[error("query parameter `{field}`: {message}")]
    BadQuery { field: &'static str, message: String },
    #[error("only a platform operator ([admin] operators in config.toml) creates orgs; '{actor}' is not one")]
    NotOperator { actor: String },
    #[error("there is no pending transfer of org '{org}'")]
    NoTransfer { org: String },
    #[error("'{actor}' may not {what}")]
    Forbidden { actor: String, what: String },
    #[error("the store is unavailable, so nothing was written: {0}")]
    Store(#[from] StoreError),
    #[error("org '{org}' kept changing under this write; try again")]
    Busy { org: String },
    #[error("cannot generate a token: {0}")]
    Random(String),
    #[error("the file was not applied and nothing was written: {step} is refused: {refusal}")]
    StepRefused { step: String, refusal: Box<Refusal> },
    #[error("cannot import the policy files' orgs into the store: {0}")]
    Import(String),
}

/// What a write produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    /// The org's revision after the write: send it back as `Portcullis-Revision` to read
    /// your write on any replica.
    pub revision: u64,
}

/// The store, the live policy it feeds, and the rules of the API.
#[derive(Debug)]
pub struct ControlPlane {
    pub store: Store,
    pub live: Arc<LivePolicy>,
    /// Principals who may create orgs.
    pub operators: Vec<String>,
    pub rules: TransferRules,
    /// How long an access request waits for an answer.
    pub request_ttl_secs: u64,
    /// The API tokens issued here, as the gateway's verifier sees them.
    pub tokens: Arc<StoredTokens>,
    /// Where the propagation lag of other replicas' writes is recorded.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Orgs being rebuilt after another replica's commit, at most one rebuild each.
    refreshing: follow::Coalescer,
}

/// What one write changes: the org's policy, its pending transfer, and API tokens.
struct Outcome {
    after: OrgDecl,
    transfer: Option<Transfer>,
    tokens: Option<TokenChange>,
}

impl Outcome {
    fn org(after: OrgDecl, transfer: Option<Transfer>) -> Outcome {
        Outcome { after, transfer, tokens: None }
    }
}

/// A newly issued token: shown once.
#[derive(Clone, Debug, serde::Serialize)]
pub struct IssuedToken {
    pub id: String,
    pub account: String,
    pub token: String,
    pub revision: u64,
}

/// An org read from the store, parsed.
struct Current {
    stored: StoredOrg,
    decl: OrgDecl,
    /// The live snapshot with this org as stored: what authorises a change to it.
    snapshot: Snapshot,
}

fn verbs(v: VerbSet) -> Vec<&'static str> {
    v.iter().map(Verb::name).collect()
}

impl ControlPlane {
    /// Publishes every stored org (at start, and after a lost notification connection).
    /// An org that no longer validates against the policy files keeps its last good
    /// version and is reported.
    pub async fn resync(&self) -> Result<usize, StoreError> {
        let mut by_org: std::collections::BTreeMap<String, Vec<(String, String)>> = std::collections::BTreeMap::new();
        for t in self.store.tokens(None).await?.into_iter().filter(|t| t.revoked_at.is_none()) {
            by_org.entry(t.org).or_default().push((t.sha256, t.account));
        }
        let orgs = self.store.orgs().await?;
        for o in &orgs {
            self.tokens.set_org(&o.id, by_org.remove(&o.id).unwrap_or_default());
        }
        let mut published = 0;
        for o in &orgs {
            match self.live.publish_stored(&o.id, &o.policy, o.revision) {
                Ok(true) => published += 1,
                Ok(false) => {}
                Err(e) => eprintln!(
                    "portcullis: stored org '{}' (revision {}) does not validate against the policy files; its last \
                     good version keeps serving:\n{}",
                    o.id,
                    o.revision,
                    e.to_string().trim_end()
                ),
            }
        }
        Ok(published)
    }

    /// Publishes org `id` if the store has a newer revision than the live one.
    pub async fn refresh(&self, id: &str) -> Result<(), StoreError> {
        self.refresh_tokens(id).await?;
        if let Some(o) = self.store.org(id).await?
            && let Err(e) = self.live.publish_stored(&o.id, &o.policy, o.revision)
        {
            eprintln!("portcullis: stored org '{id}' does not validate: {}", e.to_string().trim_end());
        }
        Ok(())
    }

    /// Reads org `id`'s live API tokens into the verifier's set.
    async fn refresh_tokens(&self, id: &str) -> Result<(), StoreError> {
        let live = self.store.tokens(Some(id)).await?.into_iter().filter(|t| t.revoked_at.is_none());
        self.tokens.set_org(id, live.map(|t| (t.sha256, t.account)).collect());
        Ok(())
    }

    fn file_owned(&self, org: &str) -> Option<AdminError> {
        if self.live.is_stored(org) || self.live.handle().load().org(org).is_none() {
            return None;
        }
        let file = self.live.file_declaring(org).unwrap_or_else(|| SourceLoc {
            file: self.live.dir().to_path_buf(),
            line: 0,
            column: 0,
        });
        Some(AdminError::FileOwned { org: org.into(), file })
    }

    async fn current(&self, org: &str) -> Result<Current, AdminError> {
        let Some(stored) = self.store.org(org).await? else {
            return Err(self.file_owned(org).unwrap_or_else(|| AdminError::UnknownOrg { org: org.into() }));
        };
        let live = self.live.handle().load_full();
        let stale = |problems| AdminError::StoredInvalid { org: org.into(), problems };
        let (decl, mut model) = checked(&live, org, &stored.policy).map_err(|e| match e {
            AdminError::Invalid { problems, .. } => stale(problems),
            e => e,
        })?;
        model.revision = stored.revision;
        let snapshot = live
            .with_org(model)
            .map_err(|e| stale(FieldProblems(vec![FieldProblem { field: None, message: e.to_string() }])))?;
        Ok(Current { stored, decl, snapshot })
    }

    /// Creates org `id` owned by `owner` (its only member). Operators only.
    pub async fn create_org(&self, actor: &Identity, id: &str, owner: &str) -> Result<Written, AdminError> {
        if !self.is_operator(actor) {
            return Err(AdminError::NotOperator { actor: actor.to_string() });
        }
        if let Some(e) = self.file_owned(id) {
            return Err(e);
        }
        let s = |v: &str| Located::synthetic(v.to_string());
        let decl = OrgDecl {
            id: s(id),
            owner: s(owner),
            members: vec![s(owner)],
            service_accounts: Vec::new(),
            teams: Vec::new(),
            projects: Vec::new(),
            roles: Vec::new(),
            bindings: Vec::new(),
            shares: Vec::new(),
            created: Vec::new(),
            loc: Loc::SYNTHETIC,
        };
        let text = render_org(&decl);
        let live = self.live.handle().load_full();
        checked(&live, id, &text)?;
        let audit = AuditEntry {
            org: id.into(),
            revision: 1,
            at: now(),
            actor: actor.to_string(),
            action: "org.create".into(),
            detail: serde_json::json!({ "id": id, "owner": owner }).to_string(),
            before: String::new(),
            after: text.clone(),
        };
        let revision = match self.store.create_org(id, &text, audit).await {
            Ok(r) => r,
            Err(StoreError::Exists { .. }) => {
                return Err(EditError::Exists { org: id.into(), what: "org", id: id.into() }.into());
            }
            Err(e) => return Err(e.into()),
        };
        self.publish(id, &text, revision);
        Ok(Written { revision })
    }

    fn publish(&self, org: &str, text: &str, revision: u64) {
        if let Err(e) = self.live.publish_stored(org, text, revision) {
            // Validated against the same globals just before the commit; only a policy file
            // change in between gets here. The store has it; a reload will publish it.
            eprintln!("portcullis: committed org '{org}' revision {revision} is not live yet: {e}");
        }
    }

    /// Makes `edit` to `org` as `actor`. `detail` is the request as the audit log records it.
    pub async fn edit(&self, org: &str, actor: &Identity, edit: &Edit, detail: &str) -> Result<Written, AdminError> {
        self.write(org, actor, edit.action(), detail, |cur, _| {
            let mut scratch = Vec::new();
            let change = edit.change(&cur.decl, cur.snapshot.globals(), &mut scratch)?;
            let allowed = manage::authorize(&cur.snapshot, org, actor.caller(), &change);
            let after = edit::apply(&cur.decl, edit);
            match (allowed, after) {
                (Ok(()), after) => {
                    let tokens = match edit {
                        Edit::RemoveMember { id } => Some(TokenChange::RevokeAccounts { accounts: vec![id.clone()] }),
                        _ => None,
                    };
                    Ok(Outcome { after: after?, transfer: cur.stored.transfer.clone(), tokens })
                }
                // Input that cannot make a valid org is reported as such, whoever sends it:
                // "needs read on nosuch" would send them looking for a permission.
                (Err(refusal @ Refusal::Missing { .. }), Ok(after)) => {
                    checked(&cur.snapshot, org, &render_org(&after))?;
                    Err(refusal.into())
                }
                (Err(refusal), _) => Err(refusal.into()),
            }
        })
        .await
    }

    /// The owner starts handing `org` over to `to`, stepping down to `step_down_to`.
    pub async fn start_transfer(
        &self,
        org: &str,
        actor: &Identity,
        to: &str,
        step_down_to: &str,
    ) -> Result<Written, AdminError> {
        let detail = serde_json::json!({ "to": to, "step_down_to": step_down_to }).to_string();
        self.write(org, actor, "transfer.start", &detail, |cur, member| {
            manage::authorize(&cur.snapshot, org, actor.caller(), &Change::StartTransfer)?;
            let t = Transfer::start(
                &cur.decl,
                cur.stored.transfer.as_ref(),
                member,
                to,
                step_down_to,
                now_u64(),
                &self.rules,
            )?;
            Ok(Outcome::org(cur.decl.clone(), Some(t)))
        })
        .await
    }

    /// One party confirms; the second confirmation moves ownership.
    pub async fn confirm_transfer(&self, org: &str, actor: &Identity) -> Result<Written, AdminError> {
        self.write(org, actor, "transfer.confirm", "{}", |cur, member| {
            let t = cur.stored.transfer.as_ref().ok_or_else(|| AdminError::NoTransfer { org: org.into() })?;
            match t.confirm(&cur.decl, member, now_u64())? {
                Confirmed::Pending(t) => Ok(Outcome::org(cur.decl.clone(), Some(t))),
                Confirmed::Completed(after) => Ok(Outcome::org(after, None)),
            }
        })
        .await
    }

    /// Either party cancels the pending transfer.
    pub async fn cancel_transfer(&self, org: &str, actor: &Identity) -> Result<Written, AdminError> {
        self.write(org, actor, "transfer.cancel", "{}", |cur, member| {
            let t = cur.stored.transfer.as_ref().ok_or_else(|| AdminError::NoTransfer { org: org.into() })?;
            t.cancel(member, now_u64())?;
            Ok(Outcome::org(cur.decl.clone(), None))
        })
        .await
    }

    /// The pending transfer of `org`, if any (an expired one is shown as it is: void).
    pub async fn transfer(&self, org: &str, actor: &Identity) -> Result<Option<Transfer>, AdminError> {
        let cur = self.current(org).await?;
        member_of(&cur, actor)?;
        Ok(cur.stored.transfer)
    }

    /// Commits what `change` makes of the org as stored, as `actor`, who must be a member of
    /// it (`change` gets its member id there); starts again if another write got there first.
    async fn write<F>(
        &self,
        org: &str,
        actor: &Identity,
        action: &str,
        detail: &str,
        change: F,
    ) -> Result<Written, AdminError>
    where
        F: Fn(&Current, &str) -> Result<Outcome, AdminError>,
    {
        let written = self.write_if(org, actor, action, detail, |cur, member| change(cur, member).map(Some)).await?;
        written.ok_or_else(|| AdminError::Busy { org: org.into() })
    }

    /// [`write`](Self::write) for a change that may find nothing to do (`None`): then
    /// nothing is written, and the answer is `None`.
    async fn write_if<F>(
        &self,
        org: &str,
        actor: &Identity,
        action: &str,
        detail: &str,
        change: F,
    ) -> Result<Option<Written>, AdminError>
    where
        F: Fn(&Current, &str) -> Result<Option<Outcome>, AdminError>,
    {
        for _ in 0..MAX_ATTEMPTS {
            let cur = self.current(org).await?;
            let member = member_of(&cur, actor)?;
            let outcome = match change(&cur, member) {
                Ok(Some(outcome)) => outcome,
                Ok(None) => return Ok(None),
                Err(e) => return Err(self.refused(org, actor, action, detail, e).await),
            };
            if let Some(written) = self.commit(&cur, &actor.to_string(), action, detail, outcome).await? {
                return Ok(Some(written));
            }
        }
        Err(AdminError::Busy { org: org.into() })
    }

    /// Commits `outcome` over `cur` with its audit row; `None` if another write committed
    /// first (compute again from the new revision).
    async fn commit(
        &self,
        cur: &Current,
        actor: &str,
        action: &str,
        detail: &str,
        outcome: Outcome,
    ) -> Result<Option<Written>, AdminError> {
        let Outcome { after, transfer, tokens } = outcome;
        let org = cur.stored.id.as_str();
        let tokens_changed = tokens.is_some();
        let text = render_org(&after);
        // What is committed is what the policy validator accepts, read back from the text.
        checked(&cur.snapshot, org, &text)?;
        let audit = AuditEntry {
            org: org.into(),
            revision: 0,
            at: now(),
            actor: actor.into(),
            action: action.into(),
            detail: detail.into(),
            before: cur.stored.policy.clone(),
            after: text.clone(),
        };
        match self.store.commit(org, cur.stored.revision, &text, transfer.as_ref(), tokens, audit).await? {
            Committed::At(revision) => {
                // Tokens before the org: whoever reads this revision sees them too.
                if tokens_changed && let Err(e) = self.refresh_tokens(org).await {
                    eprintln!("portcullis: committed tokens of org '{org}' are not live yet: {e}");
                }
                self.publish(org, &text, revision);
                Ok(Some(Written { revision }))
            }
            Committed::Conflict => Ok(None),
        }
    }

    /// Records a member's attempt the model refused (who, what, why) in the org's log of
    /// refusals, and gives the error back. Other errors (bad input, a busy or unreachable
    /// store) are not refusals and are not recorded; a refusal that cannot be recorded is
    /// reported on stderr, and the caller still gets the refusal.
    async fn refused(&self, org: &str, actor: &Identity, action: &str, detail: &str, e: AdminError) -> AdminError {
        if matches!(
            e,
            AdminError::Refused(_)
                | AdminError::StepRefused { .. }
                | AdminError::Forbidden { .. }
                | AdminError::Transfer(_)
        ) {
            let attempt = crate::store::RefusedAttempt {
                org: org.into(),
                seq: 0,
                at: now(),
                actor: actor.to_string(),
                action: action.into(),
                detail: detail.into(),
                reason: e.to_string(),
            };
            if let Err(store) = self.store.record_refusal(attempt).await {
                eprintln!("portcullis: cannot record a refused {action} in org '{org}' by '{actor}': {store}");
            }
        }
        e
    }

    /// The refused attempts of members of `org`, oldest first, after number `after` (`read`
    /// on `events`, like the audit log).
    pub async fn refusals(
        &self,
        org: &str,
        actor: &Identity,
        after: u64,
        limit: u32,
    ) -> Result<Vec<crate::store::RefusedAttempt>, AdminError> {
        let cur = self.current(org).await?;
        member_of(&cur, actor)?;
        Self::need(&cur, actor, Verb::Read, "events", None, None)?;
        Ok(self.store.refusals(org, after, limit).await?)
    }

    /// Whether `actor` is one of `[admin] operators`: users only, never a service account.
    pub fn is_operator(&self, actor: &Identity) -> bool {
        actor.user().is_some_and(|u| self.operators.iter().any(|o| o == u))
    }

    /// Whether `actor` holds `verb` on the resource in the org as stored.
    fn need(
        cur: &Current,
        actor: &Identity,
        verb: Verb,
        kind: &str,
        project: Option<&str>,
        id: Option<&str>,
    ) -> Result<(), AdminError> {
        need_in(&cur.snapshot, &cur.stored.id, actor, verb, kind, project, id)
    }

    /// Issues an API token for service account `account` (`update` on it, as a member).
    /// The token is in the answer only; the store keeps its SHA-256.
    pub async fn issue_token(&self, org: &str, actor: &Identity, account: &str) -> Result<IssuedToken, AdminError> {
        let (token, sha256) = crate::auth::new_api_token().map_err(AdminError::Random)?;
        let mut id_bytes = [0u8; 8];
        getrandom::getrandom(&mut id_bytes).map_err(|e| AdminError::Random(e.to_string()))?;
        let id = format!("tok_{}", crate::auth::hex(&id_bytes));
        let detail = serde_json::json!({ "account": account, "token_id": id }).to_string();
        let written = self
            .write(org, actor, "token.issue", &detail, |cur, _| {
                if !cur.decl.service_accounts.iter().any(|s| s.as_str() == account) {
                    return Err(
                        EditError::NotFound { org: org.into(), what: "service account", id: account.into() }.into()
                    );
                }
                manage::authorize(&cur.snapshot, org, actor.caller(), &Change::ManageToken { account })?;
                let issue = TokenChange::Issue {
                    id: id.clone(),
                    account: account.into(),
                    sha256: sha256.clone(),
                    by: actor.to_string(),
                };
                Ok(Outcome { after: cur.decl.clone(), transfer: cur.stored.transfer.clone(), tokens: Some(issue) })
            })
            .await?;
        Ok(IssuedToken { id, account: account.into(), token, revision: written.revision })
    }

    /// Revokes token `id` of service account `account`.
    pub async fn revoke_token(
        &self,
        org: &str,
        actor: &Identity,
        account: &str,
        id: &str,
    ) -> Result<Written, AdminError> {
        // Whether the token exists is told only to whoever may manage it.
        let cur = self.current(org).await?;
        member_of(&cur, actor)?;
        let detail = serde_json::json!({ "account": account, "token_id": id }).to_string();
        if let Err(refusal) = manage::authorize(&cur.snapshot, org, actor.caller(), &Change::ManageToken { account }) {
            return Err(self.refused(org, actor, "token.revoke", &detail, refusal.into()).await);
        }
        let listed = self.store.tokens(Some(org)).await?;
        if !listed.iter().any(|t| t.id == id && t.account == account && t.revoked_at.is_none()) {
            return Err(EditError::NotFound { org: org.into(), what: "token", id: id.into() }.into());
        }
        self.write(org, actor, "token.revoke", &detail, |cur, _| {
            manage::authorize(&cur.snapshot, org, actor.caller(), &Change::ManageToken { account })?;
            let revoke = TokenChange::Revoke { id: id.into() };
            Ok(Outcome { after: cur.decl.clone(), transfer: cur.stored.transfer.clone(), tokens: Some(revoke) })
        })
        .await
    }

    /// The tokens of service account `account` (ids and dates, never the tokens).
    pub async fn list_tokens(
        &self,
        org: &str,
        actor: &Identity,
        account: &str,
    ) -> Result<Vec<StoredToken>, AdminError> {
        let cur = self.current(org).await?;
        member_of(&cur, actor)?;
        manage::authorize(&cur.snapshot, org, actor.caller(), &Change::ManageToken { account })?;
        Ok(self.store.tokens(Some(org)).await?.into_iter().filter(|t| t.account == account).collect())
    }

    /// The org's policy as stored, with its revision. Members only.
    pub async fn org(&self, org: &str, actor: &Identity) -> Result<StoredOrg, AdminError> {
        let cur = self.current(org).await?;
        member_of(&cur, actor)?;
        Ok(cur.stored)
    }

    /// The audit log of `org` after revision `after`. Needs `read` on `events` (the brief's
    /// "View events": owners and admins, and custom roles that grant it).
    pub async fn audit(
        &self,
        org: &str,
        actor: &Identity,
        after: u64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, AdminError> {
        let cur = self.current(org).await?;
        member_of(&cur, actor)?;
        Self::need(&cur, actor, Verb::Read, "events", None, None)?;
        Ok(self.store.audit(org, after, limit).await?)
    }
}

/// Whether `actor` holds `verb` on the resource of `org` in `snapshot`, now; or the refusal
/// that names the missing permission.
fn need_in(
    snapshot: &Snapshot,
    org: &str,
    actor: &Identity,
    verb: Verb,
    kind: &str,
    project: Option<&str>,
    id: Option<&str>,
) -> Result<(), AdminError> {
    let principal = actor.caller();
    let request = crate::decide::Request { org, principal, project, kind, id, verb, at: crate::instant::now() };
    if crate::decide::decide(snapshot, &request).allowed {
        Ok(())
    } else {
        let needed =
            manage::Needed { verb, kind: kind.into(), project: project.map(Into::into), id: id.map(Into::into) };
        Err(Refusal::Missing { actor: actor.to_string(), needed }.into())
    }
}

/// `actor`'s index in `org` of the live snapshot, or a refusal that says only that it is not
/// a member: the gate of every answer read from the snapshot rather than the store.
fn live_member<'s>(live: &'s Snapshot, org: &str, actor: &Identity) -> Result<(&'s OrgSnapshot, u32), AdminError> {
    let o = live.org(org).ok_or_else(|| AdminError::UnknownOrg { org: org.into() })?;
    let m = crate::decide::member_of(o, org, actor.caller()).ok_or_else(|| AdminError::Forbidden {
        actor: actor.to_string(),
        what: format!("act on org '{org}' (not a member)"),
    })?;
    Ok((o, m))
}

/// `actor`'s member id in the org as stored, or a refusal: a user listed as a member, or a
/// service account of this very org. Every admin operation on an org starts here, so that
/// nobody outside it learns more than that.
fn member_of<'c>(cur: &'c Current, actor: &Identity) -> Result<&'c str, AdminError> {
    let org = cur.stored.id.as_str();
    let member = cur.snapshot.org(org).and_then(|o| Some((o, crate::decide::member_of(o, org, actor.caller())?)));
    member.and_then(|(o, m)| o.model.members.get(m as usize)).map(|m| &*m.id).ok_or_else(|| AdminError::Forbidden {
        actor: actor.to_string(),
        what: format!("act on org '{org}' (not a member)"),
    })
}

fn now_u64() -> u64 {
    u64::try_from(now()).unwrap_or(0)
}

/// Publishes the orgs and API tokens the store holds into `live` and `tokens`, as the
/// gateway would see them, changing nothing: no migration, no notification listener, no
/// file created (`portcullis explain`). Returns how many orgs were published.
pub fn read_only(
    admin: &crate::config::Admin,
    live: Arc<LivePolicy>,
    tokens: Arc<StoredTokens>,
) -> Result<usize, StoreError> {
    let Some(store) = Store::read_only(&admin.store)? else { return Ok(0) };
    let control = ControlPlane {
        store,
        live,
        operators: admin.operators.clone(),
        rules: TransferRules { ttl_secs: admin.transfer_ttl_secs },
        request_ttl_secs: admin.access_request_ttl_secs,
        tokens,
        metrics: Arc::new(crate::metrics::Metrics::new(Vec::new())),
        refreshing: follow::Coalescer::default(),
    };
    control.store.block_on(control.resync())
}

/// Opens the store `[admin]` names, publishes every stored org, and (on PostgreSQL) follows
/// other replicas' commits. A store that cannot be reached stops the start: the gateway does
/// not run with a control plane it cannot read.
pub fn open(
    admin: &crate::config::Admin,
    live: Arc<LivePolicy>,
    tokens: Arc<StoredTokens>,
    metrics: Arc<crate::metrics::Metrics>,
) -> Result<Arc<ControlPlane>, StoreError> {
    use crate::config::StoreLocation;
    let store = match &admin.store {
        StoreLocation::Sqlite { data_dir } => Store::sqlite(data_dir)?,
        StoreLocation::Postgres { url } => Store::postgres(url)?,
    };
    let control = Arc::new(ControlPlane {
        store,
        live,
        operators: admin.operators.clone(),
        rules: TransferRules { ttl_secs: admin.transfer_ttl_secs },
        request_ttl_secs: admin.access_request_ttl_secs,
        tokens,
        metrics,
        refreshing: follow::Coalescer::default(),
    });
    let published = control.store.block_on(control.resync())?;
    eprintln!("portcullis: store {}: {published} orgs", control.store.place());
    if let StoreLocation::Postgres { url } = &admin.store {
        follow::other_replicas(&control, url);
    }
    system::sweep_periodically(&control, std::time::Duration::from_secs(admin.expiry_sweep_secs));
    Ok(control)
}
