//! `satoshipress goods …`

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::config::{Config, LOCK_FILE};
use crate::goods::Lock;
use crate::key::{KEY_ENV, MasterKey};

/// Inspect a site's goods.
#[derive(Debug, clap::Subcommand)]
pub enum GoodsArgs {
    /// List the goods in the site's lock: id, price, key, title and url.
    List(ListArgs),
}

/// `goods list`
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// The site directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Also show each good's secret (the payment certificate; needs the master key).
    #[arg(long)]
    pub show_secrets: bool,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Ask the Digital Goods API instead of reading the lock.
    #[arg(long)]
    pub remote: bool,
}

#[derive(Serialize)]
struct Listed<'a> {
    key: &'a str,
    id: &'a str,
    price: u32,
    title: &'a str,
    url: &'a str,
    generation: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

pub fn run(args: GoodsArgs) -> Result<()> {
    match args {
        GoodsArgs::List(args) => list(args),
    }
}

fn list(args: ListArgs) -> Result<()> {
    if args.remote {
        anyhow::bail!(
            "`--remote` needs the Digital Goods API registry, which is not available in this version yet"
        );
    }
    let config = Config::load(&args.dir)?;
    let lock_path = args.dir.join(LOCK_FILE);
    let lock = Lock::load(&lock_path)?.with_context(|| {
        format!(
            "`{}` not found: build the site first with `satoshipress build {}`",
            lock_path.display(),
            args.dir.display()
        )
    })?;
    let key = if args.show_secrets {
        let env = std::env::var(KEY_ENV).ok();
        let (key, _) =
            MasterKey::load(env.as_deref(), &args.dir.join(&config.satoshipay.key_file))?;
        if key.fingerprint() != lock.key_fingerprint {
            anyhow::bail!(
                "this master key is not the one `{}` was made with; its secrets would be wrong",
                lock_path.display()
            );
        }
        Some(key)
    } else {
        None
    };
    let rows: Vec<Listed<'_>> = lock
        .goods
        .iter()
        .map(|g| Listed {
            key: &g.key,
            id: &g.id,
            price: g.price,
            title: &g.title,
            url: &g.url,
            generation: g.generation,
            secret: key.as_ref().map(|k| k.good_secret(&g.key, g.generation)),
        })
        .collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let key_w = rows
        .iter()
        .map(|r| r.key.chars().count())
        .max()
        .unwrap_or(0)
        .max(3);
    print!("{:<24}  {:>9}  {:<key_w$}  TITLE", "ID", "PRICE", "KEY");
    if key.is_some() {
        print!("  SECRET");
    }
    println!();
    for r in &rows {
        print!(
            "{:<24}  {:>9}  {:<key_w$}  {}",
            r.id, r.price, r.key, r.title
        );
        if let Some(s) = &r.secret {
            print!("  {s}");
        }
        println!();
    }
    if rows.is_empty() {
        println!("(no goods: no page has a paid section)");
    }
    Ok(())
}
