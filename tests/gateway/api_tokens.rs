//! Service accounts' API tokens: `portcullis token new` makes one, the config lists only its
//! hash, and the gateway identifies the service account by it.

use super::{Gateway, Setup};

#[test]
fn a_service_account_is_identified_by_its_api_token_and_the_token_never_reaches_the_log() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["token", "new", "--org", "acme", "--account", "ci-bot"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let advice = String::from_utf8(out.stderr).unwrap();
    assert!(token.starts_with("pcat_") && token.len() == 69, "{token}");
    let entry = advice[advice.find("[[auth.api_token]]").unwrap()..].to_string();
    assert!(entry.contains("org = \"acme\"\naccount = \"ci-bot\""), "{entry}");
    assert!(!advice.contains(&token), "the config advice repeats the token");

    let extra = format!("\n{entry}\n");
    let gw = Gateway::start_with(Setup { extra_config: &extra, ..Default::default() });
    let auth = format!("Authorization: Bearer {token}");
    // ci-bot is in team ci, bound to `ci-deployer`: it may delete containers, not touch billing.
    let target = "/v1/orgs/acme/projects/web/containers/c-1";
    gw.assert_forwarded_as("DELETE", target, &[&auth], target);
    assert!(gw.last().to_ascii_lowercase().contains("x-portcullis-principal: sa:acme/ci-bot\r\n"), "{}", gw.last());
    gw.assert_rejected("PUT", "/v1/orgs/acme/billing", &[&auth, "Content-Length: 0"], 403);
    let forged = format!("Authorization: Bearer pcat_{}", "0".repeat(64));
    let (status, head, _) = gw.request("DELETE", target, &[&forged]);
    assert_eq!(status, 401);
    assert!(head.contains("not known"), "{head}");
    let log = gw.log();
    assert!(!log.contains(&token[5..]), "the token reached the log: {log}");
}

#[test]
fn a_malformed_token_hash_is_a_config_error_with_its_line() {
    let mut line = 0;
    let err = super::refused_to_start("serve", |shipped| {
        let text = format!("{shipped}\n[[auth.api_token]]\norg = \"acme\"\naccount = \"ci-bot\"\nsha256 = \"abc\"\n");
        line = text.lines().count();
        text
    });
    assert!(err.contains(&format!("config.toml:{line}:")) && err.contains("64 hex digits"), "{err}");
}
