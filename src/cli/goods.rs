//! `satoshipress goods …`: list, plan, adopt, prune, rotate.

use std::collections::HashSet;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::build::{LoadedSite, Options, build, load_site, wanted_goods};
use crate::config::{Config, LOCK_FILE, RegistryKind};
use crate::goods::{
    Action, ApiClient, ApiRegistry, BatchRequest, Change, Lock, LockedGood, RemoteGood, WantedGood,
    plan,
};
use crate::key::{KEY_ENV, MasterKey};

/// Work with a site's goods.
#[derive(Debug, clap::Subcommand)]
pub enum GoodsArgs {
    /// List the goods in the site's lock (or, with --remote, in the Digital Goods API).
    List(ListArgs),
    /// Show what a build would register, change or leave, writing nothing (like a plan in
    /// Terraform). With the api registry it reads the API's goods to find goods to adopt and
    /// orphans to prune.
    Plan(SiteArgs),
    /// Rebuild a lost or stale lock from the API's goods, matching them to sections by url.
    Adopt(SiteArgs),
    /// Delete the API's goods that belong to this site (their url is under base_url) but to
    /// no section any more. Lists them and asks first, or deletes without asking with --yes.
    Prune(PruneArgs),
    /// Give one good a new secret (a new generation): the API is told, the bundle rebuilt.
    /// Readers who paid before keep nothing that unlocks it again with the old certificate.
    Rotate(RotateArgs),
}

/// A site directory and an optional registry override.
#[derive(Debug, clap::Args)]
pub struct SiteArgs {
    /// The site directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Registry [default: the config's `satoshipay.registry`].
    #[arg(long, value_enum)]
    pub registry: Option<RegistryKind>,
}

/// `goods list`
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// The site directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Also show each good's secret (the payment certificate; needs the master key, or the
    /// API's copy with --remote).
    #[arg(long)]
    pub show_secrets: bool,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Ask the Digital Goods API (SATOSHIPAY_API_URL, _KEY, _SECRET) instead of the lock.
    #[arg(long)]
    pub remote: bool,
}

/// `goods prune`
#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// The site directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Delete without asking.
    #[arg(long)]
    pub yes: bool,
    /// Registry [default: the config's `satoshipay.registry`].
    #[arg(long, value_enum)]
    pub registry: Option<RegistryKind>,
}

/// `goods rotate`
#[derive(Debug, clap::Args)]
pub struct RotateArgs {
    /// The site directory.
    pub dir: PathBuf,
    /// The good's key, `<page path>#<section>` (see `goods list`).
    pub key: String,
    /// Registry [default: the config's `satoshipay.registry`].
    #[arg(long, value_enum)]
    pub registry: Option<RegistryKind>,
}

#[derive(Serialize)]
struct Listed<'a> {
    key: &'a str,
    id: &'a str,
    price: u64,
    title: &'a str,
    url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    generation: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

pub fn run(args: GoodsArgs) -> Result<()> {
    match args {
        GoodsArgs::List(args) => list(args),
        GoodsArgs::Plan(args) => plan_cmd(args),
        GoodsArgs::Adopt(args) => adopt(args),
        GoodsArgs::Prune(args) => prune(args),
        GoodsArgs::Rotate(args) => rotate(args),
    }
}

/// The site's master key; never created here.
fn site_key(dir: &Path, config: &Config) -> Result<MasterKey> {
    let env = std::env::var(KEY_ENV).ok();
    Ok(MasterKey::load(env.as_deref(), &dir.join(&config.satoshipay.key_file))?.0)
}

fn load_lock(dir: &Path) -> Result<(PathBuf, Option<Lock>)> {
    let path = dir.join(LOCK_FILE);
    let lock = Lock::load(&path)?;
    Ok((path, lock))
}

fn list(args: ListArgs) -> Result<()> {
    // An mdBook book has a lock but no satoshipress.toml: the defaults (key file) apply.
    let config = if !args.dir.join(crate::config::CONFIG_FILE).exists()
        && args.dir.join(LOCK_FILE).exists()
    {
        Config::default()
    } else {
        Config::load(&args.dir)?
    };
    let (lock_path, lock) = load_lock(&args.dir)?;
    if args.remote {
        let client = ApiClient::from_env()?;
        let remote = client.list()?;
        let ids: HashSet<&str> = lock
            .iter()
            .flat_map(|l| l.goods.iter().map(|g| g.id.as_str()))
            .collect();
        let rows: Vec<Listed<'_>> = remote
            .iter()
            .map(|g| Listed {
                key: if ids.contains(g.id.as_str()) {
                    "in lock"
                } else {
                    "-"
                },
                id: &g.id,
                price: g.price,
                title: &g.title,
                url: &g.url,
                generation: None,
                secret: args.show_secrets.then(|| g.secret.clone()),
            })
            .collect();
        return print_rows(&rows, args.json, "LOCK");
    }
    let lock = lock.with_context(|| {
        format!(
            "`{}` not found: build the site first with `satoshipress build {}`",
            lock_path.display(),
            args.dir.display()
        )
    })?;
    let key = if args.show_secrets {
        let key = site_key(&args.dir, &config)?;
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
            price: u64::from(g.price),
            title: &g.title,
            url: &g.url,
            generation: Some(g.generation),
            secret: key.as_ref().map(|k| k.good_secret(&g.key, g.generation)),
        })
        .collect();
    print_rows(&rows, args.json, "KEY")
}

fn print_rows(rows: &[Listed<'_>], json: bool, key_header: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(rows)?)?;
        return Ok(());
    }
    let key_w = rows
        .iter()
        .map(|r| r.key.chars().count())
        .max()
        .unwrap_or(0)
        .max(key_header.len());
    let secrets = rows.iter().any(|r| r.secret.is_some());
    write!(
        out,
        "{:<24}  {:>9}  {:<key_w$}  TITLE",
        "ID", "PRICE", key_header
    )?;
    if secrets {
        write!(out, "  SECRET")?;
    }
    writeln!(out)?;
    for r in rows {
        write!(
            out,
            "{:<24}  {:>9}  {:<key_w$}  {}",
            r.id, r.price, r.key, r.title
        )?;
        if let Some(s) = &r.secret {
            write!(out, "  {s}")?;
        }
        writeln!(out)?;
    }
    if rows.is_empty() {
        writeln!(out, "(no goods)")?;
    }
    Ok(())
}

/// Everything a goods command needs of a site.
struct SiteGoods {
    site: LoadedSite,
    key: MasterKey,
    lock_path: PathBuf,
    lock: Lock,
    wanted: Vec<WantedGood>,
    registry: RegistryKind,
}

fn site_goods(dir: &Path, registry: Option<RegistryKind>) -> Result<SiteGoods> {
    let site = load_site(dir, false)?;
    let key = site_key(dir, &site.config)?;
    let registry = registry.unwrap_or(site.config.satoshipay.registry);
    let (lock_path, lock) = load_lock(dir)?;
    if let Some(l) = &lock
        && l.key_fingerprint != key.fingerprint()
    {
        anyhow::bail!(
            "`{}` was made with another master key; use the key this site was built with",
            lock_path.display()
        );
    }
    let lock = lock
        .filter(|l| l.registry == registry)
        .unwrap_or_else(|| Lock::new(registry, key.fingerprint()));
    let wanted = wanted_goods(&site.pages, &site.config.site.base_url, &key);
    Ok(SiteGoods {
        site,
        key,
        lock_path,
        lock,
        wanted,
        registry,
    })
}

/// Remote goods that belong to this site (url under base_url) but to no section of it.
fn orphans<'r>(
    remote: &'r [RemoteGood],
    base_url: &str,
    keep_ids: &HashSet<&str>,
    wanted_urls: &HashSet<&str>,
) -> Vec<&'r RemoteGood> {
    let prefix = format!("{base_url}/");
    remote
        .iter()
        .filter(|g| {
            g.url.starts_with(&prefix)
                && !keep_ids.contains(g.id.as_str())
                && !wanted_urls.contains(g.url.as_str())
        })
        .collect()
}

fn plan_cmd(args: SiteArgs) -> Result<()> {
    let sg = site_goods(&args.dir, args.registry)?;
    let mut out = std::io::stdout().lock();
    let (mut create, mut update, mut adopt, mut keep, mut orphan) = (0, 0, 0, 0, 0);
    match sg.registry {
        RegistryKind::Local => {
            for w in &sg.wanted {
                match crate::goods::Change::classify(w, sg.lock.get(&w.key)) {
                    Change::Created => {
                        create += 1;
                        writeln!(out, "+ create  {}  ({} sat)", w.key, w.price)?;
                    }
                    Change::Updated => {
                        update += 1;
                        writeln!(out, "~ update  {}", w.key)?;
                    }
                    Change::Unchanged => keep += 1,
                }
            }
            let wanted: HashSet<&str> = sg.wanted.iter().map(|w| w.key.as_str()).collect();
            for g in sg
                .lock
                .goods
                .iter()
                .filter(|g| !wanted.contains(g.key.as_str()))
            {
                orphan += 1;
                writeln!(out, "- drop    {}  (no page has it any more)", g.key)?;
            }
        }
        RegistryKind::Api => {
            let client = ApiClient::from_env()?;
            let remote = client.list()?;
            let registry = ApiRegistry {
                client: &client,
                key: &sg.key,
                lock_path: &sg.lock_path,
                batch_size: sg.site.config.satoshipay.batch_size,
                progress: false,
            };
            let desired = registry.desired(&sg.wanted, &sg.lock);
            let actions = plan(&desired, &sg.lock, Some(&remote));
            let mut ids: HashSet<&str> = HashSet::new();
            for (a, d) in actions.iter().zip(&desired) {
                match a {
                    Action::Create { key } => {
                        create += 1;
                        writeln!(out, "+ create  {key}  ({} sat)", d.price)?;
                    }
                    Action::Update { key, id, changes } => {
                        ids.insert(id);
                        update += 1;
                        writeln!(out, "~ update  {key}  {id}: {}", changes.names().join(", "))?;
                    }
                    Action::Adopt { key, id, changes } => {
                        ids.insert(id);
                        adopt += 1;
                        let patch = if changes.is_empty() {
                            String::new()
                        } else {
                            format!(", then update {}", changes.names().join(", "))
                        };
                        writeln!(out, "= adopt   {key}  {id} (found by url{patch})")?;
                    }
                    Action::Keep { id, .. } => {
                        ids.insert(id);
                        keep += 1;
                    }
                }
            }
            let urls: HashSet<&str> = desired.iter().map(|d| d.url.as_str()).collect();
            for g in orphans(&remote, &sg.site.config.site.base_url, &ids, &urls) {
                orphan += 1;
                writeln!(
                    out,
                    "- orphan  {}  {}  (`satoshipress goods prune` deletes it)",
                    g.id, g.url
                )?;
            }
        }
    }
    writeln!(
        out,
        "plan: {create} to create, {update} to update, {adopt} to adopt, {keep} unchanged, {orphan} orphaned"
    )?;
    Ok(())
}

fn adopt(args: SiteArgs) -> Result<()> {
    let sg = site_goods(&args.dir, args.registry)?;
    if sg.registry == RegistryKind::Local {
        anyhow::bail!(
            "the local registry derives every id from the master key: there is nothing to adopt; `satoshipress build` rewrites the lock"
        );
    }
    let client = ApiClient::from_env()?;
    let remote = client.list()?;
    let mut lock = Lock::new(RegistryKind::Api, sg.key.fingerprint());
    let mut missing = 0;
    let mut claimed: HashSet<&str> = HashSet::new();
    for w in &sg.wanted {
        let Some(r) = remote
            .iter()
            .find(|r| r.url == w.url && !claimed.contains(r.id.as_str()))
        else {
            missing += 1;
            continue;
        };
        claimed.insert(&r.id);
        // The generation whose secret the API holds; if none, the next build patches it.
        let generation = (1..=64)
            .find(|g| sg.key.good_secret(&w.key, *g) == r.secret)
            .unwrap_or_else(|| sg.lock.get(&w.key).map_or(1, |l| l.generation));
        lock.goods.push(LockedGood {
            key: w.key.clone(),
            id: r.id.clone(),
            price: u32::try_from(r.price).unwrap_or(u32::MAX),
            title: r.title.clone(),
            url: r.url.clone(),
            digest: w.digest.clone(),
            generation,
        });
    }
    lock.goods.sort_by(|a, b| a.key.cmp(&b.key));
    crate::fs::write_atomic(&sg.lock_path, lock.to_text().as_bytes(), Some(0o644))?;
    println!(
        "adopted {} good(s) into `{}`; {missing} section(s) have no good in the API yet (the next build creates them)",
        lock.goods.len(),
        sg.lock_path.display()
    );
    Ok(())
}

fn prune(args: PruneArgs) -> Result<()> {
    let sg = site_goods(&args.dir, args.registry)?;
    if sg.registry == RegistryKind::Local {
        println!("nothing to prune: the local registry keeps no goods anywhere but the lock");
        return Ok(());
    }
    let client = ApiClient::from_env()?;
    let remote = client.list()?;
    let ids: HashSet<&str> = sg.lock.goods.iter().map(|g| g.id.as_str()).collect();
    let urls: HashSet<&str> = sg.wanted.iter().map(|w| w.url.as_str()).collect();
    let doomed = orphans(&remote, &sg.site.config.site.base_url, &ids, &urls);
    if doomed.is_empty() {
        println!("nothing to prune: every good of this site belongs to a section");
        return Ok(());
    }
    println!(
        "{} good(s) of this site belong to no section:",
        doomed.len()
    );
    for g in &doomed {
        println!("  {}  {:>9} sat  {}  {}", g.id, g.price, g.url, g.title);
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            anyhow::bail!("refusing to delete without confirmation: run again with --yes");
        }
        print!("Delete them from the Digital Goods API? [y/N] ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("nothing deleted");
            return Ok(());
        }
    }
    let mut deleted = 0;
    let mut failed = Vec::new();
    for chunk in doomed.chunks(sg.site.config.satoshipay.batch_size) {
        let batch: Vec<BatchRequest> = chunk
            .iter()
            .map(|g| BatchRequest {
                method: "DELETE",
                path: format!("/goods/{}", g.id),
                body: serde_json::Value::Null,
            })
            .collect();
        for (g, r) in chunk.iter().zip(client.batch(&batch)?) {
            if (200..300).contains(&r.status) || r.status == 404 {
                deleted += 1;
            } else {
                failed.push(format!("{} ({})", g.id, r.status));
            }
        }
    }
    println!("deleted {deleted} good(s)");
    if !failed.is_empty() {
        anyhow::bail!(
            "the API did not delete {}: {}; run `satoshipress goods prune` again",
            failed.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

fn rotate(args: RotateArgs) -> Result<()> {
    let sg = site_goods(&args.dir, args.registry)?;
    let Some(current) = sg.lock.get(&args.key).cloned() else {
        let known: Vec<&str> = sg
            .lock
            .goods
            .iter()
            .map(|g| g.key.as_str())
            .filter(|k| k.contains(args.key.split('#').next().unwrap_or("")))
            .take(5)
            .collect();
        anyhow::bail!(
            "no good `{}` in `{}`{}; `satoshipress goods list {}` shows the keys",
            args.key,
            sg.lock_path.display(),
            if known.is_empty() {
                String::new()
            } else {
                format!(" (did you mean {}?)", known.join(", "))
            },
            args.dir.display()
        );
    };
    let generation = current.generation + 1;
    if sg.registry == RegistryKind::Api {
        let client = ApiClient::from_env()?;
        client.patch(
            &current.id,
            &serde_json::json!({ "secret": sg.key.good_secret(&current.key, generation) }),
        )?;
    }
    let mut lock = sg.lock.clone();
    if let Some(g) = lock.goods.iter_mut().find(|g| g.key == args.key) {
        g.generation = generation;
    }
    crate::fs::write_atomic(&sg.lock_path, lock.to_text().as_bytes(), Some(0o644))?;
    let sg_registry = sg.registry;
    drop(sg);
    build(&Options {
        site_dir: args.dir.clone(),
        registry: Some(sg_registry),
        ..Options::default()
    })?;
    println!(
        "rotated the secret of `{}` to generation {generation}; the bundle holds the new secret — deploy it",
        args.key
    );
    Ok(())
}
