//! The web console, on the admin listener under `/console`: pages rendered here from the
//! same control-plane calls the admin API makes, acting as the signed-in user, so the model
//! decides every change a page makes exactly as it decides the API's.
//!
//! Nothing is installed beside the binary: the pages are text built in [`html`] with every
//! value escaped, and carry no script. Sessions ([`session`]) live in an `HttpOnly`,
//! `SameSite=Strict` cookie, and every form carries the session's CSRF token. A page posts
//! its change to itself and, once it is made, is shown again by a redirect (a reload never
//! makes a change twice); a refused change shows the page again with the model's reason.
//!
//! Signing in ([`signin`]): through the identity provider with OpenID Connect and PKCE
//! (`[console]`, [`oidc`]), and with `demo_key = true` under `[auth]` (what `portcullis
//! demo` runs) as one of the users the loaded orgs list.

mod audit;
mod form;
pub mod html;
mod members;
pub mod oidc;
mod org;
mod projects;
mod requests;
mod resource;
mod roles;
pub mod session;
mod signin;
mod teams;

use std::sync::Arc;

use http::{Method, Response, StatusCode, header};

use crate::control::ControlPlane;
use html::{esc, page, redirect};
use session::{COOKIE, Session, Sessions, cookie};

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
    /// Sign-in through the identity provider (`[console]`).
    oidc: Option<oidc::Oidc>,
    /// Cookies are `Secure`: the browser reaches the console over TLS.
    secure: bool,
}

/// A request's method, path and cookies, as the console reads them.
struct Asked<'r> {
    method: &'r Method,
    path: &'r str,
    cookies: &'r str,
}

impl Console {
    /// With `secure`, the browser reaches the console over TLS (a `redirect_url` of
    /// `https://`), and its cookies say so.
    pub fn new(control: Arc<ControlPlane>, demo: bool, oidc: Option<oidc::Oidc>, secure: bool) -> Console {
        Console { control, sessions: Sessions::default(), demo, oidc, secure }
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
            (&Method::GET, "/console/sign-in/start") => return self.provider_start(now).await,
            (&Method::GET, "/console/callback") => {
                let query = form::pairs(head.uri.query().unwrap_or(""));
                return self.provider_callback(&asked, &query, now).await;
            }
            _ => {}
        }
        // Every other page needs a session, found before anything else is read.
        let Some((id, session)) = cookie(asked.cookies, COOKIE).and_then(|id| Some((id, self.sessions.get(id, now)?)))
        else {
            return redirect("/console/sign-in", None);
        };
        let query = form::pairs(head.uri.query().unwrap_or(""));
        let decoded: Vec<String> = asked
            .path
            .trim_end_matches('/')
            .split('/')
            .skip(2)
            .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect();
        let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
        match (asked.method, segments.as_slice()) {
            (&Method::GET, []) => redirect("/console/orgs", None),
            (&Method::GET, ["orgs"]) => self.orgs_page(&session),
            (method, ["orgs", org, rest @ ..]) => match self.belongs(&session, org) {
                true => self.org_call(&session, method, org, rest, &query, body).await,
                false => no_org(&session),
            },
            (&Method::POST, ["sign-out"]) => match form::checked(body, &session).await {
                Ok(_) => {
                    self.sessions.close(id);
                    let gone = format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0");
                    redirect("/console/sign-in", Some(&gone))
                }
                Err(r) => r,
            },
            _ => not_found(&session),
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
}

/// Another org's page and a page of no org look the same.
fn no_org(session: &Session) -> Response<Vec<u8>> {
    let body = "<p>No organisation of that name that you belong to.</p>";
    html::html(StatusCode::NOT_FOUND, page("Not found", signed_in(session), body))
}

fn not_found(session: &Session) -> Response<Vec<u8>> {
    let body = "<p>There is no such page in the console.</p>";
    html::html(StatusCode::NOT_FOUND, page("Not found", signed_in(session), body))
}

fn signed_in(session: &Session) -> Option<(&str, &str)> {
    Some((session.identity.user().unwrap_or("?"), &session.csrf))
}
