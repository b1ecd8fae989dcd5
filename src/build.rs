//! The build pipeline: scan, parse, register goods, render, seal, and commit the outputs
//! only when every step succeeded.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rayon::prelude::*;
use serde::Serialize;

use crate::bundle::{self, Entry};
use crate::config::{Config, LOCK_FILE, RegistryKind};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::fs::StagedFile;
use crate::goods::{
    ApiClient, ApiRegistry, LocalRegistry, Lock, PreviewRegistry, Registry, SyncReport, WantedGood,
};
use crate::key::{KEY_ENV, KeyError, MasterKey};
use crate::output::Sink;
use crate::page::{Page, fill_slots, strip_slots};
use crate::site;
use crate::theme::Theme;

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
    let key_file = site_dir.join(&config.satoshipay.key_file);
    let env = std::env::var(KEY_ENV).ok();
    match MasterKey::load(env.as_deref(), &key_file) {
        Ok((key, _)) => Ok(KeyChoice { key, created: None }),
        Err(KeyError::Missing { .. }) if lock.is_none() && dry_run => Ok(KeyChoice {
            key: MasterKey::generate()?,
            created: None,
        }),
        Err(KeyError::Missing { .. }) if lock.is_none() => {
            let key = MasterKey::generate()?;
            write_new_key(&key, &key_file)?;
            ensure_gitignored(site_dir, &config.satoshipay.key_file)?;
            Ok(KeyChoice {
                key,
                created: Some(key_file),
            })
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

/// Template data shared by every page.
#[derive(Serialize)]
struct SiteData<'a> {
    title: &'a str,
    base_url: &'a str,
    description: &'a str,
    language: &'a str,
    author: &'a str,
    widget_url: &'a str,
    sections: Vec<NavItem>,
}

#[derive(Serialize, Clone)]
struct NavItem {
    title: String,
    url: String,
}

#[derive(Serialize)]
struct PaidData {
    name: String,
    id: String,
    price: u32,
}

#[derive(Serialize)]
struct PageData<'a> {
    title: &'a str,
    url: String,
    permalink: String,
    date: Option<&'a str>,
    day: Option<&'a str>,
    description: &'a str,
    content: String,
    paid: Vec<PaidData>,
    extra: &'a BTreeMap<String, serde_json::Value>,
}

#[derive(Serialize)]
struct PageContext<'a> {
    site: &'a SiteData<'a>,
    page: PageData<'a>,
    root: String,
}

#[derive(Serialize)]
struct ListedPage<'a> {
    title: &'a str,
    url: String,
    date: Option<&'a str>,
    day: Option<&'a str>,
    summary: &'a str,
    paid: bool,
    price: u32,
}

#[derive(Serialize)]
struct ListingData<'a> {
    is_home: bool,
    title: String,
    description: String,
    permalink: String,
    intro: Option<String>,
    paid: bool,
    pages: Vec<ListedPage<'a>>,
}

#[derive(Serialize)]
struct ListingContext<'a> {
    site: &'a SiteData<'a>,
    listing: ListingData<'a>,
    root: String,
}

#[derive(Serialize)]
struct Item<'a> {
    src: String,
    id: &'a str,
    length: usize,
    price: u32,
    url: String,
}

#[derive(Serialize)]
struct ItemContext<'a> {
    item: Item<'a>,
}

/// The URL path of an output directory: `posts/brew` → `posts/brew/`, home → `""`.
fn url_of(dir: &str) -> String {
    if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    }
}

/// `../` once per level of `dir`: the way back to the site root from a page.
fn root_of(dir: &str) -> String {
    if dir.is_empty() {
        String::new()
    } else {
        "../".repeat(dir.split('/').count())
    }
}

/// Where the output file of directory `dir` goes.
fn index_file(dir: &str) -> String {
    if dir.is_empty() {
        "index.html".into()
    } else {
        format!("{dir}/index.html")
    }
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

/// Reads, parses and checks a site; every problem is returned together as [`Diagnostics`].
pub fn load_site(site_dir: &Path, show_progress: bool) -> Result<LoadedSite> {
    let config = Config::load(site_dir)?;
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
    let mut by_dir: HashMap<&str, &Page> = HashMap::new();
    for p in &pages {
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
        if let (Some(t), Some(theme)) = (&p.template, &theme)
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

/// The goods a site's pages want registered, sorted by key.
pub fn wanted_goods(pages: &[Page], base_url: &str, key: &MasterKey) -> Vec<WantedGood> {
    let mut wanted: Vec<WantedGood> = pages
        .iter()
        .flat_map(|p| {
            p.paid.iter().map(|part| WantedGood {
                key: p.good_key(&part.name),
                price: part.price,
                title: format!(
                    "{} — {}",
                    p.title,
                    part.title.as_deref().unwrap_or(&part.name)
                ),
                url: format!("{base_url}/{}#{}", url_of(&p.dir), part.name),
                digest: key.content_digest(part.html.as_bytes()),
            })
        })
        .collect();
    wanted.sort_by(|a, b| a.key.cmp(&b.key));
    wanted
}

/// Runs the pipeline. On any error nothing is written; on success the output directory, the
/// bundle and the lock are replaced (each only if its bytes changed). With the `api`
/// registry the lock is also written after every batch sent to the API, so that it always
/// holds what the API holds.
pub fn build(opts: &Options) -> Result<Outcome> {
    let started = Instant::now();
    let site_dir = &opts.site_dir;
    let LoadedSite {
        config,
        content_dir,
        sources,
        pages,
        theme,
        progress,
    } = load_site(site_dir, opts.progress)?;
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
    let ids: HashMap<&str, &crate::goods::LockedGood> =
        lock.goods.iter().map(|g| (g.key.as_str(), g)).collect();

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
    let mut listing_dirs: BTreeSet<String> = BTreeSet::from([String::new()]);
    for p in pages.iter().filter(|p| !p.is_index) {
        let mut dir = p.dir.as_str();
        while let Some((parent, _)) = dir.rsplit_once('/') {
            listing_dirs.insert(parent.to_string());
            dir = parent;
        }
    }
    let intro_of: HashMap<&str, &Page> = pages
        .iter()
        .filter(|p| p.is_index && listing_dirs.contains(&p.dir))
        .map(|p| (p.dir.as_str(), p))
        .collect();
    let nav: Vec<NavItem> = listing_dirs
        .iter()
        .filter(|d| !d.is_empty() && !d.contains('/'))
        .map(|d| NavItem {
            title: intro_of
                .get(d.as_str())
                .map_or_else(|| humanise(d), |p| p.title.clone()),
            url: url_of(d),
        })
        .collect();
    let site_data = SiteData {
        title: &config.site.title,
        base_url: base,
        description: &config.site.description,
        language: &config.site.language,
        author: &config.site.author,
        widget_url: &config.satoshipay.widget_url,
        sections: nav,
    };
    let prefix = &config.satoshipay.content_api;
    let tags = |page: &Page, template: &str| -> Result<Vec<String>> {
        page.paid
            .iter()
            .map(|part| {
                let good = ids[page.good_key(&part.name).as_str()];
                theme.render(
                    template,
                    &ItemContext {
                        item: Item {
                            src: format!("{prefix}/{}", good.id),
                            id: &good.id,
                            length: part.length,
                            price: part.price,
                            url: good.url.clone(),
                        },
                    },
                )
            })
            .collect()
    };
    let with_tags = |page: &Page| -> Result<String> {
        let tags = tags(page, "content_item.html")?;
        Ok(fill_slots(&page.free_html, |i| tags[i].clone()))
    };

    progress.set_message("rendering");
    progress.set_position(0);
    pages
        .par_iter()
        .filter(|p| !(p.is_index && listing_dirs.contains(&p.dir)))
        .try_for_each(|page| -> Result<()> {
            let ctx = PageContext {
                site: &site_data,
                root: root_of(&page.dir),
                page: PageData {
                    title: &page.title,
                    url: url_of(&page.dir),
                    permalink: format!("{base}/{}", url_of(&page.dir)),
                    date: page.date.as_deref(),
                    day: page.date.as_deref().map(|d| &d[..10]),
                    description: &page.description,
                    content: with_tags(page)?,
                    paid: page
                        .paid
                        .iter()
                        .map(|part| PaidData {
                            name: part.name.clone(),
                            id: ids[page.good_key(&part.name).as_str()].id.clone(),
                            price: part.price,
                        })
                        .collect(),
                    extra: &page.extra,
                },
            };
            let template = page.template.as_deref().unwrap_or("page.html");
            let html = theme.render(template, &ctx).with_context(|| {
                format!(
                    "while rendering `{}`",
                    content_dir.join(&page.rel_path).display()
                )
            })?;
            sink.write(&index_file(&page.dir), html.as_bytes())?;
            progress.inc(1);
            Ok(())
        })?;

    // Listings: the home page and one per directory of pages.
    let mut listed: Vec<&Page> = pages
        .iter()
        .filter(|p| !(p.is_index && listing_dirs.contains(&p.dir)))
        .collect();
    listed.sort_by(|a, b| {
        b.date
            .cmp(&a.date)
            .then_with(|| a.title.cmp(&b.title))
            .then_with(|| a.rel_path.cmp(&b.rel_path))
    });
    for dir in &listing_dirs {
        let intro = intro_of.get(dir.as_str()).copied();
        let inside = |p: &&&Page| dir.is_empty() || p.dir.starts_with(&format!("{dir}/"));
        let ctx = ListingContext {
            site: &site_data,
            root: root_of(dir),
            listing: ListingData {
                is_home: dir.is_empty(),
                title: intro.map_or_else(
                    || {
                        if dir.is_empty() {
                            config.site.title.clone()
                        } else {
                            humanise(dir)
                        }
                    },
                    |p| p.title.clone(),
                ),
                description: intro.map_or_else(
                    || config.site.description.clone(),
                    |p| p.description.clone(),
                ),
                permalink: format!("{base}/{}", url_of(dir)),
                intro: intro.map(with_tags).transpose()?,
                paid: intro.is_some_and(|p| !p.paid.is_empty()),
                pages: listed
                    .iter()
                    .filter(inside)
                    .map(|p| ListedPage {
                        title: &p.title,
                        url: url_of(&p.dir),
                        date: p.date.as_deref(),
                        day: p.date.as_deref().map(|d| &d[..10]),
                        summary: &p.summary,
                        paid: !p.paid.is_empty(),
                        price: p.paid.iter().map(|s| s.price).sum(),
                    })
                    .collect(),
            },
        };
        let html = theme.render("index.html", &ctx)?;
        sink.write(&index_file(dir), html.as_bytes())?;
    }

    // Feed and sitemap: free parts only.
    let newest = listed
        .iter()
        .filter_map(|p| p.date.as_deref())
        .max()
        .unwrap_or("1970-01-01T00:00:00Z");
    let entries: Vec<serde_json::Value> = listed
        .iter()
        .take(20)
        .map(|p| -> Result<serde_json::Value> {
            let notes = tags(p, "feed_paid_note.html")?;
            Ok(serde_json::json!({
                "title": p.title,
                "permalink": format!("{base}/{}", url_of(&p.dir)),
                "updated": p.date.as_deref().unwrap_or(newest),
                "description": p.description,
                "content": fill_slots(&p.free_html, |i| notes[i].clone()),
            }))
        })
        .collect::<Result<_>>()?;
    let feed = theme.render("atom.xml", &serde_json::json!({ "site": &site_data, "feed": { "updated": newest, "entries": entries } }))?;
    sink.write("atom.xml", feed.as_bytes())?;
    let mut urls: Vec<serde_json::Value> = listing_dirs
        .iter()
        .map(|d| serde_json::json!({ "loc": format!("{base}/{}", url_of(d)), "lastmod": null }))
        .chain(listed.iter().map(|p| serde_json::json!({ "loc": format!("{base}/{}", url_of(&p.dir)), "lastmod": p.date.as_deref().map(|d| &d[..10]) })))
        .collect();
    urls.sort_by(|a, b| a["loc"].as_str().cmp(&b["loc"].as_str()));
    let sitemap = theme.render("sitemap.xml", &serde_json::json!({ "urls": urls }))?;
    sink.write("sitemap.xml", sitemap.as_bytes())?;

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
    progress.finish_and_clear();

    // The bundle: every paid section, sealed.
    let entries: Vec<Entry> = pages
        .iter()
        .flat_map(|p| {
            p.paid.iter().map(|part| {
                let good = ids[p.good_key(&part.name).as_str()];
                Entry {
                    id: good.id.clone(),
                    price: part.price,
                    content_type: "text/html; charset=utf-8".into(),
                    secret: key.good_secret(&good.key, good.generation),
                    content: part.html.clone(),
                }
            })
        })
        .collect();
    let sealed = bundle::seal(&key, &entries);
    debug_assert!(
        pages
            .iter()
            .all(|p| !strip_slots(&p.free_html).contains('\0'))
    );

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
    Ok(Outcome {
        pages: pages.len(),
        paid_sections: entries.len(),
        sync,
        elapsed: started.elapsed(),
        out_dir,
        bundle_path,
        changed,
        created_key: created,
    })
}

fn humanise(dir: &str) -> String {
    let last = dir
        .rsplit('/')
        .next()
        .unwrap_or(dir)
        .replace(['-', '_'], " ");
    let mut c = last.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
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
