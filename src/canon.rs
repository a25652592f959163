//! Step 1 of a request's path: canonicalise the request target, once.
//!
//! The HTTP library passes the target through raw (`/public/../admin`, `%2F` and `;` all
//! reach the proxy untouched), and upstream frameworks disagree about how to read such
//! paths. So the gateway decides on one form,
//! and forwards exactly that form, never the bytes the client sent. Anything ambiguous is
//! rejected (400) rather than guessed at (`../shared/security/CASES.md`, section A):
//!
//! - the target must be origin-form (`/...`); `#`, control bytes, spaces, raw non-ASCII,
//!   `\` and the other bytes RFC 3986 excludes are rejected;
//! - each path segment is percent-decoded exactly once (`%252e` stays the literal `%2e`);
//!   a decoded `/`, `\`, `;`, `#` or control byte, invalid UTF-8 (overlong forms included),
//!   and slash look-alikes (`／`, `∕`) are rejected;
//! - `.` and `..` segments (raw or encoded) and empty segments (`//`) are rejected; one
//!   trailing `/` is dropped, so `/a/` and `/a` are the same resource;
//! - `;` (matrix parameters) is rejected, raw or encoded;
//! - a space is rejected, raw or as `%20` (a proxy in front may have escaped a raw one, so
//!   `%20` cannot be told from one);
//! - the forwarded path is rebuilt from the decoded segments with one encoding (unreserved
//!   bytes and `!$&'()*+,=:@` as they are, everything else `%XX` upper case), so `%7e`,
//!   `%7E` and `~` forward alike;
//! - the query is not decoded: it is checked for forbidden bytes and forwarded untouched.
//!
//! ```
//! use portcullis::canon::{Canonical, CanonError, canonicalise};
//! let mut target = Canonical::default();
//! canonicalise(b"/v1/orgs/acme/storage/caf%c3%a9/?x=1", &mut target).unwrap();
//! assert_eq!(target.path(), "/v1/orgs/acme/storage/caf%C3%A9");
//! assert_eq!(target.segments().collect::<Vec<_>>(), ["v1", "orgs", "acme", "storage", "café"]);
//! assert_eq!(target.query(), Some("x=1"));
//! assert_eq!(canonicalise(b"/public/%2e%2e/admin", &mut target), Err(CanonError::DotSegment));
//! ```

use std::fmt::Write as _;

/// The longest request target accepted, in bytes, unless configured otherwise.
pub const DEFAULT_MAX_TARGET_LEN: usize = 8 * 1024;

/// Why a request target was rejected. Every variant is a 400: the request is ambiguous or
/// malformed, not unauthorised. Messages name the problem, never echo the whole target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CanonError {
    #[error("the request target is longer than {limit} bytes")]
    TooLong { limit: usize },
    #[error("the request target must be a path starting with '/' (absolute-form and '*' targets are not accepted)")]
    NotOriginForm,
    #[error("a '#' fragment is not allowed in a request target")]
    Fragment,
    #[error("byte 0x{byte:02x} is not allowed in a request target; percent-encode it")]
    ForbiddenByte { byte: u8 },
    #[error("';' (matrix parameters) is not allowed in a path")]
    Semicolon,
    #[error("a '%' must be followed by two hex digits")]
    BadEscape,
    #[error("an encoded '{separator}' is not allowed in a path segment")]
    EncodedSeparator { separator: char },
    #[error("byte 0x{byte:02x} is not allowed in a path, encoded or not")]
    EncodedForbidden { byte: u8 },
    #[error("a space is not allowed in a path, raw or as %20")]
    Space,
    #[error("a path segment is not valid UTF-8 once decoded")]
    InvalidUtf8,
    #[error("'{character}' (U+{code:04X}) looks like a path separator and is not allowed")]
    Confusable { character: char, code: u32 },
    #[error("'.' and '..' segments are not allowed in a path")]
    DotSegment,
    #[error("empty path segments ('//') are not allowed")]
    EmptySegment,
}

/// A canonical request target. Reusable: [`canonicalise`] clears it first, so a connection
/// or worker can keep one and avoid allocating per request once the buffers have grown.
#[derive(Clone, Debug, Default)]
pub struct Canonical {
    /// The path as forwarded.
    path: String,
    /// The decoded path: `/` then each decoded segment, `/`-separated.
    decoded: String,
    /// Byte ranges of each segment in `decoded`.
    bounds: Vec<(u32, u32)>,
    query: String,
    has_query: bool,
}

impl Canonical {
    /// The canonical path: what is routed, decided on, and forwarded.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The decoded path segments; `/` has none.
    pub fn segments(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.bounds.iter().map(|&(a, b)| self.decoded.get(a as usize..b as usize).unwrap_or(""))
    }

    pub fn segment(&self, i: usize) -> Option<&str> {
        let &(a, b) = self.bounds.get(i)?;
        self.decoded.get(a as usize..b as usize)
    }

    pub fn segment_count(&self) -> usize {
        self.bounds.len()
    }

    /// Segments `i..` as one decoded path starting with `/` (`/datasets/x` from
    /// `/v1/storage/datasets/x` and `i = 2`): the id of a hierarchical kind. No copy.
    pub fn tail(&self, i: usize) -> Option<&str> {
        let &(start, _) = self.bounds.get(i)?;
        self.decoded.get(start as usize - 1..)
    }

    /// The query as the client sent it (without `?`), if there was one.
    pub fn query(&self) -> Option<&str> {
        self.has_query.then_some(self.query.as_str())
    }

    /// Path and query, as forwarded upstream.
    /// Whether `raw` (a request target as sent) is exactly this canonical target, path and
    /// query, so that it can be forwarded unchanged.
    pub fn is_target(&self, raw: &[u8]) -> bool {
        let path = self.path().as_bytes();
        match (raw.strip_prefix(path), self.query()) {
            (Some(rest), None) => rest.is_empty(),
            (Some(rest), Some(q)) => rest.first() == Some(&b'?') && rest.get(1..) == Some(q.as_bytes()),
            (None, _) => false,
        }
    }

    pub fn path_and_query(&self) -> String {
        match self.query() {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }

    fn clear(&mut self) {
        self.path.clear();
        self.decoded.clear();
        self.bounds.clear();
        self.query.clear();
        self.has_query = false;
    }
}

/// Canonicalises `raw` (the request target as received) into `out`, with the default
/// length limit.
pub fn canonicalise(raw: &[u8], out: &mut Canonical) -> Result<(), CanonError> {
    canonicalise_with_limit(raw, DEFAULT_MAX_TARGET_LEN, out)
}

/// Canonicalises `raw` into `out`, rejecting targets longer than `max_len` bytes. On error
/// `out` holds nothing meaningful.
pub fn canonicalise_with_limit(raw: &[u8], max_len: usize, out: &mut Canonical) -> Result<(), CanonError> {
    out.clear();
    if raw.len() > max_len {
        return Err(CanonError::TooLong { limit: max_len });
    }
    if raw.first() != Some(&b'/') {
        return Err(CanonError::NotOriginForm);
    }
    let (path, query) = match raw.iter().position(|&b| b == b'?') {
        Some(q) => (raw.get(..q).unwrap_or(&[]), Some(raw.get(q + 1..).unwrap_or(&[]))),
        None => (raw, None),
    };
    for &b in path {
        check_raw_byte(b)?;
    }
    if let Some(q) = query {
        for &b in q {
            // `;`, `\` and friends are the upstream's business in a query; bytes that break
            // the request line or the fragment rule are not.
            if b == b'#' {
                return Err(CanonError::Fragment);
            }
            if !(0x21..0x7f).contains(&b) || matches!(b, b'"' | b'<' | b'>' | b'`' | b'{' | b'}' | b'|' | b'^') {
                return Err(CanonError::ForbiddenByte { byte: b });
            }
        }
        // Checked to be ASCII just above.
        out.query.push_str(std::str::from_utf8(q).map_err(|_| CanonError::InvalidUtf8)?);
        out.has_query = true;
    }

    let body = path.get(1..).unwrap_or(&[]);
    if body.is_empty() {
        out.path.push('/');
        return Ok(());
    }
    let mut raw_segments = body.split(|&b| b == b'/').peekable();
    let mut decoded: Vec<u8> = Vec::new();
    while let Some(seg) = raw_segments.next() {
        let last = raw_segments.peek().is_none();
        if seg.is_empty() {
            if last && !out.bounds.is_empty() {
                break; // one trailing slash: `/a/` is `/a`
            }
            return Err(CanonError::EmptySegment);
        }
        decoded.clear();
        decode_segment(seg, &mut decoded)?;
        let text = std::str::from_utf8(&decoded).map_err(|_| CanonError::InvalidUtf8)?;
        check_decoded(text)?;
        out.decoded.push('/');
        let start = out.decoded.len() as u32;
        out.decoded.push_str(text);
        out.bounds.push((start, out.decoded.len() as u32));
        out.path.push('/');
        encode_segment(text, &mut out.path);
    }
    Ok(())
}

/// Whether `b` stands unencoded in a canonical path segment: RFC 3986 `pchar` without
/// `;` (rejected) and `%` (always an escape). Route patterns use the same set.
pub fn is_plain_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,=:@".contains(&b)
}

/// Bytes allowed raw in a path: plain bytes, `/`, and `%` starting an escape.
fn check_raw_byte(b: u8) -> Result<(), CanonError> {
    match b {
        b'#' => Err(CanonError::Fragment),
        b';' => Err(CanonError::Semicolon),
        b'/' | b'%' => Ok(()),
        b if is_plain_path_byte(b) => Ok(()),
        _ => Err(CanonError::ForbiddenByte { byte: b }),
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes one segment, once.
fn decode_segment(seg: &[u8], out: &mut Vec<u8>) -> Result<(), CanonError> {
    let mut i = 0;
    while let Some(&b) = seg.get(i) {
        if b == b'%' {
            let hi = seg.get(i + 1).copied().and_then(hex);
            let lo = seg.get(i + 2).copied().and_then(hex);
            let (Some(hi), Some(lo)) = (hi, lo) else { return Err(CanonError::BadEscape) };
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Ok(())
}

/// Characters that read as `/`, `\` or `.` to some normaliser (NFKC folds them).
const CONFUSABLES: [char; 9] = [
    '\u{FF0F}', // fullwidth solidus
    '\u{FF3C}', // fullwidth reverse solidus
    '\u{2215}', // division slash
    '\u{2044}', // fraction slash
    '\u{29F8}', // big solidus
    '\u{FE68}', // small reverse solidus
    '\u{FF0E}', // fullwidth full stop
    '\u{2024}', // one dot leader
    '\u{FE52}', // small full stop
];

/// Whether `text` is a path segment as a request would name it once decoded: what a resource
/// id read from elsewhere (an upstream's answer) must be to be decided on the same way.
pub fn is_decoded_segment(text: &str) -> bool {
    !text.is_empty() && check_decoded(text).is_ok()
}

fn check_decoded(text: &str) -> Result<(), CanonError> {
    if text == "." || text == ".." {
        return Err(CanonError::DotSegment);
    }
    for c in text.chars() {
        match c {
            '/' => return Err(CanonError::EncodedSeparator { separator: '/' }),
            '\\' => return Err(CanonError::EncodedSeparator { separator: '\\' }),
            ';' | '#' => return Err(CanonError::EncodedForbidden { byte: c as u8 }),
            ' ' => return Err(CanonError::Space),
            c if c.is_control() => {
                let byte = u8::try_from(u32::from(c)).unwrap_or(0x7f);
                return Err(CanonError::EncodedForbidden { byte });
            }
            c if CONFUSABLES.contains(&c) => {
                return Err(CanonError::Confusable { character: c, code: u32::from(c) });
            }
            _ => {}
        }
    }
    Ok(())
}

/// Encodes a decoded segment the one canonical way.
fn encode_segment(text: &str, out: &mut String) {
    for &b in text.as_bytes() {
        if is_plain_path_byte(b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, reason = "tests")]
mod tests {
    //! One test per item of CASES.md section A that concerns the target itself.
    use super::*;

    fn canon(raw: &str) -> Result<Canonical, CanonError> {
        let mut c = Canonical::default();
        canonicalise(raw.as_bytes(), &mut c).map(|()| c)
    }

    fn path(raw: &str) -> String {
        canon(raw).map(|c| c.path().to_string()).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    #[test]
    fn case_01_dot_dot_is_rejected() {
        assert_eq!(canon("/public/../admin/x").unwrap_err(), CanonError::DotSegment);
        assert_eq!(canon("/public/./admin").unwrap_err(), CanonError::DotSegment);
        assert_eq!(canon("/..").unwrap_err(), CanonError::DotSegment);
    }

    #[test]
    fn case_02_encoded_dots_are_rejected() {
        for raw in ["/public/%2e%2e/admin", "/public/.%2E/admin", "/public/%2E./admin", "/public/%2e/admin"] {
            assert_eq!(canon(raw).unwrap_err(), CanonError::DotSegment, "{raw}");
        }
        // Dots inside a segment are ordinary.
        assert_eq!(path("/a/..b/c.d/..."), "/a/..b/c.d/...");
    }

    #[test]
    fn case_03_encoded_and_raw_backslash_and_slash() {
        assert_eq!(canon("/public%2F..%2Fadmin").unwrap_err(), CanonError::EncodedSeparator { separator: '/' });
        assert_eq!(canon("/public%2f..%2fadmin").unwrap_err(), CanonError::EncodedSeparator { separator: '/' });
        assert_eq!(canon("/public%5C..%5Cadmin").unwrap_err(), CanonError::EncodedSeparator { separator: '\\' });
        assert_eq!(canon("/public\\..\\admin").unwrap_err(), CanonError::ForbiddenByte { byte: b'\\' });
    }

    #[test]
    fn case_04_empty_segments_are_rejected_and_never_an_authority() {
        assert_eq!(canon("//admin").unwrap_err(), CanonError::EmptySegment);
        assert_eq!(canon("/public//../admin").unwrap_err(), CanonError::EmptySegment);
        assert_eq!(canon("/a//").unwrap_err(), CanonError::EmptySegment);
        assert_eq!(canon("http://evil/admin").unwrap_err(), CanonError::NotOriginForm);
        assert_eq!(canon("*").unwrap_err(), CanonError::NotOriginForm);
    }

    #[test]
    fn case_05_matrix_parameters_are_rejected() {
        assert_eq!(canon("/admin;x").unwrap_err(), CanonError::Semicolon);
        assert_eq!(canon("/x/..;a=b/admin").unwrap_err(), CanonError::Semicolon);
        assert_eq!(canon("/admin%3Bx").unwrap_err(), CanonError::EncodedForbidden { byte: b';' });
        assert_eq!(canon("/admin%3bx").unwrap_err(), CanonError::EncodedForbidden { byte: b';' });
    }

    #[test]
    fn case_06_fragments_are_rejected() {
        assert_eq!(canon("/admin#f").unwrap_err(), CanonError::Fragment);
        assert_eq!(canon("/a/admin%23f").unwrap_err(), CanonError::EncodedForbidden { byte: b'#' });
        assert_eq!(canon("/a?x=1#f").unwrap_err(), CanonError::Fragment);
    }

    #[test]
    fn case_07_only_the_path_is_matched_and_the_query_is_untouched() {
        let c = canon("/public?next=/admin&x=%2e%2e;y").unwrap();
        assert_eq!(c.path(), "/public");
        assert_eq!(c.query(), Some("next=/admin&x=%2e%2e;y"));
        assert_eq!(c.path_and_query(), "/public?next=/admin&x=%2e%2e;y");
        assert_eq!(canon("/public?").unwrap().query(), Some(""));
        assert_eq!(canon("/public").unwrap().query(), None);
    }

    #[test]
    fn case_08_control_bytes_and_white_space_are_rejected() {
        for raw in ["/a%00b", "/a%0ab", "/a%0Db", "/a%7f"] {
            assert!(matches!(canon(raw).unwrap_err(), CanonError::EncodedForbidden { .. }), "{raw}");
        }
        assert_eq!(canon("/a%20b").unwrap_err(), CanonError::Space);
        for raw in ["/a b", "/a\tb", "/a\0b", "/a\rb", "/a\nb", "/a?b c"] {
            assert!(matches!(canon(raw).unwrap_err(), CanonError::ForbiddenByte { .. }), "{raw:?}");
        }
    }

    #[test]
    fn case_09_hex_case_is_normalised_and_path_case_kept() {
        assert_eq!(path("/caf%c3%a9"), "/caf%C3%A9");
        assert_eq!(path("/caf%C3%A9"), "/caf%C3%A9");
        assert_eq!(path("/%7e%7E~"), "/~~~");
        assert_eq!(path("/%41dmin"), "/Admin");
        assert_eq!(path("/Admin"), "/Admin");
        assert_ne!(path("/Admin"), path("/admin"));
    }

    #[test]
    fn case_10_trailing_slash_is_the_same_resource() {
        assert_eq!(path("/admin/"), "/admin");
        assert_eq!(canon("/admin/").unwrap().segments().collect::<Vec<_>>(), ["admin"]);
        assert_eq!(path("/"), "/");
        assert_eq!(canon("/").unwrap().segment_count(), 0);
        assert_ne!(path("/adminx"), path("/admin"));
    }

    #[test]
    fn case_11_decoded_exactly_once_and_no_overlong_or_fullwidth_forms() {
        let c = canon("/a/%252e%252e/b").unwrap();
        assert_eq!(c.segment(1), Some("%2e%2e"));
        assert_eq!(c.path(), "/a/%252e%252e/b");
        assert_eq!(canon("/%c0%ae%c0%ae/admin").unwrap_err(), CanonError::InvalidUtf8);
        assert_eq!(canon("/a%ff").unwrap_err(), CanonError::InvalidUtf8);
        assert!(matches!(canon("/public%EF%BC%8Fadmin").unwrap_err(), CanonError::Confusable { .. }));
        assert!(matches!(canon("/public%E2%88%95admin").unwrap_err(), CanonError::Confusable { .. }));
        // Raw non-ASCII (a parser may pass valid UTF-8 through raw) must be percent-encoded.
        assert_eq!(canon("/caf\u{e9}").unwrap_err(), CanonError::ForbiddenByte { byte: 0xc3 });
        assert_eq!(canon("/a%2").unwrap_err(), CanonError::BadEscape);
        assert_eq!(canon("/a%zz").unwrap_err(), CanonError::BadEscape);
    }

    #[test]
    fn case_12_ids_come_from_the_canonical_path_only() {
        assert_eq!(canon("/v1/o/containers/1%2F2").unwrap_err(), CanonError::EncodedSeparator { separator: '/' });
        assert_eq!(canon("/v1/o/containers/../containers/9").unwrap_err(), CanonError::DotSegment);
        let c = canon("/v1/o/containers/c%2D42").unwrap();
        assert_eq!(c.segment(3), Some("c-42"));
        assert_eq!(c.path(), "/v1/o/containers/c-42");
    }

    #[test]
    fn long_targets_are_rejected() {
        let long = format!("/{}", "a".repeat(DEFAULT_MAX_TARGET_LEN));
        assert_eq!(canon(&long).unwrap_err(), CanonError::TooLong { limit: DEFAULT_MAX_TARGET_LEN });
    }

    #[test]
    fn tails_are_decoded_paths() {
        let c = canon("/v1/storage/data%2Bsets/x/").unwrap();
        assert_eq!(c.tail(2), Some("/data+sets/x"));
        assert_eq!(c.tail(3), Some("/x"));
        assert_eq!(c.tail(4), None);
    }

    #[test]
    fn a_reused_buffer_holds_only_the_latest_target() {
        let mut c = Canonical::default();
        canonicalise(b"/a/b/c?q", &mut c).unwrap();
        canonicalise(b"/x", &mut c).unwrap();
        assert_eq!(c.path(), "/x");
        assert_eq!(c.segments().collect::<Vec<_>>(), ["x"]);
        assert_eq!(c.query(), None);
    }
}
