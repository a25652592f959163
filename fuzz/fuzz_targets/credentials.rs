//! Credential parsing on any bytes: the `Authorization` header value through the verifier
//! the gateway uses (JWTs under an HS256 and an RS256 key, and a service account's API
//! token), the bearer split, principal names and the query check. Only a verified token
//! may name a principal, and it is one the token carries.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use portcullis::auth::{Verifier, bearer, query_has_token};
use portcullis::principal::Caller;

/// The demo key's secret here; the seed corpus holds tokens signed with it.
const DEMO_SECRET: &[u8] = b"portcullis fuzz demo secret, 32b";

static VERIFIER: LazyLock<Verifier> = LazyLock::new(|| {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config.toml");
    let text = format!(
        "{}\n[[auth.key]]\nkid = \"test\"\nalgorithm = \"RS256\"\nfile = \"tests/fixtures/keys/rsa.pub.pem\"\n\
         [[auth.api_token]]\norg = \"acme\"\naccount = \"ci-bot\"\nsha256 = \"{}\"\n",
        include_str!("../../config.toml"),
        portcullis::auth::hex(&portcullis::auth::TokenCache::digest(API_TOKEN)),
    );
    let config = match portcullis::config::parse(std::path::Path::new(path), &text) {
        Ok(c) => c,
        Err(e) => panic!("the fuzz config does not load: {e}"),
    };
    let Some(auth) = config.auth.as_ref() else { panic!("no [auth]") };
    match Verifier::load_with_demo(auth, Some(DEMO_SECRET)) {
        Ok(v) => v,
        Err(e) => panic!("the fuzz keys do not load: {e}"),
    }
});

const API_TOKEN: &str = "pcat_00000000000000000000000000000000000000000000000000000000000000aa";

fuzz_target!(|data: &[u8]| {
    if let Ok(principal) = VERIFIER.verify_header(Some(data)) {
        let token = bearer(data).unwrap_or_default();
        let rendered = principal.rendered.as_str();
        assert!(!rendered.is_empty());
        match principal.caller() {
            Caller::ServiceAccount { org, name } => {
                assert_eq!((org, name), ("acme", "ci-bot"), "an API token named another account");
                assert_eq!(token, API_TOKEN);
            }
            Caller::User(id) => assert!(!id.starts_with("sa:"), "a JWT named a service account: {id}"),
        }
    }
    let _ = VERIFIER.verify_header(None);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(caller) = Caller::parse(text) {
            assert_eq!(caller.to_string(), text, "a principal name does not render as itself");
        }
        let _ = query_has_token(text);
    }
});
