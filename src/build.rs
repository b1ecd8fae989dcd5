//! The build pipeline: scan, parse, register goods, render, seal, and commit the outputs
//! only when every step succeeded.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rayon::prelude::*;

use crate::bundle;
use crate::cache::{BuildCache, CachedPage};
use crate::config::{Config, LOCK_FILE, RegistryKind};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::fs::StagedFile;
use crate::goods::{
    ApiClient, ApiRegistry, LocalRegistry, Lock, PreviewRegistry, Registry, SyncReport, WantedGood,
};
use crate::key::{KEY_ENV, KeyError, MasterKey};
use crate::output::Sink;
use crate::page::Page;
use crate::render::{GoodIds, IdRule, Renderer, SiteLayout, index_file};
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
    /// Of those, pages whose source had not changed, taken from the build cache.
    pub cached: usize,
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

/// Adds the master key file `entry` to `SITE/.gitignore` unless it is there already.
pub fn ensure_gitignored(site_dir: &Path, entry: &Path) -> Result<()> {
    gitignore(site_dir, entry, "the master key: never commit it")
}

/// Adds `entry` to `SITE/.gitignore`, under the comment `why`, unless it is there already.
pub fn gitignore(site_dir: &Path, entry: &Path, why: &str) -> Result<()> {
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
    text.push_str(&format!("# {why}\n{line}\n"));
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
}

/// Problems between pages: two pages writing one URL, a `template:` the theme lacks.
pub fn check_pages(
    pages: &[Page],
    theme: &Theme,
    config: &Config,
    content_dir: &Path,
) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    let pagination: HashMap<String, String> =
        crate::render::listing_pages(&SiteLayout::of(pages), pages, config.site.per_page)
            .into_iter()
            .flat_map(|(dir, total)| {
                (2..=total).map(move |n| (crate::render::listing_page_dir(&dir, n), dir.clone()))
            })
            .collect();
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
        if let Some(listing) = pagination.get(&p.dir) {
            problems.push(Diagnostic::new(
                &content_dir.join(&p.rel_path),
                0,
                format!(
                    "this page would be written to `{}`, where page {} of the listing of `{}/` goes; rename it, or change `site.per_page`",
                    index_file(&p.dir),
                    p.dir.rsplit('/').next().unwrap_or_default(),
                    listing
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

/// Adds the problems between pages to `problems` and fails with all of them, sorted, if
/// there are any.
fn fail_on_problems(
    mut problems: Vec<Diagnostic>,
    pages: &[Page],
    theme: Option<&Theme>,
    config: &Config,
    content_dir: &Path,
    progress: &indicatif::ProgressBar,
) -> Result<()> {
    if let Some(theme) = theme {
        problems.extend(check_pages(pages, theme, config, content_dir));
    }
    if problems.is_empty() {
        return Ok(());
    }
    progress.finish_and_clear();
    problems.sort();
    Err(Diagnostics(problems).into())
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
    fail_on_problems(
        problems,
        &pages,
        theme.as_ref(),
        &config,
        &content_dir,
        &progress,
    )?;
    let theme = theme.expect("no problems means the theme loaded");
    pages.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
    progress.finish_and_clear();
    Ok(LoadedSite {
        config,
        content_dir,
        sources,
        pages,
        theme,
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
        url: crate::render::good_url(base_url, page, &part.name),
        digest: part
            .digest
            .clone()
            .unwrap_or_else(|| key.content_digest(part.html.as_bytes())),
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
///
/// The build streams: each page is read once, parsed, rendered, written and its paid
/// sections sealed into the bundle while the other pages are still being read, and what is
/// kept of it afterwards is what listings, the feed, the sitemap and the goods need. Peak
/// memory is that index plus the pages in flight, not the site.
pub fn build(opts: &Options) -> Result<Outcome> {
    run(opts, None).map(|(outcome, _)| outcome)
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

/// [`build`], keeping every page whole and returning the site, key and lock it used;
/// `seal_cache` ends up holding every sealed entry, for a watch session to reseal only what
/// changes.
pub fn build_with_state(
    opts: &Options,
    seal_cache: &mut bundle::SealCache,
) -> Result<(Outcome, BuiltState)> {
    let (outcome, state) = run(opts, Some(seal_cache))?;
    Ok((
        outcome,
        state.expect("a build that keeps pages returns them"),
    ))
}

/// Pages processed together; their sealed entries reach the bundle in page order.
const CHUNK: usize = 256;

/// Entries of the Atom feed.
const FEED_LEN: usize = 20;

/// What one page came to in a pass.
enum Processed {
    /// A draft: not built.
    Draft,
    /// Parsed (and, unless `deferred`, rendered, written and sealed).
    Page {
        page: Box<Page>,
        /// `(good id, sealed entry)` per paid section, in order.
        sealed: Vec<(String, Vec<u8>)>,
        /// The entries, when the pages are kept (watch).
        entries: Vec<bundle::Entry>,
        /// Not rendered: a good of it has no id before the sync.
        deferred: bool,
        /// The source's hash, for the next build's cache.
        hash: Option<String>,
        /// The output file, relative to the output directory.
        output: Option<String>,
        /// Its size and modification time in the new output.
        kept: Option<(u64, u128)>,
    },
    /// Problems for the author.
    Failed(Vec<Diagnostic>),
}

/// The newest pages, with their free HTML, for the feed.
/// Pages taken from the build cache come without their free HTML: the flag marks them, to
/// be read again should they make the feed.
struct FeedPicks(std::sync::Mutex<Vec<(Page, bool)>>);

impl FeedPicks {
    fn offer(&self, page: &Page, cached: bool) {
        let mut picks = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let worst = picks.last();
        if picks.len() < FEED_LEN
            || worst.is_some_and(|(w, _)| crate::render::listing_order(page, w).is_lt())
        {
            let mut pick = page.clone();
            for part in &mut pick.paid {
                part.html = String::new();
            }
            let at = picks
                .binary_search_by(|(p, _)| crate::render::listing_order(p, &pick))
                .unwrap_or_else(|i| i);
            picks.insert(at, (pick, cached));
            picks.truncate(FEED_LEN);
        }
    }

    /// The picks, those from the cache read again for their free HTML.
    fn take(self, content_dir: &Path) -> Result<Vec<Page>> {
        let picks = self.0.into_inner().unwrap_or_else(|p| p.into_inner());
        picks
            .into_iter()
            .map(|(page, cached)| {
                if !cached {
                    return Ok(page);
                }
                let path = content_dir.join(&page.rel_path);
                let text = crate::fs::read_to_string(&path)?;
                let mut fresh = Page::parse(&page.rel_path, &path, &text).map_err(|ps| {
                    anyhow::Error::new(Diagnostics(ps)).context("a page changed during the build")
                })?;
                for part in &mut fresh.paid {
                    part.html = String::new();
                }
                Ok(fresh)
            })
            .collect()
    }
}

/// What both passes over the pages share.
#[derive(Clone, Copy)]
struct Shared<'a> {
    opts: &'a Options,
    content_dir: &'a Path,
    key: &'a MasterKey,
    sealer: &'a bundle::Sealer,
    keep: bool,
    failed: &'a std::sync::atomic::AtomicBool,
    progress: &'a indicatif::ProgressBar,
    out_dir: &'a Path,
    hashing: bool,
    hits: &'a std::sync::atomic::AtomicUsize,
}

impl<'a> Shared<'a> {
    /// A pass rendering with `renderer` (none: parse only) into `sink`, taking cached pages'
    /// sealed entries from `old_bundle`.
    fn pass(
        self,
        theme: Option<&'a Theme>,
        renderer: Option<&'a Renderer<'a>>,
        sink: &'a Sink,
        feed: &'a FeedPicks,
        old_bundle: Option<&'a bundle::SealedEntries>,
    ) -> Pass<'a> {
        Pass {
            opts: self.opts,
            content_dir: self.content_dir,
            theme,
            renderer,
            key: self.key,
            sealer: self.sealer,
            sink,
            keep: self.keep,
            feed,
            failed: self.failed,
            progress: self.progress,
            out_dir: self.out_dir,
            hashing: self.hashing,
            old_bundle,
            hits: self.hits,
        }
    }
}

/// Everything a pass over the pages uses.
struct Pass<'a> {
    opts: &'a Options,
    content_dir: &'a Path,
    theme: Option<&'a Theme>,
    renderer: Option<&'a Renderer<'a>>,
    key: &'a MasterKey,
    sealer: &'a bundle::Sealer,
    sink: &'a Sink,
    keep: bool,
    feed: &'a FeedPicks,
    failed: &'a std::sync::atomic::AtomicBool,
    progress: &'a indicatif::ProgressBar,
    /// The output directory (where cached pages' files are).
    out_dir: &'a Path,
    /// Whether to hash sources for the next build's cache.
    hashing: bool,
    /// The bundle the last build wrote, when its cache holds (the cache's entries come to
    /// [`Pass::process`] one by one).
    old_bundle: Option<&'a bundle::SealedEntries>,
    /// Pages taken from the cache.
    hits: &'a std::sync::atomic::AtomicUsize,
}

impl Pass<'_> {
    /// Reads, parses, renders, writes and seals one page — or takes it from `cached`, what the
    /// last build's cache holds of it.
    fn process(&self, src: &site::SourceFile, cached: Option<CachedPage>) -> Result<Processed> {
        use std::sync::atomic::Ordering;
        self.progress.inc(1);
        let text = match std::fs::read_to_string(&src.path) {
            Ok(text) => text,
            Err(e) => {
                self.failed.store(true, Ordering::Relaxed);
                return Ok(Processed::Failed(vec![Diagnostic::new(
                    &src.path,
                    0,
                    format!("cannot read this page: {e}"),
                )]));
            }
        };
        let hash = self.hashing.then(|| crate::cache::source_hash(&text));
        if let (Some(hash), Some(r), Some(c)) = (&hash, self.renderer, cached)
            && !self.failed.load(Ordering::Relaxed)
            && let Some(hit) = self.cached(r, c, hash)
        {
            return Ok(hit);
        }
        let mut page = match Page::parse(&src.rel, &src.path, &text) {
            Ok(p) if p.draft => return Ok(Processed::Draft),
            Ok(p) => p,
            Err(problems) => {
                self.failed.store(true, Ordering::Relaxed);
                return Ok(Processed::Failed(problems));
            }
        };
        let template_ok = page
            .template
            .as_deref()
            .is_none_or(|t| self.theme.is_some_and(|theme| theme.has(t)));
        let mut sealed = Vec::new();
        let mut entries = Vec::new();
        let mut deferred = false;
        let mut output = None;
        let mut kept = None;
        // Once anything failed nothing will be committed: parse on, to report every problem.
        match self.renderer {
            Some(r) if template_ok && !self.failed.load(Ordering::Relaxed) => {
                let goods: Option<Vec<_>> = page
                    .paid
                    .iter()
                    .map(|s| r.goods().get(&page, &s.name))
                    .collect();
                if let Some(goods) = goods {
                    if let Some((rel, stamp)) = self.write(r, &page, &text)? {
                        output = Some(rel);
                        kept = stamp;
                    }
                    for (part, good) in page.paid.iter().zip(goods) {
                        let entry = bundle::Entry {
                            secret: self.key.good_secret(&good.key, good.generation),
                            id: good.id,
                            price: part.price,
                            content_type: "text/html; charset=utf-8".into(),
                            content: part.html.clone(),
                        };
                        if !self.opts.dry_run {
                            sealed.push((entry.id.clone(), self.sealer.seal(&entry)));
                        }
                        if self.keep {
                            entries.push(entry);
                        }
                    }
                } else {
                    deferred = true;
                }
            }
            _ => {}
        }
        let intro = self.renderer.is_some_and(|r| r.is_intro(&page));
        if !intro && !self.keep {
            self.feed.offer(&page, false);
        }
        if !self.keep {
            page.shed(|html| self.key.content_digest(html), intro);
        }
        Ok(Processed::Page {
            page: Box::new(page),
            sealed,
            entries,
            deferred,
            hash,
            output,
            kept,
        })
    }

    /// The page at `rel` as the build cache holds it, with its sealed entries from the
    /// bundle on disk and its output file kept — if every condition of [`crate::cache`]
    /// holds.
    fn cached(&self, r: &Renderer<'_>, c: CachedPage, hash: &str) -> Option<Processed> {
        let old_bundle = self.old_bundle?;
        let page = &c.page;
        if c.hash != hash || page.paid.len() != c.goods.len() {
            return None;
        }
        let mut sealed = Vec::with_capacity(c.goods.len());
        for (part, (id, generation)) in page.paid.iter().zip(&c.goods) {
            let good = r.goods().get(page, &part.name)?;
            if good.id != *id || good.generation != *generation {
                return None;
            }
            sealed.push((good.id, old_bundle.get(id)?));
        }
        let (output, kept) = match (&c.output, self.output_of(r, page)) {
            (None, None) => (None, None),
            (Some((rel, size, modified)), Some(want)) if *rel == want => {
                let stamp = crate::cache::stamp(&self.out_dir.join(rel))?;
                if stamp != (*size, *modified) {
                    return None;
                }
                (Some(want), Some(stamp))
            }
            _ => return None,
        };
        if let Some(rel) = &output {
            self.sink.keep(rel);
        }
        self.hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if !r.is_intro(page) {
            self.feed.offer(page, true);
        }
        Some(Processed::Page {
            page: Box::new(c.page),
            sealed,
            entries: Vec::new(),
            deferred: false,
            hash: Some(hash.to_string()),
            output,
            kept,
        })
    }

    /// The output file of a page, relative to the output directory.
    fn output_of(&self, r: &Renderer<'_>, page: &Page) -> Option<String> {
        match self.opts.emit {
            Emit::Html => (!r.is_intro(page)).then(|| index_file(&page.dir)),
            Emit::Markdown => Some(page.rel_path.clone()),
        }
    }

    /// Writes a page's output: its HTML, or its Markdown for another generator. Returns the
    /// file written, relative to the output directory, with its stamp.
    fn write(
        &self,
        r: &Renderer<'_>,
        page: &Page,
        text: &str,
    ) -> Result<Option<(String, Option<crate::cache::FileStamp>)>> {
        let path = self.content_dir.join(&page.rel_path);
        match self.opts.emit {
            Emit::Html => {
                let rendered = r
                    .page(page)
                    .with_context(|| format!("while rendering `{}`", path.display()))?;
                match rendered {
                    Some((rel, html)) => {
                        let stamp = self.sink.write_stamped(&rel, html.as_bytes())?;
                        Ok(Some((rel, stamp)))
                    }
                    None => Ok(None),
                }
            }
            Emit::Markdown => {
                let tags = r
                    .content_items(page, true)
                    .with_context(|| format!("while rendering `{}`", path.display()))?;
                let source = crate::page::clean_source(text);
                let stamp = self.sink.write_stamped(
                    &page.rel_path,
                    crate::emit::markdown(&source, page, &tags).as_bytes(),
                )?;
                Ok(Some((page.rel_path.clone(), stamp)))
            }
        }
    }
}

/// A page's source hash, output file and that file's stamp in the new output.
type Stamp = (Option<String>, Option<String>, Option<(u64, u128)>);

/// What a pass over the pages gathered.
#[derive(Default)]
struct Gathered {
    pages: Vec<Page>,
    /// Per page, for the next build's cache: its source hash, its output file, and that
    /// file's stamp when it was kept from the last build.
    stamps: Vec<Stamp>,
    problems: Vec<Diagnostic>,
    deferred: bool,
}

/// Runs `pass` over `sources` in order, appending sealed entries to `bundle` (when writing
/// one) and entries to `cache` (when keeping pages).
fn run_pass(
    pass: &Pass<'_>,
    sources: &[&site::SourceFile],
    mut bundle: Option<&mut bundle::BundleWriter<std::fs::File>>,
    mut cache: Option<&mut bundle::SealCache>,
    mut build_cache: Option<&mut HashMap<String, CachedPage>>,
) -> Result<Gathered> {
    let mut out = Gathered {
        pages: Vec::with_capacity(sources.len()),
        ..Gathered::default()
    };
    for chunk in sources.chunks(CHUNK) {
        // Each page's cache entry moves to the page (nothing is held twice).
        let cached: Vec<Option<CachedPage>> = chunk
            .iter()
            .map(|s| build_cache.as_deref_mut().and_then(|c| c.remove(&s.rel)))
            .collect();
        let done: Vec<Result<Processed>> = chunk
            .par_iter()
            .zip(cached)
            .map(|(s, c)| pass.process(s, c))
            .collect();
        for result in done {
            match result? {
                Processed::Draft => {}
                Processed::Failed(mut ps) => out.problems.append(&mut ps),
                Processed::Page {
                    page,
                    sealed,
                    entries,
                    deferred,
                    hash,
                    output,
                    kept,
                } => {
                    out.deferred |= deferred;
                    out.stamps.push((hash, output, kept));
                    if let Some(w) = bundle.as_deref_mut() {
                        for (id, bytes) in &sealed {
                            w.push(id, bytes).context("failed to write the bundle")?;
                        }
                    }
                    if let Some(c) = cache.as_deref_mut() {
                        for (entry, (_, bytes)) in entries.into_iter().zip(sealed) {
                            c.insert(entry, bytes);
                        }
                    }
                    // A copy made here lives in this thread's heap, apart from the workers' short-lived
                    // buffers, which they then reuse: the kept index does not pin their memory.
                    out.pages
                        .push(if pass.keep { *page } else { (*page).clone() });
                }
            }
        }
    }
    Ok(out)
}

/// The staged bundle file and its writer.
struct StagedBundle {
    writer: bundle::BundleWriter<std::fs::File>,
    staged: StagedFile,
}

impl StagedBundle {
    fn new(path: &Path, key: &MasterKey) -> Result<StagedBundle> {
        let staged = StagedFile::create(path, Some(0o644))?;
        let file = staged
            .file()
            .try_clone()
            .with_context(|| format!("failed to open a temporary file for `{}`", path.display()))?;
        let writer = bundle::BundleWriter::new(key, file)
            .with_context(|| format!("failed to write `{}`", path.display()))?;
        Ok(StagedBundle { writer, staged })
    }
}

/// The build: see [`build`]. With `keep`, pages stay whole and sealed entries go to `keep`.
fn run(
    opts: &Options,
    keep: Option<&mut bundle::SealCache>,
) -> Result<(Outcome, Option<BuiltState>)> {
    let started = Instant::now();
    if opts.emit == Emit::Markdown && opts.out_dir.is_none() {
        anyhow::bail!(
            "`--emit markdown` needs `--out DIR`: the directory your generator reads (a Hugo or Zola site's content/, say)"
        );
    }
    let site_dir = &opts.site_dir;
    let mut config = Config::load(site_dir)?;
    opts.overrides.apply(&mut config);
    let content_dir = site_dir.join(&config.site.content_dir);
    let sources = site::scan(&content_dir)?;
    let mut problems = Vec::new();
    let theme = match Theme::load(&site_dir.join(&config.site.templates_dir)) {
        Ok(t) => Some(t),
        Err(mut ps) => {
            problems.append(&mut ps);
            None
        }
    };
    let registry_kind = opts.registry.unwrap_or(config.satoshipay.registry);

    // The key and the lock come first: pages are sealed as they are rendered.
    let lock_path = site_dir.join(LOCK_FILE);
    let old_lock = Lock::load(&lock_path)?;
    let (key, new_key) = build_key(site_dir, &config, old_lock.as_ref(), opts.dry_run)?;
    let old_lock = match old_lock {
        Some(lock) if lock.key_fingerprint != key.fingerprint() && new_key.is_none() => {
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
    let base = config.site.base_url.clone();
    let out_dir = opts
        .out_dir
        .clone()
        .unwrap_or_else(|| site_dir.join(&config.site.output_dir));
    let bundle_path = site_dir.join(&config.satoshipay.bundle);
    let progress = progress_bar(opts.progress, sources.pages.len());
    progress.set_message("building");

    // The site's layout (listings, navigation) is foreseen from the paths and the index
    // pages, and the goods' ids from the old lock, so that every page is rendered as it is
    // parsed. Both are checked once every page is parsed; if either was foreseen wrong (a
    // directory of drafts only, a good the API registers anew), the pages go through again.
    let is_index = |s: &&site::SourceFile| {
        let name = s.rel.rsplit('/').next().unwrap_or(&s.rel);
        name == "index.md" || name == "_index.md"
    };
    let indexes: Vec<Page> = sources
        .pages
        .par_iter()
        .filter(is_index)
        .filter_map(|s| {
            let text = std::fs::read_to_string(&s.path).ok()?;
            Page::parse(&s.rel, &s.path, &text)
                .ok()
                .filter(|p| !p.draft)
        })
        .collect();
    let page_dirs: Vec<String> = sources
        .pages
        .iter()
        .filter(|s| !is_index(s))
        .map(|s| crate::markdown::page_dir(&s.rel))
        .collect();
    let foreseen_layout = SiteLayout::new(
        page_dirs.iter().map(String::as_str),
        indexes.iter().map(|p| (p.dir.as_str(), p.title.as_str())),
    );
    drop((indexes, page_dirs));
    let ids = GoodIds::Foreseen {
        key: &key,
        old: &old_lock,
        ids: match (registry_kind, opts.dry_run) {
            (_, true) => IdRule::Kept,
            (RegistryKind::Local, false) => IdRule::Derived,
            (RegistryKind::Api, false) => IdRule::Assigned,
        },
        base_url: &base,
    };
    let sealer = bundle::Sealer::new(&key);
    let failed = std::sync::atomic::AtomicBool::new(!problems.is_empty());
    let all: Vec<&site::SourceFile> = sources.pages.iter().collect();
    let new_sink = || -> Result<Sink> {
        if opts.dry_run {
            Ok(Sink::Discard)
        } else {
            Sink::staging_for(&out_dir)
        }
    };
    let new_bundle = || -> Result<Option<StagedBundle>> {
        if opts.dry_run {
            Ok(None)
        } else {
            StagedBundle::new(&bundle_path, &key).map(Some)
        }
    };

    // The last build's cache, if this build may use it: everything but the pages must be as
    // it was, and the bundle on disk the one that build wrote.
    let hashing = !opts.dry_run && keep.is_none();
    let fingerprint = hashing.then(|| {
        crate::cache::fingerprint(&[
            format!("{config:?}").as_bytes(),
            theme.as_ref().map_or(&[][..], |t| &t.fingerprint()[..]),
            key.fingerprint().as_bytes(),
            out_dir.to_string_lossy().as_bytes(),
            format!("{:?} {registry_kind:?} {foreseen_layout:?}", opts.emit).as_bytes(),
        ])
    });
    let old_cache = fingerprint
        .as_deref()
        .and_then(|f| BuildCache::load(site_dir, f))
        .and_then(|c| {
            let sealed = bundle::SealedEntries::open(&key, &bundle_path).ok()?;
            (sealed.version() == c.bundle_version).then_some((c, sealed))
        });
    // What the next build needs to know of this cache once its pages are taken.
    let old_cache_state = old_cache
        .as_ref()
        .map(|(c, _)| (c.bundle_version.clone(), c.pages.len()));
    let (mut cached_pages, old_bundle) = match old_cache {
        Some((c, sealed)) => (Some(c.pages), Some(sealed)),
        None => (None, None),
    };

    let hits = std::sync::atomic::AtomicUsize::new(0);
    let shared = Shared {
        opts,
        content_dir: &content_dir,
        key: &key,
        sealer: &sealer,
        keep: keep.is_some(),
        failed: &failed,
        progress: &progress,
        out_dir: &out_dir,
        hashing,
        hits: &hits,
    };
    let foreseen = theme
        .as_ref()
        .map(|t| Renderer::with(&config, t, foreseen_layout.clone(), ids));
    let mut sink = new_sink()?;
    let mut staged_bundle = new_bundle()?;
    let mut feed = FeedPicks(Default::default());
    let mut cache_pass = bundle::SealCache::default();
    let first = run_pass(
        &shared.pass(
            theme.as_ref(),
            foreseen.as_ref(),
            &sink,
            &feed,
            old_bundle.as_ref(),
        ),
        &all,
        staged_bundle.as_mut().map(|b| &mut b.writer),
        keep.is_some().then_some(&mut cache_pass),
        cached_pages.as_mut(),
    )?;
    drop((cached_pages, old_bundle));
    let Gathered {
        mut pages,
        mut stamps,
        problems: mut page_problems,
        deferred,
    } = first;
    problems.append(&mut page_problems);
    fail_on_problems(
        problems,
        &pages,
        theme.as_ref(),
        &config,
        &content_dir,
        &progress,
    )?;
    let theme_ref = theme.as_ref().expect("no problems means the theme loaded");
    let foreseen = foreseen.expect("the theme loaded");

    // Goods.
    let wanted = wanted_goods(&pages, &base, &key);
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
    let layout = SiteLayout::of(&pages);
    let foreseen_right = !deferred
        && layout == foreseen_layout
        && pages.iter().all(|p| {
            p.paid.iter().all(|s| {
                let (Some(f), Some(l)) = (
                    foreseen.goods().get(p, &s.name),
                    lock.get(&p.good_key(&s.name)),
                ) else {
                    return false;
                };
                f.id == l.id && f.url == l.url && f.generation == l.generation
            })
        });
    drop(foreseen);
    let renderer = Renderer::with(&config, theme_ref, layout, GoodIds::of_lock(&lock));
    if !foreseen_right {
        // Again, with the ids the registry gave and the layout the pages have: a fresh output
        // and bundle, so nothing rendered with a foreseen id survives.
        progress.set_position(0);
        hits.store(0, std::sync::atomic::Ordering::Relaxed);
        sink = new_sink()?;
        staged_bundle = new_bundle()?;
        feed = FeedPicks(Default::default());
        cache_pass = bundle::SealCache::default();
        let again = run_pass(
            &shared.pass(Some(theme_ref), Some(&renderer), &sink, &feed, None),
            &all,
            staged_bundle.as_mut().map(|b| &mut b.writer),
            keep.is_some().then_some(&mut cache_pass),
            None,
        )?;
        let unchanged = again.problems.is_empty()
            && wanted_goods(&again.pages, &base, &key) == wanted
            && !again.deferred;
        if !unchanged {
            anyhow::bail!(
                "pages changed while the site was being built; build again (nothing was written)"
            );
        }
        pages = again.pages;
        stamps = again.stamps;
    }
    // Listings, feed, sitemap and files.
    match opts.emit {
        Emit::Html => {
            renderer.each_listing(&pages, |path, html| sink.write(&path, html.as_bytes()))?;
            let feed_pages = if keep.is_some() {
                pages.clone()
            } else {
                feed.take(&content_dir)?
            };
            sink.write("atom.xml", renderer.feed(&feed_pages)?.as_bytes())?;
            renderer.sitemaps(&pages, |path, xml| sink.write(&path, xml.as_bytes()))?;
            let static_dir = site_dir.join(&config.site.static_dir);
            if static_dir.is_dir() {
                for f in site::list_files(&static_dir)? {
                    sink.copy(&f.rel, &f.path)?;
                }
            }
        }
        Emit::Markdown => {}
    }
    for f in &sources.assets {
        sink.copy(&f.rel, &f.path)?;
    }
    progress.finish_and_clear();

    let mut changed = (false, false, false);
    let created = if opts.dry_run {
        None
    } else {
        // Everything is written beside its destination first; only then is anything replaced.
        let mut bundle_version = String::new();
        let bundle_file = match staged_bundle {
            Some(StagedBundle { writer, staged }) => {
                (_, bundle_version) = writer
                    .finish()
                    .with_context(|| format!("failed to write `{}`", bundle_path.display()))?;
                staged.if_changed()?
            }
            None => None,
        };
        let lock_file =
            StagedFile::new_if_changed(&lock_path, lock.to_text().as_bytes(), Some(0o644))?;
        changed.1 = bundle_file.is_some();
        changed.2 = lock_file.is_some();
        let created = match new_key {
            Some(path) => {
                write_new_key(&key, &path)?;
                ensure_gitignored(site_dir, &config.satoshipay.key_file)?;
                Some(path)
            }
            None => None,
        };
        for file in [bundle_file, lock_file].into_iter().flatten() {
            file.commit()?;
        }
        changed.0 = sink.commit(&out_dir)?;
        if let Some(fingerprint) = fingerprint {
            save_cache(
                site_dir,
                fingerprint,
                bundle_version,
                &pages,
                &stamps,
                &lock,
                old_cache_state.as_ref(),
                hits.load(std::sync::atomic::Ordering::Relaxed),
            );
        }
        created
    };
    let outcome = Outcome {
        pages: pages.len(),
        cached: hits.load(std::sync::atomic::Ordering::Relaxed),
        paid_sections: wanted.len(),
        sync,
        elapsed: started.elapsed(),
        out_dir,
        bundle_path,
        changed,
        created_key: created,
    };
    drop(renderer);
    let state = match keep {
        Some(cache) => {
            *cache = cache_pass;
            pages.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
            Some(BuiltState {
                site: LoadedSite {
                    config,
                    content_dir,
                    sources,
                    pages,
                    theme: theme.expect("the theme loaded"),
                },
                key,
                lock,
            })
        }
        None => None,
    };
    Ok((outcome, state))
}

/// Writes the cache for the next build. Best effort: the outputs are already in place, and a
/// missing cache only means the next build does all the work.
#[allow(clippy::too_many_arguments)]
fn save_cache(
    site_dir: &Path,
    fingerprint: String,
    bundle_version: String,
    pages: &[Page],
    stamps: &[Stamp],
    lock: &Lock,
    old: Option<&(String, usize)>,
    hits: usize,
) {
    // Every page came from the cache, and the bundle is the one it names: it stands as is.
    if hits == pages.len()
        && old.is_some_and(|(version, len)| *version == bundle_version && *len == hits)
    {
        return;
    }
    let mut cache = crate::cache::NewCache::new(&fingerprint, &bundle_version);
    for (page, (hash, output, stamp)) in pages.iter().zip(stamps) {
        let Some(hash) = hash else { continue };
        let output = match (output, stamp) {
            (Some(rel), Some((size, modified))) => Some((rel.as_str(), *size, *modified)),
            (Some(_), None) => continue,
            (None, _) => None,
        };
        let Some(goods) = page
            .paid
            .iter()
            .map(|s| {
                lock.get(&page.good_key(&s.name))
                    .map(|g| (g.id.as_str(), g.generation))
            })
            .collect::<Option<Vec<_>>>()
        else {
            continue;
        };
        cache.pages.insert(
            &page.rel_path,
            crate::cache::NewPage {
                hash,
                page,
                output,
                goods,
            },
        );
    }
    if let Err(e) = cache.save(site_dir) {
        let _ = std::fs::remove_file(site_dir.join(crate::cache::CACHE_FILE));
        eprintln!(
            "warning: the build cache could not be written ({e:#}); the next build will do all the work"
        );
    }
}

/// The master key, and where to write it when this build made it (first build of a site:
/// the key is written only if the build succeeds).
fn build_key(
    site_dir: &Path,
    config: &Config,
    lock: Option<&Lock>,
    dry_run: bool,
) -> Result<(MasterKey, Option<PathBuf>)> {
    let key_file = site_dir.join(&config.satoshipay.key_file);
    let env = std::env::var(KEY_ENV).ok();
    match MasterKey::load(env.as_deref(), &key_file) {
        Err(KeyError::Missing { .. }) if lock.is_none() => {
            Ok((MasterKey::generate()?, (!dry_run).then_some(key_file)))
        }
        _ => site_key(site_dir, &config.satoshipay.key_file, lock, dry_run)
            .map(|(key, _)| key)
            .map(|key| (key, None)),
    }
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
