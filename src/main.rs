//! The `vigil` binary: parse the command line, set up logging, run.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let settings = vigil::settings::Settings::parse();
    env_logger::Builder::new()
        .parse_filters(&settings.log_level)
        .format_timestamp_millis()
        .init();
    match vigil::server::run(settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil: {e:#}");
            ExitCode::FAILURE
        }
    }
}
