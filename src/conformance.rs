//! Runs conformance case files: the executable form of MODEL.md.
//!
//! A case file is a policy document plus `[[check]]` tables; each check is decided and
//! compared with its `expect`. A file in a folder named `invalid` must instead be rejected
//! whole, with errors that name the file. `portcullis test` and the test suite both call
//! [`run`], so what CI checks is exactly what a user runs.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::decide::Request;
use crate::explain::explain;
use crate::policy::{self, FileMode, PolicyErrors, SourceError};
use crate::principal::Caller;
use crate::snapshot::Snapshot;
use crate::source::read_file;

/// One thing that did not hold.
#[derive(Clone, Debug)]
pub struct Failure {
    pub file: PathBuf,
    /// The 1-based check number in its file, or `None` for the file as a whole.
    pub check: Option<usize>,
    pub line: u32,
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.check {
            Some(n) => write!(f, "{}:{}: check {n}: {}", self.file.display(), self.line, self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// What a run found. Each check counts once, and each invalid file counts once.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub passed: usize,
    pub failures: Vec<Failure>,
    /// For each invalid file, the errors it was rejected with (shown with `--verbose`).
    pub rejections: Vec<(PathBuf, PolicyErrors)>,
}

impl Report {
    pub fn failed(&self) -> usize {
        self.failures.len()
    }

    /// The closing line: `N passed, N failed`.
    pub fn summary(&self) -> String {
        format!("{} passed, {} failed", self.passed, self.failed())
    }
}

/// Case files under `paths` (files, or folders searched recursively), sorted.
pub fn case_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, SourceError> {
    let mut out = Vec::new();
    for p in paths {
        collect(p, &mut out)?;
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), SourceError> {
    let meta = std::fs::metadata(path).map_err(|source| SourceError::Io { path: path.into(), source })?;
    if meta.is_file() {
        out.push(path.into());
        return Ok(());
    }
    let io = |source| SourceError::Io { path: path.into(), source };
    for entry in std::fs::read_dir(path).map_err(io)? {
        let child = entry.map_err(io)?.path();
        if child.is_dir() {
            collect(&child, out)?;
        } else if child.extension().is_some_and(|e| e == "toml") {
            out.push(child);
        }
    }
    Ok(())
}

/// Whether `path` is an invalid case: it lies in a folder named `invalid`.
pub fn is_invalid_case(path: &Path) -> bool {
    path.parent().into_iter().flat_map(|p| p.components()).any(|c| c.as_os_str() == "invalid")
}

/// Runs every case file under `paths`.
pub fn run(paths: &[PathBuf]) -> Result<Report, SourceError> {
    let mut report = Report::default();
    let files = case_files(paths)?;
    if files.is_empty() {
        return Err(SourceError::NoPolicyFiles { path: paths.first().cloned().unwrap_or_default() });
    }
    for file in files {
        let source = read_file(&file)?;
        if is_invalid_case(&file) {
            run_invalid(&file, &[source], &mut report);
        } else {
            run_case(&file, &[source], &mut report);
        }
    }
    Ok(report)
}

fn run_invalid(file: &Path, source: &[policy::SourceText], report: &mut Report) {
    let result = policy::parse(source, FileMode::Case).and_then(|(set, _)| policy::validate(&set).map(|_| ()));
    let fail = |message: String| Failure { file: file.into(), check: None, line: 0, message };
    match result {
        Ok(()) => report.failures.push(fail("expected the policy to be rejected, but it validates".into())),
        Err(errors) if errors.0.is_empty() => report.failures.push(fail("rejected without any error message".into())),
        Err(errors) => {
            if let Some(e) = errors.0.iter().find(|e| e.loc.file != file || e.loc.line == 0) {
                report.failures.push(fail(format!("an error does not point into the file: {e}")));
            } else {
                report.passed += 1;
                report.rejections.push((file.into(), errors));
            }
        }
    }
}

fn run_case(file: &Path, source: &[policy::SourceText], report: &mut Report) {
    let parsed = policy::parse(source, FileMode::Case)
        .and_then(|(set, checks)| Ok((policy::compile(policy::validate(&set)?), set, checks)));
    let (snapshot, set, checks) = match parsed {
        Ok(v) => v,
        Err(errors) => {
            let message = format!("the case's policy does not validate:\n{errors}");
            report.failures.push(Failure { file: file.into(), check: None, line: 0, message });
            return;
        }
    };
    if checks.is_empty() {
        let message = "a case file needs at least one [[check]] (or belongs under invalid/)".to_string();
        report.failures.push(Failure { file: file.into(), check: None, line: 0, message });
        return;
    }
    for (i, c) in checks.iter().enumerate() {
        let request = Request {
            org: &c.org,
            principal: caller_for(&snapshot, &c.org, &c.principal),
            project: c.project.as_deref(),
            kind: &c.kind,
            id: c.id.as_deref(),
            verb: c.verb,
            at: c.at.unwrap_or_else(crate::instant::now),
        };
        let got = explain(&snapshot, &request);
        if got.decision.allowed == c.expect_allow {
            report.passed += 1;
        } else {
            let expected = if c.expect_allow { "allow" } else { "deny" };
            report.failures.push(Failure {
                file: file.into(),
                check: Some(i + 1),
                line: set.source_loc(c.loc).line,
                message: format!(
                    "{} {} {}: expected {expected}, got {got}",
                    c.principal,
                    c.verb,
                    describe_target(&request)
                ),
            });
        }
    }
}

/// The caller a case's `principal` (or `portcullis check --principal`) names: `sa:ORG/NAME`
/// as written; a bare id names the member of `org` with that id, a service account if the
/// org lists it under `service_accounts` and a user otherwise. Only these offline tools
/// read a bare id so: the gateway always knows which kind of caller it verified.
pub fn caller_for<'a>(snapshot: &Snapshot, org: &'a str, principal: &'a str) -> Caller<'a> {
    if let Ok(caller @ Caller::ServiceAccount { .. }) = Caller::parse(principal) {
        return caller;
    }
    let service_account = snapshot
        .org(org)
        .and_then(|o| o.model.members.iter().find(|m| &*m.id == principal))
        .is_some_and(|m| m.service_account);
    if service_account { Caller::ServiceAccount { org, name: principal } } else { Caller::User(principal) }
}

fn describe_target(r: &Request<'_>) -> String {
    let mut s = format!("{}/{}", r.org, r.kind);
    if let Some(p) = r.project {
        s = format!("{}/{p}/{}", r.org, r.kind);
    }
    if let Some(id) = r.id {
        s.push(':');
        s.push_str(id);
    }
    s
}
