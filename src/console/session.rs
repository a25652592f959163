//! Console sessions: a random id in an `HttpOnly`, `SameSite=Strict` cookie, held here by
//! its SHA-256 (a leaked table names no cookie), each with the identity signed in, when it
//! ends, and the token every form of the session must carry (CSRF).
//!
//! This is the control plane, not the request path: a mutex around a map is enough, and the
//! number of sessions is bounded (expired ones go first; a full table refuses sign-in).

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::principal::Identity;

/// The session cookie's name.
pub const COOKIE: &str = "portcullis_session";
/// The cookie that ties a sign-in form to the browser that was shown it.
pub const SIGN_IN_COOKIE: &str = "portcullis_sign_in";
/// The state of a sign-in through the identity provider, until its callback.
pub const OIDC_COOKIE: &str = "portcullis_oidc";
/// The most sessions held at once.
pub const MAX_SESSIONS: usize = 10_000;

/// One signed-in browser.
#[derive(Clone, Debug)]
pub struct Session {
    pub identity: Identity,
    /// Every form of this session sends it back.
    pub csrf: String,
    /// Seconds since the epoch.
    pub expires: i64,
}

/// Why a session could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("the console holds {MAX_SESSIONS} sessions already; sign out elsewhere or try again when some end")]
    Full,
    #[error("no random bytes for a session: {0}")]
    Random(String),
}

/// The sessions of one console.
#[derive(Debug, Default)]
pub struct Sessions {
    by_digest: Mutex<HashMap<[u8; 32], Session>>,
}

/// 32 random bytes, hex.
pub fn random_token() -> Result<String, SessionError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| SessionError::Random(e.to_string()))?;
    Ok(hex::encode(bytes))
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// A new session for `identity` until `expires`: the cookie value and the session.
    pub fn open(&self, identity: Identity, now: i64, expires: i64) -> Result<(String, Session), SessionError> {
        let id = random_token()?;
        let session = Session { identity, csrf: random_token()?, expires };
        let mut map = self.by_digest.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, s| s.expires > now);
        }
        if map.len() >= MAX_SESSIONS {
            return Err(SessionError::Full);
        }
        map.insert(digest(&id), session.clone());
        Ok((id, session))
    }

    /// The live session a cookie value names, if any (an ended one is dropped).
    pub fn get(&self, id: &str, now: i64) -> Option<Session> {
        let key = digest(id);
        let mut map = self.by_digest.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match map.get(&key) {
            Some(s) if s.expires > now => Some(s.clone()),
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Ends the session a cookie value names.
    pub fn close(&self, id: &str) {
        self.by_digest.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&digest(id));
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'h>(header: &'h str, name: &str) -> Option<&'h str> {
    header.split(';').filter_map(|pair| pair.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// Whether `a` and `b` are equal, in time that depends on their lengths only.
pub fn same(a: &str, b: &str) -> bool {
    crate::auth::same_bytes(a.as_bytes(), b.as_bytes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn a_session_lives_until_it_ends_or_is_closed() {
        let s = Sessions::default();
        let (id, opened) = s.open(Identity::User("dave".into()), 100, 200).unwrap();
        assert_eq!(s.get(&id, 150).unwrap().csrf, opened.csrf);
        assert!(s.get("not-a-session", 150).is_none());
        assert!(s.get(&id, 200).is_none(), "ended at 200");
        let (id, _) = s.open(Identity::User("dave".into()), 100, 200).unwrap();
        s.close(&id);
        assert!(s.get(&id, 150).is_none());
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let h = "a=1; portcullis_session_x=2; portcullis_session=abc";
        assert_eq!(cookie(h, COOKIE), Some("abc"));
        assert_eq!(cookie("x=1", COOKIE), None);
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
