//! Admit and canonicalise, on any bytes. The first byte picks what the rest is: a request
//! target alone, or a whole request head (parsed as an HTTP/1.1 parser parses it, then
//! admitted, then its target canonicalised). Whatever is accepted must be the one form the gateway decides
//! on and forwards: a fixed point of canonicalisation, with no `.`, `..` or empty segment
//! and no encoded separator.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::canon::{Canonical, canonicalise};
use portcullis::config::Limits;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode % 2 == 0 {
        check_target(rest);
    } else {
        check_head(rest);
    }
});

fn check_target(raw: &[u8]) {
    let mut c = Canonical::default();
    if canonicalise(raw, &mut c).is_err() {
        return;
    }
    let path = c.path();
    assert!(path.starts_with('/'), "{path:?}");
    if path != "/" {
        assert!(!path.ends_with('/'), "a trailing slash was kept: {path:?}");
        for segment in path[1..].split('/') {
            assert!(!segment.is_empty(), "an empty segment in {path:?}");
            assert!(segment != "." && segment != "..", "a dot segment in {path:?}");
            let lower = segment.to_ascii_lowercase();
            for encoded in ["%2f", "%5c", "%3b", "%2e%2e"] {
                assert!(lower != "%2e" && !lower.contains(encoded), "{encoded} in {path:?}");
            }
        }
    }
    for decoded in c.segments() {
        assert!(!decoded.is_empty() && decoded != "." && decoded != "..", "decoded segment {decoded:?}");
        assert!(!decoded.contains(['/', '\\', ';', '#']), "a separator decoded in {decoded:?}");
    }
    assert_eq!(c.segments().count(), c.segment_count());
    // A fixed point: the canonical form canonicalises to itself.
    let forwarded = c.path_and_query();
    assert!(c.is_target(forwarded.as_bytes()), "{forwarded:?}");
    let mut again = Canonical::default();
    match canonicalise(forwarded.as_bytes(), &mut again) {
        Ok(()) => {
            assert_eq!(again.path(), c.path(), "not a fixed point");
            assert_eq!(again.query(), c.query(), "the query changed");
            assert!(again.segments().eq(c.segments()));
        }
        Err(e) => panic!("the canonical form {forwarded:?} of {raw:?} is refused: {e}"),
    }
}

fn check_head(raw: &[u8]) {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(len)) = parsed.parse(raw) else { return };
    let (Some(_method), Some(path)) = (parsed.method, parsed.path) else { return };
    let mut head = http::HeaderMap::new();
    for h in parsed.headers.iter() {
        let (Ok(name), Ok(value)) =
            (http::HeaderName::from_bytes(h.name.as_bytes()), http::HeaderValue::from_bytes(h.value))
        else {
            return;
        };
        head.append(name, value);
    }
    let limits = Limits::default();
    let wire = portcullis::admit::Wire::from_raw(&raw[..len]);
    if portcullis::admit::admit(&head, &wire, &limits).is_ok() {
        check_target(path.as_bytes());
    }
}
