//! A client of SatoshiPay's Digital Goods API (SPEC.md §1): Basic auth, JSON, timeouts,
//! and retries with exponential backoff and jitter for what is safe to retry.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Base URL of the API (`https://api.satoshipay.io/v1` unless set).
pub const API_URL_ENV: &str = "SATOSHIPAY_API_URL";
/// The API key (Basic-auth user).
pub const API_KEY_ENV: &str = "SATOSHIPAY_API_KEY";
/// The API secret (Basic-auth password).
pub const API_SECRET_ENV: &str = "SATOSHIPAY_API_SECRET";
/// Seconds a request to the API may take (60 unless set).
pub const API_TIMEOUT_ENV: &str = "SATOSHIPAY_API_TIMEOUT";
/// SatoshiPay's production API.
pub const DEFAULT_API_URL: &str = "https://api.satoshipay.io/v1";

/// A good as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteGood {
    /// The API's id (24 hex digits).
    pub id: String,
    /// Price in satoshis.
    pub price: u64,
    /// The certificate the widget presents after payment.
    #[serde(default)]
    pub secret: String,
    /// The page holding the good.
    #[serde(default)]
    pub url: String,
    /// Title for the dashboard.
    #[serde(default)]
    pub title: String,
}

/// One request of a batch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchRequest {
    /// `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: &'static str,
    /// `/goods` or `/goods/<id>`.
    pub path: String,
    /// The JSON body.
    pub body: Value,
}

/// One answer of a batch, in the order of the requests.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BatchResponse {
    /// Its own HTTP status.
    pub status: u16,
    /// Its body (a good, or an error object).
    #[serde(default)]
    pub body: Value,
}

/// What went wrong talking to the API. Messages fit on one line and name what to do.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A credential is not in the environment.
    #[error(
        "{0} is not set: the Digital Goods API needs {API_KEY_ENV} and {API_SECRET_ENV} in the environment (or run `satoshipress sandbox` and point {API_URL_ENV} at it)"
    )]
    MissingEnv(&'static str),
    /// 401.
    #[error(
        "the Digital Goods API refused the credentials (401 Unauthorized): check {API_KEY_ENV} and {API_SECRET_ENV}"
    )]
    Unauthorized,
    /// Any other error status.
    #[error("the Digital Goods API answered {method} {path} with {status} {name}: {message}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The error object's name.
        name: String,
        /// The error object's message.
        message: String,
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
    },
    /// No answer.
    #[error("cannot reach the Digital Goods API at {url}: {detail}")]
    Network {
        /// The URL.
        url: String,
        /// What failed.
        detail: String,
    },
    /// An answer that is not what the API documents.
    #[error("the Digital Goods API sent an unexpected answer to {method} {path}: {detail}")]
    Decode {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// What was wrong.
        detail: String,
    },
}

impl ApiError {
    /// Whether trying again later may succeed: no answer, a 5xx, or a 429.
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Network { .. } => true,
            ApiError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub attempts: u32,
    /// The first backoff; it doubles each time, with jitter.
    pub base: Duration,
    /// The longest wait, `Retry-After` included.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base: Duration::from_millis(200),
            max: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The wait before try number `attempt + 1` (full jitter over an exponential ceiling).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max);
        let mut r = [0u8; 8];
        let _ = getrandom::fill(&mut r);
        let fraction = (u64::from_le_bytes(r) >> 11) as f64 / (1u64 << 53) as f64;
        ceiling.mul_f64(0.5 + fraction / 2.0)
    }
}

const USER_AGENT: &str = concat!(
    "satoshipress/",
    env!("CARGO_PKG_VERSION"),
    " (+https://crates.io/crates/satoshipress)"
);

/// A client for one account.
pub struct ApiClient {
    http: reqwest::blocking::Client,
    base: String,
    key: String,
    secret: String,
    retry: RetryPolicy,
    sent: AtomicU64,
}

impl ApiClient {
    /// A client from `SATOSHIPAY_API_URL`, `SATOSHIPAY_API_KEY` and `SATOSHIPAY_API_SECRET`.
    pub fn from_env() -> Result<ApiClient, ApiError> {
        let get = |name: &'static str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let key = get(API_KEY_ENV).ok_or(ApiError::MissingEnv(API_KEY_ENV))?;
        let secret = get(API_SECRET_ENV).ok_or(ApiError::MissingEnv(API_SECRET_ENV))?;
        let base = get(API_URL_ENV).unwrap_or_else(|| DEFAULT_API_URL.to_string());
        let mut client = ApiClient::new(&base, &key, &secret, RetryPolicy::default())?;
        if let Some(secs) = get(API_TIMEOUT_ENV)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| *s > 0.0)
        {
            client.http = reqwest::blocking::Client::builder()
                .user_agent(USER_AGENT)
                .connect_timeout(Duration::from_secs(10).min(Duration::from_secs_f64(secs)))
                .timeout(Duration::from_secs_f64(secs))
                .build()
                .map_err(|e| ApiError::Network {
                    url: base.clone(),
                    detail: e.to_string(),
                })?;
        }
        Ok(client)
    }

    /// A client for `base` (e.g. `http://127.0.0.1:8091/v1`).
    pub fn new(
        base: &str,
        key: &str,
        secret: &str,
        retry: RetryPolicy,
    ) -> Result<ApiClient, ApiError> {
        let http = reqwest::blocking::Client::builder()
            .user_agent(concat!(
                "satoshipress/",
                env!("CARGO_PKG_VERSION"),
                " (+https://crates.io/crates/satoshipress)"
            ))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ApiError::Network {
                url: base.to_string(),
                detail: e.to_string(),
            })?;
        Ok(ApiClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            key: key.to_string(),
            secret: secret.to_string(),
            retry,
            sent: AtomicU64::new(0),
        })
    }

    /// The API's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// HTTP requests sent so far, retries included.
    pub fn requests_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Sends one call. `idempotent` calls are retried on transient failures; others only on
    /// 429 (the API did nothing), since a lost answer may hide a change that was made.
    fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        idempotent: bool,
    ) -> Result<Value, ApiError> {
        let url = format!("{}{path}", self.base);
        let mut attempt = 0;
        loop {
            let mut req = self
                .http
                .request(method.clone(), &url)
                .basic_auth(&self.key, Some(&self.secret));
            if let Some(body) = body {
                req = req
                    .header("Content-Type", "application/json")
                    .body(serde_json::to_vec(body).expect("JSON"));
            }
            self.sent.fetch_add(1, Ordering::Relaxed);
            let (error, retry_after) = match req.send() {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get("Retry-After")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let text = resp.text().unwrap_or_default();
                    if (200..300).contains(&status) {
                        return if text.trim().is_empty() {
                            Ok(Value::Null)
                        } else {
                            serde_json::from_str(&text).map_err(|e| ApiError::Decode {
                                method: method.to_string(),
                                path: path.to_string(),
                                detail: format!("not JSON ({e})"),
                            })
                        };
                    }
                    if status == 401 {
                        return Err(ApiError::Unauthorized);
                    }
                    let obj: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    let field = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
                    let error = ApiError::Status {
                        status,
                        name: field("name").unwrap_or_else(|| "error".into()),
                        message: field("message").unwrap_or_else(|| one_line(&text, 200)),
                        method: method.to_string(),
                        path: path.to_string(),
                    };
                    (error, retry_after)
                }
                Err(e) => (
                    ApiError::Network {
                        url: url.clone(),
                        detail: one_line(
                            &format!(
                                "{e}: {}",
                                std::error::Error::source(&e)
                                    .map(|s| s.to_string())
                                    .unwrap_or_default()
                            ),
                            300,
                        ),
                    },
                    None,
                ),
            };
            let safe = idempotent || matches!(error, ApiError::Status { status: 429, .. });
            attempt += 1;
            if !error.is_transient() || !safe || attempt >= self.retry.attempts {
                return Err(error);
            }
            let wait = retry_after.map_or_else(
                || self.retry.backoff(attempt - 1),
                |d| d.min(self.retry.max),
            );
            std::thread::sleep(wait);
        }
    }

    /// `GET /goods`: every good of the account.
    pub fn list(&self) -> Result<Vec<RemoteGood>, ApiError> {
        let v = self.send(reqwest::Method::GET, "/goods", None, true)?;
        serde_json::from_value(v).map_err(|e| ApiError::Decode {
            method: "GET".into(),
            path: "/goods".into(),
            detail: e.to_string(),
        })
    }

    /// `PATCH /goods/<id>` with only the given fields.
    pub fn patch(&self, id: &str, fields: &Value) -> Result<Value, ApiError> {
        self.send(
            reqwest::Method::PATCH,
            &format!("/goods/{id}"),
            Some(fields),
            true,
        )
    }

    /// `DELETE /goods/<id>`.
    pub fn delete(&self, id: &str) -> Result<(), ApiError> {
        self.send(reqwest::Method::DELETE, &format!("/goods/{id}"), None, true)
            .map(|_| ())
    }

    /// `POST /batch`: the answers, one per request, in order. Not retried after a lost
    /// answer when it holds a `POST` (the caller re-reads the goods and adopts instead).
    pub fn batch(&self, requests: &[BatchRequest]) -> Result<Vec<BatchResponse>, ApiError> {
        let idempotent = requests.iter().all(|r| r.method != "POST");
        let body = serde_json::json!({ "requests": requests });
        let v = self.send(reqwest::Method::POST, "/batch", Some(&body), idempotent)?;
        let decode = |detail: String| ApiError::Decode {
            method: "POST".into(),
            path: "/batch".into(),
            detail,
        };
        let responses: Vec<BatchResponse> =
            serde_json::from_value(v.get("responses").cloned().unwrap_or(Value::Null))
                .map_err(|e| decode(e.to_string()))?;
        if responses.len() != requests.len() {
            return Err(decode(format!(
                "{} answers for {} requests",
                responses.len(),
                requests.len()
            )));
        }
        Ok(responses)
    }
}

fn one_line(text: &str, max: usize) -> String {
    let s: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    s.chars().take(max).collect()
}
