//! Reading policy folders and case files from disk: the only file I/O of the engine.
//!
//! A policies folder is every `*.toml` file directly in it, read in name order (so
//! `00-kinds.toml` comes before `10-acme.toml`). Sub-folders are not read: nothing is
//! picked up that the operator did not put at the top.

use std::path::{Path, PathBuf};

use crate::policy::{self, LoadError, SourceError, SourceText};
use crate::snapshot::Snapshot;

/// Reads one file as UTF-8 text.
pub fn read_file(path: &Path) -> Result<SourceText, SourceError> {
    let bytes = std::fs::read(path).map_err(|source| SourceError::Io { path: path.into(), source })?;
    let text = String::from_utf8(bytes).map_err(|_| SourceError::NotUtf8 { path: path.into() })?;
    Ok(SourceText { path: path.into(), text })
}

/// The `*.toml` files directly in `dir`, sorted by name.
pub fn toml_files(dir: &Path) -> Result<Vec<PathBuf>, SourceError> {
    let io = |source| SourceError::Io { path: dir.into(), source };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_file() && path.extension().is_some_and(|e| e == "toml") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Reads every policy file of a folder. A folder without any is an error: an empty policy
/// would deny everything, which is never what a start-up meant.
///
/// A folder given as a symbolic link is resolved once, first, and every file is read from
/// that one target: a deployment that switches the link to a new folder (atomically, with
/// `ln -s new tmp && mv -T tmp policies`) is read as one version or the other, never as a
/// mix of files from both.
pub fn read_policy_dir(dir: &Path) -> Result<Vec<SourceText>, SourceError> {
    let dir = &std::fs::canonicalize(dir).map_err(|source| SourceError::Io { path: dir.into(), source })?;
    let files = toml_files(dir)?;
    if files.is_empty() {
        return Err(SourceError::NoPolicyFiles { path: dir.into() });
    }
    files.iter().map(|f| read_file(f)).collect()
}

/// Reads, validates and compiles a policies folder.
pub fn load_policy_dir(dir: &Path) -> Result<Snapshot, LoadError> {
    let files = read_policy_dir(dir)?;
    Ok(policy::compile_files(&files)?)
}
