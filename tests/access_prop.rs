//! The access review (`portcullis::access::review`) against `decide`, on the random worlds
//! of `model_prop`: for every resource asked about, the members listed are exactly those
//! `decide` allows something, each with the verbs `decide` allows, and the reasons given
//! account for exactly those verbs (no reason missing, none that grants more). With a verb,
//! exactly the members allowed that verb.

use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use portcullis::access::{Resource, Why, review};
use portcullis::model::VerbSet;
use portcullis::{Caller, Request, Verb, decide, policy};

use crate::model_prop::world::*;

/// Most random roles have no `owned` entry where a creator record is: bind every other
/// creator to a role whose `owned` entry is on its resource's kind, and review each
/// recorded resource, so that reasons from `owned` entries are common.
pub fn give_creators_owned_entries(w: &mut World, checks: &mut Vec<Check>) {
    for (i, &(m, kind, project, id)) in w.created.clone().iter().enumerate() {
        checks.push(Check {
            principal: m,
            org: "acme",
            project,
            kind,
            id: Some(id.to_string()),
            verb: VERBS[i % 5],
            at: 50,
        });
        if i % 2 == 1 || m == OWNER || !DECLARED.iter().any(|d| d.0 == kind) {
            continue;
        }
        let role = format!("own{i}");
        let level = if project.is_some() { "project" } else { "organisation" };
        let verbs = vec![["update", "write", "delete"][i % 3]];
        w.org_roles.push((role.clone(), vec![Perm { level, kind, id: None, owned: true, verbs }]));
        w.bindings.push(Binding { subject: m.to_string(), role, project: None, expires: None });
    }
}

#[test]
fn the_review_lists_what_decide_allows_and_its_reasons_add_up_to_it() {
    let reviewed = AtomicUsize::new(0);
    let with_reasons = AtomicUsize::new(0);
    let from_owned = AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config { cases: 300, failure_persistence: None, ..Config::default() });
    let strategy = (world(), prop::collection::vec(check(), 10), prop::collection::vec(aim(), 20));
    runner
        .run(&strategy, |(mut w, mut checks, aims)| {
            checks.extend(aims.iter().filter_map(|a| aimed(&w, a)));
            give_creators_owned_entries(&mut w, &mut checks);
            let text = render(&w);
            let snapshot = policy::compile_text("world.toml", &text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            for c in &checks {
                let resource = Resource { kind: c.kind, project: c.project, id: c.id.as_deref() };
                let Ok(all) = review(&snapshot, c.org, &resource, None, c.at) else { continue };
                let verb = Verb::parse(c.verb).unwrap();
                let one = review(&snapshot, c.org, &resource, Some(verb), c.at).unwrap();
                for m in members().chain([OWNER]) {
                    let caller = if SERVICE_ACCOUNTS.contains(&m) {
                        Caller::ServiceAccount { org: c.org, name: m }
                    } else {
                        Caller::User(m)
                    };
                    let request = |verb| Request {
                        org: c.org,
                        principal: caller,
                        project: c.project,
                        kind: c.kind,
                        id: c.id.as_deref(),
                        verb,
                        at: c.at,
                    };
                    let allowed = Verb::ALL
                        .into_iter()
                        .filter(|&v| decide(&snapshot, &request(v)).allowed)
                        .fold(VerbSet::EMPTY, |s, v| s.union(VerbSet::of(v)));
                    let listed = all.iter().find(|h| &*h.member.id == m);
                    prop_assert_eq!(listed.map_or(VerbSet::EMPTY, |h| h.verbs), allowed, "{} on {:?}\n{}", m, c, text);
                    prop_assert_eq!(
                        one.iter().any(|h| &*h.member.id == m),
                        allowed.contains(verb),
                        "{} {} on {:?}\n{}",
                        m,
                        verb,
                        c,
                        text
                    );
                    if let Some(h) = listed {
                        let counted = h.reasons.iter().fold(VerbSet::EMPTY, |s, r| s.union(r.counted()));
                        prop_assert_eq!(counted, h.verbs, "{}'s reasons {:?} on {:?}\n{}", m, h.reasons, c, text);
                        let ignored = h.reasons.iter().any(|r| matches!(r, Why::Role { ignored: Some(_), .. }));
                        let owned = h.reasons.iter().any(|r| matches!(r, Why::Role { owned: true, .. }));
                        from_owned.fetch_add(usize::from(owned), Ordering::Relaxed);
                        with_reasons.fetch_add(usize::from(h.reasons.len() > 1 || ignored), Ordering::Relaxed);
                    }
                }
                reviewed.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })
        .unwrap();
    let (n, r) = (reviewed.load(Ordering::Relaxed), with_reasons.load(Ordering::Relaxed));
    assert!(n >= 3_000, "only {n} reviews ran");
    assert!(r >= n / 20, "only {r} of {n} reviews had a member with several reasons: the worlds are too thin");
    let o = from_owned.load(Ordering::Relaxed);
    assert!(o >= n / 50, "only {o} of {n} reviews had a reason from an `owned` entry");
    eprintln!(
        "{n} random reviews agreed with decide ({r} with several reasons for one member, {o} from `owned` entries)"
    );
}
