//! Building sites: every marking form, the content-item tags, the theme, determinism.

use std::os::unix::fs::MetadataExt;

use crate::support::{Site, content_items};

#[test]
fn teaser_split_becomes_one_content_item() {
    let site = Site::new();
    site.write(
        "content/post.md",
        "---\ntitle: Post\nsatoshipay:\n  price: 4000\n---\nFree teaser.\n\n<!-- satoshipay -->\n\nThe *paid* part, with ünïcödé ☕.\n",
    );
    site.build();
    let html = site.read("public/post/index.html");
    assert!(html.contains("<p>Free teaser.</p>"));
    assert!(!html.contains("paid</em>"));
    let items = content_items(&html);
    assert_eq!(items.len(), 1);
    let item = &items[0];
    let id = &item["id"];
    assert_eq!(id.len(), 24);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(item["src"], format!("/satoshipay-content/{id}"));
    assert_eq!(item["price"], "4000");
    // "The paid part, with ünïcödé ☕." counted in characters, not bytes.
    assert_eq!(
        item["length"],
        "The paid part, with ünïcödé ☕."
            .chars()
            .count()
            .to_string()
    );
    let entry = site.bundle().get(id).unwrap().clone();
    assert_eq!(
        entry.content,
        "<p>The <em>paid</em> part, with ünïcödé ☕.</p>\n"
    );
    assert_eq!(entry.price, 4000);
    assert!(html.contains("<script src=\"https://wallet.satoshipay.io/satoshipay.js\"></script>"));
}

#[test]
fn whole_body_paid_page() {
    let site = Site::new();
    site.write(
        "content/all.md",
        "---\ntitle: All paid\nsatoshipay: { price: 250 }\n---\nEvery word here is paid.\n",
    );
    site.build();
    let html = site.read("public/all/index.html");
    assert!(!html.contains("Every word"));
    let items = content_items(&html);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["price"], "250");
    assert_eq!(
        site.bundle().get(&items[0]["id"]).unwrap().content,
        "<p>Every word here is paid.</p>\n"
    );
}

#[test]
fn named_and_heading_sections() {
    let site = Site::new();
    site.write(
        "content/tea.md",
        "+++\ntitle = \"Tea\"\n[satoshipay]\nprice = 100\n[satoshipay.sections.blend]\nprice = 800\ntitle = \"The blend\"\n[satoshipay.sections.water]\nprice = 300\nheading = \"Water matters\"\n+++\nIntro.\n\n<!-- satoshipay:blend -->\nBlend secret.\n<!-- /satoshipay:blend -->\n\nMiddle.\n\n<!-- satoshipay:extra -->\nExtra secret.\n<!-- /satoshipay:extra -->\n\n## Water matters\n\nWater secret.\n\n### Detail\n\nDetail secret.\n\n## Cups\n\nFree end.\n",
    );
    site.build();
    let html = site.read("public/tea/index.html");
    for free in [
        "Intro.",
        "Middle.",
        "<h2>Water matters</h2>",
        "<h2>Cups</h2>",
        "Free end.",
    ] {
        assert!(html.contains(free), "{free} missing");
    }
    for paid in ["secret", "Detail"] {
        assert!(!html.contains(paid), "{paid} leaked");
    }
    let items = content_items(&html);
    let prices: Vec<&str> = items.iter().map(|i| i["price"].as_str()).collect();
    assert_eq!(prices, ["800", "100", "300"]);
    let bundle = site.bundle();
    let contents: Vec<String> = items
        .iter()
        .map(|i| bundle.get(&i["id"]).unwrap().content.clone())
        .collect();
    assert_eq!(contents[0], "<p>Blend secret.</p>\n");
    assert_eq!(contents[1], "<p>Extra secret.</p>\n");
    assert_eq!(
        contents[2],
        "<p>Water secret.</p>\n<h3>Detail</h3>\n<p>Detail secret.</p>\n"
    );
    let lock = site.read("satoshipress.lock");
    assert!(lock.contains("key = \"tea.md#blend\""));
    assert!(lock.contains("title = \"Tea — The blend\""));
    assert!(lock.contains("title = \"Tea — extra\""));
    assert!(lock.contains("url = \"https://test.example/tea/#water\""));
}

#[test]
fn markers_in_code_stay_text() {
    let site = Site::new();
    site.write(
        "content/syntax.md",
        "---\ntitle: Syntax\n---\nInline `<!-- satoshipay -->` code.\n\n```\n<!-- satoshipay:x -->\nfenced\n<!-- /satoshipay:x -->\n```\n\n    <!-- satoshipay -->\n    indented\n",
    );
    site.build();
    let html = site.read("public/syntax/index.html");
    assert!(content_items(&html).is_empty());
    assert!(html.contains("<code>&lt;!-- satoshipay --&gt;</code>"));
    assert!(html.contains("&lt;!-- satoshipay:x --&gt;\nfenced"));
    assert!(html.contains("indented"));
    assert!(!site.read("satoshipress.lock").contains("[[good]]"));
}

#[test]
fn content_api_prefix_and_widget_come_from_the_config() {
    let site = Site::new();
    site.write(
        "satoshipress.toml",
        "[site]\nbase_url = \"https://t.example\"\n[satoshipay]\ncontent_api = \"https://pay.t.example/api/\"\nwidget_url = \"https://cdn.t.example/w.js\"\n",
    );
    site.write("content/p.md", "---\nsatoshipay: { price: 9 }\n---\nx\n");
    site.build();
    let html = site.read("public/p/index.html");
    let items = content_items(&html);
    assert_eq!(
        items[0]["src"],
        format!("https://pay.t.example/api/{}", items[0]["id"])
    );
    assert!(html.contains("<script src=\"https://cdn.t.example/w.js\"></script>"));
}

#[test]
fn site_templates_override_the_theme() {
    let site = Site::new();
    site.write("templates/content_item.html", "<div class=\"satoshipay-placeholder\" data-x=\"{{ item.id }}:{{ item.price }}:{{ item.length }}\"></div>\n");
    site.write(
        "templates/special.html",
        "SPECIAL {{ page.title }} {{ page.extra.mood }} {{ page.content | safe }}",
    );
    site.write(
        "content/p.md",
        "---\ntitle: P\nmood: calm\ntemplate: special.html\nsatoshipay: { price: 9 }\n---\nabc\n",
    );
    site.build();
    let html = site.read("public/p/index.html");
    assert!(
        html.starts_with("SPECIAL P calm <div class=\"satoshipay-placeholder\" data-x=\""),
        "{html}"
    );
    assert!(html.contains(":9:3\"></div>"), "{html}");
}

#[test]
fn links_assets_static_files_and_listings() {
    let site = Site::new();
    site.write(
        "content/index.md",
        "---\ntitle: Home\n---\nWelcome. See [about](about.md).\n",
    );
    site.write("content/about.md", "---\ntitle: About\n---\nBack [home](index.md), to [a post](posts/one.md#top), or [out](https://x.example/).\n");
    site.write("content/posts/one.md", "---\ntitle: One\ndate: 2024-02-01\n---\n![pic](pic.png) and [two](two.md) and [about](../about.md).\n");
    site.write(
        "content/posts/two.md",
        "---\ntitle: Two\ndate: 2024-03-01\ndraft: false\n---\nTwo.\n",
    );
    site.write(
        "content/posts/draft.md",
        "---\ntitle: Draft\ndraft: true\n---\nNot yet.\n",
    );
    site.write("content/posts/pic.png", "PNG");
    site.write("static/css/extra.css", "body{}");
    site.build();
    let about = site.read("public/about/index.html");
    assert!(about.contains("href=\"../\""));
    assert!(about.contains("href=\"../posts/one/#top\""));
    assert!(about.contains("href=\"https://x.example/\""));
    let one = site.read("public/posts/one/index.html");
    assert!(one.contains("src=\"../pic.png\""));
    assert!(one.contains("href=\"../two/\""));
    assert!(one.contains("href=\"../../about/\""));
    assert_eq!(site.read("public/posts/pic.png"), "PNG");
    assert_eq!(site.read("public/css/extra.css"), "body{}");
    assert!(!site.path().join("public/posts/draft").exists());
    let home = site.read("public/index.html");
    assert!(home.contains("Welcome."));
    let (two, one_pos) = (
        home.find("posts/two/").unwrap(),
        home.find("posts/one/").unwrap(),
    );
    assert!(two < one_pos, "newest first");
    assert!(
        site.read("public/posts/index.html").contains("posts/one/")
            || site.read("public/posts/index.html").contains("one/")
    );
    let sitemap = site.read("public/sitemap.xml");
    assert!(
        sitemap.contains("<loc>https://test.example/posts/one/</loc><lastmod>2024-02-01</lastmod>")
    );
    assert!(
        site.read("public/atom.xml")
            .contains("<id>https://test.example/posts/two/</id>")
    );
}

#[test]
fn derived_texts_use_the_free_parts_only() {
    let site = Site::new();
    site.write(
        "content/p.md",
        "---\ntitle: P\nsatoshipay:\n  price: 5\n  sections:\n    mid: { price: 6 }\n---\nOpening words.\n\n<!-- satoshipay:mid -->\nMIDDLE-CANARY text.\n<!-- /satoshipay:mid -->\n\nCloser words.\n\n<!-- satoshipay -->\n\nTAIL-CANARY text.\n",
    );
    site.build();
    for file in [
        "public/p/index.html",
        "public/index.html",
        "public/atom.xml",
        "public/sitemap.xml",
    ] {
        let text = site.read(file);
        assert!(!text.contains("CANARY"), "{file} leaks");
    }
    let page = site.read("public/p/index.html");
    assert!(
        page.contains("<meta name=\"description\" content=\"Opening words. Closer words.\">"),
        "{page}"
    );
    assert!(
        page.contains(
            "<meta property=\"og:description\" content=\"Opening words. Closer words.\">"
        )
    );
    let feed = site.read("public/atom.xml");
    assert!(feed.contains("<summary>Opening words. Closer words.</summary>"));
    assert!(feed.contains("A paid section (6 satoshis) continues on the site."));
}

#[test]
fn builds_are_deterministic_and_an_unchanged_rebuild_writes_nothing() {
    let a = Site::example();
    let b = Site::example();
    a.build();
    b.build();
    assert_eq!(
        a.outputs(),
        b.outputs(),
        "two builds of the same site differ"
    );
    assert!(!a.outputs().is_empty());

    let before = a.outputs();
    let inode = |rel: &str| std::fs::metadata(a.path().join(rel)).unwrap().ino();
    let mtime = |rel: &str| std::fs::metadata(a.path().join(rel)).unwrap().mtime_nsec();
    let stamps = (
        inode("public"),
        mtime("satoshipress.lock"),
        mtime("bundle/content.spb"),
        inode("public/index.html"),
    );
    let r = a.build();
    assert!(r.stdout.contains("(nothing changed)"), "{}", r.stdout);
    assert_eq!(a.outputs(), before);
    let after = (
        inode("public"),
        mtime("satoshipress.lock"),
        mtime("bundle/content.spb"),
        inode("public/index.html"),
    );
    assert_eq!(stamps, after, "an unchanged rebuild rewrote files");
}

#[test]
fn a_changed_page_updates_outputs() {
    let site = Site::new();
    site.write(
        "content/p.md",
        "---\nsatoshipay: { price: 5 }\n---\nold paid\n",
    );
    site.build();
    let id = content_items(&site.read("public/p/index.html"))[0]["id"].clone();
    site.write(
        "content/p.md",
        "---\nsatoshipay: { price: 7 }\n---\nnew paid text\n",
    );
    let r = site.build();
    assert!(r.stdout.contains("0 new, 1 changed"), "{}", r.stdout);
    let items = content_items(&site.read("public/p/index.html"));
    assert_eq!(items[0]["id"], id, "a local id is stable across edits");
    assert_eq!(items[0]["price"], "7");
    assert_eq!(
        site.bundle().get(&id).unwrap().content,
        "<p>new paid text</p>\n"
    );
    site.write("content/p.md", "---\ntitle: now free\n---\nfree\n");
    let r = site.build();
    assert!(r.stdout.contains("1 gone"), "{}", r.stdout);
    assert!(site.bundle().is_empty());
}

#[test]
fn example_site_builds_with_every_form() {
    let site = Site::example();
    let r = site.run(&["build", "{site}"]);
    assert!(r.ok(), "{}", r.stderr);
    assert!(
        r.stderr.contains("created a new master key"),
        "{}",
        r.stderr
    );
    let lock = site.read("satoshipress.lock");
    for key in [
        "posts/brewing-guide.md#main",
        "posts/tea-notes.md#blend",
        "posts/tea-notes.md#water",
        "posts/kaffee.md#wort",
    ] {
        assert!(lock.contains(&format!("key = \"{key}\"")), "{key} missing");
    }
    let syntax = site.read("public/posts/writing-paid-posts/index.html");
    assert!(content_items(&syntax).is_empty());
    let r = site.run(&["check", "{site}"]);
    assert!(r.ok(), "{}", r.stderr);
    assert!(
        r.stdout.contains("7 pages, 4 paid sections"),
        "{}",
        r.stdout
    );
}

#[test]
fn out_flag_and_refusal_to_replace_a_foreign_directory() {
    let site = Site::new();
    site.write("content/p.md", "hello\n");
    let out = site.path().join("elsewhere");
    let r = site.run_env(
        &["build", "{site}", "--out", out.to_str().unwrap()],
        &[("SATOSHIPRESS_KEY", crate::support::KEY)],
    );
    assert!(r.ok(), "{}", r.stderr);
    assert!(out.join("p/index.html").is_file());
    site.write("mine/precious.txt", "keep me");
    let r = site.run_env(
        &[
            "build",
            "{site}",
            "--out",
            site.path().join("mine").to_str().unwrap(),
        ],
        &[("SATOSHIPRESS_KEY", crate::support::KEY)],
    );
    assert!(!r.ok());
    assert!(r.stderr.contains("refusing to replace"), "{}", r.stderr);
    assert_eq!(site.read("mine/precious.txt"), "keep me");
}

#[test]
fn a_rebuild_writes_only_what_changed_and_drops_what_is_gone() {
    let site = Site::new();
    site.write("content/a.md", "---\ntitle: A\n---\nAlpha.\n");
    site.write("content/b.md", "---\ntitle: B\n---\nBeta.\n");
    site.write("content/c.md", "---\ntitle: C\n---\nGamma.\n");
    site.build();
    let inode = |rel: &str| std::fs::metadata(site.path().join(rel)).unwrap().ino();
    let (a, b) = (inode("public/a/index.html"), inode("public/b/index.html"));
    site.write("content/b.md", "---\ntitle: B\n---\nBeta, edited.\n");
    std::fs::remove_file(site.path().join("content/c.md")).unwrap();
    site.build();
    assert_eq!(
        inode("public/a/index.html"),
        a,
        "an unchanged page was written again"
    );
    assert_ne!(inode("public/b/index.html"), b);
    assert!(site.read("public/b/index.html").contains("Beta, edited."));
    assert!(site.read("public/a/index.html").contains("Alpha."));
    assert!(
        !site.path().join("public/c").exists(),
        "a removed page survived"
    );
}

#[test]
fn listings_are_cut_into_pages() {
    let site = Site::new();
    site.write(
        "satoshipress.toml",
        "[site]\ntitle = \"T\"\nbase_url = \"https://test.example\"\nper_page = 2\n",
    );
    for i in 1..=5 {
        site.write(
            &format!("content/posts/p{i}.md"),
            &format!("---\ntitle: Post {i}\ndate: 2024-01-0{i}\n---\nText {i}.\n"),
        );
    }
    site.build();
    // Newest first, two a page: 5 4 | 3 2 | 1.
    let first = site.read("public/posts/index.html");
    assert!(first.contains("Post 5") && first.contains("Post 4") && !first.contains("Post 3"));
    assert!(first.contains("Page 1 of 3"));
    assert!(
        first.contains("rel=\"next\" href=\"../posts/page/2/\""),
        "{first}"
    );
    assert!(!first.contains("rel=\"prev\""));
    let second = site.read("public/posts/page/2/index.html");
    assert!(second.contains("Post 3") && second.contains("Post 2") && !second.contains("Post 4"));
    assert!(
        second.contains("rel=\"prev\" href=\"../../../posts/\""),
        "{second}"
    );
    assert!(
        second.contains("href=\"../../../posts/p3/\""),
        "links go back to the root"
    );
    let third = site.read("public/posts/page/3/index.html");
    assert!(third.contains("Post 1") && !third.contains("rel=\"next\""));
    assert!(site.read("public/page/3/index.html").contains("Post 1"));
    assert!(!site.path().join("public/posts/page/4").exists());
    let sitemap = site.read("public/sitemap.xml");
    assert!(sitemap.contains("<loc>https://test.example/posts/page/3/</loc>"));

    // Fewer pages: the listing pages that are no longer needed are gone.
    for i in 3..=5 {
        std::fs::remove_file(site.path().join(format!("content/posts/p{i}.md"))).unwrap();
    }
    site.build();
    assert!(site.path().join("public/posts/index.html").exists());
    assert!(!site.path().join("public/posts/page").exists());

    // `per_page = 0`: one page lists everything.
    site.write(
        "satoshipress.toml",
        "[site]\ntitle = \"T\"\nbase_url = \"https://test.example\"\nper_page = 0\n",
    );
    for i in 3..=5 {
        site.write(
            &format!("content/posts/p{i}.md"),
            &format!("---\ntitle: Post {i}\n---\nText {i}.\n"),
        );
    }
    site.build();
    let all = site.read("public/index.html");
    assert!((1..=5).all(|i| all.contains(&format!("Post {i}"))));
    assert!(!all.contains("class=\"pagination\""));
}

#[test]
fn a_page_where_a_listing_page_goes_is_refused() {
    let site = Site::new();
    site.write(
        "satoshipress.toml",
        "[site]\ntitle = \"T\"\nbase_url = \"https://test.example\"\nper_page = 1\n",
    );
    site.write("content/posts/a.md", "A.\n");
    site.write("content/posts/b.md", "B.\n");
    site.write("content/posts/page/2.md", "Two.\n");
    let r = site.build_fails();
    assert!(
        r.stderr.contains("content/posts/page/2.md")
            && r.stderr.contains("page 2 of the listing of `posts/`"),
        "{}",
        r.stderr
    );
    assert!(!site.path().join("public").exists());
}

#[test]
fn a_directory_of_drafts_gets_no_listing() {
    // The build foresees listings from the paths; drafts prove it wrong and the pages are
    // rendered again with the real layout.
    let site = Site::new();
    site.write("content/posts/a.md", "---\ntitle: A\n---\nA.\n");
    site.write(
        "content/notes/n.md",
        "---\ntitle: N\ndraft: true\n---\nNot yet.\n",
    );
    site.write(
        "content/paid.md",
        "---\ntitle: P\nsatoshipay: { price: 10 }\n---\nFree.\n\n<!-- satoshipay -->\n\nPaid.\n",
    );
    site.build();
    let a = site.read("public/posts/a/index.html");
    assert!(a.contains("href=\"../../posts/\""), "{a}");
    assert!(
        !a.contains("notes/"),
        "no navigation to a listing of drafts: {a}"
    );
    assert!(!site.path().join("public/notes").exists());
    assert_eq!(site.bundle().len(), 1);
    let outputs = site.outputs();
    site.build();
    assert_eq!(site.outputs(), outputs, "a rebuild gives the same bytes");
}

#[test]
fn a_large_sitemap_is_cut_into_parts_under_an_index() {
    let site = Site::new();
    // 2,050 pages and their listing pages: past the 2,000 URLs a sitemap file holds.
    for i in 0..2050 {
        site.write(&format!("content/p{i:04}.md"), "Hello.\n");
    }
    site.build();
    let index = site.read("public/sitemap.xml");
    assert!(index.contains("<sitemapindex"), "{index}");
    assert!(index.contains("<loc>https://test.example/sitemap-1.xml</loc>"));
    assert!(index.contains("<loc>https://test.example/sitemap-2.xml</loc>"));
    assert!(!index.contains("sitemap-3.xml"));
    let count = |rel: &str| site.read(rel).matches("<url>").count();
    let (one, two) = (count("public/sitemap-1.xml"), count("public/sitemap-2.xml"));
    assert_eq!(one, 2000);
    // Every page, the home page and its 102 further pages of 20 entries.
    assert_eq!(one + two, 2050 + 103);
    assert!(
        site.read("public/sitemap-2.xml")
            .contains("<loc>https://test.example/p2049/</loc>")
    );

    for i in 200..2050 {
        std::fs::remove_file(site.path().join(format!("content/p{i:04}.md"))).unwrap();
    }
    site.build();
    assert!(site.read("public/sitemap.xml").contains("<urlset"));
    assert!(!site.path().join("public/sitemap-1.xml").exists());
}

#[test]
fn unchanged_pages_come_from_the_build_cache_and_only_they() {
    let site = Site::new();
    site.write(
        "content/a.md",
        "---\ntitle: A\nsatoshipay: { price: 10 }\n---\nFree A.\n\n<!-- satoshipay -->\n\nPaid A.\n",
    );
    site.write("content/b.md", "---\ntitle: B\n---\nFree B.\n");
    let first = site.build();
    assert!(!first.stdout.contains("build cache"), "{}", first.stdout);
    assert!(site.path().join(".satoshipress/build-cache.json").is_file());
    assert!(site.read(".gitignore").contains("/.satoshipress/"));
    let outputs = site.outputs();
    let r = site.build();
    assert!(
        r.stdout.contains("(2 unchanged, from the build cache)")
            && r.stdout.contains("(nothing changed)"),
        "{}",
        r.stdout
    );
    assert_eq!(site.outputs(), outputs);

    // An edited page is built again; the other comes from the cache, its sealed entry too.
    site.write("content/b.md", "---\ntitle: B\n---\nFree B, edited.\n");
    let r = site.build();
    assert!(
        r.stdout.contains("(1 unchanged, from the build cache)"),
        "{}",
        r.stdout
    );
    assert!(site.read("public/b/index.html").contains("Free B, edited."));
    assert!(site.read("public/index.html").contains("Free B, edited."));
    let bundle = site.bundle();
    assert_eq!(bundle.len(), 1);
    assert!(bundle.entries().all(|e| e.content.contains("Paid A.")));

    // An output file changed by hand is written again.
    std::fs::write(site.path().join("public/a/index.html"), "changed by hand").unwrap();
    let r = site.build();
    assert!(
        r.stdout.contains("(1 unchanged, from the build cache)"),
        "{}",
        r.stdout
    );
    assert!(site.read("public/a/index.html").contains("Free A."));

    // A changed template changes every page: nothing comes from the cache.
    site.write(
        "templates/content_item.html",
        "<div class=\"v2\" data-sp-id=\"{{ item.id }}\"></div>",
    );
    let r = site.build();
    assert!(!r.stdout.contains("build cache"), "{}", r.stdout);
    assert!(site.read("public/a/index.html").contains("class=\"v2\""));

    // A bundle that is not the one the cache names is not trusted: every entry is sealed anew.
    std::fs::remove_file(site.path().join("bundle/content.spb")).unwrap();
    let r = site.build();
    assert!(!r.stdout.contains("build cache"), "{}", r.stdout);
    assert!(
        site.bundle()
            .entries()
            .all(|e| e.content.contains("Paid A."))
    );

    // A damaged cache is ignored.
    site.write(".satoshipress/build-cache.json", "{ not json");
    let r = site.build();
    assert!(!r.stdout.contains("build cache"), "{}", r.stdout);
    let r = site.build();
    assert!(
        r.stdout.contains("(2 unchanged, from the build cache)"),
        "{}",
        r.stdout
    );
}
