//! The binary as a command-line tool: quiet on a closed pipe, and stopped by signals.

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::gateway::{free_port, root};

/// `portcullis ... | head` where head has already gone: every write to standard output
/// fails with EPIPE. The command ends quietly, without a panic.
#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    for args in [vec!["test", "tests/conformance"], vec!["validate", "policies"]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(&args)
            .current_dir(root())
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "portcullis {args:?}: {stderr}");
        assert!(out.status.success(), "portcullis {args:?}: {:?} {stderr}", out.status);
    }
}

/// `portcullis upstream` stops on SIGTERM and on SIGINT, promptly.
#[test]
fn the_sample_upstream_stops_on_sigterm_and_sigint() {
    for signal in ["-TERM", "-INT"] {
        let port = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["upstream", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the upstream did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        let sent = Instant::now();
        assert!(Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap().success());
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if sent.elapsed() > Duration::from_secs(5) {
                let _ = child.kill();
                panic!("portcullis upstream still runs 5 s after kill {signal}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
