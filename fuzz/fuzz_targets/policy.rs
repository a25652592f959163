//! The policy parser and validator on any text: an error naming a place, or a snapshot,
//! never a panic. A snapshot that compiles then decides and explains, for every member of
//! each org, every verb on each share's resource and on a collection, without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::decide::{Request, decide};
use portcullis::model::Verb;
use portcullis::policy::{FileMode, SourceText, compile_text, parse};
use portcullis::principal::Caller;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let file = SourceText { path: "fuzz.toml".into(), text: text.to_string() };
    let _ = parse(std::slice::from_ref(&file), FileMode::Case);
    let Ok(snapshot) = compile_text("fuzz.toml", text) else { return };
    let kinds: Vec<&str> = snapshot.globals().kinds.iter().take(3).map(|(_, k)| &*k.name).collect();
    for org in snapshot.orgs().take(4) {
        let m = &org.model;
        let project = m.projects.first().map(|p| &*p.id);
        for member in m.members.iter().take(8) {
            let principal = if member.service_account {
                Caller::ServiceAccount { org: &m.id, name: &member.id }
            } else {
                Caller::User(&member.id)
            };
            for (&kind, verb) in kinds.iter().flat_map(|k| Verb::ALL.map(|v| (k, v))) {
                for id in m.shares.iter().take(4).map(|s| Some(&*s.id)).chain([None]) {
                    for project in [project, None] {
                        let request = Request { org: &m.id, principal, project, kind, id, verb, at: 0 };
                        let _ = decide(&snapshot, &request);
                        let _ = portcullis::explain::explain(&snapshot, &request).to_string();
                    }
                }
            }
        }
    }
});
