//! The bundle reader: arbitrary bytes are refused or opened, never a panic; and a real bundle
//! with bytes changed by the fuzzer is never accepted with different content.
#![no_main]

use libfuzzer_sys::fuzz_target;
use satoshipress::bundle::{Bundle, Entry, seal};
use satoshipress::key::{KeyOrigin, MasterKey};

fuzz_target!(|data: &[u8]| {
    let key = MasterKey::from_base64("KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=", &KeyOrigin::Env).unwrap();
    let _ = Bundle::open(&key, data);
    // Overlay the input on a real bundle: a changed bundle must not open.
    let entry = Entry {
        id: "abc".into(),
        price: 1,
        content_type: "text/html".into(),
        secret: "s".into(),
        content: "<p>paid</p>".into(),
    };
    let mut sealed = seal(&key, std::slice::from_ref(&entry));
    let original = sealed.clone();
    for (i, b) in data.iter().enumerate().take(sealed.len()) {
        let at = (i * 7919) % sealed.len();
        sealed[at] ^= b;
    }
    if sealed != original {
        assert!(Bundle::open(&key, &sealed).is_err(), "a changed bundle was accepted");
    }
});
