//! Canonicalisation on arbitrary targets: never panics; whatever is accepted canonicalises
//! to itself (the forwarded path is classified exactly as the request was), and its
//! segments survive the round trip.

use proptest::prelude::*;

use portcullis::canon::{Canonical, canonicalise};

fn target() -> impl Strategy<Value = Vec<u8>> {
    // Biased towards the bytes that matter: separators, dots, escapes, hex digits.
    let pieces = prop::sample::select(vec![
        "/",
        "/",
        "/",
        ".",
        "..",
        "%",
        "%2e",
        "%2E",
        "%2f",
        "%2F",
        "%25",
        "%5c",
        "%3b",
        "%c3%a9",
        "%c0%ae",
        "%ef%bc%8f",
        "a",
        "b",
        "Z",
        "0",
        "~",
        "-",
        "?",
        "#",
        ";",
        "\\",
        " ",
        "\u{e9}",
        "%00",
        "%41",
        "%7e",
        "@",
        ":",
        "=",
    ]);
    prop::collection::vec(pieces, 0..16).prop_map(|parts| {
        let mut t = b"/".to_vec();
        for p in parts {
            t.extend_from_slice(p.as_bytes());
        }
        t
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn canonical_paths_are_fixed_points(raw in prop_oneof![target(), prop::collection::vec(any::<u8>(), 0..40)]) {
        let mut first = Canonical::default();
        if canonicalise(&raw, &mut first).is_ok() {
            let mut again = Canonical::default();
            let forwarded = first.path_and_query();
            canonicalise(forwarded.as_bytes(), &mut again).map_err(|e| TestCaseError::fail(format!("{forwarded}: {e}")))?;
            prop_assert_eq!(again.path(), first.path());
            prop_assert_eq!(again.query(), first.query());
            prop_assert!(again.segments().eq(first.segments()));
            for s in first.segments() {
                prop_assert!(!s.is_empty() && s != "." && s != ".." && !s.contains('/'));
            }
        }
    }
}
