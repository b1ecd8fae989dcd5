//! The master key: 32 random bytes from which every secret of a site derives.
//!
//! Per-good secrets, local good ids, keyed content digests and the bundle's keys are all
//! derived from it with a label of their own, so none of them reveals another. The key
//! itself never leaves this module in any form but its base64 text written to a key file.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The environment variable that carries the master key (base64). It overrides the key file.
pub const KEY_ENV: &str = "SATOSHIPRESS_KEY";

const KEY_LEN: usize = 32;

/// The site's master key. `Debug` and `Display` never show it.
#[derive(Clone)]
pub struct MasterKey([u8; KEY_LEN]);

/// Why a master key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// No key in the environment and no key file.
    #[error(
        "no master key: set {KEY_ENV} or create the key file `{}` with `satoshipress keygen --out {}`",
        path.display(), path.display()
    )]
    Missing {
        /// The key file that was looked for.
        path: PathBuf,
    },
    /// The text is not 32 bytes of base64. The text itself is never shown.
    #[error(
        "the master key in {origin} is not valid: expected 32 bytes written as base64 (make one with `satoshipress keygen`)"
    )]
    Malformed {
        /// Where it came from: the variable or the file.
        origin: String,
    },
    /// The key file can be read by other users.
    #[error(
        "the key file `{}` can be read by other users (mode {mode:o}); run `chmod 600 {}`",
        path.display(), path.display()
    )]
    TooOpen {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file exists but could not be read.
    #[error("failed to read the key file `{}`", path.display())]
    Io {
        /// The key file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The operating system's random source failed.
    #[error("the system's random number generator failed: {0}")]
    Random(String),
}

/// Where a key came from, for messages that name its origin (never its value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    /// The `SATOSHIPRESS_KEY` environment variable.
    Env,
    /// A key file.
    File(PathBuf),
}

impl fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyOrigin::Env => write!(f, "${KEY_ENV}"),
            KeyOrigin::File(p) => write!(f, "`{}`", p.display()),
        }
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// A new random key from the operating system.
    pub fn generate() -> Result<Self, KeyError> {
        let mut bytes = [0u8; KEY_LEN];
        getrandom::fill(&mut bytes).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(MasterKey(bytes))
    }

    /// Reads a key from its base64 text (standard or URL-safe alphabet, padded or not).
    pub fn from_base64(text: &str, origin: &KeyOrigin) -> Result<Self, KeyError> {
        let text = text.trim();
        let decoded = STANDARD
            .decode(text)
            .or_else(|_| STANDARD_NO_PAD.decode(text))
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')));
        match decoded {
            Ok(bytes) if bytes.len() == KEY_LEN => {
                let mut key = [0u8; KEY_LEN];
                key.copy_from_slice(&bytes);
                Ok(MasterKey(key))
            }
            _ => Err(KeyError::Malformed {
                origin: origin.to_string(),
            }),
        }
    }

    /// The key as base64 text, for writing a key file.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Loads the key: `env_value` (the content of `SATOSHIPRESS_KEY`) wins; otherwise the key
    /// file, which must not be readable by group or others.
    pub fn load(env_value: Option<&str>, key_file: &Path) -> Result<(Self, KeyOrigin), KeyError> {
        if let Some(text) = env_value.filter(|t| !t.trim().is_empty()) {
            return Ok((Self::from_base64(text, &KeyOrigin::Env)?, KeyOrigin::Env));
        }
        let origin = KeyOrigin::File(key_file.to_path_buf());
        let text = match std::fs::read_to_string(key_file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(KeyError::Missing {
                    path: key_file.to_path_buf(),
                });
            }
            Err(source) => {
                return Err(KeyError::Io {
                    path: key_file.to_path_buf(),
                    source,
                });
            }
        };
        check_private(key_file)?;
        Ok((Self::from_base64(&text, &origin)?, origin))
    }

    /// HMAC-SHA256 of the concatenated parts under the master key.
    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC takes keys of any length");
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }

    /// The secret of a good: `HMAC-SHA256(key, "secret/" + good key + "/" + generation)`,
    /// base64url without padding. What the widget presents to the Content API after payment.
    pub fn good_secret(&self, good_key: &str, generation: u32) -> String {
        let tag = self.mac(&[
            b"secret/",
            good_key.as_bytes(),
            b"/",
            generation.to_string().as_bytes(),
        ]);
        URL_SAFE_NO_PAD.encode(tag)
    }

    /// The offline registry's id for a good: 24 hex digits, like the API's ids.
    pub fn local_id(&self, good_key: &str) -> String {
        hex(&self.mac(&[b"id/", good_key.as_bytes()])[..12])
    }

    /// A keyed digest of paid content (32 hex digits): tells whether content changed
    /// without letting anyone who reads the lock guess a short text back.
    pub fn content_digest(&self, content: &[u8]) -> String {
        hex(&self.mac(&[b"digest/", content])[..16])
    }

    /// A public fingerprint of the key (16 hex digits), stored in the lock so a build with
    /// the wrong key is caught before it changes every id and secret.
    pub fn fingerprint(&self) -> String {
        hex(&self.mac(&[b"fingerprint"])[..8])
    }

    /// A 32-byte subkey for one purpose, by HKDF-SHA256 with `label` as info.
    pub fn subkey(&self, label: &str) -> [u8; 32] {
        let hk = hkdf::Hkdf::<Sha256>::new(Some(b"satoshipress"), &self.0);
        let mut out = [0u8; 32];
        hk.expand(label.as_bytes(), &mut out)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        out
    }
}

/// Refuses a key file that group or others may read.
pub fn check_private(path: &Path) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey([7u8; 32])
    }

    #[test]
    fn base64_round_trip_in_both_alphabets() {
        let k = MasterKey::generate().unwrap();
        let text = k.to_base64();
        let origin = KeyOrigin::Env;
        let back = MasterKey::from_base64(&format!("  {text}\n"), &origin).unwrap();
        assert_eq!(back.0, k.0);
        let url = text.replace('+', "-").replace('/', "_");
        assert_eq!(MasterKey::from_base64(&url, &origin).unwrap().0, k.0);
        let unpadded = text.trim_end_matches('=');
        assert_eq!(MasterKey::from_base64(unpadded, &origin).unwrap().0, k.0);
    }

    #[test]
    fn malformed_keys_never_echo_their_text() {
        for bad in [
            "",
            "short",
            "!!!!notbase64!!!!",
            &STANDARD.encode([1u8; 31]),
        ] {
            let err = MasterKey::from_base64(bad, &KeyOrigin::Env).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("SATOSHIPRESS_KEY"), "{msg}");
            if !bad.is_empty() {
                assert!(!msg.contains(bad), "{msg}");
            }
        }
    }

    #[test]
    fn derivations_are_stable_and_distinct() {
        let k = key();
        assert_eq!(k.local_id("a.md#main").len(), 24);
        assert_eq!(k.local_id("a.md#main"), k.local_id("a.md#main"));
        assert_ne!(k.local_id("a.md#main"), k.local_id("b.md#main"));
        assert_ne!(k.good_secret("a.md#main", 1), k.good_secret("a.md#main", 2));
        assert_eq!(k.good_secret("a.md#main", 1).len(), 43);
        assert_ne!(k.subkey("a"), k.subkey("b"));
        assert_eq!(k.content_digest(b"x").len(), 32);
        assert!(!format!("{k:?}").contains("7"));
    }
}
