//! Signed payment receipts: `paymentReceipt=<payloadBase64>.<signature>`, where the signature
//! is the lowercase hex SHA-512 of `payloadBase64 + secret` and the payload is base64 of
//! `{"exp": unix seconds, "ito": …, "jti": …}`.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

/// Why a receipt was refused. None of these carries the receipt or the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// Not `payload.signature`, or a payload that is not base64 JSON with a numeric `exp`.
    #[error("malformed receipt")]
    Malformed,
    /// The signature does not match.
    #[error("receipt signature does not match")]
    BadSignature,
    /// `exp` is not in the future.
    #[error("receipt expired")]
    Expired,
}

/// Checks a receipt against a good's secret at time `now` (unix seconds).
pub fn verify_receipt(receipt: &str, secret: &str, now: u64) -> Result<(), ReceiptError> {
    let (payload_b64, signature) = receipt.rsplit_once('.').ok_or(ReceiptError::Malformed)?;
    if payload_b64.is_empty() || signature.len() != 128 {
        return Err(ReceiptError::Malformed);
    }
    let mut hasher = Sha512::new();
    hasher.update(payload_b64.as_bytes());
    hasher.update(secret.as_bytes());
    let expected = crate::key::hex(&hasher.finalize());
    let given = signature.to_ascii_lowercase();
    if !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        return Err(ReceiptError::BadSignature);
    }
    let trimmed = payload_b64.trim_end_matches('=');
    let json = URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| STANDARD_NO_PAD.decode(trimmed))
        .map_err(|_| ReceiptError::Malformed)?;
    let payload: serde_json::Value =
        serde_json::from_slice(&json).map_err(|_| ReceiptError::Malformed)?;
    let exp = payload
        .get("exp")
        .and_then(serde_json::Value::as_f64)
        .ok_or(ReceiptError::Malformed)?;
    if exp > now as f64 {
        Ok(())
    } else {
        Err(ReceiptError::Expired)
    }
}

/// Makes a receipt, for tests and the sandbox: `base64url(payload) + "." + hex(sha512(…))`.
pub fn sign_receipt(
    payload: &serde_json::Value,
    secret: &str,
    url_safe: bool,
    padded: bool,
) -> String {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    let json = serde_json::to_vec(payload).expect("JSON");
    let b64 = match (url_safe, padded) {
        (true, true) => URL_SAFE.encode(&json),
        (true, false) => URL_SAFE_NO_PAD.encode(&json),
        (false, true) => STANDARD.encode(&json),
        (false, false) => STANDARD_NO_PAD.encode(&json),
    };
    let mut hasher = Sha512::new();
    hasher.update(b64.as_bytes());
    hasher.update(secret.as_bytes());
    format!("{b64}.{}", crate::key::hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn receipts_table() {
        let now = 1_800_000_000;
        // A payload whose base64 has `+`/`/` or `-`/`_` and needs padding.
        let payload = json!({"exp": now + 60, "ito": "reader?>>", "jti": "t~~~1"});
        for url_safe in [true, false] {
            for padded in [true, false] {
                let r = sign_receipt(&payload, "s3cret", url_safe, padded);
                assert_eq!(verify_receipt(&r, "s3cret", now), Ok(()), "{r}");
                assert_eq!(
                    verify_receipt(&r, "other", now),
                    Err(ReceiptError::BadSignature)
                );
                assert!(verify_receipt(&r.to_uppercase(), "s3cret", now).is_err());
            }
        }
        let expired = sign_receipt(&json!({"exp": now - 1}), "s", true, false);
        assert_eq!(
            verify_receipt(&expired, "s", now),
            Err(ReceiptError::Expired)
        );
        let at_now = sign_receipt(&json!({"exp": now}), "s", true, false);
        assert_eq!(
            verify_receipt(&at_now, "s", now),
            Err(ReceiptError::Expired)
        );
        let no_exp = sign_receipt(&json!({"jti": "x"}), "s", true, false);
        assert_eq!(
            verify_receipt(&no_exp, "s", now),
            Err(ReceiptError::Malformed)
        );
        let upper_sig = {
            let r = sign_receipt(&payload, "s", true, false);
            let (p, s) = r.rsplit_once('.').unwrap();
            format!("{p}.{}", s.to_uppercase())
        };
        assert_eq!(verify_receipt(&upper_sig, "s", now), Ok(()));
        for bad in [
            "",
            ".",
            "abc",
            "abc.def",
            &format!("!!!.{}", "0".repeat(128)),
        ] {
            assert!(verify_receipt(bad, "s", now).is_err(), "{bad}");
        }
    }
}
