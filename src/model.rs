//! The words of the permission model (`../shared/MODEL.md`): verbs, levels of access, the
//! two resource levels, and the rules for resource ids.
//!
//! Everything here is small, `Copy` and allocation-free, because the decision path uses it
//! on every request.

use std::fmt;

/// One of the five verbs a request can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verb {
    List,
    Read,
    Create,
    Update,
    Delete,
}

impl Verb {
    pub const ALL: [Verb; 5] = [Verb::List, Verb::Read, Verb::Create, Verb::Update, Verb::Delete];

    pub fn name(self) -> &'static str {
        match self {
            Verb::List => "list",
            Verb::Read => "read",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Delete => "delete",
        }
    }

    /// Parses a verb name (not an access level name).
    pub fn parse(s: &str) -> Option<Verb> {
        Verb::ALL.into_iter().find(|v| v.name() == s)
    }

    const fn bit(self) -> u8 {
        match self {
            Verb::List => 1,
            Verb::Read => 2,
            Verb::Create => 4,
            Verb::Update => 8,
            Verb::Delete => 16,
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of verbs, always kept closed under implication: `read` implies `list`, and
/// `create`, `update`, `delete` each imply `read`. Closing at construction means the
/// decision is a single bit test.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct VerbSet(u8);

impl VerbSet {
    pub const EMPTY: VerbSet = VerbSet(0);
    pub const ALL: VerbSet = VerbSet(0b1_1111);
    /// `list` and `read`.
    pub const READ: VerbSet = VerbSet(0b11);
    /// `list`, `read` and `update`.
    pub const READ_UPDATE: VerbSet = VerbSet(0b1011);
    pub(crate) const MASK: u8 = 0b1_1111;

    /// The set of one verb and everything it implies.
    pub const fn of(verb: Verb) -> VerbSet {
        VerbSet::from_bits(verb.bit())
    }

    /// Closes raw bits under implication; bits outside the five verbs are dropped.
    pub const fn from_bits(bits: u8) -> VerbSet {
        let mut b = bits & Self::MASK;
        if b & (Verb::Create.bit() | Verb::Update.bit() | Verb::Delete.bit()) != 0 {
            b |= Verb::Read.bit();
        }
        if b & Verb::Read.bit() != 0 {
            b |= Verb::List.bit();
        }
        VerbSet(b)
    }

    pub const fn bits(self) -> u8 {
        self.0
    }

    pub const fn contains(self, verb: Verb) -> bool {
        self.0 & verb.bit() != 0
    }

    /// The set without `create`, which no other verb implies (so it stays closed).
    pub const fn without_create(self) -> VerbSet {
        VerbSet(self.0 & !Verb::Create.bit())
    }

    pub const fn union(self, other: VerbSet) -> VerbSet {
        VerbSet(self.0 | other.0)
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every verb of `other` is in `self`.
    pub const fn covers(self, other: VerbSet) -> bool {
        other.0 & !self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Verb> {
        Verb::ALL.into_iter().filter(move |v| self.contains(*v))
    }
}

impl fmt::Display for VerbSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for v in self.iter() {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            f.write_str(v.name())?;
        }
        if first {
            f.write_str("(none)")?;
        }
        Ok(())
    }
}

/// What one word in a verb list (a role entry, a share's `verbs` or `level`) means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessWord {
    Verb(Verb),
    /// `list`, `read`, `write`, `manage` as ACL levels. (`list` and `read` are also verbs and
    /// parse as such; they mean the same set.)
    Level(VerbSet),
    /// `deny`: not a grant. Always rejected, with a hint to revoke instead.
    Deny,
}

impl AccessWord {
    /// Every word accepted somewhere, for "did you mean" hints.
    pub const WORDS: [&'static str; 8] = ["list", "read", "create", "update", "delete", "write", "manage", "deny"];

    pub fn parse(s: &str) -> Option<AccessWord> {
        if let Some(v) = Verb::parse(s) {
            return Some(AccessWord::Verb(v));
        }
        match s {
            "write" | "manage" => Some(AccessWord::Level(VerbSet::ALL)),
            "deny" => Some(AccessWord::Deny),
            _ => None,
        }
    }

    pub fn verbs(self) -> VerbSet {
        match self {
            AccessWord::Verb(v) => VerbSet::of(v),
            AccessWord::Level(set) => set,
            AccessWord::Deny => VerbSet::EMPTY,
        }
    }
}

/// Where a resource lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    Organisation,
    Project,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Organisation => "organisation",
            Level::Project => "project",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "organisation" => Some(Level::Organisation),
            "project" => Some(Level::Project),
            _ => None,
        }
    }

    pub(crate) const fn index(self) -> usize {
        match self {
            Level::Organisation => 0,
            Level::Project => 1,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The longest resource id accepted, in bytes. Longer ids are malformed.
pub const MAX_ID_LEN: usize = 1024;

/// Why an id is not well formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdProblem {
    Empty,
    TooLong,
    /// NUL or another control character.
    ControlChar,
    /// `*` names every resource in grants; it is never the id of one resource.
    Wildcard,
    /// `/` in the id of a kind that is not hierarchical.
    Slash,
    /// A hierarchical id must start with `/`.
    NotAbsolute,
    /// `//` somewhere in a hierarchical id.
    EmptySegment,
    /// A `.` or `..` segment (or, for flat kinds, an id that is `.` or `..`).
    DotSegment,
}

impl fmt::Display for IdProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdProblem::Empty => "it is empty",
            IdProblem::TooLong => "it is longer than 1024 bytes",
            IdProblem::ControlChar => "it contains a NUL or control character",
            IdProblem::Wildcard => "`*` is a pattern, not the id of one resource",
            IdProblem::Slash => "it contains `/` but the kind is not hierarchical",
            IdProblem::NotAbsolute => "a hierarchical id must start with `/`",
            IdProblem::EmptySegment => "it has an empty path segment (`//`)",
            IdProblem::DotSegment => "it has a `.` or `..` segment",
        })
    }
}

/// Checks the id of one resource and returns its normal form: for hierarchical kinds a
/// trailing `/` is dropped (`/a/b/` is `/a/b`; `/` stays the root). Nothing is allocated;
/// the normal form is a slice of the input.
///
/// ```
/// use portcullis::model::{normalise_id, IdProblem};
/// assert_eq!(normalise_id("/a/b/", true), Ok("/a/b"));
/// assert_eq!(normalise_id("/a/../b", true), Err(IdProblem::DotSegment));
/// assert_eq!(normalise_id("c-42", false), Ok("c-42"));
/// assert_eq!(normalise_id("1/2", false), Err(IdProblem::Slash));
/// ```
pub fn normalise_id(id: &str, hierarchical: bool) -> Result<&str, IdProblem> {
    if id.is_empty() {
        return Err(IdProblem::Empty);
    }
    if id.len() > MAX_ID_LEN {
        return Err(IdProblem::TooLong);
    }
    if id.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(IdProblem::ControlChar);
    }
    if id == "*" {
        return Err(IdProblem::Wildcard);
    }
    if !hierarchical {
        if id.contains('/') {
            return Err(IdProblem::Slash);
        }
        if id == "." || id == ".." {
            return Err(IdProblem::DotSegment);
        }
        return Ok(id);
    }
    let Some(rest) = id.strip_prefix('/') else {
        return Err(IdProblem::NotAbsolute);
    };
    if rest.is_empty() {
        return Ok("/");
    }
    let normal = id.strip_suffix('/').unwrap_or(id);
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    // One pass over the bytes (this is on every hierarchical decision): each segment's
    // length and how many of its bytes are dots.
    let (mut len, mut dots) = (0usize, 0usize);
    for &b in rest.as_bytes() {
        if b == b'/' {
            check_segment(len, dots)?;
            (len, dots) = (0, 0);
        } else {
            len += 1;
            dots += usize::from(b == b'.');
        }
    }
    check_segment(len, dots)?;
    Ok(normal)
}

/// A path segment of `len` bytes, `dots` of them dots: not empty, `.` or `..`.
#[inline(always)]
fn check_segment(len: usize, dots: usize) -> Result<(), IdProblem> {
    match (len, dots) {
        (0, _) => Err(IdProblem::EmptySegment),
        (1, 1) | (2, 2) => Err(IdProblem::DotSegment),
        _ => Ok(()),
    }
}

/// Whether hierarchical id `prefix` (normal form) covers `id` (normal form): equal, or `id`
/// lies below it. `/a/b` covers `/a/b/c` but not `/a/bc`; `/` covers everything.
pub fn path_covers(prefix: &str, id: &str) -> bool {
    if prefix == "/" {
        return true;
    }
    match id.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn implication_closes_sets() {
        assert_eq!(VerbSet::of(Verb::Update), VerbSet::READ_UPDATE);
        assert!(VerbSet::of(Verb::Delete).contains(Verb::List));
        assert!(!VerbSet::of(Verb::List).contains(Verb::Read));
        assert!(!VerbSet::of(Verb::Create).contains(Verb::Update));
    }

    #[test]
    fn hierarchical_ids() {
        assert_eq!(normalise_id("/", true), Ok("/"));
        assert_eq!(normalise_id("/a", true), Ok("/a"));
        assert_eq!(normalise_id("a/b", true), Err(IdProblem::NotAbsolute));
        assert_eq!(normalise_id("/a//b", true), Err(IdProblem::EmptySegment));
        assert_eq!(normalise_id("//", true), Err(IdProblem::EmptySegment));
        assert_eq!(normalise_id("/a/./b", true), Err(IdProblem::DotSegment));
        assert_eq!(normalise_id("/a/..", true), Err(IdProblem::DotSegment));
        assert_eq!(normalise_id("/a\0b", true), Err(IdProblem::ControlChar));
        assert_eq!(normalise_id("/a/..b", true), Ok("/a/..b"));
        assert_eq!(normalise_id("/.../.a/b.", true), Ok("/.../.a/b."));
        assert_eq!(normalise_id("/a/b/", true), Ok("/a/b"));
        assert_eq!(normalise_id("/./a", true), Err(IdProblem::DotSegment));
        assert_eq!(normalise_id("/a/.", true), Err(IdProblem::DotSegment));
        assert_eq!(normalise_id("/../", true), Err(IdProblem::DotSegment));
        assert_eq!(normalise_id("/a//", true), Err(IdProblem::EmptySegment));
    }

    #[test]
    fn subtree_boundaries() {
        assert!(path_covers("/a/b", "/a/b"));
        assert!(path_covers("/a/b", "/a/b/c"));
        assert!(!path_covers("/a/b", "/a/bc"));
        assert!(!path_covers("/a/b", "/a"));
        assert!(path_covers("/", "/x"));
    }
}
