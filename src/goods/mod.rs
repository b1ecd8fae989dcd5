//! Goods: what each paid section is registered as, the lock that remembers their ids, and
//! the registries that assign them.

mod lock;
mod registry;

pub use lock::{Lock, LockedGood};
pub use registry::{Change, LocalRegistry, Registry, SyncReport, WantedGood};
