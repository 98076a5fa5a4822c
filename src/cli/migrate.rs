//! `vigil migrate`: copy every namespace and config (with type, desc,
//! appName, tags and any beta release the source shows) from a running
//! Nacos, r-nacos or vigil into a vigil, through the public API on both
//! sides, so listeners on the target wake as for any publish.
//!
//! Idempotent: a config whose content and metadata already match on the
//! target is not written, so a second run changes nothing and says so.

use super::client::{BetaCopy, Client, ConfigCopy, Namespace};
use crate::transfer::plan::type_from_extension;
use anyhow::Context;
use std::fmt::Write as _;

/// Configs asked for per search page.
const PAGE_SIZE: u64 = 200;

#[derive(clap::Args, Debug, Clone)]
pub struct MigrateArgs {
    /// The source server, e.g. http://nacos:8848.
    #[arg(long)]
    pub from: String,
    /// The target vigil, e.g. http://127.0.0.1:8848.
    #[arg(long)]
    pub to: String,
    /// User name on the source (auth on there).
    #[arg(long, env = "VIGIL_FROM_USERNAME")]
    pub from_username: Option<String>,
    /// Password on the source.
    #[arg(long, env = "VIGIL_FROM_PASSWORD", hide_env_values = true)]
    pub from_password: Option<String>,
    /// User name on the target (auth on there).
    #[arg(long, env = "VIGIL_TO_USERNAME")]
    pub to_username: Option<String>,
    /// Password on the target.
    #[arg(long, env = "VIGIL_TO_PASSWORD", hide_env_values = true)]
    pub to_password: Option<String>,
    /// Compare and report, write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// What happened to namespaces or configs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub failed: u64,
}

/// The whole run's outcome.
#[derive(Debug, Default)]
pub struct Report {
    pub namespaces: Counts,
    pub configs: Counts,
    /// `(what, reason)` of each failure.
    pub failures: Vec<(String, String)>,
    pub dry_run: bool,
}

impl Report {
    /// The final table, and one line per failure.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let verb = if self.dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{:<12}{:>9}{:>9}{:>11}{:>8}{verb}",
            "", "created", "updated", "unchanged", "failed"
        );
        for (name, c) in [("namespaces", &self.namespaces), ("configs", &self.configs)] {
            let _ = writeln!(
                out,
                "{name:<12}{:>9}{:>9}{:>11}{:>8}",
                c.created, c.updated, c.unchanged, c.failed
            );
        }
        for (what, why) in &self.failures {
            let _ = writeln!(out, "failed: {what}: {why}");
        }
        if self.changed() == 0 && self.failures.is_empty() {
            out.push_str("nothing to change: the target already matches the source\n");
        }
        out
    }

    /// How many things were (or, in a dry run, would be) written.
    pub fn changed(&self) -> u64 {
        self.namespaces.created
            + self.configs.created
            + self.configs.updated
            + self.namespaces.updated
    }
}

/// Which of a config's parts differ between source and target.
fn needs_write(src: &ConfigCopy, dst: Option<&ConfigCopy>) -> bool {
    let Some(dst) = dst else { return true };
    let t = |c: &ConfigCopy| c.config_type.clone().unwrap_or_else(|| "text".into());
    src.content != dst.content
        || t(src) != t(dst)
        || (src.desc.is_some() && src.desc != dst.desc)
        || (src.app_name.is_some() && src.app_name != dst.app_name)
        || src.tags != dst.tags
}

/// What is copied of a source config: its detail where the source shows
/// one (r-nacos answers a detail with the bare content: then the listing
/// serves), and the type its extension implies when the source shows none,
/// as a v1 import does.
fn merge_source(detail: Option<ConfigCopy>, listed: ConfigCopy) -> ConfigCopy {
    let mut src = match detail {
        Some(d) => ConfigCopy {
            config_type: d.config_type.or(listed.config_type),
            app_name: d.app_name.or(listed.app_name),
            desc: d.desc.or(listed.desc),
            ..d
        },
        None => listed,
    };
    if src.config_type.is_none() {
        src.config_type = Some(type_from_extension(&src.data_id).to_owned());
    }
    src
}

/// Copies one config and its beta; returns whether anything was written
/// (`Some(created)`) or `None` when it already matched.
fn copy_config(
    from: &Client,
    to: &Client,
    tenant: &str,
    listed: ConfigCopy,
    dry_run: bool,
) -> anyhow::Result<Option<bool>> {
    let (id, group) = (listed.data_id.clone(), listed.group.clone());
    let src = merge_source(from.detail(&id, &group, tenant).ok().flatten(), listed);
    let dst = to
        .detail(&id, &group, tenant)
        .context("reading the target")?;
    let mut wrote = None;
    if needs_write(&src, dst.as_ref()) {
        if !dry_run {
            to.publish(&src, tenant, None)?;
        }
        wrote = Some(dst.is_none());
    }
    let src_beta: Option<BetaCopy> = from.beta(&id, &group, tenant)?;
    if let Some(beta) = src_beta {
        if to.beta(&id, &group, tenant)?.as_ref() != Some(&beta) {
            if !dry_run {
                to.publish(&src, tenant, Some(&beta))
                    .context("publishing the beta")?;
            }
            wrote = wrote.or(Some(false));
        }
    }
    Ok(wrote)
}

/// Runs a migration; the report says what was done (or would be).
pub fn migrate(args: &MigrateArgs) -> anyhow::Result<Report> {
    let from = Client::connect(
        &args.from,
        args.from_username.as_deref(),
        args.from_password.as_deref(),
    )
    .with_context(|| format!("source {}", args.from))?;
    let to = Client::connect(
        &args.to,
        args.to_username.as_deref(),
        args.to_password.as_deref(),
    )
    .with_context(|| format!("target {}", args.to))?;
    let mut report = Report {
        dry_run: args.dry_run,
        ..Report::default()
    };
    let namespaces = from
        .namespaces()
        .context("listing the source's namespaces")?;
    let existing: Vec<Namespace> = to.namespaces().context("listing the target's namespaces")?;
    for ns in namespaces.iter().filter(|n| !n.id.is_empty()) {
        if existing.iter().any(|e| e.id == ns.id) {
            report.namespaces.unchanged += 1;
        } else if args.dry_run {
            report.namespaces.created += 1;
        } else {
            match to.create_namespace(ns) {
                Ok(()) => report.namespaces.created += 1,
                Err(e) => {
                    report.namespaces.failed += 1;
                    report
                        .failures
                        .push((format!("namespace {}", ns.id), format!("{e:#}")));
                }
            }
        }
    }
    let mut totals = Vec::with_capacity(namespaces.len());
    for ns in &namespaces {
        totals.push(
            from.page(&ns.id, 1, 1)
                .with_context(|| format!("counting configs of namespace {:?}", ns.id))?
                .0,
        );
    }
    let bar = indicatif::ProgressBar::new(totals.iter().sum());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} configs  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    for (ns, total) in namespaces.iter().zip(totals) {
        bar.set_message(if ns.id.is_empty() {
            "public".to_owned()
        } else {
            ns.id.clone()
        });
        let pages = total.div_ceil(PAGE_SIZE);
        for page_no in 1..=pages {
            let (_, items) = from
                .page(&ns.id, page_no, PAGE_SIZE)
                .with_context(|| format!("listing namespace {:?} page {page_no}", ns.id))?;
            for item in items {
                let what = format!(
                    "{}/{}/{}",
                    if ns.id.is_empty() { "public" } else { &ns.id },
                    item.group,
                    item.data_id
                );
                match copy_config(&from, &to, &ns.id, item, args.dry_run) {
                    Ok(Some(true)) => report.configs.created += 1,
                    Ok(Some(false)) => report.configs.updated += 1,
                    Ok(None) => report.configs.unchanged += 1,
                    Err(e) => {
                        report.configs.failed += 1;
                        report.failures.push((what, format!("{e:#}")));
                    }
                }
                bar.inc(1);
            }
        }
    }
    bar.finish_and_clear();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(content: &str) -> ConfigCopy {
        ConfigCopy {
            data_id: "d".into(),
            group: "G".into(),
            content: content.into(),
            ..ConfigCopy::default()
        }
    }

    #[test]
    fn what_needs_a_write() {
        let base = cfg("x");
        assert!(needs_write(&base, None));
        assert!(!needs_write(&base, Some(&base)));
        assert!(needs_write(&base, Some(&cfg("y"))));
        let typed = ConfigCopy {
            config_type: Some("yaml".into()),
            ..cfg("x")
        };
        assert!(needs_write(&typed, Some(&base)));
        let text = ConfigCopy {
            config_type: Some("text".into()),
            ..cfg("x")
        };
        assert!(!needs_write(&text, Some(&base)), "no type is text");
        let tagged = ConfigCopy {
            tags: vec!["a".into()],
            ..cfg("x")
        };
        assert!(needs_write(&tagged, Some(&base)));
        let described = ConfigCopy {
            desc: Some("d".into()),
            ..cfg("x")
        };
        assert!(needs_write(&described, Some(&base)));
        assert!(
            !needs_write(&base, Some(&described)),
            "the source has no desc to copy"
        );
    }

    #[test]
    fn what_is_taken_from_the_source() {
        let listed = ConfigCopy {
            data_id: "app.yaml".into(),
            desc: Some("listed desc".into()),
            ..cfg("x")
        };
        // No detail (r-nacos): the listing, typed by its extension.
        let only_listed = merge_source(None, listed.clone());
        assert_eq!(only_listed.config_type.as_deref(), Some("yaml"));
        assert_eq!(only_listed.desc.as_deref(), Some("listed desc"));
        // A detail wins where it says something.
        let detail = ConfigCopy {
            data_id: "app.yaml".into(),
            config_type: Some("text".into()),
            tags: vec!["t".into()],
            ..cfg("from detail")
        };
        let merged = merge_source(Some(detail), listed);
        assert_eq!(merged.content, "from detail");
        assert_eq!(merged.config_type.as_deref(), Some("text"));
        assert_eq!(merged.desc.as_deref(), Some("listed desc"));
        assert_eq!(merged.tags, vec!["t".to_owned()]);
    }

    #[test]
    fn the_table() {
        let mut r = Report::default();
        assert!(r
            .render()
            .ends_with("nothing to change: the target already matches the source\n"));
        r.configs.created = 3;
        r.failures.push(("public/G/d".into(), "boom".into()));
        let text = r.render();
        assert!(
            text.contains("configs             3        0          0       0"),
            "{text}"
        );
        assert!(text.contains("failed: public/G/d: boom"), "{text}");
    }
}
