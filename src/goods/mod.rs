//! Goods: what each paid section is registered as, the lock that remembers their ids, and
//! the registries that assign them.

mod client;
mod lock;
mod registry;
mod sync;

pub use client::{
    API_KEY_ENV, API_SECRET_ENV, API_URL_ENV, ApiClient, ApiError, BatchRequest, BatchResponse,
    RemoteGood, RetryPolicy,
};
pub use lock::{Lock, LockedGood};
pub use registry::{
    ApiRegistry, Change, LocalRegistry, PreviewRegistry, Registry, SyncReport, WantedGood,
};
pub use sync::{Action, Changes, Desired, SyncOptions, plan, sync};
