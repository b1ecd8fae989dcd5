//! The output directory, replaced as a whole: pages are written into a staging directory
//! beside it, and swapped in only when the whole build succeeded. A file whose bytes the
//! current output already holds is not written again: at the swap it is hard-linked from the
//! old output, and when nothing changed at all the old output simply stays.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A file inside every output directory satoshipress writes, so that it never replaces a
/// directory it did not make.
pub const MARKER: &str = ".satoshipress-output";

/// Where a build writes its pages.
pub enum Sink {
    /// A staging directory to be committed.
    Staging(Staging),
    /// Nowhere: `check` renders everything and keeps nothing.
    Discard,
}

/// A staging directory and what the current output already holds.
pub struct Staging {
    dir: tempfile::TempDir,
    /// The current output directory, if there is one.
    old: Option<PathBuf>,
    /// Files left out of the staging directory because `old` holds the same bytes.
    unchanged: std::sync::Mutex<Vec<String>>,
    /// Files written into the staging directory.
    written: std::sync::atomic::AtomicUsize,
}

impl Staging {
    /// Whether the current output holds exactly `bytes` at `rel`.
    fn same_as_old(&self, rel: &str, bytes: &[u8]) -> bool {
        let Some(old) = &self.old else { return false };
        let path = old.join(rel);
        std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() == bytes.len() as u64)
            && std::fs::read(&path).is_ok_and(|b| b == bytes)
    }

    fn put(&self, rel: &str, bytes: &[u8]) -> Result<()> {
        self.put_stamped(rel, bytes).map(|_| ())
    }

    /// [`Staging::put`], returning the size and modification time the file will have in the
    /// new output.
    fn put_stamped(&self, rel: &str, bytes: &[u8]) -> Result<Option<(u64, u128)>> {
        if self.same_as_old(rel, bytes) {
            self.unchanged
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(rel.to_string());
            return Ok(self
                .old
                .as_ref()
                .and_then(|old| crate::cache::stamp(&old.join(rel))));
        }
        let path = self.dir.path().join(rel);
        if let Some(parent) = path.parent() {
            crate::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, bytes)
            .with_context(|| format!("failed to write `{}`", path.display()))?;
        self.written
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(crate::cache::stamp(&path))
    }
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
        let staging = Staging {
            dir,
            old: out_dir.is_dir().then(|| out_dir.to_path_buf()),
            unchanged: std::sync::Mutex::new(Vec::new()),
            written: std::sync::atomic::AtomicUsize::new(0),
        };
        staging.put(
            MARKER,
            b"written by satoshipress build; replaced whole on every build\n",
        )?;
        Ok(Sink::Staging(staging))
    }

    /// Writes `bytes` at `rel` (a `/`-separated path) inside the staging directory.
    pub fn write(&self, rel: &str, bytes: &[u8]) -> Result<()> {
        match self {
            Sink::Staging(s) => s.put(rel, bytes),
            Sink::Discard => Ok(()),
        }
    }

    /// [`Sink::write`], returning the size and modification time the file will have in the
    /// output (for the build cache); `None` when nothing is written.
    pub fn write_stamped(&self, rel: &str, bytes: &[u8]) -> Result<Option<(u64, u128)>> {
        match self {
            Sink::Staging(s) => s.put_stamped(rel, bytes),
            Sink::Discard => Ok(None),
        }
    }

    /// Keeps the current output's file at `rel` as it is (it is carried into the new output).
    pub fn keep(&self, rel: &str) {
        if let Sink::Staging(s) = self {
            s.unchanged
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(rel.to_string());
        }
    }

    /// Copies the file `from` to `rel` inside the staging directory.
    pub fn copy(&self, rel: &str, from: &Path) -> Result<()> {
        match self {
            Sink::Staging(s) => s.put(rel, &crate::fs::read(from)?),
            Sink::Discard => Ok(()),
        }
    }

    /// Puts the staged directory in place of `out_dir`, unless both hold exactly the same
    /// files (then nothing is touched). Returns whether the output changed.
    pub fn commit(self, out_dir: &Path) -> Result<bool> {
        let Sink::Staging(staged) = self else {
            return Ok(false);
        };
        let mut unchanged = staged
            .unchanged
            .into_inner()
            .unwrap_or_else(|p| p.into_inner());
        unchanged.sort_unstable();
        unchanged.dedup();
        if out_dir.exists() {
            check_replaceable(out_dir)?;
            // Nothing written, and the old output holds no file the build did not produce:
            // the output is already what this build would write.
            let old_files = walkdir::WalkDir::new(out_dir)
                .into_iter()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_file())
                .count();
            if staged.written.load(std::sync::atomic::Ordering::Relaxed) == 0
                && old_files == unchanged.len()
            {
                return Ok(false);
            }
            // The files that did not change join the new output as links to the old ones.
            for rel in &unchanged {
                let to = staged.dir.path().join(rel);
                if to.exists() {
                    // Written again later in the build (a static file over an asset, say).
                    continue;
                }
                if let Some(parent) = to.parent() {
                    crate::fs::create_dir_all(parent)?;
                }
                let from = out_dir.join(rel);
                std::fs::hard_link(&from, &to)
                    .or_else(|_| std::fs::copy(&from, &to).map(|_| ()))
                    .with_context(|| {
                        format!(
                            "failed to carry `{}` over to the new output",
                            from.display()
                        )
                    })?;
            }
            exchange(staged.dir.path(), out_dir)?;
            // `staged.dir` now holds the previous output; dropping it removes it.
        } else {
            let kept: PathBuf = staged.dir.keep();
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
