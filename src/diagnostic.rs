//! Problems found in a site's sources, reported as `path:line: sentence`.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in one source file, with the line it is on and a sentence that says how to
/// mend it. Messages never quote paid content: they name sections, keys and markers only.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    /// The file, as the user named it (the site directory joined with the relative path).
    pub path: PathBuf,
    /// 1-based line number; 0 when the problem concerns the whole file.
    pub line: usize,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Diagnostic {
    /// A problem at `line` of `path`.
    pub fn new(path: &Path, line: usize, message: impl Into<String>) -> Self {
        Diagnostic {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
        }
    }
}

/// Every problem of a build, reported together.
#[derive(Debug, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        let n = self.0.len();
        write!(
            f,
            "{n} problem{} found; nothing was written",
            if n == 1 { "" } else { "s" }
        )
    }
}

/// 1-based line number of byte `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_numbers() {
        let text = "a\nb\r\nc";
        for (offset, line) in [(0, 1), (1, 1), (2, 2), (5, 3), (99, 3)] {
            assert_eq!(line_of(text, offset), line, "offset {offset}");
        }
    }

    #[test]
    fn display_with_and_without_line() {
        let d = Diagnostic::new(Path::new("site/content/a.md"), 3, "fix it");
        assert_eq!(d.to_string(), "site/content/a.md:3: fix it");
        let d = Diagnostic::new(Path::new("a.md"), 0, "fix it");
        assert_eq!(d.to_string(), "a.md: fix it");
    }
}
