//! The console over HTTP, as a browser speaks to it: a real `portcullis serve` with
//! `[admin]` and the demo sign-in, on the shipped policies (org acme with dave, org lab with
//! frank). Cookies are carried by hand; every answer is checked for its security headers.

pub mod provider;

use crate::admin::{admin_section, wait_listening};
use crate::gateway::{Gateway, Setup, free_port, send_on};

pub struct Console {
    pub port: u16,
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
    start_with(demo_key, None, "http")
}

/// With `provider`, the console signs in through it (`[console]`, `[auth] issuer`).
/// `scheme` is how browsers reach the console (`https` behind a proxy that ends TLS).
pub fn start_with(demo_key: bool, provider: Option<&provider::Provider>, scheme: &str) -> Console {
    let port = free_port();
    let store = format!("data_dir = \"{}\"", crate::scratch("console").display());
    let mut extra = admin_section(port, &store);
    let mut auth = String::new();
    if let Some(p) = provider {
        extra.push_str(&format!(
            "\n[console]\nclient_id = \"portcullis-console\"\nredirect_url = \"{scheme}://127.0.0.1:{port}/console/callback\"\n"
        ));
        auth = format!("issuer = \"{}\"\n", p.issuer());
    }
    let gateway = Gateway::start_with(Setup { extra_config: &extra, demo_key, auth_lines: &auth, ..Setup::default() });
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
    assert!(
        page.status == 200 && page.body.contains("No way to sign in is configured") && !page.body.contains("<form"),
        "{}",
        page.body
    );
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

/// Starts a sign-in through the provider and follows its redirect: the console's callback
/// target and the state cookie the start set.
fn through_provider(c: &Console, p: &provider::Provider) -> (String, String) {
    let start = c.call("GET", "/console/sign-in/start", &[], "");
    let to = start.header("location").unwrap_or_else(|| panic!("{} {}", start.status, start.body));
    assert!(to.starts_with(&format!("{}/authorize?", p.issuer())) && to.contains("code_challenge_method=S256"), "{to}");
    let set = start.head.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie: portcullis_oidc=")).unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/console/callback"),
        "{set}"
    );
    let state = start.cookie("portcullis_oidc").unwrap();
    let target = to.strip_prefix(&p.issuer()).unwrap();
    let (status, head, _) =
        send_on(p.port, format!("GET {target} HTTP/1.1\r\nHost: idp\r\nConnection: close\r\n\r\n").as_bytes());
    assert_eq!(status, 302);
    let back = head.lines().find_map(|l| l.strip_prefix("Location: ")).unwrap().trim().to_string();
    let callback = back.strip_prefix(&format!("http://127.0.0.1:{}", c.port)).unwrap().to_string();
    (callback, state)
}

#[test]
fn signing_in_through_the_provider_with_pkce_opens_a_session_as_long_as_the_id_token() {
    let p = provider::Provider::start("dave");
    let c = start_with(false, Some(&p), "http");
    let page = c.call("GET", "/console/sign-in", &[], "");
    assert!(page.body.contains(&format!("Sign in with {}", p.issuer())), "{}", page.body);
    let (callback, state) = through_provider(&c, &p);
    let done = c.call("GET", &callback, &[("portcullis_oidc", &state)], "");
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("url=/console/orgs"), "{}", done.body);
    let set =
        done.head.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie: portcullis_session=")).unwrap();
    let max_age: i64 = set.split("Max-Age=").nth(1).unwrap().split(';').next().unwrap().trim().parse().unwrap();
    assert!(max_age > 590 && max_age <= 600, "the session ends with the ID token: {set}");
    assert!(set.contains("SameSite=Strict") && !set.contains("Secure"), "{set}");
    assert_eq!(*p.bad_verifiers.lock().unwrap(), 0, "the provider found the PKCE verifier wrong");
    let dave = done.cookie("portcullis_session").unwrap();
    let orgs = c.call("GET", "/console/orgs", &[("portcullis_session", &dave)], "");
    assert!(
        orgs.status == 200 && orgs.body.contains("/console/orgs/acme") && orgs.body.contains("<b>dave</b>"),
        "{}",
        orgs.body
    );
    assert!(!orgs.body.contains("/console/orgs/lab"), "dave is not in lab");

    // The same callback again: that sign-in is over.
    let again = c.call("GET", &callback, &[("portcullis_oidc", &state)], "");
    assert!(again.status == 403 && again.cookie("portcullis_session").is_none(), "{}", again.body);
}

#[test]
fn a_callback_from_another_browser_or_with_a_foreign_id_token_opens_no_session() {
    let p = provider::Provider::start("dave");
    let c = start_with(false, Some(&p), "http");
    // Another browser's state cookie, or none: refused before the code is exchanged.
    let (mine, _) = through_provider(&c, &p);
    let (_, theirs) = through_provider(&c, &p);
    for cookies in [vec![], vec![("portcullis_oidc", theirs.as_str())]] {
        let a = c.call("GET", &mine, &cookies, "");
        assert!(a.status == 403 && a.body.contains("not started in this browser"), "{}", a.body);
        assert!(a.cookie("portcullis_session").is_none());
    }
    // An ID token for another client, or with another sign-in's nonce.
    for (mode, why) in [(provider::Mode::OtherAudience, "ID token was refused"), (provider::Mode::OtherNonce, "nonce")]
    {
        p.set_mode(mode);
        let (callback, state) = through_provider(&c, &p);
        let a = c.call("GET", &callback, &[("portcullis_oidc", &state)], "");
        assert!(a.status == 403 && a.body.contains(why), "{mode:?}: {}", a.body);
        assert!(a.cookie("portcullis_session").is_none());
    }
    // The provider's own refusal is shown as such.
    let a = c.call("GET", "/console/callback?error=access_denied&state=x", &[], "");
    assert!(a.status == 403 && a.body.contains("did not sign you in (access_denied)"), "{}", a.body);
}

#[test]
fn a_provider_that_does_not_answer_sends_nobody_anywhere() {
    let p = provider::Provider::start("dave");
    let c = start_with(false, Some(&p), "http");
    drop(p);
    let a = c.call("GET", "/console/sign-in/start", &[], "");
    assert!(a.status == 502 && a.header("location").is_none(), "{} {}", a.status, a.body);
    assert!(
        a.body.contains("discovery document") && a.body.contains("/.well-known/openid-configuration"),
        "{}",
        a.body
    );
}

#[test]
fn every_org_page_of_another_org_is_the_page_of_no_org() {
    let c = start(true);
    let (dave, frank) = (c.sign_in("dave"), c.sign_in("frank"));
    let pages = [
        "",
        "/members",
        "/teams",
        "/roles",
        "/roles/payments-auditor",
        "/projects",
        "/projects/web",
        "/resource?kind=containers&project=web&id=c-42",
        "/access",
        "/requests",
        "/audit",
    ];
    let forms = ["", "/members", "/bindings", "/teams", "/roles", "/projects", "/resource", "/requests"];
    for (who, mine, theirs) in [(&dave, "acme", "lab"), (&frank, "lab", "acme")] {
        let s = [("portcullis_session", who.as_str())];
        let csrf = c.call("GET", "/console/orgs", &s, "").hidden("csrf");
        let nothing = c.call("GET", "/console/orgs/nowhere", &s, "");
        assert_eq!(nothing.status, 404);
        for page in pages {
            let path = if page.starts_with("/resource") && mine == "lab" {
                page.replace("project=web", "project=ml")
            } else {
                page.to_string()
            };
            let own = c.call("GET", &format!("/console/orgs/{mine}{path}"), &s, "");
            assert_ne!(own.status, 404, "{mine}{path}: {}", own.body);
            let other = c.call("GET", &format!("/console/orgs/{theirs}{page}"), &s, "");
            assert_eq!((other.status, &other.body), (404, &nothing.body), "{theirs}{page}");
        }
        for form in forms {
            let body =
                format!("csrf={csrf}&invite=x&create=x&share=x&kind=containers&id=c-42&approve=x&subject=x&role=x");
            let other = c.call("POST", &format!("/console/orgs/{theirs}{form}"), &s, &body);
            assert_eq!((other.status, &other.body), (404, &nothing.body), "POST {theirs}{form}");
        }
    }
}

#[test]
fn a_console_reached_over_tls_sets_secure_cookies() {
    let p = provider::Provider::start("dave");
    let c = start_with(true, Some(&p), "https");
    let start = c.call("GET", "/console/sign-in/start", &[], "");
    let oidc = start.head.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie: portcullis_oidc=")).unwrap();
    assert!(oidc.contains("; Secure"), "{oidc}");
    let page = c.call("GET", "/console/sign-in", &[], "");
    let tie =
        page.head.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie: portcullis_sign_in=")).unwrap();
    assert!(tie.contains("; Secure"), "{tie}");
    let form = format!("csrf={}&user=dave", page.hidden("csrf"));
    let signed = c.call(
        "POST",
        "/console/sign-in",
        &[("portcullis_sign_in", &page.cookie("portcullis_sign_in").unwrap())],
        &form,
    );
    let set =
        signed.head.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie: portcullis_session=")).unwrap();
    assert!(set.contains("; Secure") && set.contains("SameSite=Strict"), "{set}");
}

#[test]
fn a_service_accounts_token_is_shown_once_works_at_the_gateway_and_stops_when_revoked() {
    let c = start(true);
    let api = |sub: &str, method: &str, path: &str, body: Option<&str>| {
        crate::admin::call(c.port, Some(sub), method, path, body)
    };
    assert_eq!(api("root", "POST", "/v1/orgs", Some(r#"{"id":"globex","owner":"gina"}"#)).0, 201);
    let gina = c.sign_in("gina");
    let s = [("portcullis_session", gina.as_str())];
    let csrf = c.call("GET", "/console/orgs/globex/members", &s, "").hidden("csrf");
    let added = c.call("POST", "/console/orgs/globex/members", &s, &format!("csrf={csrf}&service_account=bot"));
    assert_eq!(added.status, 303, "{}", added.body);
    let issued = c.call("POST", "/console/orgs/globex/members", &s, &format!("csrf={csrf}&issue_token=bot"));
    assert_eq!(issued.status, 200, "{}", issued.body);
    let token = issued.body.split(": pcat_").nth(1).map(|t| format!("pcat_{}", &t[..t.find(' ').unwrap()])).unwrap();
    assert!(issued.body.contains("it is not shown again"), "{}", issued.body);
    // The page as loaded again lists the token by id only.
    let again = c.call("GET", "/console/orgs/globex/members", &s, "");
    assert!(!again.body.contains(&token) && again.body.contains("<code>tok_"), "{}", again.body);
    // The token is bot's, a member of globex: the gateway knows it (globex has no roles, so 403, not 401).
    let at_gateway = |token: &str| {
        let request = format!(
            "GET /v1/orgs/globex/registries/r-1 HTTP/1.1\r\nHost: gw\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\r\n"
        );
        send_on(c.gateway.port, request.as_bytes()).0
    };
    assert_eq!(at_gateway(&token), 403);
    // Revoked from the page, the token is unknown.
    let id = again.hidden("revoke_token");
    let revoked =
        c.call("POST", "/console/orgs/globex/members", &s, &format!("csrf={csrf}&revoke_token={id}&account=bot"));
    assert_eq!(revoked.status, 303, "{}", revoked.body);
    assert_eq!(at_gateway(&token), 401);
    // Another org's member cannot issue one.
    let frank = c.sign_in("frank");
    let fs = [("portcullis_session", frank.as_str())];
    let frank_csrf = c.call("GET", "/console/orgs", &fs, "").hidden("csrf");
    let theirs = c.call("POST", "/console/orgs/globex/members", &fs, &format!("csrf={frank_csrf}&issue_token=bot"));
    assert!(theirs.status == 404 && !theirs.body.contains("pcat_"), "{}", theirs.body);
}
