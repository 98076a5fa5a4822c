//! Samples of the server process's memory and CPU time from `/proc`.
//!
//! RSS comes from `VmRSS` in `/proc/PID/status`; CPU time is `utime + stime`
//! from `/proc/PID/stat`, in clock ticks (`USER_HZ`) converted to µs. Parsing
//! is separate from reading so it is tested on fixed text.

use anyhow::{bail, Context, Result};
use serde::Serialize;

/// One sample of a process.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ProcSample {
    pub rss_bytes: u64,
    pub cpu_us: u64,
}

/// Reads RSS and CPU time of `pid`.
pub fn sample(pid: u32) -> Result<ProcSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status (is --server-pid right?)"))?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let ticks_per_s = rustix::param::clock_ticks_per_second().max(1);
    Ok(ProcSample {
        rss_bytes: parse_rss_bytes(&status)?,
        cpu_us: parse_cpu_ticks(&stat)? * 1_000_000 / ticks_per_s,
    })
}

/// `VmRSS:   123456 kB` in bytes.
fn parse_rss_bytes(status: &str) -> Result<u64> {
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS line")?;
    let mut words = line.split_ascii_whitespace().skip(1);
    let kb: u64 = words
        .next()
        .context("empty VmRSS")?
        .parse()
        .context("VmRSS number")?;
    if words.next() != Some("kB") {
        bail!("VmRSS not in kB: {line}");
    }
    Ok(kb * 1024)
}

/// `utime + stime` (fields 14 and 15). The command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
fn parse_cpu_ticks(stat: &str) -> Result<u64> {
    let after = &stat[stat.rfind(')').context("no ) in stat")? + 1..];
    let fields: Vec<&str> = after.split_ascii_whitespace().collect();
    // After the name come field 3 (state) onwards: utime is field 14, index 11 here.
    let get = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .context("short stat")?
            .parse()
            .context("stat number")
    };
    Ok(get(11)? + get(12)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_stat() {
        let status = "Name:\tvigil\nVmPeak:\t  999 kB\nVmRSS:\t   2048 kB\nThreads:\t3\n";
        assert_eq!(parse_rss_bytes(status).unwrap(), 2048 * 1024);
        assert!(parse_rss_bytes("Name: x\n").is_err());
        let stat =
            "4242 (vig il) (x) S 1 4242 4242 0 -1 4194560 1234 0 0 0 150 25 0 0 20 0 3 0 99 1 2";
        assert_eq!(parse_cpu_ticks(stat).unwrap(), 175);
        assert!(parse_cpu_ticks("1 (x) S 1").is_err());
    }

    #[test]
    fn samples_this_process() {
        let s = sample(std::process::id()).unwrap();
        assert!(s.rss_bytes > 0);
    }
}
