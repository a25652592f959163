//! An org's teams: each team's members (ticked, saved as the team's new member list), its
//! roles, a new team, a team deleted (its bindings and shares go with it, as MODEL.md says).

use http::Response;
use serde_json::Value;

use super::Console;
use super::form::{Fields, all, field};
use super::html::{button, csrf, esc, redirect, url};
use super::org::Said;
use super::session::Session;
use crate::control::{Filter, Listing};
use crate::edit::Edit;

impl Console {
    pub(super) fn teams_page(&self, s: &Session, org: &str, said_: Option<Said>) -> Response<Vec<u8>> {
        let here = format!("/console/orgs/{}/teams", url(org));
        let list = |l| self.control.list(org, &s.identity, l, &Filter::default(), None, usize::MAX);
        let mut body = String::new();
        let teams = match list(Listing::Teams) {
            Ok(p) => p.items,
            Err(e) => {
                body.push_str(&super::html::said(&e.to_string(), true));
                Vec::new()
            }
        };
        let bindings = list(Listing::Bindings).map(|p| p.items).unwrap_or_default();
        let members = self.member_ids(org, true);
        for t in &teams {
            let name = t["name"].as_str().unwrap_or_default();
            let inside: Vec<&str> = t["members"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            let subject = format!("team:{name}");
            let own: Vec<Value> = bindings.iter().filter(|b| b["subject"] == subject.as_str()).cloned().collect();
            body.push_str(&format!(
                "<section class=\"team\"><h2>Team {0}</h2><p>Roles: {1}</p>\n<form method=\"post\" action=\"{here}\">{2}\
                 <input type=\"hidden\" name=\"team\" value=\"{0}\"><fieldset><legend>Members</legend>",
                esc(name),
                match own.is_empty() {
                    true => "none".to_string(),
                    false => self.roles_cell(s, org, &own, None),
                },
                csrf(&s.csrf),
            ));
            body.push_str(&ticks(&members, &inside));
            body.push_str("</fieldset><button>Save members</button></form>\n");
            body.push_str(&button(&here, &s.csrf, &[("delete", name)], "Delete the team"));
            body.push_str("</section>\n");
        }
        if teams.is_empty() {
            body.push_str("<p>No teams yet.</p>\n");
        }
        body.push_str(&format!(
            "<h2>New team</h2><form method=\"post\" action=\"{here}\">{}<label>Name <input name=\"create\" required>\
             </label><fieldset><legend>Members</legend>{}</fieldset><button>Create the team</button></form>\n",
            csrf(&s.csrf),
            ticks(&members, &[])
        ));
        self.show(s, org, "teams", said_, body)
    }

    pub(super) async fn teams_post(&self, s: &Session, org: &str, fields: &Fields) -> Response<Vec<u8>> {
        let members: Vec<String> = all(fields, "member").map(Into::into).collect();
        let edit = if let Some(name) = field(fields, "create") {
            Edit::CreateTeam { name: name.into(), members }
        } else if let Some(name) = field(fields, "team") {
            Edit::UpdateTeam { name: name.into(), members }
        } else if let Some(name) = field(fields, "delete") {
            Edit::DeleteTeam { name: name.into() }
        } else {
            return self.teams_page(s, org, Said::bad("The form asked for no change."));
        };
        match self.control.edit(org, &s.identity, &edit, &super::form::detail(fields)).await {
            Ok(_) => redirect(&format!("/console/orgs/{}/teams", url(org)), None),
            Err(e) => self.teams_page(s, org, Said::refused(&e)),
        }
    }
}

/// A checkbox for each of `members`, ticked for those `inside`.
fn ticks(members: &[String], inside: &[&str]) -> String {
    members
        .iter()
        .map(|m| {
            let on = if inside.contains(&m.as_str()) { " checked" } else { "" };
            format!(
                "<label class=\"tick\"><input type=\"checkbox\" name=\"member\" value=\"{0}\"{on}> {0}</label>",
                esc(m)
            )
        })
        .collect()
}
