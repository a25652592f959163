//! `portcullis access`: who can do what on a resource, and why (the admin API's access
//! review, `GET /v1/orgs/{org}/access`), and what one principal can reach
//! (`GET /v1/orgs/{org}/access/principals/{p}`).

use clap::Subcommand;

use super::{Call, ClientError, Connection, org_of, query};

#[derive(Subcommand, Debug)]
pub enum AccessCommand {
    /// Every member and service account that can act on one resource (or, with --verb, do
    /// that), each with its verbs and every reason: role and binding, share, creator, owner.
    Who {
        #[arg(long)]
        kind: String,
        /// The project of a project-level resource.
        #[arg(long)]
        project: Option<String>,
        /// The resource id; without it, the collection.
        #[arg(long)]
        id: Option<String>,
        /// Only those that can do this verb.
        #[arg(long)]
        verb: Option<String>,
        /// The member id to continue after (the previous page's `next`).
        #[arg(long)]
        after: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
    },
    /// What one member or service account can reach of a kind: kind-wide access per level
    /// and project, then the ids where it holds more (shares, creator records, role entries
    /// narrowed to an id).
    Reach {
        /// A user id, or sa:NAME (or sa:ORG/NAME) for one of the org's service accounts.
        #[arg(long)]
        principal: String,
        #[arg(long)]
        kind: String,
        /// Only where it can do this verb.
        #[arg(long)]
        verb: Option<String>,
        /// Continue after this id (the previous page's `next.id`) ...
        #[arg(long)]
        after: Option<String>,
        /// ... in this project (the previous page's `next.project`, if it had one).
        #[arg(long)]
        after_project: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
    },
}

pub fn access_call(c: &Connection, cmd: &AccessCommand) -> Result<Call, ClientError> {
    let org = org_of(c)?;
    let (kind, project, id, verb, after, limit) = match cmd {
        AccessCommand::Who { kind, project, id, verb, after, limit } => (kind, project, id, verb, after, limit),
        AccessCommand::Reach { principal, kind, verb, after, after_project, limit } => {
            let limit = limit.map(|l| l.to_string());
            let q = query(&[
                ("kind", Some(kind.as_str())),
                ("verb", verb.as_deref()),
                ("after_project", after_project.as_deref()),
                ("after", after.as_deref()),
                ("limit", limit.as_deref()),
            ]);
            let p = principal_segment(principal, org)?;
            return Ok(Call { method: "GET", path: format!("/v1/orgs/{org}/access/principals/{p}{q}"), body: None });
        }
    };
    let limit = limit.map(|l| l.to_string());
    let q = query(&[
        ("kind", Some(kind.as_str())),
        ("project", project.as_deref()),
        ("id", id.as_deref()),
        ("verb", verb.as_deref()),
        ("after", after.as_deref()),
        ("limit", limit.as_deref()),
    ]);
    Ok(Call { method: "GET", path: format!("/v1/orgs/{org}/access{q}"), body: None })
}

/// The principal as the path names it: the API takes the org's service accounts as
/// `sa:NAME`, since a path segment cannot hold the `/` of `sa:ORG/NAME`.
fn principal_segment(principal: &str, org: &str) -> Result<String, ClientError> {
    let Some(rest) = principal.strip_prefix("sa:") else { return Ok(principal.to_string()) };
    match rest.split_once('/') {
        None => Ok(principal.to_string()),
        Some((o, name)) if o == org && !name.is_empty() => Ok(format!("sa:{name}")),
        Some((o, _)) => Err(ClientError::Usage(format!(
            "--principal {principal}: a service account of org '{o}' is nobody in org '{org}'; give sa:NAME for one \
             of {org}'s service accounts"
        ))),
    }
}
