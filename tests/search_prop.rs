//! AuthZEN's searches (`portcullis::pdp::search`) against brute-force `decide`, on the
//! random worlds of `model_prop`, read page by page (three results a page) as a PEP would:
//!
//! - a subject search lists exactly the members of the type asked that `decide` allows, on
//!   every resource and collection, with and without a stated owner;
//! - a resource search's results (`*` for a whole scope, `ID/*` below an id, ids) allow
//!   exactly what `decide` allows on every id, in every scope or in the project asked;
//! - an action search lists exactly the verbs `decide` allows.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use portcullis::config::PdpClient;
use portcullis::decide::decide_with_creator;
use portcullis::model::path_covers;
use portcullis::pdp::search::{Search, search};
use portcullis::{Caller, Request, Snapshot, Verb, policy};

use crate::access_prop::give_creators_owned_entries;
use crate::model_prop::world::*;

fn client() -> PdpClient {
    PdpClient { name: "prop".into(), sha256: [0; 32], org: Some("acme".into()), reasons: true }
}

/// Every result of a search, page by page.
fn all_pages(snapshot: &Snapshot, which: Search, mut request: Value, at: i64) -> Vec<Value> {
    let c = client();
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        request["page"] = json!({ "token": token, "limit": 3 });
        let answer = search(snapshot, &c, which, &request, at).unwrap();
        let results = answer["results"].as_array().unwrap();
        assert!(results.len() <= 3, "{answer}");
        assert_eq!(answer["page"]["count"].as_u64(), Some(results.len() as u64), "{answer}");
        out.extend(results.iter().cloned());
        token = answer["page"]["next_token"].as_str().unwrap().to_string();
        if token.is_empty() {
            assert_eq!(answer["page"]["total"].as_u64(), Some(out.len() as u64), "{answer}");
            return out;
        }
        assert_eq!(results.len(), 3, "a page before the last is full: {answer}");
    }
}

fn caller(m: &str) -> (&'static str, Caller<'_>) {
    if SERVICE_ACCOUNTS.contains(&m) {
        ("service_account", Caller::ServiceAccount { org: "acme", name: m })
    } else {
        ("user", Caller::User(m))
    }
}

fn resource(kind: &str, project: Option<&str>, id: Option<&str>, owner: Option<&str>) -> Value {
    let mut properties = json!({ "org": "acme" });
    if let Some(p) = project {
        properties["project"] = json!(p);
    }
    if let Some(o) = owner {
        properties["owner"] = json!(o);
    }
    let mut r = json!({ "type": kind, "properties": properties });
    if let Some(id) = id {
        r["id"] = json!(id);
    }
    r
}

#[test]
fn searches_answer_what_decide_allows() {
    let (decided, found, wide) = (AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0));
    let mut runner = TestRunner::new(Config { cases: 60, failure_persistence: None, ..Config::default() });
    runner
        .run(&(world(), 0..INSTANTS.len()), |(mut w, at)| {
            give_creators_owned_entries(&mut w, &mut Vec::new());
            let at = INSTANTS[at];
            let text = render(&w);
            let snapshot = policy::compile_text("world.toml", &text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let everyone: Vec<&str> = members().chain([OWNER]).collect::<BTreeSet<_>>().into_iter().collect();
            for kind in ASKED_KINDS {
                let (scopes, ids) = (scopes_of(kind), ids_of(kind));
                let allowed = |m: &str, project: Option<&str>, id: Option<&str>, verb: Verb, owner: Option<&str>| {
                    let principal = caller(m).1;
                    let r = Request { org: "acme", principal, project, kind, id, verb, at };
                    decided.fetch_add(1, Ordering::Relaxed);
                    decide_with_creator(&snapshot, &r, owner).allowed
                };

                // Subject search, on each resource, for each verb and subject type.
                for &project in &scopes {
                    for id in ids.iter().map(|i| Some(*i)).chain([None]) {
                        for owner in [None, Some("u2")] {
                            for verb in Verb::ALL {
                                for subject_type in ["user", "service_account"] {
                                    let request = json!({
                                        "subject": { "type": subject_type },
                                        "action": { "name": verb.name() },
                                        "resource": resource(kind, project, id, owner),
                                    });
                                    let got: Vec<String> = all_pages(&snapshot, Search::Subject, request, at)
                                        .iter()
                                        .map(|r| {
                                            assert_eq!(r["type"], subject_type);
                                            r["id"].as_str().unwrap().to_string()
                                        })
                                        .collect();
                                    let want: Vec<String> = everyone
                                        .iter()
                                        .filter(|m| caller(m).0 == subject_type)
                                        .filter(|m| allowed(m, project, id, verb, owner))
                                        .map(|m| m.to_string())
                                        .collect();
                                    prop_assert_eq!(
                                        &got,
                                        &want,
                                        "{} {} on {} {:?} {:?}\n{}",
                                        subject_type,
                                        verb,
                                        kind,
                                        project,
                                        id,
                                        text
                                    );
                                    found.fetch_add(got.len(), Ordering::Relaxed);
                                }
                            }
                        }
                    }
                }

                for m in &everyone {
                    let (subject_type, _) = caller(m);
                    let subject = json!({ "type": subject_type, "id": m });
                    // Resource search, in every scope and in each one asked for.
                    for verb in Verb::ALL {
                        for asked in [None].into_iter().chain(scopes.iter().filter(|p| p.is_some()).map(|p| Some(*p))) {
                            let request = json!({
                                "subject": subject,
                                "action": { "name": verb.name() },
                                "resource": resource(kind, asked.flatten(), None, None),
                            });
                            let results = all_pages(&snapshot, Search::Resource, request, at);
                            let covers = |project: Option<&str>, id: &str| {
                                results.iter().any(|r| {
                                    let p = &r["properties"];
                                    let here = p["project"].as_str() == project;
                                    let rid = r["id"].as_str().unwrap();
                                    here && match p["match"].as_str() {
                                        Some("every") => true,
                                        Some("below") => {
                                            let parent = p["parent"].as_str().unwrap();
                                            path_covers(parent, id) && id != parent
                                        }
                                        _ => rid == id,
                                    }
                                })
                            };
                            for r in &results {
                                let project = r["properties"]["project"].as_str();
                                if let Some(Some(a)) = asked {
                                    prop_assert_eq!(project, Some(a), "{}", r);
                                }
                                if r["properties"]["match"] == "every" {
                                    wide.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            for &project in scopes.iter().filter(|p| asked.is_none() || asked == Some(**p)) {
                                for id in &ids {
                                    prop_assert_eq!(
                                        covers(project, id),
                                        allowed(m, project, Some(id), verb, None),
                                        "{} {} on {} {:?} {} (asked in {:?}): {:?}\n{}",
                                        m,
                                        verb,
                                        kind,
                                        project,
                                        id,
                                        asked,
                                        results,
                                        text
                                    );
                                }
                            }
                        }
                    }
                    // Action search, on each resource, with and without a stated owner.
                    for &project in &scopes {
                        for id in ids.iter().map(|i| Some(*i)).chain([None]) {
                            for owner in [None, Some(*m)] {
                                let request =
                                    json!({ "subject": subject, "resource": resource(kind, project, id, owner) });
                                let got: Vec<Value> = all_pages(&snapshot, Search::Action, request, at);
                                let want: Vec<Value> = Verb::ALL
                                    .iter()
                                    .filter(|v| allowed(m, project, id, **v, owner))
                                    .map(|v| json!({ "name": v.name() }))
                                    .collect();
                                prop_assert_eq!(
                                    &got,
                                    &want,
                                    "{} on {} {:?} {:?} owned by {:?}\n{}",
                                    m,
                                    kind,
                                    project,
                                    id,
                                    owner,
                                    text
                                );
                            }
                        }
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    let (n, f, k) = (decided.load(Ordering::Relaxed), found.load(Ordering::Relaxed), wide.load(Ordering::Relaxed));
    assert!(f >= 10_000 && k >= 1_000, "only {f} subjects found and {k} kind-wide results: the worlds are too thin");
    eprintln!("{n} decisions agreed with the searches ({f} subjects found, {k} kind-wide results)");
}
