//! Access requests: those the signed-in user may answer (approve grants exactly what was
//! asked, for as long as was asked; deny closes it), the ones it made, and, for who may
//! read members, every request of the org. Asking is on a resource's page, or here for a
//! role in a project.

use http::Response;

use super::Console;
use super::form::{Fields, field};
use super::html::{button, csrf, esc, redirect, select, url};
use super::org::Said;
use super::session::Session;
use crate::control::Asked;
use crate::store::AccessRequest;

impl Console {
    pub(super) async fn requests_page(&self, s: &Session, org: &str, said_: Option<Said>) -> Response<Vec<u8>> {
        let here = format!("/console/orgs/{}/requests", url(org));
        let mut body = String::from("<h2>To answer</h2>\n");
        match self.control.access_requests(org, &s.identity, true).await {
            Ok(list) if list.is_empty() => body.push_str("<p>Nothing waits for you.</p>\n"),
            Ok(list) => {
                body.push_str("<table id=\"to-answer\"><tr><th>Who</th><th>Asks for</th><th>For</th><th>Because</th><th></th></tr>\n");
                for r in &list {
                    body.push_str(&format!(
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td></tr>\n",
                        esc(&r.requester),
                        asked(r),
                        esc(&duration(r.duration_secs)),
                        esc(&r.reason),
                        button(&here, &s.csrf, &[("approve", &r.id)], "Approve"),
                        button(&here, &s.csrf, &[("deny", &r.id)], "Deny"),
                    ));
                }
                body.push_str("</table>\n");
            }
            Err(e) => body.push_str(&super::html::said(&e.to_string(), true)),
        }
        body.push_str("<h2>All you can see</h2>\n");
        match self.control.access_requests(org, &s.identity, false).await {
            Ok(list) => {
                body.push_str("<table id=\"requests\"><tr><th>Id</th><th>Who</th><th>Asks for</th><th>State</th><th>Answered by</th></tr>\n");
                for r in &list {
                    body.push_str(&format!(
                        "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                        esc(&r.id),
                        esc(&r.requester),
                        asked(r),
                        esc(&r.state),
                        esc(r.decided_by.as_deref().unwrap_or("—"))
                    ));
                }
                body.push_str("</table>\n");
            }
            Err(e) => body.push_str(&super::html::said(&e.to_string(), true)),
        }
        let live = self.control.live.handle().load();
        let (roles, projects): (Vec<String>, Vec<String>) = match live.org(org) {
            Some(o) => (
                live.globals().roles.iter().chain(o.model.roles.iter()).map(|r| r.name.to_string()).collect(),
                o.model.projects.iter().map(|p| p.id.to_string()).collect(),
            ),
            None => (Vec::new(), Vec::new()),
        };
        body.push_str(&format!(
            "<h2>Ask for a role in a project</h2><form method=\"post\" action=\"{here}\" class=\"row\">{}<label>Role {}\
             </label> <label>in {}</label> <label>for <input name=\"duration\" value=\"8h\" size=\"5\"></label> \
             <label>because <input name=\"reason\" required></label> <button>Ask</button></form>\n\
             <p class=\"note\">To ask for access to one resource, open it from the overview.</p>\n",
            csrf(&s.csrf),
            select("role", roles.iter().map(|r| (r.as_str(), r.as_str())), ""),
            select("project", projects.iter().map(|p| (p.as_str(), p.as_str())), ""),
        ));
        self.show(s, org, "access requests", said_, body)
    }

    pub(super) async fn requests_post(&self, s: &Session, org: &str, fields: &Fields) -> Response<Vec<u8>> {
        let id = &s.identity;
        let done = if let Some(r) = field(fields, "approve") {
            self.control.approve_request(org, id, r).await.map(|_| ())
        } else if let Some(r) = field(fields, "deny") {
            self.control.deny_request(org, id, r).await
        } else if let (Some(role), Some(project)) = (field(fields, "role"), field(fields, "project")) {
            let duration = match crate::instant::parse_duration(field(fields, "duration").unwrap_or("8h")) {
                Ok(d) => d,
                Err(e) => return self.requests_page(s, org, Said::bad(e)).await,
            };
            let asked = Asked::Role { role: role.into(), project: project.into() };
            let reason = field(fields, "reason").unwrap_or("");
            self.control.request_access(org, id, asked, duration, reason).await.map(|_| ())
        } else {
            return self.requests_page(s, org, Said::bad("The form asked for nothing.")).await;
        };
        match done {
            Ok(()) => redirect(&format!("/console/orgs/{}/requests", url(org)), None),
            Err(e) => self.requests_page(s, org, Said::refused(&e)).await,
        }
    }
}

/// What a request asks for, escaped.
fn asked(r: &AccessRequest) -> String {
    match (&r.role, &r.kind, &r.resource_id) {
        (Some(role), _, _) => format!("role {} in project {}", esc(role), esc(r.project.as_deref().unwrap_or("?"))),
        (None, Some(kind), Some(id)) => {
            let place = r.project.as_deref().map(|p| format!(" in project {}", esc(p))).unwrap_or_default();
            format!("{} on {} {}{place}", esc(&r.verbs.join(", ")), esc(kind), esc(id))
        }
        _ => "?".into(),
    }
}

fn duration(secs: u64) -> String {
    match secs {
        s if s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s % 3_600 == 0 => format!("{} h", s / 3_600),
        s => format!("{} min", s.div_ceil(60)),
    }
}
