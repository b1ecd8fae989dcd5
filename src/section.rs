//! Finding the paid sections of a page: markers among the parser's HTML events (never by a
//! text search, so a marker in code is text) and `heading:` sections.

use std::collections::BTreeMap;
use std::ops::Range;

use pulldown_cmark::{Event, Tag};

use crate::front_matter::{Meta, Problem, valid_name};
use crate::markdown::Doc;

/// The name of a page's default paid section.
pub const MAIN: &str = "main";

/// One paid section of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Its name: `main` or the name in the marker or front matter.
    pub name: String,
    /// Price in satoshis.
    pub price: u32,
    /// Title from front matter, if any.
    pub title: Option<String>,
    /// Bytes of the body left out of the free page (markers included).
    pub cut: Range<usize>,
    /// Bytes of the body that are paid.
    pub paid: Range<usize>,
    /// File line of its marker or heading.
    pub line: usize,
}

/// A marker comment.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Marker {
    /// `<!-- satoshipay -->`
    Teaser,
    /// `<!-- satoshipay:NAME -->`
    Open(String),
    /// `<!-- /satoshipay:NAME -->`
    Close(String),
}

/// Reads a marker from one HTML comment's inner text: `None` when the comment is not ours,
/// `Some(Err)` when it is ours but malformed.
fn parse_marker(comment: &str) -> Option<Result<Marker, String>> {
    let inner = comment.trim();
    let (closing, rest) = match inner.strip_prefix('/') {
        Some(r) => (true, r.trim_start()),
        None => (false, inner),
    };
    let rest = rest.strip_prefix("satoshipay")?;
    let rest = rest.trim();
    if rest.is_empty() {
        return Some(if closing {
            Err("`<!-- /satoshipay -->` closes nothing: `<!-- satoshipay -->` runs to the end of the page; to pay for a part in the middle use `<!-- satoshipay:NAME -->` … `<!-- /satoshipay:NAME -->`".into())
        } else {
            Ok(Marker::Teaser)
        });
    }
    let name = rest.strip_prefix(':')?.trim();
    if !valid_name(name) {
        return Some(Err(format!(
            "`{name}` is not a section name: use letters, digits, `-` and `_`, like `<!-- satoshipay:recipe -->`"
        )));
    }
    Some(Ok(if closing {
        Marker::Close(name.to_string())
    } else {
        Marker::Open(name.to_string())
    }))
}

/// Every satoshipay marker inside an HTML snippet, in order.
fn markers_in(html: &str) -> Vec<Result<Marker, String>> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<!--") {
        let after = &rest[start + 4..];
        let Some(end) = after.find("-->") else { break };
        if let Some(m) = parse_marker(&after[..end]) {
            found.push(m);
        }
        rest = &after[end + 3..];
    }
    found
}

/// Whether `html` is exactly one comment (surrounding whitespace aside).
fn is_lone_comment(html: &str) -> bool {
    let t = html.trim();
    t.starts_with("<!--") && t.ends_with("-->") && t[4..].find("-->") == Some(t.len() - 7)
}

struct Found {
    marker: Marker,
    bytes: Range<usize>,
    line: usize,
}

struct Heading {
    level: u32,
    text: String,
    bytes: Range<usize>,
    line: usize,
}

/// Finds the paid sections of a page body. `body_line` is the file line the body starts on.
/// Returns every problem at once.
pub fn find(
    doc: &Doc<'_>,
    body: &str,
    body_line: usize,
    meta: &Meta,
) -> Result<Vec<Section>, Vec<Problem>> {
    let line_at = |offset: usize| body_line + crate::diagnostic::line_of(body, offset) - 1;
    let mut problems = Vec::new();
    let mut markers = Vec::new();
    let mut headings = Vec::new();

    // Top-level blocks: stand-alone markers and headings.
    let mut top_level_html = vec![false; doc.events.len()];
    for block in &doc.blocks {
        let (first, _) = &doc.events[block.events.start];
        match first {
            Event::Start(Tag::HtmlBlock) => {
                for flag in &mut top_level_html[block.events.clone()] {
                    *flag = true;
                }
                let text = &body[block.bytes.clone()];
                let found = markers_in(text);
                if found.is_empty() {
                    continue;
                }
                let line = line_at(block.bytes.start);
                if found.len() > 1 || !is_lone_comment(text) {
                    let first_line = text.lines().next().unwrap_or("");
                    let message = if markers_in(first_line).is_empty() {
                        "a satoshipay marker is swallowed by the HTML block that starts on this line (raw HTML runs to the next blank line); put a blank line before the marker"
                    } else {
                        "a satoshipay marker must stand alone on its line, with nothing else in its HTML block; put a blank line before and after it"
                    };
                    problems.push(Problem::new(line, message));
                    continue;
                }
                match found.into_iter().next() {
                    Some(Ok(marker)) => markers.push(Found {
                        marker,
                        bytes: block.bytes.clone(),
                        line,
                    }),
                    Some(Err(m)) => problems.push(Problem::new(line, m)),
                    None => {}
                }
            }
            Event::Start(Tag::Heading { level, .. }) => headings.push(Heading {
                level: *level as u32,
                text: doc.block_text(block).trim().to_string(),
                bytes: block.bytes.clone(),
                line: line_at(block.bytes.start),
            }),
            _ => {}
        }
    }
    // Markers anywhere else (inline, in lists or quotes) would silently stay free: refuse them.
    for (i, (event, range)) in doc.events.iter().enumerate() {
        if let Event::Html(html) | Event::InlineHtml(html) = event
            && !top_level_html[i]
            && !markers_in(html).is_empty()
        {
            problems.push(Problem::new(
                line_at(range.start),
                "a satoshipay marker must stand on a line of its own at the top level of the page, not inside a paragraph, list or quote; put blank lines around it",
            ));
        }
    }

    let declared: BTreeMap<&str, &crate::front_matter::Declared> =
        meta.sections.iter().map(|d| (d.name.as_str(), d)).collect();
    let mut sections: Vec<Section> = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut note = |name: &str, line: usize, problems: &mut Vec<Problem>| -> bool {
        if let Some(first) = seen.get(name) {
            problems.push(Problem::new(line, format!("section `{name}` is marked twice (first at line {first}); give each section its own name")));
            false
        } else {
            seen.insert(name.to_string(), line);
            true
        }
    };
    let price_for = |name: &str| declared.get(name).and_then(|d| d.price).or(meta.price);
    let title_for = |name: &str| declared.get(name).and_then(|d| d.title.clone());

    if !markers.is_empty() && !meta.paid {
        for m in &markers {
            problems.push(Problem::new(m.line, "this page has a satoshipay marker but no prices; add front matter `satoshipay: { price: N }` or declare the section under `satoshipay.sections`"));
        }
        return Err(problems);
    }

    // Markers: teaser split and named blocks.
    let mut open: Option<&Found> = None;
    let mut teaser: Option<&Found> = None;
    for m in &markers {
        match &m.marker {
            Marker::Teaser => {
                if let Some(o) = open {
                    let Marker::Open(name) = &o.marker else { unreachable!() };
                    problems.push(Problem::new(m.line, format!("`<!-- satoshipay -->` inside section `{name}` (opened at line {}); close `{name}` first", o.line)));
                } else if let Some(t) = teaser {
                    problems.push(Problem::new(m.line, format!("a second `<!-- satoshipay -->` (the first is at line {}); a page has one teaser split — use named sections for more", t.line)));
                } else {
                    teaser = Some(m);
                }
            }
            Marker::Open(name) => {
                if let Some(t) = teaser {
                    problems.push(Problem::new(m.line, format!("section `{name}` starts after `<!-- satoshipay -->` (line {}), where everything is paid already; move it above that marker", t.line)));
                } else if let Some(o) = open {
                    let Marker::Open(outer) = &o.marker else { unreachable!() };
                    problems.push(Problem::new(m.line, format!("section `{name}` opens inside section `{outer}` (opened at line {}); sections cannot be nested — close `{outer}` first with `<!-- /satoshipay:{outer} -->`", o.line)));
                } else {
                    open = Some(m);
                }
            }
            Marker::Close(name) => match open {
                Some(o) if matches!(&o.marker, Marker::Open(n) if n == name) => {
                    open = None;
                    if !note(name, o.line, &mut problems) {
                        continue;
                    }
                    let Some(price) = price_for(name) else {
                        problems.push(Problem::new(o.line, format!("section `{name}` is not declared and the page has no price; declare it under `satoshipay.sections` with a price, or set `satoshipay.price`")));
                        continue;
                    };
                    if declared.get(name.as_str()).is_some_and(|d| d.heading.is_some()) {
                        problems.push(Problem::new(o.line, format!("section `{name}` has both markers and a `heading:`; keep one of them")));
                        continue;
                    }
                    sections.push(Section {
                        name: name.clone(),
                        price,
                        title: title_for(name),
                        cut: o.bytes.start..m.bytes.end,
                        paid: o.bytes.end..m.bytes.start,
                        line: o.line,
                    });
                }
                Some(o) => {
                    let Marker::Open(outer) = &o.marker else { unreachable!() };
                    problems.push(Problem::new(m.line, format!("`<!-- /satoshipay:{name} -->` closes `{name}` while section `{outer}` (opened at line {}) is open; sections cannot cross — close `{outer}` first", o.line)));
                }
                None => problems.push(Problem::new(m.line, format!("`<!-- /satoshipay:{name} -->` has no opening `<!-- satoshipay:{name} -->` before it"))),
            },
        }
    }
    if let Some(o) = open {
        let Marker::Open(name) = &o.marker else {
            unreachable!()
        };
        problems.push(Problem::new(o.line, format!("section `{name}` is never closed; add `<!-- /satoshipay:{name} -->` where its paid part ends")));
    }
    if let Some(t) = teaser
        && note(MAIN, t.line, &mut problems)
    {
        match price_for(MAIN) {
            Some(price) => sections.push(Section {
                name: MAIN.into(),
                price,
                title: title_for(MAIN),
                cut: t.bytes.start..body.len(),
                paid: t.bytes.end..body.len(),
                line: t.line,
            }),
            None => problems.push(Problem::new(
                t.line,
                "`<!-- satoshipay -->` needs a price: set `satoshipay.price` in the front matter",
            )),
        }
    }

    // Heading sections.
    for d in &meta.sections {
        let Some(wanted) = &d.heading else { continue };
        let matches: Vec<usize> = headings
            .iter()
            .enumerate()
            .filter(|(_, h)| &h.text == wanted)
            .map(|(i, _)| i)
            .collect();
        let Some(&hi) = matches.first() else {
            problems.push(Problem::new(d.line, format!("section `{}`: no top-level heading reads \"{wanted}\"; fix `heading:` to match the heading's text exactly", d.name)));
            continue;
        };
        if matches.len() > 1 {
            let lines: Vec<String> = matches
                .iter()
                .map(|&i| headings[i].line.to_string())
                .collect();
            problems.push(Problem::new(d.line, format!("section `{}`: the heading \"{wanted}\" appears {} times (lines {}); rename one so the section is unambiguous", d.name, matches.len(), lines.join(", "))));
            continue;
        }
        if !note(&d.name, headings[hi].line, &mut problems) {
            continue;
        }
        let h = &headings[hi];
        let end = headings[hi + 1..]
            .iter()
            .find(|n| n.level <= h.level)
            .map_or(body.len(), |n| n.bytes.start);
        sections.push(Section {
            name: d.name.clone(),
            price: d.price.unwrap_or_default(),
            title: d.title.clone(),
            cut: h.bytes.end..end,
            paid: h.bytes.end..end,
            line: h.line,
        });
    }

    // Declared sections that nothing marks.
    for d in &meta.sections {
        if d.heading.is_none()
            && !seen.contains_key(&d.name)
            && !(d.name == MAIN && markers.is_empty())
        {
            problems.push(Problem::new(d.line, format!("section `{}` is declared but never marked; put `<!-- satoshipay:{0} -->` and `<!-- /satoshipay:{0} -->` around its paid part, or give it a `heading:`", d.name)));
        }
    }

    // The whole body is paid when the page has a price and marks nothing.
    if meta.price.is_some()
        && markers.is_empty()
        && meta
            .sections
            .iter()
            .all(|d| d.name == MAIN && d.heading.is_none())
    {
        sections.push(Section {
            name: MAIN.into(),
            price: price_for(MAIN).unwrap_or_default(),
            title: title_for(MAIN),
            cut: 0..body.len(),
            paid: 0..body.len(),
            line: body_line,
        });
    }

    // Sections must not overlap (a heading section inside a marked one, say), and none may be empty.
    sections.sort_by_key(|s| (s.cut.start, s.cut.end));
    for pair in sections.windows(2) {
        if pair[1].cut.start < pair[0].cut.end {
            problems.push(Problem::new(pair[1].line, format!("section `{}` overlaps section `{}` (line {}); a part of the page can belong to one section only", pair[1].name, pair[0].name, pair[0].line)));
        }
    }
    for s in &sections {
        let has_content = doc.blocks.iter().any(|b| s.paid.contains(&b.bytes.start));
        if !has_content {
            problems.push(Problem::new(
                s.line,
                format!(
                    "section `{}` is empty; put its paid content {}",
                    s.name,
                    if s.cut == s.paid {
                        "under the heading"
                    } else {
                        "after its marker"
                    }
                ),
            ));
        }
    }
    if problems.is_empty() {
        Ok(sections)
    } else {
        problems.sort_by_key(|p| p.line);
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::front_matter::{parse, split};

    type Found = Vec<(String, u32, String)>;
    type Problems = Vec<(usize, String)>;
    type Case<'a> = (&'a str, &'a [(&'a str, u32, &'a str)]);

    /// Sections of a whole page source, as (name, price, paid text trimmed).
    fn sections(source: &str) -> Result<Found, Problems> {
        let s = split(source).unwrap();
        let meta = parse(&s).map_err(|p| {
            p.into_iter()
                .map(|p| (p.line, p.message))
                .collect::<Vec<_>>()
        })?;
        let doc = Doc::parse(s.body);
        find(&doc, s.body, s.body_line, &meta)
            .map(|v| {
                v.into_iter()
                    .map(|x| (x.name, x.price, s.body[x.paid].trim().to_string()))
                    .collect()
            })
            .map_err(|p| p.into_iter().map(|p| (p.line, p.message)).collect())
    }

    fn ok(source: &str) -> Vec<(String, u32, String)> {
        sections(source).unwrap_or_else(|e| panic!("{source}\n{e:?}"))
    }

    #[test]
    fn marking_forms() {
        let cases: &[Case<'_>] = &[
            (
                "---\nsatoshipay: { price: 40 }\n---\nfree\n\n<!-- satoshipay -->\n\npaid\n",
                &[("main", 40, "paid")],
            ),
            (
                "---\nsatoshipay: { price: 40 }\n---\nfree\n<!-- satoshipay -->\npaid\n",
                &[("main", 40, "paid")],
            ),
            (
                "---\nsatoshipay: { price: 40 }\n---\nall paid\n",
                &[("main", 40, "all paid")],
            ),
            (
                "---\nsatoshipay: { price: 40 }\n---\nall paid\r\n\r\nmore\r\n",
                &[("main", 40, "all paid\r\n\r\nmore")],
            ),
            (
                "---\nsatoshipay:\n  sections:\n    r: { price: 7 }\n---\na\n\n<!-- satoshipay:r -->\nsecret\n<!-- /satoshipay:r -->\n\nb\n",
                &[("r", 7, "secret")],
            ),
            (
                "---\nsatoshipay:\n  price: 9\n---\n<!--satoshipay:x-->\n\none\n\n<!--/satoshipay:x-->\n\n<!-- satoshipay:y -->\ntwo\n<!-- /satoshipay:y -->\n",
                &[("x", 9, "one"), ("y", 9, "two")],
            ),
            (
                "---\nsatoshipay:\n  sections:\n    g: { price: 8, heading: \"Gear list\" }\n---\n# Title\n\n## Gear list\n\nkettle\n\n### Sub\n\nscale\n\n## After\n\nfree\n",
                &[("g", 8, "kettle\n\n### Sub\n\nscale")],
            ),
            (
                "---\nsatoshipay:\n  price: 5\n  sections:\n    g: { heading: \"Last\" }\n---\n<!-- satoshipay:a -->\nx\n<!-- /satoshipay:a -->\n\n## Last\n\ntail\n",
                &[("a", 5, "x"), ("g", 5, "tail")],
            ),
            (
                "---\nsatoshipay: { price: 40 }\n---\nfree ☕ ünïcode\n\n<!-- satoshipay -->\n\nbezahlt ☕\n",
                &[("main", 40, "bezahlt ☕")],
            ),
        ];
        for (source, want) in cases {
            let got = ok(source);
            let want: Vec<(String, u32, String)> = want
                .iter()
                .map(|(n, p, t)| (n.to_string(), *p, t.to_string()))
                .collect();
            assert_eq!(got, want, "{source}");
        }
    }

    #[test]
    fn markers_in_code_are_text() {
        for source in [
            "---\nsatoshipay: { price: 40 }\n---\n```\n<!-- satoshipay -->\n```\n\n<!-- satoshipay -->\npaid\n",
            "---\nsatoshipay: { price: 40 }\n---\n    <!-- satoshipay -->\n\nintro `<!-- satoshipay -->` here\n\n<!-- satoshipay -->\npaid\n",
            "---\nsatoshipay: { price: 40 }\n---\n~~~md\n<!-- satoshipay:x -->\n~~~\n\n<!-- satoshipay -->\npaid\n",
        ] {
            assert_eq!(
                ok(source),
                vec![("main".to_string(), 40, "paid".to_string())],
                "{source}"
            );
        }
        // No price, markers only in code: a free page.
        assert_eq!(ok("```\n<!-- satoshipay -->\n```\n"), vec![]);
        // Free pages stay free.
        assert_eq!(ok("---\ntitle: x\n---\njust text\n"), vec![]);
    }

    #[test]
    fn problems_table() {
        // (source, line, needle)
        let cases = [
            (
                "---\ntitle: x\n---\nfree\n\n<!-- satoshipay -->\npaid\n",
                6,
                "no prices",
            ),
            (
                "---\nsatoshipay: { sections: { a: { price: 3 } } }\n---\n<!-- satoshipay -->\npaid\n",
                4,
                "needs a price",
            ),
            (
                "---\nsatoshipay: { sections: { a: { price: 3 } } }\n---\n<!-- satoshipay:b -->\nx\n<!-- /satoshipay:b -->\n\n<!-- satoshipay:a -->\ny\n<!-- /satoshipay:a -->\n",
                4,
                "not declared",
            ),
            (
                "---\nsatoshipay: { sections: { a: { price: 3 } } }\n---\nnothing\n",
                2,
                "never marked",
            ),
            (
                "---\nsatoshipay: { price: 3 }\n---\n<!-- satoshipay:a -->\nx\n",
                4,
                "never closed",
            ),
            (
                "---\nsatoshipay: { price: 3 }\n---\n<!-- satoshipay:a -->\n<!-- satoshipay:b -->\nx\n<!-- /satoshipay:b -->\n<!-- /satoshipay:a -->\n",
                5,
                "nested",
            ),
            (
                "---\nsatoshipay: { price: 3 }\n---\nx\n<!-- /satoshipay:a -->\n",
                5,
                "no opening",
            ),
            (
                "---\nsatoshipay: { price: 3 }\n---\n<!-- satoshipay:a -->\nx\n<!-- /satoshipay:b -->\n",
                6,
                "cross",
            ),
            (
                "---\nsatoshipay: { price: 3 }\n---\n<!-- satoshipay:a -->\nx\n<!-- /satoshipay:a -->\n\n<!-- satoshipay:a -->\ny\n<!-- /satoshipay:a -->\n",
                8,
                "twice",
            ),
            (
                "---\nsatoshipay: { price: 3 }\n---\n<!-- satoshipay -->\nx\n\n<!-- satoshipay -->\ny\n",
                7,
                "second",
            ),
            (
                "---\nsatoshipay: { price: 3, sections: { g: { heading: Nope } } }\n---\n# Yes\n\nx\n",
                2,
                "no top-level heading",
            ),
            (
                "---\nsatoshipay: { price: 3, sections: { g: { heading: A } } }\n---\n# A\n\nx\n\n# A\n\ny\n",
                2,
                "appears 2 times",
            ),
            (
                "---\nsatoshipay: { price: 3 }\n---\ntext <!-- satoshipay --> inline\n",
                4,
                "line of its own",
            ),
            (
                "---\nsatoshipay: { price: 3 }\n---\n- item\n\n  <!-- satoshipay -->\n\n  paid\n",
                6,
                "line of its own",
            ),
            (
                "---\nsatoshipay: { price: 3 }\n---\n<!-- satoshipay --> trailing\n",
                4,
                "stand alone",
            ),
            (
                "---\nsatoshipay: { price: 3 }\n---\n<!-- satoshipay:bad name -->\n",
                4,
                "not a section name",
            ),
            (
                "---\nsatoshipay: { price: 3 }\n---\nx\n\n<!-- satoshipay -->\n",
                6,
                "empty",
            ),
            (
                "---\nsatoshipay: { price: 3, sections: { g: { heading: A } } }\n---\n# A\n# B\n",
                4,
                "empty",
            ),
            (
                "---\nsatoshipay: { price: 3 }\n---\n<!-- satoshipay -->\nx\n\n<!-- satoshipay:a -->\ny\n<!-- /satoshipay:a -->\n",
                7,
                "after `<!-- satoshipay -->`",
            ),
            (
                "---\nsatoshipay: { price: 3, sections: { g: { heading: A } } }\n---\n<!-- satoshipay:q -->\n# A\n\nx\n<!-- /satoshipay:q -->\n",
                5,
                "overlaps",
            ),
        ];
        for (source, line, needle) in cases {
            let problems = sections(source).expect_err(source);
            assert!(
                problems
                    .iter()
                    .any(|(l, m)| *l == line && m.contains(needle)),
                "{source}\nwanted line {line} with {needle:?}, got {problems:?}"
            );
        }
    }

    #[test]
    fn lone_comment_detection() {
        assert!(is_lone_comment("<!-- satoshipay -->\n"));
        assert!(!is_lone_comment("<!-- satoshipay --> x"));
        assert!(!is_lone_comment("<!-- a --><!-- b -->"));
        assert_eq!(markers_in("<!-- satoshipay is great -->"), vec![]);
        assert_eq!(
            markers_in("<!-- satoshipay : recipe -->"),
            vec![Ok(Marker::Open("recipe".into()))]
        );
    }
}
