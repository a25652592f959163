//! `portcullis org export` and `org apply`: an org of the store as a policy file, and a
//! policy file made the org, so that store-owned orgs can live in git too (GitOps).
//!
//! The file is read here only to learn which org it declares and to report a syntax error
//! by file and line before anything is sent; the admin API validates it again, plans the
//! changes and decides each of them.

use std::path::Path;

use super::{Call, ClientError};
use crate::policy::{FileMode, SourceText, parse};

/// The call that applies policy file `file` (or, with `dry_run`, plans it).
pub(super) fn apply_call(file: &Path, dry_run: bool) -> Result<Call, ClientError> {
    let name = file.display().to_string();
    let text =
        std::fs::read_to_string(file).map_err(|e| ClientError::File { path: name.clone(), message: e.to_string() })?;
    let source = SourceText { path: file.to_path_buf(), text: text.clone() };
    let (set, _) = parse(std::slice::from_ref(&source), FileMode::Policy)
        .map_err(|e| ClientError::BadFile(e.to_string().trim_end().to_string()))?;
    let [org] = set.orgs.as_slice() else {
        return Err(ClientError::BadFile(format!(
            "{name} declares {} orgs: an org file holds exactly one [[org]] (as `portcullis org export` writes it)",
            set.orgs.len()
        )));
    };
    let file_name = file.file_name().map_or_else(|| name.clone(), |n| n.to_string_lossy().into_owned());
    Ok(Call {
        method: "POST",
        path: format!("/v1/orgs/{}/apply", org.id.as_str()),
        body: Some(serde_json::json!({ "policy": text, "file": file_name, "dry_run": dry_run })),
    })
}

/// The policy text in the answer to `GET /v1/orgs/{org}`.
pub fn exported(answer: &serde_json::Value) -> Option<&str> {
    answer.get("policy").and_then(serde_json::Value::as_str)
}

/// The answer to an apply, as lines: each change, then what was done.
pub fn planned(answer: &serde_json::Value) -> String {
    let mut out = String::new();
    let changes = answer.get("changes").and_then(serde_json::Value::as_array).map_or(&[][..], Vec::as_slice);
    for c in changes {
        if let Some(line) = c.get("line").and_then(serde_json::Value::as_str) {
            out.push_str(line);
            out.push('\n');
        }
    }
    let revision = answer.get("revision").and_then(serde_json::Value::as_u64).unwrap_or(0);
    let n = changes.len();
    let plural = if n == 1 { "" } else { "s" };
    let written = answer.get("written").and_then(serde_json::Value::as_bool).unwrap_or(false);
    out.push_str(&if n == 0 {
        format!("no changes: the org is as the file says (revision {revision})")
    } else if written {
        format!("applied {n} change{plural}: revision {revision}")
    } else {
        format!(
            "dry run: {n} change{plural} would be made to revision {revision}, and each is allowed; nothing was written"
        )
    });
    out
}
