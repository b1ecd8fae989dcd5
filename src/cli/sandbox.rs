//! `satoshipress sandbox`

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use crate::http::{HttpServer, Limits, Service};
use crate::sandbox::{Faults, GoodStore, SandboxOptions, SandboxService};

/// Arguments of `sandbox`.
#[derive(Debug, clap::Args)]
pub struct SandboxArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8091)]
    pub port: u16,
    /// Full address to listen on, instead of 127.0.0.1:PORT.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// JSON file holding the goods, written atomically after every change (memory only
    /// without it).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The API key clients must send (Basic-auth user).
    #[arg(long, default_value = "sandbox-key")]
    pub key: String,
    /// The API secret clients must send (Basic-auth password).
    #[arg(long, default_value = "sandbox-secret")]
    pub secret: String,
    /// Fault: answer the next N API requests with --fail-status without doing anything.
    #[arg(long, default_value_t = 0)]
    pub fail_next: u32,
    /// Status of injected failures (500, 503, 429, …).
    #[arg(long, default_value_t = 500)]
    pub fail_status: u16,
    /// Fault: close the connection of the next N API requests without doing anything.
    #[arg(long, default_value_t = 0)]
    pub drop_next: u32,
    /// Fault: do the next N mutating requests, then close the connection without answering.
    #[arg(long, default_value_t = 0)]
    pub drop_after_next: u32,
    /// Fault: fail the next N batch entries with 500, each on its own.
    #[arg(long, default_value_t = 0)]
    pub fail_entries: u32,
    /// Fault: wait this many milliseconds before answering each API request.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
}

pub fn run(args: SandboxArgs) -> Result<()> {
    let store = GoodStore::open(args.data.as_deref())?;
    let goods = store.len();
    let faults = Faults {
        fail_next: args.fail_next,
        fail_status: args.fail_status,
        drop_next: args.drop_next,
        drop_after_next: args.drop_after_next,
        fail_entries: args.fail_entries,
        latency_ms: args.latency_ms,
        ..Faults::default()
    };
    let service = Arc::new(SandboxService::new(
        store,
        SandboxOptions {
            key: args.key.clone(),
            secret: args.secret.clone(),
        },
        faults,
    ));
    let listen = args
        .listen
        .unwrap_or(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)));
    let server = HttpServer::bind(listen)?;
    let addr = server.local_addr();
    let stopper = server.stopper();
    super::on_stop_signal(move || stopper.stop())?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{addr}")?;
        out.flush()?;
    }
    eprintln!(
        "satoshipress sandbox: an emulator of the Digital Goods API ({goods} goods{}).\n  export SATOSHIPAY_API_URL=http://{addr}/v1 SATOSHIPAY_API_KEY={} SATOSHIPAY_API_SECRET={}\n  development endpoints (not in the real API): GET /_sandbox/stats, POST /_sandbox/faults, GET /_sandbox/certificate/<id>",
        args.data
            .as_ref()
            .map(|d| format!(", kept in `{}`", d.display()))
            .unwrap_or_default(),
        args.key,
        args.secret
    );
    let limits = Limits {
        max_body: 8 * 1024 * 1024,
        max_head: 16 * 1024,
        ..Limits::default()
    };
    let service: Arc<dyn Service> = service;
    server.run(service, limits, 256, Duration::from_secs(5));
    Ok(())
}
