//! Portcullis: a policy enforcement gateway.
//!
//! Every request takes the same path, one module per step:
//!
//! 0. [`admit`] the request's framing and size,
//! 1. [`canon`]icalise the request target,
//! 2. [`route`] method and path to a resource and verb,
//! 3. [`auth`]enticate the caller (JWT, or a service account's API token) as a typed
//!    [`principal`]: a user, or a service account of one org,
//! 4. [`decide`] against the live [`Snapshot`], loaded once from a [`SnapshotHandle`],
//! 5. forward to an upstream or reject; [`gateway`] is the data plane that runs the steps
//!    (its `pipeline`) on hyper, one runtime per core.
//!
//! The permission model is `../shared/MODEL.md`. Policy text becomes a snapshot through
//! [`policy`] (parse, validate, compile); [`source`] reads policy folders; [`explain`]
//! turns a decision into a sentence; [`conformance`] runs the model's case files.
//!
//! The control plane changes orgs while the gateway runs: [`manage`] decides who may make a
//! change, [`edit`] makes it on the org's policy, [`transfer`] runs the ownership handshake,
//! [`store`] commits it (SQLite or PostgreSQL), [`control`] ties them together and publishes
//! the result, and [`admin`] serves it as a JSON API. [`pdp`] answers other gateways'
//! questions (OpenID AuthZEN) from the same snapshot.

pub mod access;
pub mod admin;
pub mod admit;
pub mod auth;
pub mod canon;
pub mod cli;
pub mod client;
pub mod config;
pub mod conformance;
pub mod console;
pub mod control;
pub mod decide;
pub mod decisions;
pub mod demo;
pub mod dryrun;
pub mod edit;
pub mod explain;
pub mod gateway;
pub mod instant;
pub mod jsonpointer;
pub mod jwks;
pub mod manage;
pub mod metrics;
pub mod model;
pub mod pdp;
pub mod policy;
pub mod principal;
pub mod reload;
pub mod route;
pub mod serve;
pub mod snapshot;
pub mod source;
pub mod store;
pub mod strmap;
pub mod swap;
pub(crate) mod tomlwalk;
pub mod transfer;

pub use decide::{Decision, Reason, Request, decide};
pub use model::{Verb, VerbSet};
pub use principal::{Caller, Identity};
pub use snapshot::Snapshot;
pub use swap::SnapshotHandle;
