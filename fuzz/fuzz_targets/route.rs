//! Route resolution on the shipped config's routes: any method, any canonical target. A
//! resolved target names an org, project and id that are segments of the path, and no
//! panic on anything.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use portcullis::canon::{Canonical, canonicalise};
use portcullis::config::Config;

static CONFIG: LazyLock<Config> = LazyLock::new(|| {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config.toml");
    let text = include_str!("../../config.toml");
    match portcullis::config::parse(std::path::Path::new(path), text) {
        Ok(c) => c,
        Err(e) => panic!("the shipped config does not load: {e}"),
    }
});

const METHODS: [&str; 10] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT", "get"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, raw)) = data.split_first() else { return };
    let method = METHODS[usize::from(pick) % METHODS.len()];
    let mut target = Canonical::default();
    if canonicalise(raw, &mut target).is_err() {
        return;
    }
    if let Ok(t) = CONFIG.routes.resolve(method, &target) {
        let segments: Vec<&str> = target.segments().collect();
        assert!(segments.contains(&t.org), "org {:?} is not a segment of {:?}", t.org, target.path());
        if let Some(project) = t.project {
            assert!(segments.contains(&project), "project {project:?} not in {:?}", target.path());
        }
        assert!(!t.kind.is_empty());
    }
});
