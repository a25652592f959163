//! Access review over the admin API: who can do what on one resource, and why
//! (`GET /v1/orgs/{org}/access`).
//!
//! It reads the live snapshot, as the gateway decides, so a review answers for file-owned
//! orgs too and never disagrees with enforcement. Reading it needs what reading the member
//! list needs (`read` on `members`): the answer names members and their grants. A caller who
//! is not a member learns only that, before anything about the resource is checked.

use serde_json::{Value, json};

use super::{AdminError, ControlPlane};
use crate::access::{Holder, Ignored, Resource, ReviewError, Via, Why, review};
use crate::model::{Verb, VerbSet};
use crate::policy::{OrgModel, Subject};
use crate::principal::Identity;

/// What a review asks about.
#[derive(Clone, Copy, Debug)]
pub struct ReviewQuery<'a> {
    pub resource: Resource<'a>,
    /// Only members that can do this; `None`: each member's effective verbs.
    pub verb: Option<Verb>,
}

impl ControlPlane {
    /// One page of the members that have access to the resource, each with its verbs and
    /// reasons, as JSON; paged by member id (`after`, `limit`).
    pub fn access_review(
        &self,
        org: &str,
        actor: &Identity,
        q: &ReviewQuery<'_>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Value, AdminError> {
        let live = self.live.handle().load_full();
        let (o, _) = super::live_member(&live, org, actor)?;
        super::need_in(&live, org, actor, Verb::Read, "members", None, None)?;
        let at = crate::instant::now();
        let r = &q.resource;
        let mut holders = review(&live, org, r, q.verb, at).map_err(|e| match e {
            ReviewError::UnknownOrg => AdminError::UnknownOrg { org: org.into() },
            ReviewError::UnknownResource(p) => AdminError::BadQuery {
                field: match p {
                    crate::decide::ResourceProblem::UnknownProject => "project",
                    crate::decide::ResourceProblem::MalformedId(_) => "id",
                    _ => "kind",
                },
                message: crate::explain::problem(&live, org, r.kind, r.project, p),
            },
        })?;
        holders.sort_by(|a, b| a.member.id.cmp(&b.member.id));
        let start = after.map_or(0, |a| holders.partition_point(|h| &*h.member.id <= a));
        let page: Vec<&Holder<'_>> = holders.iter().skip(start).take(limit).collect();
        let next = (start + page.len() < holders.len()).then(|| page.last().map(|h| h.member.id.to_string())).flatten();
        let model = &o.model;
        let principals: Vec<Value> = page.iter().map(|h| holder_json(model, h)).collect();
        Ok(json!({
            "org": org,
            "kind": r.kind,
            "project": r.project,
            "id": r.id,
            "verb": q.verb.map(Verb::name),
            "at": crate::instant::render(at),
            "principals": principals,
            "next": next,
        }))
    }
}

fn verbs(v: VerbSet) -> Vec<&'static str> {
    v.iter().map(Verb::name).collect()
}

fn holder_json(model: &OrgModel, h: &Holder<'_>) -> Value {
    let reasons: Vec<Value> = h.reasons.iter().map(|r| reason_json(model, r)).collect();
    json!({
        "subject": &*h.member.id,
        "type": if h.member.service_account { "service_account" } else { "user" },
        "verbs": verbs(h.verbs),
        "reasons": reasons,
    })
}

fn via_json(via: Via<'_>) -> Value {
    match via {
        Via::Direct => json!({ "via": "direct" }),
        Via::Team(t) => json!({ "via": "team", "team": t }),
        Via::All => json!({ "via": "all" }),
    }
}

fn reason_json(model: &OrgModel, r: &Why<'_>) -> Value {
    let subject = |s: Subject| model.subject_name(s);
    let time = |t: Option<i64>| t.map(crate::instant::render);
    let mut v = match r {
        Why::Owner => json!({ "source": "owner", "verbs": verbs(VerbSet::ALL) }),
        Why::Creator => json!({ "source": "creator" }),
        Why::Role { role, subject: s, via: _, project, verbs: v, expires_at, owned, ignored } => json!({
            "source": "role",
            "role": role,
            "bound_to": subject(*s),
            "scope": if project.is_some() { "project" } else { "organisation" },
            "project": project,
            "verbs": verbs(*v),
            "expires_at": time(*expires_at),
            "owned": owned,
            "ignored": ignored.map(|i| match i {
                Ignored::ReplacedByProjectRole => "replaced by its project role",
                Ignored::Restricted => "the project is restricted and it has no project role",
            }),
        }),
        Why::Share { subject: s, via: _, id, verbs: v, granted_by, expires_at } => json!({
            "source": "share",
            "shared_with": subject(*s),
            "id": id,
            "verbs": verbs(*v),
            "granted_by": granted_by,
            "expires_at": time(*expires_at),
        }),
    };
    let via = match r {
        Why::Role { via, .. } | Why::Share { via, .. } => Some(via_json(*via)),
        Why::Owner | Why::Creator => None,
    };
    if let (Some(Value::Object(extra)), Some(fields)) = (via, v.as_object_mut()) {
        fields.extend(extra);
    }
    v
}
