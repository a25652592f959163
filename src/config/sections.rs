//! The readers of `config.toml`'s sections, one function per table: each checks its keys,
//! reports every problem at its line and column, and returns what it could read.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::auth::{ApiTokenSpec, AuthSpec, KeySpec, parse_algorithm};
use crate::model::Verb;
use crate::route::RouteDecl;
use crate::tomlwalk::{Fields, Loc, Located, nearest};

use super::{
    Admin, Cidr, ConsoleSignIn, DecisionLogging, E, Gateway, HealthCheck, Limits, LogSpec, Pdp, PdpClient, Selection,
    StoreLocation, Tls, Upstream, W,
};

pub(super) fn address(p: &mut W, v: &Located<String>) -> Option<SocketAddr> {
    match v.value.parse() {
        Ok(a) => Some(a),
        Err(_) => {
            p.errors.push((v.loc, E::BadAddress { value: v.value.clone() }));
            None
        }
    }
}

pub(super) fn gateway(p: &mut W, t: &Fields<'_, '_>, base: &Path) -> Option<Gateway> {
    t.check_keys(
        p,
        &[
            "listen",
            "tls",
            "policies",
            "explain_denials",
            "threads",
            "trusted_proxies",
            "candidate_policies",
            "upgrade_sock",
        ],
        &[],
    );
    let candidate_policies = t.string(p, "candidate_policies").map(|s| base.join(s.value));
    let mut trusted_proxies = Vec::new();
    for block in t.strings(p, "trusted_proxies").unwrap_or_default() {
        match Cidr::parse(&block.value) {
            Some(c) => trusted_proxies.push(c),
            None => p.errors.push((block.loc, E::BadCidr { value: block.value.clone() })),
        }
    }
    let listen = t.required_string(p, "listen").and_then(|l| address(p, &l));
    let tls = t.table(p, "tls", "[gateway.tls]").and_then(|tls| {
        tls.check_keys(p, &["listen", "cert", "key"], &[]);
        let listen = tls.required_string(p, "listen").and_then(|l| address(p, &l));
        let cert = tls.required_string(p, "cert").map(|c| base.join(c.value));
        let key = tls.required_string(p, "key").map(|k| base.join(k.value));
        Some(Tls { listen: listen?, cert: cert?, key: key? })
    });
    let policies = t.string(p, "policies").map_or_else(|| base.join("policies"), |s| base.join(s.value));
    let explain_denials = t.bool(p, "explain_denials").unwrap_or(false);
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let threads = match t.integer(p, "threads") {
        None => cpus,
        Some(v) if v.value < 1 => {
            p.errors.push((v.loc, E::TooSmall { key: "threads".into(), min: 1, value: v.value }));
            cpus
        }
        Some(v) => usize::try_from(v.value).unwrap_or(cpus),
    };
    let listen = listen?;
    let upgrade_sock = t.string(p, "upgrade_sock").map(|s| base.join(s.value));
    Some(Gateway { listen, tls, policies, explain_denials, threads, trusted_proxies, candidate_policies, upgrade_sock })
}

pub(super) fn limits(p: &mut W, t: &Fields<'_, '_>) -> Limits {
    let keys = [
        "max_target_bytes",
        "max_header_bytes",
        "max_headers",
        "max_body_bytes",
        "idle_timeout_secs",
        "body_timeout_secs",
        "head_timeout_secs",
        "max_connections",
        "max_filtered_bytes",
    ];
    t.check_keys(p, &keys, &[]);
    let mut limits = Limits::default();
    let positive = |p: &mut W, key: &str| -> Option<u64> {
        let v = t.integer(p, key)?;
        if v.value < 1 {
            p.errors.push((v.loc, E::TooSmall { key: key.into(), min: 1, value: v.value }));
            return None;
        }
        u64::try_from(v.value).ok()
    };
    let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    if let Some(n) = positive(p, "max_target_bytes") {
        limits.max_target_bytes = size(n);
    }
    if let Some(n) = positive(p, "max_header_bytes") {
        limits.max_header_bytes = size(n);
    }
    if let Some(n) = positive(p, "max_headers") {
        limits.max_headers = size(n);
    }
    if let Some(n) = positive(p, "max_body_bytes") {
        limits.max_body_bytes = n;
    }
    if let Some(n) = positive(p, "idle_timeout_secs") {
        limits.idle_timeout = Duration::from_secs(n);
    }
    if let Some(n) = positive(p, "body_timeout_secs") {
        limits.body_timeout = Duration::from_secs(n);
    }
    if let Some(n) = positive(p, "head_timeout_secs") {
        limits.head_timeout = Duration::from_secs(n);
    }
    if let Some(n) = positive(p, "max_connections") {
        limits.max_connections = size(n);
    }
    if let Some(n) = positive(p, "max_filtered_bytes") {
        limits.max_filtered_bytes = size(n);
    }
    limits
}

const ALGORITHMS: [&str; 12] =
    ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "HS256", "HS384", "HS512"];

/// Integer `key` of `t`, at least 1; `default` when absent (or wrong, which is reported).
pub(super) fn positive(p: &mut W, t: &Fields<'_, '_>, key: &str, default: u64) -> u64 {
    match t.integer(p, key) {
        None => default,
        Some(v) if v.value < 1 => {
            p.errors.push((v.loc, E::TooSmall { key: key.into(), min: 1, value: v.value }));
            default
        }
        Some(v) => u64::try_from(v.value).unwrap_or(default),
    }
}

pub(super) fn log(p: &mut W, t: &Fields<'_, '_>, base: &Path) -> LogSpec {
    t.check_keys(p, &["decisions", "allow_sample", "file"], &[]);
    let decisions = match t.string(p, "decisions") {
        None => DecisionLogging::Deny,
        Some(v) if v.value == "deny" => DecisionLogging::Deny,
        Some(v) if v.value == "all" => DecisionLogging::All,
        Some(v) => {
            p.errors.push((v.loc, E::BadDecisions { value: v.value.clone() }));
            DecisionLogging::Deny
        }
    };
    let allow_sample = match t.get("allow_sample") {
        None => 1.0,
        Some(v) => {
            let n = match v.get_ref() {
                toml::de::DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
                toml::de::DeValue::Integer(i) => i.as_str().parse::<f64>().ok(),
                _ => None,
            };
            match n {
                Some(n) if (0.0..=1.0).contains(&n) => n,
                _ => {
                    p.errors.push((p.loc(v.span().start), E::BadSample { value: text_of(v) }));
                    1.0
                }
            }
        }
    };
    let file = t.string(p, "file").map(|f| base.join(f.value));
    LogSpec { decisions, allow_sample, file }
}

/// A TOML value as written, for messages.
pub(super) fn text_of(v: &toml::Spanned<toml::de::DeValue<'_>>) -> String {
    match v.get_ref() {
        toml::de::DeValue::String(s) => format!("\"{s}\""),
        toml::de::DeValue::Integer(i) => i.as_str().to_string(),
        toml::de::DeValue::Float(f) => f.as_str().to_string(),
        toml::de::DeValue::Boolean(b) => b.to_string(),
        _ => "that value".to_string(),
    }
}

pub(super) fn admin(p: &mut W, t: &Fields<'_, '_>, base: &Path) -> Option<Admin> {
    t.check_keys(
        p,
        &[
            "listen",
            "operators",
            "data_dir",
            "postgres",
            "transfer_ttl_secs",
            "expiry_sweep_secs",
            "access_request_ttl_secs",
            "revision_wait_ms",
        ],
        &[],
    );
    let listen = t.required_string(p, "listen").and_then(|l| address(p, &l));
    let operators = t.strings(p, "operators").unwrap_or_default().into_iter().map(|o| o.value).collect();
    let data_dir = t.string(p, "data_dir");
    let postgres = t.string(p, "postgres");
    let store = match (data_dir, postgres) {
        (Some(d), Some(_)) => {
            p.errors.push((d.loc, E::TwoStores));
            None
        }
        (None, Some(url)) => {
            if url.value.starts_with("postgres://") || url.value.starts_with("postgresql://") {
                Some(StoreLocation::Postgres { url: url.value })
            } else {
                p.errors.push((url.loc, E::BadPostgresUrl));
                None
            }
        }
        (Some(d), None) => Some(StoreLocation::Sqlite { data_dir: base.join(d.value) }),
        (None, None) => Some(StoreLocation::Sqlite { data_dir: base.join("data") }),
    };
    let transfer_ttl_secs = positive(p, t, "transfer_ttl_secs", 7 * 24 * 3600);
    let expiry_sweep_secs = positive(p, t, "expiry_sweep_secs", 30);
    let access_request_ttl_secs = positive(p, t, "access_request_ttl_secs", 86_400);
    let revision_wait = Duration::from_millis(positive(p, t, "revision_wait_ms", 2000));
    Some(Admin {
        listen: listen?,
        operators,
        store: store?,
        transfer_ttl_secs,
        expiry_sweep_secs,
        access_request_ttl_secs,
        revision_wait,
    })
}

pub(super) fn auth(p: &mut W, t: &Fields<'_, '_>, base: &Path) -> AuthSpec {
    let mut spec = AuthSpec::default();
    t.check_keys(
        p,
        &[
            "principal_claim",
            "issuer",
            "audience",
            "leeway_secs",
            "demo_key",
            "key",
            "api_token",
            "jwks_url",
            "jwks_refresh_secs",
            "jwks_min_interval_secs",
            "jwks_timeout_ms",
        ],
        &[],
    );
    if let Some(url) = t.string(p, "jwks_url") {
        if !(url.value.starts_with("https://") || url.value.starts_with("http://")) {
            p.errors.push((url.loc, E::BadJwksUrl { url: url.value.clone() }));
        }
        spec.jwks = Some(crate::jwks::JwksSpec {
            url: url.value,
            refresh: Duration::from_secs(positive(p, t, "jwks_refresh_secs", 300)),
            min_interval: Duration::from_secs(positive(p, t, "jwks_min_interval_secs", 30)),
            timeout: Duration::from_millis(positive(p, t, "jwks_timeout_ms", 2000)),
        });
    } else {
        for key in ["jwks_refresh_secs", "jwks_min_interval_secs", "jwks_timeout_ms"] {
            if let Some(v) = t.integer(p, key) {
                p.errors.push((v.loc, E::JwksWithoutUrl { key: key.into() }));
            }
        }
    }
    for at in &t.tables(p, "api_token", "[[auth.api_token]]") {
        at.check_keys(p, &["org", "account", "sha256"], &[]);
        let org = at.required_string(p, "org");
        let account = at.required_string(p, "account");
        let sha256 = token_hash(p, at);
        if let (Some(org), Some(account), Some((sha256, loc))) = (org, account, sha256) {
            if spec.api_tokens.iter().any(|t| t.sha256 == sha256) {
                p.errors.push((loc, E::DuplicateTokenHash));
            }
            spec.api_tokens.push(ApiTokenSpec { org: org.value, account: account.value, sha256 });
        }
    }
    spec.demo_key = t.bool(p, "demo_key").unwrap_or(false);
    if let Some(c) = t.string(p, "principal_claim") {
        spec.principal_claim = c.value;
    }
    spec.issuer = t.string(p, "issuer").map(|s| s.value);
    spec.audience = t.string(p, "audience").map(|s| s.value);
    if let Some(l) = t.integer(p, "leeway_secs") {
        spec.leeway_secs = u64::try_from(l.value).unwrap_or(0);
    }
    let tables = t.tables(p, "key", "[[auth.key]]");
    for k in &tables {
        k.check_keys(p, &["kid", "algorithm", "file"], &[]);
        let kid = k.string(p, "kid");
        let algorithm = k.required_string(p, "algorithm").and_then(|a| match parse_algorithm(&a.value) {
            Some(alg) if ALGORITHMS.contains(&a.value.as_str()) => Some(alg),
            _ => {
                let suggestion = nearest(&a.value, ALGORITHMS);
                p.errors.push((a.loc, E::BadAlgorithm { value: a.value, suggestion }));
                None
            }
        });
        let file = k.required_string(p, "file").map(|f| base.join(f.value));
        if let Some(kid) = &kid {
            if spec.keys.iter().any(|e| e.kid.as_deref() == Some(kid.value.as_str())) {
                p.errors.push((kid.loc, E::DuplicateKid { kid: kid.value.clone() }));
            }
        } else if tables.len() > 1 {
            p.error(k.at, E::KidRequired);
        }
        if let (Some(algorithm), Some(file)) = (algorithm, file) {
            spec.keys.push(KeySpec { kid: kid.map(|k| k.value), algorithm, file });
        }
    }
    spec
}

pub(super) fn upstream(p: &mut W, t: &Fields<'_, '_>) -> Option<(Upstream, Loc)> {
    t.check_keys(p, &["name", "backends", "selection", "health_check", "connect_timeout_ms", "read_timeout_secs"], &[]);
    let name = t.required_string(p, "name");
    let backends: Vec<SocketAddr> =
        t.required_strings(p, "backends").unwrap_or_default().iter().filter_map(|b| address(p, b)).collect();
    let selection = match t.string(p, "selection") {
        None => Selection::RoundRobin,
        Some(s) => match s.value.as_str() {
            "round_robin" => Selection::RoundRobin,
            "consistent_hash" => Selection::ConsistentHash,
            other => {
                let suggestion = nearest(other, ["round_robin", "consistent_hash"]);
                p.errors.push((s.loc, E::BadSelection { value: other.into(), suggestion }));
                Selection::RoundRobin
            }
        },
    };
    let health_check = t.table(p, "health_check", "health_check").and_then(|h| {
        h.check_keys(p, &["path", "interval_secs", "timeout_ms"], &[]);
        let path = h.required_string(p, "path")?;
        if !path.value.starts_with('/') {
            p.errors.push((path.loc, E::BadHealthPath { path: path.value.clone() }));
        }
        let interval = h.integer(p, "interval_secs").map_or(5, |v| v.value.max(1));
        let timeout = h.integer(p, "timeout_ms").map_or(1000, |v| v.value.max(1));
        Some(HealthCheck {
            path: path.value,
            interval: Duration::from_secs(u64::try_from(interval).unwrap_or(5)),
            timeout: Duration::from_millis(u64::try_from(timeout).unwrap_or(1000)),
        })
    });
    let connect_timeout = Duration::from_millis(positive(p, t, "connect_timeout_ms", 1000));
    let read_timeout = Duration::from_secs(positive(p, t, "read_timeout_secs", 30));
    let name = name?;
    if backends.is_empty() && t.get("backends").is_some() {
        p.errors.push((name.loc, E::NoBackends { name: name.value.clone() }));
    }
    let loc = name.loc;
    Some((Upstream { name: name.value, backends, selection, health_check, connect_timeout, read_timeout }, loc))
}

pub(super) fn route(p: &mut W, t: &Fields<'_, '_>, upstreams: &[&str]) -> Option<(RouteDecl, Loc)> {
    t.check_keys(p, &["path", "kind", "upstream", "methods", "created_id", "filter"], &[]);
    let path = t.required_string(p, "path");
    let kind = t.required_string(p, "kind");
    let upstream = t.required_string(p, "upstream");
    let created_id = t.string(p, "created_id").map(|v| v.value);
    let filter = t.table(p, "filter", "route filter").and_then(|f| {
        f.check_keys(p, &["items", "id"], &[]);
        let (items, id) = (f.required_string(p, "items"), f.required_string(p, "id"));
        Some((items?.value, id?.value))
    });
    if let Some(u) = &upstream
        && !upstreams.contains(&u.value.as_str())
    {
        let suggestion = nearest(&u.value, upstreams.iter().copied());
        p.errors.push((u.loc, E::UnknownUpstream { name: u.value.clone(), suggestion }));
    }
    let mut methods_ok = true;
    let methods = t.string_entries(p, "methods").map(|entries| {
        entries
            .into_iter()
            .filter_map(|(method, verb)| match Verb::parse(&verb.value) {
                Some(v) => Some((method.value, v)),
                None => {
                    let suggestion = nearest(&verb.value, Verb::ALL.map(Verb::name));
                    p.errors.push((verb.loc, E::BadVerb { method: method.value, value: verb.value, suggestion }));
                    methods_ok = false;
                    None
                }
            })
            .collect()
    });
    // A route whose methods could not all be read is left out, so the route table does
    // not report it again with a misleading message.
    let (path, kind, upstream) = (path?, kind?, upstream?);
    if !methods_ok {
        return None;
    }
    let loc = path.loc;
    let decl = RouteDecl { path: path.value, kind: kind.value, methods, upstream: upstream.value, created_id, filter };
    Some((decl, loc))
}

/// A table's required `sha256` of a token, and where it was written.
fn token_hash(p: &mut W, t: &Fields<'_, '_>) -> Option<([u8; 32], Loc)> {
    let h = t.required_string(p, "sha256")?;
    match crate::auth::unhex32(&h.value) {
        Some(d) => Some((d, h.loc)),
        None => {
            p.errors.push((h.loc, E::BadTokenHash));
            None
        }
    }
}

pub(super) fn console(p: &mut W, t: &Fields<'_, '_>, base: &Path) -> Option<ConsoleSignIn> {
    t.check_keys(p, &["client_id", "client_secret_file", "redirect_url"], &[]);
    let client_id = t.required_string(p, "client_id");
    let client_secret_file = t.string(p, "client_secret_file").map(|f| base.join(f.value));
    let redirect_url = t.required_string(p, "redirect_url")?;
    let url = &redirect_url.value;
    if !(url.starts_with("http://") || url.starts_with("https://")) || !url.ends_with("/console/callback") {
        p.errors.push((redirect_url.loc, E::BadRedirectUrl { url: url.clone() }));
    }
    Some(ConsoleSignIn { client_id: client_id?.value, client_secret_file, redirect_url: redirect_url.value })
}

pub(super) fn pdp(p: &mut W, t: &Fields<'_, '_>) -> Option<Pdp> {
    t.check_keys(p, &["listen", "issuer", "client"], &[]);
    let listen = t.required_string(p, "listen").and_then(|l| address(p, &l));
    let issuer = t.string(p, "issuer").map(|s| s.value);
    let mut clients: Vec<PdpClient> = Vec::new();
    let tables = t.tables(p, "client", "[[pdp.client]]");
    if tables.is_empty() {
        p.error(t.at, E::NoPdpClients);
    }
    for c in &tables {
        c.check_keys(p, &["name", "sha256", "org", "reasons"], &[]);
        let name = c.required_string(p, "name");
        let sha256 = token_hash(p, c);
        let org = c.string(p, "org").map(|o| o.value);
        let reasons = c.bool(p, "reasons").unwrap_or(false);
        let (Some(name), Some((sha256, hash_at))) = (name, sha256) else { continue };
        if clients.iter().any(|k| k.sha256 == sha256) {
            p.errors.push((hash_at, E::DuplicateTokenHash));
        }
        if clients.iter().any(|k| k.name == name.value) {
            p.errors.push((name.loc, E::DuplicatePdpClient { name: name.value.clone() }));
        }
        clients.push(PdpClient { name: name.value, sha256, org, reasons });
    }
    Some(Pdp { listen: listen?, issuer, clients })
}
