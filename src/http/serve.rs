//! The accept loop: a thread per open connection up to a cap, and a graceful stop.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::conn::{Limits, Service, serve_connection};

/// State the accept loop shares with its connections.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    pub(crate) stopping: AtomicBool,
    active: AtomicUsize,
}

/// A bound listener, ready to serve.
pub struct HttpServer {
    listener: TcpListener,
    addr: SocketAddr,
    flags: Arc<Flags>,
}

/// Stops a server from another thread (a signal handler, a test).
#[derive(Debug, Clone)]
pub struct Stopper {
    flags: Arc<Flags>,
    addr: SocketAddr,
}

impl Stopper {
    /// Stops accepting; open connections finish their request and close.
    pub fn stop(&self) {
        self.flags.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }

    /// Whether a stop was asked for.
    pub fn is_stopping(&self) -> bool {
        self.flags.stopping.load(Ordering::SeqCst)
    }
}

impl HttpServer {
    /// Binds `addr` (port 0 picks a free port).
    pub fn bind(addr: SocketAddr) -> Result<HttpServer> {
        let listener =
            TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
        let addr = listener.local_addr()?;
        Ok(HttpServer {
            listener,
            addr,
            flags: Arc::new(Flags::default()),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle that stops this server.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            flags: Arc::clone(&self.flags),
            addr: self.addr,
        }
    }

    /// Serves until stopped, then waits up to `grace` for open connections to finish.
    pub fn run(
        self,
        service: Arc<dyn Service>,
        limits: Limits,
        max_connections: usize,
        grace: Duration,
    ) {
        for conn in self.listener.incoming() {
            if self.flags.stopping.load(Ordering::SeqCst) {
                break;
            }
            let Ok(stream) = conn else { continue };
            let Ok(peer) = stream.peer_addr() else {
                continue;
            };
            if self.flags.active.load(Ordering::SeqCst) >= max_connections {
                busy(stream, service.as_ref());
                continue;
            }
            self.flags.active.fetch_add(1, Ordering::SeqCst);
            let (service, flags) = (Arc::clone(&service), Arc::clone(&self.flags));
            let spawned = std::thread::Builder::new()
                .name("conn".into())
                .stack_size(256 * 1024)
                .spawn(move || {
                    let _guard = ActiveGuard(&flags.active);
                    serve_connection(stream, peer, service.as_ref(), limits, &flags.stopping);
                });
            if spawned.is_err() {
                self.flags.active.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let deadline = Instant::now() + grace;
        while self.flags.active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

struct ActiveGuard<'a>(&'a AtomicUsize);

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Too many connections: a short 503, then close.
fn busy(mut stream: TcpStream, service: &dyn Service) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(500)));
    let _ = stream.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\nConnection: close\r\n\r\n");
    service.observe(&super::conn::Outcome {
        peer: stream.peer_addr().ok(),
        method: "-",
        target: "-",
        status: 503,
        bytes: 0,
        note: None,
        started: Instant::now(),
    });
}
