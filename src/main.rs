//! The `vigil` binary: parse the command line, then run a client subcommand
//! (`migrate`, `export`, `import`) or, with none, set up logging and serve.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let settings = vigil::settings::Settings::parse();
    if let Some(cmd) = &settings.command {
        return match vigil::cli::run(cmd) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(2),
            Err(e) => {
                eprintln!("vigil: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
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
