//! Rendering pages, listings, the feed and the sitemap with the theme, and the bundle's
//! entries: the free parts with content-item tags go to pages, the paid parts to the bundle.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::Result;
use serde::Serialize;

use crate::bundle::Entry;
use crate::config::Config;
use crate::goods::{Lock, LockedGood};
use crate::key::MasterKey;
use crate::page::{Page, fill_slots};
use crate::theme::Theme;

/// Template data shared by every page.
#[derive(Serialize)]
pub struct SiteData<'a> {
    title: &'a str,
    base_url: &'a str,
    description: &'a str,
    language: &'a str,
    author: &'a str,
    widget_url: &'a str,
    sections: Vec<NavItem>,
}

#[derive(Debug, Serialize, Clone, PartialEq)]
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
    paginator: Paginator,
}

/// Where a listing page sits among its listing's pages.
#[derive(Serialize)]
struct Paginator {
    /// This page's number, from 1.
    current: usize,
    /// How many pages the listing has.
    total: usize,
    /// Whether there is a previous (newer) and a next (older) page.
    has_prev: bool,
    has_next: bool,
    /// Their URLs relative to the site root (`""` is the home page).
    prev: String,
    next: String,
}

/// The directory of page `n` (from 1) of the listing of `dir`: `dir` itself for the first,
/// `dir/page/n` after.
pub fn listing_page_dir(dir: &str, n: usize) -> String {
    match (n, dir.is_empty()) {
        (1, _) => dir.to_string(),
        (_, true) => format!("page/{n}"),
        (_, false) => format!("{dir}/page/{n}"),
    }
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
pub fn url_of(dir: &str) -> String {
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
pub fn index_file(dir: &str) -> String {
    if dir.is_empty() {
        "index.html".into()
    } else {
        format!("{dir}/index.html")
    }
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

/// What every page shows of the site as a whole: the directories that get a listing, and
/// the navigation (one item per top-level listing).
#[derive(Debug, Clone, PartialEq)]
pub struct SiteLayout {
    listing_dirs: BTreeSet<String>,
    nav: Vec<NavItem>,
}

impl SiteLayout {
    /// The layout of a site with these pages (drafts left out).
    pub fn of(pages: &[Page]) -> SiteLayout {
        SiteLayout::new(
            pages.iter().filter(|p| !p.is_index).map(|p| p.dir.as_str()),
            pages
                .iter()
                .filter(|p| p.is_index)
                .map(|p| (p.dir.as_str(), p.title.as_str())),
        )
    }

    /// The layout of a site whose non-index pages sit in `page_dirs` and whose index pages
    /// (`index.md`, `_index.md`) are `indexes`, as (directory, title).
    pub fn new<'a>(
        page_dirs: impl Iterator<Item = &'a str>,
        indexes: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> SiteLayout {
        let mut listing_dirs = BTreeSet::from([String::new()]);
        for mut dir in page_dirs {
            while let Some((parent, _)) = dir.rsplit_once('/') {
                if !listing_dirs.insert(parent.to_string()) {
                    break;
                }
                dir = parent;
            }
        }
        let intro_of: BTreeMap<&str, &str> =
            indexes.filter(|(d, _)| listing_dirs.contains(*d)).collect();
        let nav = listing_dirs
            .iter()
            .filter(|d| !d.is_empty() && !d.contains('/'))
            .map(|d| NavItem {
                title: intro_of
                    .get(d.as_str())
                    .map_or_else(|| humanise(d), |t| t.to_string()),
                url: url_of(d),
            })
            .collect();
        SiteLayout { listing_dirs, nav }
    }

    /// The directories that get a listing: the root and every ancestor directory of a page.
    pub fn listing_dirs(&self) -> &BTreeSet<String> {
        &self.listing_dirs
    }

    /// Whether `page` is rendered as the introduction of a listing rather than on its own.
    pub fn is_intro(&self, page: &Page) -> bool {
        page.is_index && self.listing_dirs.contains(&page.dir)
    }
}

/// Where the renderer finds each good's id and URL.
pub enum GoodIds<'a> {
    /// In a lock, after the sync.
    Lock(HashMap<String, LockedGood>),
    /// Foreseen before the sync, from the old lock, so that pages are rendered while they are
    /// parsed; the build checks every foreseen good against the lock the sync returns.
    Foreseen {
        /// The master key (local ids).
        key: &'a MasterKey,
        /// The lock before the sync.
        old: &'a Lock,
        /// How the registry assigns ids.
        ids: IdRule,
        /// `site.base_url`.
        base_url: &'a str,
    },
}

/// How a registry assigns ids, for [`GoodIds::Foreseen`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdRule {
    /// Derived from the master key (`local`).
    Derived,
    /// The old lock's id, else derived (`check`, which registers nothing).
    Kept,
    /// The old lock's id; a new good's id is known only after the sync (`api`).
    Assigned,
}

impl GoodIds<'_> {
    /// The ids of a lock.
    pub fn of_lock(lock: &Lock) -> GoodIds<'static> {
        GoodIds::Lock(
            lock.goods
                .iter()
                .map(|g| (g.key.clone(), g.clone()))
                .collect(),
        )
    }

    /// The good of paid section `name` of `page`, with its id, URL and secret generation;
    /// `None` when it cannot be known yet.
    pub fn get(&self, page: &Page, name: &str) -> Option<LockedGood> {
        let key = page.good_key(name);
        match self {
            GoodIds::Lock(goods) => goods.get(&key).cloned(),
            GoodIds::Foreseen {
                key: master,
                old,
                ids,
                base_url,
            } => {
                let locked = old.get(&key);
                let id = match (ids, locked) {
                    (IdRule::Derived, _) | (IdRule::Kept, None) => master.local_id(&key),
                    (IdRule::Kept | IdRule::Assigned, Some(l)) => l.id.clone(),
                    (IdRule::Assigned, None) => return None,
                };
                Some(LockedGood {
                    id,
                    price: 0,
                    title: String::new(),
                    url: good_url(base_url, page, name),
                    digest: String::new(),
                    generation: locked.map_or(1, |l| l.generation),
                    key,
                })
            }
        }
    }
}

/// The URL registered with the good of section `name` of `page`.
pub fn good_url(base_url: &str, page: &Page, name: &str) -> String {
    format!("{base_url}/{}#{name}", url_of(&page.dir))
}

/// Renders a site's outputs. Built once per build from the site's layout and the goods' ids.
pub struct Renderer<'a> {
    config: &'a Config,
    theme: &'a Theme,
    site: SiteData<'a>,
    goods: GoodIds<'a>,
    layout: SiteLayout,
}

impl<'a> Renderer<'a> {
    /// A renderer for `pages` whose goods are all in `lock`.
    pub fn new(config: &'a Config, theme: &'a Theme, pages: &[Page], lock: &Lock) -> Renderer<'a> {
        Renderer::with(config, theme, SiteLayout::of(pages), GoodIds::of_lock(lock))
    }

    /// A renderer for a site of layout `layout` whose ids come from `goods`.
    pub fn with(
        config: &'a Config,
        theme: &'a Theme,
        layout: SiteLayout,
        goods: GoodIds<'a>,
    ) -> Renderer<'a> {
        Renderer {
            site: SiteData {
                title: &config.site.title,
                base_url: &config.site.base_url,
                description: &config.site.description,
                language: &config.site.language,
                author: &config.site.author,
                widget_url: &config.satoshipay.widget_url,
                sections: layout.nav.clone(),
            },
            config,
            theme,
            goods,
            layout,
        }
    }

    /// The site layout the renderer works with.
    pub fn layout(&self) -> &SiteLayout {
        &self.layout
    }

    /// Where ids come from.
    pub fn goods(&self) -> &GoodIds<'a> {
        &self.goods
    }

    fn good(&self, page: &Page, name: &str) -> Result<LockedGood> {
        self.goods.get(page, name).ok_or_else(|| {
            anyhow::anyhow!(
                "the good of section `{name}` of `{}` has no id yet",
                page.rel_path
            )
        })
    }

    /// Whether `page` is rendered as the introduction of a listing rather than on its own.
    pub fn is_intro(&self, page: &Page) -> bool {
        self.layout.is_intro(page)
    }

    /// The goods of a page's paid sections, in slot order.
    fn goods_of(&self, page: &Page) -> Result<Vec<LockedGood>> {
        page.paid.iter().map(|s| self.good(page, &s.name)).collect()
    }

    fn tags(&self, page: &Page, template: &str) -> Result<Vec<String>> {
        self.tags_with(page, &self.goods_of(page)?, template)
    }

    fn tags_with(&self, page: &Page, goods: &[LockedGood], template: &str) -> Result<Vec<String>> {
        let prefix = &self.config.satoshipay.content_api;
        page.paid
            .iter()
            .zip(goods)
            .map(|(part, good)| {
                self.theme.render(
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
    }

    /// The content-item tags of a page's paid sections, in slot order. With `markdown`, the
    /// theme's `content_item_markdown.html` is used when it has one (a Hugo shortcode, say).
    pub fn content_items(&self, page: &Page, markdown: bool) -> Result<Vec<String>> {
        let template = if markdown && self.theme.has("content_item_markdown.html") {
            "content_item_markdown.html"
        } else {
            "content_item.html"
        };
        self.tags(page, template)
    }

    fn with_tags(&self, page: &Page) -> Result<String> {
        self.with_tags_of(page, &self.goods_of(page)?)
    }

    fn with_tags_of(&self, page: &Page, goods: &[LockedGood]) -> Result<String> {
        let tags = self.tags_with(page, goods, "content_item.html")?;
        Ok(fill_slots(&page.free_html, |i| tags[i].clone()))
    }

    /// A page's output path and HTML; `None` for a listing's introduction.
    pub fn page(&self, page: &Page) -> Result<Option<(String, String)>> {
        if self.is_intro(page) {
            return Ok(None);
        }
        let base = &self.config.site.base_url;
        let goods = self.goods_of(page)?;
        let ctx = PageContext {
            site: &self.site,
            root: root_of(&page.dir),
            page: PageData {
                title: &page.title,
                url: url_of(&page.dir),
                permalink: format!("{base}/{}", url_of(&page.dir)),
                date: page.date.as_deref(),
                day: page.date.as_deref().map(|d| &d[..10]),
                description: &page.description,
                content: self.with_tags_of(page, &goods)?,
                paid: page
                    .paid
                    .iter()
                    .zip(&goods)
                    .map(|(part, good)| PaidData {
                        name: part.name.clone(),
                        id: good.id.clone(),
                        price: part.price,
                    })
                    .collect(),
                extra: &page.extra,
            },
        };
        let template = page.template.as_deref().unwrap_or("page.html");
        Ok(Some((
            index_file(&page.dir),
            self.theme.render(template, &ctx)?,
        )))
    }

    /// The pages a listing shows, newest first.
    fn listed<'p>(&self, pages: &'p [Page]) -> Vec<&'p Page> {
        let mut listed: Vec<&Page> = pages.iter().filter(|p| !self.is_intro(p)).collect();
        listed.sort_by(|a, b| listing_order(a, b));
        listed
    }

    /// How many pages each listing takes: `(directory, pages)`, in directory order.
    pub fn listing_pages(&self, pages: &[Page]) -> Vec<(String, usize)> {
        listing_pages(&self.layout, pages, self.config.site.per_page)
    }

    /// The home page and the listing of each directory of pages, each cut into pages of
    /// `site.per_page` entries: (output path, HTML).
    pub fn listings(&self, pages: &[Page]) -> Result<Vec<(String, String)>> {
        let out = std::sync::Mutex::new(Vec::new());
        self.each_listing(pages, |path, html| {
            out.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((path, html));
            Ok(())
        })?;
        let mut out = out.into_inner().unwrap_or_else(|p| p.into_inner());
        out.sort();
        Ok(out)
    }

    /// [`Renderer::listings`], rendered on every core, each listing page handed to `emit` as
    /// soon as it is rendered rather than all held.
    pub fn each_listing(
        &self,
        pages: &[Page],
        emit: impl Fn(String, String) -> Result<()> + Sync,
    ) -> Result<()> {
        use rayon::prelude::*;
        let base = &self.config.site.base_url;
        let intros: HashMap<&str, &Page> = pages
            .iter()
            .filter(|p| self.is_intro(p))
            .map(|p| (p.dir.as_str(), p))
            .collect();
        // Each listed page joins the listing of every directory above it, in one pass.
        let mut entries: BTreeMap<&str, Vec<&Page>> = self
            .layout
            .listing_dirs
            .iter()
            .map(|d| (d.as_str(), Vec::new()))
            .collect();
        for p in self.listed(pages) {
            let mut dir = p.dir.as_str();
            entries.get_mut("").expect("the root is listed").push(p);
            while let Some((parent, _)) = dir.rsplit_once('/') {
                if let Some(list) = entries.get_mut(parent) {
                    list.push(p);
                }
                dir = parent;
            }
        }
        let per_page = self.config.site.per_page;
        let mut jobs = Vec::new();
        for (dir, entries) in &entries {
            let intro = intros.get(dir).copied();
            let chunk = if per_page == 0 {
                entries.len().max(1)
            } else {
                per_page
            };
            let chunks: Vec<&[&Page]> = if entries.is_empty() {
                vec![&[]]
            } else {
                entries.chunks(chunk).collect()
            };
            let total = chunks.len();
            let title = intro.map_or_else(
                || {
                    if dir.is_empty() {
                        self.config.site.title.clone()
                    } else {
                        humanise(dir)
                    }
                },
                |p| p.title.clone(),
            );
            let description = intro.map_or_else(
                || self.config.site.description.clone(),
                |p| p.description.clone(),
            );
            let intro_html = intro.map(|p| self.with_tags(p)).transpose()?;
            for (i, chunk) in chunks.into_iter().enumerate() {
                jobs.push((
                    *dir,
                    i + 1,
                    total,
                    chunk,
                    intro,
                    title.clone(),
                    description.clone(),
                    if i == 0 { intro_html.clone() } else { None },
                ));
            }
        }
        jobs.into_par_iter().try_for_each(
            |(dir, n, total, chunk, intro, title, description, intro_html)| {
                let here = listing_page_dir(dir, n);
                let ctx = ListingContext {
                    site: &self.site,
                    root: root_of(&here),
                    listing: ListingData {
                        is_home: dir.is_empty(),
                        title,
                        description,
                        permalink: format!("{base}/{}", url_of(&here)),
                        intro: intro_html,
                        paid: n == 1 && intro.is_some_and(|p| !p.paid.is_empty()),
                        pages: chunk
                            .iter()
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
                        paginator: Paginator {
                            current: n,
                            total,
                            has_prev: n > 1,
                            has_next: n < total,
                            prev: url_of(&listing_page_dir(dir, n.saturating_sub(1).max(1))),
                            next: url_of(&listing_page_dir(dir, (n + 1).min(total))),
                        },
                    },
                };
                emit(index_file(&here), self.theme.render("index.html", &ctx)?)
            },
        )
    }

    /// The Atom feed: the 20 newest pages, free parts only, each paid section a note.
    pub fn feed(&self, pages: &[Page]) -> Result<String> {
        let base = &self.config.site.base_url;
        let listed = self.listed(pages);
        let newest = listed
            .iter()
            .filter_map(|p| p.date.as_deref())
            .max()
            .unwrap_or("1970-01-01T00:00:00Z");
        let entries: Vec<serde_json::Value> = listed
            .iter()
            .take(20)
            .map(|p| -> Result<serde_json::Value> {
                let notes = self.tags(p, "feed_paid_note.html")?;
                Ok(serde_json::json!({
                    "title": p.title,
                    "permalink": format!("{base}/{}", url_of(&p.dir)),
                    "updated": p.date.as_deref().unwrap_or(newest),
                    "description": p.description,
                    "content": fill_slots(&p.free_html, |i| notes[i].clone()),
                }))
            })
            .collect::<Result<_>>()?;
        self.theme.render("atom.xml", &serde_json::json!({ "site": &self.site, "feed": { "updated": newest, "entries": entries } }))
    }

    /// The sitemap: every page and listing page, as `sitemap.xml`. Past [`SITEMAP_LEN`] URLs,
    /// `sitemap.xml` is a sitemap index of `sitemap-1.xml`, `sitemap-2.xml`… of at most that
    /// many URLs each (search engines read both; the protocol caps a file at 50,000), so that
    /// no single template holds a large site. Each file goes to `emit` as it is rendered.
    pub fn sitemaps(
        &self,
        pages: &[Page],
        mut emit: impl FnMut(String, String) -> Result<()>,
    ) -> Result<()> {
        #[derive(Serialize)]
        struct Url<'p> {
            loc: String,
            lastmod: Option<&'p str>,
        }
        let base = &self.config.site.base_url;
        let mut urls: Vec<Url<'_>> = self
            .listing_pages(pages)
            .iter()
            .flat_map(|(d, total)| (1..=*total).map(move |n| listing_page_dir(d, n)))
            .map(|d| Url {
                loc: format!("{base}/{}", url_of(&d)),
                lastmod: None,
            })
            .chain(self.listed(pages).iter().map(|p| Url {
                loc: format!("{base}/{}", url_of(&p.dir)),
                lastmod: p.date.as_deref().map(|d| &d[..10]),
            }))
            .collect();
        urls.sort_by(|a, b| a.loc.cmp(&b.loc));
        if urls.len() <= SITEMAP_LEN {
            let xml = self
                .theme
                .render("sitemap.xml", &serde_json::json!({ "urls": urls }))?;
            return emit("sitemap.xml".into(), xml);
        }
        let mut index = Vec::new();
        for (i, chunk) in urls.chunks(SITEMAP_LEN).enumerate() {
            let name = format!("sitemap-{}.xml", i + 1);
            let xml = self
                .theme
                .render("sitemap.xml", &serde_json::json!({ "urls": chunk }))?;
            emit(name.clone(), xml)?;
            index.push(serde_json::json!({ "loc": format!("{base}/{name}") }));
        }
        let xml = self.theme.render(
            "sitemap_index.xml",
            &serde_json::json!({ "sitemaps": index }),
        )?;
        emit("sitemap.xml".into(), xml)
    }

    /// [`Renderer::sitemaps`], collected: `(path, XML)`.
    pub fn sitemap_files(&self, pages: &[Page]) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        self.sitemaps(pages, |path, xml| {
            out.push((path, xml));
            Ok(())
        })?;
        Ok(out)
    }
}

/// URLs in one sitemap file.
pub const SITEMAP_LEN: usize = 2_000;

/// How many pages each listing of `layout` takes with `per_page` entries a page (`0`: all on
/// one): `(directory, pages)`, in directory order.
pub fn listing_pages(layout: &SiteLayout, pages: &[Page], per_page: usize) -> Vec<(String, usize)> {
    let mut counts: BTreeMap<&str, usize> = layout
        .listing_dirs
        .iter()
        .map(|d| (d.as_str(), 0))
        .collect();
    for p in pages.iter().filter(|p| !layout.is_intro(p)) {
        *counts.entry("").or_default() += 1;
        let mut dir = p.dir.as_str();
        while let Some((parent, _)) = dir.rsplit_once('/') {
            if let Some(n) = counts.get_mut(parent) {
                *n += 1;
            }
            dir = parent;
        }
    }
    counts
        .into_iter()
        .map(|(d, n)| {
            let total = if per_page == 0 {
                1
            } else {
                n.div_ceil(per_page).max(1)
            };
            (d.to_string(), total)
        })
        .collect()
}

/// The order of listings and the feed: newest first, then by title, then by path.
pub fn listing_order(a: &Page, b: &Page) -> std::cmp::Ordering {
    b.date
        .cmp(&a.date)
        .then_with(|| a.title.cmp(&b.title))
        .then_with(|| a.rel_path.cmp(&b.rel_path))
}

/// The bundle's entries: every paid section with its id, price and secret.
pub fn bundle_entries(pages: &[Page], lock: &Lock, key: &MasterKey) -> Vec<Entry> {
    let goods: HashMap<&str, &LockedGood> =
        lock.goods.iter().map(|g| (g.key.as_str(), g)).collect();
    pages
        .iter()
        .flat_map(|p| {
            p.paid.iter().map(|part| {
                let good = goods[p.good_key(&part.name).as_str()];
                Entry {
                    id: good.id.clone(),
                    price: part.price,
                    content_type: "text/html; charset=utf-8".into(),
                    secret: key.good_secret(&good.key, good.generation),
                    content: part.html.clone(),
                }
            })
        })
        .collect()
}
