//! One test binary for the integration tests; each module is one concern.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, reason = "tests")]

mod auth;
mod canon_prop;
mod conformance;
mod gateway;
mod manage;
mod model_prop;
mod policy_errors;
mod render;
mod shipped;
mod swap;
mod transfer_prop;
