//! Roles: the built-in ones described, the global ones listed, and the org's own edited as
//! the brief's grid (a row for each kind, a column for each of list, read, create, update
//! and delete, one grid for each level), plus entries the grid cannot show (one resource,
//! or only what the holder created: `owned`) written as permissions, one to a line.
//!
//! Saving is the control plane's `CreateRole`/`UpdateRole`, so it applies at once to every
//! holder; the page says how many members hold each role.

use http::Response;

use super::Console;
use super::form::{Fields, field};
use super::html::{button, csrf, esc, redirect, url};
use super::org::Said;
use super::session::Session;
use crate::control::{Filter, Listing};
use crate::edit::Edit;
use crate::model::{Level, Verb};
use crate::policy::{Permission, Subject, parse_permission, render_permission};

/// What the built-in roles are for, in the brief's words.
const BUILT_IN: [(&str, &str); 4] = [
    ("owner", "full control, including billing and ownership; one per organisation (not assignable: transfer it)"),
    ("admin", "manage everything except ownership"),
    ("member", "read and update, but not create or delete at the organisation level"),
    ("viewer", "read-only"),
];

impl Console {
    /// The roles page; with `editing`, the grid holds that role of the org's own.
    pub(super) fn roles_page(
        &self,
        s: &Session,
        org: &str,
        editing: Option<&str>,
        said_: Option<Said>,
    ) -> Response<Vec<u8>> {
        let here = format!("/console/orgs/{}/roles", url(org));
        let mut body = String::new();
        let roles = match self.control.list(org, &s.identity, Listing::Roles, &Filter::default(), None, usize::MAX) {
            Ok(p) => p.items,
            Err(e) => return self.show(s, org, "roles", Said::refused(&e), body),
        };
        body.push_str("<table id=\"roles\"><tr><th>Role</th><th>Kind</th><th>Permissions</th><th>Members holding it</th><th></th></tr>\n");
        body.push_str(&format!(
            "<tr><td>owner</td><td>built-in</td><td>{}</td><td>1</td><td></td></tr>\n",
            BUILT_IN[0].1
        ));
        let mut editing_permissions = None;
        for r in &roles {
            let name = r["name"].as_str().unwrap_or_default();
            let scope = r["scope"].as_str().unwrap_or_default();
            let permissions: Vec<&str> =
                r["permissions"].as_array().into_iter().flatten().filter_map(|p| p.as_str()).collect();
            if editing == Some(name) && scope == "org" {
                editing_permissions = Some(permissions.clone());
            }
            let what = match BUILT_IN.iter().find(|(n, _)| *n == name) {
                Some((_, d)) => esc(d),
                None => permissions.iter().map(|p| format!("<code>{}</code>", esc(p))).collect::<Vec<_>>().join(" "),
            };
            let actions = match scope {
                "org" => format!(
                    "<a href=\"{here}/{}\">Edit</a> {}",
                    url(name),
                    button(&here, &s.csrf, &[("delete", name)], "Delete")
                ),
                _ => String::new(),
            };
            body.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{what}</td><td class=\"holders\">{}</td><td>{actions}</td></tr>\n",
                esc(name),
                if scope == "org" { "this org's" } else { scope },
                self.holders(org, name),
            ));
        }
        body.push_str("</table>\n");
        match (editing, editing_permissions) {
            (Some(name), Some(permissions)) => {
                body.push_str(&format!("<h2>Edit role {}</h2>\n", esc(name)));
                body.push_str(&self.grid(s, org, Some(name), &permissions));
            }
            (Some(name), None) => {
                body.push_str(&super::html::said(&format!("This org has no role '{name}' of its own to edit."), true));
            }
            (None, _) => {
                body.push_str("<h2>New role</h2>\n");
                body.push_str(&self.grid(s, org, None, &[]));
            }
        }
        self.show(s, org, "roles", said_, body)
    }

    /// How many members hold role `name` through any binding: to them, a team of theirs,
    /// or All Users; in the organisation or in a project.
    fn holders(&self, org: &str, name: &str) -> usize {
        let live = self.control.live.handle().load();
        let Some(o) = live.org(org) else { return 0 };
        let m = &o.model;
        let bound: Vec<Subject> = m
            .bindings
            .iter()
            .filter(|b| m.role(live.globals(), b.role).is_some_and(|r| &*r.name == name))
            .map(|b| b.subject)
            .collect();
        (0..m.members.len() as u32)
            .filter(|&i| {
                bound.iter().any(|&b| match b {
                    Subject::Member(x) => x == i,
                    Subject::Team(t) => m.teams.get(t as usize).is_some_and(|t| t.members.contains(&i)),
                    Subject::All => true,
                })
            })
            .count()
    }

    /// The grid form: `permissions` (rendered) ticked where they name a whole kind, the rest
    /// in the box below.
    fn grid(&self, s: &Session, org: &str, name: Option<&str>, permissions: &[&str]) -> String {
        let parsed: Vec<Permission> = permissions.iter().filter_map(|p| parse_permission(p).ok()).collect();
        let whole = |p: &Permission| p.id.as_deref().is_none_or(|i| i == "*") && !p.owned;
        let other: Vec<String> = parsed.iter().filter(|p| !whole(p)).map(render_permission).collect();
        let live = self.control.live.handle().load();
        let kinds = &live.globals().kinds;
        let mut out =
            format!("<form method=\"post\" action=\"/console/orgs/{}/roles\" id=\"grid\">{}", url(org), csrf(&s.csrf));
        match name {
            Some(n) => out.push_str(&format!("<input type=\"hidden\" name=\"update\" value=\"{}\">", esc(n))),
            None => out
                .push_str("<label>Name <input name=\"create\" required placeholder=\"e.g. release-manager\"></label>"),
        }
        for level in [Level::Organisation, Level::Project] {
            out.push_str(&format!(
                "<table class=\"grid\"><caption>{}</caption><tr><th>Kind</th>",
                if level == Level::Organisation { "Across the whole organisation" } else { "Inside each project" }
            ));
            for v in Verb::ALL {
                out.push_str(&format!("<th>{}</th>", v.name()));
            }
            out.push_str("</tr>\n");
            for (_, k) in kinds.iter().filter(|(_, k)| k.exists_at(level) && &*k.name != "ownership") {
                let held = parsed
                    .iter()
                    .filter(|p| whole(p) && p.level == level && p.kind == *k.name)
                    .fold(crate::model::VerbSet::EMPTY, |a, p| a.union(p.verbs));
                out.push_str(&format!("<tr><td>{}</td>", esc(&k.name)));
                for v in Verb::ALL {
                    let key = format!("{}:{}", level.name(), k.name);
                    let on = if held.contains(v) { " checked" } else { "" };
                    out.push_str(&format!(
                        "<td><input type=\"checkbox\" name=\"{0}\" value=\"{1}\" aria-label=\"{0} {1}\"{on}></td>",
                        esc(&key),
                        v.name()
                    ));
                }
                out.push_str("</tr>\n");
            }
            out.push_str("</table>\n");
        }
        out.push_str(&format!(
            "<label>Other entries, one to a line: one resource (<code>project:containers:c-42:read</code>) or only \
             what the holder created (<code>project:containers:owned:update,delete</code>)<br>\
             <textarea name=\"other\" rows=\"3\" cols=\"60\">{}</textarea></label><br>\
             <button>Save the role</button></form>\n<p class=\"note\">A tick implies what it needs: create, update and \
             delete include read, and read includes list.</p>\n",
            esc(&other.join("\n"))
        ));
        out
    }

    pub(super) async fn roles_post(&self, s: &Session, org: &str, fields: &Fields) -> Response<Vec<u8>> {
        let editing = field(fields, "update");
        if let Some(name) = field(fields, "delete") {
            return match self
                .control
                .edit(org, &s.identity, &Edit::DeleteRole { name: name.into() }, &super::form::detail(fields))
                .await
            {
                Ok(_) => redirect(&format!("/console/orgs/{}/roles", url(org)), None),
                Err(e) => self.roles_page(s, org, None, Said::refused(&e)),
            };
        }
        let permissions = match permissions_of(fields) {
            Ok(p) => p,
            Err(e) => return self.roles_page(s, org, editing, Said::bad(e)),
        };
        let edit = match (field(fields, "create"), editing) {
            (Some(name), _) => Edit::CreateRole { name: name.trim().into(), permissions },
            (None, Some(name)) => Edit::UpdateRole { name: name.into(), permissions },
            (None, None) => return self.roles_page(s, org, None, Said::bad("Give the role a name.")),
        };
        match self.control.edit(org, &s.identity, &edit, &super::form::detail(fields)).await {
            Ok(_) => redirect(&format!("/console/orgs/{}/roles", url(org)), None),
            Err(e) => self.roles_page(s, org, editing, Said::refused(&e)),
        }
    }
}

/// The grid's ticks (`level:kind` = verb) and the other entries, as permissions.
fn permissions_of(fields: &Fields) -> Result<Vec<Permission>, String> {
    let mut rows: Vec<(&str, Vec<&str>)> = Vec::new();
    for (k, v) in fields.iter().filter(|(k, _)| k.starts_with("organisation:") || k.starts_with("project:")) {
        match rows.iter_mut().find(|(row, _)| row == k) {
            Some((_, verbs)) => verbs.push(v),
            None => rows.push((k, vec![v])),
        }
    }
    let mut entries: Vec<String> = rows.iter().map(|(row, verbs)| format!("{row}:{}", verbs.join(","))).collect();
    entries
        .extend(field(fields, "other").unwrap_or("").lines().map(str::trim).filter(|l| !l.is_empty()).map(Into::into));
    if entries.is_empty() {
        return Err("Tick at least one box: a role with no permissions grants nothing.".into());
    }
    entries.iter().map(|e| parse_permission(e).map_err(|err| err.to_string())).collect()
}
