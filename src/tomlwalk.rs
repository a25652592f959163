//! Reading TOML with every value located: the shared walker behind policy files and
//! `config.toml`.
//!
//! Serde's derive stops at the first problem and loses positions; a user fixing a file
//! wants every problem at once, each with `file:line:column` and the fix. So files are
//! parsed into toml's spanned tree (`DeTable`) and walked by hand: [`Fields`] reads one
//! table, reports unknown keys (with the nearest valid key), missing keys and wrong types,
//! and keeps going.

use std::fmt;
use std::path::PathBuf;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// A position in one of a set's source files: a file index and a byte offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Loc {
    pub file: u32,
    pub offset: u32,
}

impl Loc {
    /// For documents built in code rather than read from a file.
    pub const SYNTHETIC: Loc = Loc { file: u32::MAX, offset: 0 };
}

/// A value and where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located<T> {
    pub value: T,
    pub loc: Loc,
}

impl<T> Located<T> {
    pub fn new(value: T, loc: Loc) -> Self {
        Located { value, loc }
    }

    /// A value written in code, with no file behind it.
    pub fn synthetic(value: T) -> Self {
        Located { value, loc: Loc::SYNTHETIC }
    }
}

impl Located<String> {
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

/// One source file: its path and where each line starts, to turn offsets into lines.
#[derive(Clone, Debug, Default)]
pub struct SourceFile {
    pub path: PathBuf,
    line_starts: Vec<u32>,
}

impl SourceFile {
    pub fn new(path: PathBuf, text: &str) -> Self {
        let mut line_starts = vec![0];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                line_starts.push(u32::try_from(i + 1).unwrap_or(u32::MAX));
            }
        }
        SourceFile { path, line_starts }
    }

    /// Line and column (from 1) of a byte offset.
    pub fn line_col(&self, offset: u32) -> (u32, u32) {
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        (u32::try_from(line).unwrap_or(u32::MAX), offset - start + 1)
    }
}

/// What the walker itself finds wrong: syntax, keys and types. Each file format wraps
/// these in its own error kind.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WalkError {
    #[error("TOML syntax error: {message}")]
    Syntax { message: String },
    #[error("unknown key '{key}' in {table}{suggestion} (allowed here: {allowed})")]
    UnknownKey { key: String, table: String, suggestion: DidYouMean, allowed: String },
    #[error("missing key '{key}' in {table}: add `{key} = ...`")]
    MissingKey { key: String, table: String },
    #[error("'{key}' in {table} must be {expected}, found {found}")]
    WrongType { key: String, table: String, expected: &'static str, found: &'static str },
    #[error("'{key}' in {table} must not be empty")]
    Empty { key: String, table: String },
}

/// Collects located problems of one file while its tables are read.
pub(crate) struct Walker<E> {
    pub(crate) file: u32,
    pub(crate) errors: Vec<(Loc, E)>,
}

impl<E: From<WalkError>> Walker<E> {
    pub(crate) fn new(file: u32) -> Self {
        Walker { file, errors: Vec::new() }
    }

    /// Parses `text`, recording syntax errors; returns the (possibly partial) tree.
    pub(crate) fn parse<'i>(&mut self, text: &'i str) -> Spanned<DeTable<'i>> {
        let (doc, errors) = DeTable::parse_recoverable(text);
        for e in errors {
            let at = e.span().map_or(0, |s| s.start);
            self.error(at, WalkError::Syntax { message: e.message().trim().to_string() }.into());
        }
        doc
    }

    pub(crate) fn loc(&self, at: usize) -> Loc {
        Loc { file: self.file, offset: u32::try_from(at).unwrap_or(u32::MAX) }
    }

    pub(crate) fn error(&mut self, at: usize, kind: E) {
        let loc = self.loc(at);
        self.errors.push((loc, kind));
    }

    pub(crate) fn located(&self, s: &Spanned<DeValue<'_>>, value: String) -> Located<String> {
        Located::new(value, self.loc(s.span().start))
    }

    pub(crate) fn string_list(
        &mut self,
        v: &Spanned<DeValue<'_>>,
        key: &str,
        table: &str,
    ) -> Option<Vec<Located<String>>> {
        match v.get_ref() {
            DeValue::Array(items) => {
                let mut out = Vec::new();
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::String(s) => out.push(self.located(item, s.to_string())),
                        other => self.wrong_type(item, key, table, "a string", other),
                    }
                }
                Some(out)
            }
            other => {
                self.wrong_type(v, key, table, "an array of strings", other);
                None
            }
        }
    }

    pub(crate) fn wrong_type(
        &mut self,
        v: &Spanned<DeValue<'_>>,
        key: &str,
        table: &str,
        expected: &'static str,
        found: &DeValue<'_>,
    ) {
        let kind = WalkError::WrongType { key: key.into(), table: table.into(), expected, found: type_name(found) };
        self.error(v.span().start, kind.into());
    }
}

/// A table being read, with a name for messages (`[[org.binding]]`) and its position.
pub(crate) struct Fields<'t, 'i> {
    pub(crate) table: &'t DeTable<'i>,
    pub(crate) what: &'static str,
    pub(crate) at: usize,
}

impl<'t, 'i> Fields<'t, 'i> {
    /// The root table of a document.
    pub(crate) fn root(doc: &'t Spanned<DeTable<'i>>) -> Self {
        Fields { table: doc.get_ref(), what: "the top level", at: 0 }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'t Spanned<DeValue<'i>>> {
        self.table.iter().find(|(k, _)| k.get_ref() == key).map(|(_, v)| v)
    }

    /// Reports every key not in `allowed`, with the nearest allowed key as a hint.
    /// `hidden` keys are accepted but reported elsewhere (or not suggested).
    pub(crate) fn check_keys<E: From<WalkError>>(&self, p: &mut Walker<E>, allowed: &[&str], hidden: &[&str]) {
        for (k, _) in self.table.iter() {
            let key = k.get_ref();
            if allowed.contains(&key.as_ref()) || hidden.contains(&key.as_ref()) {
                continue;
            }
            let kind = WalkError::UnknownKey {
                key: key.to_string(),
                table: self.what.to_string(),
                suggestion: nearest(key, allowed.iter().copied()),
                allowed: allowed.join(", "),
            };
            p.error(k.span().start, kind.into());
        }
    }

    pub(crate) fn string<E: From<WalkError>>(&self, p: &mut Walker<E>, key: &str) -> Option<Located<String>> {
        let v = self.get(key)?;
        match v.get_ref() {
            DeValue::String(s) => Some(p.located(v, s.to_string())),
            other => {
                p.wrong_type(v, key, self.what, "a string", other);
                None
            }
        }
    }

    pub(crate) fn required_string<E: From<WalkError>>(&self, p: &mut Walker<E>, key: &str) -> Option<Located<String>> {
        self.require(p, key);
        self.string(p, key)
    }

    /// Reports `key` missing, unless a misspelling of it is present: the unknown-key error
    /// already names it.
    pub(crate) fn require<E: From<WalkError>>(&self, p: &mut Walker<E>, key: &str) {
        if self.get(key).is_some() {
            return;
        }
        let misspelt = self.table.iter().any(|(k, _)| k.get_ref() != key && nearest(k.get_ref(), [key]).0.is_some());
        if !misspelt {
            p.error(self.at, WalkError::MissingKey { key: key.into(), table: self.what.into() }.into());
        }
    }

    pub(crate) fn bool<E: From<WalkError>>(&self, p: &mut Walker<E>, key: &str) -> Option<bool> {
        let v = self.get(key)?;
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            other => {
                p.wrong_type(v, key, self.what, "true or false", other);
                None
            }
        }
    }

    pub(crate) fn strings<E: From<WalkError>>(&self, p: &mut Walker<E>, key: &str) -> Option<Vec<Located<String>>> {
        let v = self.get(key)?;
        p.string_list(v, key, self.what)
    }

    pub(crate) fn required_strings<E: From<WalkError>>(
        &self,
        p: &mut Walker<E>,
        key: &str,
    ) -> Option<Vec<Located<String>>> {
        self.require(p, key);
        self.strings(p, key)
    }

    pub(crate) fn integer<E: From<WalkError>>(&self, p: &mut Walker<E>, key: &str) -> Option<Located<i64>> {
        let v = self.get(key)?;
        match v.get_ref() {
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()).ok() {
                Some(n) => Some(Located::new(n, p.loc(v.span().start))),
                None => {
                    p.wrong_type(v, key, self.what, "an integer", v.get_ref());
                    None
                }
            },
            other => {
                p.wrong_type(v, key, self.what, "an integer", other);
                None
            }
        }
    }

    /// A sub-table (`[a.b]` or `b = { ... }`), named `what`.
    pub(crate) fn table<E: From<WalkError>>(
        &self,
        p: &mut Walker<E>,
        key: &str,
        what: &'static str,
    ) -> Option<Fields<'t, 'i>> {
        let v = self.get(key)?;
        match v.get_ref() {
            DeValue::Table(table) => Some(Fields { table, what, at: v.span().start }),
            other => {
                p.wrong_type(v, key, self.what, "a table", other);
                None
            }
        }
    }

    /// A table of string values (`methods = { POST = "update" }`): its entries in order.
    pub(crate) fn string_entries<E: From<WalkError>>(
        &self,
        p: &mut Walker<E>,
        key: &str,
    ) -> Option<Vec<(Located<String>, Located<String>)>> {
        let v = self.get(key)?;
        let DeValue::Table(table) = v.get_ref() else {
            p.wrong_type(v, key, self.what, "a table of strings", v.get_ref());
            return None;
        };
        let mut out = Vec::new();
        for (k, value) in table.iter() {
            match value.get_ref() {
                DeValue::String(s) => out.push((
                    Located::new(k.get_ref().to_string(), p.loc(k.span().start)),
                    p.located(value, s.to_string()),
                )),
                other => p.wrong_type(value, k.get_ref(), self.what, "a string", other),
            }
        }
        out.sort_by_key(|(k, _)| k.loc);
        Some(out)
    }

    /// An array of tables (`[[key]]`), each as `Fields` named `what`.
    pub(crate) fn tables<E: From<WalkError>>(
        &self,
        p: &mut Walker<E>,
        key: &str,
        what: &'static str,
    ) -> Vec<Fields<'t, 'i>> {
        let Some(v) = self.get(key) else { return Vec::new() };
        match v.get_ref() {
            DeValue::Array(items) => {
                let mut out = Vec::new();
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::Table(table) => out.push(Fields { table, what, at: item.span().start }),
                        other => p.wrong_type(item, key, self.what, "a table", other),
                    }
                }
                out
            }
            other => {
                p.wrong_type(v, key, self.what, "an array of tables ([[...]])", other);
                Vec::new()
            }
        }
    }
}

fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// " (did you mean 'x'?)" when there is a near match, nothing otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DidYouMean(pub Option<String>);

impl fmt::Display for DidYouMean {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(s) => write!(f, ", did you mean '{s}'?"),
            None => Ok(()),
        }
    }
}

/// The nearest of `candidates` to `word`, if near enough to be a likely typo.
pub(crate) fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> DidYouMean {
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = edit_distance(word, c);
        let limit = (word.chars().count().max(c.chars().count()) / 3).max(1);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    DidYouMean(best.map(|(_, s)| s.to_string()))
}

/// Damerau-Levenshtein (optimal string alignment) distance, so a swap of two letters
/// (`subjcet`) counts as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    let at = |i: usize, j: usize| i * w + j;
    for i in 0..=a.len() {
        if let Some(x) = d.get_mut(at(i, 0)) {
            *x = i;
        }
    }
    for j in 0..=b.len() {
        if let Some(x) = d.get_mut(at(0, j)) {
            *x = j;
        }
    }
    let get = |d: &Vec<usize>, i: usize, j: usize| d.get(at(i, j)).copied().unwrap_or(usize::MAX / 2);
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let same = a.get(i - 1) == b.get(j - 1);
            let mut v =
                (get(&d, i - 1, j) + 1).min(get(&d, i, j - 1) + 1).min(get(&d, i - 1, j - 1) + usize::from(!same));
            if i > 1 && j > 1 && a.get(i - 1) == b.get(j - 2) && a.get(i - 2) == b.get(j - 1) {
                v = v.min(get(&d, i - 2, j - 2) + 1);
            }
            if let Some(x) = d.get_mut(at(i, j)) {
                *x = v;
            }
        }
    }
    get(&d, a.len(), b.len())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn suggests_transpositions_and_typos() {
        let keys = ["subject", "role", "project"];
        assert_eq!(nearest("subjcet", keys).0.as_deref(), Some("subject"));
        assert_eq!(nearest("projct", keys).0.as_deref(), Some("project"));
        assert_eq!(nearest("banana", keys).0, None);
    }
}
