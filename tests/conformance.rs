//! The project's own conformance cases (`tests/conformance/`, one world per rule of
//! MODEL.md) through the same code path as `portcullis test`. `.ci/run` also runs
//! `../shared/conformance` through the binary when that folder is there.

use std::path::PathBuf;

use portcullis::conformance::run;

fn cases() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

#[test]
fn every_conformance_case_passes() {
    let report = run(&[cases()]).expect("conformance files are readable");
    for f in &report.failures {
        eprintln!("FAIL {f}");
    }
    assert_eq!(report.failed(), 0, "{}", report.summary());
    // 154 checks in the ten case files, and the 15 invalid files.
    assert_eq!(report.passed, 169, "{}", report.summary());
    assert_eq!(report.rejections.len(), 15);
}

#[test]
fn invalid_cases_are_rejected_for_the_right_reason() {
    let report = run(&[cases().join("invalid")]).unwrap();
    let expected = [
        ("binding-in-unknown-project.toml", "unknown project 'warehouse'"),
        ("binding-of-unknown-role.toml", "unknown role 'wizard'"),
        ("bad-expires-at.toml", "'expires_at': '2026-12-01' is not an RFC 3339 date-time"),
        ("create-in-owned.toml", "gives `create` to `owned` resources"),
        ("creator-not-a-member.toml", "'zed' is not a member of org 'loft'"),
        ("two-creators.toml", "spaces s-1 in project dev already has a recorded creator ('ana')"),
        ("deny-share.toml", "revoke"),
        ("entry-at-wrong-level.toml", "does not exist at organisation level"),
        ("member-and-service-account.toml", "both as a member and as a service account"),
        ("misspelt-key.toml", "unknown key 'rol' in [[org.binding]], did you mean 'role'?"),
        ("owner-bound.toml", "the 'owner' role cannot be bound"),
        ("owner-not-a-member.toml", "owner 'nadia' is not a member"),
        ("service-account-owner.toml", "is a service account"),
        ("share-to-stranger.toml", "'zed' is not a member"),
        ("unknown-verb.toml", "unknown verb 'run'"),
    ];
    for (file, needle) in expected {
        let (_, errors) = report
            .rejections
            .iter()
            .find(|(p, _)| p.ends_with(file))
            .unwrap_or_else(|| panic!("{file} was not rejected"));
        let text = errors.to_string();
        assert!(text.contains(needle), "{file}: expected '{needle}' in:\n{text}");
        assert!(text.contains(&format!("{file}:")), "{file}: errors must name file:line:column:\n{text}");
    }
}

#[test]
fn a_wrong_expectation_is_reported_with_file_and_check_number() {
    let dir = crate::scratch("conformance");
    let case = dir.join("wrong.toml");
    let text = std::fs::read_to_string(cases().join("02-custom-roles.toml")).unwrap();
    // Flip the first expectation: the runner must notice.
    let flipped = text.replacen("expect = \"allow\"", "expect = \"deny\"", 1);
    std::fs::write(&case, flipped).unwrap();
    let report = run(&[case]).unwrap();
    assert_eq!(report.failed(), 1);
    assert_eq!(report.passed, 15);
    let line = report.failures[0].to_string();
    assert!(line.contains("wrong.toml:"), "{line}");
    assert!(line.contains("check 1"), "{line}");
    assert!(line.contains("expected deny, got allow"), "{line}");
}

#[test]
fn an_invalid_case_that_validates_is_a_failure() {
    let dir = crate::scratch("conformance").join("invalid");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(cases().join("01-built-in-roles.toml"), dir.join("fine.toml")).unwrap();
    let report = run(&[dir]).unwrap();
    assert_eq!(report.failed(), 1);
    assert!(report.failures[0].message.contains("validates"));
}
