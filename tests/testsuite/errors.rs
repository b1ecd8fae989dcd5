//! Bad input: every error of DESIGN.md as `path:line: sentence`, all reported together, a
//! non-zero exit, and the previous outputs left exactly as they were.

use crate::support::{KEY, Site};

/// (file content, line, words the message must hold)
const CASES: &[(&str, usize, &str)] = &[
    ("---\ntitle: [oops\n---\nbody\n", 2, "not valid YAML"),
    ("+++\ntitle = \n+++\nbody\n", 2, "not valid TOML"),
    ("---\ntitle: x\nbody\n", 1, "never closed"),
    (
        "---\nsatoshipay:\n  price: 0\n---\nbody\n",
        3,
        "whole number of satoshis from 1 to 2000000",
    ),
    (
        "---\nsatoshipay:\n  price: 2000001\n---\nbody\n",
        3,
        "from 1 to 2000000",
    ),
    (
        "---\nsatoshipay:\n  price: 9.5\n---\nbody\n",
        3,
        "whole number",
    ),
    (
        "---\nsatoshipay:\n  sections:\n    a: { price: abc }\n---\n<!-- satoshipay:a -->\nx\n<!-- /satoshipay:a -->\n",
        4,
        "price of section `a`",
    ),
    (
        "---\ntitle: t\n---\nfree\n\n<!-- satoshipay -->\n\npaid\n",
        6,
        "no prices",
    ),
    (
        "---\nsatoshipay:\n  sections:\n    a: { price: 5 }\n---\n<!-- satoshipay:a -->\nx\n<!-- /satoshipay:a -->\n\n<!-- satoshipay:b -->\ny\n<!-- /satoshipay:b -->\n",
        10,
        "not declared and the page has no price",
    ),
    (
        "---\nsatoshipay:\n  sections:\n    a: { price: 5 }\n---\nno markers\n",
        4,
        "declared but never marked",
    ),
    (
        "---\nsatoshipay: { price: 5 }\n---\n<!-- satoshipay:a -->\nnever closed\n",
        4,
        "never closed",
    ),
    (
        "---\nsatoshipay: { price: 5 }\n---\n<!-- satoshipay:a -->\n<!-- satoshipay:b -->\nx\n<!-- /satoshipay:b -->\n<!-- /satoshipay:a -->\n",
        5,
        "cannot be nested",
    ),
    (
        "---\nsatoshipay: { price: 5 }\n---\n<!-- satoshipay:a -->\n<!-- satoshipay:b -->\nx\n<!-- /satoshipay:a -->\n<!-- /satoshipay:b -->\n",
        5,
        "cannot be nested",
    ),
    (
        "---\nsatoshipay: { price: 5 }\n---\n<!-- satoshipay:a -->\nx\n<!-- /satoshipay:b -->\n",
        6,
        "cannot cross",
    ),
    (
        "---\nsatoshipay: { price: 5 }\n---\n<!-- satoshipay:a -->\nx\n<!-- /satoshipay:a -->\n\n<!-- satoshipay:a -->\ny\n<!-- /satoshipay:a -->\n",
        8,
        "marked twice",
    ),
    (
        "---\nsatoshipay:\n  price: 5\n  sections:\n    gear: { heading: \"Gear list\" }\n---\n## Gear\n\nx\n",
        5,
        "no top-level heading reads \"Gear list\"",
    ),
    (
        "---\nsatoshipay: { price: 5 }\n---\nsome text <!-- satoshipay --> inline\n",
        4,
        "line of its own",
    ),
    (
        "---\nsatoshipay: { price: 5 }\n---\nfree\n\n<!-- satoshipay -->\n",
        6,
        "empty",
    ),
];

#[test]
fn every_error_names_file_and_line() {
    for (i, (source, line, needle)) in CASES.iter().enumerate() {
        let site = Site::new();
        site.write("content/page.md", source);
        let r = site.build_fails();
        let want = format!("{}:{line}: ", site.path().join("content/page.md").display());
        assert!(
            r.stderr
                .lines()
                .any(|l| l.starts_with(&want) && l.contains(needle)),
            "case {i}: wanted `{want}…{needle}…`, got:\n{}",
            r.stderr
        );
        assert!(
            r.stderr.contains("nothing was written"),
            "case {i}: {}",
            r.stderr
        );
        assert!(
            !site.path().join("public").exists(),
            "case {i} wrote public/"
        );
        assert!(
            !site.path().join("satoshipress.lock").exists(),
            "case {i} wrote a lock"
        );
        // `check` finds the same problem.
        let c = site.run_env(&["check", "{site}"], &[("SATOSHIPRESS_KEY", KEY)]);
        assert!(
            !c.ok() && c.stderr.contains(needle),
            "case {i}: check missed it:\n{}",
            c.stderr
        );
    }
}

#[test]
fn all_problems_of_a_build_are_reported_together() {
    let site = Site::new();
    site.write("content/a.md", "---\nsatoshipay: { price: 0 }\n---\nx\n");
    site.write(
        "content/b.md",
        "---\nsatoshipay: { price: 5 }\n---\n<!-- satoshipay:z -->\nx\n",
    );
    site.write("content/c.md", "---\ntitle: [\n---\n");
    site.write("content/ok.md", "fine\n");
    let r = site.build_fails();
    let problems: Vec<&str> = r.stderr.lines().filter(|l| l.contains(".md:")).collect();
    assert_eq!(problems.len(), 3, "{}", r.stderr);
    assert!(r.stderr.contains("3 problems found"), "{}", r.stderr);
}

#[test]
fn a_failed_build_leaves_every_output_as_it_was() {
    let site = Site::example();
    site.build();
    let before = site.outputs();
    site.write(
        "content/posts/broken.md",
        "---\nsatoshipay: { price: 5 }\n---\n<!-- satoshipay:open -->\nnever closed\n",
    );
    site.write(
        "content/posts/brewing-guide.md",
        "---\ntitle: changed\n---\nchanged\n",
    );
    site.build_fails();
    assert_eq!(site.outputs(), before, "a failed build changed the outputs");
    let leftovers: Vec<_> = std::fs::read_dir(site.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("staging"))
        .collect();
    assert!(leftovers.is_empty(), "staging directories left behind");
}

#[test]
fn a_template_error_fails_the_build_and_keeps_outputs() {
    let site = Site::new();
    site.write("content/p.md", "hello\n");
    site.build();
    let before = site.outputs();
    site.write("templates/page.html", "{% if %}broken");
    let r = site.build_fails();
    assert!(r.stderr.contains("template"), "{}", r.stderr);
    assert_eq!(site.outputs(), before);
}

#[test]
fn config_problems_name_the_line() {
    let site = Site::new();
    site.write(
        "satoshipress.toml",
        "[site]\nbase_url = \"https://x.example\"\ntypo = 1\n",
    );
    let r = site.build_fails();
    let want = format!("{}:3:", site.path().join("satoshipress.toml").display());
    assert!(r.stderr.contains(&want), "{}", r.stderr);
    let r = crate::support::run_with(&["build".into(), "/nonexistent/site".into()], &[]);
    assert!(!r.ok());
    assert!(r.stderr.contains("satoshipress init"), "{}", r.stderr);
}

#[test]
fn unreadable_output_location_is_a_clear_error_and_keeps_old_outputs() {
    let site = Site::new();
    site.write("content/p.md", "---\nsatoshipay: { price: 5 }\n---\npaid\n");
    site.build();
    let before = site.outputs();
    // The bundle's directory becomes a file: the bundle cannot be written.
    site.write(
        "satoshipress.toml",
        &format!(
            "{}[satoshipay]\nbundle = \"blocker/content.spb\"\n",
            crate::support::CONFIG
        ),
    );
    site.write("blocker", "a file, not a directory");
    site.write(
        "content/p.md",
        "---\nsatoshipay: { price: 6 }\n---\npaid again\n",
    );
    let r = site.build_fails();
    assert!(r.stderr.contains("blocker"), "{}", r.stderr);
    assert_eq!(site.outputs(), before);
}
