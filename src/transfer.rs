//! Ownership transfer: the two-party handshake of MODEL.md's "Ownership", as a state
//! machine over one org's policy (its `OrgDecl`).
//!
//! The owner starts a transfer, naming a user member and the role the owner will step down
//! to. Both the owner and the new owner confirm, each with their own credentials; only the
//! second confirmation moves ownership, in one step: the new owner becomes owner (and loses
//! any binding, since the owner is never bound), the old owner is bound to the chosen role at
//! organisation scope. Either party may cancel before that; a transfer left pending past its
//! expiry is void. Until completion nothing about the org changes, so at every instant the
//! org has exactly the one owner its policy names.
//!
//! The functions here decide and compute; the store persists the pending transfer and
//! commits a completed transfer's new `OrgDecl` in one transaction, after validating it.
//!
//! ```
//! use portcullis::policy::{Located, Loc, OrgDecl};
//! use portcullis::transfer::{Confirmed, Transfer, TransferRules};
//! # fn org() -> OrgDecl {
//! #     let s = |v: &str| Located::synthetic(v.to_string());
//! #     OrgDecl { id: s("acme"), owner: s("alice"), members: vec![s("alice"), s("bob")],
//! #         service_accounts: vec![], teams: vec![], projects: vec![], roles: vec![],
//! #         bindings: vec![], shares: vec![], created: vec![], loc: Loc::SYNTHETIC }
//! # }
//! let rules = TransferRules::default();
//! let acme = org();
//! let t = Transfer::start(&acme, None, "alice", "bob", "admin", 1_000, &rules).unwrap();
//! let t = match t.confirm(&acme, "bob", 1_001).unwrap() { Confirmed::Pending(t) => t, _ => unreachable!() };
//! let Confirmed::Completed(after) = t.confirm(&acme, "alice", 1_002).unwrap() else { unreachable!() };
//! assert_eq!(after.owner.as_str(), "bob");
//! assert!(after.bindings.iter().any(|b| b.subject.as_str() == "alice" && b.role.as_str() == "admin"));
//! ```

use crate::policy::{BindingDecl, Loc, Located, OrgDecl};

/// How long a transfer may stay pending, and the like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransferRules {
    /// Seconds a pending transfer lives (MODEL.md: 7 days by default).
    pub ttl_secs: u64,
}

impl Default for TransferRules {
    fn default() -> Self {
        TransferRules { ttl_secs: 7 * 24 * 3600 }
    }
}

/// A pending transfer of one org's ownership.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Transfer {
    pub org: String,
    /// The owner who started it.
    pub from: String,
    /// The user member who will become owner.
    pub to: String,
    /// The role `from` is bound to at organisation scope when it completes.
    pub step_down_to: String,
    pub started_at: u64,
    pub expires_at: u64,
    pub confirmed_by_owner: bool,
    pub confirmed_by_new_owner: bool,
}

/// What a confirmation did.
#[derive(Clone, Debug)]
pub enum Confirmed {
    /// One party has confirmed; the other has not yet.
    Pending(Transfer),
    /// Both have: the org as it is after the transfer, to validate and commit.
    Completed(OrgDecl),
}

/// Why a transfer step was refused. Nothing changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    #[error("only the owner of '{org}' ('{owner}') can start a transfer of its ownership")]
    NotOwner { org: String, owner: String },
    #[error("'{who}' is not a member of '{org}': ownership goes to a user member")]
    NotAMember { org: String, who: String },
    #[error("'{who}' is a service account: ownership goes to a user member")]
    ServiceAccount { who: String },
    #[error("'{who}' already owns '{org}'")]
    AlreadyOwner { org: String, who: String },
    #[error("the owner steps down to a role: 'ownership' cannot be kept or given by a binding")]
    NoRole,
    #[error("a transfer of '{org}' to '{to}' is already pending; cancel it first")]
    AlreadyPending { org: String, to: String },
    #[error("'{who}' is not a party to the pending transfer of '{org}' (only '{from}' and '{to}' are)")]
    NotAParty { org: String, who: String, from: String, to: String },
    #[error("the transfer of '{org}' expired; start a new one")]
    Expired { org: String },
    #[error("'{org}' has changed owner, or the new owner left it, since the transfer was started; it is void")]
    Stale { org: String },
}

impl Transfer {
    /// Starts a transfer of `org` from `actor` (who must be its owner) to `to`.
    /// `pending` is the org's current pending transfer, if any (one at a time; an expired
    /// one does not count).
    pub fn start(
        org: &OrgDecl,
        pending: Option<&Transfer>,
        actor: &str,
        to: &str,
        step_down_to: &str,
        now: u64,
        rules: &TransferRules,
    ) -> Result<Transfer, TransferError> {
        let id = org.id.as_str();
        if org.owner.as_str() != actor {
            return Err(TransferError::NotOwner { org: id.into(), owner: org.owner.value.clone() });
        }
        if let Some(p) = pending.filter(|p| !p.expired(now)) {
            return Err(TransferError::AlreadyPending { org: id.into(), to: p.to.clone() });
        }
        if to == actor {
            return Err(TransferError::AlreadyOwner { org: id.into(), who: to.into() });
        }
        if org.service_accounts.iter().any(|s| s.as_str() == to) {
            return Err(TransferError::ServiceAccount { who: to.into() });
        }
        if !org.members.iter().any(|m| m.as_str() == to) {
            return Err(TransferError::NotAMember { org: id.into(), who: to.into() });
        }
        if step_down_to.is_empty() || step_down_to == "ownership" {
            return Err(TransferError::NoRole);
        }
        Ok(Transfer {
            org: id.into(),
            from: actor.into(),
            to: to.into(),
            step_down_to: step_down_to.into(),
            started_at: now,
            expires_at: now.saturating_add(rules.ttl_secs),
            confirmed_by_owner: false,
            confirmed_by_new_owner: false,
        })
    }

    /// Whether it has expired at `now`.
    pub fn expired(&self, now: u64) -> bool {
        now >= self.expires_at
    }

    /// Records `actor`'s confirmation. The second party's completes the transfer against
    /// `org` (which must still be owned by `from`).
    pub fn confirm(&self, org: &OrgDecl, actor: &str, now: u64) -> Result<Confirmed, TransferError> {
        self.check_party(actor, now)?;
        let still_member = org.members.iter().any(|m| m.as_str() == self.to);
        if org.owner.as_str() != self.from || !still_member {
            return Err(TransferError::Stale { org: self.org.clone() });
        }
        let mut next = self.clone();
        if actor == self.from {
            next.confirmed_by_owner = true;
        } else {
            next.confirmed_by_new_owner = true;
        }
        if !(next.confirmed_by_owner && next.confirmed_by_new_owner) {
            return Ok(Confirmed::Pending(next));
        }
        let mut after = org.clone();
        after.owner = Located::synthetic(self.to.clone());
        after.bindings.retain(|b| b.subject.as_str() != self.to);
        after.bindings.push(BindingDecl {
            subject: Located::synthetic(self.from.clone()),
            role: Located::synthetic(self.step_down_to.clone()),
            project: None,
            expires_at: None,
            loc: Loc::SYNTHETIC,
        });
        Ok(Confirmed::Completed(after))
    }

    /// Checks that `actor` may cancel it; cancelling changes nothing else.
    pub fn cancel(&self, actor: &str, now: u64) -> Result<(), TransferError> {
        self.check_party(actor, now)
    }

    fn check_party(&self, actor: &str, now: u64) -> Result<(), TransferError> {
        if self.expired(now) {
            return Err(TransferError::Expired { org: self.org.clone() });
        }
        if actor != self.from && actor != self.to {
            return Err(TransferError::NotAParty {
                org: self.org.clone(),
                who: actor.into(),
                from: self.from.clone(),
                to: self.to.clone(),
            });
        }
        Ok(())
    }
}
