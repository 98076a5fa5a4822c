//! Samples of the server process's memory and CPU time from `/proc`.
//!
//! RSS comes from `VmRSS` in `/proc/PID/status` (and its peak from `VmHWM`);
//! CPU time is `utime + stime` from `/proc/PID/stat`, in clock ticks
//! (`USER_HZ`) converted to µs. Parsing is separate from reading so it is
//! tested on fixed text. A [`Sampler`] thread takes a sample of every server
//! a few times a second, for the report's plots.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Time between two samples of the [`Sampler`].
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(250);

/// One sample of a process.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ProcSample {
    pub rss_bytes: u64,
    /// Peak RSS of the process's whole life so far (`VmHWM`).
    pub hwm_bytes: u64,
    pub cpu_us: u64,
}

/// One sample of server number `server` (in --server order), `t_s` seconds into the run.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Point {
    pub server: usize,
    pub t_s: f64,
    pub rss_bytes: u64,
    pub cpu_us: u64,
}

/// A thread sampling some processes every [`SAMPLE_INTERVAL`] until finished.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Vec<Point>>,
}

impl Sampler {
    /// Checks every pid can be read, then starts sampling.
    pub fn start(pids: Vec<u32>) -> Result<Sampler> {
        for pid in &pids {
            sample(*pid)?;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut points = Vec::new();
            loop {
                for (server, pid) in pids.iter().enumerate() {
                    // A server that exited mid-run simply has no more points.
                    if let Ok(s) = sample(*pid) {
                        points.push(Point {
                            server,
                            t_s: t0.elapsed().as_secs_f64(),
                            rss_bytes: s.rss_bytes,
                            cpu_us: s.cpu_us,
                        });
                    }
                }
                if flag.load(Ordering::Relaxed) {
                    return points;
                }
                std::thread::sleep(SAMPLE_INTERVAL);
            }
        });
        Ok(Sampler { stop, handle })
    }

    /// Takes a last sample and returns them all.
    pub fn finish(self) -> Vec<Point> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}

/// RSS growth per connection from `before` to `after`, or why it cannot be
/// told: a process that was bigger before (peak well above its RSS) or that
/// did not grow is reusing memory freed by earlier load, which hides the cost.
pub fn growth_per(before: ProcSample, after: ProcSample, conns: u64) -> Result<f64, String> {
    const MIB: u64 = 1 << 20;
    if conns == 0 {
        return Err("no connections".into());
    }
    if before.hwm_bytes > before.rss_bytes + MIB + before.rss_bytes / 100 {
        return Err(format!(
            "the server was bigger before this run (peak {} MiB, now {} MiB) and may reuse \
             that memory; measure on a freshly started server",
            before.hwm_bytes / MIB,
            before.rss_bytes / MIB
        ));
    }
    if after.rss_bytes <= before.rss_bytes {
        return Err(format!(
            "the server's RSS did not grow ({} -> {} MiB): memory left by earlier load was \
             reused; measure on a freshly started server",
            before.rss_bytes / MIB,
            after.rss_bytes / MIB
        ));
    }
    Ok((after.rss_bytes - before.rss_bytes) as f64 / conns as f64)
}

/// Reads RSS and CPU time of `pid`.
pub fn sample(pid: u32) -> Result<ProcSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status (is --server-pid right?)"))?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let ticks_per_s = rustix::param::clock_ticks_per_second().max(1);
    Ok(ProcSample {
        rss_bytes: parse_kb_line(&status, "VmRSS:")?,
        hwm_bytes: parse_kb_line(&status, "VmHWM:")?,
        cpu_us: parse_cpu_ticks(&stat)? * 1_000_000 / ticks_per_s,
    })
}

/// A line such as `VmRSS:   123456 kB`, in bytes.
fn parse_kb_line(status: &str, name: &str) -> Result<u64> {
    let line = status
        .lines()
        .find(|l| l.starts_with(name))
        .with_context(|| format!("no {name} line"))?;
    let mut words = line.split_ascii_whitespace().skip(1);
    let kb: u64 = words
        .next()
        .with_context(|| format!("empty {name}"))?
        .parse()
        .with_context(|| format!("{name} number"))?;
    if words.next() != Some("kB") {
        bail!("{name} not in kB: {line}");
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
        assert_eq!(parse_kb_line(status, "VmRSS:").unwrap(), 2048 * 1024);
        assert_eq!(parse_kb_line(status, "VmPeak:").unwrap(), 999 * 1024);
        assert!(parse_kb_line("Name: x\n", "VmRSS:").is_err());
        let stat =
            "4242 (vig il) (x) S 1 4242 4242 0 -1 4194560 1234 0 0 0 150 25 0 0 20 0 3 0 99 1 2";
        assert_eq!(parse_cpu_ticks(stat).unwrap(), 175);
        assert!(parse_cpu_ticks("1 (x) S 1").is_err());
    }

    #[test]
    fn growth_is_told_only_from_a_clean_baseline() {
        const MIB: u64 = 1 << 20;
        let s = |rss, hwm| ProcSample {
            rss_bytes: rss * MIB,
            hwm_bytes: hwm * MIB,
            cpu_us: 0,
        };
        assert_eq!(growth_per(s(10, 10), s(20, 20), 1024), Ok(10240.0));
        // Was 300 MiB during an earlier run: reuse may hide the growth.
        assert!(growth_per(s(100, 300), s(120, 300), 10)
            .unwrap_err()
            .contains("bigger before"));
        // Kept its memory from an earlier run: no growth to see.
        assert!(growth_per(s(300, 300), s(300, 300), 10)
            .unwrap_err()
            .contains("did not grow"));
        assert!(growth_per(s(10, 10), s(20, 20), 0).is_err());
    }

    #[test]
    fn samples_this_process() {
        let s = sample(std::process::id()).unwrap();
        assert!(s.rss_bytes > 0);
    }
}
