//! AuthZEN's information model read into a decision: `subject`, `resource`, `action` as
//! the specification writes them, mapped onto the model's org, kind, project, id and verb.
//!
//! A request that is not the specification's shape is a 400 naming the field. One that is
//! well formed but names what the model does not know (a subject type, an org, a kind, an
//! action) is a deny with its reason, never an error a PEP could take for an allow.

use serde_json::{Map, Value};

use crate::config::PdpClient;
use crate::decide::{Request, decide, decide_with_creator};
use crate::model::Verb;
use crate::policy::KindInfo;
use crate::principal::Caller;
use crate::snapshot::Snapshot;

/// A field of the request that is missing or of the wrong type.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct BadField {
    /// Where, as a path into the request (`evaluations[2].resource.type`).
    pub field: String,
    pub message: String,
}

pub(super) fn bad(field: impl Into<String>, message: impl Into<String>) -> BadField {
    BadField { field: field.into(), message: message.into() }
}

/// One decision and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub allowed: bool,
    pub reason: String,
}

fn deny(reason: impl Into<String>) -> Outcome {
    Outcome { allowed: false, reason: reason.into() }
}

/// The object at `key` of `parent`, which is required.
pub(super) fn object<'v>(parent: &'v Value, key: &str, at: &str) -> Result<&'v Map<String, Value>, BadField> {
    match parent.get(key) {
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(bad(join(at, key), "must be an object")),
        None => Err(bad(join(at, key), "is required")),
    }
}

/// The string at `key` of `map`: `Ok(None)` when absent, an error when not a string.
pub(super) fn string<'v>(map: &'v Map<String, Value>, key: &str, at: &str) -> Result<Option<&'v str>, BadField> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(join(at, key), "must be a string")),
    }
}

pub(super) fn required<'v>(map: &'v Map<String, Value>, key: &str, at: &str) -> Result<&'v str, BadField> {
    string(map, key, at)?.ok_or_else(|| bad(join(at, key), "is required"))
}

pub(super) fn join(at: &str, key: &str) -> String {
    if at.is_empty() { key.to_string() } else { format!("{at}.{key}") }
}

/// One evaluation as the request wrote it, checked for shape.
#[derive(Clone, Copy, Debug)]
pub struct Asked<'v> {
    subject_type: &'v str,
    subject_id: &'v str,
    kind: &'v str,
    id: Option<&'v str>,
    action: &'v str,
    org: &'v str,
    project: Option<&'v str>,
    owner: Option<&'v str>,
}

/// Reads one evaluation: `tuple` holds `subject`, `resource` and `action` (objects), its
/// fields named under `at` in errors; `client`'s org stands in for a missing one.
pub fn read<'v>(client: &'v PdpClient, tuple: &'v Value, at: &str) -> Result<Asked<'v>, BadField> {
    let subject = object(tuple, "subject", at)?;
    let resource = object(tuple, "resource", at)?;
    let action = object(tuple, "action", at)?;
    let (s_at, r_at, a_at) = (join(at, "subject"), join(at, "resource"), join(at, "action"));
    let subject_type = required(subject, "type", &s_at)?;
    let subject_id = required(subject, "id", &s_at)?;
    let kind = required(resource, "type", &r_at)?;
    let id = string(resource, "id", &r_at)?.filter(|id| !id.is_empty());
    let action = required(action, "name", &a_at)?;
    let p_at = join(&r_at, "properties");
    let properties = properties(resource, &r_at)?;
    let org = org_of(client, properties, &p_at)?;
    let project = property(properties, "project", &p_at)?;
    let owner = owner(properties, &p_at)?;
    Ok(Asked { subject_type, subject_id, kind, id, action, org, project, owner })
}

/// `resource.properties`, which may be left out.
pub(super) fn properties<'v>(
    resource: &'v Map<String, Value>,
    r_at: &str,
) -> Result<Option<&'v Map<String, Value>>, BadField> {
    match resource.get("properties") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(bad(join(r_at, "properties"), "must be an object")),
    }
}

/// The string property `key`, if there are properties and it is set.
pub(super) fn property<'v>(
    properties: Option<&'v Map<String, Value>>,
    key: &str,
    p_at: &str,
) -> Result<Option<&'v str>, BadField> {
    properties.map_or(Ok(None), |p| string(p, key, p_at))
}

/// The resource's creator as the request states it: `owner`, or `ownerID`.
pub(super) fn owner<'v>(properties: Option<&'v Map<String, Value>>, p_at: &str) -> Result<Option<&'v str>, BadField> {
    match property(properties, "owner", p_at)? {
        Some(o) => Ok(Some(o)),
        None => property(properties, "ownerID", p_at),
    }
}

/// The org asked about: the `org` property, else the client's own.
pub(super) fn org_of<'v>(
    client: &'v PdpClient,
    properties: Option<&'v Map<String, Value>>,
    p_at: &str,
) -> Result<&'v str, BadField> {
    match (property(properties, "org", p_at)?, client.org.as_deref()) {
        (Some(org), _) | (None, Some(org)) => Ok(org),
        (None, None) => {
            let why = format!("is required: PDP client '{}' has no default org", client.name);
            Err(bad(join(p_at, "org"), why))
        }
    }
}

/// Why `client` may not ask about `org`, if it may not.
pub(super) fn outside_client(client: &PdpClient, org: &str) -> Option<String> {
    let own = client.org.as_deref().filter(|own| *own != org)?;
    Some(format!("PDP client '{}' decides for org '{own}' only, not '{org}'", client.name))
}

/// The principal a subject names in `org`, or why none.
pub(super) fn principal<'v>(subject_type: &str, id: &'v str, org: &'v str) -> Result<Caller<'v>, String> {
    Ok(match is_service_account(subject_type)? {
        false => Caller::User(id),
        true => Caller::ServiceAccount { org, name: id },
    })
}

/// Whether a subject type names service accounts (or users), or why it names neither.
pub(super) fn is_service_account(subject_type: &str) -> Result<bool, String> {
    match subject_type {
        "user" => Ok(false),
        "service_account" => Ok(true),
        other => Err(format!("unknown subject type '{other}': a subject is a 'user' or a 'service_account'")),
    }
}

/// The kind a resource type names, or why none.
pub(super) fn kind_info<'s>(snapshot: &'s Snapshot, kind: &str) -> Result<&'s KindInfo, String> {
    let kinds = &snapshot.globals().kinds;
    kinds
        .get(kind)
        .and_then(|k| kinds.info(k))
        .ok_or_else(|| format!("unknown resource type '{kind}': no kind of that name is declared"))
}

/// The verb `action` names on kind `info` (named `kind`), or why none.
pub(super) fn verb_of(info: &KindInfo, kind: &str, action: &str) -> Result<Verb, String> {
    info.verb(action).ok_or_else(|| {
        format!(
            "unknown action '{action}' on '{kind}': an action is a verb (list, read, create, update, delete) or one of \
             the kind's `actions`"
        )
    })
}

/// Decides a well-formed evaluation for `client` at `now`: what the model does not know is
/// a deny.
pub fn evaluate(snapshot: &Snapshot, client: &PdpClient, asked: &Asked<'_>, now: i64) -> Outcome {
    let Asked { subject_type, subject_id, kind, id, action, org, project, owner } = *asked;
    if let Some(why) = outside_client(client, org) {
        return deny(why);
    }
    let principal = match principal(subject_type, subject_id, org) {
        Ok(p) => p,
        Err(why) => return deny(why),
    };
    let verb = match kind_info(snapshot, kind).and_then(|info| verb_of(info, kind, action)) {
        Ok(verb) => verb,
        Err(why) => return deny(why),
    };
    let request = Request { org, principal, project, kind, id, verb, at: now };
    let decision = decide_with_creator(snapshot, &request, owner);
    // Worked out only for a client that sees it.
    let reason = if !client.reasons {
        String::new()
    } else if decision.allowed && !decide(snapshot, &request).allowed {
        format!("allowed by an `owned` role entry: the request states '{}' created it", owner.unwrap_or_default())
    } else {
        crate::explain::explain(snapshot, &request).text
    };
    Outcome { allowed: decision.allowed, reason }
}

/// How a batch is run (`options.evaluations_semantic`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Semantic {
    ExecuteAll,
    DenyOnFirstDeny,
    PermitOnFirstPermit,
}

impl Semantic {
    pub fn parse(request: &Value) -> Result<Semantic, BadField> {
        let options = match request.get("options") {
            None | Some(Value::Null) => return Ok(Semantic::ExecuteAll),
            Some(Value::Object(m)) => m,
            Some(_) => return Err(bad("options", "must be an object")),
        };
        match string(options, "evaluations_semantic", "options")? {
            None | Some("execute_all") => Ok(Semantic::ExecuteAll),
            Some("deny_on_first_deny") => Ok(Semantic::DenyOnFirstDeny),
            Some("permit_on_first_permit") => Ok(Semantic::PermitOnFirstPermit),
            Some(other) => Err(bad(
                "options.evaluations_semantic",
                format!("'{other}' is not one of execute_all, deny_on_first_deny, permit_on_first_permit"),
            )),
        }
    }

    /// Whether the batch stops after a decision of `allowed`.
    pub fn stops_at(self, allowed: bool) -> bool {
        match self {
            Semantic::ExecuteAll => false,
            Semantic::DenyOnFirstDeny => !allowed,
            Semantic::PermitOnFirstPermit => allowed,
        }
    }
}

/// The 4-tuple of `item` with the batch's top-level `defaults` for the keys it lacks.
pub fn with_defaults(defaults: &Value, item: &Value, at: &str) -> Result<Value, BadField> {
    let Value::Object(item) = item else { return Err(bad(at, "must be an object")) };
    let mut tuple = Map::new();
    for key in ["subject", "resource", "action", "context"] {
        if let Some(v) = item.get(key).or_else(|| defaults.get(key)) {
            tuple.insert(key.to_string(), v.clone());
        }
    }
    Ok(Value::Object(tuple))
}
