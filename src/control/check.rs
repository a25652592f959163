//! Validating what a write would commit, and saying what is wrong in the request's terms.
//!
//! A write is checked by rendering the org to policy text and running the policy
//! validator on it, so the API can never commit what a policy file could not say. The
//! validator locates problems by line and column of that text, which the caller never
//! saw: here each problem is named by the request field it came from instead (`kind`,
//! `subject`, `permissions`, ...). The rendered text has one key per line and the API's
//! fields are named as the policy keys, so the key at a problem's column is the field.

use crate::policy::{FileMode, OrgDecl, OrgModel, PolicyError, PolicyErrors, SourceText, parse, validate_org};
use crate::snapshot::Snapshot;

use super::AdminError;

/// One problem with a write, named by the field of the request it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldProblem {
    /// The request field, e.g. `kind`; `None` when the problem is not in one field.
    pub field: Option<String>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl std::fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "'{field}': {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// A list of problems, one per line, as an error message shows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldProblems(pub Vec<FieldProblem>);

impl std::fmt::Display for FieldProblems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Parses and validates one org's policy text against `live`'s kinds and global roles,
/// exactly as a policy file would be. A problem is reported by the request field it is
/// in (see the module docs), never by line and column of `text`.
pub(super) fn checked(live: &Snapshot, org: &str, text: &str) -> Result<(OrgDecl, OrgModel), AdminError> {
    let invalid = |errors: PolicyErrors| AdminError::Invalid { org: org.into(), problems: by_field(text, &errors) };
    let source = SourceText { path: format!("store:{org}").into(), text: text.to_string() };
    let (set, _) = parse(std::slice::from_ref(&source), FileMode::Policy).map_err(invalid)?;
    let Some(decl) = set.orgs.first().filter(|o| o.id.as_str() == org && set.orgs.len() == 1) else {
        return Err(AdminError::UnknownOrg { org: org.into() });
    };
    let model = validate_org(live.globals(), &set, decl).map_err(invalid)?;
    Ok((decl.clone(), model))
}

/// `errors` found in `text`, each named by the field it is in.
pub(super) fn by_field(text: &str, errors: &PolicyErrors) -> FieldProblems {
    FieldProblems(
        errors.0.iter().map(|e| FieldProblem { field: field_of(text, e), message: e.kind.to_string() }).collect(),
    )
}

/// The request field `e` is in: the policy key whose value holds `e`'s column.
fn field_of(text: &str, e: &PolicyError) -> Option<String> {
    let line = text.lines().nth((e.loc.line as usize).checked_sub(1)?)?;
    let at = (e.loc.column as usize).saturating_sub(1);
    let key = keys(line).into_iter().rev().find(|k| k.start <= at)?;
    let field = match (key.quoted, key.name) {
        // `teams = { "ops" = ["bob"] }`: the team's name, or one of its members.
        (true, _) if key.start == at => "name",
        (true, _) => "members",
        (false, "teams") => "name",
        // `members = [...]`: the member being invited (its `id`).
        (false, "members" | "service_accounts") => "id",
        (false, name) => name,
    };
    Some(field.to_string())
}

/// A `key =` in a line of rendered policy: where it starts, its name, and whether it was
/// quoted (team names are).
struct Key<'a> {
    start: usize,
    name: &'a str,
    quoted: bool,
}

/// Every `key =` of one line of rendered policy, in order (`=` inside strings skipped).
fn keys(line: &str) -> Vec<Key<'_>> {
    let bytes = line.as_bytes();
    let mut found = Vec::new();
    let (mut in_string, mut escaped, mut string_start) = (false, false, 0);
    let mut last_string: Option<(usize, usize)> = None;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => {
                    in_string = false;
                    last_string = Some((string_start, i));
                }
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                string_start = i;
            }
            b'=' => {
                let before = line[..i].trim_end();
                if let Some((start, end)) = last_string.filter(|&(_, end)| end + 1 == before.len()) {
                    found.push(Key { start, name: &line[start + 1..end], quoted: true });
                } else {
                    let start = before.rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(0, |p| p + 1);
                    found.push(Key { start, name: &before[start..], quoted: false });
                }
            }
            _ => {}
        }
    }
    found
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic, reason = "tests")]
mod tests {
    use super::*;

    fn field(line: &str, column: usize) -> Option<String> {
        let e = PolicyError {
            loc: crate::policy::SourceLoc { file: "store:x".into(), line: 2, column: column as u32 },
            kind: crate::policy::PolicyErrorKind::CheckInPolicy,
        };
        field_of(&format!("[[org.share]]\n{line}\n"), &e)
    }

    #[test]
    fn a_problem_is_named_by_the_key_whose_value_holds_it() {
        assert_eq!(field("kind = \"container\"", 8).as_deref(), Some("kind"));
        assert_eq!(field("members = [\"alice\", \"b=b\"]", 21).as_deref(), Some("id"));
        assert_eq!(field("projects = [{ id = \"web\", restricted = true }]", 20).as_deref(), Some("id"));
        assert_eq!(field("teams = { \"ops\" = [\"bob\"], \"x=y\" = [] }", 11).as_deref(), Some("name"));
        assert_eq!(field("teams = { \"ops\" = [\"bob\"], \"x=y\" = [] }", 20).as_deref(), Some("members"));
        assert_eq!(field("teams = { \"ops\" = [\"bob\"], \"x=y\" = [] }", 28).as_deref(), Some("name"));
        assert_eq!(field("no key here", 3), None);
    }
}
