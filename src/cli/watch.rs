//! `satoshipress watch DIR` and `satoshipress serve DIR`

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::build::{Options, Overrides};
use crate::config::{Config, RegistryKind};
use crate::http::{HttpServer, Limits, Service};
use crate::key::{KEY_ENV, MasterKey};
use crate::preview::PreviewService;
use crate::sandbox::{Faults, GoodStore, SandboxOptions, SandboxService};
use crate::watch::{PrintReporter, Rebuilt, Reporter, Session};

/// Arguments of `watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// The site directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Where to register goods [default: local; `api` syncs after each good rebuild].
    #[arg(long, value_enum)]
    pub registry: Option<RegistryKind>,
}

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The site directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 1111)]
    pub port: u16,
    /// Where to register goods [default: local].
    #[arg(long, value_enum)]
    pub registry: Option<RegistryKind>,
}

pub fn watch(args: WatchArgs) -> Result<()> {
    let opts = Options {
        site_dir: args.dir.clone(),
        registry: Some(args.registry.unwrap_or(RegistryKind::Local)),
        ..Options::default()
    };
    let (session, first) = Session::start(opts);
    PrintReporter.rebuilt(&first);
    eprintln!(
        "watching `{}` for changes (Ctrl-C stops)",
        args.dir.display()
    );
    let stop = Arc::new(AtomicBool::new(false));
    let stop_flag = Arc::clone(&stop);
    super::on_stop_signal(move || stop_flag.store(true, Ordering::SeqCst))?;
    crate::watch::run(session, &PrintReporter, &stop)
}

/// Prints each rebuild and tells the preview server.
struct PreviewReporter(Arc<PreviewService>);

impl Reporter for PreviewReporter {
    fn rebuilt(&self, result: &Result<Rebuilt>) {
        PrintReporter.rebuilt(result);
        self.0.built(result.as_ref().err());
    }
}

pub fn serve(args: ServeArgs) -> Result<()> {
    let config = Config::load(&args.dir)?;
    let work = tempfile::Builder::new()
        .prefix("satoshipress-serve-")
        .tempdir()
        .context("cannot create a preview directory")?;
    let http = HttpServer::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)))?;
    let addr = http.local_addr();
    let out_dir = work.path().join("public");
    let bundle = work.path().join("content.spb");
    let opts = Options {
        site_dir: args.dir.clone(),
        registry: Some(args.registry.unwrap_or(RegistryKind::Local)),
        out_dir: Some(out_dir.clone()),
        overrides: Overrides {
            content_api: Some("/satoshipay-content".into()),
            widget_url: Some(String::new()),
            bundle: Some(bundle.clone()),
            ..Overrides::default()
        },
        ..Options::default()
    };
    let (session, first) = Session::start(opts);
    // The key exists now if the first build made it; the preview needs it for the bundle.
    let env = std::env::var(KEY_ENV).ok();
    let key = MasterKey::load(env.as_deref(), &args.dir.join(&config.satoshipay.key_file))
        .map(|(k, _)| k)
        .or_else(|_| MasterKey::generate())?;
    let sandbox = SandboxService::new(
        GoodStore::open(None)?,
        SandboxOptions {
            key: "sandbox-key".into(),
            secret: "sandbox-secret".into(),
        },
        Faults::default(),
    );
    let preview = Arc::new(PreviewService::new(out_dir, bundle, key, sandbox));
    let reporter = PreviewReporter(Arc::clone(&preview));
    reporter.rebuilt(&first);
    let stopper = http.stopper();
    let service: Arc<dyn Service> = preview.clone();
    let limits = Limits {
        max_body: 8 * 1024 * 1024,
        idle_timeout: Duration::from_secs(60),
        ..Limits::default()
    };
    let server = std::thread::spawn(move || http.run(service, limits, 256, Duration::from_secs(2)));
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{addr}")?;
        out.flush()?;
    }
    eprintln!(
        "previewing `{}` at http://{addr}/ — pages reload on every save; paid sections have a sandbox \"Pay\" button.\n  the preview is built in a temporary directory: run `satoshipress build` for the site you deploy",
        args.dir.display()
    );
    let stop = Arc::new(AtomicBool::new(false));
    let (http_stop, stop_flag) = (stopper.clone(), Arc::clone(&stop));
    super::on_stop_signal(move || {
        stop_flag.store(true, Ordering::SeqCst);
        http_stop.stop();
    })?;
    let result = crate::watch::run(session, &reporter, &stop);
    stopper.stop();
    let _ = server.join();
    drop(work);
    result
}
