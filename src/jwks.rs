//! Token keys from a JWKS URL (`[auth] jwks_url`), kept current in the background.
//!
//! The set is fetched at start, then every `jwks_refresh_secs`, and sooner when a token
//! names a `kid` the gateway does not know (a key rotation at the identity provider). Every
//! fetch, whatever asked for it, waits at least `jwks_min_interval_secs` after the previous
//! one, so a flood of made-up `kid`s costs the provider one request per interval. A fetch
//! that fails, times out, or returns no usable key changes nothing: the last good set keeps
//! verifying. The request that named the unknown `kid` is refused (401) at once; it never
//! waits for the network.
//!
//! Each key is pinned to one algorithm: its JWK `alg`, or for keys without one, the only
//! algorithm its type allows here (EC P-256: ES256, P-384: ES384, Ed25519: EdDSA, RSA:
//! RS256). Symmetric (`oct`) keys and keys marked for encryption are ignored: a shared secret
//! has no business in a published key set.
//!
//! When the set changes, every verification cached before the change stops counting (the
//! cache compares the set's generation), so a token signed by a removed key is refused.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

use crate::auth::{AuthSpec, VerifyKey, validation};

/// The largest key set accepted, in bytes.
const MAX_JWKS_BYTES: u64 = 1 << 20;

/// Where and how often to fetch the key set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwksSpec {
    pub url: String,
    /// Fetch again after this long even if nothing asks for it.
    pub refresh: Duration,
    /// Never fetch more often than this.
    pub min_interval: Duration,
    /// Give up on one fetch after this long.
    pub timeout: Duration,
}

/// The live key set of a JWKS URL.
pub struct Jwks {
    url: String,
    keys: ArcSwap<Vec<VerifyKey>>,
    /// Bumped whenever the set changes; cached verifications from another generation are
    /// not used.
    generation: AtomicU64,
    /// Asks the fetcher for an early fetch; holds at most one request, so asks coalesce.
    wake: SyncSender<()>,
    fetches: AtomicU64,
    failures: AtomicU64,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwks").field("url", &self.url).field("keys", &self.keys.load().len()).finish()
    }
}

impl Jwks {
    /// Fetches the set once (waiting at most the spec's timeout), then keeps it current on
    /// a background thread. A first fetch that fails is reported, and the set starts empty:
    /// every token is refused until a fetch succeeds.
    pub fn start(spec: &JwksSpec, auth: &AuthSpec) -> Arc<Jwks> {
        let (wake, wakes) = std::sync::mpsc::sync_channel(1);
        let jwks = Arc::new(Jwks {
            url: spec.url.clone(),
            keys: ArcSwap::from_pointee(Vec::new()),
            generation: AtomicU64::new(0),
            wake,
            fetches: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        });
        let fetcher = Fetcher { spec: spec.clone(), auth: auth.clone(), jwks: Arc::downgrade(&jwks) };
        fetcher.fetch_once(&jwks);
        let started = std::thread::Builder::new().name("portcullis-jwks".into()).spawn(move || fetcher.run(&wakes));
        if let Err(e) = started {
            eprintln!("portcullis: cannot start the JWKS fetcher ({e}); the key set will not be refreshed");
        }
        jwks
    }

    /// The current keys. Lock-free.
    pub(crate) fn keys(&self) -> arc_swap::Guard<Arc<Vec<VerifyKey>>> {
        self.keys.load()
    }

    /// The current generation of the set.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Asks for a fetch soon (a token named an unknown `kid`). Never blocks.
    pub fn request_refresh(&self) {
        match self.wake.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) | Err(TrySendError::Disconnected(())) => {}
        }
    }

    /// Fetches attempted and failed so far.
    pub fn fetch_counts(&self) -> (u64, u64) {
        (self.fetches.load(Ordering::Relaxed), self.failures.load(Ordering::Relaxed))
    }
}

struct Fetcher {
    spec: JwksSpec,
    auth: AuthSpec,
    /// Weak, so that the thread ends when the verifier is gone.
    jwks: std::sync::Weak<Jwks>,
}

impl Fetcher {
    fn run(&self, wakes: &Receiver<()>) {
        let mut last = Instant::now();
        loop {
            match wakes.recv_timeout(self.spec.refresh) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            let since = last.elapsed();
            if since < self.spec.min_interval {
                std::thread::sleep(self.spec.min_interval.saturating_sub(since));
            }
            let Some(jwks) = self.jwks.upgrade() else { return };
            self.fetch_once(&jwks);
            last = Instant::now();
            // Asks that came in while fetching were answered by this fetch.
            while wakes.try_recv().is_ok() {}
        }
    }

    fn fetch_once(&self, jwks: &Jwks) {
        jwks.fetches.fetch_add(1, Ordering::Relaxed);
        match self.fetch().and_then(|body| parse_key_set(&body, &self.auth)) {
            Ok(keys) => {
                let changed = {
                    let old = jwks.keys.load();
                    old.len() != keys.len()
                        || old.iter().zip(&keys).any(|(a, b)| a.kid != b.kid || a.fingerprint != b.fingerprint)
                };
                if changed {
                    let kids: Vec<&str> = keys.iter().filter_map(|k| k.kid.as_deref()).collect();
                    eprintln!("portcullis: JWKS {}: key set now {kids:?}", jwks.url);
                    jwks.keys.store(Arc::new(keys));
                    jwks.generation.fetch_add(1, Ordering::AcqRel);
                }
            }
            Err(e) => {
                jwks.failures.fetch_add(1, Ordering::Relaxed);
                let keeping = jwks.keys.load().len();
                eprintln!("portcullis: JWKS {}: {e}; keeping the last good set ({keeping} keys)", jwks.url);
            }
        }
    }

    fn fetch(&self) -> Result<Vec<u8>, String> {
        let config = ureq::Agent::config_builder().timeout_global(Some(self.spec.timeout)).build();
        let agent: ureq::Agent = config.into();
        let mut response = agent.get(&self.spec.url).call().map_err(|e| format!("fetch failed: {e}"))?;
        response
            .body_mut()
            .with_config()
            .limit(MAX_JWKS_BYTES)
            .read_to_vec()
            .map_err(|e| format!("reading the key set failed: {e}"))
    }
}

/// The usable signature keys of a JWKS document. Keys that cannot be used (no `kid`, an
/// encryption or symmetric key, an algorithm not supported) are skipped; a document with
/// none left is an error, so that garbage never replaces a good set.
pub(crate) fn parse_key_set(body: &[u8], auth: &AuthSpec) -> Result<Vec<VerifyKey>, String> {
    let doc: serde_json::Value = serde_json::from_slice(body).map_err(|_| "the key set is not JSON".to_string())?;
    let entries = doc.get("keys").and_then(|k| k.as_array()).ok_or("the key set has no \"keys\" array")?;
    let mut keys = Vec::new();
    for entry in entries {
        let Ok(jwk) = serde_json::from_value::<Jwk>(entry.clone()) else { continue };
        let Some(kid) = jwk.common.key_id.clone() else { continue };
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            continue;
        }
        let Some(algorithm) = pinned_algorithm(&jwk) else { continue };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else { continue };
        let fingerprint = crate::auth::TokenCache::digest(&entry.to_string());
        keys.push(VerifyKey { kid: Some(kid), key, validation: validation(auth, algorithm), fingerprint });
    }
    if keys.is_empty() {
        return Err(format!("no usable signature key among the {} in the key set", entries.len()));
    }
    Ok(keys)
}

/// The one algorithm a JWK's tokens may use, or `None` for keys not used here.
fn pinned_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    let from_type = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => Algorithm::ES256,
            EllipticCurve::P384 => Algorithm::ES384,
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => Algorithm::EdDSA,
        _ => return None,
    };
    let algorithm = match &jwk.common.key_algorithm {
        None => from_type,
        Some(declared) => Algorithm::from_str(&format!("{declared:?}")).ok()?,
    };
    use Algorithm::*;
    let fits = match (&jwk.algorithm, algorithm) {
        (AlgorithmParameters::RSA(_), RS256 | RS384 | RS512 | PS256 | PS384 | PS512) => true,
        (AlgorithmParameters::EllipticCurve(_), ES256 | ES384) => algorithm == from_type,
        (AlgorithmParameters::OctetKeyPair(_), EdDSA) => true,
        _ => false,
    };
    fits.then_some(algorithm)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use super::*;

    fn fixture(name: &str) -> serde_json::Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keys").join(name);
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn parse(doc: &serde_json::Value) -> Result<Vec<(String, Algorithm)>, String> {
        let keys = parse_key_set(doc.to_string().as_bytes(), &AuthSpec::default())?;
        Ok(keys.iter().map(|k| (k.kid.clone().unwrap(), k.validation.algorithms[0])).collect())
    }

    #[test]
    fn keys_are_pinned_to_one_algorithm() {
        let set = serde_json::json!({ "keys": [fixture("rsa.jwk.json"), fixture("ec.jwk.json")] });
        assert_eq!(
            parse(&set).unwrap(),
            [("jwks-rsa".to_string(), Algorithm::RS256), ("jwks-ec".to_string(), Algorithm::ES256)]
        );
    }

    #[test]
    fn unusable_keys_are_skipped_and_garbage_is_an_error() {
        let mut no_kid = fixture("rsa.jwk.json");
        no_kid.as_object_mut().unwrap().remove("kid");
        let mut enc = fixture("ec.jwk.json");
        enc["use"] = "enc".into();
        let mut lying = fixture("ec.jwk.json");
        lying["alg"] = "HS256".into();
        let oct = serde_json::json!({ "kty": "oct", "kid": "s", "k": "c2VjcmV0" });
        let set = serde_json::json!({ "keys": [no_kid, enc, lying, oct, fixture("rsa.jwk.json")] });
        assert_eq!(parse(&set).unwrap(), [("jwks-rsa".to_string(), Algorithm::RS256)]);
        assert!(parse(&serde_json::json!({ "keys": [] })).is_err());
        assert!(parse(&serde_json::json!({ "nope": 1 })).is_err());
        assert!(parse_key_set(b"<html>", &AuthSpec::default()).is_err());
    }
}
