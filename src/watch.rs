//! Watch mode: a build that stays in memory and, on a file change, redoes only what the
//! change touches — a page re-renders that page (and the listings, feed and sitemap when what
//! they show changed), a template re-renders every page, the config rebuilds everything. A
//! rebuild that finds problems writes nothing, so the last good output stays.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rayon::prelude::*;

use crate::build::{BuiltState, LoadedSite, Options, build_with_state, check_pages, wanted_goods};
use crate::bundle;
use crate::config::{CONFIG_FILE, LOCK_FILE, RegistryKind};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::fs::StagedFile;
use crate::goods::{ApiClient, ApiRegistry, LocalRegistry, Lock, Registry};
use crate::page::Page;
use crate::render::{Renderer, bundle_entries, index_file};
use crate::site::is_ignored;
use crate::theme::Theme;

/// What one rebuild did.
#[derive(Debug, Clone, Default)]
pub struct Rebuilt {
    /// Pages parsed again.
    pub parsed: usize,
    /// Output files written (unchanged files are not rewritten).
    pub written: usize,
    /// Output files removed.
    pub removed: usize,
    /// Whether the whole site was rebuilt (config change, or recovering from a failed start).
    pub full: bool,
    /// How long it took.
    pub elapsed: Duration,
    /// A master key this build created (the first build of a new site).
    pub created_key: Option<PathBuf>,
}

/// A site kept in memory between rebuilds.
pub struct Session {
    opts: Options,
    state: Option<BuiltState>,
    out_dir: PathBuf,
    seal_cache: bundle::SealCache,
}

/// Where a changed path belongs.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Touched {
    Config,
    Template,
    Page(String),
    Asset(String),
    Static(String),
}

impl Session {
    /// Builds the site in full. A failed first build is returned as the error, and the
    /// session retries in full on the next change.
    pub fn start(opts: Options) -> (Session, Result<Rebuilt>) {
        let mut session = Session {
            out_dir: PathBuf::new(),
            state: None,
            opts,
            seal_cache: bundle::SealCache::default(),
        };
        let result = session.full();
        (session, result)
    }

    /// The output directory.
    pub fn out_dir(&self) -> &Path {
        &self.out_dir
    }

    /// The site as last built, if a build succeeded.
    pub fn site(&self) -> Option<&LoadedSite> {
        self.state.as_ref().map(|s| &s.site)
    }

    /// Paths a watcher should ignore: outputs, the bundle, the lock, the key, hidden and
    /// editor temporary files (`.x.swp`, `x~`, `#x#`, `.#x`).
    pub fn ignores(&self, path: &Path) -> bool {
        let site = &self.opts.site_dir;
        let rel = path.strip_prefix(site).unwrap_or(path);
        if path.starts_with(&self.out_dir)
            || rel == Path::new(LOCK_FILE)
            || rel
                .components()
                .any(|c| is_ignored(Path::new(c.as_os_str())))
        {
            return true;
        }
        let Some(state) = &self.state else {
            return false;
        };
        let pay = &state.site.config.satoshipay;
        let bundle = site.join(&pay.bundle);
        rel == pay.key_file
            || path == bundle
            || (pay.bundle.components().count() > 1
                && path.starts_with(crate::fs::parent_dir(&bundle)))
    }

    fn full(&mut self) -> Result<Rebuilt> {
        let started = Instant::now();
        // The build leaves every sealed entry in the cache: a rebuild reseals only what changed.
        let mut cache = bundle::SealCache::default();
        let (outcome, state) = build_with_state(&self.opts, &mut cache)?;
        self.seal_cache = cache;
        self.out_dir = outcome.out_dir.clone();
        let parsed = state.site.pages.len();
        self.state = Some(state);
        Ok(Rebuilt {
            parsed,
            written: usize::from(outcome.changed.0),
            removed: 0,
            full: true,
            elapsed: started.elapsed(),
            created_key: outcome.created_key,
        })
    }

    fn classify(&self, site: &LoadedSite, path: &Path) -> Option<Touched> {
        let dir = &self.opts.site_dir;
        let rel = path.strip_prefix(dir).ok()?;
        if rel == Path::new(CONFIG_FILE) {
            return Some(Touched::Config);
        }
        let as_rel = |p: &Path| p.to_str().map(|s| s.replace('\\', "/"));
        if let Ok(r) = rel.strip_prefix(&site.config.site.templates_dir) {
            return as_rel(r).map(|_| Touched::Template);
        }
        if let Ok(r) = rel.strip_prefix(&site.config.site.content_dir) {
            let r = as_rel(r)?;
            return Some(if r.ends_with(".md") {
                Touched::Page(r)
            } else {
                Touched::Asset(r)
            });
        }
        if let Ok(r) = rel.strip_prefix(&site.config.site.static_dir) {
            return as_rel(r).map(Touched::Static);
        }
        None
    }

    /// Rebuilds after `changed` paths changed (created, modified or removed). Problems are
    /// returned as [`Diagnostics`] and nothing is written.
    pub fn rebuild(&mut self, changed: &[PathBuf]) -> Result<Rebuilt> {
        let Some(state) = self.state.as_ref() else {
            return self.full();
        };
        let touched: BTreeSet<Touched> = changed
            .iter()
            .filter(|p| !self.ignores(p))
            .filter_map(|p| self.classify(&state.site, p))
            .collect();
        if touched.contains(&Touched::Config) {
            return self.full();
        }
        if touched.is_empty() {
            return Ok(Rebuilt::default());
        }
        let started = Instant::now();
        let state = self.state.as_mut().expect("checked above");
        let site = &mut state.site;
        let site_dir = &self.opts.site_dir;

        // Parse what changed; nothing in memory or on disk changes unless all is well.
        let mut problems: Vec<Diagnostic> = Vec::new();
        let theme = if touched.contains(&Touched::Template) {
            match Theme::load(&site_dir.join(&site.config.site.templates_dir)) {
                Ok(t) => Some(t),
                Err(mut ps) => {
                    problems.append(&mut ps);
                    None
                }
            }
        } else {
            None
        };
        let changed_pages: Vec<&String> = touched
            .iter()
            .filter_map(|t| {
                if let Touched::Page(r) = t {
                    Some(r)
                } else {
                    None
                }
            })
            .collect();
        let reparsed: Vec<(String, Option<Page>, Vec<Diagnostic>)> = changed_pages
            .par_iter()
            .map(|rel| {
                let path = site.content_dir.join(rel);
                match std::fs::read_to_string(&path) {
                    Ok(text) => match Page::parse(rel, &path, &text) {
                        Ok(p) if p.draft => ((*rel).clone(), None, Vec::new()),
                        Ok(p) => ((*rel).clone(), Some(p), Vec::new()),
                        Err(ps) => ((*rel).clone(), None, ps),
                    },
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        ((*rel).clone(), None, Vec::new())
                    }
                    Err(e) => (
                        (*rel).clone(),
                        None,
                        vec![Diagnostic::new(
                            &path,
                            0,
                            format!("cannot read this page: {e}"),
                        )],
                    ),
                }
            })
            .collect();
        for (_, _, ps) in &reparsed {
            problems.extend(ps.iter().cloned());
        }
        if !problems.is_empty() {
            problems.sort();
            return Err(Diagnostics(problems).into());
        }
        let old_dirs = listing_files(&site.pages, site.config.site.per_page);
        // Apply the new pages in place, remembering the old ones to put back on any failure.
        let before: BTreeMap<String, Page> = changed_pages
            .iter()
            .filter_map(|r| find(&site.pages, r).map(|i| ((*r).clone(), site.pages[i].clone())))
            .collect();
        for (rel, page, _) in reparsed {
            replace(&mut site.pages, &rel, page);
        }
        let undo = |pages: &mut Vec<Page>| {
            for rel in &changed_pages {
                replace(pages, rel, before.get(*rel).cloned());
            }
        };
        let theme_ref = theme.as_ref().unwrap_or(&site.theme);
        let conflicts = check_pages(&site.pages, theme_ref, &site.config, &site.content_dir);
        if !conflicts.is_empty() {
            undo(&mut site.pages);
            return Err(Diagnostics(conflicts).into());
        }
        let result = Self::finish_rebuild(
            &self.opts,
            &self.out_dir,
            &mut self.seal_cache,
            state,
            &touched,
            &changed_pages,
            &before,
            theme.as_ref(),
            &old_dirs,
        );
        let site = &mut state.site;
        match result {
            Ok((written, removed)) => {
                if let Some(t) = theme {
                    site.theme = t;
                }
                Ok(Rebuilt {
                    parsed: changed_pages.len(),
                    written,
                    removed,
                    full: false,
                    elapsed: started.elapsed(),
                    created_key: None,
                })
            }
            Err(e) => {
                undo(&mut site.pages);
                Err(e)
            }
        }
    }

    /// Goods, rendering and writing for a rebuild whose pages are already in `state`.
    #[allow(clippy::too_many_arguments)]
    fn finish_rebuild(
        opts: &Options,
        out_dir: &Path,
        seal_cache: &mut bundle::SealCache,
        state: &mut BuiltState,
        touched: &BTreeSet<Touched>,
        changed_pages: &[&String],
        before: &BTreeMap<String, Page>,
        new_theme: Option<&Theme>,
        old_dirs: &BTreeSet<String>,
    ) -> Result<(usize, usize)> {
        let site = &state.site;
        let site_dir = &opts.site_dir;
        let pages = &site.pages;
        let theme_ref = new_theme.unwrap_or(&site.theme);
        // Goods: the registry sees every section; for the local registry this is arithmetic.
        let wanted = wanted_goods(pages, &site.config.site.base_url, &state.key);
        let registry = opts.registry.unwrap_or(site.config.satoshipay.registry);
        let lock_path = site_dir.join(LOCK_FILE);
        let (lock, _) = match registry {
            RegistryKind::Local => LocalRegistry::new(&state.key).sync(&wanted, &state.lock)?,
            RegistryKind::Api => {
                let client = ApiClient::from_env()?;
                ApiRegistry {
                    client: &client,
                    key: &state.key,
                    lock_path: &lock_path,
                    batch_size: site.config.satoshipay.batch_size,
                    progress: false,
                }
                .sync(&wanted, &state.lock)?
            }
        };

        // Render what is affected.
        let renderer = Renderer::new(&site.config, theme_ref, pages, &lock);
        let goods_changed: BTreeSet<&str> = lock
            .goods
            .iter()
            .filter(|g| {
                state
                    .lock
                    .get(&g.key)
                    .is_none_or(|o| o.id != g.id || o.url != g.url)
            })
            .map(|g| g.key.as_str())
            .collect();
        let all = new_theme.is_some();
        let to_render: Vec<&Page> = pages
            .iter()
            .filter(|p| {
                all || before.contains_key(&p.rel_path)
                    || changed_pages.contains(&&p.rel_path)
                    || p.paid
                        .iter()
                        .any(|s| goods_changed.contains(p.good_key(&s.name).as_str()))
            })
            .collect();
        let mut outputs: Vec<(String, String)> = to_render
            .par_iter()
            .map(|p| {
                renderer.page(p).with_context(|| {
                    format!(
                        "while rendering `{}`",
                        site.content_dir.join(&p.rel_path).display()
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .collect();
        let listing_changed = all
            || changed_pages.iter().any(|rel| {
                match (before.get(*rel), find(pages, rel).map(|i| &pages[i])) {
                    (Some(o), Some(n)) => listing_view(o) != listing_view(n),
                    (None, None) => false,
                    _ => true,
                }
            });
        // The feed (twenty entries, cheap) shows free text; the listings and the sitemap (one
        // line per page, dear on a large site) only what `listing_view` holds.
        let feed_changed = listing_changed
            || changed_pages.iter().any(|rel| {
                before.get(*rel).map(|p| &p.free_html)
                    != find(pages, rel).map(|i| &pages[i].free_html)
            });
        if listing_changed {
            outputs.extend(renderer.listings(pages)?);
            outputs.extend(renderer.sitemap_files(pages)?);
        }
        if feed_changed {
            outputs.push(("atom.xml".into(), renderer.feed(pages)?));
        }
        // Outputs of pages that are gone (or became a listing's introduction), and listings
        // of directories that no longer have pages.
        let mut gone: Vec<String> = before
            .values()
            .filter(|o| {
                !pages
                    .iter()
                    .any(|p| p.dir == o.dir && !renderer.is_intro(p))
            })
            .map(|o| index_file(&o.dir))
            .collect();
        if listing_changed {
            let new_dirs = listing_files(pages, site.config.site.per_page);
            gone.extend(old_dirs.difference(&new_dirs).cloned());
        }

        // The bundle and the lock, only when they change: the bundle when a paid part or a
        // good's id or secret did.
        let paid_changed = lock != state.lock
            || changed_pages.iter().any(|rel| {
                let paid = |p: Option<&Page>| {
                    p.map(|p| {
                        p.paid
                            .iter()
                            .map(|s| (s.name.clone(), s.price, s.html.clone()))
                            .collect::<Vec<_>>()
                    })
                };
                paid(before.get(*rel)) != paid(find(pages, rel).map(|i| &pages[i]))
            });
        let bundle_file = if paid_changed {
            let sealed = bundle::seal_cached(
                &state.key,
                &bundle_entries(pages, &lock, &state.key),
                seal_cache,
            );
            Some(StagedFile::new(
                &site_dir.join(&site.config.satoshipay.bundle),
                &sealed,
                Some(0o644),
            )?)
        } else {
            None
        };
        let lock_file = if lock != state.lock {
            StagedFile::new_if_changed(&lock_path, lock.to_text().as_bytes(), Some(0o644))?
        } else {
            None
        };

        // Write: the bundle first, so a page never names a good the Content API lacks.
        let mut written = 0;
        for file in [bundle_file, lock_file].into_iter().flatten() {
            file.commit()?;
        }
        let write = |rel: &str, bytes: &[u8]| -> Result<bool> {
            Ok(
                StagedFile::new_if_changed(&out_dir.join(rel), bytes, Some(0o644))?
                    .map(StagedFile::commit)
                    .transpose()?
                    .is_some(),
            )
        };
        for (rel, html) in &outputs {
            written += usize::from(write(rel, html.as_bytes())?);
        }
        for touched in touched {
            let (from, rel) = match touched {
                Touched::Asset(r) => (site.content_dir.join(r), r),
                Touched::Static(r) => (site_dir.join(&site.config.site.static_dir).join(r), r),
                _ => continue,
            };
            if from.is_file() {
                written += usize::from(write(rel, &crate::fs::read(&from)?)?);
            } else if out_dir.join(rel).is_file() {
                gone.push(rel.clone());
            }
        }
        let mut removed = 0;
        for rel in gone {
            let path = out_dir.join(&rel);
            if std::fs::remove_file(&path).is_ok() {
                removed += 1;
                let mut dir = path.parent();
                while let Some(d) = dir.filter(|d| *d != out_dir && d.starts_with(out_dir)) {
                    if std::fs::remove_dir(d).is_err() {
                        break;
                    }
                    dir = d.parent();
                }
            }
        }
        drop(renderer);
        state.lock = lock;
        Ok((written, removed))
    }
}

/// The index of the page with source `rel` in `pages` (sorted by path).
/// The files of every listing page (`index.html`, `page/2/index.html`, `posts/index.html`…)
/// and of the sitemap when it is cut in parts (`sitemap-1.xml`…).
fn listing_files(pages: &[Page], per_page: usize) -> BTreeSet<String> {
    use crate::render::{SITEMAP_LEN, SiteLayout, listing_page_dir, listing_pages};
    let layout = SiteLayout::of(pages);
    let listings = listing_pages(&layout, pages, per_page);
    let urls = listings.iter().map(|(_, n)| n).sum::<usize>()
        + pages.iter().filter(|p| !layout.is_intro(p)).count();
    let parts = if urls > SITEMAP_LEN {
        urls.div_ceil(SITEMAP_LEN)
    } else {
        0
    };
    listings
        .into_iter()
        .flat_map(|(dir, total)| (1..=total).map(move |n| index_file(&listing_page_dir(&dir, n))))
        .chain((1..=parts).map(|i| format!("sitemap-{i}.xml")))
        .collect()
}

fn find(pages: &[Page], rel: &str) -> Option<usize> {
    pages
        .binary_search_by(|p| p.rel_path.as_str().cmp(rel))
        .ok()
}

/// Puts `page` (or nothing) where the page with source `rel` is, keeping the order.
fn replace(pages: &mut Vec<Page>, rel: &str, page: Option<Page>) {
    match (
        pages.binary_search_by(|p| p.rel_path.as_str().cmp(rel)),
        page,
    ) {
        (Ok(i), Some(p)) => pages[i] = p,
        (Ok(i), None) => {
            pages.remove(i);
        }
        (Err(i), Some(p)) => pages.insert(i, p),
        (Err(_), None) => {}
    }
}

/// What listings, the feed and the sitemap show of a page: when it is unchanged, an edit
/// re-renders that page alone.
#[derive(PartialEq)]
struct ListingView<'a> {
    dir: &'a str,
    title: &'a str,
    date: Option<&'a str>,
    summary: &'a str,
    description: &'a str,
    prices: Vec<u32>,
    is_index: bool,
    // An introduction shows its free text in its listing.
    intro_html: Option<&'a str>,
}

fn listing_view(p: &Page) -> ListingView<'_> {
    ListingView {
        dir: &p.dir,
        title: &p.title,
        date: p.date.as_deref(),
        summary: &p.summary,
        description: &p.description,
        prices: p.paid.iter().map(|s| s.price).collect(),
        is_index: p.is_index,
        intro_html: p.is_index.then_some(p.free_html.as_str()),
    }
}

/// How a watch loop reports each rebuild.
pub trait Reporter {
    /// A rebuild finished, well or not.
    fn rebuilt(&self, result: &Result<Rebuilt>);
}

/// Prints to the terminal.
pub struct PrintReporter;

impl Reporter for PrintReporter {
    fn rebuilt(&self, result: &Result<Rebuilt>) {
        match result {
            Ok(r) if r.parsed == 0 && r.written == 0 && !r.full => {}
            Ok(r) => {
                if let Some(path) = &r.created_key {
                    eprintln!(
                        "created a new master key in `{}` (readable by you only, git-ignored): back it up — it derives every good's secret",
                        path.display()
                    );
                }
                eprintln!(
                    "{}: {} page{} parsed, {} file{} written, {} removed in {:.1} ms",
                    if r.full { "full rebuild" } else { "rebuilt" },
                    r.parsed,
                    if r.parsed == 1 { "" } else { "s" },
                    r.written,
                    if r.written == 1 { "" } else { "s" },
                    r.removed,
                    r.elapsed.as_secs_f64() * 1000.0
                );
            }
            Err(e) => {
                crate::cli::report(e);
                eprintln!(
                    "the last good output is still in place; fix the problems and save again"
                );
            }
        }
    }
}

/// Watches the site and rebuilds on every change until `stop` is set. Editor temp files,
/// the outputs, the lock and the key are ignored.
pub fn run(
    mut session: Session,
    reporter: &dyn Reporter,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<()> {
    use notify_debouncer_full::notify::RecursiveMode;
    let (tx, rx) = mpsc::channel();
    let mut debouncer = notify_debouncer_full::new_debouncer(Duration::from_millis(50), None, tx)
        .context("cannot watch files")?;
    let site_dir = session
        .opts
        .site_dir
        .canonicalize()
        .unwrap_or_else(|_| session.opts.site_dir.clone());
    debouncer
        .watch(&site_dir, RecursiveMode::Recursive)
        .with_context(|| format!("cannot watch `{}`", site_dir.display()))?;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let events = match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(Ok(events)) => events,
            Ok(Err(errors)) => {
                for e in errors {
                    eprintln!("watch: {e}");
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let mut paths: Vec<PathBuf> = events
            .iter()
            .filter(|e| !e.kind.is_access())
            .flat_map(|e| e.paths.iter())
            .map(|p| {
                session
                    .opts
                    .site_dir
                    .join(p.strip_prefix(&site_dir).unwrap_or(p))
            })
            .filter(|p| !session.ignores(p))
            .collect();
        paths.sort();
        paths.dedup();
        if paths.is_empty() {
            continue;
        }
        let result = session.rebuild(&paths);
        reporter.rebuilt(&result);
    }
    Ok(())
}

impl Session {
    /// The options it builds with.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// A lock read for tests and tools.
    pub fn lock(&self) -> Option<&Lock> {
        self.state.as_ref().map(|s| &s.lock)
    }
}
