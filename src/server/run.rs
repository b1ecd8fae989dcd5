//! The Content API server: the loaded bundle behind a lock that readers hold only to clone an
//! `Arc`, reloads on SIGHUP or when the bundle file is replaced, metrics and the access log.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;

use super::handler::{HandlerOptions, Request, respond};
use super::limit::{Limiter, RateLimit};
use super::metrics::Metrics;
use super::store::Store;
use crate::http::{self, HttpServer, Limits, Outcome, Service, Stopper};
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
    /// Limit on failed payment proofs per client (`None`: no limit).
    pub rate_limit: Option<RateLimit>,
    /// Take the client's address from `X-Forwarded-For` (behind a trusted proxy only).
    pub trust_forwarded_for: bool,
}

/// The Content API as an HTTP service: the bundle in force, metrics, options.
pub struct ContentService {
    store: RwLock<Arc<Store>>,
    metrics: Metrics,
    handler: HandlerOptions,
    access_log: bool,
    key: MasterKey,
    bundle_path: PathBuf,
    limiter: Option<Limiter>,
    trust_forwarded_for: bool,
}

impl ContentService {
    /// Opens the bundle, refusing a missing, damaged or wrongly keyed one.
    pub fn open(
        key: MasterKey,
        bundle_path: &Path,
        handler: HandlerOptions,
        access_log: bool,
    ) -> Result<ContentService> {
        let store = load(&key, bundle_path)?;
        Ok(ContentService {
            store: RwLock::new(Arc::new(store)),
            metrics: Metrics::default(),
            handler,
            access_log,
            key,
            bundle_path: bundle_path.to_path_buf(),
            limiter: None,
            trust_forwarded_for: false,
        })
    }

    /// Limits failed payment proofs per client; `trust_forwarded_for` takes the client from
    /// the first `X-Forwarded-For` address (only behind a proxy that sets it).
    pub fn with_rate_limit(mut self, limit: Option<RateLimit>, trust_forwarded_for: bool) -> Self {
        self.limiter = limit.map(Limiter::new);
        self.trust_forwarded_for = trust_forwarded_for;
        self
    }

    fn client(&self, req: &http::Request<'_>) -> IpAddr {
        let forwarded = self
            .trust_forwarded_for
            .then(|| req.header("X-Forwarded-For"))
            .flatten()
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok());
        forwarded.unwrap_or(req.peer.ip())
    }

    /// The bundle in force now.
    pub fn store(&self) -> Arc<Store> {
        Arc::clone(&self.store.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Loads the bundle file again; the old bundle keeps serving if the new one is bad.
    pub fn reload(&self) -> Result<()> {
        match load(&self.key, &self.bundle_path) {
            Ok(store) => {
                let (goods, version) = (store.len(), store.version.clone());
                *self.store.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(store);
                self.metrics.count_reload(true);
                log(&format!(
                    "msg=\"bundle reloaded\" goods={goods} version={version}"
                ));
                Ok(())
            }
            Err(e) => {
                self.metrics.count_reload(false);
                let error = e
                    .chain()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(": ")
                    .replace('"', "'");
                log(&format!(
                    "level=error msg=\"bundle reload refused; the previous bundle keeps serving\" error=\"{error}\""
                ));
                Err(e)
            }
        }
    }

    /// Whether `path` is one of this service's routes (for servers that mount it beside others).
    pub fn routes(&self, path: &str) -> bool {
        path == "/healthz"
            || path == "/metrics"
            || path
                .strip_prefix(self.handler.prefix.as_str())
                .is_some_and(|r| r.is_empty() || r.starts_with('/'))
    }
}

impl Service for ContentService {
    fn serve(&self, req: &http::Request<'_>, reply: &mut dyn FnMut(&http::Response<'_>)) {
        let store = self.store();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let request = Request {
            method: req.method,
            target: req.target,
            certificate: req.header("X-Payment-Certificate"),
            origin: req.header("Origin"),
        };
        // Guessing certificates costs: a client whose proofs keep failing is slowed down.
        let proof = request.certificate.is_some()
            || req
                .query()
                .split('&')
                .any(|kv| kv.starts_with("paymentCert=") || kv.starts_with("paymentReceipt="));
        let limited = self
            .limiter
            .as_ref()
            .filter(|_| proof && req.path().starts_with(self.handler.prefix.as_str()));
        if let Some(limiter) = limited {
            let client = self.client(req);
            if let Err(wait) = limiter.check(client) {
                let r = http::Response::error(429, "too_many_requests", "Too Many Requests: too many failed payment proofs from this client; wait before trying again")
                    .header("Retry-After", wait.to_string())
                    .header("Cache-Control", "no-store");
                return reply(&r);
            }
            let response = respond(&request, &store, &self.metrics, &self.handler, now);
            if response.status == 402 {
                limiter.charge(client);
            }
            return reply(&response);
        }
        reply(&respond(
            &request,
            &store,
            &self.metrics,
            &self.handler,
            now,
        ));
    }

    fn observe(&self, o: &Outcome<'_>) {
        self.metrics.count(o.status);
        if self.access_log {
            access_log(o);
        }
    }
}

/// A Content API server: the service on its own listener.
pub struct Server {
    http: HttpServer,
    service: Arc<ContentService>,
    options: ServerOptions,
}

/// Stops or reloads a server from another thread.
#[derive(Clone)]
pub struct ShutdownHandle {
    service: Arc<ContentService>,
    stopper: Stopper,
}

impl ShutdownHandle {
    /// Stops accepting, lets open requests finish, and makes [`Server::run`] return.
    pub fn shutdown(&self) {
        self.stopper.stop();
    }

    /// Loads the bundle file again; the old bundle keeps serving if the new one is bad.
    pub fn reload(&self) -> Result<()> {
        self.service.reload()
    }
}

/// Reads and opens the bundle file.
fn load(key: &MasterKey, path: &Path) -> Result<Store> {
    Store::open_file(key, path)
}

/// One event line on stderr.
pub(crate) fn log(fields: &str) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let (y, mo, d, h, mi, s, _) = http::civil(now.as_secs());
    let line = format!("ts={y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z {fields}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// One access-log line on stderr. The query string is never logged: it holds certificates.
fn access_log(o: &Outcome<'_>) {
    let path = o.target.split('?').next().unwrap_or("");
    let path: String = path
        .chars()
        .take(200)
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' {
                c
            } else {
                '?'
            }
        })
        .collect();
    let method: String = o
        .method
        .chars()
        .take(16)
        .map(|c| {
            if c.is_ascii_alphabetic() || c == '-' {
                c
            } else {
                '?'
            }
        })
        .collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let (y, mo, d, h, mi, s, _) = http::civil(now.as_secs());
    let line = format!(
        "ts={y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}Z peer={} method={method} path=\"{path}\" status={} bytes={} dur_us={} good={}\n",
        now.subsec_millis(),
        o.peer
            .map_or_else(|| "-".to_string(), |p| p.ip().to_string()),
        o.status,
        o.bytes,
        o.started.elapsed().as_micros(),
        o.note.unwrap_or("-")
    );
    let _ = std::io::stderr().write_all(line.as_bytes());
}

impl Server {
    /// Opens the bundle (refusing a missing, damaged or wrongly keyed one) and binds.
    pub fn bind(options: ServerOptions, key: MasterKey) -> Result<Server> {
        let service = Arc::new(
            ContentService::open(
                key,
                &options.bundle,
                options.handler.clone(),
                options.access_log,
            )?
            .with_rate_limit(options.rate_limit, options.trust_forwarded_for),
        );
        let http = HttpServer::bind(options.listen)?;
        Ok(Server {
            http,
            service,
            options,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.http.local_addr()
    }

    /// A handle to stop or reload it from elsewhere.
    pub fn handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            service: Arc::clone(&self.service),
            stopper: self.http.stopper(),
        }
    }

    /// Goods in the loaded bundle.
    pub fn goods(&self) -> usize {
        self.service.store().len()
    }

    /// Serves until shut down, then waits (up to the grace time) for open requests.
    pub fn run(self) -> Result<()> {
        let stopper = self.http.stopper();
        if let Some(every) = self.options.watch_interval {
            let (service, stopper) = (Arc::clone(&self.service), stopper.clone());
            std::thread::Builder::new()
                .name("bundle-watch".into())
                .spawn(move || watch_bundle(&service, &stopper, every))?;
        }
        let service: Arc<dyn Service> = self.service;
        self.http.run(
            service,
            self.options.limits,
            self.options.max_connections,
            self.options.grace,
        );
        Ok(())
    }
}

/// The identity of the bundle file: a replaced file has a new inode, size or mtime.
fn file_id(path: &Path) -> Option<(u64, u64, u64, i64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| {
        (
            m.dev(),
            m.ino(),
            m.len(),
            m.mtime() * 1_000_000_000 + m.mtime_nsec(),
        )
    })
}

/// Reloads when the bundle file is replaced. Polling (not inotify) also works on network
/// file systems and survives the directory being replaced.
fn watch_bundle(service: &ContentService, stopper: &Stopper, every: Duration) {
    let mut last = file_id(&service.bundle_path);
    while !stopper.is_stopping() {
        std::thread::sleep(every);
        let now = file_id(&service.bundle_path);
        if now.is_some() && now != last {
            last = now;
            let _ = service.reload();
        }
    }
}
