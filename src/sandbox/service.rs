//! The sandbox as an HTTP service: Basic auth, every call of SPEC.md §1 under `/v1`, batch
//! semantics, and, under `/_sandbox/` (a path the real API does not use), fault injection,
//! request statistics and the development certificate endpoint.

use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::store::{Failure, GoodStore};
use crate::http::{Request, Response, Service};

/// The path prefix of the emulated API.
pub const API_PREFIX: &str = "/v1";
/// The path prefix of the sandbox's own endpoints.
pub const ADMIN_PREFIX: &str = "/_sandbox";
/// The most requests one batch may hold.
pub const MAX_BATCH: usize = 1000;

/// How the sandbox is set up.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Basic-auth user (the API key).
    pub key: String,
    /// Basic-auth password (the API secret).
    pub secret: String,
}

/// Faults to inject, set by flags or `POST /_sandbox/faults`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Answer the next N API requests with `fail_status` without doing anything.
    pub fail_next: u32,
    /// The status of those failures (500 unless set; 429 sends `Retry-After: 1`).
    pub fail_status: u16,
    /// Close the connection of the next N API requests without doing anything.
    pub drop_next: u32,
    /// Do the next N mutating API requests, then close the connection without answering:
    /// the change is made but the client never hears of it.
    pub drop_after_next: u32,
    /// Fail the next N entries of batches with 500, each on its own.
    pub fail_entries: u32,
    /// Wait this long before answering every API request.
    pub latency_ms: u64,
    /// Hold the next N API requests for `stall_ms` before doing them (past a client's
    /// timeout, the change is made but the client has given up).
    pub stall_next: u32,
    /// How long a stalled request waits (3000 ms unless set).
    pub stall_ms: u64,
}

/// What the sandbox has been asked, for tests that count requests.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Stats {
    /// API requests (under `/v1`), a batch counting once.
    pub requests: u64,
    /// API requests that may change goods: POST, PUT, PATCH, DELETE (a batch counts once).
    pub mutating: u64,
    /// Batches received.
    pub batches: u64,
    /// Requests inside batches.
    pub batch_entries: u64,
    /// Goods created, updated and deleted.
    pub created: u64,
    /// Goods updated (PUT or PATCH).
    pub updated: u64,
    /// Goods deleted.
    pub deleted: u64,
    /// Requests refused for bad credentials.
    pub unauthorized: u64,
    /// Failures injected.
    pub injected: u64,
    /// The latest mutating calls (at most 1000), as `METHOD path field,field`: what a test
    /// checks to see that a change sent only the changed fields.
    pub calls: Vec<String>,
}

impl Stats {
    fn record(&mut self, method: &str, path: &str, body: &Value) {
        if matches!(method, "POST" | "PUT" | "PATCH" | "DELETE") {
            let mut fields: Vec<&str> = body
                .as_object()
                .map(|o| o.keys().map(String::as_str).collect())
                .unwrap_or_default();
            fields.sort_unstable();
            if self.calls.len() >= 1000 {
                self.calls.remove(0);
            }
            self.calls.push(
                format!("{method} {path} {}", fields.join(","))
                    .trim_end()
                    .to_string(),
            );
        }
    }
}

struct State {
    store: GoodStore,
    faults: Faults,
    stats: Stats,
}

/// The sandbox service.
pub struct SandboxService {
    state: Mutex<State>,
    options: SandboxOptions,
}

impl SandboxService {
    /// A sandbox over `store` with `faults` armed.
    pub fn new(store: GoodStore, options: SandboxOptions, faults: Faults) -> Self {
        SandboxService {
            state: Mutex::new(State {
                store,
                faults,
                stats: Stats::default(),
            }),
            options,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `path` is one of the sandbox's routes.
    pub fn routes(path: &str) -> bool {
        [API_PREFIX, ADMIN_PREFIX]
            .iter()
            .any(|p| path == *p || path.starts_with(&format!("{p}/")))
    }

    /// The secret of good `id`, as the dev widget's "pay" step gets it.
    pub fn certificate(&self, id: &str) -> Option<String> {
        self.state().store.get(id).ok().map(|g| g.secret)
    }

    fn authorised(&self, req: &Request<'_>) -> bool {
        let Some(value) = req.header("Authorization") else {
            return false;
        };
        let Some(encoded) = value
            .trim()
            .strip_prefix("Basic ")
            .or_else(|| value.trim().strip_prefix("basic "))
        else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let expected = format!("{}:{}", self.options.key, self.options.secret);
        bool::from(decoded.ct_eq(expected.as_bytes()))
    }

    fn admin(&self, req: &Request<'_>, path: &str) -> Response<'static> {
        match (req.method, path) {
            ("GET", "/stats") => {
                let st = self.state();
                let mut v = serde_json::to_value(&st.stats).expect("stats serialise");
                v["goods"] = json!(st.store.len());
                v["faults"] = serde_json::to_value(&st.faults).expect("faults serialise");
                Response::json(200, &v)
            }
            ("POST", "/stats/reset") => {
                self.state().stats = Stats::default();
                Response::json(200, &json!({"ok": true}))
            }
            ("POST", "/faults") => match serde_json::from_slice::<Faults>(req.body) {
                Ok(f) => {
                    self.state().faults = f.clone();
                    Response::json(200, &serde_json::to_value(f).expect("faults serialise"))
                }
                Err(e) => Response::error(400, "bad_request", &format!("faults: {e}")),
            },
            ("GET", p) if p.starts_with("/certificate/") => {
                // Development affordance: hands out a good's secret, as a payment would.
                let id = &p["/certificate/".len()..];
                match self.certificate(id) {
                    Some(secret) => Response::json(200, &json!({"id": id, "certificate": secret, "note": "sandbox only: a real certificate comes from a SatoshiPay payment"})),
                    None => Response::error(404, "not_found", "Good not found"),
                }
                .header("Access-Control-Allow-Origin", "*")
                .header("Cache-Control", "no-store")
            }
            _ => Response::error(404, "not_found", "Not Found"),
        }
    }

    /// One API call (also one entry of a batch). Returns status and body.
    fn call(
        store: &mut GoodStore,
        stats: &mut Stats,
        method: &str,
        path: &str,
        body: &Value,
    ) -> (u16, Value) {
        stats.record(method, path, body);
        let result = match (method, path.strip_prefix("/goods")) {
            ("GET", Some("")) => Ok((
                200,
                serde_json::to_value(store.list()).expect("goods serialise"),
            )),
            ("POST", Some("")) => store.create(body).map(|g| {
                stats.created += 1;
                (201, json!(g))
            }),
            (m, Some(rest))
                if rest.starts_with('/') && rest.len() > 1 && !rest[1..].contains('/') =>
            {
                let id = &rest[1..];
                match m {
                    "GET" => store.get(id).map(|g| (200, json!(g))),
                    "PUT" => store.replace(id, body).map(|g| {
                        stats.updated += 1;
                        (200, json!(g))
                    }),
                    "PATCH" => store.patch(id, body).map(|g| {
                        stats.updated += 1;
                        (200, json!(g))
                    }),
                    "DELETE" => store.delete(id).map(|g| {
                        stats.deleted += 1;
                        (200, json!(g))
                    }),
                    _ => Err(Failure {
                        status: 405,
                        name: "method_not_allowed",
                        message: format!("{m} is not allowed on /goods/<id>"),
                    }),
                }
            }
            (_, Some("")) => Err(Failure {
                status: 405,
                name: "method_not_allowed",
                message: format!("{method} is not allowed on /goods"),
            }),
            _ => Err(Failure {
                status: 404,
                name: "not_found",
                message: format!("no route {method} {path}"),
            }),
        };
        match result {
            Ok(ok) => ok,
            Err(f) => (f.status, error_body(&f)),
        }
    }

    fn batch(&self, st: &mut State, body: &Value) -> (u16, Value) {
        let Some(requests) = body.get("requests").and_then(Value::as_array) else {
            return (
                400,
                error_body(&Failure::bad_request(
                    "a batch body is {\"requests\": [{\"method\", \"path\", \"body\"}, …]}",
                )),
            );
        };
        if requests.len() > MAX_BATCH {
            return (
                400,
                error_body(&Failure::bad_request(format!(
                    "a batch holds at most {MAX_BATCH} requests"
                ))),
            );
        }
        st.stats.batches += 1;
        st.stats.batch_entries += requests.len() as u64;
        let State {
            store,
            faults,
            stats,
        } = st;
        let responses: Vec<Value> = requests
            .iter()
            .map(|r| {
                if faults.fail_entries > 0 {
                    faults.fail_entries -= 1;
                    stats.injected += 1;
                    let f = Failure {
                        status: 500,
                        name: "internal",
                        message: "injected failure (sandbox)".into(),
                    };
                    return json!({"status": 500, "body": error_body(&f)});
                }
                let method = r.get("method").and_then(Value::as_str).unwrap_or("");
                let path = r.get("path").and_then(Value::as_str).unwrap_or("");
                let (status, body) = Self::call(
                    store,
                    stats,
                    method,
                    path,
                    r.get("body").unwrap_or(&Value::Null),
                );
                json!({"status": status, "body": body})
            })
            .collect();
        (200, json!({ "responses": responses }))
    }
}

fn error_body(f: &Failure) -> Value {
    json!({"name": f.name, "message": f.message, "statusCode": f.status, "errorCode": f.status})
}

impl Service for SandboxService {
    fn serve(&self, req: &Request<'_>, reply: &mut dyn FnMut(&Response<'_>)) {
        let path = req.path();
        if let Some(rest) = path.strip_prefix(ADMIN_PREFIX) {
            return reply(&self.admin(req, rest));
        }
        let Some(api_path) = path.strip_prefix(API_PREFIX) else {
            return reply(&Response::error(
                404,
                "not_found",
                "Not Found: the API lives under /v1",
            ));
        };
        let mutating = matches!(req.method, "POST" | "PUT" | "PATCH" | "DELETE");
        let latency = {
            let mut st = self.state();
            st.stats.requests += 1;
            if mutating {
                st.stats.mutating += 1;
            }
            if st.faults.drop_next > 0 {
                st.faults.drop_next -= 1;
                st.stats.injected += 1;
                let mut r = Response::error(500, "internal", "dropped");
                r.drop_connection = true;
                return reply(&r);
            }
            if st.faults.fail_next > 0 {
                st.faults.fail_next -= 1;
                st.stats.injected += 1;
                let status = if st.faults.fail_status == 0 {
                    500
                } else {
                    st.faults.fail_status
                };
                let mut r = Response::error(status, "injected", "injected failure (sandbox)");
                if status == 429 || status == 503 {
                    r = r.header("Retry-After", "1");
                }
                return reply(&r);
            }
            if st.faults.stall_next > 0 {
                st.faults.stall_next -= 1;
                st.stats.injected += 1;
                st.faults.latency_ms
                    + if st.faults.stall_ms == 0 {
                        3000
                    } else {
                        st.faults.stall_ms
                    }
            } else {
                st.faults.latency_ms
            }
        };
        if latency > 0 {
            std::thread::sleep(Duration::from_millis(latency));
        }
        if !self.authorised(req) {
            self.state().stats.unauthorized += 1;
            return reply(
                &Response::error(401, "unauthorized", "Unauthorized Request")
                    .header("WWW-Authenticate", "Basic realm=\"satoshipay\""),
            );
        }
        let body: Value = if req.body.is_empty() {
            Value::Null
        } else {
            match serde_json::from_slice(req.body) {
                Ok(v) => v,
                Err(e) => {
                    return reply(&Response::error(
                        400,
                        "bad_request",
                        &format!("the body is not JSON: {e}"),
                    ));
                }
            }
        };
        if mutating
            && !req.body.is_empty()
            && !req
                .header("Content-Type")
                .is_some_and(|c| c.starts_with("application/json"))
        {
            return reply(&Response::error(
                415,
                "unsupported_media_type",
                "send JSON with Content-Type: application/json",
            ));
        }
        let mut st = self.state();
        let (status, value) = if api_path == "/batch" {
            if req.method == "POST" {
                self.batch(&mut st, &body)
            } else {
                (405, error_body(&Failure::bad_request("use POST /batch")))
            }
        } else {
            let State { store, stats, .. } = &mut *st;
            Self::call(store, stats, req.method, api_path, &body)
        };
        if mutating && let Err(f) = st.store.persist() {
            return reply(&Response::json(500, &error_body(&f)));
        }
        let drop_after = mutating && st.faults.drop_after_next > 0;
        if drop_after {
            st.faults.drop_after_next -= 1;
            st.stats.injected += 1;
        }
        drop(st);
        let mut r = Response::json(status, &value);
        r.drop_connection = drop_after;
        reply(&r);
    }
}
