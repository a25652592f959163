//! `decide` allocates nothing: proved with a counting global allocator over every kind of
//! decision (owner, role, narrowed role, project role, restricted, share, `*` share,
//! subtree share, team share, `all` share, collection, `owned` entry with a creator record,
//! live and expired bindings and shares, every deny reason).
//!
//! And what one whole request costs on a gateway core (pipeline, forwarding, hyper's own
//! buffers and headers): counted on a real core thread serving a keep-alive client.
//!
//! Its own test binary, because the global allocator is process-wide.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, reason = "tests")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use portcullis::{Caller, Request, SnapshotHandle, Verb, decide, policy};

struct Counting;

thread_local! {
    /// Allocations made by this thread. Per thread, so tests running in parallel (and the
    /// harness's own threads) cannot disturb a count; `const` so reading it never allocates.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    /// Whether this thread is the gateway core under count.
    static CORE: Cell<bool> = const { Cell::new(false) };
}

/// Allocations made by the gateway core thread under count.
static CORE_ALLOCATIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

fn count() {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
    if CORE.try_with(Cell::get).unwrap_or(false) {
        CORE_ALLOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const POLICY: &str = r#"
[[kind]]
name = "containers"
levels = ["project"]

[[kind]]
name = "registries"
levels = ["organisation"]

[[kind]]
name = "storage"
levels = ["project"]
hierarchical = true

[[role]]
name = "reg-main"
permissions = ["organisation:registries:main:update", "project:storage:/shared:read"]

[[role]]
name = "maker"
permissions = ["project:containers:create", "project:containers:owned:write"]

[[org]]
id = "acme"
owner = "olga"
members = ["olga", "ada", "bob", "cy", "dee", "eve"]
service_accounts = ["bot"]
teams = { ops = ["cy", "bot"] }
projects = [{ id = "web" }, { id = "vault", restricted = true }]

[[org.binding]]
subject = "ada"
role = "viewer"

[[org.binding]]
subject = "ada"
role = "admin"
project = "web"

[[org.binding]]
subject = "bob"
role = "reg-main"

[[org.binding]]
subject = "team:ops"
role = "member"
project = "vault"

[[org.share]]
subject = "dee"
kind = "containers"
project = "web"
id = "c-1"
verbs = ["update"]

[[org.share]]
subject = "dee"
kind = "storage"
project = "web"
id = "/data/sets"
level = "write"

[[org.share]]
subject = "team:ops"
kind = "registries"
id = "*"
level = "read"

[[org.share]]
subject = "all"
kind = "containers"
project = "web"
id = "public"
level = "read"

[[org.binding]]
subject = "eve"
role = "maker"

[[org.binding]]
subject = "eve"
role = "admin"
project = "vault"
expires_at = "1970-01-01T00:03:20Z"

[[org.share]]
subject = "eve"
kind = "registries"
id = "main"
verbs = ["update"]
expires_at = "1970-01-01T00:01:40Z"

[[org.created]]
subject = "eve"
kind = "containers"
project = "web"
id = "mine"
"#;

#[test]
fn decide_allocates_nothing() {
    let handle = SnapshotHandle::new(policy::compile_text("no_alloc.toml", POLICY).unwrap());
    let req = |principal, project, kind, id, verb| Request {
        org: "acme",
        principal: Caller::User(principal),
        project,
        kind,
        id,
        verb,
        at: 150,
    };
    let cases = [
        (req("olga", None, "ownership", None, Verb::Update), true),
        (req("ada", Some("web"), "containers", Some("x"), Verb::Delete), true),
        (req("ada", None, "registries", Some("r"), Verb::Read), true),
        (req("ada", Some("vault"), "containers", Some("x"), Verb::Read), false),
        (req("bob", None, "registries", Some("main"), Verb::Update), true),
        (req("bob", Some("web"), "storage", Some("/shared/a/b/c/d/e/f"), Verb::Read), true),
        (req("cy", Some("vault"), "containers", None, Verb::List), true),
        (
            Request {
                principal: Caller::ServiceAccount { org: "acme", name: "bot" },
                ..req("", None, "registries", None, Verb::List)
            },
            true,
        ),
        (req("bot", None, "registries", None, Verb::List), false),
        (req("dee", Some("web"), "containers", Some("c-1"), Verb::Update), true),
        (req("dee", Some("web"), "storage", Some("/data/sets/x/y/z/"), Verb::Delete), true),
        (req("dee", Some("web"), "storage", Some("/data/setsx"), Verb::Read), false),
        (req("dee", Some("web"), "containers", Some("public"), Verb::Read), true),
        (req("dee", Some("web"), "containers", Some("c-2"), Verb::Read), false),
        (req("mallory", None, "registries", None, Verb::List), false),
        (req("ada", None, "nope", None, Verb::List), false),
        (req("ada", Some("nope"), "containers", None, Verb::List), false),
        (req("ada", None, "containers", None, Verb::List), false),
        (req("dee", Some("web"), "storage", Some("/data/../etc"), Verb::Read), false),
        (Request { org: "other", ..req("ada", None, "registries", None, Verb::List) }, false),
        // `owned` entries: eve created "mine" and not "c-1". Decided at 150.
        (req("eve", Some("web"), "containers", Some("mine"), Verb::Delete), true),
        (req("eve", Some("web"), "containers", Some("c-1"), Verb::Update), false),
        // An expiring project binding until 200, a share that ended at 100.
        (req("eve", Some("vault"), "containers", Some("x"), Verb::Delete), true),
        (Request { at: 200, ..req("eve", Some("vault"), "containers", Some("x"), Verb::Delete) }, false),
        (req("eve", None, "registries", Some("main"), Verb::Update), false),
        (Request { at: 99, ..req("eve", None, "registries", Some("main"), Verb::Update) }, true),
    ];
    // Warm up (lazy statics in the hasher or arc-swap's thread-local debts) before counting.
    for (r, _) in &cases {
        decide(&handle.load(), r);
    }
    let before = allocations();
    let mut allowed = 0;
    for _ in 0..100 {
        for (r, expected) in &cases {
            let snapshot = handle.load();
            let d = decide(&snapshot, r);
            assert_eq!(d.allowed, *expected, "{r:?}: {d:?}");
            allowed += usize::from(d.allowed);
        }
    }
    let after = allocations();
    assert!(allowed > 0);
    assert_eq!(after - before, 0, "decide (with the handle's load) allocated {} times", after - before);
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the test above against a counter that counts nothing.
    let before = allocations();
    let v: Vec<u64> = std::hint::black_box((0..100).collect());
    assert!(allocations() > before);
    drop(v);
}

/// Reads one response with a Content-Length body; its status.
fn read_response(stream: &mut std::net::TcpStream, buf: &mut Vec<u8>) -> u16 {
    use std::io::Read;
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return 0,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// One allowed request through a gateway core (canonicalise, route, verify a JWT from the
/// cache, decide, forward over a pooled upstream connection, stream the answer back): the
/// allocations it makes, per request, over a warm keep-alive connection.
#[test]
fn a_request_through_a_gateway_core_allocates_a_bounded_few_times() {
    use std::io::Write;
    use std::sync::Arc;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    // The upstream: answers every request `200 ok` on keep-alive connections.
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream_addr = upstream.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in upstream.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    use std::io::Read;
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.clear();
                    if stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").is_err() {
                        return;
                    }
                }
            });
        }
    });
    let listen: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    let socket = portcullis::gateway::listener::bind(listen).unwrap();
    let gateway_addr = socket.local_addr().unwrap();
    let text = std::fs::read_to_string(root.join("config.toml"))
        .unwrap()
        .replace("policies = \"policies\"", &format!("policies = \"{}\"", root.join("policies").display()))
        .replace("backends = [\"127.0.0.1:9000\"]", &format!("backends = [\"{upstream_addr}\"]"))
        .replace("demo_key = true", "demo_key = false")
        .replace(
            "# [[auth.key]]",
            &format!(
                "[[auth.key]]\nkid = \"test\"\nalgorithm = \"RS256\"\nfile = \"{}\"\n# ",
                root.join("tests/fixtures/keys/rsa.pub.pem").display()
            ),
        );
    let config = portcullis::config::parse(&root.join("config.toml"), &text).unwrap();
    let (policy, error) = portcullis::reload::LivePolicy::load(&config.gateway.policies);
    assert!(error.is_none(), "{error:?}");
    let metrics = Arc::new(portcullis::metrics::Metrics::new(Vec::new()));
    let source = portcullis::reload::RouteSource {
        config: root.join("config.toml"),
        upstreams: config.upstreams.iter().map(|u| u.name.clone()).collect(),
        metrics: Some(metrics.clone()),
    };
    policy.follow_routes(source, config.routes.clone()).unwrap();
    let verifier = portcullis::auth::Verifier::load(config.auth.as_ref().unwrap()).unwrap();
    let pipeline = portcullis::gateway::pipeline::Pipeline::new(&config, Arc::new(policy), Some(Arc::new(verifier)))
        .observed(&config, metrics.clone());
    let upstreams = portcullis::gateway::upstream_groups(&config);
    let shared = Arc::new(portcullis::gateway::forward::Shared::new(pipeline, upstreams, metrics, Vec::new()));
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let setup = portcullis::gateway::listener::CoreSetup {
        shared,
        plain: vec![socket],
        tls: Vec::new(),
        tls_config: None,
        stopping,
        max_connections: 100,
        grace: std::time::Duration::from_millis(100),
    };
    let core = std::thread::spawn(move || {
        CORE.with(|c| c.set(true));
        portcullis::gateway::listener::run_core(setup)
    });

    let key =
        jsonwebtoken::EncodingKey::from_rsa_pem(&std::fs::read(root.join("tests/fixtures/keys/rsa.key.pem")).unwrap())
            .unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("test".into());
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 600;
    let token = jsonwebtoken::encode(&header, &serde_json::json!({ "sub": "dave", "exp": exp }), &key).unwrap();
    let request = format!(
        "GET /v1/orgs/acme/projects/web/containers/c-42 HTTP/1.1\r\nHost: gw.test\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    let mut client = std::net::TcpStream::connect(gateway_addr).unwrap();
    let mut buf = Vec::new();
    for _ in 0..200 {
        client.write_all(request.as_bytes()).unwrap();
        assert_eq!(read_response(&mut client, &mut buf), 200, "{}", String::from_utf8_lossy(&buf));
    }
    let requests = 2_000;
    let before = CORE_ALLOCATIONS.load(std::sync::atomic::Ordering::Relaxed);
    for _ in 0..requests {
        client.write_all(request.as_bytes()).unwrap();
        assert_eq!(read_response(&mut client, &mut buf), 200);
    }
    let per_request = (CORE_ALLOCATIONS.load(std::sync::atomic::Ordering::Relaxed) - before) as f64 / requests as f64;
    eprintln!("allocations per request on a gateway core: {per_request:.1}");
    let _ = stop.send(true);
    drop(client);
    core.join().unwrap().unwrap();
    assert!(per_request > 1.0, "the counter saw nothing on the core: {per_request}");
    assert!(per_request <= BUDGET, "{per_request:.1} allocations per request, over the budget of {BUDGET}");
}

/// Allocations per request allowed on a gateway core (36 measured on 2026-12-02: hyper's
/// server and client heads, header maps and connection state, and the forwarded head).
const BUDGET: f64 = 45.0;
