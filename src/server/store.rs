//! The goods a server holds in memory: what the handler needs and nothing more, with each
//! success body rendered once at load time.

use std::collections::HashMap;
use std::time::SystemTime;

use std::path::Path;

use crate::bundle::{Bundle, Entry};
use crate::key::MasterKey;

/// One good as served.
#[derive(Debug)]
pub struct Good {
    /// Price in satoshis, for the 402 answer.
    pub price: u32,
    /// The certificate that unlocks it.
    pub secret: String,
    /// The 200 body: `{"content": …}`, or the raw bytes for non-HTML content.
    pub body: Vec<u8>,
    /// The body's content type.
    pub content_type: String,
}

/// A good as served: the `{"content": …}` body rendered once (raw bytes for non-HTML).
fn good_of(e: Entry) -> (String, Good) {
    let (body, content_type) = if e.content_type.starts_with("text/html") {
        let body = serde_json::to_vec(&serde_json::json!({ "content": e.content }))
            .expect("JSON of a string");
        (body, "application/json; charset=utf-8".to_string())
    } else {
        (e.content.into_bytes(), e.content_type)
    };
    let good = Good {
        price: e.price,
        secret: e.secret,
        body,
        content_type,
    };
    (e.id, good)
}

/// A loaded bundle, indexed by good id.
#[derive(Debug)]
pub struct Store {
    goods: HashMap<String, Good>,
    /// The bundle's version (changes when any entry changes).
    pub version: String,
    /// When it was loaded.
    pub loaded_at: SystemTime,
}

impl Store {
    /// Reads, verifies and indexes a bundle file entry by entry, so that memory holds the
    /// answers and one sealed entry at a time rather than the file and its plaintext too.
    pub fn open_file(key: &MasterKey, path: &Path) -> anyhow::Result<Store> {
        use anyhow::Context;
        let file = std::fs::File::open(path)
            .with_context(|| format!("failed to read `{}`", path.display()))?;
        let mut goods = HashMap::new();
        let id = crate::bundle::read_entries(
            key,
            std::io::BufReader::with_capacity(1 << 16, file),
            |e| {
                let (id, good) = good_of(e);
                match goods.insert(id, good) {
                    Some(_) => Err(crate::bundle::BundleError::Duplicate),
                    None => Ok(()),
                }
            },
        )
        .with_context(|| format!("cannot open the bundle `{}`", path.display()))?;
        goods.shrink_to_fit();
        Ok(Store {
            goods,
            version: crate::key::hex(&id),
            loaded_at: SystemTime::now(),
        })
    }

    /// Takes the entries out of an opened bundle.
    pub fn from_bundle(bundle: Bundle) -> Store {
        let version = bundle.version();
        let goods = bundle
            .into_entries()
            .map(|e| {
                let html = e.content_type.starts_with("text/html");
                let (body, content_type) = if html {
                    (
                        serde_json::to_vec(&serde_json::json!({ "content": e.content }))
                            .expect("JSON of a string"),
                        "application/json; charset=utf-8".to_string(),
                    )
                } else {
                    (e.content.into_bytes(), e.content_type)
                };
                (
                    e.id,
                    Good {
                        price: e.price,
                        secret: e.secret,
                        body,
                        content_type,
                    },
                )
            })
            .collect();
        Store {
            goods,
            version,
            loaded_at: SystemTime::now(),
        }
    }

    /// The good with id `id`.
    pub fn get(&self, id: &str) -> Option<&Good> {
        self.goods.get(id)
    }

    /// The good with id `id`, with the id as stored (borrowed for as long as the store).
    pub fn get_key_value(&self, id: &str) -> Option<(&String, &Good)> {
        self.goods.get_key_value(id)
    }

    /// How many goods it holds.
    pub fn len(&self) -> usize {
        self.goods.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.goods.is_empty()
    }
}
