//! File-system helpers that name the path in every error, and atomic writes.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// Reads a UTF-8 file; the error names the path.
pub fn read_to_string(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("failed to read `{}`", path.display()))
}

/// Reads a file's bytes; the error names the path.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("failed to read `{}`", path.display()))
}

/// Creates a directory and its parents; the error names the path.
pub fn create_dir_all(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path)
        .with_context(|| format!("failed to create directory `{}`", path.display()))
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync, rename, fsync of
/// the directory. Readers see the old file or the new one, never a part. `mode` sets the
/// permissions of the new file (Unix), e.g. 0o600 for secrets.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<()> {
    let dir = parent_dir(path);
    create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".satoshipress-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("failed to create a temporary file in `{}`", dir.display()))?;
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("failed to set permissions on `{}`", path.display()))?;
    }
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("failed to write `{}`", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("failed to replace `{}`", path.display()))?;
    sync_dir(dir);
    Ok(())
}

/// Writes `bytes` to `path` only when the file does not already hold exactly them, so that
/// an unchanged rebuild rewrites nothing. Returns whether it wrote.
pub fn write_if_changed(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<bool> {
    match std::fs::read(path) {
        Ok(old) if old == bytes => Ok(false),
        _ => write_atomic(path, bytes, mode).map(|()| true),
    }
}

/// The directory holding `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Flushes a directory entry change (a rename) to disk. Best effort: some file systems refuse
/// to open directories for syncing, and the rename itself has already happened.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
