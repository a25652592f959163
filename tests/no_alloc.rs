//! `decide` allocates nothing: proved with a counting global allocator over every kind of
//! decision (owner, role, narrowed role, project role, restricted, share, `*` share,
//! subtree share, team share, `all` share, collection, every deny reason).
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
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

fn count() {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
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

[[org]]
id = "acme"
owner = "olga"
members = ["olga", "ada", "bob", "cy", "dee"]
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
