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
//! max_filtered_bytes = 8388608 # the largest collection answer a route's filter reads; past it: 502
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
//! [console]                    # optional: the web console's sign-in (OpenID Connect, PKCE)
//! client_id = "portcullis-console"   # needs `issuer` under [auth]
//! redirect_url = "https://admin.example.com/console/callback"
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
//!
//! [[route]]
//! path = "/v1/orgs/{org}/projects/{project}/cronjobs"
//! kind = "cronjobs"
//! upstream = "platform"
//! created_id = "/id"    # a create's new id: this JSON pointer into the answer, not Location
//! # A GET by a caller without kind-wide list but with read on some items is forwarded, and
//! # the items it may not read are removed from the answer (JSON pointers: the array, and in
//! # each item its id).
//! filter = { items = "/items", id = "/id" }
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::auth::AuthSpec;
use crate::policy::{Heading, Problem, Problems, SourceLoc};
use crate::route::{RouteDecl, RouteError, RouteTable};
use crate::tomlwalk::{DidYouMean, Fields, Loc, SourceFile, WalkError, Walker};

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
    /// `[pdp]`: the AuthZEN decision API for other gateways, if served.
    pub pdp: Option<Pdp>,
    /// `[console]`: the web console's sign-in through the identity provider.
    pub console: Option<ConsoleSignIn>,
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

/// `[pdp]`: where the AuthZEN Authorization API listens, and who may call it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pdp {
    pub listen: SocketAddr,
    /// The PDP's issuer identifier in its metadata (default `http://LISTEN`).
    pub issuer: Option<String>,
    pub clients: Vec<PdpClient>,
}

/// `[console]`: signing in to the web console through the identity provider named by
/// `[auth] issuer` (OpenID Connect, authorization code flow with PKCE).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleSignIn {
    /// The console's client id at the provider (the ID token's audience).
    pub client_id: String,
    /// A confidential client's secret, in a file of its own; none for a public client.
    pub client_secret_file: Option<PathBuf>,
    /// Where the provider sends the browser back: this admin listener's
    /// `/console/callback`, as the browser reaches it.
    pub redirect_url: String,
}

/// `[[pdp.client]]`: a policy enforcement point allowed to ask, by its token's SHA-256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PdpClient {
    pub name: String,
    pub sha256: [u8; 32],
    /// The org a request without `resource.properties.org` is decided in.
    pub org: Option<String>,
    /// Whether its decisions carry `context.reason`.
    pub reasons: bool,
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
    /// The largest upstream answer a route's `filter` reads; a larger one is a 502.
    pub max_filtered_bytes: usize,
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
            max_filtered_bytes: 8 * 1024 * 1024,
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
    #[error("[pdp] has no [[pdp.client]]: add one (`portcullis token pdp --name NAME` prints it), or nobody can ask")]
    NoPdpClients,
    #[error("[console] signs in through the identity provider `[auth] issuer` names: set `issuer` under [auth]")]
    ConsoleWithoutIssuer,
    #[error("`redirect_url` '{url}' must be an http:// or https:// URL ending in /console/callback")]
    BadRedirectUrl { url: String },
    #[error("PDP client '{name}' is listed twice: names say who asked, so each is one client")]
    DuplicatePdpClient { name: String },
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
    root.check_keys(&mut p, &["gateway", "limits", "auth", "upstream", "route", "admin", "log", "pdp", "console"], &[]);

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
    let pdp = root.table(&mut p, "pdp", "[pdp]").and_then(|t| pdp(&mut p, &t));
    let console = root.table(&mut p, "console", "[console]").and_then(|t| {
        if auth.as_ref().is_none_or(|a| a.issuer.is_none()) {
            p.error(t.at, E::ConsoleWithoutIssuer);
        }
        console(&mut p, &t, base)
    });
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
            pdp,
            console,
            log,
        }),
        // Unreachable: a missing part always records an error above.
        _ => Err(Problems(Vec::new())),
    }
}

/// Where the route an error is about was written: the last route with that pattern (a
/// duplicate is reported at the second one).
fn route_loc(decls: &[(RouteDecl, Loc)], e: &RouteError) -> Loc {
    let path = e.path();
    decls.iter().rev().find(|(d, _)| d.path == path).map_or(Loc { file: 0, offset: 0 }, |(_, loc)| *loc)
}

mod sections;
#[cfg(test)]
mod tests;

use sections::{admin, auth, console, gateway, limits, log, pdp, route, upstream};
