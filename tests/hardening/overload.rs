//! Overload: more connections than file descriptors

use super::*;

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(tool))
            .find(|f| f.is_file())
    })
}

/// A server started under a low open-file limit, through `prlimit` (or a
/// shell's `ulimit`) that execs the binary, so the process is vigil's own.
fn start_with_fd_limit(nofile: u32, extra: &[&str]) -> Server {
    let tmp = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_vigil");
    let mut cmd = if which("prlimit").is_some() {
        let mut c = Command::new("prlimit");
        c.arg(format!("--nofile={nofile}:{nofile}"))
            .arg("--")
            .arg(bin);
        c
    } else {
        let mut c = Command::new("sh");
        c.args([
            "-c",
            &format!("ulimit -n {nofile} && exec \"$0\" \"$@\""),
            bin,
        ]);
        c
    };
    let dir = tmp.path().join("data");
    common::vigil_args(&mut cmd, &dir, extra);
    let mut srv = Server::launch(cmd, &dir)
        .unwrap_or_else(|e| panic!("limited vigil exited before listening: {e:?}"));
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", srv.pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .to_string();
    assert!(
        line.split_whitespace().nth(3) == Some(&nofile.to_string()),
        "the server's fd limit: {line}"
    );
    srv.keep_tmp(tmp);
    srv
}

/// What became of one flood connection.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fate {
    Pending,
    Served(Duration),
    Shed(Duration),
}

fn health_ok(c: &mut Conn) -> bool {
    c.set_read_timeout(Duration::from_secs(5));
    if c.stream()
        .write_all(&get_raw("/nacos/v1/cs/health"))
        .is_err()
    {
        return false;
    }
    matches!(c.try_read_response(), Ok(r) if r.status == 200)
}

/// Opens `existing` served connections, then a flood of `flood` more on a
/// server limited to 256 descriptors, and checks the server sheds the
/// excess quickly, keeps serving the existing ones, idles while saturated
/// and serves new connections once the flood is gone.
fn flood_a_limited_server(extra: &[&str], label: &str) {
    const EXISTING: usize = 50;
    const FLOOD: usize = 400;
    const SHED_WITHIN: Duration = Duration::from_secs(10);
    let srv = start_with_fd_limit(256, extra);
    let addr = srv.addr;
    let pid = srv.pid();
    let mut existing: Vec<Conn> = (0..EXISTING).map(|_| Conn::open(addr)).collect();
    for (i, c) in existing.iter_mut().enumerate() {
        assert!(health_ok(c), "{label}: existing connection {i} not served");
    }

    let t0 = Instant::now();
    let mut flood: Vec<Option<TcpStream>> = Vec::with_capacity(FLOOD);
    let mut fates = vec![Fate::Pending; FLOOD];
    let mut bufs = vec![Vec::new(); FLOOD];
    let req = get_raw("/nacos/v1/cs/health");
    for fate in fates.iter_mut() {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(mut c) => {
                if c.write_all(&req).is_err() {
                    *fate = Fate::Shed(t0.elapsed());
                }
                c.set_nonblocking(true).unwrap();
                flood.push(Some(c));
            }
            Err(_) => {
                *fate = Fate::Shed(t0.elapsed());
                flood.push(None);
            }
        }
    }
    let opened = t0.elapsed();
    // Classify every flood connection: answered, or closed/reset by the server.
    while fates.contains(&Fate::Pending)
        && t0.elapsed() < opened + SHED_WITHIN + Duration::from_secs(10)
    {
        for i in 0..FLOOD {
            if fates[i] != Fate::Pending {
                continue;
            }
            let Some(c) = flood[i].as_mut() else { continue };
            let mut b = [0u8; 4096];
            match c.read(&mut b) {
                Ok(0) => fates[i] = Fate::Shed(t0.elapsed()),
                Ok(n) => {
                    bufs[i].extend_from_slice(&b[..n]);
                    let text = lossy(&bufs[i]);
                    if text.contains("\r\n\r\n") && text.ends_with("UP") {
                        assert!(
                            text.starts_with("HTTP/1.1 200"),
                            "{label}: flood reply {text:?}"
                        );
                        fates[i] = Fate::Served(t0.elapsed());
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => fates[i] = Fate::Shed(t0.elapsed()),
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let served = fates
        .iter()
        .filter(|f| matches!(f, Fate::Served(_)))
        .count();
    let shed: Vec<Duration> = fates
        .iter()
        .filter_map(|f| match f {
            Fate::Shed(d) => Some(*d),
            _ => None,
        })
        .collect();
    let pending = fates.iter().filter(|f| **f == Fate::Pending).count();
    let slowest_shed = shed.iter().max().copied().unwrap_or_default();
    let late = shed.iter().filter(|d| **d > opened + SHED_WITHIN).count();

    // Saturated: the served flood connections are still open. CPU use?
    let cpu0 = cpu_seconds(pid);
    std::thread::sleep(Duration::from_secs(2));
    let cpu = cpu_seconds(pid) - cpu0;
    // Existing connections are still served.
    let existing_ok = existing.iter_mut().map(health_ok).filter(|ok| *ok).count();
    println!(
        "{label}: flood of {FLOOD} opened in {opened:?}: {served} served, {} shed (slowest after \
         {slowest_shed:?}, {late} later than {SHED_WITHIN:?} after the flood), {pending} pending; \
         {existing_ok}/{EXISTING} existing served; CPU {cpu:.2} s over 2 s while saturated",
        shed.len()
    );
    let mut failures = Vec::new();
    if shed.is_empty() {
        failures.push("nothing was shed".to_string());
    }
    if existing_ok != EXISTING {
        failures.push(format!(
            "only {existing_ok} of {EXISTING} existing connections served"
        ));
    }
    if cpu >= 1.0 {
        failures.push(format!("{cpu:.2} CPU seconds in 2 s while saturated"));
    }
    if pending > 0 {
        failures.push(format!(
            "{pending} flood connections neither served nor closed {:?} after the flood",
            t0.elapsed()
        ));
    }
    if late > 0 {
        failures.push(format!(
            "{late} flood connections shed more than {SHED_WITHIN:?} after the flood (slowest \
             {slowest_shed:?})"
        ));
    }

    // The flood goes away; new connections are served again.
    drop(flood);
    let t = Instant::now();
    let recovered = loop {
        let mut c = Conn::open(addr);
        if health_ok(&mut c) {
            break true;
        }
        if t.elapsed() > Duration::from_secs(10) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if recovered {
        let m = metrics(addr);
        println!(
            "{label}: new connections served again after {:?}; \
             vigil_rejected_total{{reason=\"connection_shed\"}} {}",
            t.elapsed(),
            metric(&m, "vigil_rejected_total{reason=\"connection_shed\"}")
        );
    } else {
        failures.push("new connections not served 10 s after the flood closed".to_string());
    }
    assert!(failures.is_empty(), "{label}: {}", failures.join("; "));
}

#[test]
fn fd_limit_with_default_connection_cap_sheds_excess_and_recovers() {
    flood_a_limited_server(&[], "default cap (256 - 64)");
}

#[test]
fn fd_exhaustion_without_a_cap_sheds_excess_and_recovers() {
    flood_a_limited_server(&["--max-connections", "100000"], "EMFILE (cap 100000)");
}
