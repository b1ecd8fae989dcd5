//! `satoshipress keygen [--out FILE]`

use std::path::PathBuf;

use anyhow::Result;

use crate::build::{ensure_gitignored, write_new_key};
use crate::key::MasterKey;

/// Arguments of `keygen`.
#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Write the key to this new file instead of printing it.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

pub fn run(args: KeygenArgs) -> Result<()> {
    let key = MasterKey::generate()?;
    match args.out {
        None => println!("{}", key.to_base64()),
        Some(path) => {
            write_new_key(&key, &path)?;
            let dir = crate::fs::parent_dir(&path);
            if let Some(name) = path.file_name() {
                ensure_gitignored(dir, name.as_ref())?;
            }
            eprintln!(
                "wrote a new master key to `{}` (mode 0600, git-ignored)",
                path.display()
            );
        }
    }
    Ok(())
}
