//! Admin API request bodies on any bytes: each endpoint's JSON parsing (unknown fields and
//! wrong types refused), with the permissions and verbs inside. No panic on anything.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let accepted = portcullis::admin::parse_as_every_body(data);
    assert!(accepted <= 12);
});
