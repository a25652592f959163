//! What a principal can reach, over the admin API
//! (`GET /v1/orgs/{org}/access/principals/{p}`).
//!
//! Like the review, it reads the live snapshot, so it answers what the gateway enforces now,
//! for store- and file-owned orgs alike. A member may ask about itself; asking about anyone
//! else needs `read` on `members`, and a caller outside the org learns only that.

use serde_json::{Value, json};

use super::{AdminError, ControlPlane, EditError};
use crate::access::reach::{ReachError, reach};
use crate::decide::member_of;
use crate::model::{Verb, VerbSet};
use crate::principal::{Caller, Identity};

/// What a reach asks about.
#[derive(Clone, Copy, Debug)]
pub struct ReachQuery<'a> {
    pub principal: Caller<'a>,
    pub kind: &'a str,
    /// Only where the principal can do this; `None`: whatever it holds.
    pub verb: Option<Verb>,
}

/// Where a page of ids starts: after this (project, id).
#[derive(Clone, Copy, Debug, Default)]
pub struct ReachCursor<'a> {
    pub project: Option<&'a str>,
    pub id: Option<&'a str>,
}

impl ControlPlane {
    /// The principal's kind-wide access per scope, then one page of the ids it reaches
    /// beyond that (in project, id order; `after`, `limit`), as JSON.
    pub fn access_reach(
        &self,
        org: &str,
        actor: &Identity,
        q: &ReachQuery<'_>,
        after: ReachCursor<'_>,
        limit: usize,
    ) -> Result<Value, AdminError> {
        let live = self.live.handle().load_full();
        let (o, me) = super::live_member(&live, org, actor)?;
        let them = member_of(o, org, q.principal);
        if them != Some(me) {
            super::need_in(&live, org, actor, Verb::Read, "members", None, None)?;
        }
        if them.is_none() {
            return Err(EditError::NotFound { org: org.into(), what: "member", id: q.principal.to_string() }.into());
        }
        let at = crate::instant::now();
        let mut r = reach(&live, org, q.principal, q.kind, q.verb, at).map_err(|e| match e {
            ReachError::UnknownOrg => AdminError::UnknownOrg { org: org.into() },
            ReachError::NotAMember => {
                EditError::NotFound { org: org.into(), what: "member", id: q.principal.to_string() }.into()
            }
            ReachError::UnknownKind => AdminError::BadQuery {
                field: "kind",
                message: format!("there is no kind '{}'; `portcullis role list` shows the kinds roles name", q.kind),
            },
        })?;
        let level = |p: Option<&str>| if p.is_some() { "project" } else { "organisation" };
        let kind_wide: Vec<Value> = r
            .kind_wide
            .iter()
            .map(|k| {
                let text = match k.project {
                    Some(p) => format!("every {} in project {p}", q.kind),
                    None => format!("every {} in the organisation", q.kind),
                };
                json!({ "level": level(k.project), "project": k.project, "verbs": verbs(k.verbs), "text": text })
            })
            .collect();
        // Pages follow project names, which a client can compare, not the snapshot's indexes.
        r.ids.sort_by(|a, b| (a.project, a.id).cmp(&(b.project, b.id)));
        let start = after.id.map_or(0, |id| r.ids.partition_point(|x| (x.project, x.id) <= (after.project, id)));
        let page: Vec<_> = r.ids.iter().skip(start).take(limit).collect();
        let more = start + page.len() < r.ids.len();
        let next = page.last().filter(|_| more).map(|x| json!({ "project": x.project, "id": x.id }));
        let ids: Vec<Value> = page
            .iter()
            .map(|x| {
                json!({
                    "level": level(x.project),
                    "project": x.project,
                    "id": x.id,
                    "verbs": verbs(x.verbs),
                    "below": x.below.map(verbs),
                })
            })
            .collect();
        Ok(json!({
            "org": org,
            "principal": q.principal.to_string(),
            "kind": q.kind,
            "verb": q.verb.map(Verb::name),
            "at": crate::instant::render(at),
            "kind_wide": kind_wide,
            "ids": ids,
            "next": next,
        }))
    }
}

fn verbs(v: VerbSet) -> Vec<&'static str> {
    v.iter().map(Verb::name).collect()
}
