//! Errors found while reading and validating policy text.
//!
//! A policy set is validated whole and every problem is reported at once, so the error type
//! is a list ([`PolicyErrors`]) of located problems ([`PolicyError`]). Each message says
//! what is wrong and how to fix it.

use std::fmt;
use std::path::PathBuf;

pub use crate::tomlwalk::DidYouMean;
use crate::tomlwalk::WalkError;
pub(crate) use crate::tomlwalk::nearest;

/// Where in which file a problem is. Lines and columns count from 1.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SourceLoc {
    pub file: PathBuf,
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for SourceLoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file.display())
        } else {
            write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
        }
    }
}

/// One problem in a policy set.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyErrorKind {
    /// Syntax, unknown, missing and mistyped keys.
    #[error(transparent)]
    Walk(#[from] WalkError),

    #[error("{what} '{name}' is declared twice (first at {first}): remove or rename one")]
    Duplicate { what: &'static str, name: String, first: String },

    #[error("unknown level '{value}'{suggestion}; a level is 'organisation' or 'project'")]
    UnknownLevel { value: String, suggestion: DidYouMean },

    #[error(
        "unknown verb '{word}'{suggestion}; use verbs (list, read, create, update, delete) or \
         access levels (list, read, write, manage)"
    )]
    UnknownVerb { word: String, suggestion: DidYouMean },

    #[error("'deny' is not a grant: to take access away, revoke (remove) the share instead")]
    DenyShare,

    #[error("'deny' is not a permission: remove it from the role; roles only grant")]
    DenyInRole,

    #[error(
        "permission '{entry}' is not of the form level:kind:verbs or level:kind:id:verbs \
         ({problem}); for example \"project:containers:create,update\""
    )]
    BadPermission { entry: String, problem: &'static str },

    #[error("unknown kind '{name}'{suggestion}; declare it with a [[kind]] table or use a built-in kind")]
    UnknownKind { name: String, suggestion: DidYouMean },

    #[error(
        "kind '{kind}' does not exist at {level} level (it exists at: {levels}); use one of \
         those levels{hint}"
    )]
    KindNotAtLevel { kind: String, level: &'static str, levels: String, hint: &'static str },

    #[error("kind '{name}' is built in and cannot be declared: remove this [[kind]] table")]
    BuiltinKind { name: String },

    #[error("invalid name '{name}': {problem}")]
    BadName { name: String, problem: &'static str },

    #[error(
        "nothing can grant 'ownership': it belongs to the owner alone and moves only by an \
         ownership transfer; remove this grant"
    )]
    OwnershipGrant,

    #[error("role '{name}' is built in: choose another name for the custom role")]
    BuiltinRole { name: String },

    #[error("role '{name}' is already a global role (at {first}): choose another name for the org role")]
    ShadowsGlobalRole { name: String, first: String },

    #[error(
        "unknown role '{name}' in org '{org}'{suggestion}; define it with [[role]] or [[org.role]], or use admin, member or viewer"
    )]
    UnknownRole { name: String, org: String, suggestion: DidYouMean },

    #[error(
        "the 'owner' role cannot be bound: ownership moves only by an ownership transfer; \
         set the org's `owner` key instead, or bind 'admin'"
    )]
    BindOwner,

    #[error(
        "'{owner}' is the owner of org '{org}' and already holds every permission; the owner \
         cannot be bound to another role except by an ownership transfer: remove this binding"
    )]
    OwnerBound { owner: String, org: String },

    #[error("unknown project '{project}' in org '{org}'{suggestion}; add it to the org's `projects`")]
    UnknownProject { project: String, org: String, suggestion: DidYouMean },

    #[error(
        "'{subject}' is not a member of org '{org}'{suggestion}; a subject is a member id, \
         team:NAME or all: invite the member first (add it to `members` or `service_accounts`)"
    )]
    NotAMember { subject: String, org: String, suggestion: DidYouMean },

    #[error("unknown team '{team}' in org '{org}'{suggestion}; declare it in the org's `teams`")]
    UnknownTeam { team: String, org: String, suggestion: DidYouMean },

    #[error(
        "'{id}' is listed both as a member and as a service account of org '{org}': an id is one or the other, remove one"
    )]
    MemberAndServiceAccount { id: String, org: String },

    #[error("owner '{owner}' is not a member of org '{org}': add it to `members`")]
    OwnerNotMember { owner: String, org: String },

    #[error("owner '{owner}' of org '{org}' is a service account: the owner must be a user listed in `members`")]
    OwnerIsServiceAccount { owner: String, org: String },

    #[error(
        "team '{team}' lists '{member}', who is not a member of org '{org}': add it to `members` or `service_accounts` first"
    )]
    TeamMemberUnknown { team: String, member: String, org: String },

    #[error("'{member}' is listed twice in team '{team}': remove one")]
    TeamMemberTwice { team: String, member: String },

    #[error("invalid id '{id}': {problem}")]
    BadId { id: String, problem: crate::model::IdProblem },

    #[error("a share gives either `verbs` or `level`, not both: remove one")]
    VerbsAndLevel,

    #[error("a share needs `verbs = [...]` or `level = \"...\"`")]
    NoVerbs,

    #[error("`granted_by` '{who}' is not a member of org '{org}'")]
    GrantorNotMember { who: String, org: String },

    #[error("the same binding ({subject}, {role}{scope}) is given twice: remove one")]
    DuplicateBinding { subject: String, role: String, scope: String },

    #[error("org '{org}' has {count} {what}; at most {limit} are supported: split the org")]
    TooMany { org: String, what: &'static str, count: usize, limit: usize },

    #[error("{message}")]
    Stale { message: String },

    #[error("[[check]] tables belong in conformance case files, not in a policies folder: move them to a test file")]
    CheckInPolicy,

    #[error("'expect' must be \"allow\" or \"deny\", found '{value}'")]
    BadExpect { value: String },

    #[error("'{key}': {problem}")]
    BadInstant { key: &'static str, problem: crate::instant::BadInstant },

    #[error(
        "permission '{entry}' gives `create` to `owned` resources, but `create` applies to a collection, \
         not to a resource that exists: grant it in its own entry (\"project:KIND:create\") and keep \
         list, read, update, delete (or write, manage) in the `owned` one"
    )]
    CreateInOwned { entry: String },

    #[error(
        "{kind} {id}{project} already has a recorded creator ('{first}'): a resource has one creator, remove one record"
    )]
    CreatorTwice { kind: String, id: String, project: String, first: String },

    #[error(
        "{what} '{name}' differs only by case from {what} '{other}': names are compared exactly, so one would be \
         taken for the other; use '{other}' or a name that differs in more than case"
    )]
    CaseTwin { what: &'static str, name: String, other: String },

    #[error("'verb' must be one of list, read, create, update, delete, found '{value}'{suggestion}")]
    BadCheckVerb { value: String, suggestion: DidYouMean },

    #[error(
        "action '{alias}' names verb '{value}'{suggestion}, which is not a verb; an action stands for one of list, read, \
         create, update, delete"
    )]
    BadActionVerb { alias: String, value: String, suggestion: DidYouMean },

    #[error("action '{alias}' is a verb's own name: verbs are understood as they are, so remove it")]
    ActionIsVerb { alias: String },
}

/// One located problem: where it is, and what.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{loc}: {kind}")]
pub struct Problem<K> {
    pub loc: SourceLoc,
    pub kind: K,
}

/// Every problem found in some input, in file and line order, reported together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problems<K>(pub Vec<Problem<K>>);

/// What a kind of problem is about, for the heading of a list of them.
pub trait Heading {
    /// "policy", "config": the list reads "policy is invalid (2 errors):".
    const NOUN: &'static str;
}

impl<K: Heading + fmt::Display> fmt::Display for Problems<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(f, "{} is invalid ({n} error{}):", K::NOUN, if n == 1 { "" } else { "s" })?;
        for e in &self.0 {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

impl<K: Heading + fmt::Display + fmt::Debug> std::error::Error for Problems<K> {}

impl Heading for PolicyErrorKind {
    const NOUN: &'static str = "policy";
}

/// One located problem in a policy set.
pub type PolicyError = Problem<PolicyErrorKind>;

/// Every problem found in a policy set, in file and line order.
pub type PolicyErrors = Problems<PolicyErrorKind>;

/// Reading a policy folder or case file failed before any text could be checked.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not valid UTF-8: policy files are UTF-8 text")]
    NotUtf8 { path: PathBuf },
    #[error("{path} holds no *.toml files: put policy files (kinds, roles, orgs) there")]
    NoPolicyFiles { path: PathBuf },
}

/// Loading a policy set: either the files could not be read, or they do not validate.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Invalid(#[from] PolicyErrors),
    /// The gateway's routes, which reload with the policies, do not load.
    #[error(transparent)]
    Routes(#[from] crate::route::RoutesError),
}
