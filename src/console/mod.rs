//! The web console, on the admin listener under `/console`: pages rendered here from the
//! same control-plane calls the admin API makes, acting as the signed-in user, so the model
//! decides every change a page makes exactly as it decides the API's.
//!
//! Nothing is installed beside the binary: the pages are text built in [`html`] with every
//! value escaped, and carry no script. Sessions ([`session`]) live in an `HttpOnly`,
//! `SameSite=Strict` cookie, and every form carries the session's CSRF token.
//!
//! Signing in: with `demo_key = true` under `[auth]` (what `portcullis demo` runs), a page
//! signs in as one of the users the loaded orgs list. Signing in through the configured
//! OpenID Connect issuer is not built yet; without the demo key the sign-in page says so
//! and no page opens.

pub mod html;
mod members;
pub mod session;

use std::sync::Arc;

use http::{Method, Response, StatusCode, header};
use http_body_util::BodyExt as _;

use crate::control::ControlPlane;
use crate::principal::Identity;
use html::{esc, page, redirect};
use session::{COOKIE, SIGN_IN_COOKIE, Session, Sessions, cookie, random_token, same};

/// How long a session lasts (the demo's tokens last as long).
pub const SESSION_SECS: i64 = 8 * 3600;
/// The largest form body read.
pub const MAX_FORM: usize = 8 * 1024;

/// The console of one admin listener.
pub struct Console {
    control: Arc<ControlPlane>,
    sessions: Sessions,
    /// Sign-in as a user the orgs list (`[auth] demo_key`).
    demo: bool,
}

/// A request's method, path and cookies, as the console reads them.
struct Asked<'r> {
    method: &'r Method,
    path: &'r str,
    cookies: &'r str,
}

impl Console {
    pub fn new(control: Arc<ControlPlane>, demo: bool) -> Console {
        Console { control, sessions: Sessions::default(), demo }
    }

    /// Whether `path` is the console's.
    pub fn serves(path: &str) -> bool {
        path == "/console" || path.starts_with("/console/")
    }

    /// Answers one request under `/console`.
    pub async fn call(&self, head: &http::request::Parts, body: hyper::body::Incoming) -> Response<Vec<u8>> {
        let cookies = head.headers.get(header::COOKIE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let asked = Asked { method: &head.method, path: head.uri.path(), cookies };
        let now = crate::instant::now();
        match (asked.method, asked.path) {
            (&Method::GET, "/console/style.css") => {
                return html::respond(StatusCode::OK, "text/css; charset=utf-8", html::STYLE.as_bytes().to_vec());
            }
            (&Method::GET, "/console/sign-in") => return self.sign_in_page(None),
            (&Method::POST, "/console/sign-in") => return self.sign_in(&asked, body, now).await,
            _ => {}
        }
        // Every other page needs a session, found before anything else is read.
        let Some((id, session)) = cookie(asked.cookies, COOKIE).and_then(|id| Some((id, self.sessions.get(id, now)?)))
        else {
            return redirect("/console/sign-in", None);
        };
        let segments: Vec<&str> = asked.path.trim_end_matches('/').split('/').skip(2).collect();
        match (asked.method, segments.as_slice()) {
            (&Method::GET, []) => redirect("/console/orgs", None),
            (&Method::GET, ["orgs"]) => self.orgs_page(&session),
            (&Method::GET, ["orgs", org]) => self.org_page(&session, org).await,
            (&Method::GET, ["orgs", org, "members"]) => match self.belongs(&session, org) {
                true => self.members_page(&session, org, None),
                false => no_org(&session),
            },
            (&Method::POST, ["orgs", org, "members"]) if self.belongs(&session, org) => {
                match checked(body, &session).await {
                    Ok(fields) => {
                        let change = if let Some(id) = field(&fields, "invite") {
                            members::Change::Invite(id)
                        } else if let Some(id) = field(&fields, "service_account") {
                            members::Change::ServiceAccount(id)
                        } else if let Some(id) = field(&fields, "remove") {
                            members::Change::Remove(id)
                        } else {
                            return self.members_page(
                                &session,
                                org,
                                Some((StatusCode::BAD_REQUEST, "The form said no change.")),
                            );
                        };
                        self.change_member(&session, org, change).await
                    }
                    Err(r) => r,
                }
            }
            (&Method::POST, ["orgs", _, "members"]) => no_org(&session),
            (&Method::POST, ["sign-out"]) => match checked(body, &session).await {
                Ok(_) => {
                    self.sessions.close(id);
                    let gone = format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0");
                    redirect("/console/sign-in", Some(&gone))
                }
                Err(r) => r,
            },
            _ => html::html(
                StatusCode::NOT_FOUND,
                page("Not found", signed_in(&session), "<p>There is no such page in the console.</p>"),
            ),
        }
    }

    /// The users the demo sign-in offers: every user member of a loaded org, and the operators.
    fn demo_users(&self) -> Vec<String> {
        let live = self.control.live.handle().load();
        let mut users: Vec<String> = live
            .orgs()
            .flat_map(|o| o.model.members.iter().filter(|m| !m.service_account).map(|m| m.id.to_string()))
            .chain(self.control.operators.iter().cloned())
            .collect();
        users.sort();
        users.dedup();
        users
    }

    fn sign_in_page(&self, error: Option<&str>) -> Response<Vec<u8>> {
        let mut body = String::new();
        if let Some(e) = error {
            body.push_str(&format!("<p class=\"error\">{}</p>\n", esc(e)));
        }
        if !self.demo {
            body.push_str(
                "<p>Signing in to the console through your identity provider (OpenID Connect) is not built yet. \
                 The console opens with <code>portcullis demo</code>, whose sample users sign in here.</p>",
            );
            return html::html(StatusCode::OK, page("Sign in", None, &body));
        }
        let Ok(token) = random_token() else {
            return html::html(StatusCode::INTERNAL_SERVER_ERROR, page("Sign in", None, "<p>No random bytes.</p>"));
        };
        body.push_str("<p class=\"note\">The demo's sample users: pick one to act as.</p>\n<ul class=\"users\">\n");
        for user in self.demo_users() {
            body.push_str(&format!(
                "<li><form method=\"post\" action=\"/console/sign-in\"><input type=\"hidden\" name=\"csrf\" \
                 value=\"{token}\"><input type=\"hidden\" name=\"user\" value=\"{0}\"><button>{0}</button></form></li>\n",
                esc(&user)
            ));
        }
        body.push_str("</ul>\n");
        let mut r = html::html(StatusCode::OK, page("Sign in", None, &body));
        let tie = format!("{SIGN_IN_COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict; Max-Age=3600");
        if let Ok(v) = http::HeaderValue::from_str(&tie) {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
        r
    }

    async fn sign_in(&self, asked: &Asked<'_>, body: hyper::body::Incoming, now: i64) -> Response<Vec<u8>> {
        // The form must come from a sign-in page this browser was shown.
        let Some(tie) = cookie(asked.cookies, SIGN_IN_COOKIE).filter(|_| self.demo) else {
            return html::html(StatusCode::FORBIDDEN, page("Sign in", None, "<p>Open the sign-in page first.</p>"));
        };
        let fields = match form(body).await {
            Ok(f) => f,
            Err(r) => return r,
        };
        if !field(&fields, "csrf").is_some_and(|t| same(t, tie)) {
            let mut r = self.sign_in_page(Some("That form was not this page's: sign in again."));
            *r.status_mut() = StatusCode::FORBIDDEN;
            return r;
        }
        let user = field(&fields, "user").unwrap_or("");
        if !self.demo_users().iter().any(|u| u == user) {
            let mut r = self.sign_in_page(Some("No sample user of that name."));
            *r.status_mut() = StatusCode::FORBIDDEN;
            return r;
        }
        match self.sessions.open(Identity::User(user.to_string()), now, now + SESSION_SECS) {
            Ok((id, _)) => {
                let set = format!("{COOKIE}={id}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECS}");
                redirect("/console/orgs", Some(&set))
            }
            Err(e) => {
                let mut r = self.sign_in_page(Some(&e.to_string()));
                *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                r
            }
        }
    }

    fn orgs_page(&self, session: &Session) -> Response<Vec<u8>> {
        let (orgs, _) = self.control.orgs_of(&session.identity, None, usize::MAX);
        let mut body = String::new();
        if orgs.is_empty() {
            body.push_str("<p>You are not a member of any organisation.</p>");
        } else {
            body.push_str("<table><tr><th>Organisation</th><th>Owner</th><th>Revision</th><th>Managed by</th></tr>\n");
            for o in &orgs {
                body.push_str(&format!(
                    "<tr><td><a href=\"/console/orgs/{0}\">{0}</a></td><td>{1}</td><td>{2}</td><td>{3}</td></tr>\n",
                    esc(&o.id),
                    esc(&o.owner),
                    o.revision,
                    if o.stored { "the console and the admin API" } else { "its policy file" }
                ));
            }
            body.push_str("</table>");
        }
        html::html(StatusCode::OK, page("Organisations", signed_in(session), &body))
    }

    /// Whether the signed-in user belongs to `org` (an operator: any org).
    fn belongs(&self, session: &Session, org: &str) -> bool {
        self.control.orgs_of(&session.identity, None, usize::MAX).0.iter().any(|o| o.id == org)
    }

    async fn org_page(&self, session: &Session, org: &str) -> Response<Vec<u8>> {
        let (orgs, _) = self.control.orgs_of(&session.identity, None, usize::MAX);
        let Some(o) = orgs.iter().find(|o| o.id == org) else { return no_org(session) };
        let mut body = format!(
            "<table><tr><th>Owner</th><td>{}</td></tr><tr><th>Revision</th><td>{}</td></tr>\
             <tr><th>Managed by</th><td>{}</td></tr>",
            esc(&o.owner),
            o.revision,
            if o.stored { "the console and the admin API" } else { "its policy file" }
        );
        if let Ok(Some(t)) = self.control.transfer(org, &session.identity).await {
            body.push_str(&format!(
                "<tr><th>Ownership transfer</th><td>to {} (the owner steps down to {}), until {}</td></tr>",
                esc(&t.to),
                esc(&t.step_down_to),
                esc(&crate::instant::render(t.expires_at as i64))
            ));
        }
        body.push_str("</table>");
        body.push_str(&format!(
            "<p><a href=\"/console/orgs/{}/members\">Members and service accounts</a></p>",
            esc(org)
        ));
        html::html(StatusCode::OK, page(org, signed_in(session), &body))
    }
}

/// Another org's page and a page of no org look the same.
fn no_org(session: &Session) -> Response<Vec<u8>> {
    let body = "<p>No organisation of that name that you belong to.</p>";
    html::html(StatusCode::NOT_FOUND, page("Not found", signed_in(session), body))
}

fn signed_in(session: &Session) -> Option<(&str, &str)> {
    Some((session.identity.user().unwrap_or("?"), &session.csrf))
}

fn refused(session: &Session) -> Response<Vec<u8>> {
    let body = "<p class=\"error\">That form was not from this session (its CSRF token is missing or wrong): \
                reload the page and try again.</p>";
    html::html(StatusCode::FORBIDDEN, page("Refused", signed_in(session), body))
}

/// A session's form: read as [`form`] does, refused unless it carries the session's CSRF
/// token.
async fn checked(body: hyper::body::Incoming, session: &Session) -> Result<Vec<(String, String)>, Response<Vec<u8>>> {
    let fields = form(body).await?;
    match field(&fields, "csrf").is_some_and(|t| same(t, &session.csrf)) {
        true => Ok(fields),
        false => Err(refused(session)),
    }
}

/// An `application/x-www-form-urlencoded` body, at most [`MAX_FORM`] bytes, as pairs.
async fn form(body: hyper::body::Incoming) -> Result<Vec<(String, String)>, Response<Vec<u8>>> {
    let bytes = match http_body_util::Limited::new(body, MAX_FORM).collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => {
            let text = format!("<p>The form is over {MAX_FORM} bytes or could not be read.</p>");
            return Err(html::html(StatusCode::BAD_REQUEST, page("Bad request", None, &text)));
        }
    };
    let text = String::from_utf8_lossy(&bytes);
    let decode = |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
    Ok(text
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect())
}

/// The first value of `name` in a form.
fn field<'f>(fields: &'f [(String, String)], name: &str) -> Option<&'f str> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}
