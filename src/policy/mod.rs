//! Policy text in, [`Snapshot`] out: `parse` (TOML to a typed, located AST), `validate`
//! (names resolved, MODEL.md's rules enforced, every error at once), `compile` (indexes
//! for the decision path).
//!
//! Nothing here reads files: [`crate::source`] hands in text.

mod ast;
mod compile;
mod err;
mod parse;
mod render;
mod validate;

pub use ast::*;
pub(crate) use compile::pair;
pub use compile::{compile, compile_org};
pub use err::{
    Heading, LoadError, PolicyError, PolicyErrorKind, PolicyErrors, Problem, Problems, SourceError, SourceLoc,
};
pub use parse::{FileMode, parse_permission, parse_share_verbs};
pub use render::{render_globals, render_org, render_permission};
pub use validate::{
    BUILTIN_KINDS, BUILTIN_ROLES, Binding, Expiry, Globals, KindId, KindInfo, Kinds, Member, OrgModel, Project,
    RoleDef, RoleEntry, RoleRef, Share, Subject, Team, Validated, validate, validate_org,
};

use std::path::PathBuf;

use crate::snapshot::Snapshot;

/// A file's path and its text.
#[derive(Clone, Debug)]
pub struct SourceText {
    pub path: PathBuf,
    pub text: String,
}

/// Parses files (in the order given) into one policy set and the checks of case files.
/// Every syntax and structure problem is returned, not just the first.
pub fn parse(files: &[SourceText], mode: FileMode) -> Result<(PolicySet, Vec<CheckDecl>), PolicyErrors> {
    let mut set = PolicySet::default();
    let mut checks = Vec::new();
    let mut errors = Vec::new();
    for (i, f) in files.iter().enumerate() {
        set.sources.push(SourceFile::new(f.path.clone(), &f.text));
        let parsed = parse::parse_file(&f.text, i as u32, mode);
        set.kinds.extend(parsed.kinds);
        set.roles.extend(parsed.roles);
        set.orgs.extend(parsed.orgs);
        checks.extend(parsed.checks);
        errors.extend(parsed.errors);
    }
    if errors.is_empty() {
        return Ok((set, checks));
    }
    // Report structural problems together with whatever validation finds in the rest.
    let mut all: Vec<PolicyError> = match validate(&set) {
        Ok(_) => Vec::new(),
        Err(Problems(v)) => v,
    };
    all.extend(errors.into_iter().map(|(loc, kind)| PolicyError { loc: set.source_loc(loc), kind }));
    all.sort_by(|a, b| a.loc.cmp(&b.loc));
    all.dedup();
    Err(Problems(all))
}

/// Parses, validates and compiles policy files.
pub fn compile_files(files: &[SourceText]) -> Result<Snapshot, PolicyErrors> {
    let (set, _) = parse(files, FileMode::Policy)?;
    Ok(compile(validate(&set)?))
}

/// [`compile_files`] for one text, as in examples and tests.
pub fn compile_text(path: &str, text: &str) -> Result<Snapshot, PolicyErrors> {
    compile_files(&[SourceText { path: path.into(), text: text.to_string() }])
}
