//! `satoshipress check DIR`

use std::path::PathBuf;

use anyhow::Result;

use crate::build::{Options, build};

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The site directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

pub fn run(args: CheckArgs) -> Result<()> {
    let outcome = build(&Options {
        site_dir: args.dir,
        dry_run: true,
        ..Options::default()
    })?;
    println!(
        "ok: {} page{}, {} paid section{}, no problems",
        outcome.pages,
        if outcome.pages == 1 { "" } else { "s" },
        outcome.paid_sections,
        if outcome.paid_sections == 1 { "" } else { "s" }
    );
    Ok(())
}
