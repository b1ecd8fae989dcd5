//! Registering goods with the Digital Goods API: `satoshipress build --registry api` and the
//! `goods` commands against the real `satoshipress sandbox` over HTTP on loopback.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::server::client;
use crate::support::{KEY, Run, Site, content_items};

/// A running `satoshipress sandbox`, killed on drop.
pub struct Sandbox {
    child: Child,
    pub url: String,
    _data: tempfile::TempDir,
}

impl Sandbox {
    pub fn start(extra: &[&str]) -> Sandbox {
        let data = tempfile::tempdir().unwrap();
        let file = data.path().join("goods.json");
        Self::start_with(&file, extra, data)
    }

    /// A sandbox keeping its goods in `file` (which outlives it).
    pub fn start_at(file: &std::path::Path, extra: &[&str]) -> Sandbox {
        Self::start_with(file, extra, tempfile::tempdir().unwrap())
    }

    fn start_with(file: &std::path::Path, extra: &[&str], data: tempfile::TempDir) -> Sandbox {
        let (child, url) = crate::support::spawn_listening(
            Command::new(env!("CARGO_BIN_EXE_satoshipress"))
                .args(["sandbox", "--port", "0", "--data", file.to_str().unwrap()])
                .args(extra)
                .stderr(Stdio::null()),
        );
        Sandbox {
            child,
            url,
            _data: data,
        }
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SATOSHIPRESS_KEY", KEY.to_string()),
            ("SATOSHIPAY_API_URL", format!("{}/v1", self.url)),
            ("SATOSHIPAY_API_KEY", "sandbox-key".into()),
            ("SATOSHIPAY_API_SECRET", "sandbox-secret".into()),
        ]
    }

    pub fn stats(&self) -> Value {
        client()
            .get(format!("{}/_sandbox/stats", self.url))
            .send()
            .unwrap()
            .json()
            .unwrap()
    }

    pub fn reset_stats(&self) {
        client()
            .post(format!("{}/_sandbox/stats/reset", self.url))
            .send()
            .unwrap();
    }

    pub fn faults(&self, faults: Value) {
        let r = client()
            .post(format!("{}/_sandbox/faults", self.url))
            .json(&faults)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    }

    pub fn goods(&self) -> Vec<Value> {
        client()
            .get(format!("{}/v1/goods", self.url))
            .basic_auth("sandbox-key", Some("sandbox-secret"))
            .send()
            .unwrap()
            .json()
            .unwrap()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(site: &Site, sandbox: &Sandbox, args: &[&str]) -> Run {
    let env = sandbox.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    site.run_env(args, &env)
}

fn api_build(site: &Site, sandbox: &Sandbox) -> Run {
    let r = run(site, sandbox, &["build", "{site}", "--registry", "api"]);
    assert!(r.ok(), "api build failed:\n{}", r.stderr);
    r
}

/// A site with `pages` pages of `sections` named paid sections each.
fn many_sections(pages: usize, sections: usize) -> Site {
    let site = Site::new();
    for p in 0..pages {
        let decl: String = (0..sections)
            .map(|s| format!("    s{s}: {{ price: {} }}\n", 10 + s))
            .collect();
        let body: String = (0..sections)
            .map(|s| {
                format!("<!-- satoshipay:s{s} -->\nPaid {p}/{s}.\n<!-- /satoshipay:s{s} -->\n\n")
            })
            .collect();
        site.write(
            &format!("content/p{p:03}.md"),
            &format!("---\ntitle: Page {p}\nsatoshipay:\n  sections:\n{decl}---\nFree.\n\n{body}"),
        );
    }
    site
}

/// Every section has exactly one remote good, whose id, price, url and secret match.
fn assert_one_good_per_section(site: &Site, sandbox: &Sandbox, sections: usize) {
    let goods = sandbox.goods();
    assert_eq!(goods.len(), sections, "remote goods vs sections");
    let mut urls: Vec<&str> = goods.iter().map(|g| g["url"].as_str().unwrap()).collect();
    urls.sort_unstable();
    urls.dedup();
    assert_eq!(urls.len(), sections, "two goods share a url");
    let lock = site.read("satoshipress.lock");
    let bundle = site.bundle();
    for g in &goods {
        let id = g["id"].as_str().unwrap();
        assert!(
            lock.contains(&format!("id = \"{id}\"")),
            "remote good {id} is not in the lock"
        );
        let entry = bundle
            .get(id)
            .unwrap_or_else(|| panic!("remote good {id} is not in the bundle"));
        assert_eq!(
            g["secret"],
            entry.secret.as_str(),
            "remote secret differs from the bundle's"
        );
        assert_eq!(g["price"], entry.price);
    }
}

#[test]
fn first_sync_batches_then_an_unchanged_sync_sends_nothing() {
    let sandbox = Sandbox::start(&[]);
    let site = many_sections(3, 50);
    api_build(&site, &sandbox);
    let s = sandbox.stats();
    assert_eq!(s["created"], 150);
    assert_eq!(s["batches"], 2, "150 goods in batches of 100: {s}");
    assert_eq!(s["mutating"], 2, "{s}");
    assert_one_good_per_section(&site, &sandbox, 150);
    let page = site.read("public/p000/index.html");
    let items = content_items(&page);
    assert_eq!(items.len(), 50);
    assert!(
        sandbox
            .goods()
            .iter()
            .any(|g| g["id"] == items[0]["id"].as_str())
    );

    sandbox.reset_stats();
    let r = api_build(&site, &sandbox);
    assert!(r.stdout.contains("(nothing changed)"), "{}", r.stdout);
    let s = sandbox.stats();
    assert_eq!(s["requests"], 0, "an unchanged site sent requests: {s}");
}

#[test]
fn a_price_change_is_one_patch_of_one_field_and_removal_waits_for_prune() {
    let sandbox = Sandbox::start(&[]);
    let site = Site::new();
    site.write(
        "content/a.md",
        "---\ntitle: A\nsatoshipay: { price: 100 }\n---\nPaid A.\n",
    );
    site.write(
        "content/b.md",
        "---\ntitle: B\nsatoshipay: { price: 200 }\n---\nPaid B.\n",
    );
    api_build(&site, &sandbox);
    let a_id = content_items(&site.read("public/a/index.html"))[0]["id"].clone();
    sandbox.reset_stats();
    site.write(
        "content/a.md",
        "---\ntitle: A\nsatoshipay: { price: 150 }\n---\nPaid A.\n",
    );
    let r = api_build(&site, &sandbox);
    assert!(r.stdout.contains("1 changed"), "{}", r.stdout);
    let s = sandbox.stats();
    assert_eq!(s["mutating"], 1, "{s}");
    assert_eq!(
        s["calls"],
        json!([format!("PATCH /goods/{a_id} price")]),
        "{s}"
    );
    let remote_a = sandbox
        .goods()
        .into_iter()
        .find(|g| g["id"] == a_id.as_str())
        .unwrap();
    assert_eq!(remote_a["price"], 150);

    // A removed page leaves its good in the API until `goods prune`.
    std::fs::remove_file(site.path().join("content/b.md")).unwrap();
    sandbox.reset_stats();
    let r = api_build(&site, &sandbox);
    assert!(r.stdout.contains("1 gone"), "{}", r.stdout);
    assert_eq!(
        sandbox.stats()["mutating"],
        0,
        "a removed section was deleted silently"
    );
    assert_eq!(sandbox.goods().len(), 2);
    let plan = run(
        &site,
        &sandbox,
        &["goods", "plan", "{site}", "--registry", "api"],
    );
    assert!(
        plan.stdout.contains("- orphan") && plan.stdout.contains("1 orphaned"),
        "{}",
        plan.stdout
    );
    let refused = run(
        &site,
        &sandbox,
        &["goods", "prune", "{site}", "--registry", "api"],
    );
    assert!(
        !refused.ok() && refused.stderr.contains("--yes"),
        "{}",
        refused.stderr
    );
    assert_eq!(sandbox.goods().len(), 2);
    let pruned = run(
        &site,
        &sandbox,
        &["goods", "prune", "{site}", "--yes", "--registry", "api"],
    );
    assert!(pruned.ok(), "{}", pruned.stderr);
    assert!(
        pruned.stdout.contains("deleted 1 good"),
        "{}",
        pruned.stdout
    );
    let left = sandbox.goods();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["id"], a_id.as_str());
}

#[test]
fn prune_never_touches_goods_of_other_sites() {
    let sandbox = Sandbox::start(&[]);
    let site = Site::new();
    site.write(
        "content/a.md",
        "---\nsatoshipay: { price: 100 }\n---\nPaid A.\n",
    );
    api_build(&site, &sandbox);
    client()
        .post(format!("{}/v1/goods", sandbox.url))
        .basic_auth("sandbox-key", Some("sandbox-secret"))
        .json(&json!({"price": 1, "secret": "x", "url": "https://another.example/post/#main", "title": "Another site"}))
        .send()
        .unwrap();
    let r = run(
        &site,
        &sandbox,
        &["goods", "prune", "{site}", "--yes", "--registry", "api"],
    );
    assert!(
        r.ok() && r.stdout.contains("nothing to prune"),
        "{}",
        r.stdout
    );
    assert_eq!(sandbox.goods().len(), 2);
}

#[test]
fn wrong_or_missing_credentials_are_clear_and_change_nothing() {
    let sandbox = Sandbox::start(&[]);
    let site = Site::new();
    site.write(
        "content/a.md",
        "---\nsatoshipay: { price: 100 }\n---\nPaid A.\n",
    );
    api_build(&site, &sandbox);
    site.write(
        "content/b.md",
        "---\nsatoshipay: { price: 100 }\n---\nPaid B.\n",
    );
    let before = site.outputs();
    let mut env = sandbox.env();
    env[3].1 = "wrong".into();
    let env_ref: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = site.run_env(&["build", "{site}", "--registry", "api"], &env_ref);
    assert!(!r.ok());
    assert!(
        r.stderr.contains("refused the credentials") && r.stderr.contains("SATOSHIPAY_API_SECRET"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("wrong"), "the secret was echoed");
    assert_eq!(site.outputs(), before);
    assert_eq!(sandbox.goods().len(), 1);
    let r = site.run_env(
        &["build", "{site}", "--registry", "api"],
        &[("SATOSHIPRESS_KEY", KEY), ("SATOSHIPAY_API_KEY", "k")],
    );
    assert!(
        !r.ok() && r.stderr.contains("SATOSHIPAY_API_SECRET is not set"),
        "{}",
        r.stderr
    );
    assert_eq!(site.outputs(), before);
}

#[test]
fn injected_faults_are_retried_and_converge_with_one_good_per_section() {
    let cases = [
        json!({"fail_next": 3}),
        json!({"fail_next": 2, "fail_status": 429}),
        json!({"fail_next": 2, "fail_status": 503}),
        json!({"fail_entries": 7}),
        json!({"drop_next": 2}),
        json!({"drop_after_next": 1}),
        json!({"drop_after_next": 2, "fail_entries": 3}),
    ];
    for faults in cases {
        let sandbox = Sandbox::start(&[]);
        let site = many_sections(2, 15);
        site.write(
            "satoshipress.toml",
            &format!("{}[satoshipay]\nbatch_size = 10\n", crate::support::CONFIG),
        );
        sandbox.faults(faults.clone());
        let r = run(&site, &sandbox, &["build", "{site}", "--registry", "api"]);
        assert!(r.ok(), "{faults}: {}", r.stderr);
        assert!(
            sandbox.stats()["injected"].as_u64().unwrap() > 0,
            "{faults}: nothing was injected"
        );
        assert_one_good_per_section(&site, &sandbox, 30);
        sandbox.reset_stats();
        api_build(&site, &sandbox);
        assert_eq!(sandbox.stats()["mutating"], 0, "{faults}: not converged");
    }
}

#[test]
fn a_sync_killed_midway_converges_on_the_next_run() {
    for kill_after_ms in [300, 900, 1500] {
        let sandbox = Sandbox::start(&["--latency-ms", "100"]);
        let site = many_sections(4, 10);
        site.write(
            "satoshipress.toml",
            &format!("{}[satoshipay]\nbatch_size = 2\n", crate::support::CONFIG),
        );
        let env = sandbox.env();
        let mut child = Command::new(env!("CARGO_BIN_EXE_satoshipress"))
            .args([
                "build",
                site.path().to_str().unwrap(),
                "--registry",
                "api",
                "--quiet",
            ])
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(kill_after_ms));
        let _ = child.kill();
        let _ = child.wait();
        let created_before = sandbox.goods().len();
        assert!(
            created_before > 0 && created_before < 40,
            "the kill at {kill_after_ms} ms did not land mid-sync ({created_before} goods)"
        );
        sandbox.faults(json!({}));
        api_build(&site, &sandbox);
        assert_one_good_per_section(&site, &sandbox, 40);
    }
}

#[test]
fn a_lost_lock_is_rebuilt_by_adopt() {
    let sandbox = Sandbox::start(&[]);
    let site = many_sections(2, 3);
    api_build(&site, &sandbox);
    let lock = site.read("satoshipress.lock");
    std::fs::remove_file(site.path().join("satoshipress.lock")).unwrap();
    let r = run(
        &site,
        &sandbox,
        &["goods", "adopt", "{site}", "--registry", "api"],
    );
    assert!(r.ok(), "{}", r.stderr);
    assert!(r.stdout.contains("adopted 6 good"), "{}", r.stdout);
    assert_eq!(
        site.read("satoshipress.lock"),
        lock,
        "the adopted lock differs"
    );
    sandbox.reset_stats();
    api_build(&site, &sandbox);
    assert_eq!(sandbox.stats()["mutating"], 0);
    // Without adopt, a build with no lock adopts by url too: still no duplicate.
    std::fs::remove_file(site.path().join("satoshipress.lock")).unwrap();
    api_build(&site, &sandbox);
    assert_one_good_per_section(&site, &sandbox, 6);
}

#[test]
fn rotate_gives_a_good_a_new_secret_everywhere() {
    let sandbox = Sandbox::start(&[]);
    let site = Site::new();
    site.write(
        "satoshipress.toml",
        &format!(
            "{}[satoshipay]\nregistry = \"api\"\n",
            crate::support::CONFIG
        ),
    );
    site.write(
        "content/a.md",
        "---\nsatoshipay: { price: 100 }\n---\nPaid A.\n",
    );
    api_build(&site, &sandbox);
    let id = content_items(&site.read("public/a/index.html"))[0]["id"].clone();
    let old_secret = site.bundle().get(&id).unwrap().secret.clone();
    let r = run(&site, &sandbox, &["goods", "rotate", "{site}", "a.md#main"]);
    assert!(r.ok(), "{}", r.stderr);
    let new_secret = site.bundle().get(&id).unwrap().secret.clone();
    assert_ne!(old_secret, new_secret);
    assert_eq!(sandbox.goods()[0]["secret"], new_secret.as_str());
    assert!(site.read("satoshipress.lock").contains("generation = 2"));
    sandbox.reset_stats();
    api_build(&site, &sandbox);
    assert_eq!(sandbox.stats()["mutating"], 0);
    let r = run(&site, &sandbox, &["goods", "rotate", "{site}", "a.md#nope"]);
    assert!(
        !r.ok() && r.stderr.contains("did you mean a.md#main"),
        "{}",
        r.stderr
    );
}

#[test]
fn ten_thousand_sections_need_at_most_a_hundred_mutating_requests() {
    let sandbox = Sandbox::start(&[]);
    let site = many_sections(100, 100);
    api_build(&site, &sandbox);
    let s = sandbox.stats();
    assert_eq!(s["created"], 10_000);
    assert!(s["mutating"].as_u64().unwrap() <= 100, "{}", s["mutating"]);
    assert_eq!(sandbox.goods().len(), 10_000);
    sandbox.reset_stats();
    api_build(&site, &sandbox);
    assert_eq!(sandbox.stats()["requests"], 0);
}

#[test]
fn other_client_errors_are_not_retried_and_read_as_one_line() {
    let sandbox = Sandbox::start(&[]);
    let site = Site::new();
    site.write(
        "content/a.md",
        "---\nsatoshipay: { price: 100 }\n---\nPaid A.\n",
    );
    sandbox.faults(json!({"fail_next": 1, "fail_status": 403}));
    let r = run(&site, &sandbox, &["build", "{site}", "--registry", "api"]);
    assert!(!r.ok());
    let line = r
        .stderr
        .lines()
        .find(|l| l.contains("Digital Goods API"))
        .unwrap_or_default();
    assert!(
        line.contains("answered GET /goods with 403 injected: injected failure (sandbox)"),
        "{}",
        r.stderr
    );
    assert_eq!(sandbox.stats()["requests"], 1, "a 403 was retried");
    assert!(!site.path().join("public").exists());
}

#[test]
fn client_timeouts_are_retried_and_converge() {
    let sandbox = Sandbox::start(&[]);
    let site = many_sections(2, 15);
    site.write(
        "satoshipress.toml",
        &format!("{}[satoshipay]\nbatch_size = 10\n", crate::support::CONFIG),
    );
    // The first two requests (the GET and the first batch) outlive the client's timeout; the
    // batch is applied after the client gave up on it.
    sandbox.faults(json!({"stall_next": 2, "stall_ms": 1500}));
    let mut env = sandbox.env();
    env.push(("SATOSHIPAY_API_TIMEOUT", "0.5".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = site.run_env(&["build", "{site}", "--registry", "api"], &env);
    assert!(r.ok(), "{}", r.stderr);
    assert_eq!(sandbox.stats()["injected"], 2);
    std::thread::sleep(Duration::from_millis(1600));
    assert_one_good_per_section(&site, &sandbox, 30);
}
