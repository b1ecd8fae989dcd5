//! satoshipress: sell parts of a static site's pages through SatoshiPay micropayments.
//!
//! The build reads Markdown pages whose front matter prices paid sections, registers each
//! section as a good, renders pages with a content-item tag where each section was, and seals
//! the paid HTML into an encrypted bundle that the Content API server serves.

pub mod build;
pub mod bundle;
pub mod cache;
pub mod cli;
pub mod config;
pub mod diagnostic;
pub mod emit;
pub mod front_matter;
pub mod fs;
pub mod goods;
pub mod http;
pub mod key;
pub mod markdown;
pub mod output;
pub mod page;
pub mod preview;
pub mod render;
pub mod sandbox;
pub mod section;
pub mod server;
pub mod site;
pub mod text;
pub mod theme;
pub mod watch;
