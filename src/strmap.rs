//! [`StrMap`]: a string-keyed hash table for the decision path.
//!
//! Every decision looks up four or five short strings (org, principal, kind, project, id).
//! With `HashMap<Box<str>, _>` each hit ends in a libc `memcmp` call, which for keys of a
//! few bytes costs more than the hashing. This table compares short keys inline, eight bytes
//! at a time, and otherwise behaves like a read-only map built once.

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

/// Equality of two byte strings without a libc call for keys up to 16 bytes.
#[inline(always)]
pub(crate) fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let n = a.len();
    let word = |s: &[u8], at: usize| -> u64 {
        s.get(at..at + 8).and_then(|w| w.try_into().ok()).map_or(0, u64::from_le_bytes)
    };
    let half = |s: &[u8], at: usize| -> u32 {
        s.get(at..at + 4).and_then(|w| w.try_into().ok()).map_or(0, u32::from_le_bytes)
    };
    match n {
        0 => true,
        1..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        _ => a == b,
    }
}

const INLINE: usize = 38;

/// A key: inline when short, on the heap otherwise.
#[derive(Clone, Debug)]
enum Key {
    Inline([u8; INLINE], u8),
    Heap(Box<str>),
}

impl Key {
    fn new(s: &str) -> Key {
        let mut buf = [0u8; INLINE];
        match buf.get_mut(..s.len()) {
            Some(dst) => {
                dst.copy_from_slice(s.as_bytes());
                Key::Inline(buf, s.len() as u8)
            }
            None => Key::Heap(s.into()),
        }
    }

    #[inline(always)]
    fn as_str(&self) -> &str {
        match self {
            // Built from a whole `str`, so the bytes are UTF-8.
            Key::Inline(buf, len) => {
                buf.get(..usize::from(*len)).and_then(|b| std::str::from_utf8(b).ok()).unwrap_or("")
            }
            Key::Heap(s) => s,
        }
    }

    #[inline(always)]
    fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline(buf, len) => buf.get(..usize::from(*len)).unwrap_or(&[]),
            Key::Heap(s) => s.as_bytes(),
        }
    }
}

/// A map from strings to `V`, built once, then only read.
#[derive(Clone, Debug, Default)]
pub struct StrMap<V> {
    hasher: DefaultHashBuilder,
    table: HashTable<(Key, V)>,
}

impl<V> StrMap<V> {
    pub fn with_capacity(n: usize) -> Self {
        StrMap { hasher: DefaultHashBuilder::default(), table: HashTable::with_capacity(n) }
    }

    /// Inserts or replaces. Only keys longer than 38 bytes are copied to the heap.
    pub fn insert(&mut self, key: &str, value: V) {
        let hash = self.hasher.hash_one(key);
        if let Some(entry) = self.table.find_mut(hash, |(k, _)| bytes_eq(k.as_bytes(), key.as_bytes())) {
            entry.1 = value;
            return;
        }
        let hasher = &self.hasher;
        self.table.insert_unique(hash, (Key::new(key), value), |(k, _)| hasher.hash_one(k.as_str()));
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        let hash = self.hasher.hash_one(key);
        match self.table.find_entry(hash, |(k, _)| bytes_eq(k.as_bytes(), key.as_bytes())) {
            Ok(entry) => Some(entry.remove().0.1),
            Err(_) => None,
        }
    }

    #[inline]
    pub fn get(&self, key: &str) -> Option<&V> {
        let hash = self.hasher.hash_one(key);
        self.table.find(hash, |(k, _)| bytes_eq(k.as_bytes(), key.as_bytes())).map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.table.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.table.iter().map(|(_, v)| v)
    }
}

impl<'a, V> FromIterator<(&'a str, V)> for StrMap<V> {
    fn from_iter<I: IntoIterator<Item = (&'a str, V)>>(iter: I) -> Self {
        let iter = iter.into_iter();
        let mut map = StrMap::with_capacity(iter.size_hint().0);
        for (k, v) in iter {
            map.insert(k, v);
        }
        map
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_keys_compare_exactly() {
        let keys = [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "abcde",
            "abcdefg",
            "abcdefgh",
            "abcdefghi",
            "abcdefghijklmnop",
            "abcdefghijklmnopq",
        ];
        for a in keys {
            for b in keys {
                assert_eq!(bytes_eq(a.as_bytes(), b.as_bytes()), a == b, "{a:?} {b:?}");
            }
        }
        // Same length, differing only in the middle.
        assert!(!bytes_eq(b"abcdXfghij", b"abcdYfghij"));
        assert!(!bytes_eq(b"abcXe", b"abcYe"));
    }

    #[test]
    fn map_inserts_replaces_and_removes() {
        let long = "a key that is far longer than the thirty-eight bytes kept inline";
        let mut m: StrMap<u32> =
            ["x", "yy", "a-longer-key-than-sixteen", long].iter().enumerate().map(|(i, k)| (*k, i as u32)).collect();
        assert_eq!(m.get("yy"), Some(&1));
        assert_eq!(m.get(long), Some(&3));
        assert_eq!(m.get(&long[1..]), None);
        assert_eq!(m.get("y"), None);
        m.insert("yy", 7);
        assert_eq!(m.get("yy"), Some(&7));
        assert_eq!(m.remove("x"), Some(0));
        assert_eq!(m.get("x"), None);
        assert_eq!(m.len(), 3);
        assert!(m.iter().any(|(k, v)| k == long && *v == 3));
    }
}
