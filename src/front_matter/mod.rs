//! Front matter: split it from the body (`---` YAML or `+++` TOML fences), parse it, and
//! validate the `satoshipay` prices with sentences an author can act on.

use std::collections::BTreeMap;

use serde::Deserialize;

mod plain;

/// The largest price accepted, in satoshis.
pub const MAX_PRICE: u64 = 2_000_000;

/// The language of a page's front matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
pub enum Format {
    /// `---` fences.
    Yaml,
    /// `+++` fences.
    Toml,
}

/// A page cut in two. Line numbers are 1-based lines of the whole file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split<'a> {
    /// `None` when the page has no front matter.
    pub format: Option<Format>,
    /// The text between the fences.
    pub front: &'a str,
    /// The file line of the front matter's first line.
    pub front_line: usize,
    /// Everything after the closing fence.
    pub body: &'a str,
    /// The file line where the body starts.
    pub body_line: usize,
}

/// A problem with a line number relative to the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based file line.
    pub line: usize,
    /// The sentence.
    pub message: String,
}

impl Problem {
    /// A problem at file line `line`.
    pub fn new(line: usize, message: impl Into<String>) -> Self {
        Problem {
            line,
            message: message.into(),
        }
    }
}

/// Cuts `source` into front matter and body. A first line of exactly `---` (or `+++`) opens
/// front matter; a line of `---` or `...` (or `+++`) closes it. CRLF and a BOM are accepted.
pub fn split(source: &str) -> Result<Split<'_>, Problem> {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let none = Split {
        format: None,
        front: "",
        front_line: 1,
        body: source,
        body_line: 1,
    };
    let first_end = source.find('\n').map_or(source.len(), |i| i + 1);
    let format = match source[..first_end].trim_end() {
        "---" => Format::Yaml,
        "+++" => Format::Toml,
        _ => return Ok(none),
    };
    let mut pos = first_end;
    let mut line = 2;
    while pos < source.len() {
        let end = source[pos..]
            .find('\n')
            .map_or(source.len(), |i| pos + i + 1);
        let text = source[pos..end].trim_end();
        let closes = match format {
            Format::Yaml => text == "---" || text == "...",
            Format::Toml => text == "+++",
        };
        if closes {
            return Ok(Split {
                format: Some(format),
                front: &source[first_end..pos],
                front_line: 2,
                body: &source[end..],
                body_line: line + 1,
            });
        }
        pos = end;
        line += 1;
    }
    let fence = if format == Format::Yaml { "---" } else { "+++" };
    Err(Problem::new(
        1,
        format!(
            "front matter opened with `{fence}` is never closed; add a line `{fence}` after it"
        ),
    ))
}

/// The front matter fields satoshipress reads. Any other key is kept in `extra` for templates.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FrontMatter {
    /// The page title.
    pub title: Option<String>,
    /// Publication date, `YYYY-MM-DD` or RFC 3339.
    pub date: Option<DateValue>,
    /// The meta description; derived from the free text when absent.
    pub description: Option<String>,
    /// Drafts are not built.
    #[serde(default)]
    pub draft: bool,
    /// A template of the theme to render this page with, instead of `page.html`.
    pub template: Option<String>,
    /// The paid sections of the page.
    pub satoshipay: Option<PayMatter>,
    /// Every other key, for templates (`page.extra.KEY`).
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// A date as YAML (a string) or TOML (a string or a native date) writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum DateValue {
    /// `"2024-05-01"` or an RFC 3339 timestamp.
    Text(String),
    /// A TOML date or datetime.
    Toml(toml::value::Datetime),
}

impl DateValue {
    fn text(&self) -> String {
        match self {
            DateValue::Text(s) => s.trim().to_string(),
            DateValue::Toml(d) => d.to_string(),
        }
    }
}

/// The `satoshipay` key.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayMatter {
    /// Price of the page's default section `main`.
    pub price: Option<serde_json::Value>,
    /// Named sections.
    #[serde(default)]
    pub sections: BTreeMap<String, SectionMatter>,
}

/// One entry of `satoshipay.sections`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionMatter {
    /// Price in satoshis; the page's price when absent.
    pub price: Option<serde_json::Value>,
    /// Title shown in the SatoshiPay dashboard.
    pub title: Option<String>,
    /// The section is the part under this heading.
    pub heading: Option<String>,
}

/// A section declared in front matter, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    /// Its name.
    pub name: String,
    /// Price, if the entry or the page gives one.
    pub price: Option<u32>,
    /// Title, if given.
    pub title: Option<String>,
    /// Heading text, for heading sections.
    pub heading: Option<String>,
    /// File line of its declaration.
    pub line: usize,
}

/// What the front matter says, validated.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// Title (falls back to the file name later).
    pub title: Option<String>,
    /// Normalised RFC 3339 date, if any.
    pub date: Option<String>,
    /// Meta description, if given.
    pub description: Option<String>,
    /// Whether the page is a draft.
    pub draft: bool,
    /// Template override.
    pub template: Option<String>,
    /// Whether a `satoshipay` key is present at all.
    pub paid: bool,
    /// The page price (`satoshipay.price`).
    pub price: Option<u32>,
    /// File line of `satoshipay.price` (or of the front matter).
    pub price_line: usize,
    /// Declared sections, by name.
    pub sections: Vec<Declared>,
    /// Other keys.
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Parses and validates the front matter of `split`. All problems are returned together.
pub fn parse(split: &Split<'_>) -> Result<Meta, Vec<Problem>> {
    let Some(format) = split.format else {
        return Ok(Meta::default());
    };
    let fm: FrontMatter = match format {
        Format::Yaml if split.front.trim().is_empty() => FrontMatter::default(),
        Format::Yaml if let Some(fm) = plain::parse(split.front) => fm,
        Format::Yaml => serde_saphyr::from_str_with_options(
            split.front,
            // YAML 1.2 booleans only: `tags: [x, y]` must not turn `y` into `true`.
            serde_saphyr::options! { strict_booleans: true },
        )
        .map_err(|e| {
            let e = e.without_snippet();
            let line = e.location().map_or(0, |l| l.line() as usize);
            let options =
                serde_saphyr::render_options! { snippets: serde_saphyr::SnippetMode::Off };
            let text = e.render_with_options(options);
            let text = text.lines().next().unwrap_or("").trim();
            // The parser's own position is relative to the front matter; ours is the file's.
            let text = match text.rfind(" at line ") {
                Some(i) if text[i..].contains(", column ") => &text[..i],
                _ => text,
            };
            vec![Problem::new(
                split.front_line + line.saturating_sub(1),
                format!("front matter is not valid YAML: {text}"),
            )]
        })?,
        Format::Toml => toml::from_str(split.front).map_err(|e| {
            let line = e
                .span()
                .map_or(1, |s| crate::diagnostic::line_of(split.front, s.start));
            vec![Problem::new(
                split.front_line + line - 1,
                format!("front matter is not valid TOML: {}", e.message().trim()),
            )]
        })?,
    };
    let mut problems = Vec::new();
    let at = |path: &[&str]| split.front_line + locate_key(split.front, path).unwrap_or(0);
    let date = match &fm.date {
        Some(d) => match normalise_date(&d.text()) {
            Some(d) => Some(d),
            None => {
                problems.push(Problem::new(
                    at(&["date"]),
                    format!("date `{}` is not a date; write it as YYYY-MM-DD or as an RFC 3339 timestamp like 2024-05-01T09:30:00Z", d.text()),
                ));
                None
            }
        },
        None => None,
    };
    let mut meta = Meta {
        title: fm
            .title
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty()),
        date,
        description: fm.description,
        draft: fm.draft,
        template: fm.template,
        paid: fm.satoshipay.is_some(),
        price_line: at(&["satoshipay"]),
        extra: fm.extra,
        ..Meta::default()
    };
    if let Some(pay) = fm.satoshipay {
        if let Some(v) = &pay.price {
            meta.price_line = at(&["satoshipay", "price"]);
            match check_price(v) {
                Ok(p) => meta.price = Some(p),
                Err(m) => problems.push(Problem::new(
                    meta.price_line,
                    format!("satoshipay.price {m}"),
                )),
            }
        }
        for (name, entry) in pay.sections {
            let line = at(&["satoshipay", "sections", &name]);
            if !valid_name(&name) {
                problems.push(Problem::new(line, format!("section name `{name}` may hold only letters, digits, `-` and `_`; rename it")));
                continue;
            }
            let price = match &entry.price {
                Some(v) => match check_price(v) {
                    Ok(p) => Some(p),
                    Err(m) => {
                        problems.push(Problem::new(
                            at(&["satoshipay", "sections", &name, "price"]),
                            format!("price of section `{name}` {m}"),
                        ));
                        continue;
                    }
                },
                None => meta.price,
            };
            if price.is_none() {
                problems.push(Problem::new(line, format!("section `{name}` has no price; add `price: N` to it or a page price `satoshipay.price`")));
            }
            let heading = entry.heading.map(|h| h.trim().to_string());
            if heading.as_deref() == Some("") {
                problems.push(Problem::new(
                    line,
                    format!("section `{name}` has an empty `heading`; give the heading's text"),
                ));
            }
            meta.sections.push(Declared {
                name,
                price,
                title: entry
                    .title
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty()),
                heading,
                line,
            });
        }
    }
    if problems.is_empty() {
        Ok(meta)
    } else {
        Err(problems)
    }
}

/// Whether the quick reader of plain front matter, wherever it answers, answers exactly as
/// the full YAML parser does (for the differential tests and the fuzz target).
#[doc(hidden)]
pub fn readers_agree(front: &str) -> bool {
    match plain::parse(front) {
        None => true,
        Some(quick) => {
            serde_saphyr::from_str_with_options::<FrontMatter>(
                front,
                serde_saphyr::options! { strict_booleans: true },
            )
            .ok()
            .map(|full| format!("{full:?}"))
                == Some(format!("{quick:?}"))
        }
    }
}

/// Whether `name` can name a section (and appear in a marker and a URL fragment).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A price must be a whole number of satoshis from 1 to [`MAX_PRICE`].
fn check_price(v: &serde_json::Value) -> Result<u32, String> {
    let shown = match v {
        serde_json::Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    };
    match v.as_u64() {
        Some(p) if (1..=MAX_PRICE).contains(&p) => Ok(p as u32),
        _ => Err(format!(
            "is {shown}: write a whole number of satoshis from 1 to {MAX_PRICE}, like `price: 4000`"
        )),
    }
}

/// Finds the 0-based line of a key path in front matter text (YAML or TOML): the first line
/// holding the last key, after lines holding the ones before it. Good enough to point an
/// author at the right line; `None` when not found.
pub fn locate_key(front: &str, path: &[&str]) -> Option<usize> {
    let mut want = 0;
    for (i, line) in front.lines().enumerate() {
        let mut rest = line;
        while want < path.len() {
            match find_key(rest, path[want]) {
                Some(after) => {
                    want += 1;
                    rest = &rest[after..];
                }
                None => break,
            }
        }
        if want == path.len() {
            return Some(i);
        }
    }
    None
}

/// Byte offset just past `key` used as a key (`key:`, `key =`, `key.`, `"key":`) in `line`.
fn find_key(line: &str, key: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = line[from..].find(key) {
        let start = from + found;
        let end = start + key.len();
        let before_ok = line[..start]
            .chars()
            .next_back()
            .is_none_or(|c| c.is_whitespace() || "{,.[\"'".contains(c));
        let after = line[end..].trim_start_matches(['"', '\'']).trim_start();
        let after_ok = after.starts_with(':')
            || after.starts_with('=')
            || after.starts_with('.')
            || after.starts_with(']');
        if before_ok && after_ok {
            return Some(end);
        }
        from = end;
    }
    None
}

/// `YYYY-MM-DD` becomes `YYYY-MM-DDT00:00:00Z`; an RFC 3339 timestamp is kept as written.
fn normalise_date(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let date_ok = b.len() >= 10
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10);
    if !date_ok {
        return None;
    }
    let month: u32 = text[5..7].parse().ok()?;
    let day: u32 = text[8..10].parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    if b.len() == 10 {
        return Some(format!("{text}T00:00:00Z"));
    }
    let time_ok = (b[10] == b'T' || b[10] == b' ')
        && b.len() >= 19
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !time_ok {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let zone_ok = match rest {
        "" => true,
        "Z" | "z" => true,
        z => {
            z.len() == 6
                && (z.starts_with('+') || z.starts_with('-'))
                && z.as_bytes()[3] == b':'
                && z[1..3]
                    .bytes()
                    .chain(z[4..6].bytes())
                    .all(|c| c.is_ascii_digit())
        }
    };
    if !zone_ok {
        return None;
    }
    let mut out = format!("{}T{}", &text[..10], &text[11..]);
    if rest.is_empty() {
        out.push('Z');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_table() {
        // (source, format, front, body, body_line)
        let cases: &[(&str, Option<Format>, &str, &str, usize)] = &[
            ("no front matter\n", None, "", "no front matter\n", 1),
            (
                "---\ntitle: a\n---\nbody\n",
                Some(Format::Yaml),
                "title: a\n",
                "body\n",
                4,
            ),
            (
                "---\r\ntitle: a\r\n---\r\nbody\r\n",
                Some(Format::Yaml),
                "title: a\r\n",
                "body\r\n",
                4,
            ),
            (
                "\u{feff}---\ntitle: a\n...\nbody",
                Some(Format::Yaml),
                "title: a\n",
                "body",
                4,
            ),
            (
                "+++\ntitle = \"a\"\n+++\nbody",
                Some(Format::Toml),
                "title = \"a\"\n",
                "body",
                4,
            ),
            ("---\n---\n", Some(Format::Yaml), "", "", 3),
            (
                "----\ntitle: a\n----\n",
                None,
                "",
                "----\ntitle: a\n----\n",
                1,
            ),
            (
                "--- \ntitle: a\n---  \nx",
                Some(Format::Yaml),
                "title: a\n",
                "x",
                4,
            ),
            ("", None, "", "", 1),
        ];
        for (source, format, front, body, body_line) in cases {
            let s = split(source).unwrap();
            assert_eq!(s.format, *format, "{source:?}");
            assert_eq!(s.front, *front, "{source:?}");
            assert_eq!(s.body, *body, "{source:?}");
            assert_eq!(s.body_line, *body_line, "{source:?}");
        }
    }

    #[test]
    fn unclosed_front_matter() {
        let e = split("---\ntitle: a\nbody\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("never closed"));
    }

    fn meta(source: &str) -> Result<Meta, Vec<Problem>> {
        parse(&split(source).unwrap())
    }

    #[test]
    fn yaml_and_toml_read_the_same() {
        let yaml = "---\ntitle: Brew\ndate: 2024-05-01\nsatoshipay:\n  price: 4000\n  sections:\n    recipe: { price: 2500, title: \"The recipe\" }\n    gear:\n      heading: Gear list\n---\nbody";
        let toml = "+++\ntitle = \"Brew\"\ndate = 2024-05-01\n[satoshipay]\nprice = 4000\n[satoshipay.sections.recipe]\nprice = 2500\ntitle = \"The recipe\"\n[satoshipay.sections.gear]\nheading = \"Gear list\"\n+++\nbody";
        for source in [yaml, toml] {
            let m = meta(source).unwrap();
            assert_eq!(m.title.as_deref(), Some("Brew"));
            assert_eq!(m.date.as_deref(), Some("2024-05-01T00:00:00Z"));
            assert_eq!(m.price, Some(4000));
            assert_eq!(m.sections.len(), 2);
            let gear = &m.sections[0];
            assert_eq!(
                (gear.name.as_str(), gear.price, gear.heading.as_deref()),
                ("gear", Some(4000), Some("Gear list"))
            );
            let recipe = &m.sections[1];
            assert_eq!(
                (recipe.name.as_str(), recipe.price, recipe.title.as_deref()),
                ("recipe", Some(2500), Some("The recipe"))
            );
        }
    }

    #[test]
    fn extra_keys_are_kept() {
        let m = meta("---\ntitle: a\ntags: [x, y]\n---\n").unwrap();
        assert_eq!(m.extra["tags"], serde_json::json!(["x", "y"]));
    }

    #[test]
    fn problems_table() {
        // (source, line, needle)
        let cases = [
            ("---\ntitle: [unclosed\n---\n", 2, "not valid YAML"),
            (
                "---\nsatoshipay:\n  price: 0\n---\n",
                3,
                "from 1 to 2000000",
            ),
            ("---\nsatoshipay:\n  price: 2000001\n---\n", 3, "2000001"),
            ("---\nsatoshipay:\n  price: 12.5\n---\n", 3, "whole number"),
            ("---\nsatoshipay:\n  price: \"ten\"\n---\n", 3, "\"ten\""),
            ("---\nsatoshipay:\n  price: -3\n---\n", 3, "-3"),
            (
                "---\ntitle: x\nsatoshipay:\n  sections:\n    a: { title: t }\n---\n",
                5,
                "no price",
            ),
            (
                "---\nsatoshipay:\n  price: 5\n  sections:\n    a:\n      price: 5000000\n---\n",
                6,
                "section `a`",
            ),
            ("---\nsatoshipay:\n  prise: 5\n---\n", 3, "prise"),
            ("---\ndate: yesterday\n---\n", 2, "YYYY-MM-DD"),
            ("+++\n[satoshipay]\nprice = 0\n+++\n", 3, "from 1"),
            ("+++\ntitle = \n+++\n", 2, "not valid TOML"),
            (
                "---\nsatoshipay:\n  price: 5\n  sections:\n    \"a b\": {}\n---\n",
                5,
                "rename",
            ),
        ];
        for (source, line, needle) in cases {
            let problems = meta(source).unwrap_err();
            assert_eq!(problems[0].line, line, "{source:?}: {problems:?}");
            assert!(
                problems[0].message.contains(needle),
                "{source:?}: {problems:?}"
            );
        }
    }

    #[test]
    fn several_problems_reported_together() {
        let p = meta("---\nsatoshipay:\n  price: 0\n  sections:\n    a: { price: x }\n---\n")
            .unwrap_err();
        assert_eq!(p.len(), 2, "{p:?}");
    }

    #[test]
    fn dates() {
        for (text, want) in [
            ("2024-01-02", Some("2024-01-02T00:00:00Z")),
            ("2024-01-02T03:04:05Z", Some("2024-01-02T03:04:05Z")),
            ("2024-01-02 03:04:05", Some("2024-01-02T03:04:05Z")),
            (
                "2024-01-02T03:04:05.123+02:00",
                Some("2024-01-02T03:04:05.123+02:00"),
            ),
            ("2024-13-02", None),
            ("2024-1-2", None),
            ("soon", None),
        ] {
            assert_eq!(normalise_date(text).as_deref(), want, "{text}");
        }
    }

    #[test]
    fn locate_keys_in_yaml_and_toml() {
        let yaml = "title: x\nsatoshipay:\n  price: 1\n  sections:\n    a: { price: 2 }\n";
        assert_eq!(locate_key(yaml, &["satoshipay", "price"]), Some(2));
        assert_eq!(
            locate_key(yaml, &["satoshipay", "sections", "a", "price"]),
            Some(4)
        );
        let toml = "title = \"x\"\n[satoshipay]\nprice = 1\n[satoshipay.sections.a]\nprice = 2\n";
        assert_eq!(
            locate_key(toml, &["satoshipay", "sections", "a", "price"]),
            Some(4)
        );
    }
}
