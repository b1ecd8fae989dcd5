//! The Content API through the real `satoshipress-content` binary, against bundles built by
//! the real `satoshipress build`, with a real HTTP client on loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{KEY, Site, content_items};

/// A running `satoshipress-content`, killed on drop.
pub struct ContentServer {
    child: Child,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl ContentServer {
    pub fn start(site: &Site, extra: &[&str]) -> ContentServer {
        Self::try_start(site, extra, &[("SATOSHIPRESS_KEY", KEY)])
            .unwrap_or_else(|e| panic!("server did not start: {e}"))
    }

    pub fn try_start(
        site: &Site,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<ContentServer, String> {
        let bundle = site.path().join("bundle/content.spb");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_satoshipress-content"));
        cmd.args([
            "--bundle",
            bundle.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .args(extra)
        .env_remove("SATOSHIPRESS_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn satoshipress-content");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let mut err_pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let Some(addr) = line.trim().strip_prefix("listening on http://") else {
            let status = child.wait().unwrap();
            std::thread::sleep(Duration::from_millis(100));
            return Err(format!("{status}: {}", stderr.lock().unwrap()));
        };
        Ok(ContentServer {
            addr: addr.parse().unwrap(),
            child,
            stderr,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} failed");
    }

    /// Waits for the process to exit; its status.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("the server did not exit");
    }

    /// Sends raw bytes on a fresh connection; the whole answer (until close or timeout).
    pub fn raw(&self, bytes: &[u8]) -> String {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(bytes);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

impl Drop for ContentServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .unwrap()
}

/// A built site with two paid sections; (site, [(id, secret, paid html)]).
fn paid_site() -> (Site, Vec<(String, String, String)>) {
    let site = Site::new();
    site.write("content/a.md", "---\ntitle: A\nsatoshipay: { price: 4000 }\n---\nFree.\n\n<!-- satoshipay -->\n\nPaid *A* ☕.\n");
    site.write(
        "content/b.md",
        "---\ntitle: B\nsatoshipay: { price: 25 }\n---\nAll of B is paid.\n",
    );
    site.build();
    let goods = goods_of(&site);
    (site, goods)
}

fn goods_of(site: &Site) -> Vec<(String, String, String)> {
    let bundle = site.bundle();
    let mut goods: Vec<_> = ["a", "b"]
        .iter()
        .map(|p| {
            let id = content_items(&site.read(&format!("public/{p}/index.html")))[0]["id"].clone();
            let e = bundle.get(&id).unwrap();
            (id, e.secret.clone(), e.content.clone())
        })
        .collect();
    goods.sort_by_key(|g| g.2.clone());
    goods
}

#[test]
fn certificate_in_query_or_header_unlocks_the_content() {
    let (site, goods) = paid_site();
    let server = ContentServer::start(&site, &[]);
    let c = client();
    for (id, secret, html) in &goods {
        let by_query = c
            .get(server.url(&format!("/satoshipay-content/{id}?paymentCert={secret}")))
            .send()
            .unwrap();
        assert_eq!(by_query.status(), 200);
        assert_eq!(
            by_query.headers()["content-type"],
            "application/json; charset=utf-8"
        );
        assert_eq!(by_query.headers()["cache-control"], "private, no-store");
        assert_eq!(by_query.headers()["x-content-type-options"], "nosniff");
        assert_eq!(
            by_query.json::<Value>().unwrap(),
            json!({ "content": html })
        );
        let by_header = c
            .get(server.url(&format!("/satoshipay-content/{id}")))
            .header("X-Payment-Certificate", secret)
            .send()
            .unwrap();
        assert_eq!(by_header.status(), 200);
        assert_eq!(by_header.json::<Value>().unwrap()["content"], html.as_str());
    }
}

#[test]
fn missing_wrong_expired_or_forged_proof_gets_402() {
    let (site, goods) = paid_site();
    let server = ContentServer::start(&site, &[]);
    let c = client();
    let (id, secret, html) = &goods[0];
    let price = if html.contains("B is paid") {
        "25"
    } else {
        "4000"
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expired = satoshipress::server::sign_receipt(
        &json!({"exp": now - 10, "ito": "r", "jti": "1"}),
        secret,
        true,
        false,
    );
    let forged = satoshipress::server::sign_receipt(
        &json!({"exp": now + 600, "ito": "r", "jti": "2"}),
        "not-the-secret",
        true,
        false,
    );
    let other_secret = &goods[1].1;
    let base = server.url(&format!("/satoshipay-content/{id}"));
    let cases = [
        (c.get(&base), "pay for this item"),
        (c.get(format!("{base}?paymentCert=wrong")), "not valid"),
        (
            c.get(format!("{base}?paymentCert={other_secret}")),
            "not valid",
        ),
        (
            c.get(&base).header("X-Payment-Certificate", "wrong"),
            "not valid",
        ),
        (c.get(format!("{base}?paymentReceipt={expired}")), "expired"),
        (
            c.get(format!("{base}?paymentReceipt={forged}")),
            "signature",
        ),
        (c.get(format!("{base}?paymentReceipt=garbage")), "malformed"),
    ];
    for (i, (req, needle)) in cases.into_iter().enumerate() {
        let r = req.send().unwrap();
        assert_eq!(r.status(), 402, "case {i}");
        let h = r.headers().clone();
        assert_eq!(h["x-payment-types-accepted"], "SatoshiPay", "case {i}");
        assert_eq!(h["x-payment-amount-satoshipay"], price, "case {i}");
        assert_eq!(h["x-payment-id-satoshipay"], id.as_str(), "case {i}");
        assert_eq!(h["x-payment-price"], price, "case {i}");
        assert_eq!(h["x-payment-identifier"], id.as_str(), "case {i}");
        assert_eq!(h["cache-control"], "no-store");
        let body: Value = r.json().unwrap();
        assert_eq!(body["statusCode"], 402);
        assert_eq!(body["name"], "payment_required");
        assert!(
            body["message"].as_str().unwrap().contains(needle),
            "case {i}: {body}"
        );
        assert!(
            !body.to_string().contains(&html[3..10]),
            "case {i} leaked content"
        );
    }
}

#[test]
fn signed_receipts_in_both_alphabets_unlock_the_content() {
    let (site, goods) = paid_site();
    let server = ContentServer::start(&site, &[]);
    let c = client();
    let (id, secret, html) = &goods[1];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // An `ito` that makes the base64 hold `+`, `/` (standard) or `-`, `_` (URL-safe) and padding.
    let payload = json!({"exp": now + 600, "ito": "reader>>>??", "jti": "tok~1"});
    for url_safe in [true, false] {
        for padded in [true, false] {
            let receipt = satoshipress::server::sign_receipt(&payload, secret, url_safe, padded);
            let encoded: String = form_urlencoded::byte_serialize(receipt.as_bytes()).collect();
            let r = c
                .get(server.url(&format!(
                    "/satoshipay-content/{id}?paymentReceipt={encoded}"
                )))
                .send()
                .unwrap();
            assert_eq!(r.status(), 200, "url_safe={url_safe} padded={padded}");
            assert_eq!(r.json::<Value>().unwrap()["content"], html.as_str());
        }
    }
}

#[test]
fn unknown_ids_other_paths_and_methods() {
    let (site, goods) = paid_site();
    let server = ContentServer::start(&site, &[]);
    let c = client();
    for path in [
        "/satoshipay-content/000000000000000000000000",
        "/satoshipay-content/",
        "/elsewhere",
        "/satoshipay-content/a/b",
        "/",
    ] {
        let r = c.get(server.url(path)).send().unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let body: Value = r.json().unwrap();
        assert_eq!(body["statusCode"], 404);
        assert_eq!(body["errorCode"], 404);
        assert_eq!(body["name"], "not_found");
        assert!(body["message"].is_string());
    }
    let url = server.url(&format!("/satoshipay-content/{}", goods[0].0));
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let r = c.request(method.parse().unwrap(), &url).send().unwrap();
        assert_eq!(r.status(), 405, "{method}");
        assert_eq!(r.headers()["allow"], "GET, HEAD, OPTIONS");
    }
    let get_len = c
        .get(format!("{url}?paymentCert={}", goods[0].1))
        .send()
        .unwrap()
        .bytes()
        .unwrap()
        .len();
    let head = c
        .head(format!("{url}?paymentCert={}", goods[0].1))
        .send()
        .unwrap();
    assert_eq!(head.status(), 200);
    let declared: usize = head.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(declared, get_len, "HEAD declares the GET body's length");
    assert!(head.bytes().unwrap().is_empty(), "HEAD sent a body");
}

#[test]
fn cors_preflight_and_exposed_headers() {
    let (site, goods) = paid_site();
    let server = ContentServer::start(&site, &[]);
    let c = client();
    let url = server.url(&format!("/satoshipay-content/{}", goods[0].0));
    let pre = c
        .request(reqwest::Method::OPTIONS, &url)
        .header("Origin", "https://blog.example")
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "x-payment-certificate")
        .send()
        .unwrap();
    assert_eq!(pre.status(), 204);
    assert_eq!(pre.headers()["access-control-allow-origin"], "*");
    assert!(
        pre.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("GET")
    );
    assert!(
        pre.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("X-Payment-Certificate")
    );
    let r = c
        .get(&url)
        .header("Origin", "https://blog.example")
        .send()
        .unwrap();
    assert_eq!(r.status(), 402);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let exposed = r.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_string();
    for h in [
        "X-Payment-Types-Accepted",
        "X-Payment-Amount-SatoshiPay",
        "X-Payment-ID-SatoshiPay",
        "X-Payment-Price",
        "X-Payment-Identifier",
    ] {
        assert!(exposed.contains(h), "{h} not exposed");
    }
    drop(server);
    let server = ContentServer::start(&site, &["--allow-origin", "https://blog.example"]);
    let url = server.url(&format!("/satoshipay-content/{}", goods[0].0));
    let ok = c
        .get(&url)
        .header("Origin", "https://blog.example")
        .send()
        .unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://blog.example"
    );
    assert_eq!(ok.headers()["vary"], "Origin");
    let other = c
        .get(&url)
        .header("Origin", "https://evil.example")
        .send()
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[test]
fn healthz_and_metrics_count_requests() {
    let (site, goods) = paid_site();
    let server = ContentServer::start(&site, &[]);
    let c = client();
    let health: Value = c
        .get(server.url("/healthz"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["goods"], 2);
    let url = server.url(&format!("/satoshipay-content/{}", goods[0].0));
    for _ in 0..3 {
        c.get(format!("{url}?paymentCert={}", goods[0].1))
            .send()
            .unwrap();
    }
    for _ in 0..2 {
        c.get(&url).send().unwrap();
    }
    c.get(server.url("/nope")).send().unwrap();
    let metrics = c
        .get(server.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    for line in [
        "satoshipress_requests_total{status=\"200\"} 4",
        "satoshipress_requests_total{status=\"402\"} 2",
        "satoshipress_requests_total{status=\"404\"} 1",
        "satoshipress_paid_content_served_total 3",
        "satoshipress_bundle_goods 2",
        "satoshipress_reloads_total{result=\"ok\"} 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "metrics lack `{line}`:\n{metrics}"
        );
    }
    assert!(metrics.contains(&format!(
        "satoshipress_bundle_info{{version=\"{}\"}} 1",
        health["version"].as_str().unwrap()
    )));
    assert!(metrics.contains("satoshipress_bundle_age_seconds "));
}

#[test]
fn reload_under_load_drops_no_request_and_refuses_bad_bundles() {
    let (site, goods) = paid_site();
    let server = ContentServer::start(&site, &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(AtomicUsize::new(0));
    // The good of page b keeps its id and secret across rebuilds; its content changes.
    let b = goods
        .iter()
        .find(|g| g.2.contains("B is paid"))
        .unwrap()
        .clone();
    let url = server.url(&format!("/satoshipay-content/{}?paymentCert={}", b.0, b.1));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (stop, failures, served, url) = (
                Arc::clone(&stop),
                Arc::clone(&failures),
                Arc::clone(&served),
                url.clone(),
            );
            std::thread::spawn(move || {
                let c = client();
                while !stop.load(Ordering::Relaxed) {
                    match c.get(&url).send() {
                        Ok(r) if r.status() == 200 => {
                            served.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for round in 0..6 {
        site.write("content/b.md", &format!("---\ntitle: B\nsatoshipay: {{ price: 25 }}\n---\nAll of B is paid, version {round}.\n"));
        site.build();
        if round % 2 == 0 {
            server.signal("-HUP");
        }
        std::thread::sleep(Duration::from_millis(1200));
    }
    // A bad bundle (another key) and a damaged one are refused; the old one keeps serving.
    let bundle = site.path().join("bundle/content.spb");
    let good_bytes = std::fs::read(&bundle).unwrap();
    let mut damaged = good_bytes.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 1;
    for bad in [damaged, b"not a bundle".to_vec()] {
        let tmp = site.path().join("bundle/.tmp");
        std::fs::write(&tmp, &bad).unwrap();
        std::fs::rename(&tmp, &bundle).unwrap();
        server.signal("-HUP");
        std::thread::sleep(Duration::from_millis(600));
    }
    std::thread::sleep(Duration::from_millis(800));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "requests failed during reloads"
    );
    assert!(
        served.load(Ordering::Relaxed) > 50,
        "too few requests to mean anything"
    );
    let c = client();
    let content = c.get(&url).send().unwrap().json::<Value>().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        content.contains("version 5"),
        "the last good bundle is not served: {content}"
    );
    let metrics = c
        .get(server.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let failed: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("satoshipress_reloads_total{result=\"failed\"} "))
        .unwrap()
        .parse()
        .unwrap();
    let ok: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("satoshipress_reloads_total{result=\"ok\"} "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(failed >= 2, "{metrics}");
    assert!(ok >= 6, "{metrics}");
    assert!(
        server.stderr().contains("bundle reload refused"),
        "{}",
        server.stderr()
    );
}

#[test]
fn start_up_refuses_missing_corrupt_or_wrongly_keyed_bundles() {
    let (site, _) = paid_site();
    let other_key = [(
        "SATOSHIPRESS_KEY",
        "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
    )];
    let err = ContentServer::try_start(&site, &[], &other_key)
        .err()
        .expect("started with a wrong key");
    assert!(err.contains("different master key"), "{err}");
    let err = ContentServer::try_start(&site, &[], &[])
        .err()
        .expect("started without a key");
    assert!(
        err.contains("SATOSHIPRESS_KEY") && err.contains("--key-file"),
        "{err}"
    );
    let bundle = site.path().join("bundle/content.spb");
    let mut bytes = std::fs::read(&bundle).unwrap();
    bytes[60] ^= 0x80;
    std::fs::write(&bundle, &bytes).unwrap();
    let err = ContentServer::try_start(&site, &[], &[("SATOSHIPRESS_KEY", KEY)])
        .err()
        .expect("started with a damaged bundle");
    assert!(err.contains("damaged"), "{err}");
    std::fs::remove_file(&bundle).unwrap();
    let err = ContentServer::try_start(&site, &[], &[("SATOSHIPRESS_KEY", KEY)])
        .err()
        .expect("started without a bundle");
    assert!(err.contains("content.spb"), "{err}");
    // The key file works too, and is refused when others can read it.
    site.build();
    site.write_key();
    let key_file = site.path().join("satoshipress.key");
    let server =
        ContentServer::try_start(&site, &["--key-file", key_file.to_str().unwrap()], &[]).unwrap();
    drop(server);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let err = ContentServer::try_start(&site, &["--key-file", key_file.to_str().unwrap()], &[])
        .err()
        .unwrap();
    assert!(err.contains("chmod 600"), "{err}");
}

/// At least 200 malformed or hostile requests: none gets a 5xx, none gets paid content, the
/// server keeps serving.
#[test]
fn malformed_request_battery() {
    let (site, goods) = paid_site();
    let server = ContentServer::start(&site, &["--head-timeout", "2"]);
    let id = &goods[0].0;
    let mut requests: Vec<Vec<u8>> = Vec::new();
    let path = format!("/satoshipay-content/{id}");
    for n in [1, 100, 2000, 5000, 9000, 20_000, 100_000] {
        requests.push(
            format!(
                "GET {path}?paymentCert={} HTTP/1.1\r\nHost: x\r\n\r\n",
                "A".repeat(n)
            )
            .into_bytes(),
        );
        requests.push(format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(n)).into_bytes());
        requests.push(
            format!(
                "GET {path} HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
                "b".repeat(n)
            )
            .into_bytes(),
        );
        requests.push(
            format!(
                "GET {path} HTTP/1.1\r\nX-Payment-Certificate: {}\r\n\r\n",
                "c".repeat(n)
            )
            .into_bytes(),
        );
    }
    for enc in [
        "%",
        "%zz",
        "%00",
        "%ff%fe",
        "%2e%2e%2f",
        "..%2f..%2fetc%2fpasswd",
        "%C0%AE",
        "?paymentCert=%",
        "?paymentCert=%E2%82",
    ] {
        requests.push(format!("GET {path}{enc} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes());
        requests.push(
            format!("GET /satoshipay-content/{enc} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes(),
        );
        requests.push(
            format!("GET {path}?paymentCert={enc}&paymentReceipt={enc} HTTP/1.1\r\n\r\n")
                .into_bytes(),
        );
    }
    for bad in [
        &b"\xff\xfe\xfd"[..],
        b"GET /\xc3\x28 HTTP/1.1\r\n\r\n",
        b"GET /satoshipay-content/\xe2\x82 HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: \xff\r\n\r\n",
        b"\x00\x00\x00\x00",
        b"\r\n\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET / FTP/1.0\r\n\r\n",
        b"G ET / HTTP/1.1\r\n\r\n",
        b"GET  / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\nHost: x\n\n",
        b"GET / HTTP/1.1\r\nHost x\r\n\r\n",
        b": empty\r\n\r\n",
    ] {
        requests.push(bad.to_vec());
    }
    for method in [
        "PUT", "DELETE", "PATCH", "TRACE", "CONNECT", "PROPFIND", "FOO", "get", "G3T", "POST",
    ] {
        requests.push(
            format!("{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
                .into_bytes(),
        );
        requests.push(format!("{method} * HTTP/1.1\r\n\r\n").into_bytes());
    }
    for (name, value) in [
        ("Content-Length", "-1"),
        ("Content-Length", "abc"),
        ("Content-Length", "99999999999999999999"),
        ("Content-Length", "1000000"),
        ("Transfer-Encoding", "chunked"),
        ("Content-Length", "5\r\nContent-Length: 6"),
    ] {
        requests.push(format!("POST {path} HTTP/1.1\r\n{name}: {value}\r\n\r\nhello").into_bytes());
    }
    let many_headers: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    requests.push(format!("GET {path} HTTP/1.1\r\n{many_headers}\r\n").into_bytes());
    for i in 0..60 {
        // Truncated heads at every length: the server must time them out, not wait forever.
        let full = format!("GET {path}?paymentCert=x HTTP/1.1\r\nHost: x\r\n\r\n");
        let cut = (i * 7) % full.len();
        requests.push(full.as_bytes()[..cut].to_vec());
    }
    for i in 0..60u8 {
        // Random-ish binary garbage.
        let junk: Vec<u8> = (0..64u32)
            .map(|j| (j as u8).wrapping_mul(31).wrapping_add(i.wrapping_mul(17)))
            .collect();
        requests.push(junk);
    }
    assert!(requests.len() >= 200, "only {} requests", requests.len());
    let paid = &goods[0].2;
    for (i, req) in requests.iter().enumerate() {
        let answer = server.raw(req);
        if let Some(status) = answer.strip_prefix("HTTP/1.1 ").and_then(|s| s.get(..3)) {
            assert!(
                !status.starts_with('5'),
                "request {i} got {status}:\n{answer}"
            );
            assert_ne!(status, "200", "request {i} got 200");
        }
        assert!(
            !answer.contains(&paid[3..12]),
            "request {i} was served paid content"
        );
    }
    let health = client().get(server.url("/healthz")).send().unwrap();
    assert_eq!(health.status(), 200, "the server stopped serving");
}

#[test]
fn slow_clients_do_not_stall_others_and_time_out() {
    let (site, goods) = paid_site();
    let server = ContentServer::start(&site, &["--head-timeout", "1"]);
    // Fifty clients that send half a head and then nothing.
    let slow: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr).unwrap();
            s.write_all(b"GET /satoshipay-content/x HTTP/1.1\r\nHost: sl")
                .unwrap();
            s
        })
        .collect();
    let c = client();
    let url = server.url(&format!(
        "/satoshipay-content/{}?paymentCert={}",
        goods[0].0, goods[0].1
    ));
    for _ in 0..20 {
        assert_eq!(c.get(&url).send().unwrap().status(), 200);
    }
    for mut s in slow {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        assert!(
            answer.starts_with("HTTP/1.1 408"),
            "a slow client was not timed out: {answer:?}"
        );
    }
}

#[test]
fn access_log_never_holds_certificates_and_can_be_turned_off() {
    let (site, goods) = paid_site();
    let server = ContentServer::start(&site, &[]);
    let c = client();
    let (id, secret, _) = &goods[0];
    c.get(server.url(&format!("/satoshipay-content/{id}?paymentCert={secret}")))
        .send()
        .unwrap();
    c.get(server.url(&format!("/satoshipay-content/{id}")))
        .header("X-Payment-Certificate", secret)
        .send()
        .unwrap();
    c.get(server.url(&format!("/satoshipay-content/{id}?paymentCert=wrong-guess")))
        .send()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let log = server.stderr();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("method=GET")).collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert!(
        lines[0].contains(&format!("path=\"/satoshipay-content/{id}\""))
            && lines[0].contains("status=200")
            && lines[0].contains("dur_us="),
        "{log}"
    );
    assert!(lines[2].contains("status=402"));
    assert!(
        !log.contains(secret.as_str())
            && !log.contains("wrong-guess")
            && !log.contains("paymentCert"),
        "{log}"
    );
    drop(server);
    let quiet = ContentServer::start(&site, &["--no-access-log"]);
    c.get(quiet.url(&format!("/satoshipay-content/{id}")))
        .send()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(!quiet.stderr().contains("method=GET"));
}

#[test]
fn sigterm_shuts_down_gracefully() {
    let (site, goods) = paid_site();
    let mut server = ContentServer::start(&site, &[]);
    let c = client();
    let url = server.url(&format!(
        "/satoshipay-content/{}?paymentCert={}",
        goods[0].0, goods[0].1
    ));
    assert_eq!(c.get(&url).send().unwrap().status(), 200);
    // An idle keep-alive connection must not hold the shutdown for its whole idle time: it
    // is answered, left open, and the server still stops at once.
    let mut idle = TcpStream::connect(server.addr).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200", "the request was answered");
    let asked = std::time::Instant::now();
    server.signal("-TERM");
    let status = server.wait();
    assert!(status.success(), "{status}");
    assert!(
        asked.elapsed() < Duration::from_secs(4),
        "the idle connection held the shutdown"
    );
    let mut rest = Vec::new();
    let _ = idle.read_to_end(&mut rest);
}

#[test]
fn check_flag_verifies_a_bundle_for_deploy_scripts() {
    let (site, _) = paid_site();
    let bundle = site.path().join("bundle/content.spb");
    let run = |env: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_satoshipress-content"));
        cmd.args(["--check", "--bundle", bundle.to_str().unwrap()])
            .env_remove("SATOSHIPRESS_KEY");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let ok = run(&[("SATOSHIPRESS_KEY", KEY)]);
    assert!(ok.status.success());
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(
        out.starts_with("ok: ") && out.contains("holds 2 goods, version "),
        "{out}"
    );
    let bad = run(&[(
        "SATOSHIPRESS_KEY",
        "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
    )]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("different master key"));
}

#[test]
fn certificate_guessing_is_rate_limited_per_client() {
    let (site, goods) = paid_site();
    let server = ContentServer::start(
        &site,
        &[
            "--max-failed-per-minute",
            "6",
            "--failed-burst",
            "3",
            "--trust-forwarded-for",
        ],
    );
    let c = client();
    let (id, secret, _) = &goods[0];
    let guess = |from: &str, cert: &str| {
        c.get(server.url(&format!("/satoshipay-content/{id}?paymentCert={cert}")))
            .header("X-Forwarded-For", from)
            .send()
            .unwrap()
    };
    for n in 0..3 {
        assert_eq!(guess("198.51.100.7", &format!("guess{n}")).status(), 402);
    }
    let blocked = guess("198.51.100.7", "guess4");
    assert_eq!(blocked.status(), 429);
    let wait: u64 = blocked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&wait), "Retry-After {wait}");
    assert_eq!(
        guess("198.51.100.7", secret).status(),
        429,
        "a blocked client is blocked even with the right certificate"
    );
    assert_eq!(
        guess("203.0.113.9", secret).status(),
        200,
        "another client is not blocked"
    );
    assert_eq!(guess("203.0.113.9", "wrong").status(), 402);
    // Asking without a proof (what the widget does first) costs nothing.
    for _ in 0..10 {
        assert_eq!(
            c.get(server.url(&format!("/satoshipay-content/{id}")))
                .header("X-Forwarded-For", "192.0.2.50")
                .send()
                .unwrap()
                .status(),
            402
        );
    }
    let metrics = c
        .get(server.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("satoshipress_requests_total{status=\"429\"} 2"),
        "{metrics}"
    );
}
