//! Token checks, named after `../shared/security/CASES.md` section D.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use portcullis::auth::{AuthError, AuthSpec, KeySpec, Verifier, bearer};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keys").join(name)
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn spec() -> AuthSpec {
    AuthSpec {
        issuer: Some("https://issuer.test".into()),
        audience: Some("portcullis".into()),
        keys: vec![
            KeySpec { kid: Some("rsa".into()), algorithm: Algorithm::RS256, file: fixture("rsa.pub.pem") },
            KeySpec { kid: Some("ec".into()), algorithm: Algorithm::ES256, file: fixture("ec.pub.pem") },
        ],
        ..AuthSpec::default()
    }
}

fn claims() -> Value {
    json!({ "sub": "alice", "iss": "https://issuer.test", "aud": "portcullis", "exp": now() + 300 })
}

fn sign(kid: Option<&str>, alg: Algorithm, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    encode(&header, claims, key).unwrap()
}

fn rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(&std::fs::read(fixture("rsa.key.pem")).unwrap()).unwrap()
}

fn ec_key() -> EncodingKey {
    EncodingKey::from_ec_pem(&std::fs::read(fixture("ec.key.pem")).unwrap()).unwrap()
}

fn b64(v: &Value) -> String {
    use std::fmt::Write;
    // base64url without padding, written out to keep the test free of extra crates.
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = v.to_string().into_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            let _ = write!(out, "{}", T[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[test]
fn valid_tokens_name_the_principal() {
    let v = Verifier::load(&spec()).unwrap();
    let p = v.verify(&sign(Some("rsa"), Algorithm::RS256, &rsa_key(), &claims())).unwrap();
    assert_eq!(p.rendered, "alice");
    assert_eq!(p.issuer.as_deref(), Some("https://issuer.test"));
    let p = v.verify(&sign(Some("ec"), Algorithm::ES256, &ec_key(), &claims())).unwrap();
    assert_eq!(p.rendered, "alice");
    let header = format!("Bearer {}", sign(Some("rsa"), Algorithm::RS256, &rsa_key(), &claims()));
    assert_eq!(v.verify_header(Some(header.as_bytes())).unwrap().rendered, "alice");
}

#[test]
fn case_25_alg_none_and_empty_signatures_are_rejected() {
    let v = Verifier::load(&spec()).unwrap();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let token = format!("{}.{}.", b64(&json!({ "alg": alg, "kid": "rsa" })), b64(&claims()));
        assert!(v.verify(&token).is_err(), "alg {alg} accepted");
    }
    let real = sign(Some("rsa"), Algorithm::RS256, &rsa_key(), &claims());
    let stripped = &real[..real.rfind('.').unwrap() + 1];
    assert_eq!(v.verify(stripped).unwrap_err(), AuthError::Rejected { reason: "bad signature" });
}

#[test]
fn case_26_hs256_signed_with_the_rsa_public_key_is_rejected() {
    let v = Verifier::load(&spec()).unwrap();
    let public = std::fs::read(fixture("rsa.pub.pem")).unwrap();
    let forged = sign(Some("rsa"), Algorithm::HS256, &EncodingKey::from_secret(&public), &claims());
    assert_eq!(v.verify(&forged).unwrap_err(), AuthError::Rejected { reason: "algorithm not allowed for this key" });
}

#[test]
fn case_27_embedded_keys_are_ignored_and_unknown_kids_refused() {
    let v = Verifier::load(&spec()).unwrap();
    let unknown = sign(Some("attacker"), Algorithm::RS256, &rsa_key(), &claims());
    assert!(matches!(v.verify(&unknown).unwrap_err(), AuthError::UnknownKey { .. }));
    let none = sign(None, Algorithm::RS256, &rsa_key(), &claims());
    assert!(matches!(v.verify(&none).unwrap_err(), AuthError::UnknownKey { .. }), "two keys: a kid is required");
    // A token signed by the attacker's own key, carrying that key (jwk) and pointing at
    // it (jku, x5u), under a configured kid: the configured key decides, so it fails.
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("ec".into());
    header.jku = Some("https://attacker.test/jwks".into());
    header.x5u = Some("https://attacker.test/cert".into());
    header.x5c = Some(vec!["MIIBattacker".into()]);
    let attacker = EncodingKey::from_ec_pem(&std::fs::read(fixture("attacker-ec.key.pem")).unwrap()).unwrap();
    let token = encode(&header, &claims(), &attacker).unwrap();
    assert_eq!(v.verify(&token).unwrap_err(), AuthError::Rejected { reason: "bad signature" });
}

#[test]
fn case_28_exp_nbf_aud_and_iss_are_enforced() {
    let v = Verifier::load(&spec()).unwrap();
    let with = |f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut c = claims().as_object().unwrap().clone();
        f(&mut c);
        v.verify(&sign(Some("rsa"), Algorithm::RS256, &rsa_key(), &Value::Object(c)))
    };
    assert!(
        with(&|c| {
            c.remove("exp");
        })
        .is_err()
    );
    assert!(
        with(&|c| {
            c.insert("exp".into(), json!((now() + 300).to_string()));
        })
        .is_err()
    );
    assert_eq!(
        with(&|c| {
            c.insert("exp".into(), json!(now() - 3600));
        })
        .unwrap_err(),
        AuthError::Rejected { reason: "expired" }
    );
    assert_eq!(
        with(&|c| {
            c.insert("nbf".into(), json!(now() + 3600));
        })
        .unwrap_err(),
        AuthError::Rejected { reason: "not valid yet (nbf)" }
    );
    assert!(
        with(&|c| {
            c.insert("aud".into(), json!("someone-else"));
        })
        .is_err()
    );
    assert!(
        with(&|c| {
            c.remove("aud");
        })
        .is_err()
    );
    assert!(
        with(&|c| {
            c.insert("iss".into(), json!("https://evil.test"));
        })
        .is_err()
    );
    assert!(
        with(&|c| {
            c.remove("iss");
        })
        .is_err()
    );
    assert_eq!(
        with(&|c| {
            c.remove("sub");
        })
        .unwrap_err(),
        AuthError::NoPrincipal { claim: "sub".into() }
    );
}

#[test]
fn verified_tokens_are_cached_and_new_keys_start_empty() {
    let v = Verifier::load(&spec()).unwrap();
    let token = sign(Some("rsa"), Algorithm::RS256, &rsa_key(), &claims());
    assert_eq!(v.verify(&token).unwrap().rendered, "alice");
    assert_eq!(v.verify(&token).unwrap().rendered, "alice");
    assert_eq!(v.cache_stats(), (1, 1));
    // A bad token is never cached: it fails every time.
    let other = sign(Some("rsa"), Algorithm::RS256, &rsa_key(), &json!({ "sub": "x", "exp": 1 }));
    assert!(v.verify(&other).is_err());
    assert!(v.verify(&other).is_err());
    assert_eq!(v.cache_stats(), (1, 3));
    // Rotation: a verifier for other keys has its own, empty cache and refuses the token.
    let mut rotated = spec();
    rotated.keys.remove(0);
    let v2 = Verifier::load(&rotated).unwrap();
    assert!(matches!(v2.verify(&token).unwrap_err(), AuthError::UnknownKey { .. }));
    assert_eq!(v2.cache_stats(), (0, 1));
}

#[test]
fn bearer_header_parsing_and_errors_never_echo_the_token() {
    assert_eq!(bearer(b"Bearer abc.def.ghi"), Ok("abc.def.ghi"));
    assert_eq!(bearer(b"bearer abc.def.ghi"), Ok("abc.def.ghi"));
    assert_eq!(bearer(b"Basic dXNlcjpwYXNz"), Err(AuthError::NotBearer));
    assert_eq!(bearer(b"Bearer "), Err(AuthError::Malformed));
    assert_eq!(bearer(b"Bearer a b"), Err(AuthError::Malformed));
    let v = Verifier::load(&spec()).unwrap();
    let token = sign(Some("rsa"), Algorithm::RS256, &rsa_key(), &json!({ "sub": "x", "exp": 1 }));
    let err = v.verify(&token).unwrap_err();
    for text in [err.to_string(), err.www_authenticate(), format!("{err:?}")] {
        assert!(!text.contains(&token[..20]), "{text}");
    }
    assert!(err.www_authenticate().starts_with("Bearer realm=\"portcullis\", error=\"invalid_token\""));
}

#[test]
fn key_loading_errors_name_the_file() {
    let mut s = spec();
    s.keys[1].file = fixture("missing.pem");
    assert!(Verifier::load(&s).unwrap_err().to_string().contains("missing.pem"));
    let mut s = spec();
    s.keys[0].file = fixture("ec.pub.pem"); // an EC key where RSA is expected
    assert!(Verifier::load(&s).unwrap_err().to_string().contains("ec.pub.pem"));
    let mut s = spec();
    s.keys[1].kid = None;
    assert!(Verifier::load(&s).unwrap_err().to_string().contains("give every key a kid"));
}
