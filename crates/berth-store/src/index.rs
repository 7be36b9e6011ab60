//! ID lookup by full ID or unique prefix.

use std::collections::BTreeSet;
use std::ops::Bound;

use crate::LookupError;

/// How many matches an ambiguity error lists.
const LISTED_MATCHES: usize = 5;

/// A sorted set of IDs; a prefix lookup is a range scan, O(log n + matches).
#[derive(Debug, Default, Clone)]
pub struct IdIndex {
    ids: BTreeSet<String>,
}

impl IdIndex {
    /// Adds an ID.
    pub fn insert(&mut self, id: String) {
        self.ids.insert(id);
    }

    /// Removes an ID; returns whether it was present.
    pub fn remove(&mut self, id: &str) -> bool {
        self.ids.remove(id)
    }

    /// Whether this exact ID is present.
    pub fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    /// How many IDs there are.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Every ID, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.ids.iter().map(String::as_str)
    }

    /// The one ID equal to `prefix` or starting with it.
    pub fn resolve(&self, prefix: &str) -> Result<String, LookupError> {
        if prefix.is_empty() {
            return Err(LookupError::EmptyPrefix);
        }
        if self.ids.contains(prefix) {
            return Ok(prefix.to_owned());
        }
        let mut matches = self
            .ids
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|id| id.starts_with(prefix));
        match (matches.next(), matches.next()) {
            (None, _) => Err(LookupError::NotFound {
                prefix: prefix.to_owned(),
            }),
            (Some(only), None) => Ok(only.clone()),
            (Some(first), Some(second)) => Err(LookupError::Ambiguous {
                prefix: prefix.to_owned(),
                matches: [first, second]
                    .into_iter()
                    .chain(matches)
                    .take(LISTED_MATCHES)
                    .cloned()
                    .collect(),
            }),
        }
    }
}
