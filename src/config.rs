//! `satoshipress.toml`: the site's settings, validated before any work starts.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::diagnostic::{Diagnostic, line_of};

/// The config file's name inside a site directory.
pub const CONFIG_FILE: &str = "satoshipress.toml";
/// The lock file's name inside a site directory.
pub const LOCK_FILE: &str = "satoshipress.lock";

/// Where goods are registered.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, clap::ValueEnum, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum RegistryKind {
    /// Offline: ids derived from the master key; no account, no network.
    #[default]
    Local,
    /// SatoshiPay's Digital Goods API.
    Api,
}

/// The whole config file.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[site]`
    #[serde(default)]
    pub site: SiteConfig,
    /// `[satoshipay]`
    #[serde(default)]
    pub satoshipay: PayConfig,
}

/// `[site]`: what the theme and the feed need, and where things are.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SiteConfig {
    /// The site's name, in page titles and the feed.
    pub title: String,
    /// Absolute URL the site is served from, e.g. `https://example.com/blog`.
    pub base_url: String,
    /// One sentence about the site: home page meta description and feed subtitle.
    pub description: String,
    /// `lang` of the pages.
    pub language: String,
    /// Author named in the feed.
    pub author: String,
    /// Markdown sources, relative to the site directory.
    pub content_dir: PathBuf,
    /// Files copied as they are into the output.
    pub static_dir: PathBuf,
    /// Template overrides.
    pub templates_dir: PathBuf,
    /// The rendered site.
    pub output_dir: PathBuf,
    /// Entries per listing page (the home page and each directory's listing): the first
    /// page is `DIR/`, the next `DIR/page/2/` and so on. `0` lists everything on one page.
    pub per_page: usize,
}

impl Default for SiteConfig {
    fn default() -> Self {
        SiteConfig {
            title: "Untitled site".into(),
            base_url: String::new(),
            description: String::new(),
            language: "en".into(),
            author: String::new(),
            content_dir: "content".into(),
            static_dir: "static".into(),
            templates_dir: "templates".into(),
            output_dir: "public".into(),
            per_page: 20,
        }
    }
}

/// `[satoshipay]`: registry, Content API, widget and key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PayConfig {
    /// `local` (offline, the default) or `api`.
    pub registry: RegistryKind,
    /// Prefix of the Content API URLs put in `data-sp-src` (absolute or relative).
    pub content_api: String,
    /// The SatoshiPay widget script put in every page holding a paid section.
    pub widget_url: String,
    /// The master key file, relative to the site directory.
    pub key_file: PathBuf,
    /// The sealed bundle, relative to the site directory.
    pub bundle: PathBuf,
    /// Requests per `POST /batch` when syncing with the Digital Goods API (1 to 1000).
    pub batch_size: usize,
}

impl Default for PayConfig {
    fn default() -> Self {
        PayConfig {
            registry: RegistryKind::Local,
            content_api: "/satoshipay-content".into(),
            widget_url: "https://wallet.satoshipay.io/satoshipay.js".into(),
            key_file: "satoshipress.key".into(),
            bundle: "bundle/content.spb".into(),
            batch_size: 100,
        }
    }
}

impl Config {
    /// Parses and validates the config text. `path` only labels the problems.
    pub fn parse(path: &Path, text: &str) -> Result<Config, Vec<Diagnostic>> {
        let mut config: Config = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| line_of(text, s.start));
            vec![Diagnostic::new(path, line, toml_message(&e))]
        })?;
        let mut problems = Vec::new();
        let at = |key: &str| {
            text.lines()
                .position(|l| l.trim_start().starts_with(key))
                .map_or(0, |i| i + 1)
        };
        let base = config
            .site
            .base_url
            .trim()
            .trim_end_matches('/')
            .to_string();
        if base.is_empty() {
            problems.push(Diagnostic::new(
                path,
                at("[site]"),
                "`site.base_url` is not set; add `base_url = \"https://your.domain\"` under [site] (feeds, sitemaps and good urls need it)",
            ));
        } else if !(base.starts_with("https://") || base.starts_with("http://")) {
            problems.push(Diagnostic::new(
                path,
                at("base_url"),
                format!("`site.base_url` must be an absolute http(s) URL, like \"https://example.com\", not \"{base}\""),
            ));
        }
        config.site.base_url = base;
        let prefix = config.satoshipay.content_api.trim().trim_end_matches('/');
        if prefix.is_empty() || prefix.contains(char::is_whitespace) || prefix.contains('"') {
            problems.push(Diagnostic::new(
                path,
                at("content_api"),
                "`satoshipay.content_api` must be a URL or path without spaces or quotes, like \"/satoshipay-content\"",
            ));
        }
        config.satoshipay.content_api = prefix.to_string();
        if !(1..=1000).contains(&config.satoshipay.batch_size) {
            problems.push(Diagnostic::new(
                path,
                at("batch_size"),
                "`satoshipay.batch_size` must be from 1 to 1000",
            ));
        }
        for (name, dir) in [
            ("content_dir", &config.site.content_dir),
            ("output_dir", &config.site.output_dir),
        ] {
            if dir.as_os_str().is_empty()
                || dir.is_absolute()
                || dir
                    .components()
                    .any(|c| c == std::path::Component::ParentDir)
            {
                problems.push(Diagnostic::new(
                    path,
                    at(name),
                    format!(
                        "`site.{name}` must be a directory inside the site, like \"{}\"",
                        if name == "content_dir" {
                            "content"
                        } else {
                            "public"
                        }
                    ),
                ));
            }
        }
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems)
        }
    }

    /// Reads `DIR/satoshipress.toml`.
    pub fn load(site_dir: &Path) -> anyhow::Result<Config> {
        let path = site_dir.join(CONFIG_FILE);
        if !path.is_file() {
            anyhow::bail!(
                "`{}` not found: is `{}` a satoshipress site? Create one with `satoshipress init {}`",
                path.display(),
                site_dir.display(),
                site_dir.display()
            );
        }
        let text = crate::fs::read_to_string(&path)?;
        Config::parse(&path, &text).map_err(|p| crate::diagnostic::Diagnostics(p).into())
    }
}

/// The first line of a TOML error, without the snippet the crate draws under it.
fn toml_message(e: &toml::de::Error) -> String {
    let msg = e.message().trim();
    format!("{msg} (the file is TOML: check the quoting and the section names)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, Vec<Diagnostic>> {
        Config::parse(Path::new("satoshipress.toml"), text)
    }

    #[test]
    fn defaults_fill_what_is_missing() {
        let c = parse("[site]\nbase_url = \"https://ex.com/blog/\"\n").unwrap();
        assert_eq!(c.site.base_url, "https://ex.com/blog");
        assert_eq!(c.satoshipay.content_api, "/satoshipay-content");
        assert_eq!(c.satoshipay.registry, RegistryKind::Local);
    }

    #[test]
    fn problems_carry_lines() {
        let cases = [
            ("[site]\nbase_url = \"https://a\"\nbogus = 1\n", 3, "bogus"),
            ("[site]\ntitle = \"x\"\n", 1, "base_url"),
            ("[site]\nbase_url = \"ftp://a\"\n", 2, "absolute"),
            (
                "[site]\nbase_url = \"https://a\"\n[satoshipay]\nregistry = \"cloud\"\n",
                4,
                "cloud",
            ),
            ("[site\n", 1, "TOML"),
        ];
        for (text, line, needle) in cases {
            let errs = parse(text).unwrap_err();
            assert_eq!(errs[0].line, line, "{text}: {errs:?}");
            assert!(errs[0].message.contains(needle), "{text}: {errs:?}");
        }
    }
}
