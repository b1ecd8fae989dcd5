//! Markdown: one parse of a page body into top-level blocks, and HTML rendering of a chosen
//! set of those blocks with relative links rewritten for the page's output location.

use std::ops::Range;

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag};

/// The Markdown extensions satoshipress enables.
pub fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
}

/// A parsed body: its events with byte ranges, grouped into top-level blocks.
pub struct Doc<'a> {
    /// Every event with its byte range in the body.
    pub events: Vec<(Event<'a>, Range<usize>)>,
    /// Top-level blocks in order.
    pub blocks: Vec<Block>,
}

/// One top-level block (paragraph, heading, list, HTML block, rule, ...).
#[derive(Debug, Clone)]
pub struct Block {
    /// Indices into [`Doc::events`].
    pub events: Range<usize>,
    /// Bytes of the body it spans.
    pub bytes: Range<usize>,
}

impl<'a> Doc<'a> {
    /// Parses `body` once.
    pub fn parse(body: &'a str) -> Doc<'a> {
        let events: Vec<_> = Parser::new_ext(body, options())
            .into_offset_iter()
            .collect();
        let mut blocks = Vec::new();
        let mut depth = 0usize;
        let mut start = 0;
        for (i, (event, range)) in events.iter().enumerate() {
            match event {
                Event::Start(_) => {
                    if depth == 0 {
                        start = i;
                    }
                    depth += 1;
                }
                Event::End(_) => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        blocks.push(Block {
                            events: start..i + 1,
                            bytes: events[start].1.start..range.end,
                        });
                    }
                }
                _ if depth == 0 => blocks.push(Block {
                    events: i..i + 1,
                    bytes: range.clone(),
                }),
                _ => {}
            }
        }
        Doc { events, blocks }
    }

    /// The plain text of a block (headings: their title).
    pub fn block_text(&self, block: &Block) -> String {
        let mut s = String::new();
        for (e, _) in &self.events[block.events.clone()] {
            if let Event::Text(t) | Event::Code(t) = e {
                s.push_str(t);
            }
        }
        s
    }
}

/// Where a page's relative links start from and where its HTML ends up.
#[derive(Debug, Clone)]
pub struct LinkBase {
    /// The source file's directory, relative to the content root (`posts`), `""` at the root.
    pub source_dir: String,
    /// The directory the page's `index.html` is written to (`posts/brew`), `""` for home.
    pub output_dir: String,
}

/// Renders events to HTML, rewriting relative link and image targets (`other.md`,
/// `img/a.png`) so they keep pointing at the same page or file from the page's output URL.
pub fn render_html<'a>(events: impl Iterator<Item = Event<'a>>, base: &LinkBase) -> String {
    let mut html = String::new();
    let events = events.map(|e| match e {
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: rewrite_url(dest_url, base),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: rewrite_url(dest_url, base),
            title,
            id,
        }),
        other => other,
    });
    pulldown_cmark::html::push_html(&mut html, events);
    html
}

fn rewrite_url<'a>(url: CowStr<'a>, base: &LinkBase) -> CowStr<'a> {
    match relative_target(&url, base) {
        Some(new) => CowStr::from(new),
        None => url,
    }
}

/// The output directory of the page whose source is `rel_path` (relative to the content
/// root, `/`-separated): `a.md` → `a`, `posts/b.md` → `posts/b`, `posts/index.md` and
/// `posts/_index.md` → `posts`, `index.md` → `""`.
pub fn page_dir(rel_path: &str) -> String {
    let stem = rel_path.strip_suffix(".md").unwrap_or(rel_path);
    match stem.rsplit_once('/') {
        Some((dir, "index" | "_index")) => dir.to_string(),
        None if stem == "index" || stem == "_index" => String::new(),
        _ => stem.to_string(),
    }
}

/// The rewritten target of a relative URL, or `None` to keep it as written.
fn relative_target(url: &str, base: &LinkBase) -> Option<String> {
    if url.is_empty() || url.starts_with(['/', '#', '?']) || has_scheme(url) {
        return None;
    }
    let split_at = url.find(['#', '?']).unwrap_or(url.len());
    let (path, suffix) = url.split_at(split_at);
    if path.is_empty() {
        return None;
    }
    let mut segments: Vec<&str> = base
        .source_dir
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop()?;
            }
            s => segments.push(s),
        }
    }
    let joined = segments.join("/");
    let (target, is_dir) = if joined.ends_with(".md") {
        (page_dir(&joined), true)
    } else {
        (joined, path.ends_with('/'))
    };
    let from: Vec<&str> = base
        .output_dir
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let to: Vec<&str> = target.split('/').filter(|s| !s.is_empty()).collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = "../".repeat(from.len() - common);
    out.push_str(&to[common..].join("/"));
    if is_dir && !to[common..].is_empty() {
        out.push('/');
    }
    if out.is_empty() {
        out.push_str("./");
    }
    out.push_str(suffix);
    Some(out)
}

fn has_scheme(url: &str) -> bool {
    match url.find(':') {
        Some(i) => {
            let scheme = &url[..i];
            !scheme.is_empty()
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_dirs() {
        for (src, dir) in [
            ("index.md", ""),
            ("_index.md", ""),
            ("about.md", "about"),
            ("posts/brew.md", "posts/brew"),
            ("posts/index.md", "posts"),
            ("posts/_index.md", "posts"),
        ] {
            assert_eq!(page_dir(src), dir, "{src}");
        }
    }

    #[test]
    fn relative_links_follow_the_page() {
        let base = LinkBase {
            source_dir: "posts".into(),
            output_dir: "posts/brew".into(),
        };
        for (url, want) in [
            ("other.md", Some("../other/")),
            ("other.md#part", Some("../other/#part")),
            ("../about.md", Some("../../about/")),
            ("../index.md", Some("../../")),
            ("index.md", Some("../")),
            ("img/cup.png", Some("../img/cup.png")),
            ("../../outside.md", None),
            ("https://example.com/a.md", None),
            ("mailto:a@b.c", None),
            ("/abs/path", None),
            ("#frag", None),
        ] {
            assert_eq!(relative_target(url, &base).as_deref(), want, "{url}");
        }
        let home = LinkBase {
            source_dir: String::new(),
            output_dir: String::new(),
        };
        assert_eq!(
            relative_target("posts/brew.md", &home).as_deref(),
            Some("posts/brew/")
        );
        assert_eq!(relative_target("index.md", &home).as_deref(), Some("./"));
    }

    #[test]
    fn blocks_group_top_level_events() {
        let body = "# T\n\npara *x*\n\n- a\n- b\n\n---\n";
        let doc = Doc::parse(body);
        assert_eq!(doc.blocks.len(), 4);
        assert_eq!(doc.block_text(&doc.blocks[0]), "T");
        assert_eq!(&body[doc.blocks[1].bytes.clone()], "para *x*\n");
    }
}
