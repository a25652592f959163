//! The project's conformance worlds (`tests/conformance/`) served through the gateway: each
//! case file's policy is loaded by a real gateway, each `[[check]]` becomes an HTTP request
//! with a token for its principal, and the answer (forwarded, or 403) must be the check's
//! `expect`, which is also what `portcullis test` asserts on the same files.
//!
//! Routes are generated per kind and level, one path prefix per verb (`/read/...` with GET,
//! `/update/...` with PUT, ...) so that every verb can be asked of a collection or an item.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::{Gateway, bearer, root, scratch};

fn cases() -> std::path::PathBuf {
    root().join("tests/conformance")
}

const VERBS: [(&str, &str); 5] =
    [("list", "GET"), ("read", "GET"), ("create", "POST"), ("update", "PUT"), ("delete", "DELETE")];

fn method_of(verb: &str) -> &'static str {
    VERBS.iter().find(|(v, _)| *v == verb).map(|(_, m)| *m).unwrap()
}

/// Percent-encodes one id segment the way a client would.
fn encode(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~*".contains(&b) {
            out.push(b as char);
        } else {
            write!(out, "%{b:02X}").unwrap();
        }
    }
    out
}

struct Check {
    principal: String,
    org: String,
    project: Option<String>,
    kind: String,
    id: Option<String>,
    verb: String,
    allow: bool,
    line: usize,
}

fn target(c: &Check, hierarchical: &BTreeSet<String>) -> String {
    let mut t = format!("/{}/v1/orgs/{}", c.verb, encode(&c.org));
    if let Some(p) = &c.project {
        write!(t, "/projects/{}", encode(p)).unwrap();
    }
    write!(t, "/{}", c.kind).unwrap();
    if let Some(id) = &c.id {
        if hierarchical.contains(&c.kind) {
            for seg in id.trim_start_matches('/').split('/') {
                write!(t, "/{}", encode(seg)).unwrap();
            }
        } else {
            write!(t, "/{}", encode(id)).unwrap();
        }
    }
    t
}

fn routes(checks: &[Check], hierarchical: &BTreeSet<String>) -> String {
    let mut shapes = BTreeSet::new();
    for c in checks {
        shapes.insert((c.verb.clone(), c.project.is_some(), c.kind.clone(), c.id.is_some()));
    }
    let mut out = String::new();
    for (verb, project, kind, id) in shapes {
        let scope = if project { "/projects/{project}" } else { "" };
        let item = match (id, hierarchical.contains(&kind)) {
            (false, _) => "",
            (true, false) => "/{id}",
            (true, true) => "/{id...}",
        };
        let method = method_of(&verb);
        writeln!(
            out,
            "[[route]]\npath = \"/{verb}/v1/orgs/{{org}}{scope}/{kind}{item}\"\nkind = \"{kind}\"\nupstream = \"platform\"\nmethods = {{ {method} = \"{verb}\" }}\n"
        )
        .unwrap();
    }
    out
}

fn line_of(text: &str, nth_check: usize) -> usize {
    text.lines().enumerate().filter(|(_, l)| l.trim() == "[[check]]").nth(nth_check).map_or(0, |(i, _)| i + 1)
}

#[test]
fn conformance_checks_give_the_same_answers_through_http() {
    let mut files: Vec<_> = std::fs::read_dir(cases())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 7, "{files:?}");
    let mut total = 0;
    let mut explained_count = 0;
    let mut timed = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut doc: toml::Table = text.parse().unwrap();
        let all_checks = doc.get("check").and_then(|c| c.as_array()).map_or(0, Vec::len);
        let checks: Vec<Check> = doc
            .remove("check")
            .and_then(|c| c.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .enumerate()
            // A check decided at a fixed instant (`at`) cannot be replayed by a live gateway,
            // which decides at the time of the request; `portcullis test` runs those.
            .filter(|(_, c)| c.get("at").is_none())
            .map(|(i, c)| {
                let s = |k: &str| c.get(k).and_then(|v| v.as_str()).map(str::to_string);
                Check {
                    principal: s("principal").unwrap(),
                    org: s("org").unwrap(),
                    project: s("project"),
                    kind: s("kind").unwrap(),
                    id: s("id"),
                    verb: s("verb").unwrap(),
                    allow: s("expect").unwrap() == "allow",
                    line: line_of(&text, i),
                }
            })
            .collect();
        timed += all_checks - checks.len();
        if checks.is_empty() {
            continue;
        }
        doc.remove("description");
        // Service accounts authenticate with API tokens, users with JWTs.
        let service_accounts: BTreeSet<(String, String)> = doc
            .get("org")
            .and_then(|o| o.as_array())
            .into_iter()
            .flatten()
            .flat_map(|o| {
                let org = o.get("id").and_then(|i| i.as_str()).unwrap_or_default().to_string();
                let accounts = o.get("service_accounts").and_then(|s| s.as_array()).cloned().unwrap_or_default();
                accounts.into_iter().filter_map(move |a| Some((org.clone(), a.as_str()?.to_string())))
            })
            .collect();
        let token_entries: String = service_accounts.iter().map(|(o, a)| super::sa_token_entry(o, a)).collect();
        let hierarchical: BTreeSet<String> = doc
            .get("kind")
            .and_then(|k| k.as_array())
            .into_iter()
            .flatten()
            .filter(|k| k.get("hierarchical").and_then(|h| h.as_bool()) == Some(true))
            .filter_map(|k| k.get("name").and_then(|n| n.as_str()).map(str::to_string))
            .collect();
        let policies = scratch("conf-policies");
        std::fs::write(policies.join("policy.toml"), toml::to_string(&doc).unwrap()).unwrap();
        let gw = Gateway::start_custom(&policies, &format!("{token_entries}\n{}", routes(&checks, &hierarchical)));
        for c in &checks {
            let t = target(c, &hierarchical);
            let method = method_of(&c.verb);
            let length = if method == "GET" { "X-Empty: 1" } else { "Content-Length: 0" };
            let account = (c.org.clone(), c.principal.clone());
            let (auth, token) = if service_accounts.contains(&account) {
                (super::sa_bearer(&c.org, &c.principal), super::sa_token(&c.org, &c.principal))
            } else {
                (bearer(&c.principal), super::token(&c.principal))
            };
            let (status, head, body) = gw.request(method, &t, &[&auth, length]);
            // An id that is not canonical (dot or empty segments, a NUL) never reaches a
            // decision: the gateway refuses the path (400), which is a denial too.
            let canonical = c.id.as_deref().is_none_or(|id| {
                !id.trim_start_matches('/')
                    .split('/')
                    .any(|s| s.is_empty() || s == "." || s == ".." || s.contains('\0'))
            });
            let want = match (c.allow, canonical) {
                (true, _) => 200,
                (false, true) => 403,
                (false, false) => 400,
            };
            assert_eq!(
                status,
                want,
                "{}:{}: {} {} {t} as {}: {head}\n{body}\n{}",
                file.display(),
                c.line,
                c.verb,
                method,
                c.principal,
                gw.log()
            );
            // `portcullis explain` on the same config and request says the same.
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
                .args(["explain", "--json", "--config"])
                .arg(gw.dir.join("config.toml"))
                .args([method, t.as_str()])
                .env("PORTCULLIS_TOKEN", token)
                .output()
                .unwrap();
            let explained: serde_json::Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
            assert_eq!(explained["status"], status, "{}:{}: explain disagrees: {explained}", file.display(), c.line);
            explained_count += 1;
        }
        total += checks.len();
        let _ = std::fs::remove_dir_all(&policies);
    }
    // `portcullis test` counts every check, and every invalid file once.
    let report = portcullis::conformance::run(&[cases()]).unwrap();
    let checks = report.passed + report.failed() - report.rejections.len();
    assert_eq!(total + timed, checks, "every check of the suite was asked, or is decided at a fixed instant");
    assert_eq!(explained_count, total, "every check asked was explained");
    assert!(total > 100 && timed > 10, "{total} checks asked, {timed} at fixed instants");
}
