//! The subcommands of `vigil` (the server runs when none is given): moving
//! configs between servers and files over the public HTTP API.
//!
//! Invariant: nothing here is linked into the server's request path; the
//! subcommands are HTTP clients like any other.

pub mod client;
pub mod files;
pub mod migrate;

/// What `vigil <subcommand>` does.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum Command {
    /// Copy every namespace and config from a running Nacos, r-nacos or
    /// vigil into a vigil (idempotent; --dry-run to only compare).
    Migrate(migrate::MigrateArgs),
    /// Download a namespace as a Nacos export zip.
    Export(files::ExportArgs),
    /// Upload a Nacos export zip into a namespace.
    Import(files::ImportArgs),
}

/// Runs a subcommand; `Ok(false)` when it finished with failures.
pub fn run(cmd: &Command) -> anyhow::Result<bool> {
    match cmd {
        Command::Migrate(args) => {
            let report = migrate::migrate(args)?;
            print!("{}", report.render());
            Ok(report.failures.is_empty())
        }
        Command::Export(args) => files::export(args).map(|out| {
            print!("{out}");
            true
        }),
        Command::Import(args) => files::import(args).map(|out| {
            print!("{out}");
            true
        }),
    }
}
