//! Visible text of rendered HTML: its length (for `data-sp-length`) and excerpts (for meta
//! descriptions, feeds and index summaries, always taken from free HTML).

/// Iterates the visible characters of `html`: tags, comments and the content of `script`
/// and `style` elements skipped, each character reference counted as one character, runs of
/// whitespace folded into one space, leading and trailing whitespace dropped.
fn visible_chars(html: &str) -> impl Iterator<Item = char> + '_ {
    let mut chars = html.char_indices().peekable();
    let mut pending_space = false;
    let mut started = false;
    let mut skip_until: Option<&'static str> = None;
    let mut queued: Option<char> = None;
    std::iter::from_fn(move || {
        if let Some(c) = queued.take() {
            return Some(c);
        }
        loop {
            let (i, c) = chars.next()?;
            if let Some(end) = skip_until {
                if c == '<'
                    && html[i..].len() >= end.len()
                    && html[i..i + end.len()].eq_ignore_ascii_case(end)
                {
                    skip_until = None;
                } else {
                    continue;
                }
            }
            let ch = match c {
                '<' => {
                    let rest = &html[i..];
                    let skip = if rest.starts_with("<!--") {
                        rest.find("-->").map_or(rest.len(), |e| e + 3)
                    } else if rest[1..].starts_with(|c: char| {
                        c.is_ascii_alphabetic() || c == '/' || c == '!' || c == '?'
                    }) {
                        let len = rest.find('>').map_or(rest.len(), |e| e + 1);
                        let name_len = rest[1..]
                            .bytes()
                            .take_while(u8::is_ascii_alphanumeric)
                            .count();
                        let name = &rest[1..1 + name_len];
                        if name.eq_ignore_ascii_case("script") {
                            skip_until = Some("</script");
                        } else if name.eq_ignore_ascii_case("style") {
                            skip_until = Some("</style");
                        }
                        len
                    } else {
                        0
                    };
                    if skip > 0 {
                        // Tags separate words only where they break blocks; count none.
                        let target = i + skip;
                        while chars.peek().is_some_and(|(j, _)| *j < target) {
                            chars.next();
                        }
                        continue;
                    }
                    '<'
                }
                '&' => {
                    let rest = &html[i + 1..];
                    let n = rest
                        .bytes()
                        .take(32)
                        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'#')
                        .count();
                    if n > 0 && rest.as_bytes().get(n) == Some(&b';') {
                        for _ in 0..=n {
                            chars.next();
                        }
                        decode_reference(&rest[..n])
                    } else {
                        '&'
                    }
                }
                c => c,
            };
            if ch.is_whitespace() {
                pending_space = started;
                continue;
            }
            started = true;
            if pending_space {
                pending_space = false;
                queued = Some(ch);
                return Some(' ');
            }
            return Some(ch);
        }
    })
}

/// The number of visible characters of `html` (Unicode scalar values, not bytes).
pub fn visible_length(html: &str) -> usize {
    visible_chars(html).count()
}

/// The character a reference (`amp`, `#39`, `#x2603`) stands for; U+FFFD for one this
/// function does not know (it still counts as one visible character).
fn decode_reference(name: &str) -> char {
    let numeric = name
        .strip_prefix('#')
        .and_then(|n| match n.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => n.parse().ok(),
        });
    if let Some(code) = numeric {
        return char::from_u32(code).unwrap_or('\u{fffd}');
    }
    match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "mdash" => '—',
        "ndash" => '–',
        "hellip" => '…',
        "copy" => '©',
        _ => '\u{fffd}',
    }
}

/// The visible text of `html`, with character references decoded.
pub fn visible_text(html: &str) -> String {
    visible_chars(html).collect()
}

/// At most `max` characters of the visible text of `html`, cut at a word boundary, with an
/// ellipsis when cut.
pub fn excerpt(html: &str, max: usize) -> String {
    cut(&lead(html, max), max)
}

/// The first `max + 1` visible characters of `html` (one more than an excerpt of `max`
/// shows, to tell whether it was cut): read once, then [`cut`] to several lengths.
pub fn lead(html: &str, max: usize) -> String {
    visible_chars(html).take(max + 1).collect()
}

/// `text` (a [`lead`]) cut to at most `max` characters at a word boundary, with an ellipsis
/// when cut.
pub fn cut(text: &str, max: usize) -> String {
    let Some((end, _)) = text.char_indices().nth(max) else {
        return text.to_string();
    };
    let cut = &text[..end];
    let cut = match cut.rfind(' ') {
        Some(i) if i > max / 2 => &cut[..i],
        _ => cut,
    };
    format!("{}…", cut.trim_end_matches([',', ';', ':', '.', ' ']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_table() {
        let cases = [
            ("", 0),
            ("<p>abc</p>", 3),
            ("<p>a  b\n\nc</p>", 5),
            ("<p>a</p>\n<p>b</p>\n", 3),
            ("<p>☕ café</p>", 6),
            ("<p>日本語</p>", 3),
            ("<p>Tom &amp; Jerry</p>", 11),
            ("<p>&lt;tag&gt;</p>", 5),
            ("<p>a&nbsp;b</p>", 3),
            ("<p>AT&T</p>", 4),
            ("<!-- hidden --><p>x</p>", 1),
            ("<script>var a = 1;</script><p>x</p>", 1),
            ("<style>p{}</style>x", 1),
            ("<p>  lead and trail  </p>\n", 14),
            ("<p>a\r\nb</p>", 3),
            ("<p>1 < 2</p>", 5),
            ("<p>e\u{301}</p>", 2),
            ("<img src=\"x.png\" alt=\"a cup\">", 0),
            ("<pre><code>fn main() {}\n</code></pre>", 12),
        ];
        for (html, want) in cases {
            assert_eq!(visible_length(html), want, "{html:?}");
        }
    }

    #[test]
    fn text_and_excerpts() {
        assert_eq!(
            visible_text("<p>Tom &amp; Jerry &lt;3</p>"),
            "Tom & Jerry <3"
        );
        assert_eq!(visible_text("<h1>A</h1>\n<p>b  c</p>"), "A b c");
        assert_eq!(
            excerpt("<p>one two three four</p>", 100),
            "one two three four"
        );
        assert_eq!(excerpt("<p>one two three four</p>", 12), "one two…");
        assert_eq!(
            excerpt("<p>ünïcödé wörds everywhere</p>", 14),
            "ünïcödé wörds…"
        );
    }
}
