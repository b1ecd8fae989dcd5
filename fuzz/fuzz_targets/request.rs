//! The Content API's request handling: httparse on raw bytes, then the handler on whatever
//! parsed. No panic, no 5xx, and no paid content without its certificate.
#![no_main]

use libfuzzer_sys::fuzz_target;
use satoshipress::bundle::{Bundle, Entry, seal};
use satoshipress::key::{KeyOrigin, MasterKey};
use satoshipress::server::{HandlerOptions, Metrics, Request, Store, respond};

fuzz_target!(|data: &[u8]| {
    let key = MasterKey::from_base64("KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=", &KeyOrigin::Env).unwrap();
    let entry = Entry {
        id: "abc".into(),
        price: 1,
        content_type: "text/html".into(),
        secret: "s3cret".into(),
        content: "<p>PAID</p>".into(),
    };
    let store = Store::from_bundle(Bundle::open(&key, &seal(&key, &[entry])).unwrap());
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Request::new(&mut headers);
    if let Ok(httparse::Status::Complete(_)) = parsed.parse(data) {
        let header = |name: &str| parsed.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).and_then(|h| std::str::from_utf8(h.value).ok());
        let req = Request {
            method: parsed.method.unwrap_or(""),
            target: parsed.path.unwrap_or(""),
            certificate: header("X-Payment-Certificate"),
            origin: header("Origin"),
        };
        let (metrics, options) = (Metrics::default(), HandlerOptions::default());
        let r = respond(&req, &store, &metrics, &options, 0);
        assert!(r.status < 500, "{}", r.status);
        let proves = req.target.contains("s3cret") || req.certificate.is_some_and(|c| c.contains("s3cret"));
        if String::from_utf8_lossy(&r.body).contains("PAID") {
            assert!(proves, "paid content without its certificate");
        }
    }
});
