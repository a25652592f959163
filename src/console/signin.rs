//! Signing in to the console: through the identity provider when `[console]` is configured
//! ([`super::oidc`]), and with `demo_key = true` under `[auth]` (what `portcullis demo`
//! runs) as one of the users the loaded orgs list, by a form tied to the page it came from
//! by a cookie of its own. With neither, the page says how the console is opened.

use http::{HeaderValue, Response, StatusCode, header};

use super::form::Fields;
use super::html::{self, esc, page, redirect};
use super::session::{COOKIE, OIDC_COOKIE, SIGN_IN_COOKIE, cookie, random_token, same};
use super::{Asked, Console, SESSION_SECS, form};
use crate::principal::Identity;

impl Console {
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

    pub(super) fn sign_in_page(&self, error: Option<&str>) -> Response<Vec<u8>> {
        let mut body = String::new();
        if let Some(e) = error {
            body.push_str(&format!("<p class=\"error\">{}</p>\n", esc(e)));
        }
        if let Some(oidc) = &self.oidc {
            // A link, not a form: the CSP's `form-action 'self'` would stop the redirect on
            // to the provider.
            body.push_str(&format!(
                "<p><a href=\"/console/sign-in/start\" id=\"provider\" class=\"button\">Sign in with {}</a></p>\n",
                esc(oidc.issuer())
            ));
        }
        if !self.demo {
            if self.oidc.is_none() {
                body.push_str(
                    "<p>No way to sign in is configured: add a <code>[console]</code> section (your identity \
                     provider's client id and this console's <code>redirect_url</code>) beside <code>[auth] issuer</code>. \
                     <code>portcullis demo</code> opens the console for its sample users.</p>",
                );
            }
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
        let secure = if self.secure { "; Secure" } else { "" };
        let tie = format!("{SIGN_IN_COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict; Max-Age=3600{secure}");
        if let Ok(v) = http::HeaderValue::from_str(&tie) {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
        r
    }

    pub(super) async fn sign_in(&self, asked: &Asked<'_>, body: hyper::body::Incoming, now: i64) -> Response<Vec<u8>> {
        // The form must come from a sign-in page this browser was shown.
        let Some(tie) = cookie(asked.cookies, SIGN_IN_COOKIE).filter(|_| self.demo) else {
            return html::html(StatusCode::FORBIDDEN, page("Sign in", None, "<p>Open the sign-in page first.</p>"));
        };
        let fields = match form::read(body).await {
            Ok(f) => f,
            Err(r) => return r,
        };
        if !form::field(&fields, "csrf").is_some_and(|t| same(t, tie)) {
            let mut r = self.sign_in_page(Some("That form was not this page's: sign in again."));
            *r.status_mut() = StatusCode::FORBIDDEN;
            return r;
        }
        let user = form::field(&fields, "user").unwrap_or("");
        if !self.demo_users().iter().any(|u| u == user) {
            let mut r = self.sign_in_page(Some("No sample user of that name."));
            *r.status_mut() = StatusCode::FORBIDDEN;
            return r;
        }
        match self.sessions.open(Identity::User(user.to_string()), now, now + SESSION_SECS) {
            Ok((id, _)) => redirect("/console/orgs", Some(&self.session_cookie(&id, SESSION_SECS))),
            Err(e) => {
                let mut r = self.sign_in_page(Some(&e.to_string()));
                *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                r
            }
        }
    }

    /// The `Set-Cookie` of a session: `Secure` when the console is reached over TLS.
    fn session_cookie(&self, id: &str, max_age: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{COOKIE}={id}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
    }

    /// Sends the browser to the identity provider.
    pub(super) async fn provider_start(&self, now: i64) -> Response<Vec<u8>> {
        let Some(oidc) = &self.oidc else { return self.sign_in_page(Some("No identity provider is configured.")) };
        match oidc.start(now).await {
            Ok(started) => {
                // Lax: the provider's redirect back is a top-level navigation from its site.
                let secure = if self.secure { "; Secure" } else { "" };
                let tie = format!(
                    "{OIDC_COOKIE}={}; Path=/console/callback; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
                    started.state,
                    super::oidc::PENDING_SECS
                );
                let mut r = html::respond(StatusCode::SEE_OTHER, "text/plain; charset=utf-8", Vec::new());
                if let (Ok(to), Ok(c)) = (HeaderValue::from_str(&started.location), HeaderValue::from_str(&tie)) {
                    r.headers_mut().insert(header::LOCATION, to);
                    r.headers_mut().insert(header::SET_COOKIE, c);
                }
                r
            }
            Err(e) => {
                let mut r = self.sign_in_page(Some(&e.to_string()));
                *r.status_mut() = StatusCode::BAD_GATEWAY;
                r
            }
        }
    }

    /// The provider's redirect back: the code exchanged, the ID token checked, a session.
    pub(super) async fn provider_callback(&self, asked: &Asked<'_>, query: &Fields, now: i64) -> Response<Vec<u8>> {
        let Some(oidc) = &self.oidc else { return self.sign_in_page(Some("No identity provider is configured.")) };
        let refuse = |status, text: &str| {
            let mut r = self.sign_in_page(Some(text));
            *r.status_mut() = status;
            r
        };
        if let Some(e) = form::field(query, "error") {
            return refuse(StatusCode::FORBIDDEN, &format!("The identity provider did not sign you in ({e})."));
        }
        let (Some(state), Some(code)) = (form::field(query, "state"), form::field(query, "code")) else {
            return refuse(StatusCode::BAD_REQUEST, "The identity provider sent no code and state back.");
        };
        // Only the browser that started this sign-in may finish it.
        if !cookie(asked.cookies, OIDC_COOKIE).is_some_and(|tie| same(tie, state)) {
            return refuse(StatusCode::FORBIDDEN, "This sign-in was not started in this browser: sign in again.");
        }
        let principal = match oidc.finish(state, code, now).await {
            Ok(p) => p,
            Err(e) => return refuse(StatusCode::FORBIDDEN, &e.to_string()),
        };
        let until = super::oidc::Oidc::session_end(&principal, now);
        match self.sessions.open(principal.identity.clone(), now, until) {
            Ok((id, _)) => {
                // The session cookie is SameSite=Strict, and this answer ends a navigation
                // from the provider's site: a page of the console's own moves on to the orgs,
                // so that the browser sends it.
                let body = "<p>Signed in. <a href=\"/console/orgs\">Continue to your organisations</a>.</p>";
                let text = page("Signed in", None, body).replacen(
                    "<title>",
                    "<meta http-equiv=\"refresh\" content=\"0; url=/console/orgs\"><title>",
                    1,
                );
                let mut r = html::html(StatusCode::OK, text);
                let gone = format!("{OIDC_COOKIE}=; Path=/console/callback; HttpOnly; SameSite=Lax; Max-Age=0");
                for c in [self.session_cookie(&id, until - now), gone] {
                    if let Ok(v) = HeaderValue::from_str(&c) {
                        r.headers_mut().append(header::SET_COOKIE, v);
                    }
                }
                r
            }
            Err(e) => refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        }
    }
}
