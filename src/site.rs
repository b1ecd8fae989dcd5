//! Scanning a site's content directory for pages and files.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A file found under the content directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Path relative to the content directory, `/`-separated.
    pub rel: String,
    /// The path on disk, as the user named the site (for messages).
    pub path: PathBuf,
}

/// What the content directory holds, sorted by path.
#[derive(Debug, Default)]
pub struct Sources {
    /// Markdown pages (`*.md`).
    pub pages: Vec<SourceFile>,
    /// Every other file, copied beside the pages.
    pub assets: Vec<SourceFile>,
}

/// Whether a file is one to skip: hidden files and directories, editor backups and swap
/// files (`~`, `.swp`, `#...#`, `.#...`), and vim's `4913` probe.
pub fn is_ignored(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return true;
    };
    name.starts_with('.')
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".tmp")
        || (name.starts_with('#') && name.ends_with('#'))
        || name == "4913"
}

/// Lists the files under `dir` (recursively, sorted, ignored files skipped).
pub fn list_files(dir: &Path) -> Result<Vec<SourceFile>> {
    let mut files = Vec::new();
    let walker = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !is_ignored(e.path()));
    for entry in walker {
        let entry =
            entry.with_context(|| format!("failed to read directory `{}`", dir.display()))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(dir)
            .expect("walkdir stays under its root");
        let rel = rel
            .to_str()
            .with_context(|| {
                format!(
                    "`{}` is not a UTF-8 path; rename it",
                    entry.path().display()
                )
            })?
            .replace('\\', "/");
        files.push(SourceFile {
            rel,
            path: entry.path().to_path_buf(),
        });
    }
    Ok(files)
}

/// Scans the content directory.
pub fn scan(content_dir: &Path) -> Result<Sources> {
    if !content_dir.is_dir() {
        anyhow::bail!(
            "the content directory `{}` does not exist; create it and put Markdown pages in it (or set `site.content_dir`)",
            content_dir.display()
        );
    }
    let (pages, assets) = list_files(content_dir)?
        .into_iter()
        .partition(|f| f.rel.ends_with(".md"));
    Ok(Sources { pages, assets })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_names() {
        for (name, ignored) in [
            ("a.md", false),
            (".a.md.swp", true),
            ("a.md~", true),
            ("#a.md#", true),
            (".#a.md", true),
            (".hidden", true),
            ("4913", true),
            ("photo.png", false),
        ] {
            assert_eq!(is_ignored(Path::new(name)), ignored, "{name}");
        }
    }
}
