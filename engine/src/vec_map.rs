//! `VecMap`: an ordered map kept as a sorted `Vec`, for the small maps of large values in a
//! run's state (its pending activities, timers, children and waiters: a handful at most),
//! and for maps whose keys arrive in order, where an insert appends (history validation's
//! maps by event id).
//!
//! A `BTreeMap` allocates whole nodes of eleven values: with values of a few hundred bytes a
//! node is several kilobytes, past the allocator's fast path, and the service clones the
//! map every time it loads a run. A sorted `Vec` of one or two entries allocates just them,
//! and lookups are a binary search. It iterates in key order and serializes as a map, like
//! the `BTreeMap` it stands in for.

use serde::de::{Deserialize, Deserializer};
use serde::ser::{Serialize, SerializeMap, Serializer};
use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;

/// A map in key order over a sorted vector. See the module documentation.
#[derive(Clone, PartialEq)]
pub(crate) struct VecMap<K, V> {
    /// Sorted by key, no two equal keys.
    entries: Vec<(K, V)>,
}

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap { entries: Vec::new() }
    }
}

impl<K: Ord, V> VecMap<K, V> {
    /// An empty map (allocates nothing).
    pub fn new() -> Self {
        VecMap::default()
    }

    /// Empties the map, keeping its buffer (for a run's state restarted in the buffers of
    /// a finished one).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Looks `key` up as any borrowed form of `K` (a `&str` for a `String` key), as a
    /// `BTreeMap` does.
    fn find<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.entries.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.find(key).is_ok()
    }

    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    pub fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &mut self.entries[i].1)
    }

    /// Inserts `value` under `key`, returning the value it replaces.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        // Keys mostly arrive in order (sequence numbers, event ids): an append needs no
        // search, and no room made in the middle.
        if self.entries.last().is_none_or(|(last, _)| *last < key) {
            self.entries.push((key, value));
            return None;
        }
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.remove_entry(key).map(|(_, v)| v)
    }

    /// Removes the entry of `key` and returns it with its key, so that it can go back in
    /// without making the key again.
    pub fn remove_entry<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| self.entries.remove(i))
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The keys in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The values in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }
}

impl<K, V> IntoIterator for VecMap<K, V> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for VecMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

impl<K: Serialize, V: Serialize> Serialize for VecMap<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (k, v) in &self.entries {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de, K: Ord + Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for VecMap<K, V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Through a BTreeMap: whatever order the encoding has, the entries come out sorted
        // and with one value per key, as a BTreeMap would keep them.
        let map = BTreeMap::<K, V>::deserialize(deserializer)?;
        Ok(VecMap {
            entries: map.into_iter().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_keys_sorted_and_unique_like_a_btreemap() {
        let mut map = VecMap::new();
        let mut reference = BTreeMap::new();
        for (k, v) in [(5, "e"), (1, "a"), (3, "c"), (1, "A"), (9, "h"), (9, "i")] {
            assert_eq!(map.insert(k, v), reference.insert(k, v));
        }
        assert_eq!(map.remove(&3), reference.remove(&3));
        assert_eq!(map.remove(&4), reference.remove(&4));
        assert!(map.iter().eq(reference.iter()));
        assert_eq!(map.len(), reference.len());
        assert_eq!(map.get(&1), Some(&"A"));
        assert!(map.contains_key(&9) && !map.contains_key(&3));
        if let Some(v) = map.get_mut(&9) {
            *v = "I";
        }
        assert_eq!(map.values().copied().collect::<Vec<_>>(), ["A", "e", "I"]);
        assert_eq!(map.keys().copied().collect::<Vec<_>>(), [1, 5, 9]);
        assert_eq!(map.remove_entry(&5), Some((5, "e")));
        map.insert(5, "e");
        assert_eq!(map.into_iter().map(|(k, _)| k).collect::<Vec<_>>(), [1, 5, 9]);
    }

    #[test]
    fn string_keys_are_looked_up_by_str() {
        let mut map = VecMap::new();
        map.insert("approve".to_owned(), 1);
        map.insert("cancel".to_owned(), 2);
        assert_eq!(map.get("cancel"), Some(&2));
        assert!(map.contains_key("approve") && !map.contains_key("other"));
        assert_eq!(map.remove_entry("approve"), Some(("approve".to_owned(), 1)));
        assert_eq!(map.remove("approve"), None);
    }

    #[test]
    fn serializes_as_the_btreemap_it_replaces() {
        let mut map = VecMap::new();
        let mut reference = BTreeMap::new();
        for k in [7u32, 2, 4] {
            map.insert(k, k * 10);
            reference.insert(k, k * 10);
        }
        let json = serde_json::to_string(&map).unwrap_or_default();
        assert_eq!(json, serde_json::to_string(&reference).unwrap_or_default());
        let back: VecMap<u32, u32> = serde_json::from_str(r#"{"4":40,"2":20,"7":70}"#).unwrap_or_default();
        assert!(back == map, "{back:?}");
    }
}
