//! `satoshipress sandbox`: a local emulator of SatoshiPay's Digital Goods API (SPEC.md §1),
//! file-backed, with fault injection, for tests, CI and authors without an account.

mod service;
mod store;

pub use service::{Faults, SandboxOptions, SandboxService, Stats};
pub use store::{Good, GoodStore};
