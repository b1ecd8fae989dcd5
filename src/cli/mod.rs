//! The `satoshipress` command line: one file per subcommand, shared arguments here.

mod build;
mod check;
mod goods;
mod init;
mod keygen;
mod sandbox;
mod watch;

pub use self::build::BuildArgs;
pub use self::check::CheckArgs;
pub use self::goods::GoodsArgs;
pub use self::init::InitArgs;
pub use self::keygen::KeygenArgs;
pub use self::sandbox::SandboxArgs;
pub use self::watch::{ServeArgs, WatchArgs};

use clap::{Parser, Subcommand};

/// Sell parts of your static site's pages through SatoshiPay micropayments.
///
/// Write Markdown, price paid sections in the front matter, mark where they are, and
/// `satoshipress build` renders the site with a SatoshiPay content-item tag in place of each
/// paid section, registers each section as a good, and seals the paid HTML into an encrypted
/// bundle that `satoshipress-content` serves to readers who paid.
///
/// Start with `satoshipress init my-site && satoshipress build my-site`.
#[derive(Debug, Parser)]
#[command(
    name = "satoshipress",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new site: satoshipress.toml, content/, a master key and .gitignore.
    Init(InitArgs),
    /// Create a new master key (printed, or written to a file readable by you only).
    ///
    /// Without --out the key is printed (base64), to store in a secret manager and pass as
    /// SATOSHIPRESS_KEY. With --out it is written to a new file of mode 0600, and the file is
    /// added to the .gitignore beside it. An existing key file is never overwritten: a new key
    /// changes every good's secret and every local id.
    Keygen(KeygenArgs),
    /// Check a site for every problem a build would find, writing nothing.
    ///
    /// Parses every page and template and finds every problem `build` would, reporting them
    /// all as `file:line: message`. Exits non-zero when there is any.
    Check(CheckArgs),
    /// Build a site: HTML to public/, the sealed bundle, and the lock of goods.
    ///
    /// Renders every page to DIR/public/ (or --out) with a SatoshiPay content-item tag where
    /// each paid section was, seals the paid HTML into DIR/bundle/content.spb, and records each
    /// good in DIR/satoshipress.lock. If anything fails, all problems are reported as
    /// `file:line: message` and the previous output, bundle and lock are left as they were.
    /// The first build of a site without a master key creates one (and says so).
    ///
    /// Paid sections are marked in the front matter and the body:
    ///
    ///   price: 4000, then `<!-- satoshipay -->`      everything after the marker is paid
    ///   price: 4000, no marker                        the whole page is paid
    ///   sections: { recipe: { price: 2500 } }         the part between `<!-- satoshipay:recipe -->`
    ///                                                 and `<!-- /satoshipay:recipe -->`
    ///   sections: { gear: { price: 800, heading: "Gear list" } }   the part under that heading
    ///
    /// (all under the front matter key `satoshipay:`; see the README for the full guide)
    #[command(verbatim_doc_comment)]
    Build(BuildArgs),
    /// Inspect the goods registered for a site's paid sections.
    #[command(subcommand)]
    Goods(GoodsArgs),
    /// Run a local emulator of SatoshiPay's Digital Goods API, for tests and offline work.
    ///
    /// Serves every call of the API under http://127.0.0.1:PORT/v1 with Basic auth
    /// (--key/--secret), batch semantics and 24-hex ids, keeping goods in --data across
    /// restarts. Point the build at it with SATOSHIPAY_API_URL. Faults can be injected with
    /// the flags below or POST /_sandbox/faults; GET /_sandbox/stats counts requests;
    /// GET /_sandbox/certificate/<id> hands out a good's secret as a payment would (a
    /// development affordance the real API does not have). The first stdout line is
    /// `listening on http://HOST:PORT`.
    Sandbox(SandboxArgs),
    /// Rebuild the site whenever a file changes.
    ///
    /// Builds once, then watches the site: a changed page re-renders that page (and the
    /// listings, feed and sitemap when what they show changed), a changed template every page,
    /// a changed config everything. Outputs, the bundle and the lock are updated in place; a
    /// rebuild with problems prints them and keeps the last good output. Editor temporary files
    /// are ignored. Goods are registered locally unless --registry api is given, in which case
    /// each good rebuild syncs with the API (never a broken one).
    Watch(WatchArgs),
    /// Preview the site on http://127.0.0.1:PORT while you write.
    ///
    /// Everything `watch` does, plus one local server with the site, the Content API from the
    /// fresh bundle and the sandbox. Open pages reload after every rebuild, and a failed build
    /// shows its errors over the page until it is fixed. Paid sections are masked by a preview
    /// stand-in for the SatoshiPay widget with a "Pay (sandbox)" button that fetches the paid
    /// part from the local Content API. The preview is built in a temporary directory (your
    /// public/ is untouched); the first stdout line is `listening on http://HOST:PORT`.
    Serve(ServeArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Init(args) => init::run(args),
        Command::Keygen(args) => keygen::run(args),
        Command::Check(args) => check::run(args),
        Command::Build(args) => build::run(args),
        Command::Goods(args) => goods::run(args),
        Command::Sandbox(args) => sandbox::run(args),
        Command::Watch(args) => watch::watch(args),
        Command::Serve(args) => watch::serve(args),
    }
}

/// Calls `stop` once, on the first SIGINT or SIGTERM.
pub(crate) fn on_stop_signal(stop: impl FnOnce() + Send + 'static) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])
    .context("cannot install signal handlers")?;
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            stop();
        }
    });
    Ok(())
}

/// Prints an error to stderr: problems of a build one per line as `file:line: message`,
/// other errors as `error: …` with each cause on its own line.
pub fn report(e: &anyhow::Error) {
    if let Some(d) = e.downcast_ref::<crate::diagnostic::Diagnostics>() {
        eprintln!("{d}");
        return;
    }
    eprintln!("error: {e}");
    for cause in e.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }
}
