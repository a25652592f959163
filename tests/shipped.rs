//! The shipped config.toml and policies/ load, and agree with each other.

use std::path::PathBuf;

use portcullis::config;
use portcullis::source::load_policy_dir;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn shipped_config_and_policies_load_and_every_route_names_a_known_kind() {
    let cfg = config::load(&root().join("config.toml")).unwrap_or_else(|e| panic!("{e}"));
    let snapshot = load_policy_dir(&cfg.gateway.policies).unwrap_or_else(|e| panic!("{e}"));
    let kinds = &snapshot.globals().kinds;
    assert!(cfg.routes.routes().len() >= 20);
    for r in cfg.routes.routes() {
        assert!(
            kinds.get(&r.kind).is_some(),
            "route {} names kind '{}', which the policies do not declare",
            r.path,
            r.kind
        );
    }
    assert_eq!(cfg.upstreams.len(), 1);
}
