//! The leak check: random sites with a canary string in every paid block, in every marking
//! form. No canary may reach any file under public/ (pages, listings, feed, sitemap), the
//! Markdown mode's output, the mdBook output (search index included), the lock, the build
//! cache, the build's output, the Content API's log, or the bundle's raw bytes; every canary
//! must come back out of the bundle opened with the key and out of the Content API with its
//! certificate.
//!
//! The seed is fixed; `SATOSHIPRESS_LEAK_CASES` sets how many sites (default 24).

use crate::support::{KEY, Rng, Site};

struct Gen {
    rng: Rng,
    canaries: Vec<String>,
}

const FREE_WORDS: &[&str] = &[
    "coffee",
    "tea",
    "grind",
    "Wasser",
    "café",
    "茶",
    "bloom",
    "kettle",
    "ünïcödé",
    "☕",
];

impl Gen {
    fn canary(&mut self) -> String {
        let c = format!("kanarie{:012x}ß", self.rng.next() & 0xffff_ffff_ffff);
        self.canaries.push(c.clone());
        c
    }

    fn free_block(&mut self) -> String {
        let words: Vec<&str> = (0..6).map(|_| *self.rng.pick(FREE_WORDS)).collect();
        match self.rng.below(4) {
            0 => format!("{}\n", words.join(" ")),
            1 => format!("- {}\n- {}\n", words[0], words[1]),
            2 => format!("> {}\n", words.join(" ")),
            _ => format!("Some **{}** and `{}`.\n", words[0], words[1]),
        }
    }

    /// A paid block holding a fresh canary, in one of many Markdown shapes.
    fn paid_block(&mut self, heading_level: usize) -> String {
        let c = self.canary();
        match self.rng.below(12) {
            0 => format!("{c} in a plain paragraph with ünïcödé ☕.\n"),
            1 => format!("- first\n- item {c}\n  - nested\n"),
            2 => format!("| a | b |\n|---|---|\n| 1 | {c} |\n"),
            3 => format!("```rust\nlet secret = \"{c}\";\n```\n"),
            4 => format!("    indented {c}\n"),
            5 => format!("> quoted {c}\n"),
            6 => format!("<div class=\"box\">\n{c}\n</div>\n"),
            7 => format!(
                "Text with a note[^n{n}].\n\n[^n{n}]: Footnote {c}.\n",
                n = self.rng.below(1000)
            ),
            8 => format!("{} Sub {c}\n\nbody\n", "#".repeat(heading_level + 1)),
            9 => format!("[link](https://example.com/{c}) and ![alt {c}](img.png)\n"),
            10 => format!("*emphasis {c}* and ~~struck~~ text\n"),
            _ => format!("Inline <span>{c}</span> html.\n"),
        }
    }

    fn paid_body(&mut self, heading_level: usize) -> String {
        let n = 1 + self.rng.below(3);
        // Blank lines between blocks, and after the last: raw HTML runs to a blank line.
        (0..n)
            .map(|_| self.paid_block(heading_level) + "\n")
            .collect()
    }

    /// One page in a random marking form.
    fn page(&mut self, n: usize) -> String {
        let price = 1 + self.rng.below(2_000_000);
        let free = self.free_block();
        match self.rng.below(4) {
            0 => format!(
                "---\ntitle: Teaser {n}\nsatoshipay:\n  price: {price}\n---\n{free}\n<!-- satoshipay -->\n\n{}",
                self.paid_body(1)
            ),
            1 => format!(
                "---\ntitle: Whole {n}\nsatoshipay: {{ price: {price} }}\n---\n{}",
                self.paid_body(1)
            ),
            2 => {
                let mut body = free.clone();
                let mut decl = String::new();
                for s in 0..1 + self.rng.below(3) {
                    decl.push_str(&format!(
                        "    s{s}: {{ price: {} }}\n",
                        1 + self.rng.below(5000)
                    ));
                    body.push_str(&format!(
                        "\n<!-- satoshipay:s{s} -->\n{}<!-- /satoshipay:s{s} -->\n\n{}",
                        self.paid_body(1),
                        self.free_block()
                    ));
                }
                format!("---\ntitle: Named {n}\nsatoshipay:\n  sections:\n{decl}---\n{body}")
            }
            _ => format!(
                "+++\ntitle = \"Heading {n}\"\n[satoshipay]\nprice = {price}\n[satoshipay.sections.deep]\nheading = \"Deep dive\"\n+++\n{free}\n## Deep dive\n\n{}\n## Afterwards\n\n{}",
                self.paid_body(2),
                self.free_block()
            ),
        }
    }
}

fn case_count() -> usize {
    std::env::var("SATOSHIPRESS_LEAK_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn no_canary_leaks_and_every_canary_is_sealed() {
    let mut g = Gen {
        rng: Rng(0x5a70_5f1e_aa11_2026),
        canaries: Vec::new(),
    };
    for case in 0..case_count() {
        g.canaries.clear();
        let site = Site::new();
        site.write("templates/.keep", "");
        for n in 0..2 + g.rng.below(5) {
            let source = g.page(n);
            site.write(
                &format!("content/{}/p{n}.md", ["", "posts", "a/b"][n % 3]),
                &source,
            );
        }
        site.write(
            "content/free.md",
            "---\ntitle: Free\n---\nNothing paid here.\n",
        );
        let r = site.build();
        // Markdown mode for other generators must not leak either.
        let markdown = site.path().join("markdown-out");
        let md = site.build_markdown(&markdown);
        assert!(md.ok(), "{}", md.stderr);
        let mut outputs = site.outputs();
        let cache = site.path().join(".satoshipress/build-cache.json");
        outputs.insert(
            cache.clone(),
            std::fs::read(&cache).expect("the build cache"),
        );
        for f in crate::support::walk(&markdown) {
            outputs.insert(f.clone(), std::fs::read(&f).unwrap());
        }
        assert!(outputs.keys().any(|p| p.starts_with("public")));
        for c in &g.canaries {
            for (path, bytes) in &outputs {
                assert!(
                    !contains(bytes, c),
                    "case {case}: canary {c} leaked into {path:?}"
                );
            }
            assert!(
                !r.stdout.contains(c.as_str()) && !r.stderr.contains(c.as_str()),
                "case {case}: canary in the build's output"
            );
        }
        let bundle = site.bundle();
        for c in &g.canaries {
            assert!(
                bundle.entries().any(|e| e.content.contains(c.as_str())),
                "case {case}: canary {c} is not in the bundle"
            );
        }
        if case % 6 == 0 {
            // Every canary comes back from the real Content API with its good's certificate,
            // and none without it.
            let server =
                crate::server::ContentServer::start(&site, &["--max-failed-per-minute", "0"]);
            let http = crate::server::client();
            let mut served = String::new();
            for e in bundle.entries() {
                let r = http
                    .get(server.url(&format!(
                        "/satoshipay-content/{}?paymentCert={}",
                        e.id, e.secret
                    )))
                    .send()
                    .unwrap();
                assert_eq!(r.status(), 200);
                served.push_str(
                    r.json::<serde_json::Value>().unwrap()["content"]
                        .as_str()
                        .unwrap(),
                );
                let r = http
                    .get(server.url(&format!("/satoshipay-content/{}", e.id)))
                    .send()
                    .unwrap();
                assert!(
                    !r.text().unwrap().contains("kanarie"),
                    "case {case}: content without a certificate"
                );
            }
            for c in &g.canaries {
                assert!(
                    served.contains(c.as_str()),
                    "case {case}: the Content API did not serve canary {c}"
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            let log = server.stderr();
            assert!(log.contains("status=200"), "case {case}: no access log");
            for c in &g.canaries {
                assert!(
                    !log.contains(c.as_str()),
                    "case {case}: canary {c} in the server's log"
                );
            }
            assert!(
                !log.contains(KEY) && !log.contains("paymentCert"),
                "case {case}: a secret in the server's log"
            );
            // The same pages as an mdBook book, through the preprocessor and the real mdBook.
            mdbook_has_no_canary(&site, &g.canaries, case);
        }
        // goods list with secrets prints ids, titles and secrets, never content.
        let list = site.run_env(
            &["goods", "list", "{site}", "--json", "--show-secrets"],
            &[("SATOSHIPRESS_KEY", KEY)],
        );
        for c in &g.canaries {
            assert!(
                !list.stdout.contains(c.as_str()),
                "case {case}: canary in goods list"
            );
        }
    }
}

#[test]
fn error_messages_never_quote_paid_content() {
    let mut g = Gen {
        rng: Rng(7),
        canaries: Vec::new(),
    };
    let broken = [
        format!(
            "---\nsatoshipay: {{ price: 5 }}\n---\nfree\n\n<!-- satoshipay:x -->\n{}\n",
            g.paid_body(1)
        ),
        format!(
            "---\nsatoshipay: {{ price: 5 }}\n---\n<!-- satoshipay:a -->\n{}<!-- /satoshipay:b -->\n",
            g.paid_body(1)
        ),
        format!(
            "---\nsatoshipay: {{ price: 5, sections: {{ q: {{ heading: Missing }} }} }}\n---\n## {}\n\ntext\n",
            g.canary()
        ),
        format!(
            "---\nsatoshipay: {{ price: 5 }}\n---\n{}\n\n<!-- satoshipay -->\n",
            g.canary()
        ),
        format!(
            "---\nsatoshipay: {{ price: 5 }}\n---\n<!-- satoshipay -->\n{}\n<!-- satoshipay -->\n{}\n",
            g.paid_body(1),
            g.paid_body(1)
        ),
    ];
    for (i, source) in broken.iter().enumerate() {
        let site = Site::new();
        site.write("content/p.md", source);
        let r = site.build_fails();
        for c in &g.canaries {
            assert!(
                !r.stderr.contains(c.as_str()),
                "broken case {i}: the error quotes paid content:\n{}",
                r.stderr
            );
        }
    }
}

/// Builds the site's pages as an mdBook book and checks every file of it (pages, print
/// page, search index) for canaries.
fn mdbook_has_no_canary(site: &Site, canaries: &[String], case: usize) {
    let book = site.path().join("book-src");
    let pages: Vec<std::path::PathBuf> = crate::support::walk(&site.path().join("content"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    let mut summary = String::from("# Summary\n\n");
    for (i, page) in pages.iter().enumerate() {
        let rel = page.strip_prefix(site.path().join("content")).unwrap();
        let to = book.join("src").join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(page, &to).unwrap();
        summary.push_str(&format!("- [Chapter {i}]({})\n", rel.display()));
    }
    std::fs::write(book.join("src/SUMMARY.md"), summary).unwrap();
    std::fs::write(book.join("book.toml"), "[book]\ntitle = \"Leak\"\n[preprocessor.satoshipay]\nbase-url = \"https://leak.example\"\n").unwrap();
    let out = crate::generators::mdbook_build(&book);
    assert!(
        out.status.success(),
        "case {case}: mdbook failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let files = crate::support::walk(&book.join("book"));
    assert!(
        files
            .iter()
            .any(|f| f.to_string_lossy().contains("searchindex")),
        "case {case}: no search index to check"
    );
    for c in canaries {
        assert!(
            !stderr.contains(c.as_str()),
            "case {case}: canary {c} in mdBook's output"
        );
        for f in &files {
            assert!(
                !contains(&std::fs::read(f).unwrap(), c),
                "case {case}: canary {c} leaked into the book: {f:?}"
            );
        }
    }
}
