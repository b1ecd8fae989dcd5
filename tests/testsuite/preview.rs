//! `satoshipress serve` in a real browser: headless Chromium (Debian's package), driven by
//! playwright-core from `tests/browser/preview.mjs`. `scripts/test` installs both.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::server::client;
use crate::support::{KEY, Site};

struct Serve(std::process::Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(site: &Site) -> (Serve, String) {
    let (child, url) = crate::support::spawn_listening(
        Command::new(env!("CARGO_BIN_EXE_satoshipress"))
            .args(["serve", site.path().to_str().unwrap(), "--port", "0"])
            .env("SATOSHIPRESS_KEY", KEY)
            .stderr(Stdio::null()),
    );
    (Serve(child), url)
}

#[test]
fn serve_speaks_http_without_a_browser() {
    let site = Site::example();
    let (_serve, url) = serve(&site);
    let c = client();
    let page = c
        .get(format!("{url}/posts/brewing-guide/"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("<script src=\"/_satoshipress/dev.js\" defer></script>"),
        "the dev widget is not injected"
    );
    assert!(
        !page.contains("wallet.satoshipay.io"),
        "the production widget is in the preview"
    );
    assert!(!page.contains("The secret is the second pour"));
    let id = crate::support::content_items(&page)[0]["id"].clone();
    let cert: serde_json::Value = c
        .get(format!("{url}/_sandbox/certificate/{id}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let paid: serde_json::Value = c
        .get(format!(
            "{url}/satoshipay-content/{id}?paymentCert={}",
            cert["certificate"].as_str().unwrap()
        ))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        paid["content"]
            .as_str()
            .unwrap()
            .contains("The secret is the second pour")
    );
    assert_eq!(
        c.get(format!("{url}/_satoshipress/dev.js"))
            .send()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.get(format!("{url}/v1/goods")).send().unwrap().status(),
        401,
        "the sandbox is mounted"
    );
    assert_eq!(
        c.get(format!("{url}/../../etc/passwd"))
            .send()
            .unwrap()
            .status(),
        404
    );
    // The preview leaves the site's own output alone.
    assert!(!site.path().join("public").exists(), "serve wrote public/");
    // A production build has no dev widget.
    site.build();
    assert!(
        !site
            .read("public/posts/brewing-guide/index.html")
            .contains("dev.js")
    );
}

#[test]
fn browser_pays_reloads_and_shows_the_error_overlay() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let browser_dir = root.join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").is_dir()
            && Path::new("/usr/bin/chromium").exists(),
        "the browser test needs Debian's chromium and playwright-core: run scripts/test, which installs them"
    );
    let site = Site::example();
    let (_serve, url) = serve(&site);
    let artifacts = root.join("target/browser-artifacts");
    let out = Command::new("node")
        .arg(browser_dir.join("preview.mjs"))
        .args([
            url.as_str(),
            site.path().to_str().unwrap(),
            artifacts.to_str().unwrap(),
        ])
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ok: masked"), "{stdout}");
    for shot in [
        "paid-page-before.png",
        "paid-page-after.png",
        "error-overlay.png",
    ] {
        let bytes = std::fs::read(artifacts.join(shot)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{shot} is not a PNG");
    }
}
