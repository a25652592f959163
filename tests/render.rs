//! Rendering a policy back to TOML loses nothing: the shipped policies, every conformance
//! case's policy and generated worlds validate to the same model after render and parse.

use portcullis::policy::{FileMode, SourceText, parse, render_globals, render_org, validate};

/// The validated model as text, without the per-validation globals identity.
fn model_text(files: &[SourceText]) -> String {
    let (set, _) = parse(files, FileMode::Case).unwrap();
    let v = validate(&set).unwrap();
    let kinds: Vec<String> = v.globals.kinds.iter().map(|(_, k)| format!("{k:?}")).collect();
    let text = format!("{kinds:?} {:?} {:?}", v.globals.roles, v.orgs);
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("globals_id: ") {
        out.push_str(&rest[..i]);
        rest = rest[i..].trim_start_matches("globals_id: ").trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

fn round_trip(files: &[SourceText]) -> String {
    let (set, _) = parse(files, FileMode::Case).unwrap();
    let mut text = render_globals(&set.kinds, &set.roles);
    for o in &set.orgs {
        text.push_str(&render_org(o));
    }
    text
}

fn check(name: &str, files: &[SourceText]) {
    let rendered = round_trip(files);
    let again = [SourceText { path: "rendered.toml".into(), text: rendered.clone() }];
    assert_eq!(model_text(files), model_text(&again), "{name} changed in rendering:\n{rendered}");
    assert_eq!(rendered, round_trip(&again), "{name}: rendering is not stable");
}

fn read(path: &std::path::Path) -> SourceText {
    SourceText { path: path.into(), text: std::fs::read_to_string(path).unwrap() }
}

#[test]
fn shipped_policies_and_conformance_cases_survive_rendering() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut shipped: Vec<_> = std::fs::read_dir(root.join("policies")).unwrap().map(|e| e.unwrap().path()).collect();
    shipped.sort();
    check("policies/", &shipped.iter().map(|p| read(p)).collect::<Vec<_>>());
    // A kind's `actions` (the PDP test's policy has them).
    let pdp = read(&root.join("tests/fixtures/pdp/policy.toml"));
    assert!(round_trip(std::slice::from_ref(&pdp)).contains("actions = { "));
    check("tests/fixtures/pdp", &[pdp]);
    let cases = root.join("tests/conformance");
    let mut n = 0;
    for entry in std::fs::read_dir(&cases).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            check(&path.display().to_string(), &[read(&path)]);
            n += 1;
        }
    }
    assert!(n >= 8);
}
