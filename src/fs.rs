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

/// A file written in full beside its destination and synced, waiting to replace it with one
/// rename. Dropped without [`StagedFile::commit`], it vanishes and the destination is untouched.
pub struct StagedFile {
    tmp: tempfile::NamedTempFile,
    path: std::path::PathBuf,
}

impl StagedFile {
    /// Writes `bytes` into a temporary file beside `path`, with permissions `mode` (Unix),
    /// e.g. 0o600 for secrets.
    pub fn new(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<StagedFile> {
        let mut staged = StagedFile::create(path, mode)?;
        staged
            .tmp
            .write_all(bytes)
            .and_then(|()| staged.tmp.as_file().sync_all())
            .with_context(|| format!("failed to write `{}`", path.display()))?;
        Ok(staged)
    }

    /// An empty temporary file beside `path`, to be written through [`StagedFile::file`].
    pub fn create(path: &Path, mode: Option<u32>) -> Result<StagedFile> {
        let dir = parent_dir(path);
        create_dir_all(dir)?;
        let tmp = tempfile::Builder::new()
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
        Ok(StagedFile {
            tmp,
            path: path.to_path_buf(),
        })
    }

    /// The temporary file.
    pub fn file(&self) -> &std::fs::File {
        self.tmp.as_file()
    }

    /// Flushes the written file to disk and keeps it only if `path` does not already hold
    /// exactly its bytes (compared a block at a time).
    pub fn if_changed(self) -> Result<Option<StagedFile>> {
        use std::io::{Read, Seek};
        let mut ours = self.tmp.as_file();
        ours.sync_all()
            .with_context(|| format!("failed to write `{}`", self.path.display()))?;
        let Ok(mut theirs) = std::fs::File::open(&self.path) else {
            return Ok(Some(self));
        };
        let same_len = match (ours.metadata(), theirs.metadata()) {
            (Ok(a), Ok(b)) => a.len() == b.len(),
            _ => false,
        };
        if !same_len {
            return Ok(Some(self));
        }
        ours.rewind()
            .with_context(|| format!("failed to read back `{}`", self.path.display()))?;
        let (mut a, mut b) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
        loop {
            let n = ours.read(&mut a).unwrap_or(0);
            if n == 0 {
                return Ok(None);
            }
            if theirs.read_exact(&mut b[..n]).is_err() || a[..n] != b[..n] {
                return Ok(Some(self));
            }
        }
    }

    /// Writes the file only if `path` does not already hold exactly `bytes`, so that an
    /// unchanged rebuild rewrites nothing.
    pub fn new_if_changed(
        path: &Path,
        bytes: &[u8],
        mode: Option<u32>,
    ) -> Result<Option<StagedFile>> {
        match std::fs::read(path) {
            Ok(old) if old == bytes => Ok(None),
            _ => StagedFile::new(path, bytes, mode).map(Some),
        }
    }

    /// Renames the file into place: readers see the old file or the new one, never a part.
    pub fn commit(self) -> Result<()> {
        let path = self.path;
        self.tmp
            .persist(&path)
            .with_context(|| format!("failed to replace `{}`", path.display()))?;
        sync_dir(parent_dir(&path));
        Ok(())
    }
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<()> {
    StagedFile::new(path, bytes, mode)?.commit()
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
