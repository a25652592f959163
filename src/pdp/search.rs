//! AuthZEN's three searches: who may do an action on a resource, what a subject may do an
//! action on, and what it may do on one resource. Each answer is what `decide` says, worked
//! out the way the access review and the reach do (a property test holds them to
//! brute-force decisions), and paged with an opaque token.
//!
//! Resources are found where grants name them: shares, creator records and role entries
//! narrowed to an id. Access to every resource of the kind in a scope cannot be listed (the
//! ids live upstream), so it comes back as one result with id `*` and `properties.match =
//! "every"`, the model's own word for it; on hierarchical kinds, access to everything below
//! an id comes back as `ID/*` with `match = "below"`.

use serde_json::{Map, Value, json};

use super::evaluate::{
    BadField, bad, is_service_account, kind_info, object, org_of, outside_client, owner, principal, properties,
    property, required, string, verb_of,
};
use crate::access::reach::{Reach, ReachError, reach};
use crate::config::PdpClient;
use crate::decide::{Target, effective_verbs, member_of, target};
use crate::model::Verb;
use crate::snapshot::{OrgSnapshot, Snapshot};

/// Results in a page when the request does not say.
pub const DEFAULT_LIMIT: usize = 100;
/// The most results in a page.
pub const MAX_LIMIT: usize = 1000;

/// Which search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Search {
    Subject,
    Resource,
    Action,
}

/// Every result, each with the key it is ordered and paged by; or, when the request names
/// something the model does not know, none and why.
struct Found {
    results: Vec<(String, Value)>,
    reason: Option<String>,
}

/// Where a page starts and how long it is (`page.token` or `page.next_token`, `page.limit`).
struct Page {
    after: Option<String>,
    limit: usize,
}

impl Page {
    fn read(request: &Value) -> Result<Page, BadField> {
        let page = match request.get("page") {
            None | Some(Value::Null) => return Ok(Page { after: None, limit: DEFAULT_LIMIT }),
            Some(Value::Object(m)) => m,
            Some(_) => return Err(bad("page", "must be an object")),
        };
        let token = match string(page, "token", "page")? {
            Some(t) => Some(t),
            None => string(page, "next_token", "page")?,
        };
        let after = match token.filter(|t| !t.is_empty()) {
            None => None,
            Some(t) => Some(hex::decode(t).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(|| {
                bad("page.token", "is not a token this PDP gave: send the previous answer's page.next_token, or none")
            })?),
        };
        let limit = match page.get("limit") {
            None | Some(Value::Null) => DEFAULT_LIMIT,
            Some(v) => match v.as_u64() {
                Some(n @ 1..) if n as usize <= MAX_LIMIT => n as usize,
                _ => return Err(bad("page.limit", format!("must be an integer from 1 to {MAX_LIMIT}"))),
            },
        };
        Ok(Page { after, limit })
    }
}

/// Answers a search for `client` at `now`: `results`, `page` (`next_token` empty at the
/// end, `count`, `total`) and, for a client that sees reasons, why nothing was found when
/// the request names what the model does not know.
pub fn search(
    snapshot: &Snapshot,
    client: &PdpClient,
    which: Search,
    request: &Value,
    now: i64,
) -> Result<Value, BadField> {
    let page = Page::read(request)?;
    let Found { mut results, reason } = match which {
        Search::Subject => subjects(snapshot, client, request, now)?,
        Search::Resource => resources(snapshot, client, request, now)?,
        Search::Action => actions(snapshot, client, request, now)?,
    };
    results.sort_by(|a, b| a.0.cmp(&b.0));
    let total = results.len();
    let start = page.after.as_deref().map_or(0, |after| results.partition_point(|(key, _)| key.as_str() <= after));
    let end = results.len().min(start.saturating_add(page.limit));
    let next_token = match results.get(start..end).and_then(|p| p.last()) {
        Some((key, _)) if end < total => hex::encode(key),
        _ => String::new(),
    };
    let shown: Vec<Value> = results.drain(start..end).map(|(_, v)| v).collect();
    let mut answer = Map::new();
    answer.insert("results".into(), Value::Array(shown));
    answer.insert("page".into(), json!({ "next_token": next_token, "count": end - start, "total": total }));
    if let (true, Some(reason)) = (client.reasons, reason) {
        answer.insert("context".into(), json!({ "reason": reason }));
    }
    Ok(Value::Object(answer))
}

/// The parts of a search request every search has: `subject` and `resource` (objects, with
/// `resource.type`), and the org and project it is about.
struct Common<'v> {
    subject: &'v Map<String, Value>,
    resource: &'v Map<String, Value>,
    properties: Option<&'v Map<String, Value>>,
    kind: &'v str,
    org: &'v str,
    project: Option<&'v str>,
}

fn common<'v>(client: &'v PdpClient, request: &'v Value) -> Result<Common<'v>, BadField> {
    let subject = object(request, "subject", "")?;
    let resource = object(request, "resource", "")?;
    let kind = required(resource, "type", "resource")?;
    let properties = properties(resource, "resource")?;
    let org = org_of(client, properties, "resource.properties")?;
    let project = property(properties, "project", "resource.properties")?;
    Ok(Common { subject, resource, properties, kind, org, project })
}

fn action_name(request: &Value) -> Result<&str, BadField> {
    required(object(request, "action", "")?, "name", "action")
}

/// What a search found, or why the request names nothing the model knows.
type Outcome = Result<Vec<(String, Value)>, String>;

fn found(outcome: Outcome) -> Found {
    match outcome {
        Ok(results) => Found { results, reason: None },
        Err(reason) => Found { results: Vec::new(), reason: Some(reason) },
    }
}

impl<'v> Common<'v> {
    /// The org asked about, if the client may ask about it and it exists.
    fn org<'s>(&self, snapshot: &'s Snapshot, client: &PdpClient) -> Result<&'s OrgSnapshot, String> {
        if let Some(why) = outside_client(client, self.org) {
            return Err(why);
        }
        snapshot.org(self.org).ok_or_else(|| format!("organisation '{}' does not exist", self.org))
    }

    /// The resource as a decision target in `org`, with `creator` counted for `owned`
    /// entries as a creator record would be.
    fn target(
        &self,
        snapshot: &Snapshot,
        org: &OrgSnapshot,
        id: Option<&'v str>,
        creator: Option<&str>,
    ) -> Result<Target<'v>, String> {
        let mut t = target(snapshot, org, self.kind, self.project, id)
            .map_err(|p| crate::explain::problem(snapshot, self.org, self.kind, self.project, p))?;
        t.creator = creator.and_then(|o| org.member_index(o));
        Ok(t)
    }
}

/// Subject search: every member of the subject's type (`user` or `service_account`) that
/// may do the action on the resource, ordered by id.
fn subjects(snapshot: &Snapshot, client: &PdpClient, request: &Value, now: i64) -> Result<Found, BadField> {
    let c = common(client, request)?;
    let subject_type = required(c.subject, "type", "subject")?;
    let action = action_name(request)?;
    let id = string(c.resource, "id", "resource")?.filter(|id| !id.is_empty());
    let creator = owner(c.properties, "resource.properties")?;
    let outcome = || -> Outcome {
        let org = c.org(snapshot, client)?;
        let service_accounts = is_service_account(subject_type)?;
        let verb = verb_of(kind_info(snapshot, c.kind)?, c.kind, action)?;
        let t = c.target(snapshot, org, id, creator)?;
        Ok(org
            .model
            .members
            .iter()
            .enumerate()
            .filter(|(m, member)| {
                member.service_account == service_accounts && effective_verbs(org, *m as u32, &t, now).contains(verb)
            })
            .map(|(_, member)| (member.id.to_string(), json!({ "type": subject_type, "id": &*member.id })))
            .collect())
    };
    Ok(found(outcome()))
}

/// Resource search: what the subject may do the action on, in every scope of the org or in
/// `properties.project`: kind-wide access as `*`, then the ids beyond it.
fn resources(snapshot: &Snapshot, client: &PdpClient, request: &Value, now: i64) -> Result<Found, BadField> {
    let c = common(client, request)?;
    let subject_type = required(c.subject, "type", "subject")?;
    let subject_id = required(c.subject, "id", "subject")?;
    let action = action_name(request)?;
    if string(c.resource, "id", "resource")?.is_some_and(|id| !id.is_empty()) {
        return Err(bad("resource.id", "a resource search finds ids: leave it out, or ask /access/v1/evaluation"));
    }
    if owner(c.properties, "resource.properties")?.is_some() {
        let p_at = "resource.properties.owner";
        return Err(bad(p_at, "names one resource's creator: a resource search is about every resource"));
    }
    let outcome = || -> Outcome {
        let org = c.org(snapshot, client)?;
        let caller = principal(subject_type, subject_id, c.org)?;
        let verb = verb_of(kind_info(snapshot, c.kind)?, c.kind, action)?;
        if let Some(p) = c.project.filter(|p| org.project_index(p).is_none()) {
            return Err(format!("project '{p}' does not exist in '{}'", c.org));
        }
        let r = reach(snapshot, c.org, caller, c.kind, Some(verb), now).map_err(|e| match e {
            ReachError::UnknownOrg => format!("organisation '{}' does not exist", c.org),
            ReachError::NotAMember => format!("{caller} is not a member of '{}'", c.org),
            ReachError::UnknownKind => format!("unknown resource type '{}'", c.kind),
        })?;
        Ok(resource_results(&c, &r, verb))
    };
    Ok(found(outcome()))
}

/// A reach as resource search results, in the project asked (if one was).
fn resource_results(c: &Common<'_>, r: &Reach<'_>, verb: Verb) -> Vec<(String, Value)> {
    let in_scope = |p: Option<&str>| c.project.is_none_or(|asked| p == Some(asked));
    let entry = |project: Option<&str>, id: &str, matching: Option<(&str, Option<&str>)>| {
        let mut properties = Map::new();
        properties.insert("org".into(), json!(c.org));
        if let Some(p) = project {
            properties.insert("project".into(), json!(p));
        }
        if let Some((how, parent)) = matching {
            properties.insert("match".into(), json!(how));
            if let Some(parent) = parent {
                properties.insert("parent".into(), json!(parent));
            }
        }
        json!({ "type": c.kind, "id": id, "properties": properties })
    };
    // Keys: kind-wide first, then ids; each by project name (none first) and id. No project
    // or id holds a NUL.
    let key = |rank: char, project: Option<&str>, id: &str| format!("{rank}\0{}\0{id}", project.unwrap_or(""));
    let mut results = Vec::new();
    for k in r.kind_wide.iter().filter(|k| in_scope(k.project) && k.verbs.contains(verb)) {
        results.push((key('0', k.project, "*"), entry(k.project, "*", Some(("every", None)))));
    }
    for x in r.ids.iter().filter(|x| in_scope(x.project)) {
        if x.verbs.contains(verb) {
            results.push((key('1', x.project, x.id), entry(x.project, x.id, None)));
        }
        if x.below.is_some_and(|b| b.contains(verb)) {
            let below = format!("{}/*", x.id.trim_end_matches('/'));
            results.push((key('1', x.project, &below), entry(x.project, &below, Some(("below", Some(x.id))))));
        }
    }
    results
}

/// Action search: the verbs the subject holds on the resource, then the kind's other names
/// for them (`[[kind]] actions`).
fn actions(snapshot: &Snapshot, client: &PdpClient, request: &Value, now: i64) -> Result<Found, BadField> {
    let c = common(client, request)?;
    let subject_type = required(c.subject, "type", "subject")?;
    let subject_id = required(c.subject, "id", "subject")?;
    let id = string(c.resource, "id", "resource")?.filter(|id| !id.is_empty());
    let creator = owner(c.properties, "resource.properties")?;
    let outcome = || -> Outcome {
        let org = c.org(snapshot, client)?;
        let caller = principal(subject_type, subject_id, c.org)?;
        let info = kind_info(snapshot, c.kind)?;
        let m = member_of(org, c.org, caller).ok_or_else(|| format!("{caller} is not a member of '{}'", c.org))?;
        let verbs = effective_verbs(org, m, &c.target(snapshot, org, id, creator)?, now);
        let name = |n: &str| json!({ "name": n });
        // Keys: verbs in their order (`0`..`4`), then aliases by name.
        let mut results: Vec<(String, Value)> = Verb::ALL
            .iter()
            .enumerate()
            .filter(|(_, v)| verbs.contains(**v))
            .map(|(i, v)| (i.to_string(), name(v.name())))
            .collect();
        for (alias, _) in info.actions.iter().filter(|(_, v)| verbs.contains(*v)) {
            results.push((format!("{}{alias}", Verb::ALL.len()), name(alias)));
        }
        Ok(results)
    };
    Ok(found(outcome()))
}
