//! One test binary for the integration tests; each module is one concern.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, reason = "tests")]

mod access_prop;
mod admin;
mod auth;
mod browser;
mod canon_prop;
mod cli;
mod conformance;
mod console;
mod gateway;
mod manage;
mod model_prop;
mod pdp;
mod policy_errors;
mod reach_prop;
mod render;
mod search_prop;
mod shipped;
mod swap;
mod tenancy_prop;
mod transfer_prop;

/// A fresh, empty folder under the system temp folder, unique to this process and call.
pub fn scratch(tag: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "portcullis-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
