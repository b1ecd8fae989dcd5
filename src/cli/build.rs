//! `satoshipress build DIR`

use std::path::PathBuf;

use anyhow::Result;

use crate::build::{Emit, Options, build};
use crate::config::RegistryKind;

/// Arguments of `build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The site directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Where to register goods [default: the config's `satoshipay.registry`, else local].
    #[arg(long, value_enum)]
    pub registry: Option<RegistryKind>,
    /// What to write.
    #[arg(long, value_enum, default_value_t = Emit::Html)]
    pub emit: Emit,
    /// Output directory [default: DIR/public; with --emit markdown, required].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(args: BuildArgs) -> Result<()> {
    let outcome = build(&Options {
        site_dir: args.dir,
        registry: args.registry,
        out_dir: args.out,
        dry_run: false,
        progress: !args.quiet,
        emit: args.emit,
        ..Options::default()
    })?;
    if let Some(path) = &outcome.created_key {
        eprintln!(
            "created a new master key in `{}` (readable by you only, git-ignored): back it up — it derives every good's secret",
            path.display()
        );
    }
    if !args.quiet {
        let s = &outcome.sync;
        let unchanged = outcome.changed == (false, false, false);
        println!(
            "built {} page{}{} with {} paid section{} (goods: {} new, {} changed, {} unchanged, {} gone) in {:.2}s → {}{}",
            outcome.pages,
            if outcome.pages == 1 { "" } else { "s" },
            match outcome.cached {
                0 => String::new(),
                n => format!(" ({n} unchanged, from the build cache)"),
            },
            outcome.paid_sections,
            if outcome.paid_sections == 1 { "" } else { "s" },
            s.created,
            s.updated,
            s.unchanged,
            s.removed,
            outcome.elapsed.as_secs_f64(),
            outcome.out_dir.display(),
            if unchanged { " (nothing changed)" } else { "" }
        );
    }
    Ok(())
}
