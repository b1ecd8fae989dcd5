//! The build pipeline: scan, parse, register goods, render, seal, and commit the outputs
//! only when every step succeeded.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rayon::prelude::*;

use crate::bundle;
use crate::config::{Config, LOCK_FILE, RegistryKind};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::fs::StagedFile;
use crate::goods::{
    ApiClient, ApiRegistry, LocalRegistry, Lock, PreviewRegistry, Registry, SyncReport, WantedGood,
};
use crate::key::{KEY_ENV, KeyError, MasterKey};
use crate::output::Sink;
use crate::page::Page;
use crate::render::{Renderer, bundle_entries, index_file, url_of};
use crate::site;
use crate::theme::Theme;

/// What `build` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Emit {
    /// Finished HTML pages, rendered with the theme.
    #[default]
    Html,
    /// Markdown for another generator (Hugo, Zola, Jekyll, Eleventy): each page with its front
    /// matter (less `satoshipay`) and each paid section replaced by its content-item tag.
    Markdown,
}

/// What to build and how.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The site directory (holding `satoshipress.toml`).
    pub site_dir: PathBuf,
    /// Registry override (`--registry`); the config's otherwise.
    pub registry: Option<RegistryKind>,
    /// Output directory override (`--out`).
    pub out_dir: Option<PathBuf>,
    /// `check`: do everything but write.
    pub dry_run: bool,
    /// Show a progress bar (on a terminal, for long builds).
    pub progress: bool,
    /// Settings put over the config.
    pub overrides: Overrides,
    /// HTML pages or Markdown for another generator.
    pub emit: Emit,
}

/// What a build did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Pages built (drafts excluded).
    pub pages: usize,
    /// Paid sections found.
    pub paid_sections: usize,
    /// What happened to the goods.
    pub sync: SyncReport,
    /// Wall time.
    pub elapsed: Duration,
    /// Where the HTML went.
    pub out_dir: PathBuf,
    /// Where the bundle went.
    pub bundle_path: PathBuf,
    /// Whether the output directory, the bundle and the lock changed on disk.
    pub changed: (bool, bool, bool),
    /// A master key created by this build (first use of a new site).
    pub created_key: Option<PathBuf>,
}

/// The key and where it came from, or a fresh one.
struct KeyChoice {
    key: MasterKey,
    created: Option<PathBuf>,
}

/// Loads the master key; on the first build of a site (no key, no lock) creates one.
fn choose_key(
    site_dir: &Path,
    config: &Config,
    lock: Option<&Lock>,
    dry_run: bool,
) -> Result<KeyChoice> {
    site_key(site_dir, &config.satoshipay.key_file, lock, dry_run)
        .map(|(key, created)| KeyChoice { key, created })
}

/// The master key of the site in `site_dir` (`SATOSHIPRESS_KEY`, else `key_file` relative to
/// it). With no key and no `lock` yet, a new key is created and git-ignored (unless
/// `dry_run`, which gets a throwaway key); the path of a created key is returned too.
pub fn site_key(
    site_dir: &Path,
    key_file_rel: &Path,
    lock: Option<&Lock>,
    dry_run: bool,
) -> Result<(MasterKey, Option<PathBuf>)> {
    let key_file = site_dir.join(key_file_rel);
    let env = std::env::var(KEY_ENV).ok();
    match MasterKey::load(env.as_deref(), &key_file) {
        Ok((key, _)) => Ok((key, None)),
        Err(KeyError::Missing { .. }) if lock.is_none() && dry_run => Ok((MasterKey::generate()?, None)),
        Err(KeyError::Missing { .. }) if lock.is_none() => {
            let key = MasterKey::generate()?;
            write_new_key(&key, &key_file)?;
            ensure_gitignored(site_dir, key_file_rel)?;
            Ok((key, Some(key_file)))
        }
        Err(e @ KeyError::Missing { .. }) => Err(anyhow::Error::new(e).context(format!(
            "`{}` exists, so this site's goods were made with a master key: restore that key (the key file or ${KEY_ENV}); a new key would change every id and secret",
            site_dir.join(LOCK_FILE).display()
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Writes a new key file, readable by its owner only. Never overwrites one.
pub fn write_new_key(key: &MasterKey, path: &Path) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    crate::fs::create_dir_all(crate::fs::parent_dir(path))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| {
            format!(
                "failed to create the key file `{}` (it must not exist yet)",
                path.display()
            )
        })?;
    writeln!(file, "{}", key.to_base64())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("failed to write the key file `{}`", path.display()))
}

/// Adds `entry` to `SITE/.gitignore` unless it is there already.
pub fn ensure_gitignored(site_dir: &Path, entry: &Path) -> Result<()> {
    let path = site_dir.join(".gitignore");
    let line = format!("/{}", entry.to_string_lossy());
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    if old
        .lines()
        .any(|l| l.trim() == line || l.trim() == entry.to_string_lossy())
    {
        return Ok(());
    }
    let mut text = old;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!("# the master key: never commit it\n{line}\n"));
    crate::fs::write_atomic(&path, text.as_bytes(), None)
}

/// A site read and checked: every page parsed, the theme compiled.
pub struct LoadedSite {
    /// The config.
    pub config: Config,
    /// `SITE/content`.
    pub content_dir: PathBuf,
    /// What the content directory holds.
    pub sources: site::Sources,
    /// Pages, drafts left out, sorted by path.
    pub pages: Vec<Page>,
    /// The compiled theme.
    pub theme: Theme,
    /// The progress bar of this run (hidden unless asked for on a terminal).
    progress: indicatif::ProgressBar,
}

/// Problems between pages: two pages writing one URL, a `template:` the theme lacks.
pub fn check_pages(
    pages: &[Page],
    theme: &Theme,
    config: &Config,
    content_dir: &Path,
) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    let mut by_dir: HashMap<&str, &Page> = HashMap::new();
    for p in pages {
        if let Some(other) = by_dir.insert(&p.dir, p) {
            problems.push(Diagnostic::new(
                &content_dir.join(&p.rel_path),
                0,
                format!(
                    "this page and `{}` would both be written to `{}`; rename one",
                    other.rel_path,
                    index_file(&p.dir)
                ),
            ));
        }
        if let Some(t) = &p.template
            && !theme.has(t)
        {
            problems.push(Diagnostic::new(
                &content_dir.join(&p.rel_path),
                0,
                format!(
                    "template `{t}` does not exist; add `{}` or remove `template:`",
                    config.site.templates_dir.join(t).display()
                ),
            ));
        }
    }
    problems
}

/// Settings a command puts over the config (the preview server builds for localhost).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `site.base_url`.
    pub base_url: Option<String>,
    /// `satoshipay.content_api`.
    pub content_api: Option<String>,
    /// `satoshipay.widget_url`.
    pub widget_url: Option<String>,
    /// `satoshipay.bundle` (absolute, or relative to the site).
    pub bundle: Option<PathBuf>,
}

impl Overrides {
    /// Applies the overrides to `config`.
    pub fn apply(&self, config: &mut Config) {
        if let Some(v) = &self.base_url {
            config.site.base_url = v.trim_end_matches('/').to_string();
        }
        if let Some(v) = &self.content_api {
            config.satoshipay.content_api = v.trim_end_matches('/').to_string();
        }
        if let Some(v) = &self.widget_url {
            config.satoshipay.widget_url = v.clone();
        }
        if let Some(v) = &self.bundle {
            config.satoshipay.bundle = v.clone();
        }
    }
}

/// Reads, parses and checks a site; every problem is returned together as [`Diagnostics`].
pub fn load_site(site_dir: &Path, show_progress: bool) -> Result<LoadedSite> {
    load_site_with(site_dir, show_progress, &Overrides::default())
}

/// [`load_site`] with settings put over the config.
pub fn load_site_with(
    site_dir: &Path,
    show_progress: bool,
    overrides: &Overrides,
) -> Result<LoadedSite> {
    let mut config = Config::load(site_dir)?;
    overrides.apply(&mut config);
    let content_dir = site_dir.join(&config.site.content_dir);
    let sources = site::scan(&content_dir)?;

    let progress = progress_bar(show_progress, sources.pages.len());
    progress.set_message("parsing");
    let parsed: Vec<Result<Page, Vec<Diagnostic>>> = sources
        .pages
        .par_iter()
        .map(|src| {
            let result = match std::fs::read_to_string(&src.path) {
                Ok(text) => Page::parse(&src.rel, &src.path, &text),
                Err(e) => Err(vec![Diagnostic::new(
                    &src.path,
                    0,
                    format!("cannot read this page: {e}"),
                )]),
            };
            progress.inc(1);
            result
        })
        .collect();

    let mut problems = Vec::new();
    let mut pages = Vec::new();
    for result in parsed {
        match result {
            Ok(p) if p.draft => {}
            Ok(p) => pages.push(p),
            Err(mut ps) => problems.append(&mut ps),
        }
    }
    let theme = Theme::load(&site_dir.join(&config.site.templates_dir));
    let theme = match theme {
        Ok(t) => Some(t),
        Err(mut ps) => {
            problems.append(&mut ps);
            None
        }
    };
    if let Some(theme) = &theme {
        problems.extend(check_pages(&pages, theme, &config, &content_dir));
    }
    if !problems.is_empty() {
        progress.finish_and_clear();
        problems.sort();
        return Err(Diagnostics(problems).into());
    }
    let theme = theme.expect("no problems means the theme loaded");
    pages.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
    Ok(LoadedSite {
        config,
        content_dir,
        sources,
        pages,
        theme,
        progress,
    })
}

/// The goods one page wants registered.
pub fn page_goods<'p>(
    page: &'p Page,
    base_url: &'p str,
    key: &'p MasterKey,
) -> impl Iterator<Item = WantedGood> + 'p {
    page.paid.iter().map(move |part| WantedGood {
        key: page.good_key(&part.name),
        price: part.price,
        title: format!(
            "{} — {}",
            page.title,
            part.title.as_deref().unwrap_or(&part.name)
        ),
        url: format!("{base_url}/{}#{}", url_of(&page.dir), part.name),
        digest: key.content_digest(part.html.as_bytes()),
    })
}

/// The goods a site's pages want registered, sorted by key.
pub fn wanted_goods(pages: &[Page], base_url: &str, key: &MasterKey) -> Vec<WantedGood> {
    let mut wanted: Vec<WantedGood> = pages
        .iter()
        .flat_map(|p| page_goods(p, base_url, key))
        .collect();
    wanted.sort_by(|a, b| a.key.cmp(&b.key));
    wanted
}

/// Runs the pipeline. On any error nothing is written; on success the output directory, the
/// bundle and the lock are replaced (each only if its bytes changed). With the `api`
/// registry the lock is also written after every batch sent to the API, so that it always
/// holds what the API holds.
pub fn build(opts: &Options) -> Result<Outcome> {
    build_with_state(opts, &mut bundle::SealCache::default()).map(|(outcome, _)| outcome)
}

/// What a successful build knows, for a watch session to carry on from.
pub struct BuiltState {
    /// The site as built.
    pub site: LoadedSite,
    /// The master key.
    pub key: MasterKey,
    /// The lock as written.
    pub lock: Lock,
}

/// [`build`], also returning the site, key and lock it used; `seal_cache` ends up holding
/// every sealed entry, for a watch session to reseal only what changes.
pub fn build_with_state(
    opts: &Options,
    seal_cache: &mut bundle::SealCache,
) -> Result<(Outcome, BuiltState)> {
    let started = Instant::now();
    if opts.emit == Emit::Markdown && opts.out_dir.is_none() {
        anyhow::bail!(
            "`--emit markdown` needs `--out DIR`: the directory your generator reads (a Hugo or Zola site's content/, say)"
        );
    }
    let site_dir = &opts.site_dir;
    let LoadedSite {
        config,
        content_dir,
        sources,
        pages,
        theme,
        progress,
    } = load_site_with(site_dir, opts.progress, &opts.overrides)?;
    let registry_kind = opts.registry.unwrap_or(config.satoshipay.registry);

    // Goods.
    let lock_path = site_dir.join(LOCK_FILE);
    let old_lock = Lock::load(&lock_path)?;
    let KeyChoice { key, created } =
        choose_key(site_dir, &config, old_lock.as_ref(), opts.dry_run)?;
    let old_lock = match old_lock {
        Some(lock) if lock.key_fingerprint != key.fingerprint() && created.is_none() => {
            anyhow::bail!(
                "`{}` was made with another master key (fingerprint {}, this key has {}); use the key this site was built with, or delete the lock to register every good anew",
                lock_path.display(),
                lock.key_fingerprint,
                key.fingerprint()
            );
        }
        Some(lock) if lock.registry == registry_kind => lock,
        _ => Lock::new(registry_kind, key.fingerprint()),
    };
    let base = &config.site.base_url;
    let wanted = wanted_goods(&pages, base, &key);
    let (lock, sync) = match (registry_kind, opts.dry_run) {
        (_, true) => PreviewRegistry { key: &key }.sync(&wanted, &old_lock)?,
        (RegistryKind::Local, false) => LocalRegistry::new(&key).sync(&wanted, &old_lock)?,
        (RegistryKind::Api, false) => {
            let client = ApiClient::from_env()?;
            ApiRegistry {
                client: &client,
                key: &key,
                lock_path: &lock_path,
                batch_size: config.satoshipay.batch_size,
                progress: opts.progress,
            }
            .sync(&wanted, &old_lock)?
        }
    };

    // Render.
    let out_dir = opts
        .out_dir
        .clone()
        .unwrap_or_else(|| site_dir.join(&config.site.output_dir));
    let sink = if opts.dry_run {
        Sink::Discard
    } else {
        Sink::staging_for(&out_dir)?
    };
    let renderer = Renderer::new(&config, &theme, &pages, &lock);
    progress.set_message("rendering");
    progress.set_position(0);
    match opts.emit {
        Emit::Html => render_html_site(
            &renderer,
            &pages,
            &sink,
            &sources,
            site_dir,
            &config,
            &content_dir,
            &progress,
        )?,
        Emit::Markdown => {
            pages.par_iter().try_for_each(|page| -> Result<()> {
                let path = content_dir.join(&page.rel_path);
                let source = crate::fs::read_to_string(&path)?;
                let tags = renderer.content_items(page, true)?;
                sink.write(
                    &page.rel_path,
                    crate::emit::markdown(&crate::page::clean_source(&source), page, &tags)
                        .as_bytes(),
                )?;
                progress.inc(1);
                Ok(())
            })?;
            for f in &sources.assets {
                sink.copy(&f.rel, &f.path)?;
            }
        }
    }
    progress.finish_and_clear();

    // The bundle: every paid section, sealed.
    let entries = bundle_entries(&pages, &lock, &key);
    let sealed = bundle::seal_cached(&key, &entries, seal_cache);

    let bundle_path = site_dir.join(&config.satoshipay.bundle);
    let mut changed = (false, false, false);
    if !opts.dry_run {
        // Everything is written beside its destination first; only then is anything replaced.
        let bundle_file = StagedFile::new_if_changed(&bundle_path, &sealed, Some(0o644))?;
        let lock_file =
            StagedFile::new_if_changed(&lock_path, lock.to_text().as_bytes(), Some(0o644))?;
        changed.1 = bundle_file.is_some();
        changed.2 = lock_file.is_some();
        for file in [bundle_file, lock_file].into_iter().flatten() {
            file.commit()?;
        }
        changed.0 = sink.commit(&out_dir)?;
    }
    let outcome = Outcome {
        pages: pages.len(),
        paid_sections: entries.len(),
        sync,
        elapsed: started.elapsed(),
        out_dir,
        bundle_path,
        changed,
        created_key: created,
    };
    drop(renderer);
    let site = LoadedSite {
        config,
        content_dir,
        sources,
        pages,
        theme,
        progress,
    };
    Ok((outcome, BuiltState { site, key, lock }))
}

/// Pages, listings, feed, sitemap and files of an HTML build.
#[allow(clippy::too_many_arguments)]
fn render_html_site(
    renderer: &Renderer<'_>,
    pages: &[Page],
    sink: &Sink,
    sources: &site::Sources,
    site_dir: &Path,
    config: &Config,
    content_dir: &Path,
    progress: &indicatif::ProgressBar,
) -> Result<()> {
    pages.par_iter().try_for_each(|page| -> Result<()> {
        if let Some((path, html)) = renderer.page(page).with_context(|| {
            format!(
                "while rendering `{}`",
                content_dir.join(&page.rel_path).display()
            )
        })? {
            sink.write(&path, html.as_bytes())?;
        }
        progress.inc(1);
        Ok(())
    })?;
    for (path, html) in renderer.listings(pages)? {
        sink.write(&path, html.as_bytes())?;
    }
    sink.write("atom.xml", renderer.feed(pages)?.as_bytes())?;
    sink.write("sitemap.xml", renderer.sitemap(pages)?.as_bytes())?;

    // Files: the site's static/ and the content directory's non-page files, beside the pages.
    let static_dir = site_dir.join(&config.site.static_dir);
    if static_dir.is_dir() {
        for f in site::list_files(&static_dir)? {
            sink.copy(&f.rel, &f.path)?;
        }
    }
    for f in &sources.assets {
        sink.copy(&f.rel, &f.path)?;
    }
    Ok(())
}

fn progress_bar(wanted: bool, len: usize) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if wanted && len >= 500 && std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(len as u64);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{msg:>9} [{bar:30}] {pos}/{len} pages")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    }
}
