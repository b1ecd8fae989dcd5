//! Inside other generators: `--emit markdown` rendered by the real Hugo, and the
//! `mdbook-satoshipay` preprocessor run by the real mdBook. Both from the repository's
//! `examples/`, both checked for tags, for leaks and against the real Content API.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::server::{ContentServer, client};
use crate::support::{KEY, Site, content_items, walk};

/// A copy of `examples/NAME` in a temporary site.
fn example(name: &str) -> Site {
    let site = Site {
        tmp: tempfile::tempdir().unwrap(),
    };
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    for file in walk(&src) {
        let rel = file.strip_prefix(&src).unwrap();
        let to = site.path().join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&file, &to).unwrap();
    }
    site
}

pub fn tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
        .or_else(|| {
            Some(
                Path::new(&std::env::var("HOME").unwrap_or_default())
                    .join(".cargo/bin")
                    .join(name),
            )
            .filter(|p| p.is_file())
        });
    found
        .unwrap_or_else(|| panic!("`{name}` is not installed: run scripts/test, which installs it"))
}

/// Runs the real `mdbook build BOOK` with `mdbook-satoshipay` on its PATH.
pub fn mdbook_build(book: &Path) -> std::process::Output {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_mdbook-satoshipay"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    Command::new(tool("mdbook"))
        .arg("build")
        .arg(book)
        .env("PATH", path)
        .env("SATOSHIPRESS_KEY", KEY)
        .output()
        .unwrap()
}

/// Every file under `dir` that holds `needle`.
fn files_with(dir: &Path, needle: &str) -> Vec<PathBuf> {
    walk(dir)
        .into_iter()
        .filter(|f| {
            std::fs::read(f).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .collect()
}

/// The Content API serves `paid` for good `id` of the site's bundle.
fn served(site: &Site, id: &str, paid: &str) {
    let goods = site.run_env(
        &["goods", "list", "{site}", "--json", "--show-secrets"],
        &[("SATOSHIPRESS_KEY", KEY)],
    );
    assert!(goods.ok(), "{}", goods.stderr);
    let goods: Vec<serde_json::Value> = serde_json::from_str(&goods.stdout).unwrap();
    let secret = goods
        .iter()
        .find(|g| g["id"] == id)
        .expect("the good is in the lock")["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let server = ContentServer::start(site, &[]);
    let r: serde_json::Value = client()
        .get(server.url(&format!("/satoshipay-content/{id}?paymentCert={secret}")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(r["content"].as_str().unwrap().contains(paid), "{r}");
}

#[test]
fn markdown_mode_keeps_front_matter_and_replaces_paid_sections() {
    let site = Site::new();
    site.write("content/posts/y.md", "---\ntitle: Y\n# a comment kept\ntags: [a, b]\nsatoshipay:\n  price: 7\n---\nFree `<!-- satoshipay -->` text.\n\n<!-- satoshipay -->\n\nPAID-Y\n");
    site.write(
        "content/posts/t.md",
        "+++\ntitle = \"T\"\n[satoshipay]\nprice = 9\n[extra]\nmood = \"calm\"\n+++\nAll PAID-T.\n",
    );
    site.write("content/posts/img.png", "PNG");
    site.write("content/free.md", "No front matter, free.\n");
    let out = site.path().join("out");
    let r = site.build_markdown(&out);
    assert!(r.ok(), "{}", r.stderr);
    let y = std::fs::read_to_string(out.join("posts/y.md")).unwrap();
    assert!(
        y.starts_with(
            "---\ntitle: Y\n# a comment kept\ntags: [a, b]\n---\nFree `<!-- satoshipay -->` text.\n"
        ),
        "{y}"
    );
    let t = std::fs::read_to_string(out.join("posts/t.md")).unwrap();
    assert!(
        t.starts_with("+++\ntitle = \"T\"\n[extra]\nmood = \"calm\"\n+++\n"),
        "{t}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("free.md")).unwrap(),
        "No front matter, free.\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("posts/img.png")).unwrap(),
        "PNG"
    );
    for (text, price) in [(&y, "7"), (&t, "9")] {
        let items = content_items(text);
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["price"], price);
        assert!(
            !text.contains("PAID-") && !text.contains("satoshipay:\n"),
            "{text}"
        );
    }
    assert!(files_with(&out, "PAID-").is_empty());
    assert!(!site.path().join("public").exists());
    let r = site.run_env(
        &["build", "{site}", "--emit", "markdown"],
        &[("SATOSHIPRESS_KEY", KEY)],
    );
    assert!(
        !r.ok() && r.stderr.contains("needs `--out DIR`"),
        "{}",
        r.stderr
    );
}

#[test]
fn hugo_renders_the_markdown_mode_output() {
    let hugo = tool("hugo");
    let site = example("hugo");
    let content = site.path().join("site/content");
    let r = site.build_markdown(&content);
    assert!(r.ok(), "{}", r.stderr);
    let out = Command::new(hugo)
        .args([
            "--source",
            site.path().join("site").to_str().unwrap(),
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hugo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = site.path().join("site/public");
    let bundle = site.bundle();
    for (page, paid, price) in [
        ("posts/espresso/index.html", "purge the grinder", "2100"),
        ("posts/tea/index.html", "Assam", "800"),
    ] {
        let html = std::fs::read_to_string(public.join(page)).unwrap();
        let items = content_items(&html);
        assert_eq!(items.len(), 1, "{page}");
        let entry = bundle
            .get(&items[0]["id"])
            .expect("the tag's id is in the bundle");
        assert_eq!(items[0]["price"], price);
        assert_eq!(
            items[0]["src"],
            format!("/satoshipay-content/{}", items[0]["id"])
        );
        assert_eq!(
            items[0]["length"],
            satoshipress::text::visible_length(&entry.content).to_string()
        );
        assert!(
            files_with(&public, paid).is_empty(),
            "`{paid}` leaked into Hugo's output"
        );
        served(&site, &items[0]["id"], paid);
    }
}

#[test]
fn mdbook_runs_the_preprocessor() {
    let site = example("mdbook");
    let build = |site: &Site| mdbook_build(site.path());
    let out = build(&site);
    assert!(
        out.status.success(),
        "mdbook failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let book = site.path().join("book");
    let bundle = site.bundle();
    let espresso = std::fs::read_to_string(book.join("recipes/espresso.html")).unwrap();
    let items = content_items(&espresso);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["price"], "2100");
    assert!(
        espresso.contains("<script src=\"https://wallet.satoshipay.io/satoshipay.js\"></script>")
    );
    assert!(
        !espresso.contains("satoshipay:\n"),
        "front matter was rendered"
    );
    let cold = std::fs::read_to_string(book.join("recipes/cold-brew.html")).unwrap();
    let prices: Vec<String> = content_items(&cold)
        .iter()
        .map(|i| i["price"].clone())
        .collect();
    assert_eq!(prices, ["500", "300"]);
    for item in content_items(&cold).iter().chain(&items) {
        assert_eq!(
            item["length"],
            satoshipress::text::visible_length(&bundle.get(&item["id"]).unwrap().content)
                .to_string()
        );
    }
    for paid in ["purge the grinder", "14 hours", "second pass"] {
        assert!(
            files_with(&book, paid).is_empty(),
            "`{paid}` leaked into the book (pages or search index)"
        );
    }
    let code = std::fs::read_to_string(book.join("paid-chapters.html")).unwrap();
    assert!(
        code.contains("&lt;!-- satoshipay --&gt;"),
        "a marker in code was not left as text"
    );
    let lock = site.read("satoshipress.lock");
    assert!(
        lock.contains("url = \"https://handbook.slowbrew.example/recipes/espresso.html#main\""),
        "{lock}"
    );
    served(&site, &items[0]["id"], "purge the grinder");

    // A broken chapter fails the build with file:line.
    site.write(
        "src/recipes/espresso.md",
        "---\nsatoshipay:\n  price: 0\n---\n# Espresso\n",
    );
    let out = build(&site);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("recipes/espresso.md:3:") && err.contains("from 1 to 2000000"),
        "{err}"
    );
}
