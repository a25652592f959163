//! The README's first command: `portcullis demo` on the shipped config and policies prints
//! tokens and curl lines, and every line does what its comment says.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, root, scratch, send_on};

/// Splits a shell line into words: '...' literal, "..." with `$NAME` expanded from `vars`.
fn shell_words(line: &str, vars: &[(String, String)]) -> Vec<String> {
    let expand = |s: &str| {
        let mut out = s.to_string();
        for (k, v) in vars {
            out = out.replace(&format!("${k}"), v);
        }
        out
    };
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' if !word.is_empty() => words.push(std::mem::take(&mut word)),
            ' ' => {}
            '\'' => word.extend(chars.by_ref().take_while(|&c| c != '\'')),
            '"' => word.push_str(&expand(&chars.by_ref().take_while(|&c| c != '"').collect::<String>())),
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Runs a printed curl line as a raw HTTP/1.1 request; returns the status.
fn run_curl(line: &str, vars: &[(String, String)]) -> u16 {
    let words = shell_words(line, vars);
    let (mut method, mut headers, mut body, mut url) = ("GET".to_string(), Vec::new(), None, String::new());
    let mut it = words.iter().skip(1);
    while let Some(w) = it.next() {
        match w.as_str() {
            "-i" | "--path-as-is" => {}
            "-X" => method = it.next().unwrap().clone(),
            "-H" => headers.push(it.next().unwrap().clone()),
            "-d" => body = Some(it.next().unwrap().clone()),
            other if other.starts_with("http://") => url = other.to_string(),
            other => panic!("the demo printed a curl option this test does not know: {other}"),
        }
    }
    let rest = url.strip_prefix("http://").unwrap();
    let (authority, target) = rest.split_at(rest.find('/').unwrap());
    let port: u16 = authority.rsplit(':').next().unwrap().parse().unwrap();
    if body.is_some() && method == "GET" {
        method = "POST".into();
    }
    let mut request = format!("{method} {target} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    for h in &headers {
        request.push_str(&format!("{h}\r\n"));
    }
    let body = body.unwrap_or_default();
    if !body.is_empty() {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    send_on(port, request.as_bytes()).0
}

/// A running `portcullis demo` on free ports: what it printed, its `export` lines as
/// variables (with `$NAME` in a value expanded), and its ports.
pub struct Demo {
    _running: Running,
    dir: std::path::PathBuf,
    pub lines: Vec<String>,
    vars: Vec<(String, String)>,
    pub listen: u16,
}

impl Demo {
    pub fn start(name: &str) -> Demo {
        let (listen, platform, admin) = (free_port(), free_port(), free_port());
        let dir = scratch(name);
        let shipped = std::fs::read_to_string(root().join("config.toml")).unwrap();
        let text = shipped
            .replace("listen = \"127.0.0.1:8080\"", &format!("listen = \"127.0.0.1:{listen}\""))
            .replace("policies = \"policies\"", &format!("policies = \"{}\"", root().join("policies").display()))
            .replace("backends = [\"127.0.0.1:9000\"]", &format!("backends = [\"127.0.0.1:{platform}\"]"))
            + &format!("\n[admin]\nlisten = \"127.0.0.1:{admin}\"\noperators = [\"platform-admin\"]\n");
        let config = dir.join("config.toml");
        std::fs::write(&config, text).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["demo", "--config"])
            .arg(&config)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("demo.log")).unwrap())
            .spawn()
            .unwrap();
        let mut running = Running(child);
        let stdout = running.0.stdout.take().unwrap();
        let mut lines = Vec::new();
        let mut reader = BufReader::new(stdout).lines();
        for line in reader.by_ref() {
            let line = line.unwrap();
            let done = line.starts_with("Every allowed request");
            lines.push(line);
            if done {
                break;
            }
        }
        // Keep reading whatever else it prints, as a terminal would.
        std::thread::spawn(move || reader.for_each(drop));
        let mut vars: Vec<(String, String)> = Vec::new();
        for l in lines.iter().filter_map(|l| l.strip_prefix("export ")) {
            let (k, v) = l.split_once('=').unwrap();
            let mut v = v.split_whitespace().next().unwrap().to_string();
            for (name, value) in &vars {
                v = v.replace(&format!("${name}"), value);
            }
            vars.push((k.to_string(), v));
        }
        let demo = Demo { _running: running, dir, lines, vars, listen };
        for port in [listen, admin] {
            demo.wait_for(port);
        }
        demo
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("demo.log")).unwrap_or_default()
    }

    fn wait_for(&self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the demo did not listen on {port} within 20 s: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn var(&self, name: &str) -> &str {
        &self.vars.iter().find(|(k, _)| k == name).unwrap_or_else(|| panic!("no {name}: {:?}", self.lines)).1
    }
}

#[test]
fn the_demo_prints_tokens_and_curl_lines_that_do_what_they_say() {
    let demo = Demo::start("demo");
    let vars = &demo.vars;
    let names: Vec<&str> = vars.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        ["ALICE", "BOB", "CAROL", "DAVE", "ERIN", "PLATFORM_ADMIN", "PORTCULLIS_ADMIN", "PORTCULLIS_TOKEN"],
        "{:?}",
        demo.lines
    );
    // The console it names opens on its sign-in page, which offers the sample users.
    let admin = demo.var("PORTCULLIS_ADMIN");
    let url = format!("{admin}/console");
    assert!(demo.lines.iter().any(|l| l.contains(&format!("open {url} in a browser"))), "{:?}", demo.lines);
    let port: u16 = admin.rsplit(':').next().unwrap().parse().unwrap();
    let get = |path: &str| {
        super::send_on(port, format!("GET {path} HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n").as_bytes())
    };
    let (status, head, _) = get("/console");
    assert!(status == 303 && head.contains("/console/sign-in"), "{head}");
    let (status, _, page) = get("/console/sign-in");
    assert!(status == 200 && page.contains(">alice</button>") && page.contains(">dave</button>"), "{page}");
    let mut checked = std::collections::BTreeSet::new();
    for pair in demo.lines.windows(2) {
        let (comment, line) = (&pair[0], &pair[1]);
        let Some(what) = comment.strip_prefix("# ") else { continue };
        assert!(line.starts_with("curl "), "{line}");
        let want = match what.split(':').next().unwrap() {
            "403" => 403,
            "401" => 401,
            "400" => 400,
            "201" => 201,
            _ => 200,
        };
        // The creator record is written off the request path: what depends on it is
        // polled for, a bounded number of times.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = run_curl(line, vars);
            if got == want || Instant::now() > deadline || !what.contains("she created") {
                assert_eq!(got, want, "{what}\n{line}\n{}", demo.log());
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        checked.insert(want);
    }
    assert_eq!(checked.into_iter().collect::<Vec<_>>(), [200, 201, 400, 401, 403], "{:?}", demo.lines);
    // The sample platform answers with what it received, including the gateway's identity.
    let request = format!(
        "GET /v1/orgs/acme/projects/web/containers/c-42 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {}\r\n\r\n",
        demo.var("DAVE")
    );
    let (status, _, body) = send_on(demo.listen, request.as_bytes());
    assert_eq!(status, 200);
    assert!(body.contains("\"principal\":\"dave\"") && body.contains("\"org\":\"acme\""), "{body}");
    let _ = std::fs::remove_dir_all(&demo.dir);
}

/// The README's control-plane block, verbatim, with the CLI on `PATH`, the demo's exports
/// in the environment, and `set -e`: every command must succeed against the demo.
#[test]
fn the_readme_control_plane_section_runs_against_the_demo() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = &readme[readme.find("## The control plane").unwrap()..];
    let block = section.split("```sh\n").nth(1).unwrap().split("```").next().unwrap();
    assert!(block.contains("portcullis request approve"), "{block}");
    let demo = Demo::start("demo-readme");
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_portcullis")).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", block])
        .current_dir(&demo.dir)
        .envs(demo.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("PATH", path)
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "the README block failed:\n{stderr}\n--- stdout:\n{stdout}\n--- demo:\n{}",
        demo.log()
    );
    // It did what it says: dave's request became a binding that ends, and globex exists.
    let cli = |token: &str, args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(args)
            .env("PORTCULLIS_ADMIN", demo.var("PORTCULLIS_ADMIN"))
            .env("PORTCULLIS_TOKEN", demo.var(token))
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let bindings = cli("ALICE", &["binding", "list", "--org", "acme", "--subject", "dave"]);
    let admin = bindings["bindings"].as_array().unwrap().iter().find(|b| b["role"] == "admin").unwrap();
    assert_eq!(admin["project"], "web", "{bindings}");
    assert!(admin["expires_at"].as_str().unwrap().ends_with('Z'), "{bindings}");
    let orgs = cli("PLATFORM_ADMIN", &["org", "list"]);
    let ids: Vec<&str> = orgs["orgs"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["acme", "globex", "lab"], "{orgs}");
    let _ = std::fs::remove_dir_all(&demo.dir);
}

#[test]
fn the_demo_refuses_to_start_unless_the_config_enables_its_key() {
    let err = super::refused_to_start("demo", |shipped| shipped.replace("demo_key = true", "demo_key = false"));
    assert!(err.contains("demo_key = true") && err.contains("config.toml"), "{err}");
}

struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
