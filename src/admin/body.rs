//! Admin request bodies: the JSON each endpoint takes, parsed strictly (unknown fields and
//! wrong types are a 400 naming the field), apart from the routing in `mod.rs` so that the
//! fuzz target can reach the same parsing without a socket.

use http::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::Answer;
use crate::policy::{Permission, parse_permission, parse_share_verbs};

/// A 400 for a body that is not what the endpoint takes.
pub(super) fn bad_body(e: impl std::fmt::Display) -> Answer {
    Answer::error(StatusCode::BAD_REQUEST, format!("bad request body: {e}"))
}

/// Parses a JSON body; errors name the field (`owner: invalid type: integer...`).
pub(super) fn body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Answer> {
    if bytes.is_empty() {
        return Err(bad_body("expected a JSON object, got an empty body"));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        if path == "." { bad_body(e.into_inner()) } else { bad_body(format!("field `{path}`: {}", e.into_inner())) }
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewOrg {
    pub(super) id: String,
    pub(super) owner: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewMember {
    pub(super) id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewTeam {
    pub(super) name: String,
    #[serde(default)]
    pub(super) members: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TeamMembers {
    pub(super) members: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewProject {
    pub(super) id: String,
    #[serde(default)]
    pub(super) restricted: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProjectChange {
    pub(super) restricted: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewRole {
    pub(super) name: String,
    pub(super) permissions: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RolePermissions {
    pub(super) permissions: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BindingBody {
    pub(super) subject: String,
    pub(super) role: String,
    #[serde(default)]
    pub(super) project: Option<String>,
    /// RFC 3339; the binding counts until then.
    #[serde(default)]
    pub(super) expires_at: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ShareBody {
    pub(super) subject: String,
    pub(super) kind: String,
    #[serde(default)]
    pub(super) project: Option<String>,
    pub(super) id: String,
    pub(super) verbs: Vec<String>,
    /// RFC 3339; the share counts until then.
    #[serde(default)]
    pub(super) expires_at: Option<String>,
}

/// `POST /v1/orgs/{org}/access-requests`: verbs on one resource, or a role in a project.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RequestBody {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    verbs: Vec<String>,
    #[serde(default)]
    role: Option<String>,
    /// How long the grant lasts once approved: `90m`, `8h`, `7d`.
    duration: String,
    reason: String,
}

impl RequestBody {
    /// What is asked, for how many seconds, and why; or a 400 naming the field.
    pub(super) fn checked(self) -> Result<(crate::control::Asked, u64, String), Answer> {
        use crate::control::{Asked, MAX_DURATION_SECS};
        let duration =
            crate::instant::parse_duration(&self.duration).map_err(|e| bad_body(format!("field `duration`: {e}")))?;
        if duration > MAX_DURATION_SECS {
            return Err(bad_body(format!("field `duration`: at most {} days", MAX_DURATION_SECS / 86_400)));
        }
        let reason = self.reason.trim().to_string();
        if reason.is_empty() || reason.len() > 1_000 {
            return Err(bad_body("field `reason`: say why, in 1 to 1000 characters"));
        }
        let asked = match (self.role, self.kind, self.id) {
            (Some(role), None, None) if self.verbs.is_empty() => {
                let project =
                    self.project.ok_or_else(|| bad_body("field `project`: a role is asked for in one project"))?;
                Asked::Role { role, project }
            }
            (None, Some(kind), Some(id)) => {
                let verbs = parse_share_verbs(&self.verbs).map_err(|k| bad_body(format!("field `verbs`: {k}")))?;
                if verbs.is_empty() {
                    return Err(bad_body("field `verbs`: ask for at least one verb"));
                }
                Asked::Resource { kind, project: self.project, id, verbs: self.verbs }
            }
            _ => {
                return Err(bad_body(
                    "ask either for `verbs` on one resource (`kind`, `id`, and `project` for a project resource) or for a \
                     `role` in a `project`, not both",
                ));
            }
        };
        Ok((asked, duration, reason))
    }
}

/// A request body's `expires_at`: an RFC 3339 instant after `now`, or a 400 that says so.
pub(super) fn expires_at(value: Option<&str>, now: i64) -> Result<Option<i64>, Answer> {
    let Some(text) = value else { return Ok(None) };
    let at = crate::instant::parse(text).map_err(|e| bad_body(format!("field `expires_at`: {e}")))?;
    if at <= now {
        return Err(bad_body(format!(
            "field `expires_at`: {} is not in the future (now is {}): give a later instant, or none for a grant that does not end",
            crate::instant::render(at),
            crate::instant::render(now)
        )));
    }
    Ok(Some(at))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExplainBody {
    pub(super) method: String,
    pub(super) path: String,
    /// The token of the request to explain (not the caller's).
    #[serde(default)]
    pub(super) token: Option<String>,
    /// More headers of the request, as `Name: value` lines.
    #[serde(default)]
    pub(super) headers: Vec<String>,
}

/// `POST /v1/orgs/{org}/apply`: a policy file's text, its name for messages, and whether
/// only to plan.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ApplyBody {
    pub(super) policy: String,
    #[serde(default)]
    pub(super) file: Option<String>,
    #[serde(default)]
    pub(super) dry_run: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TransferBody {
    pub(super) to: String,
    pub(super) step_down_to: String,
}

pub(super) fn permissions(entries: &[String]) -> Result<Vec<Permission>, Answer> {
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| parse_permission(e).map_err(|k| bad_body(format!("field `permissions[{i}]`: {k}"))))
        .collect()
}

/// Parses `bytes` as each endpoint's body, and the permissions and verbs inside, as the
/// endpoints do; returns how many endpoints accept it. For the fuzz target: nothing here
/// may panic on any input.
#[doc(hidden)]
pub fn parse_as_every_body(bytes: &[u8]) -> usize {
    let role = body::<NewRole>(bytes).and_then(|r| permissions(&r.permissions));
    let grid = body::<RolePermissions>(bytes).and_then(|r| permissions(&r.permissions));
    let share = body::<ShareBody>(bytes)
        .and_then(|b| parse_share_verbs(&b.verbs).map_err(|k| bad_body(format!("field `verbs`: {k}"))));
    [
        body::<NewOrg>(bytes).is_ok(),
        body::<NewMember>(bytes).is_ok(),
        body::<NewTeam>(bytes).is_ok(),
        body::<TeamMembers>(bytes).is_ok(),
        body::<NewProject>(bytes).is_ok(),
        body::<ProjectChange>(bytes).is_ok(),
        role.is_ok(),
        grid.is_ok(),
        body::<BindingBody>(bytes).is_ok(),
        share.is_ok(),
        body::<ExplainBody>(bytes).is_ok(),
        body::<TransferBody>(bytes).is_ok(),
        body::<RequestBody>(bytes).and_then(RequestBody::checked).is_ok(),
    ]
    .into_iter()
    .filter(|ok| *ok)
    .count()
}
