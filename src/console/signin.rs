//! Signing in to the console. With `demo_key = true` under `[auth]` (what `portcullis
//! demo` runs), a page signs in as one of the users the loaded orgs list; its form is tied
//! to the page it came from by a cookie of its own. Without the demo key, the page says how
//! the console is opened.

use http::{Response, StatusCode, header};

use super::html::{self, esc, page, redirect};
use super::session::{COOKIE, SIGN_IN_COOKIE, cookie, random_token, same};
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
}
