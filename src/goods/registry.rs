//! Registries assign ids to goods. `local` derives them from the master key, offline; the
//! Digital Goods API registry plugs in behind the same trait.

use crate::config::RegistryKind;
use crate::key::MasterKey;

use super::lock::{Lock, LockedGood};

/// A good the site wants registered, as the build computed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedGood {
    /// `<page path>#<section>`.
    pub key: String,
    /// Price in satoshis.
    pub price: u32,
    /// `"<page title> — <section title or name>"`.
    pub title: String,
    /// `<base_url>/<page url>#<section>`.
    pub url: String,
    /// Keyed digest of the paid HTML.
    pub digest: String,
}

/// What happened to one good in a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Newly registered.
    Created,
    /// Price, title, url, content or secret changed.
    Updated,
    /// Nothing to do.
    Unchanged,
}

/// Counts of a sync, for the summary line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Goods registered for the first time.
    pub created: usize,
    /// Goods whose fields changed.
    pub updated: usize,
    /// Goods left as they were.
    pub unchanged: usize,
    /// Goods in the old lock that no page has any more.
    pub removed: usize,
}

/// A place goods are registered.
pub trait Registry {
    /// Which registry this is (recorded in the lock).
    fn kind(&self) -> RegistryKind;

    /// Registers `wanted` (sorted by key) starting from `old`, returning the new lock and
    /// what changed.
    fn sync(&mut self, wanted: &[WantedGood], old: &Lock) -> anyhow::Result<(Lock, SyncReport)>;
}

/// The offline registry: ids are derived from the master key, so they are the same on every
/// machine holding the key, with no account and no network.
pub struct LocalRegistry<'k> {
    key: &'k MasterKey,
}

impl<'k> LocalRegistry<'k> {
    /// A local registry for `key`.
    pub fn new(key: &'k MasterKey) -> Self {
        LocalRegistry { key }
    }
}

impl Change {
    /// Compares a wanted good with its locked state.
    pub fn classify(wanted: &WantedGood, locked: Option<&LockedGood>) -> Change {
        classify(wanted, locked)
    }
}

/// Compares a wanted good with its locked state.
pub fn classify(wanted: &WantedGood, locked: Option<&LockedGood>) -> Change {
    match locked {
        None => Change::Created,
        Some(l)
            if l.price == wanted.price
                && l.title == wanted.title
                && l.url == wanted.url
                && l.digest == wanted.digest =>
        {
            Change::Unchanged
        }
        Some(_) => Change::Updated,
    }
}

impl Registry for LocalRegistry<'_> {
    fn kind(&self) -> RegistryKind {
        RegistryKind::Local
    }

    fn sync(&mut self, wanted: &[WantedGood], old: &Lock) -> anyhow::Result<(Lock, SyncReport)> {
        let mut lock = Lock::new(RegistryKind::Local, self.key.fingerprint());
        let mut report = SyncReport::default();
        for w in wanted {
            let locked = old.get(&w.key);
            match classify(w, locked) {
                Change::Created => report.created += 1,
                Change::Updated => report.updated += 1,
                Change::Unchanged => report.unchanged += 1,
            }
            lock.goods.push(LockedGood {
                key: w.key.clone(),
                id: self.key.local_id(&w.key),
                price: w.price,
                title: w.title.clone(),
                url: w.url.clone(),
                digest: w.digest.clone(),
                generation: locked.map_or(1, |l| l.generation),
            });
        }
        // `wanted` is sorted by key.
        report.removed = old
            .goods
            .iter()
            .filter(|g| wanted.binary_search_by(|w| w.key.cmp(&g.key)).is_err())
            .count();
        lock.goods.sort_by(|a, b| a.key.cmp(&b.key));
        Ok((lock, report))
    }
}

/// `check`: ids from the lock where it has them, placeholders otherwise; no network.
pub struct PreviewRegistry<'k> {
    /// The master key (for local ids).
    pub key: &'k MasterKey,
}

impl Registry for PreviewRegistry<'_> {
    fn kind(&self) -> RegistryKind {
        RegistryKind::Local
    }

    fn sync(&mut self, wanted: &[WantedGood], old: &Lock) -> anyhow::Result<(Lock, SyncReport)> {
        let (mut lock, report) = LocalRegistry::new(self.key).sync(wanted, old)?;
        lock.registry = old.registry;
        for g in &mut lock.goods {
            if let Some(l) = old.get(&g.key) {
                g.id = l.id.clone();
            }
        }
        Ok((lock, report))
    }
}

/// The Digital Goods API registry: syncs through [`super::sync::sync`].
pub struct ApiRegistry<'a> {
    /// The API client.
    pub client: &'a super::client::ApiClient,
    /// The master key (for secrets).
    pub key: &'a MasterKey,
    /// The lock, written after every batch.
    pub lock_path: &'a std::path::Path,
    /// Requests per batch.
    pub batch_size: usize,
    /// Show a progress bar on a terminal.
    pub progress: bool,
}

impl ApiRegistry<'_> {
    /// What the site wants, with secrets of the lock's generations.
    pub fn desired(&self, wanted: &[WantedGood], old: &Lock) -> Vec<super::sync::Desired> {
        wanted
            .iter()
            .map(|w| {
                let generation = old.get(&w.key).map_or(1, |l| l.generation);
                super::sync::Desired {
                    key: w.key.clone(),
                    price: w.price,
                    title: w.title.clone(),
                    url: w.url.clone(),
                    digest: w.digest.clone(),
                    generation,
                    secret: self.key.good_secret(&w.key, generation),
                }
            })
            .collect()
    }
}

impl Registry for ApiRegistry<'_> {
    fn kind(&self) -> RegistryKind {
        RegistryKind::Api
    }

    fn sync(&mut self, wanted: &[WantedGood], old: &Lock) -> anyhow::Result<(Lock, SyncReport)> {
        use std::io::IsTerminal;
        let desired = self.desired(wanted, old);
        let mut start = old.clone();
        start.registry = RegistryKind::Api;
        start.key_fingerprint = self.key.fingerprint();
        let bar = if self.progress && std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(0);
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("  syncing [{bar:30}] {pos}/{len} goods")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        let progress = |done: usize, total: usize| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        };
        let result = super::sync::sync(
            self.client,
            &desired,
            start,
            &super::sync::SyncOptions {
                batch_size: self.batch_size,
                lock_path: self.lock_path,
                rounds: 5,
                progress: &progress,
            },
        );
        bar.finish_and_clear();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(key: &str, price: u32) -> WantedGood {
        WantedGood {
            key: key.into(),
            price,
            title: "t".into(),
            url: "u".into(),
            digest: "d".into(),
        }
    }

    #[test]
    fn local_sync_counts_and_keeps_generations() {
        let key = MasterKey::generate().unwrap();
        let mut reg = LocalRegistry::new(&key);
        let empty = Lock::new(RegistryKind::Local, key.fingerprint());
        let (first, r) = reg
            .sync(&[wanted("a#main", 1), wanted("b#main", 2)], &empty)
            .unwrap();
        assert_eq!((r.created, r.updated, r.unchanged, r.removed), (2, 0, 0, 0));
        let mut bumped = first.clone();
        bumped.goods[0].generation = 3;
        let (second, r) = reg
            .sync(&[wanted("a#main", 1), wanted("c#main", 9)], &bumped)
            .unwrap();
        assert_eq!((r.created, r.updated, r.unchanged, r.removed), (1, 0, 1, 1));
        assert_eq!(second.goods[0].generation, 3);
        assert_eq!(second.goods[0].id, first.goods[0].id);
        let (_, r) = reg.sync(&[wanted("a#main", 5)], &second).unwrap();
        assert_eq!(r.updated, 1);
    }
}
