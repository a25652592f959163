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

#[test]
fn the_demo_prints_tokens_and_curl_lines_that_do_what_they_say() {
    let (listen, platform) = (free_port(), free_port());
    let dir = scratch("demo");
    let shipped = std::fs::read_to_string(root().join("config.toml")).unwrap();
    let text = shipped
        .replace("listen = \"127.0.0.1:8080\"", &format!("listen = \"127.0.0.1:{listen}\""))
        .replace("policies = \"policies\"", &format!("policies = \"{}\"", root().join("policies").display()))
        .replace("backends = [\"127.0.0.1:9000\"]", &format!("backends = [\"127.0.0.1:{platform}\"]"));
    let config = dir.join("config.toml");
    std::fs::write(&config, text).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["demo", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("demo.log")).unwrap())
        .spawn()
        .unwrap();
    let log = || std::fs::read_to_string(dir.join("demo.log")).unwrap_or_default();
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
    let vars: Vec<(String, String)> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("export "))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_string(), v.split_whitespace().next().unwrap().to_string())
        })
        .collect();
    assert_eq!(vars.len(), 4, "{lines:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", listen)).is_err() {
        if let Ok(Some(status)) = running.0.try_wait() {
            panic!("the demo exited ({status}) before it listened: {}", log());
        }
        assert!(Instant::now() < deadline, "the demo did not listen within 20 s: {}", log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut checked = std::collections::BTreeSet::new();
    for pair in lines.windows(2) {
        let (comment, line) = (&pair[0], &pair[1]);
        let Some(what) = comment.strip_prefix("# ") else { continue };
        assert!(line.starts_with("curl "), "{line}");
        let want = match what.split(':').next().unwrap() {
            "403" => 403,
            "401" => 401,
            "400" => 400,
            _ => 200,
        };
        assert_eq!(run_curl(line, &vars), want, "{what}\n{line}");
        checked.insert(want);
    }
    assert_eq!(checked.into_iter().collect::<Vec<_>>(), [200, 400, 401, 403], "{lines:?}");
    // The sample platform answers with what it received, including the gateway's identity.
    let dave = &vars.iter().find(|(k, _)| k == "DAVE").unwrap().1;
    let request = format!(
        "GET /v1/orgs/acme/projects/web/containers/c-42 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {dave}\r\n\r\n"
    );
    let (status, _, body) = send_on(listen, request.as_bytes());
    assert_eq!(status, 200);
    assert!(body.contains("\"principal\":\"dave\"") && body.contains("\"org\":\"acme\""), "{body}");
    let _ = std::fs::remove_dir_all(&dir);
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
