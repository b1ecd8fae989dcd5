//! Markdown for another generator (Hugo, Zola, Jekyll, Eleventy, mdBook): the author's page
//! byte for byte, except that the `satoshipay` front matter key is gone and each paid section
//! is replaced by its content-item tag as raw HTML.

use crate::front_matter::Format;
use crate::page::Page;

/// `source` (as [`crate::page::clean_source`] returns it) with the paid sections of `page`
/// replaced by `tags` (one per section, in slot order).
pub fn markdown(source: &str, page: &Page, tags: &[String]) -> String {
    let l = &page.layout;
    let mut out = String::with_capacity(source.len());
    if let Some(format) = l.format {
        out.push_str(&source[..l.front.start]);
        out.push_str(&strip_pay_key(&source[l.front.clone()], format));
        out.push_str(&source[l.front.end..l.body]);
    }
    out.push_str(&body(source, page, tags));
    out
}

/// The body alone, paid sections replaced by `tags` (an mdBook chapter has no front matter
/// left when it is rendered).
pub fn body(source: &str, page: &Page, tags: &[String]) -> String {
    let body = &source[page.layout.body..];
    let mut out = String::with_capacity(body.len());
    let mut pos = 0;
    for (cut, tag) in page.layout.cuts.iter().zip(tags) {
        out.push_str(&body[pos..cut.start]);
        // The tag is an HTML block: a blank line before and after it.
        if !(out.is_empty() || out.ends_with("\n\n") || out.ends_with("\r\n\r\n")) {
            out.push_str(if out.ends_with('\n') { "\n" } else { "\n\n" });
        }
        out.push_str(tag.trim());
        out.push_str("\n\n");
        pos = cut.end;
    }
    out.push_str(&body[pos..]);
    out
}

/// Front matter text without the `satoshipay` key, everything else as written.
pub fn strip_pay_key(front: &str, format: Format) -> String {
    let mut out = String::with_capacity(front.len());
    let mut skipping = false;
    let mut in_table = false;
    for line in front.split_inclusive('\n') {
        let trimmed = line.trim_end();
        match format {
            Format::Yaml => {
                let top_level = !line.starts_with([' ', '\t']) && !trimmed.is_empty();
                if top_level {
                    skipping = is_key(trimmed, "satoshipay", ':');
                }
            }
            Format::Toml => {
                let t = trimmed.trim_start();
                if t.starts_with('[') {
                    let name = t.trim_start_matches('[').trim_start();
                    skipping = name.starts_with("satoshipay")
                        && name["satoshipay".len()..]
                            .trim_start()
                            .starts_with(['.', ']']);
                    in_table = true;
                } else if !in_table && !t.is_empty() && !t.starts_with('#') {
                    skipping = is_key(t, "satoshipay", '=') || t.starts_with("satoshipay.");
                }
            }
        }
        if !skipping {
            out.push_str(line);
        }
    }
    out
}

/// Whether `line` defines `key` (`key:` / `"key":` / `key =`).
fn is_key(line: &str, key: &str, sep: char) -> bool {
    let rest = line.trim_start_matches(['"', '\'']);
    rest.strip_prefix(key)
        .map(|r| r.trim_start_matches(['"', '\'']).trim_start())
        .is_some_and(|r| r.starts_with(sep))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn strip_table() {
        let cases = [
            (
                Format::Yaml,
                "title: a\nsatoshipay:\n  price: 5\n  sections:\n    x: { price: 1 }\ndate: 2024-01-01\n",
                "title: a\ndate: 2024-01-01\n",
            ),
            (
                Format::Yaml,
                "satoshipay: { price: 5 }\ntags: [a]\n",
                "tags: [a]\n",
            ),
            (
                Format::Yaml,
                "title: a\n\"satoshipay\":\n  price: 5\n",
                "title: a\n",
            ),
            (Format::Yaml, "satoshipays: 1\n", "satoshipays: 1\n"),
            (
                Format::Toml,
                "title = \"a\"\nsatoshipay = { price = 5 }\ndate = 2024-01-01\n",
                "title = \"a\"\ndate = 2024-01-01\n",
            ),
            (
                Format::Toml,
                "title = \"a\"\n[satoshipay]\nprice = 5\n[satoshipay.sections.x]\nprice = 1\n[extra]\nmood = \"calm\"\n",
                "title = \"a\"\n[extra]\nmood = \"calm\"\n",
            ),
            (
                Format::Toml,
                "satoshipay.price = 5\ntitle = \"a\"\n",
                "title = \"a\"\n",
            ),
            (
                Format::Toml,
                "[extra]\nsatoshipay = 1\n",
                "[extra]\nsatoshipay = 1\n",
            ),
        ];
        for (format, front, want) in cases {
            assert_eq!(strip_pay_key(front, format), want, "{front:?}");
        }
    }

    #[test]
    fn sections_become_tags_and_everything_else_stays() {
        let source = "---\ntitle: T\nsatoshipay:\n  price: 5\n  sections:\n    g: { heading: Gear }\n---\nFree *text*.\n\n```\n<!-- satoshipay -->\n```\n\n## Gear\n\nkettle\n\n## After\n\nend\n<!-- satoshipay -->\npaid\n";
        let page = Page::parse("p.md", Path::new("p.md"), source).unwrap();
        let out = markdown(
            source,
            &page,
            &[
                "<p class=\"satoshipay-placeholder\" data-sp-id=\"A\"></p>".into(),
                "<p data-sp-id=\"B\"></p>".into(),
            ],
        );
        assert_eq!(
            out,
            "---\ntitle: T\n---\nFree *text*.\n\n```\n<!-- satoshipay -->\n```\n\n## Gear\n\n<p class=\"satoshipay-placeholder\" data-sp-id=\"A\"></p>\n\n## After\n\nend\n\n<p data-sp-id=\"B\"></p>\n\n"
        );
        assert!(!out.contains("kettle") && !out.contains("paid\n"));
    }
}
