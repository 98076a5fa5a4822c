//! `vigil export` and `vigil import`: a namespace to a Nacos export zip and
//! back, against a running server, so CI pipelines can keep configs in git.

use super::client::Client;
use anyhow::{bail, Context};
use std::path::PathBuf;

/// Where a file subcommand connects.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// The server, e.g. http://127.0.0.1:8848.
    #[arg(long, env = "VIGIL_SERVER", default_value = "http://127.0.0.1:8848")]
    pub server: String,
    /// Namespace id (blank: public).
    #[arg(long, default_value = "")]
    pub namespace: String,
    /// User name (auth on).
    #[arg(long, env = "VIGIL_USERNAME")]
    pub username: Option<String>,
    /// Password.
    #[arg(long, env = "VIGIL_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
}

impl ServerArgs {
    fn client(&self) -> anyhow::Result<Client> {
        Client::connect(
            &self.server,
            self.username.as_deref(),
            self.password.as_deref(),
        )
        .with_context(|| format!("server {}", self.server))
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct ExportArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Write v2 metadata (`.metadata.yml`: type, desc, appName) instead of v1.
    #[arg(long)]
    pub v2: bool,
    /// The zip to write.
    #[arg(long, short)]
    pub output: PathBuf,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ImportArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// What to do with configs that exist: ABORT, SKIP or OVERWRITE.
    #[arg(long, default_value = "ABORT")]
    pub policy: String,
    /// The zip to upload (a Nacos or vigil export).
    pub file: PathBuf,
}

pub fn export(args: &ExportArgs) -> anyhow::Result<String> {
    let zip = args
        .server
        .client()?
        .export(&args.server.namespace, args.v2)?;
    std::fs::write(&args.output, &zip)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    Ok(format!(
        "wrote {} ({} bytes)\n",
        args.output.display(),
        zip.len()
    ))
}

pub fn import(args: &ImportArgs) -> anyhow::Result<String> {
    let zip = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let (status, body) =
        args.server
            .client()?
            .import(&args.server.namespace, &args.policy, &zip)?;
    let v: Option<serde_json::Value> = serde_json::from_str(&body).ok();
    match v {
        Some(v) if status == 200 && v["code"] == 200 => Ok(format!("{}\n", v["data"])),
        Some(v) if status == 200 => bail!("import refused: {} ({})", v["message"], v["code"]),
        _ => bail!("import answered {status}: {}", body.trim()),
    }
}
