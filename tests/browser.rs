//! The console in a real browser: Debian's headless Chromium, driven over WebDriver
//! (chromedriver) by fantoccini, against a real `portcullis demo` on the shipped config and
//! policies. Each test walks one of the brief's stories by clicking, as a newcomer would,
//! then checks its effect through the gateway with the demo's tokens. Every page visited
//! is saved as a screenshot under `target/tmp/console/`.
//!
//! Without chromium and chromedriver the tests say they were skipped; under CI (CI=true)
//! they fail, as `.ci/run` installs both.

use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

use crate::gateway::demo::Demo;
use crate::gateway::{free_port, send_on};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver of this test's own, in a process group of its own with the browsers it
/// starts: the whole group is stopped when dropped, even when a test failed mid-story.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) with the negated pid of a group this test made; no memory is touched.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
        let _ = self.child.wait();
    }
}

/// Starts chromedriver and waits until it answers `/status`; `None` (the test is skipped)
/// when this machine has no browser, which CI does not allow.
fn driver() -> Option<Driver> {
    if !std::path::Path::new(CHROMIUM).exists() || !std::path::Path::new(CHROMEDRIVER).exists() {
        assert!(std::env::var_os("CI").is_none(), "the browser tests need {CHROMIUM} and {CHROMEDRIVER} under CI");
        eprintln!("browser tests skipped: install chromium and chromium-driver (Debian) to run them");
        return None;
    }
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let driver = Driver { child, port };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            let (status, _, body) =
                send_on(port, b"GET /status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
            if status == 200 && body.contains("\"ready\":true") {
                return Some(driver);
            }
        }
        assert!(Instant::now() < deadline, "chromedriver did not become ready on {port} within 20 s");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// One browser session (its own profile, so its own cookies) on the demo's console.
struct Tab {
    c: Client,
    base: String,
    story: &'static str,
}

impl Tab {
    async fn new(driver: &Driver, demo: &Demo, story: &'static str) -> Tab {
        Tab::at_base(driver, demo.var("PORTCULLIS_ADMIN").to_string(), story).await
    }

    async fn at_base(driver: &Driver, base: String, story: &'static str) -> Tab {
        let mut caps = serde_json::Map::new();
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--disable-crash-reporter",
            "--disable-breakpad",
            "--window-size=1280,1100",
        ];
        caps.insert("goog:chromeOptions".into(), serde_json::json!({ "binary": CHROMIUM, "args": args }));
        let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .unwrap();
        Tab { c, base, story }
    }

    async fn open(&self, path: &str) {
        self.c.goto(&format!("{}{path}", self.base)).await.unwrap();
    }

    /// The path the browser is on.
    async fn at(&self) -> String {
        self.c.current_url().await.unwrap().path().to_string()
    }

    async fn sign_in(&self, user: &str) {
        self.open("/console/sign-in").await;
        self.click(&format!("//button[normalize-space()='{user}']")).await;
        assert_eq!(self.at().await, "/console/orgs", "{user} did not sign in");
    }

    /// Clicks the element at `xpath` and waits for the page it loads.
    async fn click(&self, xpath: &str) {
        let page = self.c.find(Locator::Css("html")).await.unwrap();
        let e = self.c.find(Locator::XPath(xpath)).await.unwrap_or_else(|e| panic!("no {xpath}: {e}"));
        e.click().await.unwrap();
        // The page it was on goes stale once the next one has replaced it.
        let deadline = Instant::now() + Duration::from_secs(15);
        while page.tag_name().await.is_ok() {
            assert!(Instant::now() < deadline, "clicking {xpath} loaded no page within 15 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.c.wait().for_element(Locator::Css("main h1")).await.unwrap();
    }

    async fn fill(&self, css: &str, text: &str) {
        let e = self.c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}"));
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    async fn tick(&self, css: &str) {
        self.c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}")).click().await.unwrap();
    }

    async fn choose(&self, css: &str, value: &str) {
        let e = self.c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}"));
        e.select_by_value(value).await.unwrap();
    }

    async fn text(&self, css: &str) -> String {
        match self.c.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap(),
            Err(_) => String::new(),
        }
    }

    /// What the page says above its forms (a refusal, or what a change gave).
    async fn said(&self) -> String {
        self.text("p[role=status]").await
    }

    /// Saves the page as `target/tmp/console/STORY-NAME.png`.
    async fn shot(&self, name: &str) {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console");
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.c.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{}-{name}.png", self.story)), png).unwrap();
    }

    async fn close(self) {
        self.c.close().await.unwrap();
    }
}

/// The status the gateway answers `method path` with, as the demo user whose token is `who`.
fn gateway(demo: &Demo, who: &str, method: &str, path: &str) -> u16 {
    let body = if method == "GET" || method == "DELETE" { "" } else { "{}" };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: demo\r\nConnection: close\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        demo.var(who),
        body.len()
    );
    send_on(demo.listen, request.as_bytes()).0
}

/// Runs one story: a demo, a chromedriver, and the story's async steps on a runtime.
fn story<F>(name: &'static str, steps: impl FnOnce(Demo, Driver) -> F)
where
    F: std::future::Future<Output = ()>,
{
    let Some(driver) = driver() else { return };
    let demo = Demo::start(name);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(steps(demo, driver));
}

const CONTAINERS: &str = "/v1/orgs/acme/projects/web/containers";

#[test]
fn a_deployer_role_ticked_in_the_grid_and_assigned_lets_dave_create_containers() {
    story("deployer", |demo, driver| async move {
        assert_eq!(gateway(&demo, "DAVE", "POST", CONTAINERS), 403, "{}", demo.log());
        let alice = Tab::new(&driver, &demo, "deployer").await;
        alice.sign_in("alice").await;
        alice.open("/console/orgs/acme/roles").await;
        alice.fill("#grid input[name=create]", "Deployer").await;
        // The brief's Deployer: create, update and delete containers (in each project), read registries.
        let ticks = [("project", "containers", "create"), ("project", "containers", "update")];
        let ticks =
            ticks.into_iter().chain([("project", "containers", "delete"), ("organisation", "registries", "read")]);
        for (level, kind, verb) in ticks {
            alice.tick(&format!("#grid input[name='{level}:{kind}'][value='{verb}']")).await;
        }
        alice.shot("grid").await;
        alice.click("//form[@id='grid']//button").await;
        assert_eq!(alice.said().await, "", "saving the role was refused");
        let holders = "//table[@id='roles']//tr[td[1]='Deployer']/td[@class='holders']";
        assert_eq!(alice.c.find(Locator::XPath(holders)).await.unwrap().text().await.unwrap(), "0");

        // Assigned on the members page, it applies at once.
        alice.open("/console/orgs/acme/members").await;
        alice.choose("#assign select[name=subject]", "dave").await;
        alice.choose("#assign select[name=role]", "Deployer").await;
        alice.click("//form[@id='assign']//button").await;
        assert_eq!(alice.said().await, "");
        assert!(alice.text("#members").await.contains("Deployer"), "{}", alice.text("#members").await);
        alice.shot("assigned").await;
        assert_eq!(gateway(&demo, "DAVE", "POST", CONTAINERS), 201, "{}", demo.log());
        assert_eq!(gateway(&demo, "DAVE", "PUT", "/v1/orgs/acme/billing"), 403, "nothing else");
        alice.open("/console/orgs/acme/roles").await;
        assert_eq!(alice.c.find(Locator::XPath(holders)).await.unwrap().text().await.unwrap(), "1");

        // Editing the role changes what its holders may do: without create, dave's POST is refused again.
        alice.open("/console/orgs/acme/roles/Deployer").await;
        alice.tick("#grid input[name='project:containers'][value='create']").await;
        alice.shot("edit").await;
        alice.click("//form[@id='grid']//button").await;
        assert_eq!(alice.said().await, "");
        assert_eq!(gateway(&demo, "DAVE", "POST", CONTAINERS), 403);
        alice.close().await;
    });
}

#[test]
fn a_viewer_made_admin_of_one_project_is_admin_there_only() {
    story("project-admin", |demo, driver| async move {
        let c7 = format!("{CONTAINERS}/c-7");
        assert_eq!(gateway(&demo, "DAVE", "DELETE", &c7), 403, "{}", demo.log());
        let alice = Tab::new(&driver, &demo, "project-admin").await;
        alice.sign_in("alice").await;
        alice.open("/console/orgs/acme/projects").await;
        alice.shot("projects").await;
        alice.click("//table[@id='projects']//a[.='web']").await;
        assert_eq!(alice.at().await, "/console/orgs/acme/projects/web");
        let dave = "//table[@id='project-users']//tr[td[1]='dave']/td[2]";
        let role = || async { alice.c.find(Locator::XPath(dave)).await.unwrap().text().await.unwrap() };
        assert!(role().await.contains("no project role"), "{}", role().await);
        alice.choose("#assign select[name=subject]", "dave").await;
        alice.choose("#assign select[name=role]", "admin").await;
        alice.click("//form[@id='assign']//button").await;
        assert_eq!((alice.at().await.as_str(), alice.said().await.as_str()), ("/console/orgs/acme/projects/web", ""));
        assert!(role().await.starts_with("admin"), "{}", role().await);
        alice.shot("members").await;
        // Admin in web; a viewer everywhere else.
        assert_eq!(gateway(&demo, "DAVE", "DELETE", &c7), 200);
        assert_eq!(gateway(&demo, "DAVE", "DELETE", "/v1/orgs/acme/registries/r-1"), 403);
        assert_eq!(gateway(&demo, "DAVE", "GET", "/v1/orgs/acme/projects/payments/containers/c-1"), 403);
        alice.close().await;
    });
}

#[test]
fn a_container_shared_from_its_panel_is_readable_until_revoked() {
    story("share", |demo, driver| async move {
        let c42 = "/v1/orgs/acme/projects/payments/containers/c-42";
        assert_eq!(gateway(&demo, "DAVE", "GET", c42), 403, "{}", demo.log());
        let alice = Tab::new(&driver, &demo, "share").await;
        alice.sign_in("alice").await;
        alice.open("/console/orgs/acme").await;
        alice.shot("overview").await;
        alice.choose("#open select[name=kind]", "containers").await;
        alice.fill("#open input[name=project]", "payments").await;
        alice.fill("#open input[name=id]", "c-42").await;
        alice.click("//form[@id='open']//button").await;
        assert!(alice.text("main h1").await.contains("containers c-42 in project payments"));
        alice.choose("#share select[name=share]", "dave").await;
        alice.tick("#share input[name=verb][value=read]").await;
        alice.click("//form[@id='share']//button").await;
        assert_eq!(alice.said().await, "");
        let row = alice.text("#shares").await;
        assert!(row.contains("dave") && row.contains("list, read") && row.contains("alice"), "{row}");
        alice.shot("panel").await;
        assert_eq!(gateway(&demo, "DAVE", "GET", c42), 200);
        alice.click("//table[@id='shares']//tr[td[1]='dave']//button").await;
        assert!(alice.text("#shares").await.contains("Nobody has direct access"));
        assert_eq!(gateway(&demo, "DAVE", "GET", c42), 403);

        // dave, on the c-42 of web that bob shared with him (read and update): what he does
        // not hold he cannot share, and the access review says why he holds what he does.
        let dave = Tab::new(&driver, &demo, "share-dave").await;
        dave.sign_in("dave").await;
        dave.open("/console/orgs/acme/resource?kind=containers&project=web&id=c-42").await;
        let enabled = |verb: &'static str| {
            let dave = &dave;
            async move {
                let css = format!("#share input[name=verb][value={verb}]");
                dave.c.find(Locator::Css(&css)).await.unwrap().is_enabled().await.unwrap()
            }
        };
        assert_eq!(
            (enabled("read").await, enabled("update").await, enabled("create").await, enabled("delete").await),
            (true, true, false, false)
        );
        dave.shot("dave").await;
        dave.close().await;
        alice.close().await;
    });
}

#[test]
fn an_ownership_transfer_confirmed_in_two_sessions_moves_ownership() {
    story("transfer", |demo, driver| async move {
        assert_eq!(gateway(&demo, "ALICE", "PUT", "/v1/orgs/acme/billing"), 200, "{}", demo.log());
        let alice = Tab::new(&driver, &demo, "transfer-alice").await;
        let bob = Tab::new(&driver, &demo, "transfer-bob").await;
        alice.sign_in("alice").await;
        bob.sign_in("bob").await;
        alice.open("/console/orgs/acme").await;
        alice.choose("#transfer-start select[name=to]", "bob").await;
        alice.choose("#transfer-start select[name=step_down_to]", "viewer").await;
        alice.click("//form[@id='transfer-start']//button").await;
        assert!(
            alice.text("#transfer").await.contains("to bob (not yet confirmed)"),
            "{}",
            alice.text("#transfer").await
        );
        alice.click("//button[.='Confirm the transfer']").await;
        alice.shot("pending").await;
        // The owner keeps full control until both have confirmed.
        assert_eq!(alice.text("#owner").await, "alice");
        assert_eq!(gateway(&demo, "ALICE", "PUT", "/v1/orgs/acme/billing"), 200);
        bob.open("/console/orgs/acme").await;
        assert!(bob.text("#transfer").await.contains("alice (confirmed)"));
        bob.shot("confirm").await;
        bob.click("//button[.='Confirm the transfer']").await;
        assert_eq!(bob.text("#owner").await, "bob");
        bob.shot("done").await;
        assert_eq!(gateway(&demo, "ALICE", "PUT", "/v1/orgs/acme/billing"), 403, "alice stepped down to viewer");
        assert_eq!(gateway(&demo, "BOB", "PUT", "/v1/orgs/acme/billing"), 200);
        alice.close().await;
        bob.close().await;
    });
}

#[test]
fn a_refused_change_shows_the_reason_and_the_console_guards_its_forms() {
    story("guards", |demo, driver| async move {
        let dave = Tab::new(&driver, &demo, "guards").await;
        // No session: the sign-in page.
        dave.open("/console/orgs/acme/members").await;
        assert_eq!(dave.at().await, "/console/sign-in");
        dave.shot("sign-in").await;
        dave.sign_in("dave").await;
        dave.open("/console/orgs/acme/members").await;
        dave.fill("#invite input[name=invite]", "yan").await;
        dave.click("//form[@id='invite']//button").await;
        assert_eq!(dave.said().await, "'dave' needs create on members");
        dave.shot("refused").await;
        assert!(!dave.text("#members").await.contains("yan"));

        // The session's cookie without the form's token: refused, and nothing written.
        let session = dave.c.get_named_cookie("portcullis_session").await.unwrap();
        let admin: u16 = demo.var("PORTCULLIS_ADMIN").rsplit(':').next().unwrap().parse().unwrap();
        let forged = format!(
            "POST /console/orgs/acme/members HTTP/1.1\r\nHost: demo\r\nConnection: close\r\nCookie: portcullis_session={}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 10\r\n\r\ninvite=yan",
            session.value()
        );
        let (status, head, _) = send_on(admin, forged.as_bytes());
        assert_eq!(status, 403, "{head}");
        let csp = head.lines().find(|l| l.to_ascii_lowercase().starts_with("content-security-policy:")).unwrap();
        assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{csp}");
        dave.close().await;
    });
}

#[test]
fn access_asked_for_on_a_resource_and_approved_is_granted_and_every_page_opens() {
    story("request", |demo, driver| async move {
        let c42 = format!("{CONTAINERS}/c-42");
        assert_eq!(gateway(&demo, "DAVE", "DELETE", &c42), 403, "{}", demo.log());
        let dave = Tab::new(&driver, &demo, "request-dave").await;
        dave.sign_in("dave").await;
        dave.open("/console/orgs/acme/resource?kind=containers&project=web&id=c-42").await;
        dave.tick("#ask input[name=verb][value=delete]").await;
        dave.fill("#ask input[name=duration]", "1h").await;
        dave.fill("#ask input[name=reason]", "clean up the old build").await;
        dave.click("//form[@id='ask']//button").await;
        assert!(dave.said().await.starts_with("Asked (request "), "{}", dave.said().await);

        let alice = Tab::new(&driver, &demo, "request-alice").await;
        alice.sign_in("alice").await;
        alice.open("/console/orgs/acme/requests").await;
        let row = alice.text("#to-answer").await;
        assert!(row.contains("dave") && row.contains("delete on containers c-42") && row.contains("1 h"), "{row}");
        alice.shot("to-answer").await;
        alice.click("//table[@id='to-answer']//tr[td[1]='dave']//button[.='Approve']").await;
        assert_eq!(alice.said().await, "");
        assert!(alice.text("#requests").await.contains("approved"));
        assert_eq!(gateway(&demo, "DAVE", "DELETE", &c42), 200);

        // Every other page opens, as alice, with nothing refused; each is saved.
        for (name, path, marker) in [
            ("members", "/console/orgs/acme/members", "#members"),
            ("teams", "/console/orgs/acme/teams", "section.team"),
            ("roles", "/console/orgs/acme/roles", "#roles"),
            ("my-access", "/console/orgs/acme/access", "#my-access"),
            ("audit", "/console/orgs/acme/audit?actor=alice&kind=share", "#audit"),
        ] {
            alice.open(path).await;
            assert_eq!(alice.said().await, "", "{path}");
            assert!(!alice.text(marker).await.is_empty(), "{path} has no {marker}");
            alice.shot(name).await;
        }
        let audit = alice.text("#audit").await;
        assert!(audit.contains("share.create") && !audit.contains("org.import"), "only alice's changes: {audit}");
        // The share the approval made is dave's, and in his access list.
        dave.open("/console/orgs/acme/access").await;
        assert!(
            dave.text("#my-access").await.contains("share to dave from 'alice'"),
            "{}",
            dave.text("#my-access").await
        );
        dave.shot("my-access").await;
        dave.close().await;
        alice.close().await;
    });
}

#[test]
fn signing_in_through_the_identity_provider_takes_one_click() {
    let Some(driver) = driver() else { return };
    let provider = crate::console::provider::Provider::start("dave");
    let console = crate::console::start_with(false, Some(&provider), "http");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let tab = Tab::at_base(&driver, format!("http://127.0.0.1:{}", console.port), "provider").await;
        tab.open("/console/orgs").await;
        assert_eq!(tab.at().await, "/console/sign-in");
        tab.shot("sign-in").await;
        tab.click("//a[@id='provider']").await;
        // The provider signs dave in at once and sends the browser back; the console's page
        // moves on to the orgs.
        tab.c
            .wait()
            .for_url(&format!("http://127.0.0.1:{}/console/orgs", console.port).parse().unwrap())
            .await
            .unwrap();
        assert!(tab.text("header").await.contains("Signed in as dave"), "{}", tab.text("header").await);
        assert!(tab.text("main").await.contains("acme"));
        tab.shot("orgs").await;
        tab.close().await;
    });
}
