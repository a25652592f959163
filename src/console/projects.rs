//! An org's projects: each one's settings (`restricted`: only members with a role in it
//! see inside), a new project, a project deleted; and a project's Members page, with its
//! Users, Teams and All Users and the role each has in the project (which replaces their
//! organisation role there, as MODEL.md says).

use http::Response;
use serde_json::Value;

use super::Console;
use super::form::{Fields, field};
use super::html::{button, csrf, esc, redirect, url};
use super::org::Said;
use super::session::Session;
use crate::control::{Filter, Listing};
use crate::edit::Edit;

impl Console {
    pub(super) fn projects_page(&self, s: &Session, org: &str, said_: Option<Said>) -> Response<Vec<u8>> {
        let here = format!("/console/orgs/{}/projects", url(org));
        let mut body = String::new();
        match self.control.list(org, &s.identity, Listing::Projects, &Filter::default(), None, usize::MAX) {
            Ok(p) => {
                body.push_str("<table id=\"projects\"><tr><th>Project</th><th>Restricted</th><th></th></tr>\n");
                for p in &p.items {
                    let id = p["id"].as_str().unwrap_or_default();
                    body.push_str(&format!(
                        "<tr><td><a href=\"{here}/{}\">{}</a></td><td>{}</td><td>{}</td></tr>\n",
                        url(id),
                        esc(id),
                        if p["restricted"] == true { "yes" } else { "no" },
                        button(&here, &s.csrf, &[("delete", id)], "Delete")
                    ));
                }
                body.push_str("</table>\n");
            }
            Err(e) => body.push_str(&super::html::said(&e.to_string(), true)),
        }
        body.push_str(&format!(
            "<h2>New project</h2><form method=\"post\" action=\"{here}\" class=\"row\">{}<label>Id <input \
             name=\"create\" required></label> <label class=\"tick\"><input type=\"checkbox\" name=\"restricted\" \
             value=\"true\"> restricted</label> <button>Create</button></form>\n",
            csrf(&s.csrf)
        ));
        self.show(s, org, "projects", said_, body)
    }

    /// A project's settings and Members page.
    pub(super) fn project_page(&self, s: &Session, org: &str, project: &str, said_: Option<Said>) -> Response<Vec<u8>> {
        let title = format!("project {project}");
        let listed = self.control.list(org, &s.identity, Listing::Projects, &Filter::default(), None, usize::MAX);
        let restricted = match listed.map(|p| p.items.into_iter().find(|p| p["id"] == project)) {
            Ok(Some(p)) => p.get("restricted") == Some(&Value::Bool(true)),
            Ok(None) => {
                let text = format!("There is no project '{project}' in '{org}'.");
                return self.show(s, org, &title, Said::missing(text), String::new());
            }
            Err(e) => return self.show(s, org, &title, Said::refused(&e), String::new()),
        };
        let filter = Filter { project: Some(project), subject: None };
        let bindings = self
            .control
            .list(org, &s.identity, Listing::Bindings, &filter, None, usize::MAX)
            .map(|p| p.items)
            .unwrap_or_default();
        let of =
            |subject: &str| -> Vec<Value> { bindings.iter().filter(|b| b["subject"] == subject).cloned().collect() };
        let cell = |subject: &str| {
            let own = of(subject);
            match own.is_empty() {
                true => "<span class=\"note\">no project role: the organisation role applies</span>".to_string(),
                false => self.roles_cell(s, org, &own, Some(project)),
            }
        };
        let mut body = format!(
            "<h2>Settings</h2><form method=\"post\" action=\"/console/orgs/{}/projects\" class=\"row\">{}<input \
             type=\"hidden\" name=\"update\" value=\"{}\"><label class=\"tick\"><input type=\"checkbox\" \
             name=\"restricted\" value=\"true\"{}> restricted: only members with a role in this project see inside \
             it</label> <button>Save</button></form>\n<h2>Members</h2>\n<nav class=\"tabs\"><a href=\"#users\">Users</a>\
             <a href=\"#teams\">Teams</a><a href=\"#all\">All Users</a></nav>\n",
            url(org),
            csrf(&s.csrf),
            esc(project),
            if restricted { " checked" } else { "" },
        );
        body.push_str(
            "<h3 id=\"users\">Users</h3><table id=\"project-users\"><tr><th>User</th><th>Project role</th></tr>\n",
        );
        for m in self.member_ids(org, true) {
            body.push_str(&format!("<tr><td>{}</td><td>{}</td></tr>\n", esc(&m), cell(&m)));
        }
        body.push_str("</table>\n<h3 id=\"teams\">Teams</h3><table id=\"project-teams\"><tr><th>Team</th><th>Project role</th></tr>\n");
        let teams = self.control.list(org, &s.identity, Listing::Teams, &Filter::default(), None, usize::MAX);
        for t in teams.map(|p| p.items).unwrap_or_default() {
            let name = t.get("name").and_then(Value::as_str).unwrap_or_default();
            body.push_str(&format!("<tr><td>{}</td><td>{}</td></tr>\n", esc(name), cell(&format!("team:{name}"))));
        }
        body.push_str(&format!(
            "</table>\n<h3 id=\"all\">All Users</h3><p>Every member of the org: {}</p>\n",
            cell("all")
        ));
        body.push_str(&self.assign_form(s, org, Some(project)));
        self.show(s, org, &title, said_, body)
    }

    pub(super) async fn projects_post(&self, s: &Session, org: &str, fields: &Fields) -> Response<Vec<u8>> {
        let restricted = field(fields, "restricted") == Some("true");
        let (edit, back) = if let Some(id) = field(fields, "create") {
            (Edit::CreateProject { id: id.trim().into(), restricted }, None)
        } else if let Some(id) = field(fields, "update") {
            (Edit::UpdateProject { id: id.into(), restricted }, Some(id))
        } else if let Some(id) = field(fields, "delete") {
            (Edit::DeleteProject { id: id.into() }, None)
        } else {
            return self.projects_page(s, org, Said::bad("The form asked for no change."));
        };
        match (self.control.edit(org, &s.identity, &edit, &super::form::detail(fields)).await, back) {
            (Ok(_), Some(p)) => redirect(&format!("/console/orgs/{}/projects/{}", url(org), url(p)), None),
            (Ok(_), None) => redirect(&format!("/console/orgs/{}/projects", url(org)), None),
            (Err(e), Some(p)) => self.project_page(s, org, p, Said::refused(&e)),
            (Err(e), None) => self.projects_page(s, org, Said::refused(&e)),
        }
    }
}
