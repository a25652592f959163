//! Step 3 of a request's path: identify the caller from an `Authorization: Bearer` JWT.
//!
//! The rules follow `../shared/security/CASES.md` section D:
//!
//! - keys are configured, each with its algorithm pinned: a token is verified only with the
//!   algorithm of the key it names, so `alg: none` (any case) and an HS256 token "signed"
//!   with an RSA public key as the secret are rejected;
//! - `kid` is only a lookup key among configured keys; keys a token carries or points at
//!   (`jwk`, `jku`, `x5u`, `x5c`) are never used; an unknown `kid` is a 401;
//! - `exp` is required and must be a number; `nbf` is honoured; `iss` and `aud` are checked
//!   when configured (and then required);
//! - the principal is taken from a configured claim (`sub` by default).
//!
//! Failures are [`AuthError`]s (401 with `WWW-Authenticate`). No error, and nothing logged
//! from here, ever contains the token.
//!
//! Service accounts may instead send an opaque API token (`pcat_` and 64 hex digits, made
//! by `portcullis token new`). The gateway knows only each token's SHA-256, listed under
//! `[[auth.api_token]]` with the service account it identifies.
//!
//! Verifying a signature costs tens of microseconds, so verified tokens are cached
//! ([`TokenCache`]): keyed by the token's SHA-256 (the cache never holds a token), honouring
//! `exp`, bounded, lock-free to read, and owned by the [`Verifier`], so new keys start with
//! an empty cache.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::principal::{Caller, Identity};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

mod cache;
use cache::TOKEN_CACHE_SLOTS;
pub use cache::TokenCache;

/// One configured verification key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySpec {
    /// Matched against a token's `kid`; may be omitted when only one key is configured.
    pub kid: Option<String>,
    pub algorithm: Algorithm,
    /// A public key in PEM (RSA, EC or Ed25519), or for HS256/384/512 a file holding the
    /// shared secret.
    pub file: PathBuf,
}

/// How tokens are checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthSpec {
    pub principal_claim: String,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    pub keys: Vec<KeySpec>,
    /// Accept tokens signed by the key `portcullis demo` generates for its run (never in
    /// production; `serve` never has that key).
    pub demo_key: bool,
    /// Service accounts' opaque API tokens, known only by their SHA-256.
    pub api_tokens: Vec<ApiTokenSpec>,
    /// Keys published at a JWKS URL, beside (or instead of) `keys`.
    pub jwks: Option<crate::jwks::JwksSpec>,
}

/// One service account's API token: `Authorization: Bearer pcat_...`, stored as a hash.
/// The account is a service account of `org`, and of no other org.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiTokenSpec {
    pub org: String,
    pub account: String,
    pub sha256: [u8; 32],
}

impl std::fmt::Debug for ApiTokenSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiTokenSpec").field("org", &self.org).field("account", &self.account).finish_non_exhaustive()
    }
}

/// The prefix of every API token, so that one is never mistaken for a JWT (and is easy to
/// find when it leaks into a repository).
pub const API_TOKEN_PREFIX: &str = "pcat_";

/// A new API token: the prefix and 32 random bytes in hex. Returns the token, shown once,
/// and its SHA-256 in hex, which is what the config stores.
pub fn new_api_token() -> Result<(String, String), String> {
    let mut secret = [0u8; 32];
    getrandom::getrandom(&mut secret).map_err(|e| format!("cannot generate a token: {e}"))?;
    let token = format!("{API_TOKEN_PREFIX}{}", hex(&secret));
    let digest = hex(&TokenCache::digest(&token));
    Ok((token, digest))
}

/// The API tokens the control plane issued and has not revoked, by SHA-256: replaced whole
/// (per org) when one is issued or revoked, read lock-free by every verification. Each
/// identifies a service account *of the org that issued it*.
#[derive(Debug, Default)]
pub struct StoredTokens {
    live: arc_swap::ArcSwap<std::collections::HashMap<[u8; 32], Arc<Principal>>>,
    /// Per org: (SHA-256, service account). Writers only.
    by_org: std::sync::Mutex<std::collections::BTreeMap<String, Vec<TokenOf>>>,
}

impl StoredTokens {
    fn get(&self, digest: &[u8; 32]) -> Option<Arc<Principal>> {
        self.live.load().get(digest).cloned()
    }

    /// Replaces the tokens of `org` with `tokens` (SHA-256 in hex, service account).
    pub fn set_org(&self, org: &str, tokens: Vec<(String, String)>) {
        let mut by_org = self.by_org.lock().unwrap_or_else(|e| e.into_inner());
        let parsed = tokens.into_iter().filter_map(|(sha, account)| Some((unhex32(&sha)?, account))).collect();
        by_org.insert(org.to_string(), parsed);
        let mut live = std::collections::HashMap::new();
        for (org, tokens) in by_org.iter() {
            for (digest, account) in tokens {
                let identity = Identity::ServiceAccount { org: org.clone(), name: account.clone() };
                if let Some(principal) = Principal::new(identity, u64::MAX, None) {
                    live.insert(*digest, Arc::new(principal));
                }
            }
        }
        self.live.store(Arc::new(live));
    }
}

/// A token's SHA-256 and the service account it identifies.
type TokenOf = ([u8; 32], String);

/// Whether `a` and `b` are equal, in time that depends on their lengths only (for secrets
/// and their digests).
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 64 hex digits as 32 bytes.
pub fn unhex32(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

impl Default for AuthSpec {
    fn default() -> Self {
        AuthSpec {
            principal_claim: "sub".into(),
            issuer: None,
            audience: None,
            leeway_secs: 30,
            keys: Vec::new(),
            demo_key: false,
            api_tokens: Vec::new(),
            jwks: None,
        }
    }
}

/// Parses an algorithm name as written in config (`RS256`, `ES256`, `EdDSA`, ...).
pub fn parse_algorithm(name: &str) -> Option<Algorithm> {
    Algorithm::from_str(name).ok()
}

/// A key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("key file {path} is not a usable {algorithm:?} key ({reason}): give a PEM public key of that type")]
    Unusable { path: PathBuf, algorithm: Algorithm, reason: String },
    #[error("algorithm {algorithm:?} is not supported: use RS*, PS*, ES256, ES384, EdDSA or HS*")]
    Unsupported { algorithm: Algorithm },
    #[error("no keys are configured: add [[auth.key]] entries, or every request is refused")]
    NoKeys,
    #[error("the demo key is accepted only when the config sets `demo_key = true` under [auth]")]
    DemoNotEnabled,
    #[error(
        "API token of '{principal}' names no usable service account: give `org` and `account` without control characters"
    )]
    BadApiTokenPrincipal { principal: String },
    #[error("{count} keys are configured and key {index} has no `kid`: give every key a kid")]
    KidRequired { count: usize, index: usize },
}

/// Why a request is not authenticated. Every variant is a 401.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no credentials: send `Authorization: Bearer <token>`")]
    Missing,
    #[error("the Authorization header must be `Bearer <token>`")]
    NotBearer,
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token names no configured key (kid {kid})")]
    UnknownKey { kid: String },
    #[error("the token was rejected: {reason}")]
    Rejected { reason: &'static str },
    #[error("the token has no string claim '{claim}' to identify the caller")]
    NoPrincipal { claim: String },
    #[error("the token's claim '{claim}' holds control characters or starts with 'sa:', so it cannot name a user")]
    BadPrincipal { claim: String },
    #[error("the API token is not known (revoked, or never issued)")]
    UnknownApiToken,
}

impl AuthError {
    /// The value of the `WWW-Authenticate` header for this failure (RFC 6750).
    pub fn www_authenticate(&self) -> String {
        match self {
            AuthError::Missing => "Bearer realm=\"portcullis\"".to_string(),
            other => format!(
                "Bearer realm=\"portcullis\", error=\"invalid_token\", error_description=\"{}\"",
                other.to_string().replace('"', "'")
            ),
        }
    }
}

/// Who is calling, as established by a verified token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub identity: Identity,
    /// The identity rendered (`anna`, `sa:beta/anna`), built once when the token is
    /// verified: logs and the header sent upstream use it on every request the token makes.
    pub rendered: String,
    /// `rendered` as a header value.
    pub header_value: http::HeaderValue,
    /// The token's `exp`, seconds since the Unix epoch.
    pub expires_at: u64,
    /// The token's `iss`, if any.
    pub issuer: Option<String>,
}

impl Principal {
    /// A principal for `identity`; `None` if its rendering cannot be a header value.
    pub fn new(identity: Identity, expires_at: u64, issuer: Option<String>) -> Option<Principal> {
        let rendered = identity.to_string();
        let header_value = http::HeaderValue::from_str(&rendered).ok()?;
        Some(Principal { identity, rendered, header_value, expires_at, issuer })
    }

    pub fn caller(&self) -> Caller<'_> {
        self.identity.caller()
    }
}

pub(crate) struct VerifyKey {
    pub(crate) kid: Option<String>,
    pub(crate) key: DecodingKey,
    pub(crate) validation: Validation,
    /// What the key was made from (a JWKS entry's SHA-256), to tell a changed set.
    pub(crate) fingerprint: [u8; 32],
}

/// Verifies tokens against a fixed set of keys, caching what it verified.
pub struct Verifier {
    keys: Vec<VerifyKey>,
    /// Keys from a JWKS URL, kept current in the background.
    jwks: Option<Arc<crate::jwks::Jwks>>,
    /// API tokens by their SHA-256.
    api_tokens: std::collections::HashMap<[u8; 32], Arc<Principal>>,
    /// API tokens the control plane issued, kept current by it.
    stored_tokens: Option<Arc<StoredTokens>>,
    principal_claim: String,
    cache: TokenCache,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|k| k.kid.as_deref().unwrap_or("-")).collect();
        f.debug_struct("Verifier").field("kids", &kids).field("principal_claim", &self.principal_claim).finish()
    }
}

fn decoding_key(spec: &KeySpec) -> Result<DecodingKey, KeyError> {
    let bytes = std::fs::read(&spec.file).map_err(|source| KeyError::Io { path: spec.file.clone(), source })?;
    let unusable = |e: jsonwebtoken::errors::Error| KeyError::Unusable {
        path: spec.file.clone(),
        algorithm: spec.algorithm,
        reason: e.to_string(),
    };
    use Algorithm::*;
    match spec.algorithm {
        HS256 | HS384 | HS512 => Ok(DecodingKey::from_secret(trim_secret(&bytes))),
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => DecodingKey::from_rsa_pem(&bytes).map_err(unusable),
        ES256 | ES384 => DecodingKey::from_ec_pem(&bytes).map_err(unusable),
        EdDSA => DecodingKey::from_ed_pem(&bytes).map_err(unusable),
        other => Err(KeyError::Unsupported { algorithm: other }),
    }
}

/// The checks for tokens of one key: its algorithm only, `exp` required, `nbf` honoured,
/// `iss` and `aud` when configured.
pub(crate) fn validation(spec: &AuthSpec, algorithm: Algorithm) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.leeway = spec.leeway_secs;
    validation.validate_nbf = true;
    let mut required = vec!["exp"];
    match &spec.issuer {
        Some(iss) => {
            validation.set_issuer(&[iss]);
            required.push("iss");
        }
        None => validation.iss = None,
    }
    match &spec.audience {
        Some(aud) => {
            validation.set_audience(&[aud]);
            required.push("aud");
        }
        None => validation.validate_aud = false,
    }
    validation.set_required_spec_claims(&required);
    validation
}

/// A secret file's content without a trailing newline (editors add one).
fn trim_secret(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().rposition(|b| !matches!(b, b'\n' | b'\r')).map_or(0, |i| i + 1);
    bytes.get(..end).unwrap_or(bytes)
}

impl Verifier {
    /// Loads every configured key. Relative key paths must already be resolved. With
    /// `demo_key` set and no keys, nothing verifies (only `portcullis demo` has a demo key).
    pub fn load(spec: &AuthSpec) -> Result<Verifier, KeyError> {
        Verifier::load_with_demo(spec, None)
    }

    /// [`load`](Self::load), plus the demo's generated HS256 secret under kid
    /// [`DEMO_KID`](crate::demo::DEMO_KID), which the config must enable.
    pub fn load_with_demo(spec: &AuthSpec, demo_secret: Option<&[u8]>) -> Result<Verifier, KeyError> {
        if spec.keys.is_empty() && !spec.demo_key && spec.api_tokens.is_empty() && spec.jwks.is_none() {
            return Err(KeyError::NoKeys);
        }
        if demo_secret.is_some() && !spec.demo_key {
            return Err(KeyError::DemoNotEnabled);
        }
        let mut keys = Vec::with_capacity(spec.keys.len() + 1);
        for (index, k) in spec.keys.iter().enumerate() {
            if spec.keys.len() > 1 && k.kid.is_none() {
                return Err(KeyError::KidRequired { count: spec.keys.len(), index: index + 1 });
            }
            keys.push(VerifyKey {
                kid: k.kid.clone(),
                key: decoding_key(k)?,
                validation: validation(spec, k.algorithm),
                fingerprint: [0; 32],
            });
        }
        if let Some(secret) = demo_secret {
            let kid = Some(crate::demo::DEMO_KID.to_string());
            let validation = validation(spec, Algorithm::HS256);
            keys.push(VerifyKey { kid, key: DecodingKey::from_secret(secret), validation, fingerprint: [0; 32] });
        }
        let mut api_tokens = std::collections::HashMap::with_capacity(spec.api_tokens.len());
        for t in &spec.api_tokens {
            let identity = Identity::ServiceAccount { org: t.org.clone(), name: t.account.clone() };
            let rendered = identity.to_string();
            let principal = Principal::new(identity, u64::MAX, None)
                .ok_or(KeyError::BadApiTokenPrincipal { principal: rendered })?;
            api_tokens.insert(t.sha256, Arc::new(principal));
        }
        let jwks = spec.jwks.as_ref().map(|j| crate::jwks::Jwks::start(j, spec));
        Ok(Verifier {
            keys,
            jwks,
            api_tokens,
            stored_tokens: None,
            principal_claim: spec.principal_claim.clone(),
            cache: TokenCache::new(TOKEN_CACHE_SLOTS),
        })
    }

    /// Also accepts the API tokens in `tokens` (issued through the admin API).
    pub fn with_stored_tokens(mut self, tokens: Arc<StoredTokens>) -> Verifier {
        self.stored_tokens = Some(tokens);
        self
    }

    /// Whether anything can verify: a key, a published key set with keys in it, or an API
    /// token.
    pub fn has_keys(&self) -> bool {
        !self.keys.is_empty()
            || !self.api_tokens.is_empty()
            || self.stored_tokens.is_some()
            || self.jwks.as_ref().is_some_and(|j| !j.keys().is_empty())
    }

    /// Fetches and failed fetches of the JWKS so far, if a JWKS URL is configured.
    pub fn jwks_counts(&self) -> Option<(u64, u64)> {
        self.jwks.as_ref().map(|j| j.fetch_counts())
    }

    /// Hits and misses of the verified-token cache so far.
    pub fn cache_stats(&self) -> (u64, u64) {
        (self.cache.hits.load(Ordering::Relaxed), self.cache.misses.load(Ordering::Relaxed))
    }

    /// Verifies the value of an `Authorization` header.
    pub fn verify_header(&self, value: Option<&[u8]>) -> Result<Arc<Principal>, AuthError> {
        self.verify(bearer(value.ok_or(AuthError::Missing)?)?)
    }

    /// Verifies a compact JWT, from the cache when it was verified before and has not
    /// expired.
    pub fn verify(&self, token: &str) -> Result<Arc<Principal>, AuthError> {
        let digest = TokenCache::digest(token);
        if token.starts_with(API_TOKEN_PREFIX) {
            let configured = self.api_tokens.get(&digest).cloned();
            let stored = || self.stored_tokens.as_ref().and_then(|s| s.get(&digest));
            return configured.or_else(stored).ok_or(AuthError::UnknownApiToken);
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        // Read before verifying: a set that changes meanwhile makes this entry stale.
        let generation = self.jwks.as_ref().map_or(0, |j| j.generation());
        if let Some(p) = self.cache.get(&digest, now, generation) {
            return Ok(p);
        }
        let principal = Arc::new(self.verify_uncached(token)?);
        self.cache.insert(digest, principal.clone(), generation);
        Ok(principal)
    }

    /// Verifies a compact JWT, checking its signature and claims every time.
    pub fn verify_uncached(&self, token: &str) -> Result<Principal, AuthError> {
        let claims = self.claims(token, None)?;
        self.principal_of(&claims)
    }

    /// Verifies an OpenID Connect ID token for the web console: signed by a key the gateway
    /// trusts, from the configured issuer, for `audience` (the console's client id), and
    /// carrying the `nonce` its sign-in sent. Its principal is a user, as a gateway token's.
    pub fn verify_id_token(&self, token: &str, audience: &str, nonce: &str) -> Result<Principal, AuthError> {
        let claims = self.claims(token, Some(audience))?;
        let sent = claims.get("nonce").and_then(|v| v.as_str()).unwrap_or("");
        if !same_bytes(sent.as_bytes(), nonce.as_bytes()) {
            return Err(AuthError::Rejected { reason: "its 'nonce' is not the one this sign-in sent" });
        }
        self.principal_of(&claims)
    }

    /// The claims of a JWT whose signature and registered claims hold; with `audience`, for
    /// that audience instead of the configured one.
    fn claims(
        &self,
        token: &str,
        audience: Option<&str>,
    ) -> Result<serde_json::Map<String, serde_json::Value>, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        let published = self.jwks.as_ref().map(|j| j.keys());
        let key = match &header.kid {
            Some(kid) => {
                let kid = Some(kid.as_str());
                let found = self.keys.iter().find(|k| k.kid.as_deref() == kid);
                found.or_else(|| published.as_ref().and_then(|p| p.iter().find(|k| k.kid.as_deref() == kid)))
            }
            None if self.keys.len() == 1 && self.jwks.is_none() => self.keys.first(),
            None => None,
        };
        let Some(key) = key else {
            if header.kid.is_some()
                && let Some(jwks) = &self.jwks
            {
                // Perhaps the provider rotated its keys: fetch soon, at the bounded rate.
                jwks.request_refresh();
            }
            return Err(AuthError::UnknownKey { kid: shorten(header.kid.as_deref().unwrap_or("(none)")) });
        };
        let decoded = match audience {
            None => jsonwebtoken::decode(token, &key.key, &key.validation),
            Some(aud) => {
                let mut validation = key.validation.clone();
                validation.set_audience(&[aud]);
                validation.validate_aud = true;
                jsonwebtoken::decode(token, &key.key, &validation)
            }
        };
        decoded.map(|d| d.claims).map_err(|e| AuthError::Rejected { reason: rejection(e.kind()) })
    }

    /// The user a verified token's claims name.
    fn principal_of(&self, claims: &serde_json::Map<String, serde_json::Value>) -> Result<Principal, AuthError> {
        let id = claims
            .get(&self.principal_claim)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| AuthError::NoPrincipal { claim: self.principal_claim.clone() })?;
        let expires_at = claims
            .get("exp")
            .and_then(serde_json::Value::as_u64)
            .ok_or(AuthError::Rejected { reason: "'exp' must be a number of seconds" })?;
        let issuer = claims.get("iss").and_then(|v| v.as_str()).map(str::to_string);
        // A user whose id reads like a service account would be one in every log line.
        let bad = || AuthError::BadPrincipal { claim: self.principal_claim.clone() };
        if id.starts_with(crate::principal::SERVICE_ACCOUNT_PREFIX) {
            return Err(bad());
        }
        Principal::new(Identity::User(id.to_string()), expires_at, issuer).ok_or_else(bad)
    }
}

/// The token of a `Bearer` credential. The scheme is case-insensitive (RFC 6750); the token
/// must be base64url segments and dots, nothing else.
pub fn bearer(value: &[u8]) -> Result<&str, AuthError> {
    let scheme = value.get(..7).ok_or(AuthError::NotBearer)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return Err(AuthError::NotBearer);
    }
    let token = value.get(7..).unwrap_or(&[]);
    let token_ok =
        !token.is_empty() && token.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'='));
    if !token_ok {
        return Err(AuthError::Malformed);
    }
    std::str::from_utf8(token).map_err(|_| AuthError::Malformed)
}

/// Whether a query string carries an `access_token` parameter (RFC 6750's query form, in
/// any case or percent-encoding of its name). The gateway takes tokens only from the
/// `Authorization` header, and refuses a request that also carries one here (400) rather
/// than forward a credential it did not check.
///
/// ```
/// use portcullis::auth::query_has_token;
/// assert!(query_has_token("a=1&access_token=x"));
/// assert!(query_has_token("Access%5Ftoken=x"));
/// assert!(!query_has_token("my_access_token=x&q=access_token"));
/// ```
pub fn query_has_token(query: &str) -> bool {
    query.split('&').any(|param| {
        let name = param.split_once('=').map_or(param, |(n, _)| n);
        let decoded: std::borrow::Cow<'_, [u8]> = percent_encoding::percent_decode_str(name).into();
        decoded.eq_ignore_ascii_case(b"access_token")
    })
}

fn shorten(kid: &str) -> String {
    let s: String = kid.chars().filter(|c| !c.is_control()).take(64).collect();
    format!("'{s}'")
}

fn rejection(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::ExpiredSignature => "expired",
        ErrorKind::ImmatureSignature => "not valid yet (nbf)",
        ErrorKind::InvalidAudience => "wrong or missing audience",
        ErrorKind::InvalidIssuer => "wrong or missing issuer",
        ErrorKind::MissingRequiredClaim(_) => "a required claim (exp, iss or aud) is missing",
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => "algorithm not allowed for this key",
        _ => "invalid token",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use super::*;

    fn principal(id: &str, expires_at: u64) -> Arc<Principal> {
        Arc::new(Principal::new(Identity::User(id.into()), expires_at, None).unwrap())
    }

    #[test]
    fn cache_honours_exp_and_exact_digests() {
        let cache = TokenCache::new(8);
        let d = TokenCache::digest("token-a");
        cache.insert(d, principal("alice", 100), 0);
        assert_eq!(cache.get(&d, 99, 0).unwrap().identity, Identity::User("alice".into()));
        assert!(cache.get(&d, 100, 0).is_none(), "expired at exp");
        assert!(cache.get(&d, 99, 1).is_none(), "verified under another key set");
        assert!(cache.get(&TokenCache::digest("token-b"), 50, 0).is_none());
    }

    #[test]
    fn cache_is_bounded_by_its_slots() {
        let cache = TokenCache::new(4);
        for i in 0..1000 {
            cache.insert(TokenCache::digest(&format!("t{i}")), principal("x", u64::MAX), 0);
        }
        let live = (0..1000).filter(|i| cache.get(&TokenCache::digest(&format!("t{i}")), 0, 0).is_some()).count();
        assert!(live <= 4, "{live} entries in a 4-slot cache");
    }
}
