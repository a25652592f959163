//! The access answers' routes: who can reach one resource, and what one principal can
//! reach. Both read the live snapshot through [`ControlPlane`] and only parse the query here.

use http::StatusCode;

use super::query::{Query, list_limit};
use super::{Answer, answer_error};
use crate::control::{ControlPlane, ReachCursor, ReachQuery, ReviewQuery};
use crate::model::Verb;
use crate::principal::{Caller, Identity};

/// `GET /v1/orgs/{org}/access?kind&project&id&verb&after&limit`.
pub(super) fn review(c: &ControlPlane, org: &str, actor: &Identity, query: &str) -> Result<Answer, Answer> {
    let q = Query::parse(query, &["kind", "project", "id", "verb", "after", "limit"])?;
    let verb = verb(&q)?;
    let resource = crate::access::Resource { kind: q.required("kind")?, project: q.get("project"), id: q.get("id") };
    let review = c
        .access_review(org, actor, &ReviewQuery { resource, verb }, q.get("after"), list_limit(&q)?)
        .map_err(|e| answer_error(&e))?;
    Ok(Answer::ok(review))
}

/// `GET /v1/orgs/{org}/access/principals/{p}?kind&verb&after_project&after&limit`: `p` is a
/// user id, or `sa:NAME` for the org's service account NAME (a path segment has no `/`).
pub(super) fn reach(
    c: &ControlPlane,
    org: &str,
    principal: &str,
    actor: &Identity,
    query: &str,
) -> Result<Answer, Answer> {
    let q = Query::parse(query, &["kind", "verb", "after_project", "after", "limit"])?;
    let principal = match principal.strip_prefix("sa:") {
        Some(name) if !name.is_empty() => Caller::ServiceAccount { org, name },
        Some(_) => {
            return Err(Answer::error(
                StatusCode::BAD_REQUEST,
                "the principal `sa:` names no service account: write sa:NAME for the org's service account NAME",
            ));
        }
        None => Caller::User(principal),
    };
    let ask = ReachQuery { principal, kind: q.required("kind")?, verb: verb(&q)? };
    let after = ReachCursor { project: q.get("after_project"), id: q.get("after") };
    if after.project.is_some() && after.id.is_none() {
        return Err(Answer::error(
            StatusCode::BAD_REQUEST,
            "query parameter `after_project` goes with `after`: send both as the previous page's `next` gave them",
        ));
    }
    let reach = c.access_reach(org, actor, &ask, after, list_limit(&q)?).map_err(|e| answer_error(&e))?;
    Ok(Answer::ok(reach))
}

fn verb(q: &Query) -> Result<Option<Verb>, Answer> {
    match q.get("verb") {
        None => Ok(None),
        Some(v) => Verb::parse(v).map(Some).ok_or_else(|| {
            Answer::error(
                StatusCode::BAD_REQUEST,
                format!("`verb` is one of list, read, create, update, delete, not '{v}'"),
            )
        }),
    }
}
