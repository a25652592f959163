//! Which request and response headers cross the gateway.
//!
//! The gateway sets the identity headers for the upstream (`X-Portcullis-Principal`,
//! `X-Portcullis-Org`, `X-Request-Id`); every client-sent spelling of them is removed
//! first, with the credential, rewrite and method-override headers. Forwarding headers are
//! kept only from a configured trusted proxy. Hop-by-hop headers belong to one connection
//! and never cross.

use http::HeaderName;

/// Why a client-sent header is removed before forwarding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Strip {
    /// Identity headers the gateway sets (in every `_`/`.` spelling), rewrite and
    /// method-override headers, and the credential: removed from everyone.
    Always,
    /// `X-Forwarded-*`, `Forwarded`, `X-Real-IP`: kept only from a trusted proxy.
    Forwarding,
}

/// Whether and why `name` is removed. Compares without allocating: it runs for every
/// header of every request.
fn strip(name: &str) -> Option<Strip> {
    /// `name` equals `want` (lower case, `-` separated) up to case and `_`/`.` for `-`.
    fn same(name: &[u8], want: &[u8]) -> bool {
        name.len() == want.len()
            && name.iter().zip(want).all(|(&a, &b)| {
                let a = if a == b'_' || a == b'.' { b'-' } else { a.to_ascii_lowercase() };
                a == b
            })
    }
    let n = name.as_bytes();
    let prefixed = |p: &[u8]| n.len() > p.len() && n.get(..p.len()).is_some_and(|head| same(head, p));
    let always = [
        &b"x-request-id"[..],
        b"x-original-url",
        b"x-rewrite-url",
        b"x-http-method-override",
        b"x-method-override",
        b"x-http-method",
        b"authorization",
    ];
    if prefixed(b"x-portcullis-") || always.iter().any(|w| same(n, w)) {
        Some(Strip::Always)
    } else if prefixed(b"x-forwarded-") || same(n, b"forwarded") || same(n, b"x-real-ip") {
        Some(Strip::Forwarding)
    } else {
        None
    }
}

/// Whether a header is removed for a peer that is (or is not) a trusted proxy.
pub fn stripped(name: &str, trusted_peer: bool) -> bool {
    match strip(name) {
        Some(Strip::Always) => true,
        Some(Strip::Forwarding) => !trusted_peer,
        None => false,
    }
}

/// Headers of one connection, not of the message (RFC 9110 7.6.1), and `Expect`, which the
/// gateway answers itself.
pub fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "expect"
    )
}

#[cfg(test)]
mod tests {
    use super::stripped;

    #[test]
    fn forwarding_headers_are_kept_from_trusted_proxies_only() {
        for name in ["X-Forwarded-For", "x_forwarded_proto", "Forwarded", "X-Real-IP"] {
            assert!(stripped(name, false), "{name}");
            assert!(!stripped(name, true), "{name}");
        }
        for name in ["X-Portcullis-Principal", "authorization", "X-Original-URL", "x-http-method-override"] {
            assert!(stripped(name, true), "{name}");
        }
    }

    #[test]
    fn identity_headers_are_stripped_in_every_spelling() {
        for name in [
            "X-Portcullis-Principal",
            "x_portcullis_principal",
            "x.portcullis.org",
            "X-Forwarded-For",
            "forwarded",
            "X-HTTP-Method-Override",
            "x_original_url",
            "authorization",
        ] {
            assert!(stripped(name, false), "{name}");
        }
        for name in ["accept", "content-type", "x-trace", "x-forwarded", "x-portcullis"] {
            assert!(!stripped(name, false), "{name}");
        }
    }
}
