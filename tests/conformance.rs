//! `../shared/conformance/` through the same code path as `portcullis test`.

use std::path::PathBuf;

use portcullis::conformance::run;

fn shared_conformance() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance")
}

#[test]
fn every_conformance_case_passes() {
    let dir = shared_conformance();
    assert!(dir.is_dir(), "{} is missing: the conformance suite must be present", dir.display());
    let report = run(&[dir]).expect("conformance files are readable");
    for f in &report.failures {
        eprintln!("FAIL {f}");
    }
    assert_eq!(report.failed(), 0, "{}", report.summary());
    // 70 checks in the seven case files, and the 11 invalid files.
    assert_eq!(report.passed, 81, "{}", report.summary());
    assert_eq!(report.rejections.len(), 11);
}

#[test]
fn invalid_cases_are_rejected_for_the_right_reason() {
    let report = run(&[shared_conformance().join("invalid")]).unwrap();
    let expected = [
        ("bind-owner.toml", "the 'owner' role cannot be bound"),
        ("binding-unknown-project.toml", "unknown project 'nope'"),
        ("binding-unknown-role.toml", "unknown role 'deployer'"),
        ("duplicate-member-id.toml", "both as a member and as a service account"),
        ("owner-is-service-account.toml", "is a service account"),
        ("owner-not-member.toml", "owner 'olga' is not a member"),
        ("role-level-mismatch.toml", "does not exist at organisation level"),
        ("share-level-deny.toml", "revoke"),
        ("share-to-non-member.toml", "'stranger' is not a member"),
        ("unknown-key.toml", "unknown key 'subjcet' in [[org.binding]], did you mean 'subject'?"),
        ("unknown-verb.toml", "unknown verb 'execute'"),
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
    let text = std::fs::read_to_string(shared_conformance().join("02-custom-role.toml")).unwrap();
    // Flip the first expectation: the runner must notice.
    let flipped = text.replacen("expect = \"allow\"", "expect = \"deny\"", 1);
    std::fs::write(&case, flipped).unwrap();
    let report = run(&[case]).unwrap();
    assert_eq!(report.failed(), 1);
    assert_eq!(report.passed, 7);
    let line = report.failures[0].to_string();
    assert!(line.contains("wrong.toml:"), "{line}");
    assert!(line.contains("check 1"), "{line}");
    assert!(line.contains("expected deny, got allow"), "{line}");
}

#[test]
fn an_invalid_case_that_validates_is_a_failure() {
    let dir = crate::scratch("conformance").join("invalid");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(shared_conformance().join("01-builtin-roles.toml"), dir.join("fine.toml")).unwrap();
    let report = run(&[dir]).unwrap();
    assert_eq!(report.failed(), 1);
    assert!(report.failures[0].message.contains("validates"));
}
