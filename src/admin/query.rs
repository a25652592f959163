//! Query strings and path segments of admin requests, read strictly: a parameter an
//! endpoint does not take, a key given twice or a bad escape is a 400 that names it, so a
//! typo is never silently ignored.

use http::StatusCode;

use super::Answer;

/// `a=b&c=d`, percent-decoded; a key given twice, a bad escape or non-UTF-8 is refused.
fn query_pairs(query: &str) -> Result<Vec<(String, String)>, Answer> {
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(k)?, percent_decode(v)?);
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(Answer::error(StatusCode::BAD_REQUEST, format!("query parameter `{k}` is given twice")));
        }
        out.push((k, v));
    }
    Ok(out)
}

/// One query key or value, form-decoded (`+` is a space): a `%` must start two hex digits
/// (`%+f` is refused, not read as 0x0f), and the result must be UTF-8.
fn percent_decode(s: &str) -> Result<String, Answer> {
    let bad = || Answer::error(StatusCode::BAD_REQUEST, format!("bad percent-encoding in the query: '{s}'"));
    let bytes = s.as_bytes();
    let escapes_ok = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'%')
        .all(|(i, _)| bytes.get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)));
    if !escapes_ok {
        return Err(bad());
    }
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).decode_utf8().map(|d| d.into_owned()).map_err(|_| bad())
}

/// Takes the named parameters of a query; any other parameter is refused by name.
pub(super) struct Query(Vec<(String, String)>);

impl Query {
    pub(super) fn parse(query: &str, allowed: &[&str]) -> Result<Query, Answer> {
        let pairs = query_pairs(query)?;
        if let Some((k, _)) = pairs.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
            return Err(Answer::error(
                StatusCode::BAD_REQUEST,
                format!("unknown query parameter `{k}`; this endpoint takes {}", allowed.join(", ")),
            ));
        }
        Ok(Query(pairs))
    }

    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub(super) fn required(&self, key: &str) -> Result<&str, Answer> {
        self.get(key)
            .ok_or_else(|| Answer::error(StatusCode::BAD_REQUEST, format!("query parameter `{key}` is required")))
    }

    /// A `true`/`false` parameter, false when absent.
    pub(super) fn flag(&self, key: &str) -> Result<bool, Answer> {
        match self.get(key) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(v) => Err(Answer::error(StatusCode::BAD_REQUEST, format!("`{key}` is true or false, not '{v}'"))),
        }
    }

    pub(super) fn number(&self, key: &str, default: u64) -> Result<u64, Answer> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| {
                Answer::error(StatusCode::BAD_REQUEST, format!("query parameter `{key}` must be a number, got '{v}'"))
            }),
        }
    }
}

/// A path segment: an id as the model writes them (no `/`, no escapes, no dot segments).
pub(super) fn segment_ok(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@' | b':'))
}

/// A list's `limit`: 1 to 1000, 100 when not given.
pub(super) fn list_limit(q: &Query) -> Result<usize, Answer> {
    Ok(usize::try_from(q.number("limit", 100)?.clamp(1, 1000)).unwrap_or(100))
}

/// `after` (default 0) and `limit` (1 to 1,000, default 100) of a log's page; nothing else.
pub(super) fn page(query: &str) -> Result<(u64, u32), Answer> {
    let q = Query::parse(query, &["after", "limit"])?;
    let limit = u32::try_from(q.number("limit", 100)?.clamp(1, 1000)).unwrap_or(100);
    Ok((q.number("after", 0)?, limit))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn query_escapes_are_two_hex_digits_or_refused() {
        assert_eq!(percent_decode("a%2Fb+c").ok(), Some("a/b c".to_string()));
        assert_eq!(percent_decode("%e2%82%ac").ok(), Some("\u{20ac}".to_string()));
        for bad in ["%+f", "%-1", "%zz", "%4", "%", "%ff"] {
            assert!(percent_decode(bad).is_err(), "{bad}");
        }
        assert!(crate::auth::unhex32(&"+f".repeat(32)).is_none());
        assert!(crate::auth::unhex32(&"0f".repeat(32)).is_some());
    }
}
