//! An org's members and service accounts: who they are, their teams and their roles; invite
//! a member, add a service account, remove either, assign and take back a role, issue and
//! revoke a service account's API tokens (a token is shown once, on the page its issue
//! answers with). Each change is the control plane's own, made as the signed-in user, so a
//! refusal is the model's, shown above the forms.

use http::Response;
use serde_json::Value;

use super::Console;
use super::form::{Fields, field};
use super::html::{button, csrf, esc, redirect, select, url};
use super::org::Said;
use super::session::Session;
use crate::control::{Filter, Listing};
use crate::edit::Edit;

impl Console {
    /// The members page, with `said_` above the forms.
    pub(super) async fn members_page(&self, s: &Session, org: &str, said_: Option<Said>) -> Response<Vec<u8>> {
        let here = format!("/console/orgs/{}/members", url(org));
        let mut body = String::new();
        // Who may not read the list still sees why, and the forms (the model decides those).
        let members = match self.control.list(org, &s.identity, Listing::Members, &Filter::default(), None, usize::MAX)
        {
            Ok(p) => p.items,
            Err(e) => {
                body.push_str(&super::html::said(&e.to_string(), true));
                Vec::new()
            }
        };
        body.push_str(
            "<table id=\"members\"><tr><th>Member</th><th>Type</th><th>Teams</th><th>Roles</th><th></th></tr>\n",
        );
        let mut accounts = Vec::new();
        for m in &members {
            let id = m["id"].as_str().unwrap_or_default();
            let service_account = m["type"] == "service_account";
            if service_account {
                accounts.push(id);
            }
            let teams: Vec<String> =
                m["teams"].as_array().into_iter().flatten().filter_map(Value::as_str).map(esc).collect();
            let remove = match m["owner"].as_bool().unwrap_or(false) {
                true => "owner".to_string(),
                false => button(&here, &s.csrf, &[("remove", id)], "Remove"),
            };
            body.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{remove}</td></tr>\n",
                esc(id),
                if service_account { "service account" } else { "user" },
                teams.join(", "),
                self.roles_cell(s, org, m["roles"].as_array().map(Vec::as_slice).unwrap_or_default(), None),
            ));
        }
        body.push_str("</table>\n");
        body.push_str(&self.assign_form(s, org, None));
        body.push_str(&format!(
            "<h2>Invite a member</h2><form method=\"post\" action=\"{here}\" class=\"row\" id=\"invite\">{0}<input name=\"invite\" \
             required placeholder=\"user id\" aria-label=\"user id\"> <button>Invite</button></form>\n\
             <h2>Add a service account</h2><form method=\"post\" action=\"{here}\" class=\"row\">{0}<input \
             name=\"service_account\" required placeholder=\"name\" aria-label=\"service account name\"> \
             <button>Add</button></form>\n",
            csrf(&s.csrf)
        ));
        if !accounts.is_empty() {
            body.push_str("<h2>API tokens</h2>\n<table id=\"tokens\"><tr><th>Service account</th><th>Token</th><th>Issued</th><th></th></tr>\n");
            for account in accounts {
                match self.control.list_tokens(org, &s.identity, account).await {
                    Ok(tokens) => {
                        for t in tokens.iter().filter(|t| t.revoked_at.is_none()) {
                            body.push_str(&format!(
                                "<tr><td>{}</td><td><code>{}</code></td><td>{} by {}</td><td>{}</td></tr>\n",
                                esc(account),
                                esc(&t.id),
                                esc(&crate::instant::render(t.created_at)),
                                esc(&t.created_by),
                                button(&here, &s.csrf, &[("revoke_token", &t.id), ("account", account)], "Revoke"),
                            ));
                        }
                        body.push_str(&format!(
                            "<tr><td>{}</td><td colspan=\"3\">{}</td></tr>\n",
                            esc(account),
                            button(&here, &s.csrf, &[("issue_token", account)], "Issue a token")
                        ));
                    }
                    Err(e) => body.push_str(&format!(
                        "<tr><td>{}</td><td colspan=\"3\">{}</td></tr>\n",
                        esc(account),
                        esc(&e.to_string())
                    )),
                }
            }
            body.push_str("</table>\n");
        }
        self.show(s, org, "members", said_, body)
    }

    pub(super) async fn members_post(&self, s: &Session, org: &str, fields: &Fields) -> Response<Vec<u8>> {
        let edit = if let Some(id) = field(fields, "invite") {
            Edit::InviteMember { id: id.to_string() }
        } else if let Some(id) = field(fields, "service_account") {
            Edit::CreateServiceAccount { id: id.to_string() }
        } else if let Some(id) = field(fields, "remove") {
            Edit::RemoveMember { id: id.to_string() }
        } else if let Some(account) = field(fields, "issue_token") {
            return match self.control.issue_token(org, &s.identity, account).await {
                // Shown once, on this answer only: never in a redirect or a log.
                Ok(t) => {
                    let text = format!(
                        "A token for {} (id {}): {} — copy it now, it is not shown again.",
                        t.account, t.id, t.token
                    );
                    self.members_page(s, org, Said::done(text)).await
                }
                Err(e) => self.members_page(s, org, Said::refused(&e)).await,
            };
        } else if let (Some(id), Some(account)) = (field(fields, "revoke_token"), field(fields, "account")) {
            return match self.control.revoke_token(org, &s.identity, account, id).await {
                Ok(_) => redirect(&format!("/console/orgs/{}/members", url(org)), None),
                Err(e) => self.members_page(s, org, Said::refused(&e)).await,
            };
        } else {
            return self.members_page(s, org, Said::bad("The form asked for no change.")).await;
        };
        match self.control.edit(org, &s.identity, &edit, &super::form::detail(fields)).await {
            Ok(_) => redirect(&format!("/console/orgs/{}/members", url(org)), None),
            Err(e) => self.members_page(s, org, Said::refused(&e)).await,
        }
    }

    /// A member's or a team's roles (bindings as the lists give them), each with a button
    /// that takes it back; with `project`, only the bindings in it.
    pub(super) fn roles_cell(&self, s: &Session, org: &str, bindings: &[Value], project: Option<&str>) -> String {
        let action = format!("/console/orgs/{}/bindings", url(org));
        let mut out = Vec::new();
        for b in bindings {
            let (subject, role) = (b["subject"].as_str().unwrap_or_default(), b["role"].as_str().unwrap_or_default());
            let in_project = b["project"].as_str();
            if project.is_some() && in_project != project {
                continue;
            }
            let mut text = esc(role);
            if let Some(p) = in_project.filter(|_| project.is_none()) {
                text.push_str(&format!(" in {}", esc(p)));
            }
            if let Some(until) = b["expires_at"].as_str() {
                text.push_str(&format!(" until {}", esc(until)));
            }
            let fields = [("unbind", subject), ("role", role), ("project", in_project.unwrap_or(""))];
            out.push(format!("<span class=\"role\">{text} {}</span>", button(&action, &s.csrf, &fields, "×")));
        }
        out.join(" ")
    }

    /// The form that assigns a role to a member, a team or everyone: at organisation level,
    /// or (with `project`) in that project.
    pub(super) fn assign_form(&self, s: &Session, org: &str, project: Option<&str>) -> String {
        let live = self.control.live.handle().load();
        let Some(o) = live.org(org) else { return String::new() };
        let m = &o.model;
        let mut subjects: Vec<(String, String)> =
            m.members.iter().map(|x| (x.id.to_string(), x.id.to_string())).collect();
        subjects.extend(m.teams.iter().map(|t| (format!("team:{}", t.name), format!("team {}", t.name))));
        subjects.push(("all".into(), "All Users".into()));
        let g = live.globals();
        let roles: Vec<String> = g.roles.iter().chain(m.roles.iter()).map(|r| r.name.to_string()).collect();
        let scope = match project {
            Some(p) => {
                format!("<input type=\"hidden\" name=\"project\" value=\"{}\">in project <b>{}</b>", esc(p), esc(p))
            }
            None => {
                let projects =
                    std::iter::once(("", "the whole organisation")).chain(m.projects.iter().map(|p| (&*p.id, &*p.id)));
                format!("<label>in {}</label>", select("project", projects, ""))
            }
        };
        format!(
            "<h2>Assign a role</h2>\n<form method=\"post\" action=\"/console/orgs/{}/bindings\" class=\"row\" id=\"assign\">{}\
             <label>Give {}</label> <label>the role {}</label> {scope} <label>until <input name=\"until\" \
             placeholder=\"optional, e.g. 2027-01-31T00:00:00Z\"></label> <button>Assign</button></form>\n",
            url(org),
            csrf(&s.csrf),
            select("subject", subjects.iter().map(|(v, l)| (v.as_str(), l.as_str())), ""),
            select("role", roles.iter().map(|r| (r.as_str(), r.as_str())), ""),
        )
    }

    /// Assigns (`subject`, `role`, `project`, `until`) or takes back (`unbind`) a role; back
    /// to the project's page when the form named one, else to the members page.
    pub(super) async fn bindings_post(&self, s: &Session, org: &str, fields: &Fields) -> Response<Vec<u8>> {
        let project = field(fields, "project");
        let role = field(fields, "role").unwrap_or_default().to_string();
        let edit = if let Some(subject) = field(fields, "unbind") {
            Edit::Unbind { subject: subject.into(), role, project: project.map(Into::into) }
        } else {
            let expires_at = match super::form::until(fields, crate::instant::now()) {
                Ok(t) => t,
                Err(e) => return self.back(s, org, project, Said::bad(e)).await,
            };
            let subject = field(fields, "subject").unwrap_or_default().into();
            Edit::Bind { subject, role, project: project.map(Into::into), expires_at }
        };
        match self.control.edit(org, &s.identity, &edit, &super::form::detail(fields)).await {
            Ok(_) => match project {
                Some(p) => redirect(&format!("/console/orgs/{}/projects/{}", url(org), url(p)), None),
                None => redirect(&format!("/console/orgs/{}/members", url(org)), None),
            },
            Err(e) => self.back(s, org, project, Said::refused(&e)).await,
        }
    }

    async fn back(&self, s: &Session, org: &str, project: Option<&str>, said_: Option<Said>) -> Response<Vec<u8>> {
        match project {
            Some(p) => self.project_page(s, org, p, said_),
            None => self.members_page(s, org, said_).await,
        }
    }
}
