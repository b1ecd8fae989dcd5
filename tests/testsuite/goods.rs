//! `satoshipress goods list`: the lock as a table or JSON, secrets only when asked.

use crate::support::{KEY, Site, content_items};

#[test]
fn goods_list_json_matches_the_pages_and_the_bundle() {
    let site = Site::example();
    site.build();
    let r = site.run(&["goods", "list", "{site}", "--json"]);
    assert!(r.ok(), "{}", r.stderr);
    let goods: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(goods.len(), 4);
    for g in &goods {
        for field in ["key", "id", "price", "title", "url"] {
            assert!(!g[field].is_null(), "{field} missing in {g}");
        }
        assert!(
            g.get("secret").is_none(),
            "secret shown without --show-secrets"
        );
    }
    let guide = goods
        .iter()
        .find(|g| g["key"] == "posts/brewing-guide.md#main")
        .unwrap();
    assert_eq!(guide["price"], 4000);
    assert_eq!(guide["title"], "Brewing guide — main");
    assert_eq!(
        guide["url"],
        "https://slowbrew.example/posts/brewing-guide/#main"
    );
    let page = site.read("public/posts/brewing-guide/index.html");
    assert_eq!(content_items(&page)[0]["id"], guide["id"].as_str().unwrap());

    let r = site.run_env(
        &["goods", "list", "{site}", "--json", "--show-secrets"],
        &[("SATOSHIPRESS_KEY", KEY)],
    );
    assert!(r.ok(), "{}", r.stderr);
    let goods: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    let bundle = site.bundle();
    for g in &goods {
        let entry = bundle.get(g["id"].as_str().unwrap()).unwrap();
        assert_eq!(
            g["secret"],
            entry.secret.as_str(),
            "the listed secret is the one the Content API checks"
        );
    }
}

#[test]
fn goods_list_table_and_missing_lock() {
    let site = Site::new();
    let r = site.run(&["goods", "list", "{site}"]);
    assert!(!r.ok());
    assert!(r.stderr.contains("build the site first"), "{}", r.stderr);
    site.write(
        "content/p.md",
        "---\ntitle: P\nsatoshipay: { price: 5 }\n---\npaid\n",
    );
    site.build();
    let r = site.run(&["goods", "list", "{site}"]);
    assert!(r.ok());
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("ID") && lines[0].contains("PRICE"));
    assert!(lines[1].contains("p.md#main") && lines[1].contains("P — main"));
    let r = site.run(&["goods", "list", "{site}", "--show-secrets"]);
    assert!(!r.ok(), "secrets without a key");
}

#[test]
fn the_lock_holds_no_secret_and_no_content() {
    let site = Site::new();
    site.write(
        "content/p.md",
        "---\nsatoshipay: { price: 5 }\n---\nthe answer is 42\n",
    );
    site.build();
    let lock = site.read("satoshipress.lock");
    let bundle = site.bundle();
    let entry = bundle.entries().next().unwrap();
    assert!(!lock.contains(&entry.secret));
    assert!(!lock.contains("answer"));
    use sha2::Digest;
    let plain = satoshipress::key::hex(&sha2::Sha256::digest(entry.content.as_bytes()));
    assert!(!lock.contains(&plain[..32]), "the digest is a plain hash");
}
