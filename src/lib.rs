//! Portcullis: a policy enforcement gateway.
//!
//! Every request takes the same path, one module per step:
//!
//! 1. canonicalise the request target (gateway, to come),
//! 2. route method and path to a resource and verb (to come),
//! 3. authenticate the caller (to come),
//! 4. [`decide`] against the live [`Snapshot`], loaded once from a [`SnapshotHandle`],
//! 5. forward or reject (to come).
//!
//! The permission model is `../shared/MODEL.md`. Policy text becomes a snapshot through
//! [`policy`] (parse, validate, compile); [`source`] reads policy folders; [`explain`]
//! turns a decision into a sentence; [`conformance`] runs the model's case files.

pub mod admit;
pub mod auth;
pub mod canon;
pub mod cli;
pub mod config;
pub mod conformance;
pub mod decide;
pub mod demo;
pub mod explain;
pub mod gateway;
pub mod jwks;
pub mod manage;
pub mod model;
pub mod policy;
pub mod reload;
pub mod route;
pub mod snapshot;
pub mod source;
pub mod strmap;
pub mod swap;
pub mod tls;
pub(crate) mod tomlwalk;
pub mod transfer;
pub mod upstream;

pub use decide::{Decision, Reason, Request, decide};
pub use model::{Verb, VerbSet};
pub use snapshot::Snapshot;
pub use swap::SnapshotHandle;
