//! One org's pages: which page a path is, the frame every org page shares (its name and
//! the links between its pages), and the overview with the ownership transfer.
//!
//! Membership is checked before this is reached ([`Console::call`]); a change's form is
//! checked against the session's CSRF token here, before anything in it is used.

use http::{Method, Response, StatusCode};

use super::form::{self, Fields, field};
use super::html::{self, button, csrf, esc, page, redirect, said, select, url};
use super::session::Session;
use super::{Console, not_found, signed_in};
use crate::control::AdminError;
use crate::manage::Refusal;

/// What a page says above its forms: a refused change (and the status it is shown with),
/// or what a change gave that is shown once (an API token).
pub(super) struct Said {
    pub status: StatusCode,
    pub text: String,
    pub error: bool,
}

impl Said {
    pub fn refused(e: &AdminError) -> Option<Said> {
        Some(Said { status: refusal_status(e), text: e.to_string(), error: true })
    }

    pub fn bad(text: impl Into<String>) -> Option<Said> {
        Some(Said { status: StatusCode::BAD_REQUEST, text: text.into(), error: true })
    }

    pub fn missing(text: impl Into<String>) -> Option<Said> {
        Some(Said { status: StatusCode::NOT_FOUND, text: text.into(), error: true })
    }

    pub fn done(text: impl Into<String>) -> Option<Said> {
        Some(Said { status: StatusCode::OK, text: text.into(), error: false })
    }
}

/// The org's pages, in the order the frame links them.
const PAGES: [(&str, &str); 8] = [
    ("", "Overview"),
    ("/members", "Members"),
    ("/teams", "Teams"),
    ("/roles", "Roles"),
    ("/projects", "Projects"),
    ("/access", "My access"),
    ("/requests", "Access requests"),
    ("/audit", "Audit log"),
];

impl Console {
    /// One request for a page of `org`, which the signed-in user belongs to.
    pub(super) async fn org_call(
        &self,
        s: &Session,
        method: &Method,
        org: &str,
        rest: &[&str],
        query: &Fields,
        body: hyper::body::Incoming,
    ) -> Response<Vec<u8>> {
        if method == Method::GET {
            return match rest {
                [] => self.overview(s, org, None).await,
                ["members"] => self.members_page(s, org, None).await,
                ["teams"] => self.teams_page(s, org, None),
                ["roles"] => self.roles_page(s, org, None, None),
                ["roles", name] => self.roles_page(s, org, Some(name), None),
                ["projects"] => self.projects_page(s, org, None),
                ["projects", p] => self.project_page(s, org, p, None),
                ["resource"] => self.resource_page(s, org, query, None).await,
                ["access"] => self.my_access_page(s, org).await,
                ["requests"] => self.requests_page(s, org, None).await,
                ["audit"] => self.audit_page(s, org, query).await,
                _ => not_found(s),
            };
        }
        if method != Method::POST {
            return not_found(s);
        }
        let fields = match form::checked(body, s).await {
            Ok(f) => f,
            Err(r) => return r,
        };
        match rest {
            [] => self.transfer_post(s, org, &fields).await,
            ["members"] => self.members_post(s, org, &fields).await,
            ["bindings"] => self.bindings_post(s, org, &fields).await,
            ["teams"] => self.teams_post(s, org, &fields).await,
            ["roles"] => self.roles_post(s, org, &fields).await,
            ["projects"] => self.projects_post(s, org, &fields).await,
            ["resource"] => self.resource_post(s, org, &fields).await,
            ["requests"] => self.requests_post(s, org, &fields).await,
            _ => not_found(s),
        }
    }

    /// The org's overview: owner, revision, how it is managed, the pending transfer (with
    /// each party's own button), pending access requests, and a way to open a resource.
    async fn overview(&self, s: &Session, org: &str, said_: Option<Said>) -> Response<Vec<u8>> {
        let (orgs, _) = self.control.orgs_of(&s.identity, None, usize::MAX);
        let Some(o) = orgs.iter().find(|o| o.id == org) else { return super::no_org(s) };
        let me = s.identity.member_id_in(org).unwrap_or_default();
        let here = format!("/console/orgs/{}", url(org));
        let mut body = String::new();
        body.push_str(&format!(
            "<table class=\"facts\"><tr><th>Owner</th><td id=\"owner\">{}</td></tr><tr><th>Revision</th><td>{}</td></tr>\
             <tr><th>Managed by</th><td>{}</td></tr>",
            esc(&o.owner),
            o.revision,
            if o.stored { "the console and the admin API" } else { "its policy file (read only here)" }
        ));
        let pending = self.control.access_requests(org, &s.identity, true).await.map(|r| r.len()).unwrap_or(0);
        body.push_str(&format!(
            "<tr><th>Access requests you can answer</th><td><a href=\"{here}/requests\">{pending} pending</a></td></tr>"
        ));
        body.push_str("</table>\n<h2>Ownership</h2>\n");
        match self.control.transfer(org, &s.identity).await {
            Ok(Some(t)) => {
                let until = crate::instant::render(i64::try_from(t.expires_at).unwrap_or(i64::MAX));
                let state = |done: bool| if done { "confirmed" } else { "not yet confirmed" };
                body.push_str(&format!(
                    "<p id=\"transfer\">Ownership is being handed from <b>{}</b> ({}) to <b>{}</b> ({}); the owner then \
                     steps down to <b>{}</b>. It lapses at {} unless both have confirmed by then.</p>\n",
                    esc(&t.from),
                    state(t.confirmed_by_owner),
                    esc(&t.to),
                    state(t.confirmed_by_new_owner),
                    esc(&t.step_down_to),
                    esc(&until)
                ));
                let mine = (me == t.from && !t.confirmed_by_owner) || (me == t.to && !t.confirmed_by_new_owner);
                if mine {
                    body.push_str(&button(&here, &s.csrf, &[("transfer", "confirm")], "Confirm the transfer"));
                }
                if me == t.from || me == t.to {
                    body.push_str(&button(&here, &s.csrf, &[("transfer", "cancel")], "Cancel the transfer"));
                }
            }
            Ok(None) if me == o.owner => {
                let members = self.member_ids(org, false);
                let roles = ["admin", "member", "viewer"];
                body.push_str(&format!(
                    "<form method=\"post\" action=\"{here}\" class=\"row\" id=\"transfer-start\">{}<input type=\"hidden\" name=\"transfer\" \
                     value=\"start\"><label>Hand ownership to {}</label> <label>and step down to {}</label> \
                     <button>Start the transfer</button></form>\n<p class=\"note\">The new owner confirms too: \
                     ownership moves when both have, and you keep full control until then.</p>\n",
                    csrf(&s.csrf),
                    select("to", members.iter().filter(|m| **m != me).map(|m| (m.as_str(), m.as_str())), ""),
                    select("step_down_to", roles.iter().map(|r| (*r, *r)), "admin"),
                ));
            }
            Ok(None) => body.push_str("<p>No ownership transfer is pending.</p>\n"),
            Err(e) => body.push_str(&said(&e.to_string(), true)),
        }
        body.push_str(&self.open_resource_form(org));
        self.show(s, org, org, said_, body)
    }

    async fn transfer_post(&self, s: &Session, org: &str, fields: &Fields) -> Response<Vec<u8>> {
        let id = &s.identity;
        let done = match field(fields, "transfer") {
            Some("start") => {
                let (to, step) = (field(fields, "to").unwrap_or(""), field(fields, "step_down_to").unwrap_or("admin"));
                self.control.start_transfer(org, id, to, step).await
            }
            Some("confirm") => self.control.confirm_transfer(org, id).await,
            Some("cancel") => self.control.cancel_transfer(org, id).await,
            _ => return self.overview(s, org, Said::bad("The form asked for nothing.")).await,
        };
        match done {
            Ok(_) => redirect(&format!("/console/orgs/{}", url(org)), None),
            Err(e) => self.overview(s, org, Said::refused(&e)).await,
        }
    }

    /// A form that opens one resource's page (its share panel and access review).
    fn open_resource_form(&self, org: &str) -> String {
        let live = self.control.live.handle().load();
        let kinds: Vec<String> = live.globals().kinds.iter().map(|(_, k)| k.name.to_string()).collect();
        format!(
            "<h2>Open a resource</h2>\n<form method=\"get\" action=\"/console/orgs/{}/resource\" class=\"row\" id=\"open\">\
             <label>Kind {}</label> <label>Project <input name=\"project\" placeholder=\"none: organisation level\"></label> \
             <label>Id <input name=\"id\" required></label> <button>Open</button></form>\n",
            url(org),
            select("kind", kinds.iter().map(|k| (k.as_str(), k.as_str())), "containers"),
        )
    }

    /// The members of `org`, sorted: its users, and with `accounts` its service accounts.
    pub(super) fn member_ids(&self, org: &str, accounts: bool) -> Vec<String> {
        let live = self.control.live.handle().load();
        let mut out: Vec<String> = live
            .org(org)
            .map(|o| {
                o.model.members.iter().filter(|m| accounts || !m.service_account).map(|m| m.id.to_string()).collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    /// A page of `org` in its frame, with `said` above the body and shown with its status.
    pub(super) fn show(
        &self,
        s: &Session,
        org: &str,
        title: &str,
        said_: Option<Said>,
        body: String,
    ) -> Response<Vec<u8>> {
        let mut nav = String::from("<nav>");
        for (path, label) in PAGES {
            nav.push_str(&format!("<a href=\"/console/orgs/{}{path}\">{label}</a>", url(org)));
        }
        nav.push_str("</nav>\n");
        let status = said_.as_ref().map_or(StatusCode::OK, |x| x.status);
        let top = said_.map(|x| said(&x.text, x.error)).unwrap_or_default();
        let title = if title == org { org.to_string() } else { format!("{org}: {title}") };
        html::html(status, page(&title, signed_in(s), &format!("{nav}{top}{body}")))
    }
}

/// The status a refusal is shown with: what the admin API would answer, roughly.
pub(super) fn refusal_status(e: &AdminError) -> StatusCode {
    match e {
        AdminError::UnknownOrg { .. } | AdminError::Refused(Refusal::UnknownOrg { .. }) => StatusCode::NOT_FOUND,
        AdminError::Refused(Refusal::NotAMember { .. }) => StatusCode::NOT_FOUND,
        AdminError::Refused(_) | AdminError::Forbidden { .. } | AdminError::NotOperator { .. } => StatusCode::FORBIDDEN,
        AdminError::Store(_) | AdminError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
        AdminError::BadQuery { .. } => StatusCode::BAD_REQUEST,
        _ => StatusCode::CONFLICT,
    }
}
