//! Decision logs: one JSON line per decision, with what decided it, and never a token.

use super::{Gateway, Setup, bearer, scratch, token};

fn lines(path: &std::path::Path, want: usize) -> Vec<serde_json::Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<serde_json::Value> =
            text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
        if lines.len() >= want || std::time::Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn every_decision_is_one_json_line_with_its_reason_and_no_token() {
    let dir = scratch("declog");
    let file = dir.join("decisions.log");
    let extra = format!("\n[log]\ndecisions = \"all\"\nallow_sample = 1.0\nfile = \"{}\"\n", file.display());
    let gw = Gateway::start_with(Setup { extra_config: &extra, ..Setup::default() });
    let allowed = "/v1/orgs/acme/projects/web/containers/c-1";
    assert_eq!(gw.status("GET", allowed, &[&bearer("alice")]), 200);
    assert_eq!(gw.status("DELETE", allowed, &[&bearer("erin"), "Content-Length: 0"]), 403);
    assert_eq!(gw.status("GET", "/nowhere", &[&bearer("alice")]), 404, "not a decision, not logged");
    let got = lines(&file, 2);
    assert_eq!(got.len(), 2, "{got:?}");
    let (allow, deny) = (&got[0], &got[1]);
    assert_eq!(allow["decision"], "allow");
    assert_eq!(allow["principal"], "alice");
    assert_eq!(allow["org"], "acme");
    assert_eq!(allow["kind"], "containers");
    assert_eq!(allow["level"], "project");
    assert_eq!(allow["project"], "web");
    assert_eq!(allow["id"], "c-1");
    assert_eq!(allow["verb"], "read");
    assert_eq!(allow["method"], "GET");
    assert_eq!(allow["path"], allowed);
    assert_eq!(allow["status"], 200);
    assert_eq!(allow["route"], "/v1/orgs/{org}/projects/{project}/containers/{id}");
    assert!(allow["upstream_us"].as_u64().is_some() && allow["total_us"].as_u64().is_some(), "{allow}");
    assert!(allow["reason"].as_str().unwrap().contains("owner"), "{allow}");
    assert!(allow["revision"].as_u64().unwrap() >= 1 && allow["request_id"].as_u64().is_some(), "{allow}");
    assert!(allow["timestamp"].is_string(), "{allow}");
    assert_eq!(deny["decision"], "deny");
    assert_eq!(deny["status"], 403);
    assert_eq!(deny["verb"], "delete");
    assert!(deny["reason"].as_str().unwrap().contains("erin"), "{deny}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(&token("alice")[..40]) && !text.contains("Bearer"), "a token reached the decision log");
    drop(gw);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn by_default_only_denials_are_logged() {
    let dir = scratch("declog");
    let file = dir.join("decisions.log");
    let extra = format!("\n[log]\nfile = \"{}\"\n", file.display());
    let gw = Gateway::start_with(Setup { extra_config: &extra, ..Setup::default() });
    for _ in 0..5 {
        assert_eq!(gw.status("GET", "/v1/orgs/acme/projects/web/containers/c-1", &[&bearer("alice")]), 200);
    }
    assert_eq!(gw.status("GET", "/v1/orgs/acme/projects/web/containers/c-1", &[&bearer("nobody")]), 403);
    let got = lines(&file, 1);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let got_later = lines(&file, 1);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got_later.len(), 1);
    assert_eq!(got[0]["decision"], "deny");
    drop(gw);
    let _ = std::fs::remove_dir_all(dir);
}
