//! The `loadtest` command: parses the command line and hands it to the
//! library (`vigil_loadtest::run`), which holds every scenario.
//!
//! Exit status: 0 when every check passed, 2 when one failed, 1 on a fatal error.

#![forbid(unsafe_code)]

use clap::Parser;
use vigil_loadtest::cli::Cli;

fn main() {
    let code = match vigil_loadtest::run(Cli::parse()) {
        Ok(true) => 0,
        Ok(false) => 2,
        Err(e) => {
            eprintln!("loadtest: {e:#}");
            1
        }
    };
    std::process::exit(code);
}
