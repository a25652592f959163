//! JSON pointers (RFC 6901) into documents the gateway does not own: an upstream's answer.
//!
//! The gateway reads one value out of a response (a created id, a list's items, each item's
//! id) and must leave everything else byte for byte as the upstream wrote it, so the value is
//! found by walking the text with serde's visitors, skipping every other member unbuilt,
//! and handed back borrowed from the text (a [`RawValue`] keeps its exact span).

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// In the error for a key met twice on the way (parsers disagree on which one counts).
pub const TWICE: &str = "appears twice";

/// A parsed JSON pointer: `""` is the whole document, `/items/0/id` a path into it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pointer {
    text: String,
    tokens: Vec<String>,
}

/// A pointer that is neither empty nor starts with `/`, or has a `~` not followed by 0 or 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a JSON pointer: start it with '/' (\"/items\"), or leave it empty for the whole document")]
pub struct NotAPointer;

impl Pointer {
    pub fn parse(text: &str) -> Result<Pointer, NotAPointer> {
        let tokens = match text {
            "" => Vec::new(),
            t => {
                let rest = t.strip_prefix('/').ok_or(NotAPointer)?;
                rest.split('/').map(unescape).collect::<Result<_, _>>()?
            }
        };
        Ok(Pointer { text: text.to_string(), tokens })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The value at this pointer in `json`, its text borrowed from `json`; `Ok(None)` when
    /// nothing is there, `Err` when `json` is not one JSON document.
    pub fn find<'j>(&self, json: &'j str) -> Result<Option<&'j RawValue>, serde_json::Error> {
        self.find_as::<&'j RawValue>(json)
    }

    /// The value at this pointer read as a `T`; `Err` when `json` is not JSON or the value is
    /// not a `T`.
    pub fn find_as<'j, T: de::Deserialize<'j>>(&self, json: &'j str) -> Result<Option<T>, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(json);
        let found = Walk { tokens: &self.tokens, out: PhantomData }.deserialize(&mut de)?;
        de.end()?;
        Ok(found)
    }
}

fn unescape(token: &str) -> Result<String, NotAPointer> {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        match c {
            '~' => match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return Err(NotAPointer),
            },
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Walks `tokens` down a document, then reads a `T` there.
struct Walk<'p, T> {
    tokens: &'p [String],
    out: PhantomData<T>,
}

impl<'de, T: de::Deserialize<'de>> DeserializeSeed<'de> for Walk<'_, T> {
    type Value = Option<T>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        match self.tokens.split_first() {
            None => T::deserialize(d).map(Some),
            Some((token, rest)) => d.deserialize_any(Step { token, rest, out: PhantomData }),
        }
    }
}

/// One token of the walk: a member of an object, or an element of an array.
struct Step<'p, T> {
    token: &'p str,
    rest: &'p [String],
    out: PhantomData<T>,
}

impl<'de, T: de::Deserialize<'de>> Visitor<'de> for Step<'_, T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<T>, A::Error> {
        let (mut found, mut seen) = (None, false);
        while let Some(is_it) = map.next_key_seed(KeyIs(self.token))? {
            if is_it {
                // Parsers disagree on which of two equal keys counts: neither does here.
                if seen {
                    return Err(de::Error::custom(format_args!("the key '{}' {TWICE}", self.token)));
                }
                seen = true;
                found = map.next_value_seed(Walk { tokens: self.rest, out: PhantomData })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<T>, A::Error> {
        // RFC 6901: an index is 0 or digits without a leading zero.
        let index =
            (self.token == "0" || !self.token.starts_with('0')).then(|| self.token.parse::<usize>().ok()).flatten();
        let mut found = None;
        let mut i = 0usize;
        loop {
            if Some(i) == index {
                match seq.next_element_seed(Walk { tokens: self.rest, out: PhantomData })? {
                    Some(v) => found = v,
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            i = i.saturating_add(1);
        }
        Ok(found)
    }

    // A scalar has no members: the pointer finds nothing.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }
}

/// Reads an object key and says whether it is the token, without keeping it.
struct KeyIs<'p>(&'p str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

/// An id as an upstream writes one: a string, or an integer (read as its decimal text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Id(pub String);

impl<'de> de::Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Id, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an integer")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Id, E> {
                Ok(Id(s.to_string()))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Id, E> {
                Ok(Id(n.to_string()))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Id, E> {
                Ok(Id(n.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use super::*;

    fn find(pointer: &str, json: &str) -> Option<String> {
        Pointer::parse(pointer).unwrap().find(json).unwrap().map(|r| r.get().to_string())
    }

    #[test]
    fn finds_members_and_elements_and_keeps_their_text() {
        let doc = r#"{"a": {"b~/c": [10, {"id" : "x" }], "z": 1}, "items": []}"#;
        assert_eq!(find("", doc).as_deref(), Some(doc));
        assert_eq!(find("/a/b~0~1c/1", doc).as_deref(), Some(r#"{"id" : "x" }"#));
        assert_eq!(find("/a/b~0~1c/0", doc).as_deref(), Some("10"));
        assert_eq!(find("/items", doc).as_deref(), Some("[]"));
        assert_eq!(find("/a/b~0~1c/2", doc), None);
        assert_eq!(find("/a/b~0~1c/01", doc), None, "a leading zero is not an index");
        assert_eq!(find("/a/z/q", doc), None, "a scalar has no members");
        assert_eq!(find("/nope", doc), None);
    }

    #[test]
    fn a_repeated_key_on_the_way_and_bad_documents_are_errors() {
        let p = Pointer::parse("/k").unwrap();
        assert!(p.find(r#"{"k": 1, "k": 2}"#).is_err(), "parsers disagree on which counts");
        assert_eq!(find("/k", r#"{"j": 1, "j": 2, "k": 3}"#).as_deref(), Some("3"), "other keys are not ours");
        assert!(p.find("not json").is_err());
        assert!(p.find(r#"{"k": 1} trailing"#).is_err());
        assert!(p.find(r#"{"k": 1"#).is_err());
    }

    #[test]
    fn ids_are_strings_or_integers() {
        let p = Pointer::parse("/id").unwrap();
        assert_eq!(p.find_as::<Id>(r#"{"id": "c-1"}"#).unwrap(), Some(Id("c-1".into())));
        assert_eq!(p.find_as::<Id>(r#"{"id": 42}"#).unwrap(), Some(Id("42".into())));
        assert!(p.find_as::<Id>(r#"{"id": 1.5}"#).is_err());
        assert!(p.find_as::<Id>(r#"{"id": null}"#).is_err());
        assert_eq!(p.find_as::<Id>(r#"{"name": "x"}"#).unwrap(), None);
    }

    #[test]
    fn pointers_start_with_a_slash_and_escape_with_tilde() {
        assert!(Pointer::parse("items").is_err());
        assert!(Pointer::parse("/a~2").is_err());
        assert!(Pointer::parse("/a~").is_err());
        assert_eq!(Pointer::parse("/a~1b").unwrap().tokens, ["a/b"]);
    }
}
