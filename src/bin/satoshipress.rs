//! The `satoshipress` binary: parse, run, print the error and its causes.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = satoshipress::cli::Cli::parse();
    match satoshipress::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            satoshipress::cli::report(&e);
            std::process::ExitCode::FAILURE
        }
    }
}
