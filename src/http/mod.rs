//! A small HTTP/1.1 server with hard limits, shared by the Content API, the sandbox and the
//! preview server: httparse for parsing, a thread per connection up to a cap.

mod conn;
mod serve;

pub use conn::{Limits, Outcome, Request, Response, Service, civil};
pub use serve::{HttpServer, Stopper};
