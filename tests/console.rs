//! The console over HTTP, as a browser speaks to it: a real `portcullis serve` with
//! `[admin]` and the demo sign-in, on the shipped policies (org acme with dave, org lab with
//! frank). Cookies are carried by hand; every answer is checked for its security headers.

use crate::admin::{admin_section, wait_listening};
use crate::gateway::{Gateway, Setup, free_port, send_on};

struct Console {
    port: u16,
    gateway: Gateway,
}

struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    /// The value of header `name` (lowercase), the first of them.
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().to_string())
        })
    }

    /// The value a `Set-Cookie` gives cookie `name`.
    fn cookie(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            if !k.trim().eq_ignore_ascii_case("set-cookie") {
                return None;
            }
            let value = v.trim().strip_prefix(&format!("{name}="))?;
            Some(value.split(';').next().unwrap_or("").to_string())
        })
    }

    /// The `value` of the first hidden input named `name`.
    fn hidden(&self, name: &str) -> String {
        let at = self.body.find(&format!("name=\"{name}\" value=\"")).unwrap_or_else(|| panic!("{}", self.body));
        let rest = &self.body[at + name.len() + 15..];
        rest[..rest.find('"').unwrap()].to_string()
    }
}

fn start(demo_key: bool) -> Console {
    let port = free_port();
    let store = format!("data_dir = \"{}\"", crate::scratch("console").display());
    let extra = admin_section(port, &store);
    let gateway = Gateway::start_with(Setup { extra_config: &extra, demo_key, ..Setup::default() });
    wait_listening(port, &gateway);
    Console { port, gateway }
}

impl Console {
    fn call(&self, method: &str, path: &str, cookies: &[(&str, &str)], form: &str) -> Answer {
        let cookie = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: console.test\r\nConnection: close\r\n");
        if !cookie.is_empty() {
            req.push_str(&format!("Cookie: {cookie}\r\n"));
        }
        if method == "POST" {
            req.push_str(&format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                form.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(form);
        let (status, head, body) = send_on(self.port, req.as_bytes());
        let answer = Answer { status, head, body };
        let csp = answer.header("content-security-policy").unwrap_or_default();
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'") && !csp.contains("unsafe"),
            "{method} {path}: {}\n{}",
            answer.head,
            self.gateway.log()
        );
        assert_eq!(answer.header("x-frame-options").as_deref(), Some("DENY"));
        answer
    }

    /// Signs in as `user` through the sign-in page: the session cookie.
    fn sign_in(&self, user: &str) -> String {
        let page = self.call("GET", "/console/sign-in", &[], "");
        assert_eq!(page.status, 200, "{}", page.body);
        let tie = page.cookie("portcullis_sign_in").unwrap();
        let form = format!("csrf={}&user={}", page.hidden("csrf"), user.replace('@', "%40"));
        let signed = self.call("POST", "/console/sign-in", &[("portcullis_sign_in", &tie)], &form);
        assert_eq!(
            (signed.status, signed.header("location").as_deref()),
            (303, Some("/console/orgs")),
            "{}",
            signed.body
        );
        let set = signed.head.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie: portcullis_session="));
        let set = set.unwrap().to_string();
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/console"), "{set}");
        signed.cookie("portcullis_session").unwrap()
    }
}

#[test]
fn a_page_without_a_session_goes_to_sign_in_and_every_answer_carries_the_csp() {
    let c = start(true);
    for path in ["/console", "/console/orgs", "/console/orgs/acme", "/console/anything"] {
        let a = c.call("GET", path, &[], "");
        assert_eq!((a.status, a.header("location").as_deref()), (303, Some("/console/sign-in")), "{path}");
    }
    // A made-up session is no session.
    let a = c.call("GET", "/console/orgs", &[("portcullis_session", "00ff")], "");
    assert_eq!(a.status, 303);
    let page = c.call("GET", "/console/sign-in", &[], "");
    assert!(page.body.contains(">dave</button>") && page.body.contains(">frank</button>"), "{}", page.body);
    assert!(!page.body.contains("<script"), "{}", page.body);
    assert_eq!(c.call("GET", "/console/style.css", &[], "").status, 200);
}

#[test]
fn sign_in_needs_the_pages_token_and_each_user_sees_only_its_orgs() {
    let c = start(true);
    let page = c.call("GET", "/console/sign-in", &[], "");
    let tie = page.cookie("portcullis_sign_in").unwrap();
    let token = page.hidden("csrf");
    // No cookie from the page, a wrong token, an unknown user: refused, no session.
    for (cookies, form) in [
        (vec![], format!("csrf={token}&user=dave")),
        (vec![("portcullis_sign_in", tie.as_str())], "csrf=forged&user=dave".to_string()),
        (vec![("portcullis_sign_in", tie.as_str())], "user=dave".to_string()),
        (vec![("portcullis_sign_in", tie.as_str())], format!("csrf={token}&user=mallory")),
    ] {
        let a = c.call("POST", "/console/sign-in", &cookies, &form);
        assert_eq!(a.status, 403, "{form}: {}", a.body);
        assert!(a.cookie("portcullis_session").is_none());
    }

    let dave = c.sign_in("dave");
    let orgs = c.call("GET", "/console/orgs", &[("portcullis_session", &dave)], "");
    assert_eq!(orgs.status, 200);
    assert!(orgs.body.contains("href=\"/console/orgs/acme\"") && !orgs.body.contains("lab"), "{}", orgs.body);
    assert!(orgs.body.contains("Signed in as <b>dave</b>"), "{}", orgs.body);
    let frank = c.sign_in("frank");
    let orgs = c.call("GET", "/console/orgs", &[("portcullis_session", &frank)], "");
    assert!(orgs.body.contains("href=\"/console/orgs/lab\"") && !orgs.body.contains("acme"), "{}", orgs.body);
    // Another org's page is the page of no org.
    let theirs = c.call("GET", "/console/orgs/lab", &[("portcullis_session", &dave)], "");
    let nothing = c.call("GET", "/console/orgs/nowhere", &[("portcullis_session", &dave)], "");
    assert_eq!((theirs.status, &theirs.body), (404, &nothing.body));
    let ours = c.call("GET", "/console/orgs/acme", &[("portcullis_session", &dave)], "");
    assert!(ours.status == 200 && ours.body.contains("alice"), "{}", ours.body);
}

#[test]
fn signing_out_needs_the_sessions_token_and_ends_it() {
    let c = start(true);
    let dave = c.sign_in("dave");
    let orgs = c.call("GET", "/console/orgs", &[("portcullis_session", &dave)], "");
    let csrf = orgs.hidden("csrf");
    for form in ["", "csrf=forged"] {
        let a = c.call("POST", "/console/sign-out", &[("portcullis_session", &dave)], form);
        assert_eq!(a.status, 403, "{form}: {}", a.body);
    }
    // Another session's token does not sign dave out either.
    let frank = c.sign_in("frank");
    let frank_csrf = c.call("GET", "/console/orgs", &[("portcullis_session", &frank)], "").hidden("csrf");
    let a = c.call("POST", "/console/sign-out", &[("portcullis_session", &dave)], &format!("csrf={frank_csrf}"));
    assert_eq!(a.status, 403);
    assert_eq!(c.call("GET", "/console/orgs", &[("portcullis_session", &dave)], "").status, 200);
    let out = c.call("POST", "/console/sign-out", &[("portcullis_session", &dave)], &format!("csrf={csrf}"));
    assert_eq!((out.status, out.header("location").as_deref()), (303, Some("/console/sign-in")));
    assert_eq!(c.call("GET", "/console/orgs", &[("portcullis_session", &dave)], "").status, 303);
    assert_eq!(c.call("GET", "/console/orgs", &[("portcullis_session", &frank)], "").status, 200);
}

#[test]
fn without_the_demo_key_nobody_signs_in() {
    let c = start(false);
    let page = c.call("GET", "/console/sign-in", &[], "");
    assert!(page.status == 200 && page.body.contains("not built yet") && !page.body.contains("<form"), "{}", page.body);
    let a = c.call("POST", "/console/sign-in", &[("portcullis_sign_in", "x")], "csrf=x&user=dave");
    assert_eq!(a.status, 403);
}

#[test]
fn members_are_invited_and_removed_as_the_signed_in_user_decides() {
    let c = start(true);
    let api = |sub: &str, method: &str, path: &str, body: Option<&str>| {
        crate::admin::call(c.port, Some(sub), method, path, body)
    };
    assert_eq!(api("root", "POST", "/v1/orgs", Some(r#"{"id":"globex","owner":"gina"}"#)).0, 201);
    assert_eq!(api("gina", "POST", "/v1/orgs/globex/members", Some(r#"{"id":"dave"}"#)).0, 201);
    let members_of_globex = || api("gina", "GET", "/v1/orgs/globex/members", None).2.to_string();

    let gina = c.sign_in("gina");
    let page = c.call("GET", "/console/orgs/globex/members", &[("portcullis_session", &gina)], "");
    assert!(page.status == 200 && page.body.contains("<td>dave</td>") && page.body.contains("owner"), "{}", page.body);
    let csrf = page.hidden("csrf");
    let invited = c.call(
        "POST",
        "/console/orgs/globex/members",
        &[("portcullis_session", &gina)],
        &format!("csrf={csrf}&invite=zed"),
    );
    assert_eq!(
        (invited.status, invited.header("location").as_deref()),
        (303, Some("/console/orgs/globex/members")),
        "{}",
        invited.body
    );
    assert!(members_of_globex().contains("\"zed\""));
    // Without the session's token, nothing is written.
    let forged = c.call("POST", "/console/orgs/globex/members", &[("portcullis_session", &gina)], "invite=yan");
    assert_eq!(forged.status, 403);
    assert!(!members_of_globex().contains("\"yan\""));

    // dave may not invite: the model's refusal, beside the form, and nothing written.
    let dave = c.sign_in("dave");
    let dave_csrf = c.call("GET", "/console/orgs/globex/members", &[("portcullis_session", &dave)], "").hidden("csrf");
    let refused = c.call(
        "POST",
        "/console/orgs/globex/members",
        &[("portcullis_session", &dave)],
        &format!("csrf={dave_csrf}&invite=yan"),
    );
    let why = refused
        .body
        .split("<p class=\"error\" role=\"status\">")
        .nth(1)
        .unwrap_or("")
        .split("</p>")
        .next()
        .unwrap_or("");
    assert!(refused.status == 403 && why.contains("needs create on members"), "{}", refused.body);
    assert!(!members_of_globex().contains("\"yan\""));

    // frank of lab sees globex's members page as the page of no org, and cannot post to it.
    let frank = c.sign_in("frank");
    let theirs = c.call("GET", "/console/orgs/globex/members", &[("portcullis_session", &frank)], "");
    let nothing = c.call("GET", "/console/orgs/nowhere/members", &[("portcullis_session", &frank)], "");
    assert_eq!((theirs.status, &theirs.body), (404, &nothing.body));
    let frank_csrf = c.call("GET", "/console/orgs", &[("portcullis_session", &frank)], "").hidden("csrf");
    let posted = c.call(
        "POST",
        "/console/orgs/globex/members",
        &[("portcullis_session", &frank)],
        &format!("csrf={frank_csrf}&invite=yan"),
    );
    assert_eq!(posted.status, 404);
    assert!(!members_of_globex().contains("\"yan\""));

    // gina removes dave: gone from the org, and from his own list of orgs.
    let removed = c.call(
        "POST",
        "/console/orgs/globex/members",
        &[("portcullis_session", &gina)],
        &format!("csrf={csrf}&remove=dave"),
    );
    assert_eq!(removed.status, 303, "{}", removed.body);
    assert!(!members_of_globex().contains("\"dave\""));
    let orgs = c.call("GET", "/console/orgs", &[("portcullis_session", &dave)], "");
    assert!(orgs.body.contains("/console/orgs/acme") && !orgs.body.contains("globex"), "{}", orgs.body);
}
