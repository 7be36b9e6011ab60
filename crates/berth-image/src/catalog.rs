//! The in-memory view of the image records, and how a user's name finds an image.

use std::collections::HashMap;

use berth_store::ImageRecord;

use crate::reference;

/// Image records by ID.
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    images: HashMap<String, ImageRecord>,
}

/// How a name matched an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// By ID or unique ID prefix.
    Id(String),
    /// By a tag, which is given normalised.
    Tag(String, String),
    /// By a repo digest, given normalised.
    Digest(String, String),
}

impl Match {
    /// The image ID.
    pub fn id(&self) -> &str {
        match self {
            Match::Id(id) | Match::Tag(id, _) | Match::Digest(id, _) => id,
        }
    }
}

impl Catalog {
    /// From the stored records.
    pub fn new(records: Vec<ImageRecord>) -> Self {
        Self {
            images: records.into_iter().map(|r| (r.id.clone(), r)).collect(),
        }
    }

    /// Every image.
    pub fn all(&self) -> impl Iterator<Item = &ImageRecord> {
        self.images.values()
    }

    /// One image by ID.
    pub fn get(&self, id: &str) -> Option<&ImageRecord> {
        self.images.get(id)
    }

    /// Adds or replaces a record.
    pub fn put(&mut self, record: ImageRecord) {
        self.images.insert(record.id.clone(), record);
    }

    /// Forgets a record.
    pub fn remove(&mut self, id: &str) -> Option<ImageRecord> {
        self.images.remove(id)
    }

    /// Finds the image `name` means: a full ID (`sha256:…` or bare hex), a tag or a repo
    /// digest (normalised Docker-style), or a unique ID prefix. `Err` lists an ambiguous
    /// prefix's matches.
    pub fn find(&self, name: &str) -> Result<Option<Match>, Vec<String>> {
        let bare = name.strip_prefix("sha256:").unwrap_or(name);
        let full = format!("sha256:{bare}");
        if self.images.contains_key(&full) {
            return Ok(Some(Match::Id(full)));
        }
        if let Ok(parsed) = reference::parse(name) {
            if let Some(digest) = parsed.digest() {
                let wanted = reference::digest_name(&parsed, digest);
                if let Some(image) = self
                    .images
                    .values()
                    .find(|i| i.repo_digests.contains(&wanted))
                {
                    return Ok(Some(Match::Digest(image.id.clone(), wanted)));
                }
            } else if let Some(tag) = reference::tag_name(&parsed)
                && let Some(image) = self.images.values().find(|i| i.repo_tags.contains(&tag))
            {
                return Ok(Some(Match::Tag(image.id.clone(), tag)));
            }
        }
        let is_hex = !bare.is_empty() && bare.bytes().all(|b| b.is_ascii_hexdigit());
        if !is_hex {
            return Ok(None);
        }
        let mut matches: Vec<&String> = self
            .images
            .keys()
            .filter(|id| {
                id.strip_prefix("sha256:")
                    .is_some_and(|h| h.starts_with(bare))
            })
            .collect();
        matches.sort();
        match matches.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(Match::Id((*one).clone()))),
            many => Err(many.iter().take(5).map(|s| (*s).clone()).collect()),
        }
    }
}
