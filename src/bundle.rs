//! The sealed content bundle: every paid section's HTML, encrypted, in one file.
//!
//! Layout (integers little-endian):
//!
//! ```text
//! header:  magic "SPBUNDLE" | format u16 = 2 | reserved u16 | key check [8] | count u32
//!          | index offset u64
//! entries: nonce [24] | XChaCha20-Poly1305 ciphertext | tag [16]      in index order
//! index:   count × (id length u8 | id | offset u64 | length u32 | tag [16])
//! MAC [32]: HMAC-SHA256(mac key, header || index)
//! ```
//!
//! Each entry is sealed with its good id as associated data, so an entry cannot pose as
//! another good. The index carries every entry's authentication tag and is MACed with the
//! header, so no entry can be swapped, replaced by an older one, added or dropped: the MAC
//! covers the whole file. The index comes after the entries so that a build writes the bundle
//! in one pass while it renders, holding one entry at a time; the header, written last, says
//! where the index is. Nonces are derived (HMAC of good id and plaintext), which makes sealing
//! deterministic — an unchanged site gives a byte-identical bundle, and an entry that did not
//! change need not be sealed again — without ever using one nonce for two different messages.
//! The key check tells a wrong key from a damaged file. The bundle's version is the first half
//! of the MAC.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::key::{MasterKey, hex};

const MAGIC: &[u8; 8] = b"SPBUNDLE";
const FORMAT: u16 = 2;
const HEADER_LEN: usize = 8 + 2 + 2 + 8 + 4 + 8;
const MAC_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const AAD_LABEL: &[u8] = b"satoshipress/bundle/v1";

/// One paid item as the Content API serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The good's id (the `data-sp-id`).
    pub id: String,
    /// Price in satoshis (for the 402 answer).
    pub price: u32,
    /// MIME type of `content`.
    pub content_type: String,
    /// The certificate the widget presents after payment.
    pub secret: String,
    /// The paid content.
    pub content: String,
}

/// Why a bundle could not be opened. No variant carries content or key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BundleError {
    /// Not a satoshipress bundle at all.
    #[error("not a satoshipress bundle (bad magic bytes)")]
    NotABundle,
    /// An older or newer format.
    #[error(
        "bundle format {0} is not the one this version reads (format {FORMAT}); build the site again with this version of satoshipress, or run the server of the version that built it"
    )]
    UnsupportedFormat(u16),
    /// The key check failed.
    #[error(
        "the bundle was sealed with a different master key; use the key the site was built with"
    )]
    WrongKey,
    /// The file was cut short or changed.
    #[error("the bundle is damaged ({0}); rebuild it with `satoshipress build`")]
    Corrupt(&'static str),
    /// The file could not be read.
    #[error("the bundle cannot be read: {0}")]
    Unreadable(String),
    /// Two entries have the same id.
    #[error("the bundle is damaged (duplicate good id); rebuild it with `satoshipress build`")]
    Duplicate,
}

struct Keys {
    seal: XChaCha20Poly1305,
    mac: [u8; 32],
    nonce: [u8; 32],
    check: [u8; 8],
}

impl Keys {
    fn new(key: &MasterKey) -> Keys {
        let check_full = key.subkey("satoshipress bundle key-check v1");
        let mut check = [0u8; 8];
        check.copy_from_slice(&check_full[..8]);
        let seal_key = key.subkey("satoshipress bundle seal v1");
        Keys {
            seal: XChaCha20Poly1305::new_from_slice(&seal_key).expect("32-byte key"),
            mac: key.subkey("satoshipress bundle mac v1"),
            nonce: key.subkey("satoshipress bundle nonce v1"),
            check,
        }
    }

    fn hmac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key).expect("any key length");
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }
}

fn aad(id: &str) -> Vec<u8> {
    [AAD_LABEL, id.as_bytes()].concat()
}

/// Seals entries for one master key. Shared between threads: sealing is pure.
pub struct Sealer {
    keys: Keys,
}

impl Sealer {
    /// A sealer for `key`.
    pub fn new(key: &MasterKey) -> Sealer {
        Sealer {
            keys: Keys::new(key),
        }
    }

    /// Seals one entry: nonce, ciphertext and tag, as [`BundleWriter::push`] takes it.
    pub fn seal(&self, entry: &Entry) -> Vec<u8> {
        let keys = &self.keys;
        let plain = serde_json::to_vec(entry).expect("entries serialise");
        let n = Keys::hmac(&keys.nonce, &[entry.id.as_bytes(), &[0], &plain]);
        let nonce = XNonce::try_from(&n[..NONCE_LEN]).expect("24 bytes");
        let ct = keys
            .seal
            .encrypt(
                &nonce,
                Payload {
                    msg: &plain,
                    aad: &aad(&entry.id),
                },
            )
            .expect("XChaCha20-Poly1305 seals any length we write");
        [&n[..NONCE_LEN], &ct].concat()
    }
}

/// Writes a bundle in one pass: sealed entries as they come, then the index, then the header.
/// Memory holds the index only.
pub struct BundleWriter<W: Write + Seek> {
    out: W,
    check: [u8; 8],
    mac: [u8; 32],
    index: Vec<u8>,
    count: u32,
    pos: u64,
}

impl<W: Write + Seek> BundleWriter<W> {
    /// Starts a bundle for `key` at the current end of `out` (an empty file).
    pub fn new(key: &MasterKey, mut out: W) -> std::io::Result<BundleWriter<W>> {
        let keys = Keys::new(key);
        out.write_all(&[0u8; HEADER_LEN])?;
        Ok(BundleWriter {
            out,
            check: keys.check,
            mac: keys.mac,
            index: Vec::new(),
            count: 0,
            pos: HEADER_LEN as u64,
        })
    }

    /// Appends a sealed entry ([`Sealer::seal`]) for good `id`. Ids must be distinct.
    pub fn push(&mut self, id: &str, sealed: &[u8]) -> std::io::Result<()> {
        assert!(
            sealed.len() >= NONCE_LEN + TAG_LEN && id.len() <= usize::from(u8::MAX),
            "a sealed entry"
        );
        self.out.write_all(sealed)?;
        self.index.push(id.len() as u8);
        self.index.extend_from_slice(id.as_bytes());
        self.index.extend_from_slice(&self.pos.to_le_bytes());
        self.index
            .extend_from_slice(&(sealed.len() as u32).to_le_bytes());
        self.index
            .extend_from_slice(&sealed[sealed.len() - TAG_LEN..]);
        self.pos += sealed.len() as u64;
        self.count += 1;
        Ok(())
    }

    /// Writes the index, its MAC and the header; returns the writer and the bundle's version
    /// (as [`Bundle::version`] gives it).
    pub fn finish(mut self) -> std::io::Result<(W, String)> {
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&FORMAT.to_le_bytes());
        header.extend_from_slice(&0u16.to_le_bytes());
        header.extend_from_slice(&self.check);
        header.extend_from_slice(&self.count.to_le_bytes());
        header.extend_from_slice(&self.pos.to_le_bytes());
        let mac = Keys::hmac(&self.mac, &[&header, &self.index]);
        self.out.write_all(&self.index)?;
        self.out.write_all(&mac)?;
        self.out.seek(SeekFrom::Start(0))?;
        self.out.write_all(&header)?;
        self.out.seek(SeekFrom::End(0))?;
        self.out.flush()?;
        Ok((self.out, hex(&mac[..16])))
    }
}

/// Sealed entries kept between builds, so that a rebuild seals only what changed.
#[derive(Default)]
pub struct SealCache {
    entries: HashMap<String, (Entry, Vec<u8>)>,
}

impl SealCache {
    /// Keeps `sealed` as the sealing of `entry`.
    pub fn insert(&mut self, entry: Entry, sealed: Vec<u8>) {
        self.entries.insert(entry.id.clone(), (entry, sealed));
    }
}

/// Seals `entries`, in this order, into bundle bytes. Deterministic for the same key and
/// entries.
pub fn seal(key: &MasterKey, entries: &[Entry]) -> Vec<u8> {
    seal_cached(key, entries, &mut SealCache::default())
}

/// [`seal`], reusing the sealed bytes of entries that `cache` holds unchanged, and leaving the
/// cache holding exactly `entries`. The cache must be used with one key only.
pub fn seal_cached(key: &MasterKey, entries: &[Entry], cache: &mut SealCache) -> Vec<u8> {
    let sealer = Sealer::new(key);
    let mut next: HashMap<String, (Entry, Vec<u8>)> = HashMap::with_capacity(entries.len());
    let mut writer = BundleWriter::new(key, std::io::Cursor::new(Vec::new()))
        .expect("writing to memory cannot fail");
    for e in entries {
        let sealed = match cache.entries.remove(&e.id) {
            Some((old, bytes)) if old == *e => bytes,
            _ => sealer.seal(e),
        };
        writer
            .push(&e.id, &sealed)
            .expect("writing to memory cannot fail");
        next.insert(e.id.clone(), (e.clone(), sealed));
    }
    cache.entries = next;
    writer
        .finish()
        .expect("writing to memory cannot fail")
        .0
        .into_inner()
}

/// An opened, verified bundle, indexed by good id.
#[derive(Debug)]
pub struct Bundle {
    id: [u8; 16],
    entries: HashMap<String, Entry>,
}

/// Reads a bundle from any byte source, feeding the header and index to the MAC.
struct Reader<R: Read> {
    inner: R,
    pos: u64,
    mac: Option<Hmac<Sha256>>,
}

impl<R: Read> Reader<R> {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), BundleError> {
        self.inner.read_exact(buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => BundleError::Corrupt("truncated"),
            _ => BundleError::Unreadable(e.to_string()),
        })?;
        self.pos += buf.len() as u64;
        if let Some(mac) = &mut self.mac {
            mac.update(buf);
        }
        Ok(())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], BundleError> {
        let mut a = [0u8; N];
        self.fill(&mut a)?;
        Ok(a)
    }
}

/// A bundle's header and index, verified.
struct Head<R: Read> {
    r: Reader<R>,
    index: Vec<(String, u64, usize, [u8; TAG_LEN])>,
    index_at: u64,
    mac: [u8; MAC_LEN],
}

/// Reads and verifies the header and the index (and that nothing follows the index MAC).
fn read_head<R: Read + Seek>(keys: &Keys, mut source: R) -> Result<Head<R>, BundleError> {
    let mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&keys.mac).expect("any key length");
    let unreadable = |e: std::io::Error| BundleError::Unreadable(e.to_string());
    source.seek(SeekFrom::Start(0)).map_err(unreadable)?;
    let mut r = Reader {
        inner: source,
        pos: 0,
        mac: Some(mac),
    };
    if r.array::<8>().map_err(|_| BundleError::NotABundle)? != *MAGIC {
        return Err(BundleError::NotABundle);
    }
    let format = u16::from_le_bytes(r.array()?);
    if format != FORMAT {
        return Err(BundleError::UnsupportedFormat(format));
    }
    r.array::<2>()?;
    if !bool::from(r.array::<8>()?.ct_eq(&keys.check)) {
        return Err(BundleError::WrongKey);
    }
    let count = u32::from_le_bytes(r.array()?) as usize;
    let index_at = u64::from_le_bytes(r.array()?);
    if index_at < HEADER_LEN as u64 {
        return Err(BundleError::Corrupt("index offset"));
    }
    r.inner
        .seek(SeekFrom::Start(index_at))
        .map_err(unreadable)?;
    r.pos = index_at;
    let mut index = Vec::with_capacity(count.min(1 << 16));
    for _ in 0..count {
        let [len] = r.array::<1>()?;
        let mut gid = vec![0u8; len as usize];
        r.fill(&mut gid)?;
        let gid = String::from_utf8(gid).map_err(|_| BundleError::Corrupt("index"))?;
        let offset = u64::from_le_bytes(r.array()?);
        let length = u32::from_le_bytes(r.array()?) as usize;
        let tag: [u8; TAG_LEN] = r.array()?;
        index.push((gid, offset, length, tag));
    }
    let want = r
        .mac
        .take()
        .expect("the MAC runs over the header and index")
        .finalize()
        .into_bytes();
    let mac: [u8; MAC_LEN] = r.array()?;
    if !bool::from(mac.ct_eq(want.as_slice())) {
        return Err(BundleError::Corrupt("index does not verify"));
    }
    let mut extra = [0u8; 1];
    match r.inner.read(&mut extra) {
        Ok(0) => {}
        Ok(_) => return Err(BundleError::Corrupt("trailing bytes")),
        Err(e) => return Err(BundleError::Unreadable(e.to_string())),
    }
    Ok(Head {
        r,
        index,
        index_at,
        mac,
    })
}

/// The sealed entries of a bundle on disk, for a build to carry over unchanged entries
/// without opening them: the header and index are verified, and an entry is handed out only
/// if its bytes end in the tag the MACed index holds for it.
pub struct SealedEntries {
    file: std::fs::File,
    index: HashMap<String, (u64, usize, [u8; TAG_LEN])>,
    version: [u8; 16],
}

impl SealedEntries {
    /// Reads the header and index of the bundle at `path`.
    pub fn open(key: &MasterKey, path: &Path) -> Result<SealedEntries, BundleError> {
        let file = std::fs::File::open(path).map_err(|e| BundleError::Unreadable(e.to_string()))?;
        let head = read_head(&Keys::new(key), std::io::BufReader::new(file))?;
        let mut version = [0u8; 16];
        version.copy_from_slice(&head.mac[..16]);
        Ok(SealedEntries {
            file: head.r.inner.into_inner(),
            index: head
                .index
                .into_iter()
                .map(|(id, offset, len, tag)| (id, (offset, len, tag)))
                .collect(),
            version,
        })
    }

    /// The bundle's version (as [`Bundle::version`] gives it).
    pub fn version(&self) -> String {
        hex(&self.version)
    }

    /// The sealed bytes of good `id`, as [`Sealer::seal`] gave them.
    pub fn get(&self, id: &str) -> Option<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let &(offset, len, tag) = self.index.get(id)?;
        if !(NONCE_LEN + TAG_LEN..=1 << 30).contains(&len) {
            return None;
        }
        let mut bytes = vec![0u8; len];
        self.file.read_exact_at(&mut bytes, offset).ok()?;
        bool::from(bytes[len - TAG_LEN..].ct_eq(&tag)).then_some(bytes)
    }
}

/// Reads and verifies a bundle, handing each verified entry to `each` as soon as it is read
/// (so a server holds one sealed entry at a time, not the file). The header and index are
/// read and verified first. Returns the bundle's id. The caller must discard what `each`
/// received if this returns an error.
pub fn read_entries<R: Read + Seek>(
    key: &MasterKey,
    source: R,
    mut each: impl FnMut(Entry) -> Result<(), BundleError>,
) -> Result<[u8; 16], BundleError> {
    let keys = Keys::new(key);
    let unreadable = |e: std::io::Error| BundleError::Unreadable(e.to_string());
    let Head {
        mut r,
        index,
        index_at,
        mac,
    } = read_head(&keys, source)?;
    r.inner
        .seek(SeekFrom::Start(HEADER_LEN as u64))
        .map_err(unreadable)?;
    r.pos = HEADER_LEN as u64;
    let mut sealed = Vec::new();
    for (gid, offset, length, tag) in index {
        if offset != r.pos || length < NONCE_LEN + TAG_LEN || offset + length as u64 > index_at {
            return Err(BundleError::Corrupt("entry offsets"));
        }
        sealed.resize(length, 0);
        r.fill(&mut sealed)?;
        if !bool::from(sealed[length - TAG_LEN..].ct_eq(&tag)) {
            return Err(BundleError::Corrupt("an entry is not the one indexed"));
        }
        let nonce = XNonce::try_from(&sealed[..NONCE_LEN]).expect("24 bytes");
        let plain = keys
            .seal
            .decrypt(
                &nonce,
                Payload {
                    msg: &sealed[NONCE_LEN..],
                    aad: &aad(&gid),
                },
            )
            .map_err(|_| BundleError::Corrupt("an entry does not verify"))?;
        let entry: Entry =
            serde_json::from_slice(&plain).map_err(|_| BundleError::Corrupt("entry"))?;
        if entry.id != gid {
            return Err(BundleError::Corrupt("entry id"));
        }
        each(entry)?;
    }
    if r.pos != index_at {
        return Err(BundleError::Corrupt(
            "bytes between the entries and the index",
        ));
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(&mac[..16]);
    Ok(id)
}

impl Bundle {
    /// Opens bundle bytes with the master key, verifying every entry. Any flipped byte, a
    /// truncation, trailing bytes or a wrong key is an error; nothing unverified is returned.
    pub fn open(key: &MasterKey, bytes: &[u8]) -> Result<Bundle, BundleError> {
        let mut entries = HashMap::new();
        let id = read_entries(key, std::io::Cursor::new(bytes), |e| {
            match entries.insert(e.id.clone(), e) {
                Some(_) => Err(BundleError::Duplicate),
                None => Ok(()),
            }
        })?;
        Ok(Bundle { id, entries })
    }

    /// Reads and opens a bundle file.
    pub fn open_file(key: &MasterKey, path: &Path) -> anyhow::Result<Bundle> {
        use anyhow::Context;
        let bytes = crate::fs::read(path)?;
        Bundle::open(key, &bytes)
            .with_context(|| format!("cannot open the bundle `{}`", path.display()))
    }

    /// The entry for good `id`.
    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.entries.get(id)
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the bundle has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The bundle's version: 32 hex digits that change whenever any entry changes.
    pub fn version(&self) -> String {
        hex(&self.id)
    }

    /// All entries, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// Consumes the bundle, yielding its entries.
    pub fn into_entries(self) -> impl Iterator<Item = Entry> {
        self.entries.into_values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, content: &str) -> Entry {
        Entry {
            id: id.into(),
            price: 100,
            content_type: "text/html".into(),
            secret: format!("secret-{id}"),
            content: content.into(),
        }
    }

    fn key(b: &str) -> MasterKey {
        use base64::Engine;
        let text = base64::engine::general_purpose::STANDARD.encode([b.as_bytes()[0]; 32]);
        MasterKey::from_base64(&text, &crate::key::KeyOrigin::Env).unwrap()
    }

    #[test]
    fn round_trip_and_determinism() {
        let k = key("a");
        let entries = vec![entry("bbb", "<p>two ☕</p>"), entry("aaa", "<p>one</p>")];
        let bytes = seal(&k, &entries);
        assert_eq!(bytes, seal(&k, &entries), "sealing is deterministic");
        let b = Bundle::open(&k, &bytes).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b.get("aaa").unwrap().content, "<p>one</p>");
        assert_eq!(b.get("bbb").unwrap(), &entries[0]);
        assert!(b.get("ccc").is_none());
        assert!(!bytes.windows(3).any(|w| w == b"one"));
        let empty = seal(&k, &[]);
        assert!(Bundle::open(&k, &empty).unwrap().is_empty());
    }

    #[test]
    fn a_changed_entry_changes_the_version() {
        let k = key("a");
        let v1 = Bundle::open(&k, &seal(&k, &[entry("a", "x")]))
            .unwrap()
            .version();
        let v2 = Bundle::open(&k, &seal(&k, &[entry("a", "y")]))
            .unwrap()
            .version();
        assert_ne!(v1, v2);
    }

    #[test]
    fn wrong_key_and_every_flipped_byte_are_refused() {
        let k = key("a");
        let bytes = seal(
            &k,
            &[entry("aaa", "<p>one</p>"), entry("bbb", "<p>two</p>")],
        );
        assert_eq!(
            Bundle::open(&key("b"), &bytes).unwrap_err(),
            BundleError::WrongKey
        );
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            assert!(
                Bundle::open(&k, &bad).is_err(),
                "flipped byte {i} was accepted"
            );
        }
        for cut in [0, 5, HEADER_LEN, bytes.len() - 1] {
            assert!(
                Bundle::open(&k, &bytes[..cut]).is_err(),
                "cut at {cut} was accepted"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Bundle::open(&k, &longer).is_err());
    }

    #[test]
    fn entries_cannot_be_swapped() {
        let k = key("a");
        let bytes = seal(
            &k,
            &[entry("aaa", "<p>one</p>"), entry("bbb", "<p>two</p>")],
        );
        // Both entries have the same length: swap their sealed bodies.
        assert!(Bundle::open(&k, &bytes).is_ok());
        let index_len = 2 * (1 + 3 + 8 + 4 + TAG_LEN);
        let len = (bytes.len() - (HEADER_LEN + index_len + MAC_LEN)) / 2;
        let (head, rest) = bytes.split_at(HEADER_LEN);
        let (entries, tail) = rest.split_at(2 * len);
        let swapped = [head, &entries[len..], &entries[..len], tail].concat();
        assert_eq!(swapped.len(), bytes.len());
        assert!(Bundle::open(&k, &swapped).is_err());
    }

    #[test]
    fn an_older_entry_cannot_be_spliced_into_a_newer_bundle() {
        let k = key("a");
        let old = seal(&k, &[entry("aaa", "<p>old</p>")]);
        let new = seal(&k, &[entry("aaa", "<p>new</p>")]);
        assert_eq!(old.len(), new.len());
        let len = NONCE_LEN
            + TAG_LEN
            + serde_json::to_vec(&entry("aaa", "<p>old</p>"))
                .unwrap()
                .len();
        let at = HEADER_LEN..HEADER_LEN + len;
        let spliced = [&new[..at.start], &old[at.clone()], &new[at.end..]].concat();
        assert!(
            Bundle::open(&k, &spliced).is_err(),
            "an old entry was accepted in a new bundle"
        );
    }

    #[test]
    fn the_writer_streams_what_seal_gives() {
        let k = key("a");
        let entries = vec![entry("b", "two"), entry("a", "one")];
        let sealer = Sealer::new(&k);
        let mut w = BundleWriter::new(&k, std::io::Cursor::new(Vec::new())).unwrap();
        for e in &entries {
            w.push(&e.id, &sealer.seal(e)).unwrap();
        }
        let (out, version) = w.finish().unwrap();
        let bytes = out.into_inner();
        assert_eq!(Bundle::open(&k, &bytes).unwrap().version(), version);
        assert_eq!(bytes, seal(&k, &entries));
        let mut seen = Vec::new();
        read_entries(&k, std::io::Cursor::new(&bytes), |e| {
            seen.push(e);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, entries, "entries come back in the order written");
        let mut v1 = bytes.clone();
        v1[8] = 1;
        assert_eq!(
            Bundle::open(&k, &v1).unwrap_err(),
            BundleError::UnsupportedFormat(1)
        );
    }

    #[test]
    fn cached_sealing_gives_the_same_bytes() {
        let k = key("a");
        let mut cache = SealCache::default();
        let first = vec![entry("a", "1"), entry("b", "2")];
        assert_eq!(seal_cached(&k, &first, &mut cache), seal(&k, &first));
        let second = vec![entry("a", "1"), entry("b", "two"), entry("c", "3")];
        assert_eq!(seal_cached(&k, &second, &mut cache), seal(&k, &second));
        assert_eq!(cache.entries.len(), 3);
        assert_eq!(
            seal_cached(&k, &first[..1], &mut cache),
            seal(&k, &first[..1])
        );
        assert_eq!(cache.entries.len(), 1);
    }
}
