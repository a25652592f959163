//! The snapshot handle: lock-free reads, whole and per-org replacement, revisions, and a
//! rejected update that leaves the live snapshot untouched.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use portcullis::policy::{self, FileMode, SourceText};
use portcullis::{Caller, Request, SnapshotHandle, Verb, decide};

fn org_text(id: &str, bob_role: &str) -> String {
    format!(
        "[[org]]\nid = \"{id}\"\nowner = \"olga\"\nmembers = [\"olga\", \"bob\"]\nprojects = [{{ id = \"web\" }}]\n\n[[org.binding]]\nsubject = \"bob\"\nrole = \"{bob_role}\"\n"
    )
}

const KINDS: &str = "[[kind]]\nname = \"containers\"\nlevels = [\"project\"]\n";

fn world(orgs: &[(&str, &str)]) -> String {
    let mut text = KINDS.to_string();
    for (id, role) in orgs {
        text.push_str(&org_text(id, role));
    }
    text
}

fn bob_may(handle: &SnapshotHandle, org: &str, verb: Verb) -> bool {
    let r = Request {
        org,
        principal: Caller::User("bob"),
        project: Some("web"),
        kind: "containers",
        id: Some("c1"),
        verb,
        at: 0,
    };
    decide(&handle.load(), &r).allowed
}

/// An org's declaration, parsed on its own (as an admin write or a changed file would be).
fn org_decl(text: &str) -> (policy::PolicySet, policy::OrgDecl) {
    let (set, _) =
        policy::parse(&[SourceText { path: "org.toml".into(), text: text.into() }], FileMode::Policy).unwrap();
    let org = set.orgs[0].clone();
    (set, org)
}

#[test]
fn replacing_one_org_leaves_the_others_shared_and_bumps_the_revision() {
    let handle =
        SnapshotHandle::new(policy::compile_text("w.toml", &world(&[("a", "viewer"), ("b", "viewer")])).unwrap());
    let before = handle.load_full();
    assert_eq!(before.generation(), 1);
    assert!(!bob_may(&handle, "a", Verb::Delete));

    let (set, decl) = org_decl(&org_text("a", "admin"));
    let rev = handle.update_org(&set, &decl).unwrap();
    assert_eq!(rev, 2);

    let after = handle.load_full();
    assert_eq!(after.generation(), 2);
    assert!(bob_may(&handle, "a", Verb::Delete), "the new org policy applies at the next decision");
    assert!(!bob_may(&handle, "b", Verb::Delete));
    assert!(std::ptr::eq(before.org("b").unwrap(), after.org("b").unwrap()), "org b was rebuilt");
    assert!(!std::ptr::eq(before.org("a").unwrap(), after.org("a").unwrap()));
    // The old snapshot is untouched: readers holding it still see the old policy.
    let old = Request {
        org: "a",
        principal: Caller::User("bob"),
        project: Some("web"),
        kind: "containers",
        id: Some("c1"),
        verb: Verb::Delete,
        at: 0,
    };
    assert!(!decide(&before, &old).allowed);
}

#[test]
fn an_org_update_that_does_not_validate_changes_nothing() {
    let handle = SnapshotHandle::new(policy::compile_text("w.toml", &world(&[("a", "viewer")])).unwrap());
    let (set, decl) = org_decl(&org_text("a", "superuser"));
    let err = handle.update_org(&set, &decl).unwrap_err().to_string();
    assert!(err.contains("org.toml:9:8: unknown role 'superuser'"), "{err}");
    assert_eq!(handle.load().generation(), 1);
    assert!(bob_may(&handle, "a", Verb::Read));
}

#[test]
fn orgs_can_be_added_and_removed() {
    let handle = SnapshotHandle::new(policy::compile_text("w.toml", &world(&[("a", "viewer")])).unwrap());
    let (set, decl) = org_decl(&org_text("new", "admin"));
    assert_eq!(handle.update_org(&set, &decl).unwrap(), 2);
    assert!(bob_may(&handle, "new", Verb::Create));
    assert_eq!(handle.remove_org("new"), Some(3));
    assert!(!bob_may(&handle, "new", Verb::Read));
    assert_eq!(handle.remove_org("new"), None);
    assert_eq!(handle.load().generation(), 3);
}

#[test]
fn readers_never_see_a_half_applied_policy() {
    // Each version sets bob's role in two orgs at once; a reader that loads once must see
    // both orgs from the same version.
    let handle = Arc::new(SnapshotHandle::new(
        policy::compile_text("w.toml", &world(&[("a", "viewer"), ("b", "viewer")])).unwrap(),
    ));
    let versions = [
        policy::compile_text("v1.toml", &world(&[("a", "admin"), ("b", "admin")])).unwrap(),
        policy::compile_text("v0.toml", &world(&[("a", "viewer"), ("b", "viewer")])).unwrap(),
    ];
    let stop = Arc::new(AtomicBool::new(false));
    let reads: Arc<[AtomicU64; 2]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let readers: Vec<_> = (0..2)
        .map(|reader| {
            let (handle, stop, reads) = (handle.clone(), stop.clone(), reads.clone());
            std::thread::spawn(move || {
                let mut seen = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let snap = handle.load();
                    let r = |org| Request {
                        org,
                        principal: Caller::User("bob"),
                        project: Some("web"),
                        kind: "containers",
                        id: Some("c1"),
                        verb: Verb::Delete,
                        at: 0,
                    };
                    let (a, b) = (decide(&snap, &r("a")).allowed, decide(&snap, &r("b")).allowed);
                    assert_eq!(a, b, "revision {} mixes two versions", snap.generation());
                    seen += 1;
                    reads[reader].fetch_add(1, Ordering::Relaxed);
                }
                seen
            })
        })
        .collect();
    // At least 1,000 swaps, and on until each reader has decided 5,000 times alongside them
    // (bounded: a reader that never gets to run fails the test below).
    let mut last = handle.load().generation();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut swaps = 0;
    let behind = || reads.iter().any(|r| r.load(Ordering::Relaxed) < 5_000);
    while swaps < 1_000 || (behind() && Instant::now() < deadline) {
        let rev = handle.replace(versions[swaps % 2].clone());
        assert!(rev > last);
        last = rev;
        swaps += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() >= 5_000, "a reader did not get to run during the swaps");
    }
    assert_eq!(handle.load().generation(), swaps as u64 + 1);
}

#[test]
fn an_org_validated_against_other_kinds_and_roles_is_refused() {
    // Two policy sets whose kinds differ: the same org resolves to other kind indexes.
    let a = policy::parse(&[SourceText { path: "a.toml".into(), text: world(&[("a", "admin")]) }], FileMode::Policy)
        .unwrap()
        .0;
    let model = policy::validate(&a).unwrap().orgs.remove(0);
    let other = format!("[[kind]]\nname = \"zeta\"\nlevels = [\"organisation\"]\n{}", world(&[("a", "viewer")]));
    let handle = SnapshotHandle::new(policy::compile_text("b.toml", &other).unwrap());
    let err = handle.replace_org(model).unwrap_err();
    assert!(err.to_string().contains("validate it again"), "{err}");
    assert_eq!(handle.load().generation(), 1);
    assert!(!bob_may(&handle, "a", Verb::Delete));
}
