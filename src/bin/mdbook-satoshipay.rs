//! `mdbook-satoshipay`: an mdBook preprocessor that sells parts of chapters through
//! SatoshiPay, with the same markers, registry, lock and bundle as `satoshipress build`.
//!
//! mdBook calls it as `mdbook-satoshipay supports <renderer>` (exit 0: supported) and then with
//! `[context, book]` JSON on stdin, expecting the book back on stdout.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

use satoshipress::build::{page_goods, site_key};
use satoshipress::config::{Config, LOCK_FILE, RegistryKind};
use satoshipress::diagnostic::{Diagnostic, Diagnostics};
use satoshipress::fs::StagedFile;
use satoshipress::goods::{ApiClient, ApiRegistry, LocalRegistry, Lock, Registry, WantedGood};
use satoshipress::page::{Page, clean_source};
use satoshipress::render::{Renderer, bundle_entries};
use satoshipress::theme::Theme;

/// `[preprocessor.satoshipay]` in `book.toml`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
struct BookSettings {
    registry: RegistryKind,
    content_api: String,
    bundle: PathBuf,
    key_file: PathBuf,
    base_url: String,
    widget_url: String,
    batch_size: usize,
}

impl Default for BookSettings {
    fn default() -> Self {
        BookSettings {
            registry: RegistryKind::Local,
            content_api: "/satoshipay-content".into(),
            bundle: "bundle/content.spb".into(),
            key_file: "satoshipress.key".into(),
            base_url: String::new(),
            widget_url: "https://wallet.satoshipay.io/satoshipay.js".into(),
            batch_size: 100,
        }
    }
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("supports") {
        // Tags and the widget script are raw HTML: every HTML-producing renderer takes them.
        return std::process::ExitCode::SUCCESS;
    }
    if args
        .iter()
        .any(|a| a == "--help" || a == "-h" || a == "--version" || a == "-V")
    {
        println!(
            "mdbook-satoshipay {}: an mdBook preprocessor selling parts of chapters through SatoshiPay.\n\
             Add to book.toml:\n\n  [preprocessor.satoshipay]\n  base-url = \"https://book.example\"   # for good urls\n  # registry = \"local\" | \"api\", content-api, bundle, key-file, widget-url, batch-size\n\n\
             Mark paid sections as with `satoshipress build` (see its README).",
            env!("CARGO_PKG_VERSION")
        );
        return std::process::ExitCode::SUCCESS;
    }
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprint!("mdbook-satoshipay: ");
            satoshipress::cli::report(&e);
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let (ctx, mut book) = mdbook_preprocessor::parse_input(std::io::stdin().lock())
        .context("cannot read mdBook's input")?;
    let settings: BookSettings = ctx
        .config
        .get("preprocessor.satoshipay")
        .context("bad [preprocessor.satoshipay] settings in book.toml")?
        .unwrap_or_default();
    let root = ctx.root.clone();
    let src = root.join(&ctx.config.book.src);
    let base_url = if settings.base_url.is_empty() {
        eprintln!(
            "mdbook-satoshipay: `base-url` is not set under [preprocessor.satoshipay]; goods get urls under https://example.com"
        );
        "https://example.com".to_string()
    } else {
        settings.base_url.trim_end_matches('/').to_string()
    };

    // Parse every chapter; report every problem.
    let mut pages: Vec<(Page, String)> = Vec::new();
    let mut problems: Vec<Diagnostic> = Vec::new();
    book.for_each_chapter_mut(|ch| {
        let Some(path) = ch.source_path.as_ref().or(ch.path.as_ref()) else {
            return;
        };
        let rel = path.to_string_lossy().replace('\\', "/");
        match Page::parse(&rel, &src.join(path), &ch.content) {
            Ok(page) => pages.push((page, chapter_html(path))),
            Err(mut ps) => problems.append(&mut ps),
        }
    });
    if !problems.is_empty() {
        problems.sort();
        return Err(Diagnostics(problems).into());
    }

    // Goods, as `satoshipress build` registers them, with the chapters' URLs.
    let lock_path = root.join(LOCK_FILE);
    let old = Lock::load(&lock_path)?;
    let (key, created) = site_key(&root, &settings.key_file, old.as_ref(), false)?;
    if let Some(path) = created {
        eprintln!(
            "mdbook-satoshipay: created a new master key in `{}` (readable by you only, git-ignored): back it up",
            path.display()
        );
    }
    if let Some(l) = &old
        && l.key_fingerprint != key.fingerprint()
    {
        anyhow::bail!(
            "`{}` was made with another master key; use the key this book was built with",
            lock_path.display()
        );
    }
    let old = old
        .filter(|l| l.registry == settings.registry)
        .unwrap_or_else(|| Lock::new(settings.registry, key.fingerprint()));
    let base = base_url.as_str();
    let mut wanted: Vec<WantedGood> = pages
        .iter()
        .flat_map(|(p, html)| {
            page_goods(p, base, &key).map(move |mut w| {
                let name = w.key.rsplit('#').next().unwrap_or("").to_string();
                w.url = format!("{base}/{html}#{name}");
                w
            })
        })
        .collect();
    wanted.sort_by(|a, b| a.key.cmp(&b.key));
    let (lock, report) = match settings.registry {
        RegistryKind::Local => LocalRegistry::new(&key).sync(&wanted, &old)?,
        RegistryKind::Api => {
            let client = ApiClient::from_env()?;
            ApiRegistry {
                client: &client,
                key: &key,
                lock_path: &lock_path,
                batch_size: settings.batch_size,
                progress: false,
            }
            .sync(&wanted, &old)?
        }
    };

    // Tags in the chapters, the widget where a chapter sells something.
    let mut config = Config::default();
    config.site.base_url = base_url.clone();
    config.satoshipay.content_api = settings.content_api.trim_end_matches('/').to_string();
    let theme = Theme::load(&root.join("theme/satoshipress")).map_err(Diagnostics)?;
    let plain: Vec<Page> = pages.iter().map(|(p, _)| p.clone()).collect();
    let renderer = Renderer::new(&config, &theme, &plain, &lock);
    let mut rendered = std::collections::HashMap::new();
    for page in &plain {
        if page.paid.is_empty() {
            continue;
        }
        rendered.insert(page.rel_path.clone(), renderer.content_items(page, true)?);
    }
    book.for_each_chapter_mut(|ch| {
        let Some(path) = ch.source_path.as_ref().or(ch.path.as_ref()) else {
            return;
        };
        let rel = path.to_string_lossy().replace('\\', "/");
        let Some(page) = plain.iter().find(|p| p.rel_path == rel) else {
            return;
        };
        let source = clean_source(&ch.content).into_owned();
        let tags = rendered.get(&rel).cloned().unwrap_or_default();
        let mut body = satoshipress::emit::body(&source, page, &tags);
        if !tags.is_empty() && !settings.widget_url.is_empty() {
            body.push_str(&format!(
                "\n<script src=\"{}\"></script>\n",
                settings.widget_url
            ));
        }
        ch.content = body;
    });

    // The bundle and the lock, beside the book.
    let sealed = satoshipress::bundle::seal(&key, &bundle_entries(&plain, &lock, &key));
    let bundle = root.join(&settings.bundle);
    for file in [
        StagedFile::new_if_changed(&bundle, &sealed, Some(0o644))?,
        StagedFile::new_if_changed(&lock_path, lock.to_text().as_bytes(), Some(0o644))?,
    ]
    .into_iter()
    .flatten()
    {
        file.commit()?;
    }
    eprintln!(
        "mdbook-satoshipay: {} paid section{} (goods: {} new, {} changed, {} unchanged), bundle `{}`",
        wanted.len(),
        if wanted.len() == 1 { "" } else { "s" },
        report.created,
        report.updated,
        report.unchanged,
        bundle.display()
    );
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, &book)?;
    out.flush()?;
    Ok(())
}

/// Where mdBook writes a chapter: `a/b.md` → `a/b.html`, `README.md` → `index.html`.
fn chapter_html(path: &Path) -> String {
    let s = path.to_string_lossy().replace('\\', "/");
    let stem = s.strip_suffix(".md").unwrap_or(&s);
    match stem.rsplit_once('/') {
        Some((dir, "README")) => format!("{dir}/index.html"),
        None if stem == "README" => "index.html".into(),
        _ => format!("{stem}.html"),
    }
}
