//! The sticky cache: workflow instances kept between workflow tasks, so that a run's next
//! task applies only its new events instead of replaying the whole history.
//!
//! It is a bounded LRU keyed by run. Recency is a counter bumped on every use, not a clock,
//! and both maps are ordered, so which instance is evicted depends only on the sequence of
//! calls: a simulated worker evicts the same runs on every replay of a scenario.

use crate::storage::RunKey;
use std::collections::BTreeMap;

struct Entry<V> {
    value: V,
    /// The use counter at the last use; the key of the entry in `by_use`.
    last_used: u64,
    /// The use counter at insertion: identifies this entry among later ones for the same run.
    generation: u64,
}

/// A bounded LRU map from runs to `V` (workflow instances in the worker; anything in tests).
pub(crate) struct InstanceCache<V> {
    capacity: usize,
    uses: u64,
    entries: BTreeMap<RunKey, Entry<V>>,
    /// Runs by last use, least recent first.
    by_use: BTreeMap<u64, RunKey>,
}

impl<V> InstanceCache<V> {
    /// A cache of at most `capacity` entries (0: nothing is kept).
    pub(crate) fn new(capacity: usize) -> Self {
        InstanceCache {
            capacity,
            uses: 0,
            entries: BTreeMap::new(),
            by_use: BTreeMap::new(),
        }
    }

    fn next_use(&mut self) -> u64 {
        self.uses += 1;
        self.uses
    }

    /// Number of cached entries.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }

    /// Inserts `value` as the most recently used entry (replacing any entry for `key`), and
    /// evicts the least recently used entries beyond the capacity. Returns the entry's
    /// generation, for [`remove_generation`](Self::remove_generation).
    pub(crate) fn insert(&mut self, key: RunKey, value: V) -> u64 {
        let stamp = self.next_use();
        if self.capacity == 0 {
            self.remove(&key);
            return stamp;
        }
        // One search of `entries` whether or not the run was cached (it usually is not: the
        // worker takes an instance out for each task and puts it back here).
        let entry = Entry {
            value,
            last_used: stamp,
            generation: stamp,
        };
        if let Some(replaced) = self.entries.insert(key.clone(), entry) {
            self.by_use.remove(&replaced.last_used);
        }
        self.by_use.insert(stamp, key);
        // The entry just inserted is the most recent, so never the one evicted.
        while self.entries.len() > self.capacity {
            let Some((_, lru)) = self.by_use.pop_first() else {
                break;
            };
            self.entries.remove(&lru);
        }
        stamp
    }

    /// Removes and returns the entry for `key`.
    pub(crate) fn take(&mut self, key: &RunKey) -> Option<V> {
        self.remove(key)
    }

    /// The entry for `key`, marked as most recently used.
    pub(crate) fn get_mut(&mut self, key: &RunKey) -> Option<&mut V> {
        let stamp = self.next_use();
        let entry = self.entries.get_mut(key)?;
        self.by_use.remove(&entry.last_used);
        self.by_use.insert(stamp, key.clone());
        entry.last_used = stamp;
        Some(&mut entry.value)
    }

    /// Removes the entry for `key`.
    pub(crate) fn remove(&mut self, key: &RunKey) -> Option<V> {
        let entry = self.entries.remove(key)?;
        self.by_use.remove(&entry.last_used);
        Some(entry.value)
    }

    /// Removes the entry for `key` if it is still the one inserted with `generation`, so a
    /// late failure of an old task cannot evict the instance a newer task cached.
    pub(crate) fn remove_generation(&mut self, key: &RunKey, generation: u64) -> Option<V> {
        if self.entries.get(key)?.generation != generation {
            return None;
        }
        self.remove(key)
    }

    /// The cached runs, least recently used first.
    #[cfg(test)]
    fn lru_order(&self) -> Vec<String> {
        self.by_use.values().map(|k| k.workflow_id.to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(workflow_id: &str) -> RunKey {
        RunKey {
            workflow_id: workflow_id.into(),
            run_id: "run".into(),
        }
    }

    #[test]
    fn evicts_the_least_recently_used_beyond_the_bound() {
        let mut cache = InstanceCache::new(3);
        for id in ["a", "b", "c"] {
            cache.insert(key(id), id.to_owned());
        }
        assert_eq!(cache.lru_order(), ["a", "b", "c"]);
        // Using `a` makes `b` the least recently used.
        assert_eq!(cache.get_mut(&key("a")).map(|v| v.clone()), Some("a".to_owned()));
        cache.insert(key("d"), "d".to_owned());
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.lru_order(), ["c", "a", "d"]);
        assert!(cache.get_mut(&key("b")).is_none());
        cache.insert(key("e"), "e".to_owned());
        assert_eq!(cache.lru_order(), ["a", "d", "e"]);
    }

    #[test]
    fn taking_and_reinserting_moves_an_entry_to_the_back() {
        let mut cache = InstanceCache::new(2);
        cache.insert(key("a"), 1);
        cache.insert(key("b"), 2);
        let a = cache.take(&key("a"));
        assert_eq!(a, Some(1));
        assert_eq!(cache.len(), 1);
        cache.insert(key("a"), 3);
        assert_eq!(cache.lru_order(), ["b", "a"]);
        // Replacing an entry does not evict another.
        cache.insert(key("b"), 4);
        assert_eq!(cache.lru_order(), ["a", "b"]);
        assert_eq!(cache.take(&key("b")), Some(4));
    }

    #[test]
    fn a_zero_capacity_cache_keeps_nothing() {
        let mut cache = InstanceCache::new(0);
        cache.insert(key("a"), 1);
        assert_eq!(cache.len(), 0);
        assert_eq!(cache.take(&key("a")), None);
    }

    #[test]
    fn removing_by_generation_spares_a_newer_entry() {
        let mut cache = InstanceCache::new(2);
        let old = cache.insert(key("a"), 1);
        let new = cache.insert(key("a"), 2);
        assert_eq!(cache.remove_generation(&key("a"), old), None);
        assert_eq!(cache.get_mut(&key("a")).copied(), Some(2));
        // Use does not change the generation.
        assert_eq!(cache.remove_generation(&key("a"), new), Some(2));
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn eviction_order_depends_only_on_the_calls() {
        // Recency is a counter and the maps are ordered: the same calls give the same cache.
        let run = || {
            let mut cache = InstanceCache::new(4);
            let mut snapshots = Vec::new();
            for i in 0..20u32 {
                let id = format!("w{}", (i * 7) % 9);
                if cache.get_mut(&key(&id)).is_none() {
                    cache.insert(key(&id), i);
                }
                snapshots.push(cache.lru_order());
            }
            snapshots
        };
        let first = run();
        assert_eq!(first, run());
        assert_eq!(first.last().map(Vec::len), Some(4));
    }
}
