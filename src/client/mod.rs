//! The admin commands of the `portcullis` binary (`org`, `member`, `role`, `share`,
//! `transfer`, `acl`): each one is a call to the admin API of a running gateway, so the CLI
//! is authorised exactly like any other client. The API's address comes from `--admin` (or
//! `PORTCULLIS_ADMIN`), the caller's token from `PORTCULLIS_TOKEN` (kept out of the process
//! list and shell history).

use std::time::Duration;

use clap::{Args, Subcommand};

mod access;
mod org_file;

pub use access::{AccessCommand, access_call};
pub use org_file::{exported, planned};

/// Where the admin API is, and who is calling.
#[derive(Args, Debug, Clone)]
pub struct Connection {
    /// The admin API's base URL.
    #[arg(long, env = "PORTCULLIS_ADMIN", default_value = "http://127.0.0.1:9090", global = true)]
    pub admin: String,
    /// The org to change.
    #[arg(long, global = true)]
    pub org: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum OrgCommand {
    /// Create an org (platform operators only).
    Create {
        #[arg(long)]
        id: String,
        #[arg(long)]
        owner: String,
    },
    /// The orgs you are a member of (an operator: every org).
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show the org's policy as stored, with its revision.
    Show,
    /// Print the org's policy as a policy file (what `org apply` takes back).
    Export {
        /// The org; or --org.
        id: Option<String>,
    },
    /// Make a store-owned org what a policy file says (its `[[org]] id`), in one write: prints
    /// the plan (+ added, ~ changed, - removed), each change authorised as if made alone.
    Apply {
        /// A policy file with one [[org]], as `org export` writes it.
        file: std::path::PathBuf,
        /// Print the plan, and whether it would be allowed; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// The org's audit log.
    Audit {
        /// Only entries after this revision (with --refused: after this number).
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// Members' attempts that were refused (who, what, why), instead of the changes.
        #[arg(long)]
        refused: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum MemberCommand {
    /// Members and service accounts, with their teams and roles.
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Invite a user.
    Invite { id: String },
    /// Add a service account.
    ServiceAccount { id: String },
    /// Remove a member or service account (and everything given to it, its tokens too).
    Remove { id: String },
    /// Issue an API token for a service account; it is printed once.
    IssueToken { account: String },
    /// A service account's tokens (ids and dates).
    Tokens { account: String },
    /// Revoke one of a service account's tokens.
    RevokeToken { account: String, id: String },
}

#[derive(Subcommand, Debug)]
pub enum RoleCommand {
    /// Every role a binding may name (built-in, global, the org's), with its permissions.
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Create a custom org role.
    Create {
        #[arg(long)]
        name: String,
        /// `level:kind:verbs` or `level:kind:id:verbs`; repeat for each entry.
        #[arg(short = 'p', long = "permission", required = true)]
        permissions: Vec<String>,
    },
    /// Replace a custom role's permissions (every holder's access changes with it).
    Edit {
        #[arg(long)]
        name: String,
        #[arg(short = 'p', long = "permission", required = true)]
        permissions: Vec<String>,
    },
    /// Delete a custom role (it must not be bound).
    Delete {
        #[arg(long)]
        name: String,
    },
    /// Bind a role to a member, `team:NAME` or `all`, at org scope or in one project.
    Assign {
        #[arg(long)]
        role: String,
        #[arg(long)]
        subject: String,
        #[arg(long)]
        project: Option<String>,
        #[command(flatten)]
        until: Until,
    },
    /// Remove a binding.
    Unassign {
        #[arg(long)]
        role: String,
        #[arg(long)]
        subject: String,
        #[arg(long)]
        project: Option<String>,
    },
}

/// One page of a list: the server's `next` of the previous page, and how many.
#[derive(Args, Debug, Clone, Default)]
pub struct PageArgs {
    /// Start after this key (the `next` the previous page answered).
    #[arg(long)]
    pub after: Option<String>,
    /// At most this many (1 to 1000; default 100).
    #[arg(long)]
    pub limit: Option<u32>,
}

impl PageArgs {
    fn pairs(&self) -> Vec<(&'static str, Option<String>)> {
        vec![("after", self.after.clone()), ("limit", self.limit.map(|l| l.to_string()))]
    }
}

/// `GET path?after=..&limit=..&more..`
fn list(path: String, page: &PageArgs, more: &[(&'static str, Option<String>)]) -> Call {
    let mut pairs = page.pairs();
    pairs.extend_from_slice(more);
    let pairs: Vec<(&str, Option<&str>)> = pairs.iter().map(|(k, v)| (*k, v.as_deref())).collect();
    Call { method: "GET", path: format!("{path}{}", query(&pairs)), body: None }
}

#[derive(Subcommand, Debug)]
pub enum TeamCommand {
    /// Teams and their members.
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Create a team.
    Create {
        #[arg(long)]
        name: String,
        /// Its members; repeat or comma-separate.
        #[arg(long = "member", value_delimiter = ',')]
        members: Vec<String>,
    },
    /// Add members to a team.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long = "member", value_delimiter = ',', required = true)]
        members: Vec<String>,
    },
    /// Remove members from a team.
    Remove {
        #[arg(long)]
        name: String,
        #[arg(long = "member", value_delimiter = ',', required = true)]
        members: Vec<String>,
    },
    /// Delete a team (its bindings and shares go with it).
    Delete {
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ProjectCommand {
    /// The org's projects.
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Create a project; `--restricted`: only members with a role in it get in.
    Create {
        #[arg(long)]
        id: String,
        #[arg(long)]
        restricted: bool,
    },
    /// Change whether a project is restricted.
    Edit {
        #[arg(long)]
        id: String,
        #[arg(long, action = clap::ArgAction::Set)]
        restricted: bool,
    },
    /// Delete a project (its bindings, shares and creator records go with it).
    Delete {
        #[arg(long)]
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum RequestCommand {
    /// Ask for verbs on one resource (--kind, --id, --verbs, and --project for a project
    /// resource), or for a role in a project (--role, --project), for a while.
    Create {
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        project: Option<String>,
        #[arg(long)]
        id: Option<String>,
        #[arg(long, value_delimiter = ',')]
        verbs: Vec<String>,
        #[arg(long)]
        role: Option<String>,
        /// How long the grant lasts once approved: 90m, 8h, 7d.
        #[arg(long = "for")]
        duration: String,
        #[arg(long)]
        reason: String,
    },
    /// Your requests (all of them with read on members); --approvable: those you could
    /// approve.
    List {
        #[arg(long)]
        approvable: bool,
    },
    /// Approve a request: its grant is made as if you gave it.
    Approve { id: String },
    /// Deny a request.
    Deny { id: String },
}

pub fn request_call(c: &Connection, cmd: &RequestCommand) -> Result<Call, ClientError> {
    let org = org_of(c)?;
    let requests = format!("/v1/orgs/{org}/access-requests");
    Ok(match cmd {
        RequestCommand::Create { kind, project, id, verbs, role, duration, reason } => Call {
            method: "POST",
            path: requests,
            body: Some(serde_json::json!({
                "kind": kind, "project": project, "id": id, "verbs": verbs, "role": role,
                "duration": duration, "reason": reason
            })),
        },
        RequestCommand::List { approvable } => {
            let path = if *approvable { format!("{requests}?approvable=true") } else { requests };
            Call { method: "GET", path, body: None }
        }
        RequestCommand::Approve { id } => Call { method: "POST", path: format!("{requests}/{id}/approve"), body: None },
        RequestCommand::Deny { id } => Call { method: "POST", path: format!("{requests}/{id}/deny"), body: None },
    })
}

#[derive(Subcommand, Debug)]
pub enum BindingCommand {
    /// Bindings, optionally of one project (`--project ""`: organisation scope only) or one
    /// subject.
    List {
        #[command(flatten)]
        page: PageArgs,
        #[arg(long)]
        project: Option<String>,
        #[arg(long)]
        subject: Option<String>,
    },
}

pub fn team_call(c: &Connection, cmd: &TeamCommand) -> Result<Call, ClientError> {
    let org = org_of(c)?;
    let teams = format!("/v1/orgs/{org}/teams");
    Ok(match cmd {
        TeamCommand::List { page } => list(teams, page, &[]),
        TeamCommand::Create { name, members } => {
            Call { method: "POST", path: teams, body: Some(serde_json::json!({ "name": name, "members": members })) }
        }
        TeamCommand::Add { name, members } | TeamCommand::Remove { name, members } => {
            // The API replaces a team's members: read them first, then send the new list.
            let now = team_members(c, org, name)?;
            let adding = matches!(cmd, TeamCommand::Add { .. });
            let mut next: Vec<String> = now.into_iter().filter(|m| adding || !members.contains(m)).collect();
            if adding {
                next.extend(members.iter().filter(|m| !next.contains(m)).cloned().collect::<Vec<_>>());
            }
            Call { method: "PUT", path: format!("{teams}/{name}"), body: Some(serde_json::json!({ "members": next })) }
        }
        TeamCommand::Delete { name } => Call { method: "DELETE", path: format!("{teams}/{name}"), body: None },
    })
}

/// The members of team `name` as the API lists them now.
fn team_members(c: &Connection, org: &str, name: &str) -> Result<Vec<String>, ClientError> {
    let mut after: Option<String> = None;
    loop {
        let pairs = [("after", after.as_deref()), ("limit", Some("1000"))];
        let call = Call { method: "GET", path: format!("/v1/orgs/{org}/teams{}", query(&pairs)), body: None };
        let page = send(c, &call)?;
        let teams = page.get("teams").and_then(|t| t.as_array()).cloned().unwrap_or_default();
        if let Some(team) = teams.iter().find(|t| t.get("name").and_then(|n| n.as_str()) == Some(name)) {
            let members = team.get("members").and_then(|m| m.as_array()).cloned().unwrap_or_default();
            return Ok(members.iter().filter_map(|m| m.as_str().map(str::to_string)).collect());
        }
        match page.get("next").and_then(|n| n.as_str()) {
            Some(next) => after = Some(next.to_string()),
            None => return Err(ClientError::NotFound { what: format!("team '{name}' in org '{org}'") }),
        }
    }
}

pub fn project_call(c: &Connection, cmd: &ProjectCommand) -> Result<Call, ClientError> {
    let org = org_of(c)?;
    let projects = format!("/v1/orgs/{org}/projects");
    Ok(match cmd {
        ProjectCommand::List { page } => list(projects, page, &[]),
        ProjectCommand::Create { id, restricted } => Call {
            method: "POST",
            path: projects,
            body: Some(serde_json::json!({ "id": id, "restricted": restricted })),
        },
        ProjectCommand::Edit { id, restricted } => Call {
            method: "PUT",
            path: format!("{projects}/{id}"),
            body: Some(serde_json::json!({ "restricted": restricted })),
        },
        ProjectCommand::Delete { id } => Call { method: "DELETE", path: format!("{projects}/{id}"), body: None },
    })
}

pub fn binding_call(c: &Connection, cmd: &BindingCommand) -> Result<Call, ClientError> {
    let org = org_of(c)?;
    Ok(match cmd {
        BindingCommand::List { page, project, subject } => list(
            format!("/v1/orgs/{org}/bindings"),
            page,
            &[("project", project.clone()), ("subject", subject.clone())],
        ),
    })
}

/// When a grant ends, if it does: an instant, or a duration from now.
#[derive(Args, Debug, Clone, Default)]
pub struct Until {
    /// The grant counts until this instant (RFC 3339, e.g. 2026-12-31T18:00:00Z).
    #[arg(long, conflicts_with = "for_")]
    pub expires_at: Option<String>,
    /// The grant counts for this long from now: a number and s, m, h or d (`90m`, `8h`, `7d`).
    #[arg(long = "for", id = "for_", value_parser = crate::instant::parse_duration)]
    pub for_: Option<u64>,
}

impl Until {
    /// The `expires_at` to send: as given, or now plus the duration, in RFC 3339.
    fn expires_at(&self) -> Option<String> {
        match (&self.expires_at, self.for_) {
            (Some(at), _) => Some(at.clone()),
            (None, Some(secs)) => Some(crate::instant::render(
                crate::instant::now().saturating_add(i64::try_from(secs).unwrap_or(i64::MAX)),
            )),
            (None, None) => None,
        }
    }
}

/// One resource: kind, optional project, id.
#[derive(Args, Debug, Clone)]
pub struct ResourceArgs {
    #[arg(long)]
    pub kind: String,
    /// The project of a project-level resource.
    #[arg(long)]
    pub project: Option<String>,
    /// The resource id, or `*` for the whole kind.
    #[arg(long)]
    pub id: String,
}

#[derive(Subcommand, Debug)]
pub enum ShareCommand {
    /// Share one resource with a member, `team:NAME` or `all`.
    Create {
        #[command(flatten)]
        resource: ResourceArgs,
        #[arg(long)]
        to: String,
        /// Verbs or access levels, comma-separated: `read,update` or `write`.
        #[arg(long, value_delimiter = ',', required = true)]
        verbs: Vec<String>,
        #[command(flatten)]
        until: Until,
    },
    /// Every direct grant on one resource.
    List {
        #[command(flatten)]
        resource: ResourceArgs,
    },
    /// Revoke one share.
    Revoke {
        #[command(flatten)]
        resource: ResourceArgs,
        #[arg(long)]
        subject: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum TransferCommand {
    /// Start handing the org to a member (owner only).
    Start {
        #[arg(long)]
        to: String,
        /// The role the owner steps down to.
        #[arg(long)]
        step_down_to: String,
    },
    /// Confirm the pending transfer (owner, and new owner, each with their own token).
    Confirm,
    /// Cancel the pending transfer.
    Cancel,
    /// Show the pending transfer.
    Show,
}

#[derive(Subcommand, Debug)]
pub enum AclCommand {
    /// What a principal can access (default: the caller), with where each grant comes from.
    List {
        #[arg(long)]
        principal: Option<String>,
        /// Only this kind.
        #[arg(short = 's', long = "kind")]
        kind: Option<String>,
        /// What the principal has shared with others instead.
        #[arg(long)]
        shared: bool,
    },
}

/// Why an admin command failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("set PORTCULLIS_TOKEN to your token (a JWT or a service account's API token)")]
    NoToken,
    #[error("--org is required for this command")]
    NoOrg,
    #[error("cannot reach the admin API at {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("{status}: {message}")]
    Refused { status: u16, message: String },
    #[error("there is no {what}")]
    NotFound { what: String },
    #[error("cannot read {path}: {message}")]
    File { path: String, message: String },
    #[error("{0}")]
    BadFile(String),
    #[error("{0}")]
    Usage(String),
}

/// An admin API request: method, path below the base URL, optional JSON body.
pub struct Call {
    pub method: &'static str,
    pub path: String,
    pub body: Option<serde_json::Value>,
}

/// `a=b&c=d` with each value percent-encoded.
fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let encode = |v: &str| -> String {
        v.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let parts: Vec<String> = pairs.iter().filter_map(|(k, v)| v.map(|v| format!("{k}={}", encode(v)))).collect();
    if parts.is_empty() { String::new() } else { format!("?{}", parts.join("&")) }
}

fn org_of(c: &Connection) -> Result<&str, ClientError> {
    c.org.as_deref().ok_or(ClientError::NoOrg)
}

pub fn org_call(c: &Connection, cmd: &OrgCommand) -> Result<Call, ClientError> {
    Ok(match cmd {
        OrgCommand::Create { id, owner } => Call {
            method: "POST",
            path: "/v1/orgs".into(),
            body: Some(serde_json::json!({ "id": id, "owner": owner })),
        },
        OrgCommand::List { page } => list("/v1/orgs".into(), page, &[]),
        OrgCommand::Show => Call { method: "GET", path: format!("/v1/orgs/{}", org_of(c)?), body: None },
        OrgCommand::Export { id } => {
            let org = id.as_deref().map_or_else(|| org_of(c), Ok)?;
            Call { method: "GET", path: format!("/v1/orgs/{org}"), body: None }
        }
        OrgCommand::Apply { file, dry_run } => org_file::apply_call(file, *dry_run)?,
        OrgCommand::Audit { after, refused } => {
            let log = if *refused { "audit/refused" } else { "audit" };
            Call { method: "GET", path: format!("/v1/orgs/{}/{log}?after={after}", org_of(c)?), body: None }
        }
    })
}

pub fn member_call(c: &Connection, cmd: &MemberCommand) -> Result<Call, ClientError> {
    let org = org_of(c)?;
    Ok(match cmd {
        MemberCommand::List { page } => list(format!("/v1/orgs/{org}/members"), page, &[]),
        MemberCommand::Invite { id } => Call {
            method: "POST",
            path: format!("/v1/orgs/{org}/members"),
            body: Some(serde_json::json!({ "id": id })),
        },
        MemberCommand::ServiceAccount { id } => Call {
            method: "POST",
            path: format!("/v1/orgs/{org}/service-accounts"),
            body: Some(serde_json::json!({ "id": id })),
        },
        MemberCommand::Remove { id } => {
            Call { method: "DELETE", path: format!("/v1/orgs/{org}/members/{id}"), body: None }
        }
        MemberCommand::IssueToken { account } => {
            Call { method: "POST", path: format!("/v1/orgs/{org}/service-accounts/{account}/tokens"), body: None }
        }
        MemberCommand::Tokens { account } => {
            Call { method: "GET", path: format!("/v1/orgs/{org}/service-accounts/{account}/tokens"), body: None }
        }
        MemberCommand::RevokeToken { account, id } => Call {
            method: "DELETE",
            path: format!("/v1/orgs/{org}/service-accounts/{account}/tokens/{id}"),
            body: None,
        },
    })
}

pub fn role_call(c: &Connection, cmd: &RoleCommand) -> Result<Call, ClientError> {
    let org = org_of(c)?;
    Ok(match cmd {
        RoleCommand::List { page } => list(format!("/v1/orgs/{org}/roles"), page, &[]),
        RoleCommand::Create { name, permissions } => Call {
            method: "POST",
            path: format!("/v1/orgs/{org}/roles"),
            body: Some(serde_json::json!({ "name": name, "permissions": permissions })),
        },
        RoleCommand::Edit { name, permissions } => Call {
            method: "PUT",
            path: format!("/v1/orgs/{org}/roles/{name}"),
            body: Some(serde_json::json!({ "permissions": permissions })),
        },
        RoleCommand::Delete { name } => {
            Call { method: "DELETE", path: format!("/v1/orgs/{org}/roles/{name}"), body: None }
        }
        RoleCommand::Assign { role, subject, project, until } => Call {
            method: "POST",
            path: format!("/v1/orgs/{org}/bindings"),
            body: Some(serde_json::json!({
                "subject": subject, "role": role, "project": project, "expires_at": until.expires_at()
            })),
        },
        RoleCommand::Unassign { role, subject, project } => Call {
            method: "DELETE",
            path: format!(
                "/v1/orgs/{org}/bindings{}",
                query(&[("subject", Some(subject)), ("role", Some(role)), ("project", project.as_deref())])
            ),
            body: None,
        },
    })
}

pub fn share_call(c: &Connection, cmd: &ShareCommand) -> Result<Call, ClientError> {
    let org = org_of(c)?;
    let resource = |r: &ResourceArgs, extra: Option<(&'static str, &str)>| {
        let mut pairs =
            vec![("kind", Some(r.kind.as_str())), ("project", r.project.as_deref()), ("id", Some(r.id.as_str()))];
        if let Some((k, v)) = extra {
            pairs.push((k, Some(v)));
        }
        query(&pairs)
    };
    Ok(match cmd {
        ShareCommand::Create { resource: r, to, verbs, until } => Call {
            method: "POST",
            path: format!("/v1/orgs/{org}/shares"),
            body: Some(serde_json::json!({
                "subject": to, "kind": r.kind, "project": r.project, "id": r.id, "verbs": verbs,
                "expires_at": until.expires_at()
            })),
        },
        ShareCommand::List { resource: r } => {
            Call { method: "GET", path: format!("/v1/orgs/{org}/shares{}", resource(r, None)), body: None }
        }
        ShareCommand::Revoke { resource: r, subject } => Call {
            method: "DELETE",
            path: format!("/v1/orgs/{org}/shares{}", resource(r, Some(("subject", subject)))),
            body: None,
        },
    })
}

pub fn transfer_call(c: &Connection, cmd: &TransferCommand) -> Result<Call, ClientError> {
    let org = org_of(c)?;
    let path = format!("/v1/orgs/{org}/transfer");
    Ok(match cmd {
        TransferCommand::Start { to, step_down_to } => {
            Call { method: "POST", path, body: Some(serde_json::json!({ "to": to, "step_down_to": step_down_to })) }
        }
        TransferCommand::Confirm => Call { method: "POST", path: format!("{path}/confirm"), body: None },
        TransferCommand::Cancel => Call { method: "DELETE", path, body: None },
        TransferCommand::Show => Call { method: "GET", path, body: None },
    })
}

pub fn acl_call(c: &Connection, cmd: &AclCommand) -> Result<Call, ClientError> {
    let org = org_of(c)?;
    let AclCommand::List { principal, kind, shared } = cmd;
    let q =
        query(&[("principal", principal.as_deref()), ("kind", kind.as_deref()), ("shared", shared.then_some("true"))]);
    Ok(Call { method: "GET", path: format!("/v1/orgs/{org}/acl{q}"), body: None })
}

/// Sends `call` with the token from `PORTCULLIS_TOKEN`; the answer's JSON on success.
pub fn send(c: &Connection, call: &Call) -> Result<serde_json::Value, ClientError> {
    let token = std::env::var("PORTCULLIS_TOKEN").map_err(|_| ClientError::NoToken)?;
    let url = format!("{}{}", c.admin.trim_end_matches('/'), call.path);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into();
    let bearer = format!("Bearer {token}");
    let unreachable = |e: ureq::Error| ClientError::Unreachable { url: c.admin.clone(), message: e.to_string() };
    let response = match (call.method, &call.body) {
        ("GET", _) => agent.get(&url).header("authorization", &bearer).call(),
        ("DELETE", _) => agent.delete(&url).header("authorization", &bearer).call(),
        (method, body) => {
            let text = body.as_ref().map_or_else(|| "{}".to_string(), ToString::to_string);
            let builder = match method {
                "PUT" => agent.put(&url),
                _ => agent.post(&url),
            };
            builder.header("authorization", &bearer).content_type("application/json").send(text)
        }
    };
    let mut response = response.map_err(unreachable)?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().map_err(unreachable)?;
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    if status >= 400 {
        let message = value.get("error").and_then(|e| e.as_str()).map_or_else(|| value.to_string(), str::to_string);
        return Err(ClientError::Refused { status, message });
    }
    Ok(value)
}
