//! `portcullis access`: who can do what on a resource, and why (the admin API's access
//! review, `GET /v1/orgs/{org}/access`).

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
}

pub fn access_call(c: &Connection, cmd: &AccessCommand) -> Result<Call, ClientError> {
    let org = org_of(c)?;
    let AccessCommand::Who { kind, project, id, verb, after, limit } = cmd;
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
