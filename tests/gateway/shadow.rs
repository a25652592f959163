//! Shadow mode: a candidate policies folder is decided beside the live one; only the live
//! one is enforced, and every disagreement is logged (with both reasons) and counted.

use super::{Gateway, Setup, bearer, root, scratch};

fn copy_policies(to: &std::path::Path) {
    for f in std::fs::read_dir(root().join("policies")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
    }
}

#[test]
fn the_candidate_is_compared_on_every_request_and_never_enforced() {
    let (live, candidate) = (scratch("live"), scratch("candidate"));
    copy_policies(&live);
    copy_policies(&candidate);
    // The candidate drops dave's share of c-42 and makes erin an admin in web.
    let acme = candidate.join("20-acme.toml");
    let text = std::fs::read_to_string(&acme).unwrap();
    let text = text.replacen(
        "[[org.share]]\nsubject = \"dave\"\nkind = \"containers\"",
        "[[org.share]]\nsubject = \"carol\"\nkind = \"containers\"",
        1,
    );
    std::fs::write(
        &acme,
        format!("{text}\n[[org.binding]]\nsubject = \"erin\"\nrole = \"admin\"\nproject = \"web\"\n"),
    )
    .unwrap();
    let admin = super::free_port();
    let store = scratch("store");
    let extra = format!("\n[admin]\nlisten = \"127.0.0.1:{admin}\"\ndata_dir = \"{}\"\n", store.display());
    let line = format!("explain_denials = false\ncandidate_policies = \"{}\"", candidate.display());
    let gw = Gateway::start_with(Setup {
        policies: Some(&live),
        extra_config: &extra,
        replace: &[("explain_denials = false", &line)],
        ..Setup::default()
    });
    crate::admin::wait_listening(admin, &gw);
    let c42 = "/v1/orgs/acme/projects/web/containers/c-42";
    // Live decisions stand: dave keeps his share, erin is not an admin.
    assert_eq!(gw.status("PUT", c42, &[&bearer("dave"), "Content-Length: 0"]), 200);
    assert_eq!(gw.status("PUT", c42, &[&bearer("dave"), "Content-Length: 0"]), 200);
    assert_eq!(gw.status("DELETE", c42, &[&bearer("erin"), "Content-Length: 0"]), 403);
    // Requests both policies agree on are not reported.
    assert_eq!(gw.status("GET", c42, &[&bearer("alice")]), 200);
    let metrics = super::request_on(admin, "GET", "/metrics", &[]).2;
    let route = "/v1/orgs/{org}/projects/{project}/containers/{id}";
    assert!(
        metrics
            .contains(&format!("portcullis_shadow_disagreements_total{{route=\"{route}\",change=\"allow->deny\"}} 2")),
        "{metrics}"
    );
    assert!(
        metrics
            .contains(&format!("portcullis_shadow_disagreements_total{{route=\"{route}\",change=\"deny->allow\"}} 1")),
        "{metrics}"
    );
    let log = gw.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| l.strip_prefix("portcullis: shadow disagreement "))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert_eq!(lines[0]["shadow"], "allow->deny");
    assert_eq!(lines[0]["principal"], "dave");
    assert!(lines[0]["live_reason"].as_str().unwrap().contains("share"), "{}", lines[0]);
    assert!(lines[0]["candidate_reason"].as_str().unwrap().contains("dave"), "{}", lines[0]);
    assert_eq!(lines[2]["shadow"], "deny->allow");
    assert_eq!(lines[2]["route"], route);
    // The candidate reloads like the live folder: made equal to it, it stops disagreeing.
    let tmp = candidate.join("20-acme.toml.next");
    std::fs::copy(live.join("20-acme.toml"), &tmp).unwrap();
    std::fs::rename(&tmp, &acme).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !gw.log().contains(&format!("policies reloaded from {}", candidate.display())) {
        assert!(std::time::Instant::now() < deadline, "the candidate did not reload: {}", gw.log());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let before = gw.log().matches("shadow disagreement").count();
    assert_eq!(gw.status("PUT", c42, &[&bearer("dave"), "Content-Length: 0"]), 200);
    assert_eq!(gw.status("DELETE", c42, &[&bearer("erin"), "Content-Length: 0"]), 403);
    assert_eq!(gw.log().matches("shadow disagreement").count(), before, "{}", gw.log());
    drop(gw);
    for d in [live, candidate, store] {
        let _ = std::fs::remove_dir_all(d);
    }
}
