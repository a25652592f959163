//! The demo: `portcullis demo` runs the gateway on a config and its policies in front of a
//! sample platform upstream, and prints a token for a few members of the shipped policies
//! with `curl` lines to try.
//!
//! The tokens are signed with an HS256 key generated for this run and held only in this
//! process's memory. The gateway accepts that key only when the config says
//! `demo_key = true` under `[auth]`; `portcullis serve` never has it.
//!
//! [`SampleUpstream`] is the platform the demo fronts, and what `portcullis upstream` runs:
//! it answers every request with what it received (method, path, the identity headers the
//! gateway set, body size), so a newcomer sees exactly what an allowed request looks like
//! behind the gateway.

use std::net::{SocketAddr, TcpListener};
use std::time::{SystemTime, UNIX_EPOCH};

use http::Response;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use crate::auth::AuthSpec;
use crate::config::Config;

/// The `kid` of the demo key.
pub const DEMO_KID: &str = "portcullis-demo";

/// How long a demo token is valid.
const DEMO_TOKEN_SECS: u64 = 8 * 3600;

/// The largest body the sample upstream reads (it reports the size of bigger ones as this).
const SAMPLE_BODY_CAP: usize = 1 << 20;

/// A signing key generated for one run of the demo.
pub struct DemoKey {
    secret: [u8; 32],
}

impl std::fmt::Debug for DemoKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DemoKey(..)")
    }
}

/// The demo could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(
        "{path} does not enable the demo key: the demo signs tokens with a key it generates, which the gateway \
         accepts only when the config says `demo_key = true` under [auth] (never set it in production)"
    )]
    NotEnabled { path: String },
    #[error("cannot generate the demo key: {0}")]
    Random(String),
    #[error("cannot sign a demo token: {0}")]
    Sign(String),
    #[error("cannot make a folder for the demo's store at {path}: {source}")]
    Store { path: String, source: std::io::Error },
    #[error(
        "the sample upstream cannot listen on {addr} ({source}): stop what listens there, or change the backends \
         of [[upstream]] '{upstream}' in {path}"
    )]
    Bind { addr: SocketAddr, upstream: String, path: String, source: std::io::Error },
}

impl DemoKey {
    pub fn generate() -> Result<DemoKey, DemoError> {
        let mut secret = [0u8; 32];
        getrandom::getrandom(&mut secret).map_err(|e| DemoError::Random(e.to_string()))?;
        Ok(DemoKey { secret })
    }

    /// The shared secret, for the verifier.
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// A token for `sub`, with the `iss` and `aud` the config requires, valid for 8 hours.
    pub fn token(&self, sub: &str, auth: &AuthSpec) -> Result<String, DemoError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut claims = serde_json::Map::new();
        claims.insert(auth.principal_claim.clone(), sub.into());
        claims.insert("exp".into(), (now + DEMO_TOKEN_SECS).into());
        claims.insert("iat".into(), now.into());
        if let Some(iss) = &auth.issuer {
            claims.insert("iss".into(), iss.as_str().into());
        }
        if let Some(aud) = &auth.audience {
            claims.insert("aud".into(), aud.as_str().into());
        }
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(DEMO_KID.into());
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&self.secret))
            .map_err(|e| DemoError::Sign(e.to_string()))
    }
}

/// Checks the config enables the demo key and the sample upstream can take every backend
/// address; returns the addresses to serve it on.
pub fn check(config: &Config) -> Result<Vec<SocketAddr>, DemoError> {
    let path = config.path.display().to_string();
    if !config.auth.as_ref().is_some_and(|a| a.demo_key) {
        return Err(DemoError::NotEnabled { path });
    }
    let mut addrs = Vec::new();
    for upstream in &config.upstreams {
        for &addr in &upstream.backends {
            if addrs.contains(&addr) {
                continue;
            }
            // Bound and released at once: a clear error now, before anything starts.
            TcpListener::bind(addr).map_err(|source| DemoError::Bind {
                addr,
                upstream: upstream.name.clone(),
                path: path.clone(),
                source,
            })?;
            addrs.push(addr);
        }
    }
    Ok(addrs)
}

/// Who gets a demo token, and why they are interesting in the shipped policies.
const PEOPLE: [(&str, &str); 6] = [
    ("alice", "owner of acme"),
    ("bob", "acme team platform (member); admin in project web"),
    ("carol", "acme team platform; payments-auditor in the restricted project payments"),
    ("dave", "acme viewer; container c-42 and storage /assets/images in web are shared with him"),
    ("erin", "acme project-user in web: creates containers, and writes those she created"),
    (DEMO_OPERATOR, "a platform operator: creates orgs, member of none"),
];

/// The operator of the demo's admin API, when the config has no `[admin]`.
pub const DEMO_OPERATOR: &str = "platform-admin";

/// The demo's admin API: the config's `[admin]` (else one on 127.0.0.1:9090 with
/// `platform-admin` as operator), always on a throwaway SQLite store in `data_dir`, so that
/// the demo never writes to a real one.
pub fn admin(config: &Config, data_dir: std::path::PathBuf) -> crate::config::Admin {
    use crate::config::{Admin, StoreLocation};
    let store = StoreLocation::Sqlite { data_dir };
    match &config.admin {
        Some(a) => Admin { store, ..a.clone() },
        None => Admin {
            listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            operators: vec![DEMO_OPERATOR.to_string()],
            store,
            transfer_ttl_secs: 7 * 24 * 3600,
            expiry_sweep_secs: 30,
            access_request_ttl_secs: 86_400,
            revision_wait: std::time::Duration::from_secs(2),
        },
    }
}

/// A folder for the demo's store, empty, removed when the value is dropped.
pub struct Scratch(pub std::path::PathBuf);

impl Scratch {
    pub fn new() -> Result<Scratch, DemoError> {
        let mut tag = [0u8; 6];
        getrandom::getrandom(&mut tag).map_err(|e| DemoError::Random(e.to_string()))?;
        let tag: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        let dir = std::env::temp_dir().join(format!("portcullis-demo-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|source| DemoError::Store { path: dir.display().to_string(), source })?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The shell name of `who`'s token: `ALICE`, `PLATFORM_ADMIN`.
fn variable(who: &str) -> String {
    who.to_ascii_uppercase().replace('-', "_")
}

/// The banner `portcullis demo` prints: tokens, then curl lines with what each shows, then
/// the admin API and what the store holds.
pub fn banner(
    config: &Config,
    key: &DemoKey,
    upstreams: &[SocketAddr],
    admin: &crate::config::Admin,
    imported: &[String],
) -> Result<String, DemoError> {
    let auth = config.auth.clone().unwrap_or_default();
    let base = format!("http://{}", config.gateway.listen);
    let web = format!("{base}/v1/orgs/acme/projects/web");
    let mut out = String::new();
    let sample: Vec<String> = upstreams.iter().map(ToString::to_string).collect();
    out.push_str(&format!(
        "Portcullis demo: the gateway listens on {base}, in front of the sample platform on {}.\n\
         Kinds and global roles: {} (edit them: the gateway reloads on save).\n\
         The orgs of those files ({}) were imported into a throwaway store, so the admin API on http://{} can \
         change them\n(their files are no longer read; the store goes when the demo stops).\n\n\
         Tokens for members of the shipped policies and an operator (HS256, signed with a key generated for this \
         run, valid 8 hours).\nPaste these lines into another shell:\n\n",
        sample.join(", "),
        config.gateway.policies.display(),
        imported.join(", "),
        admin.listen,
    ));
    for (who, what) in PEOPLE {
        out.push_str(&format!("export {}={}   # {what}\n", variable(who), key.token(who, &auth)?));
    }
    out.push_str(&format!(
        "export PORTCULLIS_ADMIN=http://{}   # where the CLI (`portcullis org|member|role|share ...`) sends its calls\n\
         export PORTCULLIS_TOKEN=$ALICE   # who the CLI acts as\n\n\
         The web console: open http://{}/console in a browser and sign in as one of the sample users.\n\
         As alice: Roles (tick a Deployer and save), Members (assign it to dave), Projects > web (make dave\n\
         admin there), the overview's Open a resource (share a container with dave; revoke it), and\n\
         Ownership (hand acme to bob, who confirms signed in as himself). Each change is live at the gateway.\n",
        admin.listen, admin.listen
    ));
    let lines = [
        (
            "allow: bob deletes a container in web, where he is admin",
            format!("curl -i -X DELETE -H \"Authorization: Bearer $BOB\" {web}/containers/c-1"),
        ),
        (
            "403: dave may not delete c-42 (its share gives him read and update)",
            format!("curl -i -X DELETE -H \"Authorization: Bearer $DAVE\" {web}/containers/c-42"),
        ),
        (
            "a share at work: dave may update c-42",
            format!(
                "curl -i -X PUT -H \"Authorization: Bearer $DAVE\" -d '{{\"image\":\"nginx:1.27\"}}' {web}/containers/c-42"
            ),
        ),
        (
            "a subtree share: dave may write under /assets/images, and nowhere else",
            format!("curl -i -X PUT -H \"Authorization: Bearer $DAVE\" -d 'png' {web}/storage/assets/images/logo.png"),
        ),
        (
            "403: the same write one folder over",
            format!("curl -i -X PUT -H \"Authorization: Bearer $DAVE\" -d 'png' {web}/storage/assets/private/logo.png"),
        ),
        (
            "403: payments is restricted, and bob has no role in it",
            format!(
                "curl -i -H \"Authorization: Bearer $BOB\" {base}/v1/orgs/acme/projects/payments/secrets/stripe-key"
            ),
        ),
        (
            "allow: carol's project role in payments",
            format!(
                "curl -i -H \"Authorization: Bearer $CAROL\" {base}/v1/orgs/acme/projects/payments/secrets/stripe-key"
            ),
        ),
        (
            "201: erin creates a container; the platform answers with its Location, and the gateway records erin as \
             its creator",
            format!("curl -i -X POST -H \"Authorization: Bearer $ERIN\" -d '{{\"image\":\"redis\"}}' {web}/containers"),
        ),
        (
            "allow: erin updates the container she created (`project:containers:owned:write`)",
            format!(
                "curl -i -X PUT -H \"Authorization: Bearer $ERIN\" -d '{{\"image\":\"redis:8\"}}' {web}/containers/c-100"
            ),
        ),
        (
            "403: erin may not update one she did not create",
            format!(
                "curl -i -X PUT -H \"Authorization: Bearer $ERIN\" -d '{{\"image\":\"redis:8\"}}' {web}/containers/c-42"
            ),
        ),
        ("401: no token", format!("curl -i {web}/containers/c-42")),
        (
            "400: an ambiguous path is refused, not guessed at",
            format!("curl -i --path-as-is -H \"Authorization: Bearer $DAVE\" {web}/storage/assets/images/../private/x"),
        ),
    ];
    out.push_str("\nThen try:\n");
    for (what, line) in lines {
        out.push_str(&format!("\n# {what}\n{line}\n"));
    }
    out.push_str(
        "\nAnd the control plane (README, \"The control plane\"), e.g.:\n\n\
         portcullis member list --org acme\n\
         portcullis share list --org acme --kind containers --project web --id c-100   # names erin as its creator\n\
         portcullis share create --org acme --kind containers --project web --id c-1 --to dave --verbs read --for 1h\n\
         PORTCULLIS_TOKEN=$PLATFORM_ADMIN portcullis org create --id globex --owner gina\n",
    );
    out.push_str("\nEvery allowed request reaches the sample platform, which answers with what it received.\n");
    Ok(out)
}

/// The sample platform: answers each request with what it received, as JSON. Given the
/// gateway's routes, it answers a create on a collection with 201 and the new resource's
/// `Location` (ids `c-100`, `c-101`, ... from the kind's initial), as a real platform would,
/// and a `GET` on a collection with `items` (see [`SampleUpstream::lists`]).
#[derive(Debug, Default)]
pub struct SampleUpstream {
    routes: Option<crate::route::RouteTable>,
    next: std::sync::atomic::AtomicU64,
}

/// The first id number the sample platform gives.
const FIRST_ID: u64 = 100;

impl SampleUpstream {
    pub fn new(routes: Option<crate::route::RouteTable>) -> SampleUpstream {
        SampleUpstream { routes, next: std::sync::atomic::AtomicU64::new(FIRST_ID) }
    }

    /// The id of what a `method` on `path` creates, if it is a create on a collection.
    fn creates(&self, method: &str, path: &str) -> Option<String> {
        let routes = self.routes.as_ref()?;
        let mut canonical = crate::canon::Canonical::default();
        crate::canon::canonicalise(path.as_bytes(), &mut canonical).ok()?;
        let target = routes.resolve(method, &canonical).ok()?;
        if target.verb != crate::model::Verb::Create || target.id.is_some() {
            return None;
        }
        let initial = target.kind.chars().next().unwrap_or('r');
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(format!("{initial}-{n}"))
    }
}

impl SampleUpstream {
    /// The items of a `GET` on a collection: a few sample ids from the kind's initial (`c-1`,
    /// `c-2`, `c-42`), so a route's `filter` has something to filter.
    fn lists(&self, method: &str, path: &str) -> Option<Vec<String>> {
        let routes = self.routes.as_ref()?;
        let mut canonical = crate::canon::Canonical::default();
        crate::canon::canonicalise(path.as_bytes(), &mut canonical).ok()?;
        let target = routes.resolve(method, &canonical).ok()?;
        if method != "GET" || target.verb != crate::model::Verb::List || target.id.is_some() {
            return None;
        }
        let initial = target.kind.chars().next().unwrap_or('r');
        Some([1, 2, 42].iter().map(|n| format!("{initial}-{n}")).collect())
    }
}

impl crate::serve::App for SampleUpstream {
    async fn call(&self, request: http::Request<hyper::body::Incoming>) -> Response<Vec<u8>> {
        use http_body_util::BodyExt as _;
        let (head, mut body) = request.into_parts();
        let mut body_bytes = 0usize;
        while body_bytes < SAMPLE_BODY_CAP {
            match body.frame().await {
                Some(Ok(frame)) => body_bytes += frame.data_ref().map_or(0, bytes::Bytes::len),
                Some(Err(_)) | None => break,
            }
        }
        let header = |name: &str| head.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let path = head.uri.path_and_query().map_or_else(|| head.uri.to_string(), |pq| pq.as_str().to_string());
        let created = self.creates(head.method.as_str(), head.uri.path());
        let mut json = if path == "/healthz" {
            serde_json::json!({ "status": "ok" })
        } else {
            serde_json::json!({
                "service": "sample platform",
                "method": head.method.as_str(),
                "path": path,
                "principal": header(crate::gateway::forward::PRINCIPAL_HEADER),
                "org": header(crate::gateway::forward::ORG_HEADER),
                "request_id": header(crate::gateway::forward::REQUEST_ID_HEADER),
                "body_bytes": body_bytes,
            })
        };
        if let Some(ids) = self.lists(head.method.as_str(), head.uri.path())
            && let Some(fields) = json.as_object_mut()
        {
            let items = ids.into_iter().map(|id| serde_json::json!({ "id": id })).collect();
            fields.insert("items".into(), serde_json::Value::Array(items));
        }
        let mut answer = Response::builder().header("content-type", "application/json");
        if let Some(id) = &created {
            if let Some(fields) = json.as_object_mut() {
                fields.insert("id".into(), id.as_str().into());
            }
            answer = answer.status(201).header("location", format!("{}/{id}", head.uri.path().trim_end_matches('/')));
        } else {
            answer = answer.status(200);
        }
        let body = format!("{json}\n").into_bytes();
        answer.header("content-length", body.len()).body(body).unwrap_or_default()
    }
}
