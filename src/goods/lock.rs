//! `satoshipress.lock`: good ids per paid section. No secrets and no content, so it can be
//! committed; written atomically, sorted and stable, so an unchanged site rewrites nothing.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::config::RegistryKind;

const HEADER: &str = "# satoshipress.lock: the good registered for each paid section.\n\
# Written by `satoshipress build`; holds no secret and no paid content, so commit it.\n\n";

/// The lock file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// Format version.
    pub version: u32,
    /// The registry the ids come from.
    pub registry: RegistryKind,
    /// Public fingerprint of the master key the goods were made with.
    pub key_fingerprint: String,
    /// Goods, sorted by key.
    #[serde(default, rename = "good")]
    pub goods: Vec<LockedGood>,
}

/// One registered good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedGood {
    /// `<page path>#<section>`.
    pub key: String,
    /// The good's id in the registry.
    pub id: String,
    /// Price in satoshis.
    pub price: u32,
    /// Title registered with the good.
    pub title: String,
    /// URL registered with the good.
    pub url: String,
    /// Keyed digest of the paid HTML (not a plain hash: short texts could be guessed back).
    pub digest: String,
    /// Secret generation; bumping it rotates the good's secret.
    pub generation: u32,
}

impl Lock {
    /// An empty lock for a registry and key.
    pub fn new(registry: RegistryKind, key_fingerprint: String) -> Lock {
        Lock {
            version: 1,
            registry,
            key_fingerprint,
            goods: Vec::new(),
        }
    }

    /// Reads the lock at `path`; `Ok(None)` when there is none.
    pub fn load(path: &Path) -> Result<Option<Lock>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(e).with_context(|| format!("failed to read `{}`", path.display()));
            }
        };
        let lock: Lock = toml::from_str(&text).map_err(|e| {
            let line = e.span().map_or(0, |s| crate::diagnostic::line_of(&text, s.start));
            anyhow::anyhow!(
                "{}:{line}: the lock file is damaged: {}; restore it from version control (or delete it to register every good anew)",
                path.display(),
                e.message()
            )
        })?;
        let mut lock = lock;
        lock.goods.sort_by(|a, b| a.key.cmp(&b.key));
        lock.goods.dedup_by(|a, b| a.key == b.key);
        if lock.version != 1 {
            anyhow::bail!(
                "`{}` has version {}, which this satoshipress does not read; upgrade satoshipress",
                path.display(),
                lock.version
            );
        }
        Ok(Some(lock))
    }

    /// The lock as file text: sorted by key, stable across runs.
    pub fn to_text(&self) -> String {
        let mut sorted = self.clone();
        sorted.goods.sort_by(|a, b| a.key.cmp(&b.key));
        let body = toml::to_string(&sorted).expect("the lock serialises");
        format!("{HEADER}{body}")
    }

    /// The good with key `key`.
    pub fn get(&self, key: &str) -> Option<&LockedGood> {
        debug_assert!(
            self.goods.is_sorted_by(|a, b| a.key < b.key),
            "lock goods must stay sorted by key"
        );
        self.goods
            .binary_search_by(|g| g.key.as_str().cmp(key))
            .ok()
            .map(|i| &self.goods[i])
    }

    /// Adds or replaces the good with `good.key`, keeping the goods sorted.
    pub fn upsert(&mut self, good: LockedGood) {
        match self.goods.binary_search_by(|g| g.key.cmp(&good.key)) {
            Ok(i) => self.goods[i] = good,
            Err(i) => self.goods.insert(i, good),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_is_sorted_and_stable() {
        let mut lock = Lock::new(RegistryKind::Local, "abcd".into());
        for key in ["b.md#main", "a.md#x"] {
            lock.goods.push(LockedGood {
                key: key.into(),
                id: "0".repeat(24),
                price: 5,
                title: "T — \"q\"".into(),
                url: "https://e.com/a/#x".into(),
                digest: "d".into(),
                generation: 1,
            });
        }
        let text = lock.to_text();
        assert!(text.find("a.md#x").unwrap() < text.find("b.md#main").unwrap());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("satoshipress.lock");
        std::fs::write(&path, &text).unwrap();
        let back = Lock::load(&path).unwrap().unwrap();
        assert_eq!(back.to_text(), text);
        assert!(Lock::load(&dir.path().join("none")).unwrap().is_none());
        std::fs::write(&path, "version = 1\n[[good]]\nkey = 3\n").unwrap();
        let err = Lock::load(&path).unwrap_err().to_string();
        assert!(err.contains("damaged"), "{err}");
    }
}
