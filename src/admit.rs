//! Step 0 of a request's path: admit the request head before anything reads it.
//!
//! hyper has already refused what HTTP/1.1 parsing cannot accept (bad Content-Length
//! values, `Transfer-Encoding` other than chunked, NUL or bare CR in header values, a
//! request line it cannot read). What it passes on but a strict gateway must not
//! (`../shared/security/CASES.md` B, C, E), seen in the parsed head and, for what parsing
//! loses, in the [`Wire`] record of the bytes:
//!
//! - heads over the configured size or header count: 431;
//! - a declared body over the configured size: 413 (a chunked body is counted as it
//!   streams, in the gateway);
//! - `Content-Length` together with `Transfer-Encoding` (hyper drops the length), a
//!   `Transfer-Encoding` other than exactly `chunked`, or `Content-Length` given twice (hyper
//!   keeps one of two equal lines) or as a list (even `3, 3`): 400, since the upstream may
//!   frame the body differently from the gateway;
//! - a `#` in the target (the parsed URI drops the fragment silently): 400;
//! - a Host that is not one plain host name or address with an optional port: 400. A valid
//!   one is put in canonical form (lower case, no trailing dot), which is what the upstream
//!   receives.

use crate::config::Limits;

/// Why a request head was refused, with the status it is answered with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the request has {count} header fields; at most {limit} are accepted")]
    TooManyHeaders { count: usize, limit: usize },
    #[error("the request head is {size} bytes; at most {limit} are accepted")]
    HeadTooLarge { size: usize, limit: usize },
    #[error("the request body is {size} bytes; at most {limit} are accepted")]
    BodyTooLarge { size: u64, limit: u64 },
    #[error("Content-Length and Transfer-Encoding together are ambiguous; send one")]
    LengthAndChunked,
    #[error("Transfer-Encoding must be exactly 'chunked'")]
    BadTransferEncoding,
    #[error("Content-Length must be given once, as one number")]
    BadContentLength,
    #[error("the Host header must be one host name or address, with an optional port")]
    BadHost,
    #[error("a '#' fragment is not allowed in a request target")]
    Fragment,
}

impl Refused {
    /// The HTTP status this is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Refused::TooManyHeaders { .. } | Refused::HeadTooLarge { .. } => 431,
            Refused::BodyTooLarge { .. } => 413,
            Refused::LengthAndChunked
            | Refused::BadTransferEncoding
            | Refused::BadContentLength
            | Refused::BadHost
            | Refused::Fragment => 400,
        }
    }
}

/// What an admitted head declares.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Admitted {
    /// The Host in canonical form, when it differs from the one sent (which is otherwise
    /// forwarded as it is).
    pub host: Option<String>,
    /// Whether the body is chunked (and so must be counted as it streams).
    pub chunked: bool,
}

/// What only the bytes of a head on the wire show: a parsed head has lost them (the HTTP
/// library drops a fragment from the target, and a `Content-Length` that came with
/// `Transfer-Encoding`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wire {
    /// Bytes from the request line to the blank line.
    pub head_bytes: usize,
    /// The request line carried a `#`.
    pub fragment: bool,
    /// `Content-Length` lines that came.
    pub length_lines: usize,
}

impl Wire {
    /// From the head as received.
    pub fn from_raw(raw: &[u8]) -> Wire {
        let mut lines = raw.split(|&b| b == b'\n');
        let fragment = lines.next().is_some_and(|request_line| request_line.contains(&b'#'));
        let length_lines = lines
            .filter(|line| {
                let name = line.split(|&b| b == b':').next().unwrap_or(&[]);
                name.eq_ignore_ascii_case(b"content-length")
            })
            .count();
        Wire { head_bytes: raw.len(), fragment, length_lines }
    }

    /// For a head that never crossed a wire (explain): as HTTP/1.1 would send it.
    pub fn rendered(method: &str, target: &[u8], headers: &http::HeaderMap) -> Wire {
        let line = method.len() + 1 + target.len() + " HTTP/1.1\r\n".len();
        let fields: usize = headers.iter().map(|(n, v)| n.as_str().len() + 2 + v.len() + 2).sum();
        Wire {
            head_bytes: line + fields + 2,
            fragment: target.contains(&b'#'),
            length_lines: headers.get_all(http::header::CONTENT_LENGTH).iter().count(),
        }
    }
}

/// Checks a request head (its parsed `headers`, and what the `wire` showed) against
/// `limits` and the framing rules above.
pub fn admit(headers: &http::HeaderMap, wire: &Wire, limits: &Limits) -> Result<Admitted, Refused> {
    if headers.len() > limits.max_headers {
        return Err(Refused::TooManyHeaders { count: headers.len(), limit: limits.max_headers });
    }
    let size = wire.head_bytes;
    if size > limits.max_header_bytes {
        return Err(Refused::HeadTooLarge { size, limit: limits.max_header_bytes });
    }
    if wire.fragment {
        return Err(Refused::Fragment);
    }
    // A parser may merge equal lengths given twice; the wire shows both.
    if wire.length_lines > 1 {
        return Err(Refused::BadContentLength);
    }
    let raw_has_length = wire.length_lines > 0;

    let mut lengths = headers.get_all(http::header::CONTENT_LENGTH).iter();
    let length = match (lengths.next(), lengths.next()) {
        (None, _) => None,
        (Some(v), None) => {
            let text = v.to_str().map_err(|_| Refused::BadContentLength)?;
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Refused::BadContentLength);
            }
            Some(text.parse::<u64>().map_err(|_| Refused::BadContentLength)?)
        }
        (Some(_), Some(_)) => return Err(Refused::BadContentLength),
    };
    let mut encodings = headers.get_all(http::header::TRANSFER_ENCODING).iter();
    let chunked = match (encodings.next(), encodings.next()) {
        (None, _) => false,
        (Some(v), None) if v.as_bytes().eq_ignore_ascii_case(b"chunked") => true,
        _ => return Err(Refused::BadTransferEncoding),
    };
    if chunked && (length.is_some() || raw_has_length) {
        return Err(Refused::LengthAndChunked);
    }
    if let Some(size) = length.filter(|&n| n > limits.max_body_bytes) {
        return Err(Refused::BodyTooLarge { size, limit: limits.max_body_bytes });
    }

    let mut hosts = headers.get_all(http::header::HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (None, _) => None,
        (Some(v), None) => match canonical_host(v.as_bytes()).ok_or(Refused::BadHost)? {
            std::borrow::Cow::Borrowed(_) => None,
            std::borrow::Cow::Owned(rewritten) => Some(rewritten),
        },
        (Some(_), Some(_)) => return Err(Refused::BadHost),
    };
    Ok(Admitted { host, chunked })
}

/// `host[:port]` in lower case without a trailing dot, or `None` if it is not one plain
/// DNS name, IPv4 address or bracketed IPv6 address with a port of at most 65535. Borrowed
/// when the value is already in that form (the common case: nothing is allocated).
///
/// ```
/// use portcullis::admit::canonical_host;
/// assert_eq!(canonical_host(b"API.Example.COM.:8443").as_deref(), Some("api.example.com:8443"));
/// assert_eq!(canonical_host(b"[::1]:80").as_deref(), Some("[::1]:80"));
/// assert_eq!(canonical_host(b"a.example/evil"), None);
/// assert_eq!(canonical_host(b"x:99999"), None);
/// ```
pub fn canonical_host(value: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    use std::borrow::Cow;
    let text = std::str::from_utf8(value).ok()?;
    let (name, port, bracketed) = if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        inside.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (inside, port, true)
    } else {
        let (name, port) = match text.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (text, None),
        };
        let bare = name.strip_suffix('.').unwrap_or(name);
        let labels_ok = !bare.is_empty()
            && bare.len() <= 253
            && bare.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            });
        if !labels_ok {
            return None;
        }
        (name, port, false)
    };
    let port_number = match port {
        None => None,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            let n: u32 = p.parse().ok()?;
            if n > 65535 {
                return None;
            }
            Some(n)
        }
        Some(_) => return None,
    };
    let trailing_dot = !bracketed && name.ends_with('.');
    let leading_zero = port.is_some_and(|p| p.len() > 1 && p.starts_with('0'));
    if !trailing_dot && !leading_zero && !name.bytes().any(|b| b.is_ascii_uppercase()) {
        return Some(Cow::Borrowed(text));
    }
    let name = name.strip_suffix('.').filter(|_| !bracketed).unwrap_or(name).to_ascii_lowercase();
    let name = if bracketed { format!("[{name}]") } else { name };
    Some(Cow::Owned(match port_number {
        Some(n) => format!("{name}:{n}"),
        None => name,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use super::*;

    fn head(headers: &[(&str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (n, v) in headers {
            h.append(http::HeaderName::from_bytes(n.as_bytes()).unwrap(), http::HeaderValue::from_str(v).unwrap());
        }
        h
    }

    /// The head as it was sent.
    fn raw(h: &http::HeaderMap) -> Vec<u8> {
        let mut out = b"POST /v1/x HTTP/1.1\r\n".to_vec();
        for (n, v) in h.iter() {
            out.extend_from_slice(format!("{}: ", n).as_bytes());
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    fn check(h: &http::HeaderMap, limits: &Limits) -> Result<Admitted, Refused> {
        admit(h, &Wire::from_raw(&raw(h)), limits)
    }

    fn refused(headers: &[(&str, &str)]) -> Option<u16> {
        check(&head(headers), &Limits::default()).err().map(|e| e.status())
    }

    #[test]
    fn framing_that_two_parsers_could_read_differently_is_refused() {
        assert_eq!(refused(&[("content-length", "3"), ("transfer-encoding", "chunked")]), Some(400));
        assert_eq!(refused(&[("transfer-encoding", "chunked, chunked")]), Some(400));
        assert_eq!(refused(&[("transfer-encoding", "gzip, chunked")]), Some(400));
        assert_eq!(refused(&[("transfer-encoding", "chunked"), ("transfer-encoding", "chunked")]), Some(400));
        assert_eq!(refused(&[("content-length", "3, 3")]), Some(400));
        assert_eq!(refused(&[("content-length", "3"), ("content-length", "3")]), Some(400));
        assert_eq!(refused(&[("content-length", "+3")]), Some(400));
        assert_eq!(refused(&[("content-length", "3")]), None);
        assert_eq!(refused(&[("transfer-encoding", "Chunked")]), None);
        // hyper drops Content-Length from the parsed head when both came; the raw head has it.
        let h = head(&[("transfer-encoding", "chunked")]);
        let mut sent = raw(&h);
        sent.splice(sent.len() - 2..sent.len() - 2, b"Content-Length: 5\r\n".iter().copied());
        assert_eq!(admit(&h, &Wire::from_raw(&sent), &Limits::default()), Err(Refused::LengthAndChunked));
    }

    #[test]
    fn a_fragment_in_the_request_line_is_refused() {
        let h = head(&[]);
        let sent = b"POST /v1/x#f HTTP/1.1\r\nX-A: #\r\n\r\n";
        assert_eq!(admit(&h, &Wire::from_raw(sent), &Limits::default()), Err(Refused::Fragment));
        let fine = Wire::from_raw(b"POST /v1/x HTTP/1.1\r\nX-A: #\r\n\r\n");
        assert!(admit(&h, &fine, &Limits::default()).is_ok());
        assert!(Wire::rendered("GET", b"/v1/x#f", &h).fragment);
    }

    #[test]
    fn limits_give_431_and_413() {
        let limits = Limits { max_headers: 3, max_header_bytes: 100, max_body_bytes: 10, ..Limits::default() };
        let many = head(&[("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]);
        assert_eq!(check(&many, &limits).unwrap_err().status(), 431);
        let big = head(&[("a", &"x".repeat(100))]);
        assert_eq!(check(&big, &limits).unwrap_err().status(), 431);
        let body = head(&[("content-length", "11")]);
        assert_eq!(check(&body, &limits).unwrap_err(), Refused::BodyTooLarge { size: 11, limit: 10 });
        assert!(check(&head(&[("content-length", "10")]), &limits).is_ok());
    }

    #[test]
    fn hosts_are_canonical_or_refused() {
        assert_eq!(canonical_host(b"Example.com.").as_deref(), Some("example.com"));
        assert_eq!(canonical_host(b"127.0.0.1:8080").as_deref(), Some("127.0.0.1:8080"));
        assert!(matches!(canonical_host(b"api.example.com:443"), Some(std::borrow::Cow::Borrowed(_))));
        assert_eq!(canonical_host(b"a.test:0080").as_deref(), Some("a.test:80"));
        assert_eq!(canonical_host(b"[::ABCD]").as_deref(), Some("[::abcd]"));
        for bad in [&b"a b"[..], b"a, b", b"", b":80", b"x:", b"a@b", b"-a.example", b"a..b", b"[::1", b"caf\xc3\xa9"] {
            assert_eq!(canonical_host(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(refused(&[("host", "a"), ("host", "b")]), Some(400));
    }
}
