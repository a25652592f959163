//! What a principal can reach (`portcullis::access::reach::reach`) against `decide`, on the
//! random worlds of `model_prop`: for every member, kind, scope and id (ids the grants name,
//! ids below and beside them, ids no grant names) and every verb, the answer's kind-wide
//! scopes and listed ids allow exactly what `decide` allows, both when asked for every verb
//! and for one.

use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use portcullis::access::reach::{covers, reach};
use portcullis::{Caller, Request, Verb, decide, policy};

use crate::access_prop::give_creators_owned_entries;
use crate::model_prop::world::*;

#[test]
fn what_a_principal_reaches_is_what_decide_allows_on_every_id() {
    let (decided, listed, below) = (AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0));
    let mut runner = TestRunner::new(Config { cases: 120, failure_persistence: None, ..Config::default() });
    runner
        .run(&(world(), 0..INSTANTS.len()), |(mut w, at)| {
            give_creators_owned_entries(&mut w, &mut Vec::new());
            let at = INSTANTS[at];
            let text = render(&w);
            let snapshot = policy::compile_text("world.toml", &text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            for m in members().chain([OWNER]) {
                let caller = if SERVICE_ACCOUNTS.contains(&m) {
                    Caller::ServiceAccount { org: "acme", name: m }
                } else {
                    Caller::User(m)
                };
                for kind in ASKED_KINDS {
                    let every = reach(&snapshot, "acme", caller, kind, None, at).unwrap();
                    listed.fetch_add(every.ids.len(), Ordering::Relaxed);
                    below.fetch_add(every.ids.iter().filter(|x| x.below.is_some()).count(), Ordering::Relaxed);
                    let ids = ids_of(kind);
                    for project in scopes_of(kind) {
                        for verb in Verb::ALL {
                            let one = reach(&snapshot, "acme", caller, kind, Some(verb), at).unwrap();
                            for id in &ids {
                                let r =
                                    Request { org: "acme", principal: caller, project, kind, id: Some(id), verb, at };
                                let allowed = decide(&snapshot, &r).allowed;
                                prop_assert_eq!(
                                    covers(&every, project, id, verb),
                                    allowed,
                                    "{} {} on {} {:?} {}: {:?}\n{}",
                                    m,
                                    verb,
                                    kind,
                                    project,
                                    id,
                                    every,
                                    text
                                );
                                prop_assert_eq!(
                                    covers(&one, project, id, verb),
                                    allowed,
                                    "{} {} on {} {:?} {} (asked for {}): {:?}\n{}",
                                    m,
                                    verb,
                                    kind,
                                    project,
                                    id,
                                    verb,
                                    one,
                                    text
                                );
                                decided.fetch_add(1, Ordering::Relaxed);
                            }
                            // Kind-wide access is said once, never as a list of ids.
                            for x in &one.ids {
                                let wide =
                                    one.kind_wide.iter().any(|k| k.project == x.project && k.verbs.contains(verb));
                                prop_assert!(!wide, "{:?} is listed though {} is kind-wide there", x, verb);
                            }
                        }
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    let (n, l, b) = (decided.load(Ordering::Relaxed), listed.load(Ordering::Relaxed), below.load(Ordering::Relaxed));
    assert!(l >= 500 && b >= 100, "only {l} ids listed ({b} with a subtree): the worlds are too thin");
    eprintln!("{n} decisions agreed with {l} listed ids ({b} covering a subtree) and the kind-wide scopes");
}
