//! `config.toml`: where the gateway listens, its limits, its upstreams and its routes.
//!
//! Read with the same located walker as policy files, so every mistake is reported at once
//! as `file:line:column: what is wrong; how to fix it`, and nothing unknown is ignored. Paths
//! in the file (the policies folder, TLS files) are relative to the file's own folder.
//!
//! ```toml
//! [gateway]
//! listen = "127.0.0.1:8080"
//! policies = "policies"
//! threads = 2                  # proxy worker threads; default: one per CPU
//! trusted_proxies = ["10.0.0.0/8"]  # keep X-Forwarded-* from these peers only (default: none)
//!
//! [limits]                     # every key optional; these are the defaults
//! max_target_bytes = 8192
//! max_header_bytes = 16384
//! max_headers = 64
//! max_body_bytes = 10485760
//! idle_timeout_secs = 60
//! body_timeout_secs = 30
//! head_timeout_secs = 10       # from the first byte of a request head to its last
//! max_connections = 16384      # past it, the longest-idle connection is closed
//!
//! [auth]                       # tokens: `Authorization: Bearer <JWT>`
//! principal_claim = "sub"      # the default
//! issuer = "https://id.example.com"   # optional; checked (and required) when set
//! audience = "platform-api"    # optional; likewise
//! demo_key = false             # true: accept the key `portcullis demo` generates (never in production)
//! jwks_url = "https://id.example.com/.well-known/jwks.json"   # optional; keys fetched and kept current
//! jwks_refresh_secs = 300      # fetch again this often
//! jwks_min_interval_secs = 30  # never more often than this, even for unknown kids
//! jwks_timeout_ms = 2000
//! [[auth.api_token]]           # a service account's token, as `portcullis token new` prints it
//! org = "acme"                 # the token is sa:acme/ci-bot, a member of acme and of no other org
//! account = "ci-bot"
//! sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//! [[auth.key]]
//! kid = "2026-11"              # may be omitted when there is only one key
//! algorithm = "RS256"          # pinned: tokens for this key must use it
//! file = "keys/id.pub.pem"     # PEM public key, or the secret for HS*
//!
//! [[upstream]]
//! name = "platform"
//! backends = ["127.0.0.1:9000"]
//! selection = "round_robin"    # or "consistent_hash"
//! health_check = { path = "/healthz", interval_secs = 5, timeout_ms = 1000 }
//! connect_timeout_ms = 1000    # then the next backend is tried; none: 502
//! read_timeout_secs = 30       # per read of the response; past it: 504
//!
//! [[route]]
//! path = "/v1/orgs/{org}/projects/{project}/containers/{id}/restart"
//! kind = "containers"
//! upstream = "platform"
//! methods = { POST = "update" }  # replaces the REST convention for this route
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::auth::{ApiTokenSpec, AuthSpec, KeySpec, parse_algorithm};
use crate::model::Verb;
use crate::policy::{Heading, Problem, Problems, SourceLoc};
use crate::route::{RouteDecl, RouteError, RouteTable};
use crate::tomlwalk::{DidYouMean, Fields, Loc, Located, SourceFile, WalkError, Walker, nearest};

/// A checked configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    pub gateway: Gateway,
    pub limits: Limits,
    /// `None` when the file has no `[auth]`: then no token verifies and every request is
    /// refused with 401.
    pub auth: Option<AuthSpec>,
    pub upstreams: Vec<Upstream>,
    pub routes: RouteTable,
    /// `None` when the file has no `[admin]`: no admin API, no store, only policy files.
    pub admin: Option<Admin>,
    /// `None` when the file has no `[log]`: no decision log.
    pub log: Option<LogSpec>,
}

/// `[log]`: the decision log.
#[derive(Clone, Debug, PartialEq)]
pub struct LogSpec {
    pub decisions: DecisionLogging,
    /// With `decisions = "all"`, the fraction of allowed requests logged (0 to 1).
    pub allow_sample: f64,
    /// Where lines go (appended); stdout when `None`.
    pub file: Option<PathBuf>,
}

/// Which decisions `[log]` logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecisionLogging {
    /// Denials only.
    Deny,
    /// Denials, and allowed requests at `allow_sample`.
    All,
}

/// `[admin]`: the admin API's listener and the store behind it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admin {
    pub listen: SocketAddr,
    /// Principals who may create orgs.
    pub operators: Vec<String>,
    pub store: StoreLocation,
    /// Seconds a pending ownership transfer lives (7 days by default).
    pub transfer_ttl_secs: u64,
    /// How often grants past their `expires_at` are removed from the store (they count for
    /// nothing from their instant whether or not they have been removed).
    pub expiry_sweep_secs: u64,
    /// How long an access request waits for an answer before it expires (24 h).
    pub access_request_ttl_secs: u64,
    /// How long a gateway request carrying `Portcullis-Revision` waits for this replica to
    /// reach that revision before it is answered 503.
    pub revision_wait: Duration,
}

/// Where the control plane keeps its orgs. Its `Debug` never shows a password.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// SQLite, `portcullis.db` in this folder (resolved against the config file's folder).
    Sqlite { data_dir: PathBuf },
    /// PostgreSQL at this URL, shared by replicas.
    Postgres { url: String },
}

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Sqlite { data_dir } => f.debug_struct("Sqlite").field("data_dir", data_dir).finish(),
            StoreLocation::Postgres { url } => {
                f.debug_struct("Postgres").field("url", &crate::store::redact(url)).finish()
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gateway {
    /// Plain HTTP/1.1 listener.
    pub listen: SocketAddr,
    pub tls: Option<Tls>,
    /// The policies folder, resolved against the config file's folder.
    pub policies: PathBuf,
    /// Put the reason for a denial in the 403 body (for debugging; off by default).
    pub explain_denials: bool,
    /// Worker threads of the proxy; by default one per CPU.
    pub threads: usize,
    /// Peers whose `X-Forwarded-*`, `Forwarded` and `X-Real-IP` headers are kept (a load
    /// balancer in front of the gateway). From anyone else they are removed.
    pub trusted_proxies: Vec<Cidr>,
    /// A second policies folder decided beside the live one and never enforced: every
    /// disagreement is logged and counted (shadow mode), to see what a change would break.
    pub candidate_policies: Option<PathBuf>,
    /// The Unix socket through which a new process (`serve --upgrade`) takes over the
    /// listening sockets of the running one on SIGQUIT. `None`: one per listener port in a
    /// folder only this user can write ([`crate::gateway::sockets::upgrade_socket`]).
    pub upgrade_sock: Option<PathBuf>,
}

/// An address block, `10.0.0.0/8` or `fd00::/8`; a bare address is a block of one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub addr: std::net::IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// Parses `addr/prefix` or `addr`.
    ///
    /// ```
    /// use portcullis::config::Cidr;
    /// let block = Cidr::parse("10.1.0.0/16").unwrap();
    /// assert!(block.contains("10.1.200.3".parse().unwrap()));
    /// assert!(!block.contains("10.2.0.1".parse().unwrap()));
    /// assert!(Cidr::parse("::1").unwrap().contains("::1".parse().unwrap()));
    /// assert!(Cidr::parse("10.0.0.0/33").is_none());
    /// ```
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a.parse::<std::net::IpAddr>().ok()?, p.parse::<u8>().ok()?),
            None => {
                let a = text.parse::<std::net::IpAddr>().ok()?;
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr::{V4, V6};
        let ip = match ip {
            V6(v6) => v6.to_ipv4_mapped().map_or(V6(v6), V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (V4(block), V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(block) & mask == u32::from(ip) & mask
            }
            (V6(block), V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(block) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tls {
    pub listen: SocketAddr,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Limits on what a client may send, with safe defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_target_bytes: usize,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub max_body_bytes: u64,
    /// How long an idle keep-alive connection stays open.
    pub idle_timeout: Duration,
    /// Time allowed between reads of a request body.
    pub body_timeout: Duration,
    /// Time allowed for a request head, from its first byte to its last (slowloris), and
    /// for a TLS handshake.
    pub head_timeout: Duration,
    /// Open client connections at most; past it, the longest-idle one is closed.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_target_bytes: crate::canon::DEFAULT_MAX_TARGET_LEN,
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            max_body_bytes: 10 * 1024 * 1024,
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            head_timeout: Duration::from_secs(10),
            max_connections: 16_384,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    RoundRobin,
    ConsistentHash,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    pub path: String,
    pub interval: Duration,
    pub timeout: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    pub name: String,
    pub backends: Vec<SocketAddr>,
    pub selection: Selection,
    pub health_check: Option<HealthCheck>,
    /// Time to open a connection to a backend; past it the next backend is tried, and a
    /// request no backend accepts is answered 502 (504 if every try timed out).
    pub connect_timeout: Duration,
    /// Time to wait for each read of a backend's response; past it the request is 504.
    pub read_timeout: Duration,
}

/// One problem in a config file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    #[error(transparent)]
    Walk(#[from] WalkError),
    #[error("'{value}' is not a socket address: write host:port with an IP address, e.g. \"127.0.0.1:8080\"")]
    BadAddress { value: String },
    #[error("'{key}' must be at least {min}, found {value}")]
    TooSmall { key: String, min: i64, value: i64 },
    #[error("unknown selection '{value}' (use \"round_robin\" or \"consistent_hash\"){suggestion}")]
    BadSelection { value: String, suggestion: DidYouMean },
    #[error("upstream '{name}' is declared twice: rename or remove one")]
    DuplicateUpstream { name: String },
    #[error("upstream '{name}' has no backends: list at least one host:port in `backends`")]
    NoBackends { name: String },
    #[error("unknown upstream '{name}' (declare it with [[upstream]]){suggestion}")]
    UnknownUpstream { name: String, suggestion: DidYouMean },
    #[error("'{value}' is not a verb for method {method} (use list, read, create, update or delete){suggestion}")]
    BadVerb { method: String, value: String, suggestion: DidYouMean },
    #[error("health check path '{path}' must start with '/'")]
    BadHealthPath { path: String },
    #[error(
        "unknown algorithm '{value}' (use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA, HS256, HS384 \
         or HS512){suggestion}"
    )]
    BadAlgorithm { value: String, suggestion: DidYouMean },
    #[error("'{value}' is not an address block: write e.g. \"10.0.0.0/8\", \"192.168.1.7\" or \"fd00::/8\"")]
    BadCidr { value: String },
    #[error("jwks_url '{url}' must be an http:// or https:// URL")]
    BadJwksUrl { url: String },
    #[error("'{key}' only applies with `jwks_url`: add the URL of the key set, or remove it")]
    JwksWithoutUrl { key: String },
    #[error("`sha256` must be the 64 hex digits `portcullis token new` printed for the token")]
    BadTokenHash,
    #[error("this API token hash is listed twice: remove one")]
    DuplicateTokenHash,
    #[error("two keys have kid '{kid}': kids must be unique")]
    DuplicateKid { kid: String },
    #[error("with several keys every [[auth.key]] needs a `kid`, so a token can name its key")]
    KidRequired,
    #[error("`postgres` must be a postgres:// or postgresql:// URL")]
    BadPostgresUrl,
    #[error("give the store either as `data_dir` (SQLite) or as `postgres` (a URL), not both")]
    TwoStores,
    #[error("`decisions` is \"deny\" (denials only) or \"all\" (denials, and allows at `allow_sample`), not '{value}'")]
    BadDecisions { value: String },
    #[error("`allow_sample` is a fraction from 0 to 1, not {value}")]
    BadSample { value: String },
    #[error(transparent)]
    Route(#[from] RouteError),
    #[error("the config has no [[route]]: every request would be 404; add routes for the platform's APIs")]
    NoRoutes,
}

impl Heading for ConfigErrorKind {
    const NOUN: &'static str = "config";
}

/// One located problem in a config file.
pub type ConfigError = Problem<ConfigErrorKind>;

/// Every problem in a config file, in line order.
pub type ConfigErrors = Problems<ConfigErrorKind>;

/// Reading a config file failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadConfigError {
    #[error("cannot read config file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Invalid(#[from] ConfigErrors),
}

type E = ConfigErrorKind;
type W = Walker<E>;

/// Reads and checks a config file.
pub fn load(path: &Path) -> Result<Config, LoadConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadConfigError::Io { path: path.into(), source })?;
    Ok(parse(path, &text)?)
}

/// Checks config text; `path` names it in errors and anchors its relative paths.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigErrors> {
    let source = SourceFile::new(path.into(), text);
    let base = path.parent().unwrap_or(Path::new("."));
    let mut p: W = Walker::new(0);
    let doc = p.parse(text);
    let root = Fields::root(&doc);
    root.check_keys(&mut p, &["gateway", "limits", "auth", "upstream", "route", "admin", "log"], &[]);

    let gateway = match root.table(&mut p, "gateway", "[gateway]") {
        Some(t) => gateway(&mut p, &t, base),
        None => {
            p.error(0, WalkError::MissingKey { key: "gateway".into(), table: "the config".into() }.into());
            None
        }
    };
    let limits = root.table(&mut p, "limits", "[limits]").map_or_else(Limits::default, |t| limits(&mut p, &t));
    let auth = root.table(&mut p, "auth", "[auth]").map(|t| auth(&mut p, &t, base));
    let admin = root.table(&mut p, "admin", "[admin]").and_then(|t| admin(&mut p, &t, base));
    let log = root.table(&mut p, "log", "[log]").map(|t| log(&mut p, &t, base));
    let upstreams: Vec<(Upstream, Loc)> =
        root.tables(&mut p, "upstream", "[[upstream]]").iter().filter_map(|t| upstream(&mut p, t)).collect();
    let mut names: Vec<&str> = Vec::new();
    for (u, loc) in &upstreams {
        if names.contains(&u.name.as_str()) {
            p.errors.push((*loc, E::DuplicateUpstream { name: u.name.clone() }));
        }
        names.push(&u.name);
    }
    let route_tables = root.tables(&mut p, "route", "[[route]]");
    if route_tables.is_empty() && root.get("route").is_none() {
        p.error(0, E::NoRoutes);
    }
    let mut decls: Vec<(RouteDecl, Loc)> = Vec::new();
    for t in &route_tables {
        if let Some(d) = route(&mut p, t, &names) {
            decls.push(d);
        }
    }
    let table = match RouteTable::compile(&decls.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>()) {
        Ok(t) => Some(t),
        Err(errors) => {
            for e in errors {
                p.errors.push((route_loc(&decls, &e), E::Route(e)));
            }
            None
        }
    };

    let mut errors = p.errors;
    if !errors.is_empty() {
        errors.sort_by_key(|(loc, _)| *loc);
        return Err(Problems(
            errors
                .into_iter()
                .map(|(loc, kind)| {
                    let (line, column) = source.line_col(loc.offset);
                    ConfigError { loc: SourceLoc { file: path.into(), line, column }, kind }
                })
                .collect(),
        ));
    }
    match (gateway, table) {
        (Some(gateway), Some(routes)) => Ok(Config {
            path: path.into(),
            gateway,
            limits,
            auth,
            upstreams: upstreams.into_iter().map(|(u, _)| u).collect(),
            routes,
            admin,
            log,
        }),
        // Unreachable: a missing part always records an error above.
        _ => Err(Problems(Vec::new())),
    }
}

/// Where the route an error is about was written: the last route with that pattern (a
/// duplicate is reported at the second one).
fn route_loc(decls: &[(RouteDecl, Loc)], e: &RouteError) -> Loc {
    let path = match e {
        RouteError::NotAbsolute { path }
        | RouteError::BadSegment { path, .. }
        | RouteError::UnknownCapture { path, .. }
        | RouteError::RepeatedCapture { path, .. }
        | RouteError::TailNotLast { path }
        | RouteError::NoOrg { path }
        | RouteError::Duplicate { path, .. }
        | RouteError::BadMethod { path, .. }
        | RouteError::NoMethods { path }
        | RouteError::TailConflict { path } => path,
    };
    decls.iter().rev().find(|(d, _)| &d.path == path).map_or(Loc { file: 0, offset: 0 }, |(_, loc)| *loc)
}

fn address(p: &mut W, v: &Located<String>) -> Option<SocketAddr> {
    match v.value.parse() {
        Ok(a) => Some(a),
        Err(_) => {
            p.errors.push((v.loc, E::BadAddress { value: v.value.clone() }));
            None
        }
    }
}

fn gateway(p: &mut W, t: &Fields<'_, '_>, base: &Path) -> Option<Gateway> {
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

fn limits(p: &mut W, t: &Fields<'_, '_>) -> Limits {
    let keys = [
        "max_target_bytes",
        "max_header_bytes",
        "max_headers",
        "max_body_bytes",
        "idle_timeout_secs",
        "body_timeout_secs",
        "head_timeout_secs",
        "max_connections",
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
    limits
}

const ALGORITHMS: [&str; 12] =
    ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "HS256", "HS384", "HS512"];

/// Integer `key` of `t`, at least 1; `default` when absent (or wrong, which is reported).
fn positive(p: &mut W, t: &Fields<'_, '_>, key: &str, default: u64) -> u64 {
    match t.integer(p, key) {
        None => default,
        Some(v) if v.value < 1 => {
            p.errors.push((v.loc, E::TooSmall { key: key.into(), min: 1, value: v.value }));
            default
        }
        Some(v) => u64::try_from(v.value).unwrap_or(default),
    }
}

fn log(p: &mut W, t: &Fields<'_, '_>, base: &Path) -> LogSpec {
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
fn text_of(v: &toml::Spanned<toml::de::DeValue<'_>>) -> String {
    match v.get_ref() {
        toml::de::DeValue::String(s) => format!("\"{s}\""),
        toml::de::DeValue::Integer(i) => i.as_str().to_string(),
        toml::de::DeValue::Float(f) => f.as_str().to_string(),
        toml::de::DeValue::Boolean(b) => b.to_string(),
        _ => "that value".to_string(),
    }
}

fn admin(p: &mut W, t: &Fields<'_, '_>, base: &Path) -> Option<Admin> {
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

fn auth(p: &mut W, t: &Fields<'_, '_>, base: &Path) -> AuthSpec {
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
        let sha256 = at.required_string(p, "sha256").and_then(|h| match crate::auth::unhex32(&h.value) {
            Some(d) => Some((d, h.loc)),
            None => {
                p.errors.push((h.loc, E::BadTokenHash));
                None
            }
        });
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

fn upstream(p: &mut W, t: &Fields<'_, '_>) -> Option<(Upstream, Loc)> {
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

fn route(p: &mut W, t: &Fields<'_, '_>, upstreams: &[&str]) -> Option<(RouteDecl, Loc)> {
    t.check_keys(p, &["path", "kind", "upstream", "methods"], &[]);
    let path = t.required_string(p, "path");
    let kind = t.required_string(p, "kind");
    let upstream = t.required_string(p, "upstream");
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
    Some((RouteDecl { path: path.value, kind: kind.value, methods, upstream: upstream.value }, loc))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[gateway]
listen = "127.0.0.1:8080"
policies = "pol"

[limits]
max_headers = 32

[[upstream]]
name = "platform"
backends = ["127.0.0.1:9000", "127.0.0.1:9001"]
health_check = { path = "/healthz", interval_secs = 2 }

[[route]]
path = "/v1/orgs/{org}/registries/{id}"
kind = "registries"
upstream = "platform"

[[route]]
path = "/v1/orgs/{org}/projects/{project}/containers/{id}/restart"
kind = "containers"
upstream = "platform"
methods = { POST = "update" }
"#;

    fn errors(text: &str) -> String {
        parse(Path::new("conf/config.toml"), text).unwrap_err().to_string()
    }

    #[test]
    fn a_good_config_is_read_with_defaults_and_relative_paths() {
        let c = parse(Path::new("conf/config.toml"), GOOD).unwrap();
        assert_eq!(c.gateway.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.gateway.policies, PathBuf::from("conf/pol"));
        assert!(!c.gateway.explain_denials);
        assert_eq!(c.limits.max_headers, 32);
        assert_eq!(c.limits.max_header_bytes, Limits::default().max_header_bytes);
        assert_eq!(c.upstreams[0].backends.len(), 2);
        assert_eq!(c.upstreams[0].health_check.as_ref().unwrap().interval, Duration::from_secs(2));
        assert_eq!(c.routes.routes().len(), 2);
    }

    #[test]
    fn every_mistake_is_located_with_its_fix() {
        let bad = GOOD
            .replace("listen = \"127.0.0.1:8080\"", "listen = \"localhost\"\nlisen = 1")
            .replace("upstream = \"platform\"\nmethods", "upstream = \"platfrom\"\nmethods")
            .replace("POST = \"update\"", "POST = \"updte\"")
            .replace("max_headers = 32", "max_headers = 0");
        let e = errors(&bad);
        assert!(e.contains("config is invalid (5 errors)"), "{e}");
        assert!(e.contains("conf/config.toml:3:10: 'localhost' is not a socket address"), "{e}");
        assert!(e.contains("conf/config.toml:4:1: unknown key 'lisen' in [gateway], did you mean 'listen'?"), "{e}");
        assert!(e.contains("'max_headers' must be at least 1, found 0"), "{e}");
        assert!(e.contains("conf/config.toml:23:12: unknown upstream 'platfrom' (declare it with [[upstream]]), did you mean 'platform'?"), "{e}");
        assert!(e.contains("conf/config.toml:24:20: 'updte' is not a verb for method POST (use list, read, create, update or delete), did you mean 'update'?"), "{e}");
    }

    #[test]
    fn route_pattern_errors_point_at_the_route() {
        let bad = GOOD.replace("/v1/orgs/{org}/registries/{id}", "/v1/orgs/{tenant}/registries/{id}");
        let e = errors(&bad);
        assert!(
            e.contains("conf/config.toml:15:8: route '/v1/orgs/{tenant}/registries/{id}': unknown capture '{tenant}'"),
            "{e}"
        );
    }

    #[test]
    fn auth_keys_are_read_and_checked() {
        let text = format!(
            "{GOOD}\n[auth]\nissuer = \"https://id.test\"\n[[auth.key]]\nkid = \"a\"\nalgorithm = \"RS256\"\nfile = \"k/a.pem\"\n[[auth.key]]\nkid = \"b\"\nalgorithm = \"ES256\"\nfile = \"k/b.pem\"\n"
        );
        let c = parse(Path::new("conf/config.toml"), &text).unwrap();
        let auth = c.auth.unwrap();
        assert_eq!(auth.principal_claim, "sub");
        assert_eq!(auth.issuer.as_deref(), Some("https://id.test"));
        assert_eq!(auth.keys.len(), 2);
        assert_eq!(auth.keys[1].file, PathBuf::from("conf/k/b.pem"));
        let bad = text.replace("\"ES256\"", "\"ES265\"").replace("kid = \"b\"", "kid = \"a\"");
        let e = errors(&bad);
        assert!(e.contains("unknown algorithm 'ES265' (use RS256"), "{e}");
        assert!(e.contains("or HS512), did you mean 'ES256'?"), "{e}");
        assert!(e.contains("two keys have kid 'a'"), "{e}");
        let no_kid = text.replace("kid = \"b\"\n", "");
        assert!(errors(&no_kid).contains("every [[auth.key]] needs a `kid`"));
    }

    #[test]
    fn a_config_without_gateway_or_routes_says_what_to_add() {
        let e = errors("[[upstream]]\nname = \"u\"\nbackends = []\n");
        assert!(e.contains("missing key 'gateway'"), "{e}");
        assert!(e.contains("has no [[route]]"), "{e}");
        assert!(e.contains("upstream 'u' has no backends"), "{e}");
    }

    #[test]
    fn the_admin_table_names_its_store_and_refuses_two_or_a_bad_url() {
        let c =
            parse(Path::new("conf/config.toml"), &format!("{GOOD}\n[admin]\nlisten = \"127.0.0.1:9090\"\n")).unwrap();
        let admin = c.admin.unwrap();
        assert_eq!(admin.store, StoreLocation::Sqlite { data_dir: PathBuf::from("conf/data") });
        assert_eq!(admin.transfer_ttl_secs, 7 * 24 * 3600);
        assert_eq!(admin.revision_wait, Duration::from_millis(2000));
        let pg = format!("{GOOD}\n[admin]\nlisten = \"127.0.0.1:9090\"\npostgres = \"postgres://app@db/p\"\n");
        let store = parse(Path::new("conf/config.toml"), &pg).unwrap().admin.unwrap().store;
        assert_eq!(store, StoreLocation::Postgres { url: "postgres://app@db/p".into() });
        let both = pg.replace("postgres = ", "data_dir = \"d\"\npostgres = ");
        assert!(errors(&both).contains("either as `data_dir` (SQLite) or as `postgres`"));
        let mysql = pg.replace("postgres://", "mysql://");
        assert!(errors(&mysql).contains("`postgres` must be a postgres:// or postgresql:// URL"));
        let typo = pg.replace("postgres = ", "operator = [\"x\"]\npostgres = ");
        assert!(errors(&typo).contains("did you mean 'operators'?"), "{}", errors(&typo));
    }
}
