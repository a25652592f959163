//! What the gateway would do with one request, step by step, without forwarding it:
//! `portcullis explain` and the admin API's `POST /v1/explain`.
//!
//! It runs the gateway's own [`Pipeline`] on the head it is given, so its answer is the
//! gateway's: the status a client would get, and what each step found. A head given here
//! never crossed a wire, so its size is counted as HTTP/1.1 would send it.

use std::fmt;

use crate::admit::Wire;
use crate::gateway::pipeline::{Head, Passage, Pipeline, Verdict};

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
    /// `allow`, `deny` or `filter` (denied the collection, forwarded to be filtered), if it got
    /// to a decision.
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

/// Runs `method` `target` with `headers` through `pipeline` (which should explain
/// [`Always`](crate::gateway::pipeline::Explaining::Always)). A revision the caller names
/// is not waited for: if the snapshot does not have it, the answer is the gateway's 503.
pub fn dry_run(pipeline: &Pipeline, method: &str, target: &str, headers: &http::HeaderMap) -> DryRun {
    let head =
        Head { method, target: target.as_bytes(), headers, wire: Wire::rendered(method, target.as_bytes(), headers) };
    let mut passage = Passage::default();
    let verdict = pipeline.verdict(&head, 0, &mut passage, false);
    let snapshot = pipeline.policy().handle().load();
    let table = snapshot.routes().map(|r| &r.table);
    let resolved = passage.route.and(table).and_then(|t| t.resolve(method, &passage.canonical).ok());
    let (status, reason) = match verdict {
        Verdict::Forward => (200, passage.reason.clone().unwrap_or_default()),
        Verdict::Reject(r) => {
            let reason = match (&r.reason, r.header.as_ref()) {
                (Some(reason), _) => format!("{}: {reason}", r.error),
                (None, Some(("allow", allow))) => format!("{}; the route maps {allow}", r.error),
                (None, _) => r.error.to_string(),
            };
            (r.status, reason)
        }
        // Not asked for (`may_wait` is false); answered as the gateway does past its wait.
        Verdict::Await { revision } => (503, format!("revision {revision} not reached")),
    };
    DryRun {
        status,
        canonical: passage.canonical_ok.then(|| passage.canonical.path_and_query()),
        route: resolved.as_ref().zip(table).and_then(|(t, table)| table.routes().get(t.route)).map(|r| r.path.clone()),
        principal: passage.principal.as_ref().map(|p| p.rendered.clone()),
        resource: resolved.map(|t| Resource {
            org: t.org.into(),
            project: t.project.map(Into::into),
            kind: t.kind.into(),
            id: t.id.map(Into::into),
            verb: t.verb.name(),
        }),
        decision: match passage.decided {
            crate::metrics::Decided::Allow => Some("allow"),
            crate::metrics::Decided::Deny => Some("deny"),
            crate::metrics::Decided::Filter => Some("filter"),
            crate::metrics::Decided::None => None,
        },
        reason,
    }
}

/// The headers of an explained request: `Authorization: Bearer <token>` when a token is
/// given, then `extra` (`name: value` lines as a client would send them).
pub fn headers(token: Option<&str>, extra: &[String]) -> Result<http::HeaderMap, String> {
    let mut map = http::HeaderMap::new();
    if let Some(token) = token {
        let value = http::HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| "the token has characters a header cannot carry".to_string())?;
        map.append(http::header::AUTHORIZATION, value);
    }
    for line in extra {
        let (name, value) =
            line.split_once(':').ok_or_else(|| format!("header '{line}' has no ':'; write it as 'Name: value'"))?;
        let name = http::HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("'{}' is not a header name", name.trim()))?;
        let value = http::HeaderValue::from_str(value.trim())
            .map_err(|_| format!("the value of header '{name}' has characters a header cannot carry"))?;
        map.append(name, value);
    }
    Ok(map)
}
