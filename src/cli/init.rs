//! `satoshipress init DIR`

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::build::{ensure_gitignored, write_new_key};
use crate::config::CONFIG_FILE;
use crate::key::MasterKey;

/// Create a new site.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Directory for the new site (created if missing; must not hold a site yet).
    pub dir: PathBuf,
    /// The site's public URL, for feeds, the sitemap and good urls.
    #[arg(long, default_value = "https://example.com")]
    pub base_url: String,
    /// The site's title.
    #[arg(long, default_value = "My satoshipress site")]
    pub title: String,
}

const HELLO: &str = r#"---
title: Hello, paid world
date: 2026-01-01
description: The first post, with a free teaser and a paid part.
satoshipay:
  price: 1000          # satoshis
---
Everything above the marker is free: every reader sees it, and so do feeds and search
engines.

<!-- satoshipay -->

Everything below the marker is paid. Readers see a SatoshiPay placeholder until they pay
1000 satoshis; then the widget fetches this part from the Content API.
"#;

pub fn run(args: InitArgs) -> Result<()> {
    let dir = &args.dir;
    if dir.join(CONFIG_FILE).exists() {
        anyhow::bail!(
            "`{}` already holds a site ({CONFIG_FILE} exists)",
            dir.display()
        );
    }
    let config = format!(
        "# satoshipress site settings. Every key is optional but base_url.\n\
[site]\n\
title = {title}\n\
base_url = {base}\n\
description = \"\"\n\
language = \"en\"\n\
\n\
[satoshipay]\n\
# `local` registers goods offline (ids derived from the master key); `api` uses SatoshiPay.\n\
registry = \"local\"\n\
# Where the Content API (satoshipress-content) answers, as put in data-sp-src.\n\
content_api = \"/satoshipay-content\"\n\
widget_url = \"https://wallet.satoshipay.io/satoshipay.js\"\n\
key_file = \"satoshipress.key\"\n\
bundle = \"bundle/content.spb\"\n",
        title = toml::Value::String(args.title.clone()),
        base = toml::Value::String(args.base_url.trim_end_matches('/').to_string()),
    );
    crate::fs::create_dir_all(&dir.join("content/posts"))?;
    crate::fs::create_dir_all(&dir.join("static"))?;
    std::fs::write(dir.join(CONFIG_FILE), config)
        .with_context(|| format!("failed to write `{}`", dir.join(CONFIG_FILE).display()))?;
    let hello = dir.join("content/posts/hello.md");
    if !hello.exists() {
        std::fs::write(&hello, HELLO)
            .with_context(|| format!("failed to write `{}`", hello.display()))?;
    }
    let key_file = dir.join("satoshipress.key");
    if !key_file.exists() {
        write_new_key(&MasterKey::generate()?, &key_file)?;
    }
    ensure_gitignored(dir, "satoshipress.key".as_ref())?;
    for line in ["/public/", "/bundle/"] {
        let gi = dir.join(".gitignore");
        let text = std::fs::read_to_string(&gi).unwrap_or_default();
        if !text.lines().any(|l| l.trim() == line) {
            crate::fs::write_atomic(&gi, format!("{text}{line}\n").as_bytes(), None)?;
        }
    }
    println!("created a site in `{}`", dir.display());
    println!(
        "  master key: `{}` (readable by you only; back it up, never commit it)",
        key_file.display()
    );
    println!("next: satoshipress build {}", dir.display());
    Ok(())
}
