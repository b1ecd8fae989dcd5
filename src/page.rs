//! A page: its source parsed into front matter, free HTML and paid sections. Pure: no I/O,
//! so it is tested on strings.

use std::collections::BTreeMap;
use std::path::Path;

use pulldown_cmark::{CowStr, Event};

use crate::diagnostic::Diagnostic;
use crate::front_matter;
use crate::markdown::{Doc, LinkBase, page_dir, render_html};
use crate::section;
use crate::text;

/// Marks where a content-item tag goes in a page's free HTML until the good ids are known.
/// NUL never survives in a page (sources have it replaced), so this cannot collide.
pub const SLOT_START: char = '\0';

/// A paid section, rendered.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PaidPart {
    /// Section name.
    pub name: String,
    /// Price in satoshis.
    pub price: u32,
    /// Title from front matter, if any.
    pub title: Option<String>,
    /// The paid HTML. It goes into the sealed bundle and nowhere else.
    pub html: String,
    /// Visible characters of `html`, for `data-sp-length`.
    pub length: usize,
    /// File line of the section's marker or heading.
    pub line: usize,
    /// The keyed digest of `html`, kept when the build lets the HTML go ([`Page::shed`]).
    pub digest: Option<String>,
}

/// A page of the site, parsed and rendered to HTML fragments.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Page {
    /// Source path relative to the content directory, `/`-separated (`posts/brew.md`).
    pub rel_path: String,
    /// Output directory relative to the site root (`posts/brew`; `""` for the home page).
    pub dir: String,
    /// Whether this is an `index.md` / `_index.md` (a listing's introduction).
    pub is_index: bool,
    /// Title.
    pub title: String,
    /// RFC 3339 date, if any.
    pub date: Option<String>,
    /// Meta description: given, or taken from the free text.
    pub description: String,
    /// A longer excerpt of the free text, for listings and feeds.
    pub summary: String,
    /// Draft pages are not built.
    pub draft: bool,
    /// Template override.
    pub template: Option<String>,
    /// Other front matter keys.
    pub extra: BTreeMap<String, serde_json::Value>,
    /// Free HTML, with a slot (`\0N\0`) where paid section N goes.
    pub free_html: String,
    /// Paid sections in document order; slot N is `paid[N]`.
    pub paid: Vec<PaidPart>,
    /// Where the parts are in the (cleaned) source, for writing the page back as Markdown.
    pub layout: Layout,
}

/// Byte ranges in a page's source as [`clean_source`] returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Layout {
    /// The front matter's language, if it has front matter.
    pub format: Option<front_matter::Format>,
    /// The text between the fences.
    pub front: std::ops::Range<usize>,
    /// Where the body starts.
    pub body: usize,
    /// What each paid section takes out of the body (markers included), relative to the
    /// body, in slot order.
    pub cuts: Vec<std::ops::Range<usize>>,
}

/// A page's source as the parser reads it: a BOM dropped, NUL bytes replaced (they could
/// otherwise forge the slots that mark paid sections).
pub fn clean_source(source: &str) -> std::borrow::Cow<'_, str> {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    if source.contains('\0') {
        std::borrow::Cow::Owned(source.replace('\0', "\u{fffd}"))
    } else {
        std::borrow::Cow::Borrowed(source)
    }
}

impl Page {
    /// Parses a page. `rel_path` is relative to the content directory; `display_path` only
    /// labels problems. Every problem of the page is returned together.
    pub fn parse(
        rel_path: &str,
        display_path: &Path,
        source: &str,
    ) -> Result<Page, Vec<Diagnostic>> {
        let to_diag = |p: front_matter::Problem| Diagnostic::new(display_path, p.line, p.message);
        let source = clean_source(source);
        let source = source.as_ref();
        let split = front_matter::split(source).map_err(|p| vec![to_diag(p)])?;
        // The body is a suffix of the source, and front matter (when there is some) a slice of it.
        let layout_body = source.len() - split.body.len();
        let layout_front = match split.format {
            Some(_) => {
                let start = split.front.as_ptr() as usize - source.as_ptr() as usize;
                start..start + split.front.len()
            }
            None => 0..0,
        };
        let meta = front_matter::parse(&split)
            .map_err(|ps| ps.into_iter().map(to_diag).collect::<Vec<_>>())?;
        let doc = Doc::parse(split.body);
        let sections = section::find(&doc, split.body, split.body_line, &meta)
            .map_err(|ps| ps.into_iter().map(to_diag).collect::<Vec<_>>())?;

        let dir = page_dir(rel_path);
        let base = LinkBase {
            source_dir: rel_path.rsplit_once('/').map_or("", |(d, _)| d).to_string(),
            output_dir: dir.clone(),
        };
        let mut free: Vec<Event<'_>> = Vec::new();
        let mut paid: Vec<Vec<Event<'_>>> = vec![Vec::new(); sections.len()];
        let mut slotted = vec![false; sections.len()];
        for block in &doc.blocks {
            let at = block.bytes.start;
            let events = doc.events[block.events.clone()]
                .iter()
                .map(|(e, _)| e.clone());
            match sections.iter().position(|s| s.cut.contains(&at)) {
                None => free.extend(events),
                Some(i) => {
                    if !slotted[i] {
                        slotted[i] = true;
                        free.push(Event::Html(CowStr::from(format!(
                            "{SLOT_START}{i}{SLOT_START}\n"
                        ))));
                    }
                    if sections[i].paid.contains(&at) {
                        paid[i].extend(events);
                    }
                }
            }
        }
        let free_html = render_html(free.into_iter(), &base);
        let cuts = sections.iter().map(|s| s.cut.clone()).collect();
        let paid: Vec<PaidPart> = sections
            .into_iter()
            .zip(paid)
            .map(|(s, events)| {
                let html = render_html(events.into_iter(), &base);
                PaidPart {
                    length: text::visible_length(&html),
                    name: s.name,
                    price: s.price,
                    title: s.title,
                    html,
                    line: s.line,
                    digest: None,
                }
            })
            .collect();

        let lead = if free_html.contains(SLOT_START) {
            text::lead(&strip_slots(&free_html), 200)
        } else {
            text::lead(&free_html, 200)
        };
        let file_name = rel_path.rsplit('/').next().unwrap_or(rel_path);
        let is_index = file_name == "index.md" || file_name == "_index.md";
        let title = meta
            .title
            .clone()
            .unwrap_or_else(|| title_from_path(rel_path));
        Ok(Page {
            rel_path: rel_path.to_string(),
            dir,
            is_index,
            description: meta
                .description
                .as_deref()
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| text::cut(&lead, 160)),
            summary: text::cut(&lead, 200),
            title,
            date: meta.date,
            draft: meta.draft,
            template: meta.template,
            extra: meta.extra,
            free_html,
            paid,
            layout: Layout {
                format: split.format,
                front: layout_front,
                body: layout_body,
                cuts,
            },
        })
    }

    /// Lets go of what only the page's own output needs — its HTML, the paid HTML (keeping
    /// each section's keyed digest), the description and the extra front matter — leaving
    /// what listings, the sitemap and the goods need. With `keep_free`, the free HTML and the
    /// description stay (a listing's introduction, a feed entry).
    pub fn shed(&mut self, digest: impl Fn(&[u8]) -> String, keep_free: bool) {
        if !keep_free {
            self.free_html = String::new();
            self.description = String::new();
        }
        for part in &mut self.paid {
            if part.digest.is_none() {
                part.digest = Some(digest(part.html.as_bytes()));
            }
            part.html = String::new();
        }
        self.extra = BTreeMap::new();
        self.layout = Layout::default();
    }

    /// The good key of paid section `name`: `<page path>#<section>`.
    pub fn good_key(&self, name: &str) -> String {
        format!("{}#{}", self.rel_path, name)
    }
}

/// `html` with the slots removed: what a reader sees before paying.
pub fn strip_slots(html: &str) -> String {
    fill_slots(html, |_| String::new())
}

/// `html` with slot N replaced by `fill(N)`.
pub fn fill_slots(html: &str, mut fill: impl FnMut(usize) -> String) -> String {
    let mut out = String::with_capacity(html.len() + 256);
    let mut parts = html.split(SLOT_START);
    out.push_str(parts.next().unwrap_or(""));
    while let (Some(n), Some(rest)) = (parts.next(), parts.next()) {
        if let Ok(i) = n.parse() {
            let filled = fill(i);
            if !filled.trim().is_empty() {
                out.push_str(filled.trim_end());
                out.push('\n');
            }
        }
        out.push_str(rest.strip_prefix('\n').unwrap_or(rest));
    }
    out
}

/// "brew-guide.md" → "Brew guide"; an index page takes its directory's name.
fn title_from_path(rel_path: &str) -> String {
    let dir = page_dir(rel_path);
    let stem = dir
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or("Home");
    let words = stem.replace(['-', '_'], " ");
    let mut chars = words.trim().chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => "Home".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(rel: &str, source: &str) -> Page {
        Page::parse(rel, Path::new(rel), source).unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn free_and_paid_html_are_apart() {
        let p = page(
            "posts/brew.md",
            "---\ntitle: Brew\nsatoshipay: { price: 4000 }\n---\nFree [link](other.md) teaser.\n\n<!-- satoshipay -->\n\nThe **secret** recipe.\n",
        );
        assert_eq!(p.dir, "posts/brew");
        assert!(
            p.free_html.contains("<a href=\"../other/\">link</a>"),
            "{}",
            p.free_html
        );
        assert!(!p.free_html.contains("secret"));
        assert!(!p.free_html.contains("satoshipay"));
        assert_eq!(p.paid.len(), 1);
        assert_eq!(
            p.paid[0].html,
            "<p>The <strong>secret</strong> recipe.</p>\n"
        );
        assert_eq!(p.paid[0].length, "The secret recipe.".chars().count());
        assert_eq!(p.description, "Free link teaser.");
        let filled = fill_slots(&p.free_html, |i| format!("<TAG{i}>"));
        assert!(filled.ends_with("<TAG0>\n"), "{filled}");
    }

    #[test]
    fn footnotes_and_references_resolve_across_the_cut() {
        let p = page(
            "a.md",
            "---\nsatoshipay: { price: 5 }\n---\nSee [docs][d].\n\n<!-- satoshipay -->\n\nPaid, see [docs][d] too.\n\n[d]: https://example.com/docs\n",
        );
        assert!(p.free_html.contains("https://example.com/docs"));
        assert!(p.paid[0].html.contains("https://example.com/docs"));
    }

    #[test]
    fn titles_default_to_the_file_name() {
        assert_eq!(title_from_path("posts/brew-guide.md"), "Brew guide");
        assert_eq!(title_from_path("posts/index.md"), "Posts");
        assert_eq!(title_from_path("index.md"), "Home");
    }

    #[test]
    fn nul_bytes_cannot_forge_slots() {
        let p = page("a.md", "text \0 0 \0 more\n");
        assert!(!p.free_html.contains('\0'));
    }
}
