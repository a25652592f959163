//! What the gateway would do with one request, step by step, without forwarding it:
//! `portcullis explain` and the admin API's `POST /v1/explain`.
//!
//! It runs the gateway's own steps (canonicalise, route, authenticate, decide) with the
//! gateway's own code, so its answer is the gateway's: the status a client would get, and
//! what each step found. Framing and header-size checks (step 0) are about bytes on a
//! connection and are not part of it.

use std::fmt;

use crate::auth::Verifier;
use crate::canon::{Canonical, canonicalise_with_limit};
use crate::config::Config;
use crate::explain::explain;
use crate::route::NoTarget;
use crate::snapshot::Snapshot;

/// The outcome of each step, as far as the request got.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DryRun {
    /// What the client would receive: 200 means forwarded.
    pub status: u16,
    /// The canonical target, if the path was accepted.
    pub canonical: Option<String>,
    /// The route pattern it matched.
    pub route: Option<String>,
    pub principal: Option<String>,
    pub resource: Option<Resource>,
    /// `allow` or `deny`, if it got to a decision.
    pub decision: Option<&'static str>,
    /// Why: the decision's explanation, or the step that refused it.
    pub reason: String,
}

/// The resource and verb the route extracted.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Resource {
    pub org: String,
    pub project: Option<String>,
    pub kind: String,
    pub id: Option<String>,
    pub verb: &'static str,
}

impl fmt::Display for DryRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        writeln!(f, "status:    {}", self.status)?;
        writeln!(f, "canonical: {}", or_dash(&self.canonical))?;
        writeln!(f, "route:     {}", or_dash(&self.route))?;
        writeln!(f, "principal: {}", or_dash(&self.principal))?;
        match &self.resource {
            Some(r) => {
                let project = r.project.as_deref().map(|p| format!(" in project {p}")).unwrap_or_default();
                let id = r.id.as_deref().unwrap_or("(collection)");
                writeln!(f, "resource:  {} {} {id} of org {}{project}", r.verb, r.kind, r.org)?;
            }
            None => writeln!(f, "resource:  -")?,
        }
        writeln!(f, "decision:  {}", self.decision.unwrap_or("-"))?;
        write!(f, "reason:    {}", self.reason)
    }
}

/// Runs `method` `target` with `authorization` (a header value, e.g. `Bearer ...`) through
/// the gateway's steps for `config`, against `snapshot`.
pub fn dry_run(
    config: &Config,
    snapshot: &Snapshot,
    verifier: Option<&Verifier>,
    method: &str,
    target: &str,
    authorization: Option<&str>,
) -> DryRun {
    let mut run = DryRun {
        status: 0,
        canonical: None,
        route: None,
        principal: None,
        resource: None,
        decision: None,
        reason: String::new(),
    };
    let refuse = |mut run: DryRun, status: u16, reason: String| {
        run.status = status;
        run.reason = reason;
        run
    };
    let mut canonical = Canonical::default();
    if let Err(e) = canonicalise_with_limit(target.as_bytes(), config.limits.max_target_bytes, &mut canonical) {
        return refuse(run, 400, format!("bad request target: {e}"));
    }
    run.canonical = Some(canonical.path_and_query());
    let target = match config.routes.resolve(method, &canonical) {
        Ok(t) => t,
        Err(NoTarget::NotFound) => return refuse(run, 404, "no route matches the path".into()),
        Err(NoTarget::MethodNotAllowed { allow }) => {
            return refuse(run, 405, format!("the route does not map {method}; it maps {allow}"));
        }
    };
    run.route = config.routes.routes().get(target.route).map(|r| r.path.clone());
    run.resource = Some(Resource {
        org: target.org.into(),
        project: target.project.map(Into::into),
        kind: target.kind.into(),
        id: target.id.map(Into::into),
        verb: target.verb.name(),
    });
    if canonical.query().is_some_and(crate::auth::query_has_token) {
        return refuse(run, 400, "a token in the query is not accepted".into());
    }
    let principal = match verifier {
        Some(v) => v.verify_header(authorization.map(str::as_bytes)),
        None => Err(crate::auth::AuthError::Missing),
    };
    let principal = match principal {
        Ok(p) => p,
        Err(e) => return refuse(run, 401, format!("unauthenticated: {e}")),
    };
    run.principal = Some(principal.rendered.clone());
    let request = target.request(principal.caller());
    let explanation = explain(snapshot, &request);
    run.decision = Some(if explanation.decision.allowed { "allow" } else { "deny" });
    run.status = if explanation.decision.allowed { 200 } else { 403 };
    run.reason = explanation.text;
    run
}
