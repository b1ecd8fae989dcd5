//! Integration tests through the real `satoshipress` binary. One module per feature.

mod support;

mod build;
mod cli;
mod errors;
mod faults;
mod generators;
mod goods;
mod keys;
mod leak;
mod preview;
mod sandbox;
mod server;
mod sync;
mod watch;
