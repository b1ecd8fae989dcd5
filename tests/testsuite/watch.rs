//! `satoshipress watch`: edits, additions, deletions, renames, templates, the config, editor
//! temp files and broken builds, through the real binary and a real file watcher.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{KEY, Site};

/// A running `satoshipress watch`, killed on drop, its stderr collected.
pub struct Watcher {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Watcher {
    pub fn start(site: &Site, args: &[&str]) -> Watcher {
        Self::start_with_env(site, args, &[("SATOSHIPRESS_KEY", KEY)])
    }

    /// Starts `satoshipress ARGS SITE` with `env` and waits for its first build.
    pub fn start_with_env(site: &Site, args: &[&str], env: &[(&str, &str)]) -> Watcher {
        let mut child = Command::new(env!("CARGO_BIN_EXE_satoshipress"))
            .args(args)
            .arg(site.path())
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        for pipe in [
            Box::new(child.stderr.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stdout.take().unwrap()),
        ] {
            let sink = Arc::clone(&log);
            let mut pipe = pipe;
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        let w = Watcher { child, log };
        w.wait_for("full rebuild");
        // Let the watcher settle before the first edit.
        std::thread::sleep(Duration::from_millis(300));
        w
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log holds `needle` `n` times.
    pub fn wait_for_n(&self, needle: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.log().matches(needle).count() < n {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {n}× `{needle}`:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn wait_for(&self, needle: &str) {
        self.wait_for_n(needle, 1);
    }

    pub fn rebuilds(&self) -> usize {
        let log = self.log();
        log.matches("rebuilt:").count()
            + log.matches("full rebuild:").count()
            + log.matches("problems found").count()
            + log.matches("problem found").count()
    }

    /// Waits for one more rebuild (or failed rebuild) than `before`.
    pub fn wait_rebuild(&self, before: usize) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.rebuilds() <= before {
            assert!(
                Instant::now() < deadline,
                "no rebuild happened:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn site() -> Site {
    let site = Site::new();
    site.write(
        "content/a.md",
        "---\ntitle: Alpha\ndate: 2024-01-01\n---\nAlpha text.\n",
    );
    site.write("content/b.md", "---\ntitle: Beta\ndate: 2024-01-02\nsatoshipay: { price: 50 }\n---\nBeta free.\n\n<!-- satoshipay -->\n\nBeta paid v1.\n");
    site
}

fn mtime(site: &Site, rel: &str) -> (u64, i64) {
    let m = std::fs::metadata(site.path().join(rel)).unwrap();
    (m.ino(), m.mtime_nsec())
}

#[test]
fn edits_additions_deletions_and_renames() {
    let site = site();
    let w = Watcher::start(&site, &["watch"]);
    let alpha = mtime(&site, "public/a/index.html");

    // An edit of a paid section: that page, the bundle and nothing else.
    let n = w.rebuilds();
    site.write("content/b.md", "---\ntitle: Beta\ndate: 2024-01-02\nsatoshipay: { price: 50 }\n---\nBeta free.\n\n<!-- satoshipay -->\n\nBeta paid v2.\n");
    w.wait_rebuild(n);
    assert!(
        site.bundle()
            .entries()
            .any(|e| e.content.contains("Beta paid v2"))
    );
    assert_eq!(
        mtime(&site, "public/a/index.html"),
        alpha,
        "an unrelated page was rewritten"
    );

    // A new page appears, with the listing.
    let n = w.rebuilds();
    site.write(
        "content/c.md",
        "---\ntitle: Gamma\ndate: 2024-01-03\n---\nGamma text.\n",
    );
    w.wait_rebuild(n);
    assert!(site.read("public/c/index.html").contains("Gamma text."));
    assert!(site.read("public/index.html").contains("Gamma"));

    // A renamed page moves.
    let n = w.rebuilds();
    std::fs::rename(
        site.path().join("content/c.md"),
        site.path().join("content/d.md"),
    )
    .unwrap();
    w.wait_rebuild(n);
    let deadline = Instant::now() + Duration::from_secs(10);
    while site.path().join("public/c").exists() || !site.path().join("public/d/index.html").exists()
    {
        assert!(
            Instant::now() < deadline,
            "rename not reflected:\n{}",
            w.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // A deleted page goes, with its good.
    let n = w.rebuilds();
    std::fs::remove_file(site.path().join("content/b.md")).unwrap();
    w.wait_rebuild(n);
    assert!(!site.path().join("public/b").exists());
    assert!(!site.read("public/index.html").contains("Beta"));
    assert!(site.bundle().is_empty());
    assert!(!site.read("satoshipress.lock").contains("b.md#main"));
}

#[test]
fn templates_and_config_rebuild_what_uses_them() {
    let site = site();
    let w = Watcher::start(&site, &["watch"]);
    let n = w.rebuilds();
    site.write(
        "templates/page.html",
        "<html><body>CUSTOM {{ page.title }} {{ page.content | safe }}</body></html>",
    );
    w.wait_rebuild(n);
    assert!(
        site.read("public/a/index.html")
            .starts_with("<html><body>CUSTOM Alpha")
    );
    assert!(
        site.read("public/b/index.html")
            .starts_with("<html><body>CUSTOM Beta")
    );
    let n = w.rebuilds();
    site.write(
        "satoshipress.toml",
        "[site]\ntitle = \"Renamed site\"\nbase_url = \"https://test.example\"\n",
    );
    w.wait_rebuild(n);
    assert!(w.log().matches("full rebuild").count() >= 2, "{}", w.log());
    assert!(site.read("public/index.html").contains("Renamed site"));
}

#[test]
fn editor_temp_files_cause_no_rebuild() {
    let site = site();
    let w = Watcher::start(&site, &["watch"]);
    let n = w.rebuilds();
    for name in [
        "content/.a.md.swp",
        "content/a.md~",
        "content/#a.md#",
        "content/.#a.md",
        "content/4913",
        "templates/.page.html.swp",
    ] {
        site.write(name, "scratch");
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(w.rebuilds(), n, "temp files caused a rebuild:\n{}", w.log());
    assert!(!site.path().join("public/.a.md.swp").exists());
}

#[test]
fn a_broken_rebuild_keeps_the_last_output() {
    let site = site();
    let w = Watcher::start(&site, &["watch"]);
    let before = site.outputs();
    let n = w.rebuilds();
    site.write(
        "content/b.md",
        "---\ntitle: Beta\nsatoshipay: { price: 0 }\n---\nbroken\n",
    );
    w.wait_rebuild(n);
    let log = w.log();
    let want = format!("{}:3:", site.path().join("content/b.md").display());
    assert!(log.contains(&want), "{log}");
    assert!(log.contains("last good output"), "{log}");
    assert_eq!(site.outputs(), before, "a broken rebuild changed outputs");
    let n = w.rebuilds();
    site.write(
        "content/b.md",
        "---\ntitle: Beta fixed\nsatoshipay: { price: 60 }\n---\nfixed\n",
    );
    w.wait_rebuild(n);
    assert!(site.read("public/b/index.html").contains("Beta fixed"));
}

#[test]
fn watch_with_the_api_registry_syncs_good_rebuilds_only() {
    let sandbox = crate::sync::Sandbox::start(&[]);
    let site = site();
    let env = sandbox.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let w = Watcher::start_with_env(&site, &["watch", "--registry", "api"], &env);
    assert_eq!(
        sandbox.goods().len(),
        1,
        "the first build did not register the good"
    );
    sandbox.reset_stats();
    // A broken page: no request reaches the API.
    let n = w.rebuilds();
    site.write(
        "content/b.md",
        "---\ntitle: Beta\nsatoshipay: { price: nope }\n---\nbroken\n",
    );
    w.wait_rebuild(n);
    assert_eq!(
        sandbox.stats()["requests"],
        0,
        "a broken rebuild talked to the API"
    );
    // Fixed with a new price: one PATCH of the price.
    let n = w.rebuilds();
    site.write("content/b.md", "---\ntitle: Beta\ndate: 2024-01-02\nsatoshipay: { price: 75 }\n---\nBeta free.\n\n<!-- satoshipay -->\n\nBeta paid v1.\n");
    w.wait_rebuild(n);
    let stats = sandbox.stats();
    assert_eq!(stats["mutating"], 1, "{stats}");
    assert!(
        stats["calls"][0].as_str().unwrap().ends_with(" price"),
        "{stats}"
    );
    assert_eq!(sandbox.goods()[0]["price"], 75);
}
