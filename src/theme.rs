//! The theme: tera templates, the crate's defaults overridden by the site's `templates/`.

use std::path::Path;

use anyhow::{Context as _, Result};
use serde::Serialize;
use tera::{Context, Tera};

use crate::diagnostic::Diagnostic;

/// The default theme, embedded in the binary.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("page.html", include_str!("../templates/page.html")),
    ("index.html", include_str!("../templates/index.html")),
    ("atom.xml", include_str!("../templates/atom.xml")),
    ("sitemap.xml", include_str!("../templates/sitemap.xml")),
    (
        "sitemap_index.xml",
        include_str!("../templates/sitemap_index.xml"),
    ),
    (
        "content_item.html",
        include_str!("../templates/content_item.html"),
    ),
    (
        "feed_paid_note.html",
        include_str!("../templates/feed_paid_note.html"),
    ),
];

/// Compiled templates, ready to render from many threads.
pub struct Theme {
    tera: Tera,
    fingerprint: [u8; 32],
}

impl Theme {
    /// Compiles the default templates, each replaced by a file of the same name in
    /// `override_dir` when there is one; other files there are added (for `template:`).
    pub fn load(override_dir: &Path) -> Result<Theme, Vec<Diagnostic>> {
        let mut sources: Vec<(String, String)> = DEFAULTS
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect();
        let mut problems = Vec::new();
        if override_dir.is_dir() {
            for entry in walkdir::WalkDir::new(override_dir).sort_by_file_name() {
                let entry = match entry {
                    Ok(e) => e,
                    Err(e) => {
                        problems.push(Diagnostic::new(
                            override_dir,
                            0,
                            format!("cannot read the templates directory: {e}"),
                        ));
                        continue;
                    }
                };
                if !entry.file_type().is_file() || crate::site::is_ignored(entry.path()) {
                    continue;
                }
                let name = entry
                    .path()
                    .strip_prefix(override_dir)
                    .expect("walkdir stays under its root")
                    .to_string_lossy()
                    .replace('\\', "/");
                match std::fs::read_to_string(entry.path()) {
                    Ok(text) => match sources.iter_mut().find(|(n, _)| *n == name) {
                        Some(slot) => slot.1 = text,
                        None => sources.push((name, text)),
                    },
                    Err(e) => problems.push(Diagnostic::new(
                        entry.path(),
                        0,
                        format!("cannot read this template: {e}"),
                    )),
                }
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut tera = Tera::new();
        tera.autoescape_on([".html", ".xml"]);
        tera.add_raw_templates(sources.iter().map(|(n, s)| (n.as_str(), s.as_str())))
            .map_err(|e| {
                vec![Diagnostic::new(
                    override_dir,
                    0,
                    format!("a template does not compile: {}", one_line(&e)),
                )]
            })?;
        let fingerprint = {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            for (n, s) in &sources {
                for part in [n.as_bytes(), &[0], s.as_bytes(), &[0]] {
                    h.update(part);
                }
            }
            h.finalize().into()
        };
        Ok(Theme { tera, fingerprint })
    }

    /// A hash of every template's name and text: equal fingerprints render alike.
    pub fn fingerprint(&self) -> &[u8; 32] {
        &self.fingerprint
    }

    /// Whether the theme has a template called `name`.
    pub fn has(&self, name: &str) -> bool {
        self.tera.contains_template(name)
    }

    /// Renders template `name` with `context` (a struct serialised to the template's variables).
    pub fn render(&self, name: &str, context: &impl Serialize) -> Result<String> {
        let ctx = Context::from_serialize(context)
            .with_context(|| format!("cannot pass data to template `{name}`"))?;
        self.tera
            .render(name, &ctx)
            .map_err(|e| anyhow::anyhow!("template `{name}` failed: {}", one_line(&e)))
    }
}

/// A tera error with its causes on one line.
fn one_line(e: &tera::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg.split_whitespace().collect::<Vec<_>>().join(" ")
}
