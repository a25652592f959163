//! The policy document as written: every value typed and located, nothing resolved yet.
//!
//! [`parse`](super::parse) builds these from TOML text; benchmarks and property tests build
//! them directly (with [`Loc::SYNTHETIC`]). [`validate`](super::validate) resolves names
//! against each other and [`compile`](super::compile) turns the result into a `Snapshot`.

use std::path::PathBuf;

use super::err::SourceLoc;
use crate::model::{Level, Verb, VerbSet};
pub use crate::tomlwalk::{Loc, Located, SourceFile};

/// Kinds, global roles and orgs, merged from every file of a policies folder.
#[derive(Clone, Debug, Default)]
pub struct PolicySet {
    pub sources: Vec<SourceFile>,
    pub kinds: Vec<KindDecl>,
    pub roles: Vec<RoleDecl>,
    pub orgs: Vec<OrgDecl>,
}

impl PolicySet {
    /// File, line and column of `loc`.
    pub fn source_loc(&self, loc: Loc) -> SourceLoc {
        match self.sources.get(loc.file as usize) {
            Some(src) => {
                let (line, column) = src.line_col(loc.offset);
                SourceLoc { file: src.path.clone(), line, column }
            }
            None => SourceLoc { file: PathBuf::from("<built in code>"), line: 0, column: 0 },
        }
    }
}

/// `[[kind]]`
#[derive(Clone, Debug)]
pub struct KindDecl {
    pub name: Located<String>,
    pub levels: Vec<Level>,
    pub hierarchical: bool,
    /// Other names for verbs on this kind (`can_update_todo = "update"`), for decision APIs
    /// whose callers name actions their own way (AuthZEN's `action.name`).
    pub actions: Vec<(Located<String>, crate::model::Verb)>,
    pub loc: Loc,
}

/// `[[role]]` or `[[org.role]]`
#[derive(Clone, Debug)]
pub struct RoleDecl {
    pub name: Located<String>,
    pub permissions: Vec<Located<Permission>>,
    pub loc: Loc,
}

/// One role entry, `level:kind:verbs` or `level:kind:id:verbs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permission {
    pub level: Level,
    pub kind: String,
    /// `None` for the whole kind; `Some("*")` means the same.
    pub id: Option<String>,
    /// `level:kind:owned:verbs`: only the resources whose recorded creator is the holder
    /// (`id` is then `None`).
    pub owned: bool,
    pub verbs: VerbSet,
}

/// `[[org]]`
#[derive(Clone, Debug)]
pub struct OrgDecl {
    pub id: Located<String>,
    pub owner: Located<String>,
    pub members: Vec<Located<String>>,
    pub service_accounts: Vec<Located<String>>,
    pub teams: Vec<TeamDecl>,
    pub projects: Vec<ProjectDecl>,
    pub roles: Vec<RoleDecl>,
    pub bindings: Vec<BindingDecl>,
    pub shares: Vec<ShareDecl>,
    /// `[[org.created]]`: who created which resource.
    pub created: Vec<CreatedDecl>,
    pub loc: Loc,
}

/// `[[org.created]]`: the recorded creator of one resource.
#[derive(Clone, Debug)]
pub struct CreatedDecl {
    pub subject: Located<String>,
    pub kind: Located<String>,
    pub project: Option<Located<String>>,
    pub id: Located<String>,
    /// When it was recorded, in seconds since the Unix epoch.
    pub at: Option<Located<i64>>,
    pub loc: Loc,
}

/// One entry of an org's `teams = { name = [members] }`.
#[derive(Clone, Debug)]
pub struct TeamDecl {
    pub name: Located<String>,
    pub members: Vec<Located<String>>,
}

/// One entry of an org's `projects = [{ id = "...", restricted = true }]`.
#[derive(Clone, Debug)]
pub struct ProjectDecl {
    pub id: Located<String>,
    pub restricted: bool,
}

/// `[[org.binding]]`
#[derive(Clone, Debug)]
pub struct BindingDecl {
    pub subject: Located<String>,
    pub role: Located<String>,
    pub project: Option<Located<String>>,
    /// From this instant (seconds since the Unix epoch) the binding counts for nothing.
    pub expires_at: Option<Located<i64>>,
    pub loc: Loc,
}

/// `[[org.share]]`
#[derive(Clone, Debug)]
pub struct ShareDecl {
    pub subject: Located<String>,
    pub kind: Located<String>,
    pub project: Option<Located<String>>,
    pub id: Located<String>,
    pub verbs: VerbSet,
    pub granted_by: Option<Located<String>>,
    /// When it was given, in seconds since the Unix epoch (the admin API records it).
    pub granted_at: Option<Located<i64>>,
    /// From this instant (seconds since the Unix epoch) the share counts for nothing.
    pub expires_at: Option<Located<i64>>,
    pub loc: Loc,
}

/// `[[check]]` in a conformance case file.
#[derive(Clone, Debug)]
pub struct CheckDecl {
    pub principal: String,
    pub org: String,
    pub project: Option<String>,
    pub kind: String,
    pub id: Option<String>,
    pub verb: Verb,
    pub expect_allow: bool,
    /// When the check is decided (seconds since the Unix epoch); `None`: now.
    pub at: Option<i64>,
    pub loc: Loc,
}
