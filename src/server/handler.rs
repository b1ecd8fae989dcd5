//! Answers one request from the loaded goods. Pure: no I/O and no clock, so every route and
//! status is tested without sockets.

use std::borrow::Cow;

use subtle::ConstantTimeEq;

use super::metrics::Metrics;
use super::receipt::{ReceiptError, verify_receipt};
use super::store::Store;
use crate::http::Response;

/// Headers a cross-origin widget may read from our answers.
const EXPOSED: &str = "X-Payment-Types-Accepted, X-Payment-Amount-SatoshiPay, X-Payment-ID-SatoshiPay, X-Payment-Price, X-Payment-Identifier";

/// How the handler is configured.
#[derive(Debug, Clone)]
pub struct HandlerOptions {
    /// Path prefix of content URLs, e.g. `/satoshipay-content` (no trailing slash).
    pub prefix: String,
    /// `*`, or the origins allowed to call us (the request's `Origin` is echoed if listed).
    pub allow_origins: Vec<String>,
}

impl Default for HandlerOptions {
    fn default() -> Self {
        HandlerOptions {
            prefix: "/satoshipay-content".into(),
            allow_origins: vec!["*".into()],
        }
    }
}

/// What the handler needs of a request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    /// `GET`, `OPTIONS`, …
    pub method: &'a str,
    /// The request target: path and query.
    pub target: &'a str,
    /// The `X-Payment-Certificate` header.
    pub certificate: Option<&'a str>,
    /// The `Origin` header.
    pub origin: Option<&'a str>,
}

/// Why a paid request was refused, for the 402 message.
enum Refusal {
    NoCertificate,
    WrongCertificate,
    Receipt(ReceiptError),
}

/// Answers `req` from `store`. `now` is the time in unix seconds (for receipts).
pub fn respond<'a>(
    req: &Request<'_>,
    store: &'a Store,
    metrics: &Metrics,
    opts: &'a HandlerOptions,
    now: u64,
) -> Response<'a> {
    let (path, query) = req.target.split_once('?').unwrap_or((req.target, ""));
    let read_only = matches!(req.method, "GET" | "HEAD");
    match path {
        "/healthz" if read_only => {
            let body = serde_json::json!({ "status": "ok", "goods": store.len(), "version": store.version });
            return Response::new(
                200,
                "application/json; charset=utf-8",
                serde_json::to_vec(&body).expect("JSON"),
            )
            .header("Cache-Control", "no-store");
        }
        "/metrics" if read_only => {
            return Response::new(
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                metrics.render(store).into_bytes(),
            )
            .header("Cache-Control", "no-store");
        }
        "/healthz" | "/metrics" => {
            return Response::error(405, "method_not_allowed", "Method Not Allowed")
                .header("Allow", "GET, HEAD");
        }
        _ => {}
    }
    let Some(id) = path
        .strip_prefix(opts.prefix.as_str())
        .and_then(|rest| rest.strip_prefix('/'))
    else {
        return Response::error(404, "not_found", "Not Found");
    };
    let response = if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Response::error(404, "not_found", "Not Found")
    } else {
        match req.method {
            "OPTIONS" => Response::new(204, "text/plain; charset=utf-8", Vec::new())
                .header("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
                .header("Access-Control-Allow-Headers", "X-Payment-Certificate")
                .header("Access-Control-Max-Age", "86400"),
            "GET" | "HEAD" => paid(id, query, req, store, metrics, now),
            _ => Response::error(405, "method_not_allowed", "Method Not Allowed")
                .header("Allow", "GET, HEAD, OPTIONS"),
        }
    };
    let cache = if response.status == 200 {
        "private, no-store"
    } else {
        "no-store"
    };
    cors(response, req, opts).header("Cache-Control", cache)
}

/// The content of good `id` if the request proves payment; 402 or 404 otherwise.
fn paid<'a>(
    id: &str,
    query: &str,
    req: &Request<'_>,
    store: &'a Store,
    metrics: &Metrics,
    now: u64,
) -> Response<'a> {
    let Some((key, good)) = store.get_key_value(id) else {
        return Response::error(404, "not_found", "Not Found: no paid content has this id");
    };
    let mut refusal = Refusal::NoCertificate;
    let matches = |cert: &str| bool::from(cert.as_bytes().ct_eq(good.secret.as_bytes()));
    let mut certificates = Vec::new();
    let mut receipts = Vec::new();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "paymentCert" => certificates.push(value),
            "paymentReceipt" => receipts.push(value),
            _ => {}
        }
    }
    let header = req.certificate.map(|c| Cow::Borrowed(c.trim()));
    for cert in certificates.into_iter().chain(header) {
        if matches(&cert) {
            metrics.count_paid();
            let mut r = Response::new(200, &good.content_type, Cow::Borrowed(good.body.as_slice()));
            r.note = Some(key);
            return r;
        }
        refusal = Refusal::WrongCertificate;
    }
    for receipt in receipts {
        match verify_receipt(&receipt, &good.secret, now) {
            Ok(()) => {
                metrics.count_paid();
                let mut r =
                    Response::new(200, &good.content_type, Cow::Borrowed(good.body.as_slice()));
                r.note = Some(key);
                return r;
            }
            Err(e) => refusal = Refusal::Receipt(e),
        }
    }
    let message = match refusal {
        Refusal::NoCertificate => {
            "Payment Required: pay for this item, then present the payment certificate".to_string()
        }
        Refusal::WrongCertificate => {
            "Payment Required: the payment certificate is not valid for this item".to_string()
        }
        Refusal::Receipt(e) => format!("Payment Required: {e}"),
    };
    let price = good.price.to_string();
    let mut r = Response::error(402, "payment_required", &message)
        .header("X-Payment-Types-Accepted", "SatoshiPay")
        .header("X-Payment-Amount-SatoshiPay", price.clone())
        .header("X-Payment-ID-SatoshiPay", key.as_str())
        .header("X-Payment-Price", price)
        .header("X-Payment-Identifier", key.as_str());
    r.note = Some(key);
    r
}

/// Adds the CORS headers of SPEC.md §3.
fn cors<'a>(r: Response<'a>, req: &Request<'_>, opts: &'a HandlerOptions) -> Response<'a> {
    let allowed: Option<Cow<'a, str>> = if opts.allow_origins.iter().any(|o| o == "*") {
        Some(Cow::Borrowed("*"))
    } else {
        req.origin
            .and_then(|o| opts.allow_origins.iter().find(|a| a.as_str() == o))
            .map(|o| Cow::Borrowed(o.as_str()))
    };
    let wildcard = matches!(allowed.as_deref(), Some("*"));
    let mut r = r.header("Access-Control-Expose-Headers", EXPOSED);
    if let Some(origin) = allowed {
        r = r.header("Access-Control-Allow-Origin", origin);
    }
    if !wildcard {
        r = r.header("Vary", "Origin");
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{Bundle, Entry, seal};
    use crate::key::{KeyOrigin, MasterKey};

    fn store() -> Store {
        let key = MasterKey::from_base64(
            "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=",
            &KeyOrigin::Env,
        )
        .unwrap();
        let entry = Entry {
            id: "abc123".into(),
            price: 700,
            content_type: "text/html; charset=utf-8".into(),
            secret: "s3cret".into(),
            content: "<p>paid</p>".into(),
        };
        Store::from_bundle(Bundle::open(&key, &seal(&key, &[entry])).unwrap())
    }

    fn get<'a>(target: &'a str, cert: Option<&'a str>) -> Request<'a> {
        Request {
            method: "GET",
            target,
            certificate: cert,
            origin: None,
        }
    }

    fn header<'r>(r: &'r Response<'_>, name: &str) -> Option<&'r str> {
        r.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }

    #[test]
    fn routes_table() {
        let (store, metrics, opts) = (store(), Metrics::default(), HandlerOptions::default());
        // (method, target, certificate header, status)
        let cases = [
            (
                "GET",
                "/satoshipay-content/abc123?paymentCert=s3cret",
                None,
                200,
            ),
            (
                "GET",
                "/satoshipay-content/abc123?x=1&paymentCert=s3cret",
                None,
                200,
            ),
            (
                "GET",
                "/satoshipay-content/abc123?paymentCert=wrong&paymentCert=s3cret",
                None,
                200,
            ),
            (
                "HEAD",
                "/satoshipay-content/abc123?paymentCert=s3cret",
                None,
                200,
            ),
            ("GET", "/satoshipay-content/abc123", Some("s3cret"), 200),
            ("GET", "/satoshipay-content/abc123", Some(" s3cret "), 200),
            ("GET", "/satoshipay-content/abc123", None, 402),
            ("GET", "/satoshipay-content/abc123?paymentCert=", None, 402),
            (
                "GET",
                "/satoshipay-content/abc123?paymentCert=S3CRET",
                None,
                402,
            ),
            (
                "GET",
                "/satoshipay-content/abc123?paymentCert=s3cre",
                None,
                402,
            ),
            ("GET", "/satoshipay-content/abc123", Some("wrong"), 402),
            ("GET", "/satoshipay-content/nope", None, 404),
            ("GET", "/satoshipay-content/", None, 404),
            ("GET", "/satoshipay-content", None, 404),
            ("GET", "/satoshipay-contentabc123", None, 404),
            ("GET", "/satoshipay-content/abc123/", None, 404),
            ("GET", "/satoshipay-content/../etc/passwd", None, 404),
            ("GET", "/other", None, 404),
            ("OPTIONS", "/satoshipay-content/abc123", None, 204),
            ("POST", "/satoshipay-content/abc123", None, 405),
            ("DELETE", "/satoshipay-content/abc123", None, 405),
            ("GET", "/healthz", None, 200),
            ("POST", "/healthz", None, 405),
            ("GET", "/metrics", None, 200),
        ];
        for (method, target, cert, status) in cases {
            let req = Request {
                method,
                target,
                certificate: cert,
                origin: None,
            };
            let r = respond(&req, &store, &metrics, &opts, 0);
            assert_eq!(r.status, status, "{method} {target} {cert:?}");
            if status == 200 && target.starts_with("/satoshipay") {
                assert_eq!(&*r.body, br#"{"content":"<p>paid</p>"}"#);
                assert_eq!(r.note, Some("abc123"));
            } else {
                assert!(
                    !String::from_utf8_lossy(&r.body).contains("<p>paid</p>"),
                    "{method} {target}"
                );
            }
            assert_eq!(header(&r, "X-Content-Type-Options"), Some("nosniff"));
        }
    }

    #[test]
    fn payment_required_headers_both_generations() {
        let (store, metrics, opts) = (store(), Metrics::default(), HandlerOptions::default());
        let r = respond(
            &get("/satoshipay-content/abc123", None),
            &store,
            &metrics,
            &opts,
            0,
        );
        assert_eq!(r.status, 402);
        for (name, value) in [
            ("X-Payment-Types-Accepted", "SatoshiPay"),
            ("X-Payment-Amount-SatoshiPay", "700"),
            ("X-Payment-ID-SatoshiPay", "abc123"),
            ("X-Payment-Price", "700"),
            ("X-Payment-Identifier", "abc123"),
            ("Access-Control-Allow-Origin", "*"),
            ("Cache-Control", "no-store"),
        ] {
            assert_eq!(header(&r, name), Some(value), "{name}");
        }
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["statusCode"], 402);
        assert_eq!(body["errorCode"], 402);
    }

    #[test]
    fn receipts_are_checked_against_the_clock() {
        let (store, metrics, opts) = (store(), Metrics::default(), HandlerOptions::default());
        let receipt = crate::server::sign_receipt(
            &serde_json::json!({"exp": 1000, "ito": "a", "jti": "b"}),
            "s3cret",
            true,
            false,
        );
        let target = format!("/satoshipay-content/abc123?paymentReceipt={receipt}");
        assert_eq!(
            respond(&get(&target, None), &store, &metrics, &opts, 999).status,
            200
        );
        assert_eq!(
            respond(&get(&target, None), &store, &metrics, &opts, 1000).status,
            402
        );
    }

    #[test]
    fn origins_are_echoed_only_when_listed() {
        let (store, metrics) = (store(), Metrics::default());
        let opts = HandlerOptions {
            prefix: "/pay".into(),
            allow_origins: vec!["https://a.example".into(), "https://b.example".into()],
        };
        let mut req = get("/pay/abc123", None);
        req.origin = Some("https://b.example");
        let r = respond(&req, &store, &metrics, &opts, 0);
        assert_eq!(
            header(&r, "Access-Control-Allow-Origin"),
            Some("https://b.example")
        );
        assert_eq!(header(&r, "Vary"), Some("Origin"));
        req.origin = Some("https://c.example");
        let r = respond(&req, &store, &metrics, &opts, 0);
        assert_eq!(header(&r, "Access-Control-Allow-Origin"), None);
    }
}
