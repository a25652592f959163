//! Who is calling, typed, so that one org's identities never reach another.
//!
//! Member ids are unique only within an org, and users and service accounts share that
//! namespace. A bare string is therefore not an identity: `anna` the user of the identity
//! provider and `anna` the service account that org `beta` created are different callers,
//! and the second is nobody at all in org `alpha`. So a caller is one of:
//!
//! - a **user**: the principal claim of a verified JWT. A user is a member of any org that
//!   lists its id under `members` (never under `service_accounts`);
//! - a **service account** of one org: `(org, name)`, identified by an API token. It is a
//!   member of that org only (under `service_accounts`), whatever its name.
//!
//! Operators (`[admin] operators`) are users; a service account never is one.
//!
//! Everywhere an identity is written for people or other programs (the decision log, the
//! audit log, `X-Portcullis-Principal` sent upstream, error messages) it is rendered one
//! way: a user as its id (`anna`), a service account as `sa:ORG/NAME` (`sa:beta/anna`).
//! User ids cannot start with `sa:` (the policy validator and the token verifier refuse
//! them) and org ids cannot contain `/`, so the two renderings never meet.

use std::fmt;

/// The prefix of a rendered service account.
pub const SERVICE_ACCOUNT_PREFIX: &str = "sa:";

/// A caller, owned: what authentication establishes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Identity {
    User(String),
    ServiceAccount { org: String, name: String },
}

/// A caller, borrowed: what a decision is asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Caller<'a> {
    User(&'a str),
    ServiceAccount { org: &'a str, name: &'a str },
}

impl Identity {
    pub fn caller(&self) -> Caller<'_> {
        match self {
            Identity::User(id) => Caller::User(id),
            Identity::ServiceAccount { org, name } => Caller::ServiceAccount { org, name },
        }
    }

    /// The user's id, if this is a user.
    pub fn user(&self) -> Option<&str> {
        match self {
            Identity::User(id) => Some(id),
            Identity::ServiceAccount { .. } => None,
        }
    }

    /// See [`Caller::member_id_in`].
    pub fn member_id_in(&self, org: &str) -> Option<&str> {
        self.caller().member_id_in(org)
    }
}

impl<'a> Caller<'a> {
    /// The id this caller would have as a member of `org`: a user's id in any org, a
    /// service account's name in its own org only. Whether it *is* a member is the policy's
    /// to say; this only rules out what can never be.
    pub fn member_id_in(&self, org: &str) -> Option<&'a str> {
        match *self {
            Caller::User(id) => Some(id),
            Caller::ServiceAccount { org: home, name } => (home == org).then_some(name),
        }
    }

    pub fn is_service_account(&self) -> bool {
        matches!(self, Caller::ServiceAccount { .. })
    }

    /// Reads the rendering back: `sa:ORG/NAME` is a service account, anything else a user.
    pub fn parse(text: &'a str) -> Result<Caller<'a>, PrincipalError> {
        let Some(rest) = text.strip_prefix(SERVICE_ACCOUNT_PREFIX) else {
            return if text.is_empty() { Err(PrincipalError::Empty) } else { Ok(Caller::User(text)) };
        };
        match rest.split_once('/') {
            Some((org, name)) if !org.is_empty() && !name.is_empty() => Ok(Caller::ServiceAccount { org, name }),
            _ => Err(PrincipalError::BadServiceAccount { text: text.into() }),
        }
    }

    pub fn to_identity(self) -> Identity {
        match self {
            Caller::User(id) => Identity::User(id.into()),
            Caller::ServiceAccount { org, name } => Identity::ServiceAccount { org: org.into(), name: name.into() },
        }
    }
}

/// A principal written as text could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalError {
    #[error("the principal is empty: give a user id, or sa:ORG/NAME for a service account")]
    Empty,
    #[error("'{text}' is not a service account: write sa:ORG/NAME (for example sa:acme/ci-bot)")]
    BadServiceAccount { text: String },
}

impl fmt::Display for Caller<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caller::User(id) => f.write_str(id),
            Caller::ServiceAccount { org, name } => write!(f, "{SERVICE_ACCOUNT_PREFIX}{org}/{name}"),
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.caller().fmt(f)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn a_service_account_is_a_member_of_its_own_org_only() {
        let sa = Caller::ServiceAccount { org: "beta", name: "anna" };
        assert_eq!(sa.member_id_in("beta"), Some("anna"));
        assert_eq!(sa.member_id_in("alpha"), None);
        assert_eq!(Caller::User("anna").member_id_in("alpha"), Some("anna"));
    }

    #[test]
    fn renderings_are_distinct_and_read_back() {
        let sa = Caller::ServiceAccount { org: "beta", name: "anna" };
        assert_eq!(sa.to_string(), "sa:beta/anna");
        assert_eq!(Caller::User("anna").to_string(), "anna");
        assert_eq!(Caller::parse("sa:beta/anna").unwrap(), sa);
        assert_eq!(Caller::parse("anna").unwrap(), Caller::User("anna"));
        assert!(Caller::parse("sa:beta").is_err());
        assert!(Caller::parse("sa:/x").is_err());
        assert!(Caller::parse("").is_err());
    }
}
