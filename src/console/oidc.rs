//! Signing in to the console through the identity provider `[auth] issuer` names: OpenID
//! Connect's authorization code flow with PKCE (RFC 7636, `S256`).
//!
//! `/console/sign-in/start` sends the browser to the provider with a fresh `state`, `nonce`
//! and code challenge; the state is also set in a cookie of the console's, so the callback
//! is taken only in the browser that started it. `/console/callback` exchanges the code,
//! with the verifier, at the provider's token endpoint, and accepts the ID token only when a
//! key the gateway trusts signed it, for this client, from the issuer, with the nonce sent.
//! The session then lasts as long as the ID token (at most [`SESSION_SECS`]).
//!
//! The provider's endpoints come from its discovery document, read once and kept for an
//! hour; a failed read is not retried for [`RETRY_SECS`], so unauthenticated sign-in starts
//! cost the provider at most one request in that time. Pending sign-ins are bounded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use super::SESSION_SECS;
use super::session::random_token;
use crate::auth::{Principal, Verifier};

/// At most this many sign-ins wait for their callback; the oldest go first.
const MAX_PENDING: usize = 10_000;
/// How long a started sign-in may take.
pub const PENDING_SECS: i64 = 600;
/// How long the discovery document is kept.
const DISCOVERY_SECS: i64 = 3_600;
/// After a failed discovery read, how long before the next is tried.
const RETRY_SECS: i64 = 10;
/// The longest the provider may take to answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read from the provider.
const MAX_ANSWER: u64 = 256 * 1024;

/// Why a sign-in through the provider did not complete. Nothing here carries a code or a
/// token.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("the identity provider's discovery document ({url}) could not be read: {reason}")]
    Discovery { url: String, reason: String },
    #[error("this sign-in is unknown or over ({PENDING_SECS} s at most): start again")]
    UnknownState,
    #[error("the identity provider refused the sign-in: {0}")]
    Provider(String),
    #[error("the identity provider's token endpoint did not answer with an ID token: {0}")]
    Token(String),
    #[error("the ID token was refused: {0}")]
    IdToken(String),
    #[error("no random bytes: {0}")]
    Random(String),
}

/// The console's client at the provider.
pub struct Oidc {
    issuer: String,
    client_id: String,
    client_secret: Option<String>,
    redirect_url: String,
    verifier: Arc<Verifier>,
    discovered: Mutex<Discovered>,
    /// By SHA-256 of the state.
    pending: Mutex<HashMap<[u8; 32], Pending>>,
}

#[derive(Default)]
struct Discovered {
    endpoints: Option<(Endpoints, i64)>,
    failed_at: Option<(i64, String)>,
}

#[derive(Clone, serde::Deserialize)]
struct Endpoints {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
}

struct Pending {
    code_verifier: String,
    nonce: String,
    until: i64,
}

/// Where a started sign-in goes: the provider's authorization URL, and the state the
/// console's cookie holds until the callback.
pub struct Started {
    pub location: String,
    pub state: String,
}

impl Oidc {
    pub fn new(
        issuer: &str,
        sign_in: &crate::config::ConsoleSignIn,
        client_secret: Option<String>,
        verifier: Arc<Verifier>,
    ) -> Oidc {
        Oidc {
            issuer: issuer.trim_end_matches('/').to_string(),
            client_id: sign_in.client_id.clone(),
            client_secret,
            redirect_url: sign_in.redirect_url.clone(),
            verifier,
            discovered: Mutex::default(),
            pending: Mutex::default(),
        }
    }

    /// The console's sign-in through the identity provider, when `[console]` is configured:
    /// its client secret read from its file, ID tokens checked with the gateway's own keys.
    /// The error says what to fix.
    pub fn configured(
        config: &crate::config::Config,
        verifier: Option<&Arc<Verifier>>,
    ) -> Result<Option<Oidc>, String> {
        let Some(sign_in) = &config.console else { return Ok(None) };
        // The config check made sure [auth] names the issuer.
        let issuer = config.auth.as_ref().and_then(|a| a.issuer.as_deref()).unwrap_or_default();
        let Some(verifier) = verifier else {
            return Err(
                "[console] checks ID tokens with the gateway's keys: add [[auth.key]] or jwks_url under [auth]".into(),
            );
        };
        let secret = match &sign_in.client_secret_file {
            Some(path) => match std::fs::read_to_string(path) {
                Ok(s) => Some(s.trim_end_matches(['\n', '\r']).to_string()),
                Err(e) => {
                    let path = path.display();
                    return Err(format!("[console] client_secret_file {path}: {e}: create it or remove the key"));
                }
            },
            None => None,
        };
        Ok(Some(Oidc::new(issuer, sign_in, secret, verifier.clone())))
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Starts one sign-in: the provider's URL to send the browser to.
    pub async fn start(&self, now: i64) -> Result<Started, SignInError> {
        let endpoints = self.endpoints(now).await?;
        let random = |what: &str| random_token().map_err(|e| SignInError::Random(format!("{what}: {e}")));
        let (state, nonce, code_verifier) = (random("state")?, random("nonce")?, random("verifier")?);
        let challenge = base64url(&Sha256::digest(code_verifier.as_bytes()));
        {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending.retain(|_, p| p.until > now);
            if pending.len() >= MAX_PENDING
                && let Some(oldest) = pending.iter().min_by_key(|(_, p)| p.until).map(|(k, _)| *k)
            {
                pending.remove(&oldest);
            }
            let until = now + PENDING_SECS;
            pending.insert(
                Sha256::digest(state.as_bytes()).into(),
                Pending { code_verifier, nonce: nonce.clone(), until },
            );
        }
        let q = |s: &str| super::html::url(s);
        let sep = if endpoints.authorization_endpoint.contains('?') { '&' } else { '?' };
        let location = format!(
            "{}{sep}response_type=code&client_id={}&redirect_uri={}&scope=openid&state={}&nonce={}\
             &code_challenge={challenge}&code_challenge_method=S256",
            endpoints.authorization_endpoint,
            q(&self.client_id),
            q(&self.redirect_url),
            q(&state),
            q(&nonce),
        );
        Ok(Started { location, state })
    }

    /// Completes the sign-in `state` (already matched against the browser's cookie) with
    /// the provider's `code`: the principal of its verified ID token.
    pub async fn finish(&self, state: &str, code: &str, now: i64) -> Result<Principal, SignInError> {
        let key: [u8; 32] = Sha256::digest(state.as_bytes()).into();
        let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
        let pending = pending.filter(|p| p.until > now).ok_or(SignInError::UnknownState)?;
        let endpoints = self.endpoints(now).await?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &self.redirect_url),
            ("client_id", &self.client_id),
            ("code_verifier", &pending.code_verifier),
        ];
        if let Some(secret) = &self.client_secret {
            form.push(("client_secret", secret));
        }
        let body: String =
            form.iter().map(|(k, v)| format!("{k}={}", super::html::url(v))).collect::<Vec<_>>().join("&");
        let url = endpoints.token_endpoint.clone();
        let answer = tokio::task::spawn_blocking(move || post_form(&url, &body))
            .await
            .map_err(|e| SignInError::Token(e.to_string()))??;
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            id_token: String,
        }
        let token: TokenAnswer = serde_json::from_slice(&answer)
            .map_err(|e| SignInError::Token(format!("its answer is not JSON with an `id_token`: {e}")))?;
        let principal = self
            .verifier
            .verify_id_token(&token.id_token, &self.client_id, &pending.nonce)
            .map_err(|e| SignInError::IdToken(e.to_string()))?;
        if principal.expires_at <= u64::try_from(now).unwrap_or(0) {
            return Err(SignInError::IdToken("it has expired".into()));
        }
        Ok(principal)
    }

    /// When a session opened with `principal` ends: with its ID token, and no later than
    /// [`SESSION_SECS`] from `now`.
    pub fn session_end(principal: &Principal, now: i64) -> i64 {
        i64::try_from(principal.expires_at).unwrap_or(i64::MAX).min(now + SESSION_SECS)
    }

    async fn endpoints(&self, now: i64) -> Result<Endpoints, SignInError> {
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        {
            let d = self.discovered.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((e, at)) = &d.endpoints
                && now - at < DISCOVERY_SECS
            {
                return Ok(e.clone());
            }
            if let Some((at, reason)) = &d.failed_at
                && now - at < RETRY_SECS
            {
                return Err(SignInError::Discovery { url, reason: reason.clone() });
            }
        }
        let fetched = {
            let url = url.clone();
            tokio::task::spawn_blocking(move || get(&url)).await.map_err(|e| e.to_string()).and_then(|r| r)
        };
        let parsed = fetched.and_then(|bytes| {
            serde_json::from_slice::<Endpoints>(&bytes).map_err(|e| format!("it is not a discovery document: {e}"))
        });
        let checked = parsed.and_then(|e| match e.issuer.trim_end_matches('/') == self.issuer {
            true => Ok(e),
            false => Err(format!("it names the issuer '{}', not '{}'", e.issuer, self.issuer)),
        });
        let mut d = self.discovered.lock().unwrap_or_else(|p| p.into_inner());
        match checked {
            Ok(e) => {
                d.endpoints = Some((e.clone(), now));
                d.failed_at = None;
                Ok(e)
            }
            Err(reason) => {
                d.failed_at = Some((now, reason.clone()));
                Err(SignInError::Discovery { url, reason })
            }
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().timeout_global(Some(TIMEOUT)).build().into()
}

fn get(url: &str) -> Result<Vec<u8>, String> {
    let mut r = agent().get(url).call().map_err(|e| e.to_string())?;
    r.body_mut().with_config().limit(MAX_ANSWER).read_to_vec().map_err(|e| e.to_string())
}

/// POSTs a form to the token endpoint. The error says what failed, never what was sent.
fn post_form(url: &str, body: &str) -> Result<Vec<u8>, SignInError> {
    let sent = agent()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .send(body);
    let mut r = sent.map_err(|e| match e {
        ureq::Error::StatusCode(status) => SignInError::Provider(format!("the token endpoint answered {status}")),
        other => SignInError::Token(other.to_string()),
    })?;
    r.body_mut().with_config().limit(MAX_ANSWER).read_to_vec().map_err(|e| SignInError::Token(e.to_string()))
}

/// Base64url without padding (RFC 7636's `BASE64URL-ENCODE`).
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            let six = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(ALPHABET.get(six as usize).copied().unwrap_or(b'A')));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_challenge_is_the_base64url_sha256_of_the_verifier() {
        // As Python's hashlib and base64.urlsafe_b64encode compute it, padding dropped.
        let verifier = b"dBjftJeZ4CVP-mJ92K1gq4hJ8yU7XK1iKbCY4WZFnRV8S-bTPqKM93k0dHzkZ_M2M";
        assert_eq!(base64url(&Sha256::digest(verifier)), "EfBHcygVVMfObOy9NVkAHKuBhkTqiU6ksBbOtKzqGHU");
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }
}
