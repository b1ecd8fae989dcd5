//! The output directory, replaced as a whole: pages are written into a staging directory
//! beside it, and swapped in only when the whole build succeeded.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A file inside every output directory satoshipress writes, so that it never replaces a
/// directory it did not make.
pub const MARKER: &str = ".satoshipress-output";

/// Where a build writes its pages.
pub enum Sink {
    /// A staging directory to be committed.
    Staging(tempfile::TempDir),
    /// Nowhere: `check` renders everything and keeps nothing.
    Discard,
}

impl Sink {
    /// A staging directory beside `out_dir` (same file system, so the swap is a rename).
    pub fn staging_for(out_dir: &Path) -> Result<Sink> {
        if out_dir.exists() {
            check_replaceable(out_dir)?;
        }
        let parent = crate::fs::parent_dir(out_dir);
        crate::fs::create_dir_all(parent)?;
        remove_stale_staging(parent);
        let dir = tempfile::Builder::new()
            .prefix(".satoshipress-staging-")
            .tempdir_in(parent)
            .with_context(|| {
                format!(
                    "failed to create a staging directory in `{}`",
                    parent.display()
                )
            })?;
        std::fs::write(
            dir.path().join(MARKER),
            "written by satoshipress build; replaced whole on every build\n",
        )
        .with_context(|| format!("failed to write in `{}`", dir.path().display()))?;
        Ok(Sink::Staging(dir))
    }

    /// Writes `bytes` at `rel` (a `/`-separated path) inside the staging directory.
    pub fn write(&self, rel: &str, bytes: &[u8]) -> Result<()> {
        let Sink::Staging(dir) = self else {
            return Ok(());
        };
        let path = dir.path().join(rel);
        if let Some(parent) = path.parent() {
            crate::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, bytes)
            .with_context(|| format!("failed to write `{}`", path.display()))
    }

    /// Copies the file `from` to `rel` inside the staging directory.
    pub fn copy(&self, rel: &str, from: &Path) -> Result<()> {
        let Sink::Staging(dir) = self else {
            return Ok(());
        };
        let path = dir.path().join(rel);
        if let Some(parent) = path.parent() {
            crate::fs::create_dir_all(parent)?;
        }
        std::fs::copy(from, &path).map(|_| ()).with_context(|| {
            format!(
                "failed to copy `{}` to `{}`",
                from.display(),
                path.display()
            )
        })
    }

    /// Puts the staged directory in place of `out_dir`, unless both hold exactly the same
    /// files (then nothing is touched). Returns whether the output changed.
    pub fn commit(self, out_dir: &Path) -> Result<bool> {
        let Sink::Staging(staged) = self else {
            return Ok(false);
        };
        if out_dir.exists() {
            check_replaceable(out_dir)?;
            if same_tree(staged.path(), out_dir)? {
                return Ok(false);
            }
            exchange(staged.path(), out_dir)?;
            // `staged` now holds the previous output; dropping it removes it.
        } else {
            let kept: PathBuf = staged.keep();
            std::fs::rename(&kept, out_dir).with_context(|| {
                format!("failed to move the new output into `{}`", out_dir.display())
            })?;
        }
        crate::fs::sync_dir(crate::fs::parent_dir(out_dir));
        Ok(true)
    }
}

/// Removes staging directories a killed build left behind (untouched for ten minutes, so
/// that a build running beside this one keeps its own).
fn remove_stale_staging(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(600));
        if name.to_string_lossy().starts_with(".satoshipress-staging-") && stale {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Refuses to replace anything but a directory satoshipress wrote (or an empty one).
fn check_replaceable(out_dir: &Path) -> Result<()> {
    if !out_dir.is_dir() {
        anyhow::bail!(
            "`{}` is not a directory; move it away or choose another output directory",
            out_dir.display()
        );
    }
    let foreign = !out_dir.join(MARKER).is_file()
        && std::fs::read_dir(out_dir)
            .with_context(|| format!("failed to read `{}`", out_dir.display()))?
            .next()
            .is_some();
    if foreign {
        anyhow::bail!(
            "refusing to replace `{}`: it is not empty and was not written by satoshipress; remove it or choose another output directory",
            out_dir.display()
        );
    }
    Ok(())
}

/// Swaps two directories in one step (Linux `renameat2(RENAME_EXCHANGE)`), so `out_dir`
/// always holds a whole site; elsewhere, two renames.
fn exchange(staged: &Path, out_dir: &Path) -> Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    match renameat_with(CWD, staged, CWD, out_dir, RenameFlags::EXCHANGE) {
        Ok(()) => Ok(()),
        Err(_) => {
            let aside = staged.with_extension("old");
            std::fs::rename(out_dir, &aside)
                .and_then(|()| std::fs::rename(staged, out_dir))
                .and_then(|()| std::fs::rename(&aside, staged))
                .with_context(|| format!("failed to replace `{}`", out_dir.display()))
        }
    }
}

/// Whether two directory trees hold the same files with the same bytes.
fn same_tree(a: &Path, b: &Path) -> Result<bool> {
    let list = |root: &Path| -> Result<Vec<walkdir::DirEntry>> {
        walkdir::WalkDir::new(root)
            .sort_by_file_name()
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("failed to read `{}`", root.display()))
    };
    let (la, lb) = (list(a)?, list(b)?);
    if la.len() != lb.len() {
        return Ok(false);
    }
    for (x, y) in la.iter().zip(&lb) {
        let (rx, ry) = (x.path().strip_prefix(a)?, y.path().strip_prefix(b)?);
        if rx != ry || x.file_type().is_dir() != y.file_type().is_dir() {
            return Ok(false);
        }
        if x.file_type().is_file() {
            let (mx, my) = (x.metadata()?, y.metadata()?);
            if mx.len() != my.len() || std::fs::read(x.path())? != std::fs::read(y.path())? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}
