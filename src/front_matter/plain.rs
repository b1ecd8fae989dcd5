//! A quick reader for the plain YAML most front matter is written in: `key: value` lines,
//! nested block mappings, quoted strings and one-line flow mappings and sequences of
//! scalars. It reads in a microsecond what the full YAML parser takes fifteen for.
//!
//! It answers only when it is sure: anything outside that subset — anchors, tags, block
//! sequences, multi-line strings, comments after a value, numbers other than plain decimal
//! integers, words YAML 1.1 would read as booleans — gives `None`, and the full parser reads
//! the text (and reports its errors). A differential test and the fuzz target hold it to
//! giving exactly what the full parser gives wherever it answers.

use serde_json::Value;

use super::{DateValue, FrontMatter, PayMatter, SectionMatter};

/// A node of the block structure, values still as written.
enum Node<'a> {
    /// A scalar, quoted or flow text as written on its line (trimmed).
    Text(&'a str),
    /// A block mapping, keys in order.
    Map(Vec<(&'a str, Node<'a>)>),
}

/// The front matter, if it is within the plain subset.
pub fn parse(front: &str) -> Option<FrontMatter> {
    // Characters YAML does not allow in a stream (or reads as line breaks) are the full
    // parser's to report.
    if front.chars().any(|c| {
        (c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
            || matches!(
                c,
                '\u{feff}' | '\u{2028}' | '\u{2029}' | '\u{fffe}' | '\u{ffff}'
            )
    }) {
        return None;
    }
    // A lone CR is a line break to YAML.
    if front.contains('\r') && front.replace("\r\n", "").contains('\r') {
        return None;
    }
    let lines: Vec<(usize, &str)> = front
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| {
            let t = l.trim_start_matches(' ');
            !t.is_empty() && !t.starts_with('#')
        })
        .map(|l| {
            let t = l.trim_start_matches(' ');
            (l.len() - t.len(), t)
        })
        .collect();
    let mut at = 0;
    let root = block(&lines, &mut at, 0)?;
    if at != lines.len() {
        return None;
    }
    let mut fm = FrontMatter::default();
    for (key, node) in root {
        match (key, node) {
            ("title", Node::Text(t)) => fm.title = Some(string(t)?),
            ("description", Node::Text(t)) => fm.description = Some(string(t)?),
            ("template", Node::Text(t)) => fm.template = Some(string(t)?),
            ("date", Node::Text(t)) => fm.date = Some(DateValue::Text(string(t)?)),
            ("draft", Node::Text(t)) => match scalar(t)? {
                Value::Bool(b) => fm.draft = b,
                _ => return None,
            },
            ("satoshipay", node) => fm.satoshipay = Some(pay(node)?),
            (_, Node::Text(t)) => {
                fm.extra.insert(key.to_string(), value(t)?);
            }
            (_, Node::Map(_)) => return None,
        }
    }
    Some(fm)
}

/// The block mapping whose keys sit at `indent`, from line `*at`.
fn block<'a>(
    lines: &[(usize, &'a str)],
    at: &mut usize,
    indent: usize,
) -> Option<Vec<(&'a str, Node<'a>)>> {
    let mut map: Vec<(&str, Node)> = Vec::new();
    while let Some(&(ind, text)) = lines.get(*at) {
        if ind < indent {
            break;
        }
        if ind > indent || text.starts_with('\t') {
            return None;
        }
        let colon = text.find(':')?;
        let key = &text[..colon];
        let rest = &text[colon + 1..];
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            || !(rest.is_empty() || rest.starts_with(' '))
            || map.iter().any(|(k, _)| *k == key)
        {
            return None;
        }
        *at += 1;
        let rest = rest.trim_matches(' ');
        let node = if rest.is_empty() {
            let child = lines.get(*at).map(|(i, _)| *i).filter(|i| *i > indent)?;
            Node::Map(block(lines, at, child)?)
        } else {
            Node::Text(rest)
        };
        map.push((key, node));
    }
    Some(map)
}

/// The `satoshipay` mapping, block or flow.
fn pay(node: Node<'_>) -> Option<PayMatter> {
    let mut pay = PayMatter::default();
    for (key, node) in entries(node)? {
        match (key, node) {
            ("price", Node::Text(t)) => pay.price = optional(value(t)?),
            ("sections", node) => {
                for (name, section) in entries(node)? {
                    let mut s = SectionMatter::default();
                    for (field, node) in entries(section)? {
                        let Node::Text(t) = node else { return None };
                        match field {
                            "price" => s.price = optional(value(t)?),
                            "title" => s.title = Some(string(t)?),
                            "heading" => s.heading = Some(string(t)?),
                            _ => return None,
                        }
                    }
                    pay.sections.insert(name.to_string(), s);
                }
            }
            _ => return None,
        }
    }
    Some(pay)
}

/// An `Option<Value>` field: YAML `null` is `None`, as serde reads it.
fn optional(v: Value) -> Option<Value> {
    (!v.is_null()).then_some(v)
}

/// The entries of a block mapping or of a one-line flow mapping `{ k: v, … }`.
fn entries(node: Node<'_>) -> Option<Vec<(&str, Node<'_>)>> {
    match node {
        Node::Map(m) => Some(m),
        Node::Text(t) => {
            let inner = t.strip_prefix('{')?.strip_suffix('}')?;
            let mut out: Vec<(&str, Node)> = Vec::new();
            for item in flow_items(inner)? {
                let (key, v) = item.split_once(':')?;
                let key = key.trim_matches(' ');
                if key.is_empty()
                    || !key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                    || !v.starts_with(' ')
                    || out.iter().any(|(k, _)| *k == key)
                {
                    return None;
                }
                out.push((key, Node::Text(v.trim_matches(' '))));
            }
            Some(out)
        }
    }
}

/// The comma-separated items of a one-line flow collection (between its brackets), if they
/// are all scalars; `[]` and `{}` have none.
fn flow_items(inner: &str) -> Option<Vec<&str>> {
    let mut items = Vec::new();
    let mut start = 0;
    let mut quote: Option<u8> = None;
    let bytes = inner.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match (quote, b) {
            (Some(b'"'), b'\\') => i += 1,
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'\t') => {
                return None;
            }
            (None, b',') => {
                items.push(inner[start..i].trim_matches(' '));
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if quote.is_some() {
        return None;
    }
    let last = inner[start..].trim_matches(' ');
    if !last.is_empty() {
        items.push(last);
    } else if !items.is_empty() {
        // A trailing comma, or an empty item.
        return None;
    }
    if items.iter().any(|i| i.is_empty()) {
        return None;
    }
    Some(items)
}

/// A value for a free key: a scalar, or a one-line flow sequence of scalars.
fn value(text: &str) -> Option<Value> {
    match text.strip_prefix('[') {
        Some(rest) => {
            let inner = rest.strip_suffix(']')?;
            flow_items(inner)?
                .into_iter()
                .map(scalar)
                .collect::<Option<Vec<_>>>()
                .map(Value::Array)
        }
        None => scalar(text),
    }
}

/// A scalar that must be a string.
fn string(text: &str) -> Option<String> {
    match scalar(text)? {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// A quoted or plain scalar, typed as YAML 1.2's core schema types it with only `true` and
/// `false` as booleans — where that is beyond doubt.
fn scalar(text: &str) -> Option<Value> {
    if let Some(rest) = text.strip_prefix('"') {
        return double_quoted(rest).map(Value::String);
    }
    if let Some(rest) = text.strip_prefix('\'') {
        let inner = rest.strip_suffix('\'')?;
        if inner.replace("''", "").contains('\'') {
            return None;
        }
        return Some(Value::String(inner.replace("''", "'")));
    }
    let first = text.bytes().next()?;
    if b"-?:,[]{}#&*!|>'\"%@`".contains(&first)
        || text.contains(": ")
        || text.contains(" #")
        || text.ends_with(':')
        || text.contains('\t')
    {
        return None;
    }
    match text {
        "null" | "~" => return Some(Value::Null),
        "true" => return Some(Value::Bool(true)),
        "false" => return Some(Value::Bool(false)),
        _ => {}
    }
    let lower = text.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "null" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n"
    ) || lower.starts_with(".inf")
        || lower.starts_with(".nan")
    {
        return None;
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if digits(text) && (text == "0" || !text.starts_with('0')) {
        return text.parse::<u64>().ok().map(Value::from);
    }
    if first.is_ascii_digit() || first == b'.' || first == b'+' {
        // Only a date (or timestamp) among the number-like: 2024-05-01, 2024-05-01T09:30:00Z.
        let b = text.as_bytes();
        let digits_at = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
        let date = b.len() >= 10
            && digits_at(0..4)
            && b[4] == b'-'
            && digits_at(5..7)
            && b[7] == b'-'
            && digits_at(8..10)
            && (b.len() == 10 || b[10] == b'T' || b[10] == b't');
        if !date || text.contains(' ') {
            return None;
        }
    }
    Some(Value::String(text.to_string()))
}

/// The rest of a double-quoted scalar after its opening quote, if it closes at the end of
/// the text and uses only the escapes `\"` and `\\`.
fn double_quoted(rest: &str) -> Option<String> {
    let inner = rest.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                c @ ('"' | '\\') => out.push(c),
                _ => return None,
            },
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// The subset, side by side with the full parser: wherever the quick reader answers, it
/// must answer what serde-saphyr does.
#[cfg(test)]
mod tests {
    use super::*;

    fn same(front: &str) -> bool {
        assert!(
            super::super::readers_agree(front),
            "the readers differ on {front}"
        );
        parse(front).is_some()
    }

    #[test]
    fn the_usual_front_matter_is_read_quickly_and_alike() {
        for front in [
            "title: Brewing guide\ndate: 2026-03-14\n",
            "title: \"Extraction, steam: time\"\ndate: 2017-02-10\nsatoshipay:\n  price: 367\n  sections:\n    extra: { price: 127, title: \"Extra\" }\n    deep: { price: 225, heading: \"Deep dive 5497\" }\n",
            "title: 'It''s here'\ndraft: true\ntemplate: wide.html\n",
            "satoshipay: { price: 4000 }\n",
            "# a comment\ntitle: A\n\ntags: [coffee, \"tea, green\", 3, true, null]\ncount: 12\nempty: []\n",
            "satoshipay:\n  sections:\n    recipe:\n      price: 2500\n      title: The recipe\n",
            "date: 2024-05-01T09:30:00Z\ndescription: Short.\r\n",
            "title: A \\ B \"quoted\" inside\n",
            "satoshipay:\n  price: \"4000\"\n",
        ] {
            assert!(same(front), "not read quickly: {front}");
        }
    }

    #[test]
    fn anything_unsure_goes_to_the_full_parser() {
        for front in [
            "title: yes\n",
            "draft: True\n",
            "price: 0x10\n",
            "n: 1.5\n",
            "n: 007\n",
            "title: 10 tips\n",
            "tags:\n  - a\n  - b\n",
            "title: a # comment\n",
            "title: >\n  folded\n",
            "title: \"multi\n  line\"\n",
            "title: \"esc \\n\"\n",
            "a: &x 1\nb: *x\n",
            "title: !!str 1\n",
            "title: A\ntitle: B\n",
            "satoshipay:\n  price: 1\n  extra: 2\n",
            "nested:\n  a: 1\n",
            "title: [a, [b]]\n",
            "tags: [a,]\n",
            "\ttitle: A\n",
            " title: A\n",
            "title:\n",
            "satoshipay: { sections: { a: { price: 1 } } }\n",
            "title: .inf\n",
            "title: -1\n",
            "#\u{4}\u{1}\n",
            "#'d+'\r'+++;#+\n",
            "n: 77\u{fffd}\u{fffd}\u{fffd}-7\n",
            "title: a\u{85}b\n",
            "title: a\u{2028}b\n",
        ] {
            assert!(parse(front).is_none(), "read quickly: {front}");
        }
    }

    #[test]
    fn generated_front_matter_agrees_with_the_full_parser() {
        // Values from a pool of the easy and the tricky; every combination the quick reader
        // accepts must read the same in both.
        let values = [
            "plain words",
            "\"double, quoted: yes\"",
            "'single'",
            "42",
            "0",
            "true",
            "false",
            "null",
            "~",
            "2024-01-02",
            "yes",
            "No",
            "1e3",
            "-7",
            "+7",
            "a: b",
            "x #y",
            "[a, b]",
            "[]",
            "{ price: 5 }",
            "'it''s'",
            "\"a\\\"b\"",
            "ünïcödé",
            "12:30",
            "a,b",
            "@at",
            "`tick`",
            "%pct",
            "007",
            "0.5",
            ".5",
            "2024-01-02 10:00",
            "TRUE",
            "Null",
            "-",
        ];
        let keys = [
            "title",
            "date",
            "draft",
            "description",
            "template",
            "tags",
            "price",
        ];
        let mut accepted = 0;
        for (i, k) in keys.iter().enumerate() {
            for (j, v) in values.iter().enumerate() {
                let other = values[(i * 7 + j * 3) % values.len()];
                let front = format!(
                    "{k}: {v}\nsatoshipay:\n  price: {other}\n  sections:\n    s{j}: {{ price: {v}, title: {other} }}\n"
                );
                accepted += usize::from(same(&front));
                let front = format!("{k}: {v}\nextra: {other}\n");
                accepted += usize::from(same(&front));
                for front in [
                    format!("{k}: {v}\n"),
                    format!("satoshipay:\n  price: {v}\n"),
                    format!("satoshipay:\n  sections:\n    a:\n      title: {v}\n      price: 5\n"),
                    format!("extra: [{v}, {other}]\n"),
                ] {
                    accepted += usize::from(same(&front));
                }
            }
        }
        eprintln!("quick reader accepted {accepted}");
        assert!(accepted > 300, "the quick reader accepted only {accepted}");
    }
}
