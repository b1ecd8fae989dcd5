//! The server: a listener, a thread per open connection up to a cap, the loaded bundle
//! behind a lock that readers hold only to clone an `Arc`, reloads on SIGHUP or when the
//! bundle file is replaced, and a graceful shutdown.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};

use super::handler::HandlerOptions;
use super::http::{Limits, serve_connection};
use super::metrics::Metrics;
use super::store::Store;
use crate::bundle::Bundle;
use crate::key::MasterKey;

/// Everything the server is told.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// The bundle file (re-read on reload).
    pub bundle: PathBuf,
    /// Routes and CORS.
    pub handler: HandlerOptions,
    /// Request limits.
    pub limits: Limits,
    /// Most connections open at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// One log line per request on stderr.
    pub access_log: bool,
    /// How often to look for a replaced bundle file (`None`: only on SIGHUP).
    pub watch_interval: Option<Duration>,
    /// How long a shutdown waits for open requests.
    pub grace: Duration,
}

/// State every connection thread shares.
pub(crate) struct Shared {
    store: RwLock<Arc<Store>>,
    pub(crate) metrics: Metrics,
    pub(crate) handler: HandlerOptions,
    pub(crate) limits: Limits,
    pub(crate) access_log: bool,
    pub(crate) shutting_down: AtomicBool,
    active: AtomicUsize,
    key: MasterKey,
    bundle_path: PathBuf,
}

impl Shared {
    /// The bundle in force now.
    pub(crate) fn store(&self) -> Arc<Store> {
        Arc::clone(&self.store.read().unwrap_or_else(|p| p.into_inner()))
    }
}

/// A running server.
pub struct Server {
    shared: Arc<Shared>,
    listener: TcpListener,
    addr: SocketAddr,
    options: ServerOptions,
}

/// Stops a server from another thread.
#[derive(Clone)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl ShutdownHandle {
    /// Stops accepting, lets open requests finish, and makes [`Server::run`] return.
    pub fn shutdown(&self) {
        self.shared.shutting_down.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }

    /// Loads the bundle file again; the old bundle keeps serving if the new one is bad.
    pub fn reload(&self) -> Result<()> {
        reload(&self.shared)
    }
}

/// Reads and opens the bundle file.
fn load(key: &MasterKey, path: &Path) -> Result<Store> {
    let bundle = Bundle::open_file(key, path)?;
    Ok(Store::from_bundle(bundle))
}

fn reload(shared: &Shared) -> Result<()> {
    match load(&shared.key, &shared.bundle_path) {
        Ok(store) => {
            let (goods, version) = (store.len(), store.version.clone());
            *shared.store.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(store);
            shared.metrics.count_reload(true);
            log(&format!(
                "msg=\"bundle reloaded\" goods={goods} version={version}"
            ));
            Ok(())
        }
        Err(e) => {
            shared.metrics.count_reload(false);
            log(&format!(
                "level=error msg=\"bundle reload refused; the previous bundle keeps serving\" error=\"{}\"",
                one_line(&e)
            ));
            Err(e)
        }
    }
}

/// An error and its causes on one line, quotes escaped.
fn one_line(e: &anyhow::Error) -> String {
    e.chain()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ")
        .replace('"', "'")
}

/// One event line on stderr.
pub(crate) fn log(fields: &str) {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let (y, mo, d, h, mi, s, _) = super::http::civil(now.as_secs());
    let line = format!("ts={y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z {fields}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

impl Server {
    /// Opens the bundle (refusing a missing, damaged or wrongly keyed one) and binds.
    pub fn bind(options: ServerOptions, key: MasterKey) -> Result<Server> {
        let store = load(&key, &options.bundle)?;
        let listener = TcpListener::bind(options.listen)
            .with_context(|| format!("cannot listen on {}", options.listen))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            store: RwLock::new(Arc::new(store)),
            metrics: Metrics::default(),
            handler: options.handler.clone(),
            limits: options.limits,
            access_log: options.access_log,
            shutting_down: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            key,
            bundle_path: options.bundle.clone(),
        });
        Ok(Server {
            shared,
            listener,
            addr,
            options,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle to stop or reload it from elsewhere.
    pub fn handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shared: Arc::clone(&self.shared),
            addr: self.addr,
        }
    }

    /// Goods in the loaded bundle.
    pub fn goods(&self) -> usize {
        self.shared.store().len()
    }

    /// Serves until shut down, then waits (up to the grace time) for open requests.
    pub fn run(self) -> Result<()> {
        let watcher = self.options.watch_interval.map(|every| {
            let shared = Arc::clone(&self.shared);
            std::thread::Builder::new()
                .name("bundle-watch".into())
                .spawn(move || watch_bundle(&shared, every))
                .expect("spawn the bundle watcher")
        });
        for conn in self.listener.incoming() {
            if self.shared.shutting_down.load(Ordering::SeqCst) {
                break;
            }
            let Ok(stream) = conn else { continue };
            let Ok(peer) = stream.peer_addr() else {
                continue;
            };
            if self.shared.active.load(Ordering::SeqCst) >= self.options.max_connections {
                busy(stream, &self.shared);
                continue;
            }
            self.shared.active.fetch_add(1, Ordering::SeqCst);
            let shared = Arc::clone(&self.shared);
            let spawned = std::thread::Builder::new()
                .name("conn".into())
                .stack_size(256 * 1024)
                .spawn(move || {
                    let _guard = ActiveGuard(&shared.active);
                    serve_connection(stream, peer, &shared);
                });
            if spawned.is_err() {
                self.shared.active.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let deadline = Instant::now() + self.options.grace;
        while self.shared.active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(watcher);
        Ok(())
    }
}

struct ActiveGuard<'a>(&'a AtomicUsize);

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Too many connections: a short 503, then close.
fn busy(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(500)));
    let _ = stream.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\nConnection: close\r\n\r\n");
    shared.metrics.count(503);
}

/// The identity of the bundle file: a replaced file has a new inode or size or mtime.
fn file_id(path: &Path) -> Option<(u64, u64, u64, i64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| {
        (
            m.dev(),
            m.ino(),
            m.len(),
            m.mtime_nsec() + m.mtime() * 1_000_000_000,
        )
    })
}

/// Reloads when the bundle file is replaced. Polling (not inotify) also works on network
/// file systems and needs no descriptor per watched directory.
fn watch_bundle(shared: &Shared, every: Duration) {
    let mut last = file_id(&shared.bundle_path);
    while !shared.shutting_down.load(Ordering::Relaxed) {
        std::thread::sleep(every);
        let now = file_id(&shared.bundle_path);
        if now.is_some() && now != last {
            last = now;
            let _ = reload(shared);
        }
    }
}
