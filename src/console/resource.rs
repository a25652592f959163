//! One resource's page: its share panel (everyone with direct access, with the verbs they
//! were given, who gave them, when and until when, each revocable), "Share access" (a
//! member or a team, and the verbs: those the signed-in user does not hold on it are
//! disabled, as the model lets nobody share more than they hold), its creator, who can do
//! what on it and why (the access review), and a request for the access one lacks.

use http::Response;
use serde_json::Value;

use super::Console;
use super::form::{Fields, all, field};
use super::html::{button, csrf, esc, redirect, url};
use super::org::Said;
use super::session::Session;
use crate::access::Resource;
use crate::control::{Asked, ReviewQuery};
use crate::edit::Edit;
use crate::model::{Verb, VerbSet};

/// The verbs a share gives (list comes with read).
const SHARED: [Verb; 4] = [Verb::Read, Verb::Create, Verb::Update, Verb::Delete];

/// Which resource a page or a form is about.
struct Which<'f> {
    kind: &'f str,
    project: Option<&'f str>,
    id: &'f str,
}

impl<'f> Which<'f> {
    fn of(fields: &'f Fields) -> Option<Which<'f>> {
        Some(Which { kind: field(fields, "kind")?, project: field(fields, "project"), id: field(fields, "id")? })
    }

    /// The page's address, and the hidden fields that name the resource in its forms.
    fn path(&self, org: &str) -> String {
        let project = self.project.map(|p| format!("&project={}", url(p))).unwrap_or_default();
        format!("/console/orgs/{}/resource?kind={}{project}&id={}", url(org), url(self.kind), url(self.id))
    }

    fn hidden(&self) -> Vec<(&'static str, &'f str)> {
        vec![("kind", self.kind), ("project", self.project.unwrap_or("")), ("id", self.id)]
    }
}

impl Console {
    pub(super) async fn resource_page(
        &self,
        s: &Session,
        org: &str,
        query: &Fields,
        said_: Option<Said>,
    ) -> Response<Vec<u8>> {
        let Some(r) = Which::of(query) else {
            return self.show(s, org, "resource", Said::bad("Name the resource: its kind and id."), String::new());
        };
        let title = match r.project {
            Some(p) => format!("{} {} in project {p}", r.kind, r.id),
            None => format!("{} {}", r.kind, r.id),
        };
        let action = format!("/console/orgs/{}/resource", url(org));
        let mut body = String::new();
        let held = self.held(s, org, &r);
        let shares = match self.control.shares(org, &s.identity, r.kind, r.project, r.id).await {
            Ok(list) => list,
            Err(e) => {
                body.push_str(&self.ask_form(s, org, &r, held));
                return self.show(s, org, &title, said_.or_else(|| Said::refused(&e)), body);
            }
        };
        body.push_str(&format!(
            "<p>You hold: <b id=\"held\">{held}</b>. Created by: <b id=\"creator\">{}</b></p>\n",
            shares.creator.as_ref().map_or("no record".to_string(), |c| match c.at {
                Some(at) => format!("{} at {}", esc(&c.subject), esc(&crate::instant::render(at))),
                None => esc(&c.subject),
            })
        ));
        body.push_str("<h2>Direct access</h2>\n<table id=\"shares\"><tr><th>Who</th><th>Verbs</th><th>Given by</th><th>When</th><th>Until</th><th></th></tr>\n");
        let when = |t: Option<i64>| t.map_or("—".to_string(), |t| esc(&crate::instant::render(t)));
        for sh in &shares.shares {
            let mut fields = r.hidden();
            fields.push(("revoke", &sh.subject));
            body.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                esc(&sh.subject),
                sh.verbs.join(", "),
                esc(sh.granted_by.as_deref().unwrap_or("the org")),
                when(sh.granted_at),
                when(sh.expires_at),
                button(&action, &s.csrf, &fields, "Revoke"),
            ));
        }
        if shares.shares.is_empty() {
            body.push_str("<tr><td colspan=\"6\">Nobody has direct access.</td></tr>\n");
        }
        body.push_str("</table>\n");
        body.push_str(&self.share_form(s, org, &r, held));
        body.push_str(&self.review_table(s, org, &r));
        body.push_str(&self.ask_form(s, org, &r, held));
        self.show(s, org, &title, said_, body)
    }

    /// What the signed-in user holds on the resource now, as the gateway decides.
    fn held(&self, s: &Session, org: &str, r: &Which<'_>) -> VerbSet {
        let live = self.control.live.handle().load();
        let now = crate::instant::now();
        Verb::ALL.into_iter().fold(VerbSet::EMPTY, |set, verb| {
            let request = crate::decide::Request {
                org,
                principal: s.identity.caller(),
                project: r.project,
                kind: r.kind,
                id: Some(r.id),
                verb,
                at: now,
            };
            match crate::decide::decide(&live, &request).allowed {
                true => set.union(VerbSet::of(verb)),
                false => set,
            }
        })
    }

    fn share_form(&self, s: &Session, org: &str, r: &Which<'_>, held: VerbSet) -> String {
        let live = self.control.live.handle().load();
        let mut subjects: Vec<String> = self.member_ids(org, true);
        if let Some(o) = live.org(org) {
            subjects.extend(o.model.teams.iter().map(|t| format!("team:{}", t.name)));
        }
        let mut out = format!(
            "<h2>Share access</h2>\n<form method=\"post\" action=\"/console/orgs/{}/resource\" id=\"share\">{}",
            url(org),
            csrf(&s.csrf)
        );
        for (k, v) in r.hidden() {
            out.push_str(&format!("<input type=\"hidden\" name=\"{k}\" value=\"{}\">", esc(v)));
        }
        out.push_str(&format!(
            "<label>With {}</label> ",
            super::html::select("share", subjects.iter().map(|x| (x.as_str(), x.as_str())), "")
        ));
        for v in SHARED {
            let off = if held.contains(v) { "" } else { " disabled title=\"you do not hold it\"" };
            out.push_str(&format!(
                "<label class=\"tick\"><input type=\"checkbox\" name=\"verb\" value=\"{0}\"{off}> {0}</label>",
                v.name()
            ));
        }
        out.push_str(
            " <label>until <input name=\"until\" placeholder=\"optional, RFC 3339\"></label> <button>Share</button></form>\n\
             <p class=\"note\">Sharing only adds access to this one resource; revoking takes back exactly what it gave.</p>\n",
        );
        out
    }

    /// Who can do what on the resource, and why (needs `read` on members).
    fn review_table(&self, s: &Session, org: &str, r: &Which<'_>) -> String {
        let q = ReviewQuery { resource: Resource { kind: r.kind, project: r.project, id: Some(r.id) }, verb: None };
        let review = match self.control.access_review(org, &s.identity, &q, None, 1000) {
            Ok(v) => v,
            Err(e) => return format!("<h2>Who can do what</h2>\n{}", super::html::said(&e.to_string(), true)),
        };
        let mut out = String::from(
            "<h2>Who can do what</h2>\n<table id=\"review\"><tr><th>Member</th><th>Verbs</th><th>Why</th></tr>\n",
        );
        for p in review.get("principals").and_then(Value::as_array).into_iter().flatten() {
            let verbs: Vec<&str> = p["verbs"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            let why: Vec<String> = p["reasons"].as_array().into_iter().flatten().map(reason).collect();
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                esc(p["subject"].as_str().unwrap_or_default()),
                verbs.join(", "),
                why.join("; ")
            ));
        }
        out.push_str("</table>\n");
        out
    }

    /// Asking for the verbs one does not hold, for a while, with a reason.
    fn ask_form(&self, s: &Session, org: &str, r: &Which<'_>, held: VerbSet) -> String {
        let missing: Vec<Verb> = SHARED.into_iter().filter(|v| !held.contains(*v)).collect();
        if missing.is_empty() {
            return String::new();
        }
        let mut out = format!(
            "<h2>Ask for access</h2>\n<form method=\"post\" action=\"/console/orgs/{}/resource\" id=\"ask\">{}\
             <input type=\"hidden\" name=\"ask\" value=\"1\">",
            url(org),
            csrf(&s.csrf)
        );
        for (k, v) in r.hidden() {
            out.push_str(&format!("<input type=\"hidden\" name=\"{k}\" value=\"{}\">", esc(v)));
        }
        for v in missing {
            out.push_str(&format!(
                "<label class=\"tick\"><input type=\"checkbox\" name=\"verb\" value=\"{0}\"> {0}</label>",
                v.name()
            ));
        }
        out.push_str(
            " <label>for <input name=\"duration\" value=\"8h\" size=\"5\"></label> <label>because <input \
             name=\"reason\" required></label> <button>Ask</button></form>\n",
        );
        out
    }

    pub(super) async fn resource_post(&self, s: &Session, org: &str, fields: &Fields) -> Response<Vec<u8>> {
        let Some(r) = Which::of(fields) else {
            return self.show(s, org, "resource", Said::bad("The form did not name a resource."), String::new());
        };
        let back = |said_| self.resource_page(s, org, fields, said_);
        let words: Vec<&str> = all(fields, "verb").collect();
        if field(fields, "ask").is_some() {
            let duration = match crate::instant::parse_duration(field(fields, "duration").unwrap_or("8h")) {
                Ok(d) => d,
                Err(e) => return back(Said::bad(e)).await,
            };
            let asked = Asked::Resource {
                kind: r.kind.into(),
                project: r.project.map(Into::into),
                id: r.id.into(),
                verbs: words.iter().map(|w| w.to_string()).collect(),
            };
            let reason = field(fields, "reason").unwrap_or("");
            return match self.control.request_access(org, &s.identity, asked, duration, reason).await {
                Ok(q) => back(Said::done(format!("Asked (request {}): whoever may grant it will see it.", q.id))).await,
                Err(e) => back(Said::refused(&e)).await,
            };
        }
        let now = crate::instant::now();
        let edit = if let Some(subject) = field(fields, "revoke") {
            Edit::RevokeShare {
                subject: subject.into(),
                kind: r.kind.into(),
                project: r.project.map(Into::into),
                id: r.id.into(),
            }
        } else if let Some(subject) = field(fields, "share") {
            let verbs = match crate::policy::parse_share_verbs(&words) {
                Ok(v) if !v.is_empty() => v,
                Ok(_) => return back(Said::bad("Tick at least one verb to share.")).await,
                Err(e) => return back(Said::bad(e.to_string())).await,
            };
            let expires_at = match super::form::until(fields, now) {
                Ok(t) => t,
                Err(e) => return back(Said::bad(e)).await,
            };
            Edit::Share {
                subject: subject.into(),
                kind: r.kind.into(),
                project: r.project.map(Into::into),
                id: r.id.into(),
                verbs,
                granted_by: s.identity.member_id_in(org).unwrap_or_default().into(),
                granted_at: now,
                expires_at,
            }
        } else {
            return back(Said::bad("The form asked for no change.")).await;
        };
        match self.control.edit(org, &s.identity, &edit, &super::form::detail(fields)).await {
            Ok(_) => redirect(&r.path(org), None),
            Err(e) => back(Said::refused(&e)).await,
        }
    }
}

/// One reason of an access review, in a few words.
fn reason(r: &Value) -> String {
    let t = |k: &str| esc(r[k].as_str().unwrap_or_default());
    let mut out = match r["source"].as_str() {
        Some("owner") => "the org's owner".to_string(),
        Some("creator") => "created it".to_string(),
        Some("share") => format!("shared with {} by {}", t("shared_with"), t("granted_by")),
        Some("role") => match r["project"].as_str() {
            Some(p) => format!("role {} of {} in project {}", t("role"), t("bound_to"), esc(p)),
            None => format!("role {} of {}", t("role"), t("bound_to")),
        },
        _ => t("source"),
    };
    if let Some(ignored) = r["ignored"].as_str() {
        out.push_str(&format!(" (not counted: {})", esc(ignored)));
    }
    if let Some(until) = r["expires_at"].as_str() {
        out.push_str(&format!(" until {}", esc(until)));
    }
    out
}
