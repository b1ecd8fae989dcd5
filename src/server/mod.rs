//! The Content API server: serves the sealed bundle to readers who paid (SPEC.md §3).

mod handler;
mod limit;
mod metrics;
mod receipt;
mod run;
mod store;

pub use handler::{HandlerOptions, Request, respond};
pub use limit::{Limiter, RateLimit};
pub use metrics::Metrics;
pub use receipt::{ReceiptError, sign_receipt, verify_receipt};
pub use run::{ContentService, Server, ServerOptions, ShutdownHandle};
pub use store::{Good, Store};
