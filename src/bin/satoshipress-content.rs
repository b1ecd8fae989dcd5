//! `satoshipress-content`: the Content API server for a satoshipress bundle.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use satoshipress::http::Limits;
use satoshipress::key::{KEY_ENV, MasterKey};
use satoshipress::server::{HandlerOptions, Server, ServerOptions};

/// Serve a satoshipress bundle as SatoshiPay's Content API.
///
/// After a reader pays, the SatoshiPay widget calls GET <prefix>/<id>?paymentCert=<certificate>
/// (or sends the certificate in an X-Payment-Certificate header, or a signed paymentReceipt);
/// with a valid one the answer is 200 {"content": "<paid html>"}, otherwise 402 Payment
/// Required with the X-Payment-* headers. Also: GET /healthz and GET /metrics (Prometheus).
///
/// The master key comes from SATOSHIPRESS_KEY or --key-file. The bundle is reloaded on SIGHUP
/// and when the file is replaced; a bad new bundle is refused and the old one keeps serving.
/// SIGTERM or SIGINT stop accepting and let open requests finish. The first line on stdout is
/// `listening on http://HOST:PORT`. Run it behind a TLS reverse proxy: certificates are
/// bearer secrets.
#[derive(Debug, Parser)]
#[command(name = "satoshipress-content", version, max_term_width = 100)]
struct Args {
    /// The sealed bundle written by `satoshipress build`.
    #[arg(long)]
    bundle: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// File holding the master key (used when SATOSHIPRESS_KEY is not set).
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Path prefix of content URLs (the path of the site's `satoshipay.content_api`).
    #[arg(long, default_value = "/satoshipay-content")]
    prefix: String,
    /// Origin allowed to call the API from a browser; repeat for several; `*` for any.
    #[arg(long = "allow-origin", default_value = "*")]
    allow_origin: Vec<String>,
    /// Most connections open at once; more are answered 503.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// Do not write an access-log line per request.
    #[arg(long)]
    no_access_log: bool,
    /// Do not watch the bundle file for replacement (reload on SIGHUP only).
    #[arg(long)]
    no_watch: bool,
    /// Seconds a client may take to send a request's head.
    #[arg(long, default_value_t = 10)]
    head_timeout: u64,
    /// Seconds an idle keep-alive connection stays open.
    #[arg(long, default_value_t = 15)]
    idle_timeout: u64,
    /// Seconds a shutdown waits for open requests to finish.
    #[arg(long, default_value_t = 10)]
    grace: u64,
    /// Failed payment proofs (wrong certificates or receipts) a client may send per minute
    /// before it gets 429 with Retry-After; 0 turns the limit off.
    #[arg(long, default_value_t = 30)]
    max_failed_per_minute: u32,
    /// Failed proofs a client may send at once before the per-minute rate applies.
    #[arg(long, default_value_t = 10)]
    failed_burst: u32,
    /// Take the client's address from X-Forwarded-For (set it only behind a proxy that
    /// writes that header itself).
    #[arg(long)]
    trust_forwarded_for: bool,
    /// Verify the bundle with the key, print its goods count and version, and exit (for
    /// deploy scripts: check a new bundle before moving it into place).
    #[arg(long)]
    check: bool,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            satoshipress::cli::report(&e);
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<()> {
    let env = std::env::var(KEY_ENV).ok().filter(|v| !v.trim().is_empty());
    let key = match (&env, &args.key_file) {
        (None, None) => anyhow::bail!(
            "no master key: set {KEY_ENV} or pass --key-file FILE (the key the bundle was built with)"
        ),
        (_, key_file) => {
            MasterKey::load(env.as_deref(), key_file.as_deref().unwrap_or("".as_ref()))?.0
        }
    };
    if args.check {
        let bundle = satoshipress::bundle::Bundle::open_file(&key, &args.bundle)?;
        println!(
            "ok: `{}` holds {} goods, version {}",
            args.bundle.display(),
            bundle.len(),
            bundle.version()
        );
        return Ok(());
    }
    let prefix = args.prefix.trim_end_matches('/').to_string();
    if !prefix.starts_with('/') || prefix.contains(['?', '#', ' ']) {
        anyhow::bail!(
            "--prefix must be a path like /satoshipay-content, not `{}`",
            args.prefix
        );
    }
    let options = ServerOptions {
        listen: args.listen,
        bundle: args.bundle.clone(),
        handler: HandlerOptions {
            prefix,
            allow_origins: args.allow_origin,
        },
        limits: Limits {
            head_timeout: Duration::from_secs(args.head_timeout.max(1)),
            idle_timeout: Duration::from_secs(args.idle_timeout.max(1)),
            ..Limits::default()
        },
        max_connections: args.max_connections.max(1),
        access_log: !args.no_access_log,
        watch_interval: (!args.no_watch).then(|| Duration::from_secs(1)),
        grace: Duration::from_secs(args.grace),
        rate_limit: (args.max_failed_per_minute > 0).then_some(satoshipress::server::RateLimit {
            per_minute: args.max_failed_per_minute,
            burst: args.failed_burst.max(1),
        }),
        trust_forwarded_for: args.trust_forwarded_for,
    };
    let server =
        Server::bind(options, key).with_context(|| "the Content API cannot start".to_string())?;
    let handle = server.handle();
    let goods = server.goods();
    let addr = server.local_addr();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])
    .context("cannot install signal handlers")?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if signal == signal_hook::consts::SIGHUP {
                    let _ = handle.reload();
                } else {
                    handle.shutdown();
                    break;
                }
            }
        })?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{addr}")?;
        out.flush()?;
    }
    eprintln!("serving {goods} goods from `{}`", args.bundle.display());
    server.run()
}
