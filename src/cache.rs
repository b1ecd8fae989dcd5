//! The build cache: what the last successful build knew of each page, so that a rebuild
//! neither parses, renders nor seals a page whose source did not change.
//!
//! A page is taken from the cache only when all of this holds: its source hashes the same
//! (SHA-256); everything else that shapes its output — this binary, the config, the theme,
//! the key, the output directory, the kind of output, the site's navigation — hashes to the
//! same fingerprint; its goods are foreseen with the same ids and secret generations; its
//! output file is the very one that build wrote (same size and modification time); and the
//! bundle on disk is the one that build wrote, so its sealed entries are carried over as they
//! are. Anything else, and the page is built as if there were no cache. The cache holds no
//! paid content: free text, good ids and keyed digests only.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::page::Page;

/// The cache file, relative to the site directory.
pub const CACHE_FILE: &str = ".satoshipress/build-cache.json";

const FORMAT: u32 = 1;

/// What the last build knew.
pub struct BuildCache {
    /// The version of the bundle the build wrote.
    pub bundle_version: String,
    /// By source path.
    pub pages: HashMap<String, CachedPage>,
}

/// One page as the last build left it (written as [`NewPage`]).
#[derive(Deserialize)]
pub struct CachedPage {
    /// SHA-256 of the source, hex.
    pub hash: String,
    /// What listings, the sitemap and the goods need of the page (its HTML let go).
    pub page: Page,
    /// The output file the page wrote, if any: path relative to the output directory, size
    /// and modification time (nanoseconds since the epoch).
    pub output: Option<(String, u64, u128)>,
    /// Each paid section's good id and secret generation, in order.
    pub goods: Vec<(String, u32)>,
}

/// SHA-256 of a page's source, hex.
pub fn source_hash(text: &str) -> String {
    crate::key::hex(&Sha256::digest(text.as_bytes()))
}

/// The fingerprint of everything but the pages: `parts`, and this binary (its size and
/// modification time, so that a rebuilt satoshipress does not trust an older one's cache).
pub fn fingerprint(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    h.update(FORMAT.to_le_bytes());
    h.update(env!("CARGO_PKG_VERSION"));
    if let Some((len, modified)) = std::env::current_exe()
        .ok()
        .and_then(|exe| std::fs::metadata(exe).ok())
        .and_then(|m| Some((m.len(), m.modified().ok()?)))
    {
        h.update(len.to_le_bytes());
        h.update(format!("{modified:?}"));
    }
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    crate::key::hex(&h.finalize())
}

/// A file's size and modification time (nanoseconds since the epoch).
pub type FileStamp = (u64, u128);

/// Size and modification time of a file, as [`CachedPage::output`] holds them.
pub fn stamp(path: &Path) -> Option<FileStamp> {
    let m = std::fs::metadata(path).ok()?;
    let modified = m
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some((m.len(), modified.as_nanos()))
}

impl BuildCache {
    /// The cache of the site in `site_dir`, if there is one made with `fingerprint`.
    pub fn load(site_dir: &Path, fingerprint: &str) -> Option<BuildCache> {
        let file = std::fs::File::open(site_dir.join(CACHE_FILE)).ok()?;
        use std::io::BufRead;
        let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
        // The head line first, so that a cache made for other inputs is not read through.
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let head: Head<String> = serde_json::from_str(&line).ok()?;
        if head.format != FORMAT || head.fingerprint != fingerprint {
            return None;
        }
        let pages = serde_json::from_reader(reader).ok()?;
        Some(BuildCache {
            bundle_version: head.bundle_version,
            pages,
        })
    }
}

/// The first of the cache file's two JSON documents; the second maps source paths to
/// [`CachedPage`]s.
#[derive(Serialize, Deserialize)]
struct Head<S> {
    format: u32,
    fingerprint: S,
    bundle_version: S,
}

/// A cache to be written, borrowing the pages rather than copying them.
pub struct NewCache<'a> {
    fingerprint: &'a str,
    bundle_version: &'a str,
    /// By source path.
    pub pages: HashMap<&'a str, NewPage<'a>>,
}

/// [`CachedPage`], borrowed.
#[derive(Serialize)]
pub struct NewPage<'a> {
    /// SHA-256 of the source, hex.
    pub hash: &'a str,
    /// The page, its HTML let go.
    pub page: &'a Page,
    /// Output file, size and modification time.
    pub output: Option<(&'a str, u64, u128)>,
    /// Good ids and secret generations.
    pub goods: Vec<(&'a str, u32)>,
}

impl<'a> NewCache<'a> {
    /// An empty cache for `fingerprint`, naming the bundle of version `bundle_version`.
    pub fn new(fingerprint: &'a str, bundle_version: &'a str) -> NewCache<'a> {
        NewCache {
            fingerprint,
            bundle_version,
            pages: HashMap::new(),
        }
    }

    /// Writes the cache (atomically) into the site directory, keeping it out of git.
    pub fn save(&self, site_dir: &Path) -> anyhow::Result<PathBuf> {
        use std::io::Write;
        let path = site_dir.join(CACHE_FILE);
        let staged = crate::fs::StagedFile::create(&path, Some(0o644))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 16, staged.file());
        let head = Head {
            format: FORMAT,
            fingerprint: self.fingerprint,
            bundle_version: self.bundle_version,
        };
        serde_json::to_writer(&mut out, &head)?;
        out.write_all(b"\n")?;
        serde_json::to_writer(&mut out, &self.pages)?;
        out.flush()?;
        drop(out);
        staged.commit()?;
        crate::build::gitignore(
            site_dir,
            Path::new(".satoshipress/"),
            "satoshipress's build cache: local to this machine",
        )?;
        Ok(path)
    }
}
