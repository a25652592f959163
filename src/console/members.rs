//! An org's members and service accounts: who they are, their teams and roles; invite a
//! member, add a service account, remove either. Each change is the control plane's own
//! edit, made as the signed-in user, so a refusal is the model's, shown beside the form.

use http::{Response, StatusCode};

use super::html::{esc, html, page, redirect};
use super::{Console, signed_in};
use crate::console::session::Session;
use crate::control::{AdminError, Filter, Listing};
use crate::edit::Edit;

/// What a member form asks for.
pub(super) enum Change<'f> {
    Invite(&'f str),
    ServiceAccount(&'f str),
    Remove(&'f str),
}

impl Console {
    /// The members page, with `error` (a refused change) above the forms.
    pub(super) fn members_page(
        &self,
        session: &Session,
        org: &str,
        error: Option<(StatusCode, &str)>,
    ) -> Response<Vec<u8>> {
        let listed = self.control.list(org, &session.identity, Listing::Members, &Filter::default(), None, usize::MAX);
        let page_of = |status, body: String| html(status, page(&format!("{org}: members"), signed_in(session), &body));
        let csrf = esc(&session.csrf);
        let action = format!("/console/orgs/{}/members", esc(org));
        let mut body = String::new();
        if let Some((_, message)) = error {
            body.push_str(&format!("<p class=\"error\">{}</p>\n", esc(message)));
        }
        // Who may not read the list still sees why, and the forms (the model decides those).
        let (members, status) = match listed {
            Ok(p) => (p.items, StatusCode::OK),
            Err(e) => {
                body.push_str(&format!("<p class=\"error\">{}</p>\n", esc(&e.to_string())));
                (Vec::new(), refusal_status(&e))
            }
        };
        body.push_str("<table><tr><th>Member</th><th>Type</th><th>Teams</th><th>Roles</th><th></th></tr>\n");
        for m in &members {
            let id = m["id"].as_str().unwrap_or_default();
            let roles: Vec<String> = m["roles"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|b| {
                    let role = b["role"].as_str().unwrap_or_default();
                    match b["project"].as_str() {
                        Some(p) => format!("{} in {}", esc(role), esc(p)),
                        None => esc(role),
                    }
                })
                .collect();
            let teams: Vec<String> =
                m["teams"].as_array().into_iter().flatten().filter_map(|t| t.as_str()).map(esc).collect();
            let owner = m["owner"].as_bool().unwrap_or(false);
            let remove = if owner {
                "owner".to_string()
            } else {
                format!(
                    "<form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                     <input type=\"hidden\" name=\"remove\" value=\"{}\"><button>Remove</button></form>",
                    esc(id)
                )
            };
            body.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{remove}</td></tr>\n",
                esc(id),
                if m["type"] == "service_account" { "service account" } else { "user" },
                teams.join(", "),
                roles.join(", "),
            ));
        }
        body.push_str("</table>\n");
        body.push_str(&format!(
            "<h2>Invite a member</h2><form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"csrf\" \
             value=\"{csrf}\"><input name=\"invite\" required placeholder=\"user id\"> <button>Invite</button></form>\n\
             <h2>Add a service account</h2><form method=\"post\" action=\"{action}\"><input type=\"hidden\" \
             name=\"csrf\" value=\"{csrf}\"><input name=\"service_account\" required placeholder=\"name\"> \
             <button>Add</button></form>\n"
        ));
        page_of(error.map_or(status, |(s, _)| s), body)
    }

    /// Makes `change` in `org` as the signed-in user: back to the page, or the page with
    /// the refusal.
    pub(super) async fn change_member(&self, session: &Session, org: &str, change: Change<'_>) -> Response<Vec<u8>> {
        let (edit, detail) = match change {
            Change::Invite(id) => (Edit::InviteMember { id: id.to_string() }, format!("console: invite {id}")),
            Change::ServiceAccount(id) => {
                (Edit::CreateServiceAccount { id: id.to_string() }, format!("console: service account {id}"))
            }
            Change::Remove(id) => (Edit::RemoveMember { id: id.to_string() }, format!("console: remove {id}")),
        };
        match self.control.edit(org, &session.identity, &edit, &detail).await {
            Ok(_) => redirect(&format!("/console/orgs/{org}/members"), None),
            Err(e) => self.members_page(session, org, Some((refusal_status(&e), &e.to_string()))),
        }
    }
}

/// The status a refusal is shown with: what the admin API would answer, roughly.
fn refusal_status(e: &AdminError) -> StatusCode {
    match e {
        AdminError::UnknownOrg { .. } | AdminError::Refused(crate::manage::Refusal::UnknownOrg { .. }) => {
            StatusCode::NOT_FOUND
        }
        AdminError::Refused(crate::manage::Refusal::NotAMember { .. }) => StatusCode::NOT_FOUND,
        AdminError::Refused(_) | AdminError::Forbidden { .. } | AdminError::NotOperator { .. } => StatusCode::FORBIDDEN,
        AdminError::Store(_) | AdminError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::CONFLICT,
    }
}
