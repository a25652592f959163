//! Ownership transfer under random interleavings of start, confirm, cancel and time passing,
//! by the owner, the new owner, bystanders and a service account: after every step the org
//! validates (one owner, a member, never bound), ownership moves only after both parties
//! confirmed an unexpired transfer, and then the old owner holds the chosen role.

use portcullis::policy::{self, OrgDecl, PolicySet, SourceText};
use portcullis::transfer::{Confirmed, Transfer, TransferRules};
use proptest::prelude::*;

const POLICY: &str = r#"
[[org]]
id = "acme"
owner = "alice"
members = ["alice", "bob", "carol", "dave"]
service_accounts = ["ci-bot"]
projects = [{ id = "web" }]

[[org.binding]]
subject = "bob"
role = "member"

[[org.binding]]
subject = "carol"
role = "viewer"
project = "web"
"#;

const PEOPLE: [&str; 5] = ["alice", "bob", "carol", "dave", "ci-bot"];
const ROLES: [&str; 3] = ["admin", "member", "viewer"];

#[derive(Clone, Debug)]
enum Op {
    Start { actor: usize, to: usize, role: usize },
    Confirm { actor: usize },
    Cancel { actor: usize },
    Wait { secs: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..5usize, 0..5usize, 0..3usize).prop_map(|(actor, to, role)| Op::Start { actor, to, role }),
        (0..5usize).prop_map(|actor| Op::Confirm { actor }),
        (0..5usize).prop_map(|actor| Op::Cancel { actor }),
        prop_oneof![Just(60u64), Just(3 * 24 * 3600), Just(8 * 24 * 3600)].prop_map(|secs| Op::Wait { secs }),
    ]
}

fn base() -> (PolicySet, policy::Globals, OrgDecl) {
    let src = SourceText { path: "acme.toml".into(), text: POLICY.into() };
    let (set, _) = policy::parse(&[src], policy::FileMode::Policy).unwrap();
    let validated = policy::validate(&set).unwrap();
    let snapshot = policy::compile(validated);
    let globals = snapshot.globals().clone();
    let org = set.orgs[0].clone();
    (set, globals, org)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn exactly_one_owner_and_ownership_moves_only_on_both_confirmations(ops in prop::collection::vec(op(), 1..40)) {
        let (set, globals, mut org) = base();
        let rules = TransferRules::default();
        let mut pending: Option<Transfer> = None;
        let mut now = 1_000u64;
        for op in ops {
            let owner_before = org.owner.value.clone();
            match op {
                Op::Start { actor, to, role } => {
                    let started = Transfer::start(&org, pending.as_ref(), PEOPLE[actor], PEOPLE[to], ROLES[role], now, &rules);
                    let live = pending.as_ref().is_some_and(|p| !p.expired(now));
                    match started {
                        Ok(t) => {
                            prop_assert_eq!(PEOPLE[actor], owner_before.as_str());
                            prop_assert!(!live, "a second transfer started while one was pending");
                            prop_assert!(PEOPLE[to] != "ci-bot" && PEOPLE[to] != owner_before);
                            pending = Some(t);
                        }
                        Err(_) => prop_assert!(PEOPLE[actor] != owner_before || live || PEOPLE[to] == "ci-bot" || PEOPLE[to] == owner_before),
                    }
                }
                Op::Confirm { actor } => {
                    let Some(t) = pending.clone() else { continue };
                    match t.confirm(&org, PEOPLE[actor], now) {
                        Ok(Confirmed::Pending(next)) => {
                            prop_assert!(PEOPLE[actor] == t.from || PEOPLE[actor] == t.to);
                            pending = Some(next);
                        }
                        Ok(Confirmed::Completed(after)) => {
                            // Both parties, each once, before expiry.
                            let other_confirmed = if PEOPLE[actor] == t.from { t.confirmed_by_new_owner } else { t.confirmed_by_owner };
                            prop_assert!(other_confirmed, "completed on the first confirmation");
                            prop_assert!(!t.expired(now));
                            prop_assert_eq!(after.owner.as_str(), t.to.as_str());
                            prop_assert!(after.bindings.iter().any(|b| b.subject.as_str() == t.from && b.role.as_str() == t.step_down_to && b.project.is_none()));
                            prop_assert!(after.bindings.iter().all(|b| b.subject.as_str() != t.to), "the new owner is still bound");
                            // The store validates before it commits: so does this test.
                            policy::validate_org(&globals, &set, &after).map_err(|e| TestCaseError::fail(e.to_string()))?;
                            org = after;
                            pending = None;
                        }
                        Err(_) => prop_assert!(t.expired(now) || (PEOPLE[actor] != t.from && PEOPLE[actor] != t.to)),
                    }
                }
                Op::Cancel { actor } => {
                    let Some(t) = pending.clone() else { continue };
                    if t.cancel(PEOPLE[actor], now).is_ok() {
                        prop_assert!(PEOPLE[actor] == t.from || PEOPLE[actor] == t.to);
                        pending = None;
                    }
                }
                Op::Wait { secs } => now += secs,
            }
            // At every step: one owner, a user member, never bound; the org validates.
            prop_assert!(org.members.iter().any(|m| m.value == org.owner.value));
            prop_assert!(org.bindings.iter().all(|b| b.subject.value != org.owner.value));
            policy::validate_org(&globals, &set, &org).map_err(|e| TestCaseError::fail(e.to_string()))?;
            if org.owner.value != owner_before {
                prop_assert!(pending.is_none());
            }
        }
    }
}

#[test]
fn a_transfer_cannot_complete_after_it_expires_or_for_someone_who_left() {
    let (_, _, org) = base();
    let rules = TransferRules { ttl_secs: 100 };
    let t = Transfer::start(&org, None, "alice", "bob", "admin", 0, &rules).unwrap();
    let Confirmed::Pending(t) = t.confirm(&org, "alice", 10).unwrap() else { panic!("completed alone") };
    assert!(t.confirm(&org, "bob", 100).is_err(), "confirmed after expiry");
    let mut left = org.clone();
    left.members.retain(|m| m.as_str() != "bob");
    assert!(t.confirm(&left, "bob", 50).is_err(), "completed for a member who left");
    let Confirmed::Completed(after) = t.confirm(&org, "bob", 50).unwrap() else { panic!("not completed") };
    assert_eq!(after.owner.as_str(), "bob");
}
