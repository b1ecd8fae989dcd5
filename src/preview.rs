//! The preview server of `satoshipress serve`: the built site, the Content API from the fresh
//! bundle, the sandbox, a stand-in for the SatoshiPay widget, live reload and the error
//! overlay — one HTTP server on 127.0.0.1.

use std::borrow::Cow;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;

use serde_json::json;

use crate::diagnostic::Diagnostics;
use crate::http::{Request, Response, Service};
use crate::key::MasterKey;
use crate::sandbox::SandboxService;
use crate::server::{ContentService, HandlerOptions};

/// The dev widget, live reload and overlay.
pub const DEV_JS: &str = include_str!("../assets/dev.js");
/// Where the dev widget is served (a path no site uses).
pub const DEV_JS_PATH: &str = "/_satoshipress/dev.js";
const POLL_PATH: &str = "/_satoshipress/poll";

#[derive(Debug, Default, Clone)]
struct BuildState {
    /// Bumped on every rebuild attempt.
    version: u64,
    /// Bumped on every successful rebuild: pages reload when it changes.
    generation: u64,
    /// Problems of the last attempt (empty after a success).
    errors: Vec<serde_json::Value>,
}

/// The preview server's service.
pub struct PreviewService {
    root: PathBuf,
    bundle: PathBuf,
    key: MasterKey,
    content: RwLock<Option<Arc<ContentService>>>,
    sandbox: SandboxService,
    state: Mutex<BuildState>,
    changed: Condvar,
}

impl PreviewService {
    /// Serves `root` (the preview build), the bundle at `bundle`, and `sandbox`.
    pub fn new(
        root: PathBuf,
        bundle: PathBuf,
        key: MasterKey,
        sandbox: SandboxService,
    ) -> PreviewService {
        PreviewService {
            root,
            bundle,
            key,
            content: RwLock::new(None),
            sandbox,
            state: Mutex::new(BuildState::default()),
            changed: Condvar::new(),
        }
    }

    /// Records the outcome of a build: open pages reload after a success, and show the
    /// overlay after a failure.
    pub fn built(&self, failure: Option<&anyhow::Error>) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.version += 1;
        match failure {
            None => {
                st.generation += 1;
                st.errors.clear();
                let mut content = self.content.write().unwrap_or_else(|p| p.into_inner());
                match content.as_ref() {
                    Some(c) => {
                        let _ = c.reload();
                    }
                    None => {
                        let options = HandlerOptions::default();
                        *content =
                            ContentService::open(self.key.clone(), &self.bundle, options, false)
                                .ok()
                                .map(Arc::new);
                    }
                }
            }
            Some(e) => {
                st.errors = match e.downcast_ref::<Diagnostics>() {
                    Some(d) => d.0.iter().map(|p| json!({"path": p.path.display().to_string(), "line": p.line, "message": p.message})).collect(),
                    None => vec![json!({"path": "", "line": 0, "message": e.chain().map(|c| c.to_string()).collect::<Vec<_>>().join(": ")})],
                };
            }
        }
        self.changed.notify_all();
    }

    fn poll(&self, query: &str) -> Response<'static> {
        let since: i64 = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("since="))
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1);
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (st, _) = self
            .changed
            .wait_timeout_while(st, Duration::from_secs(20), |s| s.version as i64 <= since)
            .unwrap_or_else(|p| p.into_inner());
        Response::json(
            200,
            &json!({"version": st.version, "generation": st.generation, "errors": st.errors}),
        )
        .header("Cache-Control", "no-store")
    }

    fn certificate(&self, id: &str) -> Response<'static> {
        // The sandbox's goods first (registry api), then the local build's.
        let secret = self.sandbox.certificate(id).or_else(|| {
            let content = self.content.read().unwrap_or_else(|p| p.into_inner());
            content
                .as_ref()
                .and_then(|c| c.store().get(id).map(|g| g.secret.clone()))
        });
        match secret {
            Some(s) => Response::json(200, &json!({"id": id, "certificate": s, "note": "sandbox only: a real certificate comes from a SatoshiPay payment"})),
            None => Response::error(404, "not_found", "Good not found"),
        }
        .header("Cache-Control", "no-store")
    }

    fn file(&self, req: &Request<'_>) -> Response<'static> {
        if !matches!(req.method, "GET" | "HEAD") {
            return Response::error(405, "method_not_allowed", "Method Not Allowed")
                .header("Allow", "GET, HEAD");
        }
        let Some(rel) = safe_path(req.path()) else {
            return Response::error(404, "not_found", "Not Found");
        };
        let mut path = self.root.join(&rel);
        if path.is_dir() {
            if !req.path().ends_with('/') {
                return Response::new(301, "text/plain", Vec::new())
                    .header("Location", format!("{}/", req.path()));
            }
            path = path.join("index.html");
        }
        match std::fs::read(&path) {
            Ok(bytes) => {
                let ty = content_type(&path);
                let body = if ty.starts_with("text/html") { inject(bytes) } else { bytes };
                Response::new(200, ty, body).header("Cache-Control", "no-store")
            }
            Err(_) => Response::new(404, "text/html; charset=utf-8", inject(b"<!doctype html><title>Not found</title><h1>Not found</h1><p>No page here (yet).</p>".to_vec())),
        }
    }
}

impl Service for PreviewService {
    fn serve(&self, req: &Request<'_>, reply: &mut dyn FnMut(&Response<'_>)) {
        let path = req.path();
        if path == DEV_JS_PATH {
            return reply(
                &Response::new(
                    200,
                    "text/javascript; charset=utf-8",
                    Cow::Borrowed(DEV_JS.as_bytes()),
                )
                .header("Cache-Control", "no-store"),
            );
        }
        if path == POLL_PATH {
            return reply(&self.poll(req.query()));
        }
        if let Some(id) = path.strip_prefix("/_sandbox/certificate/") {
            return reply(&self.certificate(id));
        }
        if SandboxService::routes(path) {
            return self.sandbox.serve(req, reply);
        }
        let content = self
            .content
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(c) = content.filter(|c| c.routes(path)) {
            return c.serve(req, reply);
        }
        reply(&self.file(req));
    }
}

/// `/a/b%20c/` → `a/b c`; `None` for anything that climbs out or is not UTF-8.
fn safe_path(url_path: &str) -> Option<PathBuf> {
    let decoded = percent_decode(url_path)?;
    let p = Path::new(decoded.trim_start_matches('/'));
    p.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| p.to_path_buf())
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().filter(|s| !s.contains('\0'))
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "xml" => "application/xml; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// Adds the dev widget to an HTML page, before `</body>` (or at the end).
fn inject(mut html: Vec<u8>) -> Vec<u8> {
    let tag = format!("<script src=\"{DEV_JS_PATH}\" defer></script>\n");
    let at = html
        .windows(7)
        .rposition(|w| w.eq_ignore_ascii_case(b"</body>"))
        .unwrap_or(html.len());
    html.splice(at..at, tag.into_bytes());
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside() {
        assert_eq!(safe_path("/posts/a%20b/"), Some(PathBuf::from("posts/a b")));
        assert_eq!(safe_path("/"), Some(PathBuf::new()));
        for bad in ["/../etc/passwd", "/a/%2e%2e/%2e%2e/x", "/%zz", "/%00"] {
            assert_eq!(safe_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn injection_goes_before_the_body_end() {
        let out =
            String::from_utf8(inject(b"<html><body><p>x</p></BODY></html>".to_vec())).unwrap();
        assert!(
            out.contains("<p>x</p><script src=\"/_satoshipress/dev.js\" defer></script>\n</BODY>"),
            "{out}"
        );
    }
}
