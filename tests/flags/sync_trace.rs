//! `--sync full` fsyncs before it acknowledges: the server's system calls
//! around one publish, traced by `strace`, show the database's fsync
//! completing after the request was read and before the `true` is written;
//! with `--sync normal` (the control: the trace can tell) there is none.

use super::common::{self, Server};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// One system call as strace logged it (`-f -yy -o`): the line of its entry
/// and of its completion (the same unless another thread interleaved), its
/// name and its text with the resumed part appended.
struct Call {
    entry: usize,
    done: usize,
    name: String,
    text: String,
}

/// Parses strace's `-f -o` log, joining `<unfinished ...>` entries with
/// their `<... name resumed>` completions by thread id.
fn calls(log: &str) -> Vec<Call> {
    let mut out = Vec::new();
    let mut pending: std::collections::HashMap<&str, (usize, String, String)> =
        std::collections::HashMap::new();
    for (i, line) in log.lines().enumerate() {
        let Some((tid, rest)) = line.split_once(' ') else {
            continue;
        };
        let rest = rest.trim_start();
        if let Some(resumed) = rest.strip_prefix("<... ") {
            if let Some((entry, name, text)) = pending.remove(tid) {
                let tail = resumed.split_once("resumed>").map_or("", |(_, t)| t);
                out.push(Call {
                    entry,
                    done: i,
                    name,
                    text: text + tail,
                });
            }
            continue;
        }
        let Some((name, _)) = rest.split_once('(') else {
            continue; // signals, exits
        };
        if let Some(head) = rest.strip_suffix("<unfinished ...>") {
            pending.insert(tid, (i, name.to_owned(), head.to_owned()));
        } else {
            out.push(Call {
                entry: i,
                done: i,
                name: name.to_owned(),
                text: rest.to_owned(),
            });
        }
    }
    out
}

/// Fails loudly, naming the package, when strace is not installed.
fn require_strace() {
    let found = Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "strace not found: this test traces the server's system calls; install the Debian \
         package `strace` (apt-get install -y strace)"
    );
}

/// Publishes `marker` once on a server started with `--sync mode` while
/// strace follows every thread; returns (request read, fsyncs of the data
/// directory completed after it, ack write) as strace saw them.
fn trace_one_publish(mode: &str) -> (String, Vec<String>, String) {
    let s = Server::start_args(&["--sync", mode]);
    let log_path = s.data_dir.with_file_name("strace.log");
    let mut strace = Command::new("strace")
        .args(["-f", "-yy", "-s", "4096", "-o"])
        .arg(&log_path)
        .args([
            "-e",
            "trace=read,readv,recvfrom,recvmsg,write,writev,sendto,sendmsg,fsync,fdatasync,sync_file_range",
            "-p",
            &s.pid().to_string(),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("run strace");
    // strace says so on stderr once every thread is attached.
    let mut err = BufReader::new(strace.stderr.take().expect("strace stderr"));
    let mut line = String::new();
    while !line.contains("attached") {
        line.clear();
        let n = err.read_line(&mut line).expect("strace stderr");
        assert!(n > 0, "strace ended before attaching");
    }
    let marker = format!("traced-{mode}");
    common::publish_ok(s.addr, &marker, "G", "", "v");
    // SIGINT detaches strace and flushes its log; the server runs on.
    let ok = Command::new("kill")
        .args(["-INT", &strace.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
    let _ = strace.wait();
    let log = std::fs::read_to_string(&log_path).expect("strace log");
    let calls = calls(&log);
    let tcp = |c: &&Call| c.text.contains("<TCP");
    let is = |c: &Call, names: &[&str]| names.contains(&c.name.as_str());
    let read = calls
        .iter()
        .filter(tcp)
        .find(|c| is(c, &["read", "readv", "recvfrom", "recvmsg"]) && c.text.contains(&marker))
        .unwrap_or_else(|| panic!("--sync {mode}: no read of the publish in the trace:\n{log}"));
    let ack = calls
        .iter()
        .filter(tcp)
        .find(|c| is(c, &["write", "writev", "sendto", "sendmsg"]) && c.text.contains("true\""))
        .unwrap_or_else(|| panic!("--sync {mode}: no `true` written in the trace:\n{log}"));
    let dir = s.data_dir.display().to_string();
    let fsyncs = calls
        .iter()
        .filter(|c| is(c, &["fsync", "fdatasync", "sync_file_range"]))
        .filter(|c| c.text.contains(&dir) && c.text.trim_end().ends_with("= 0"))
        .filter(|c| c.done > read.done && c.done < ack.entry)
        .map(|c| c.text.clone())
        .collect();
    (read.text.clone(), fsyncs, ack.text.clone())
}

#[test]
fn sync_full_fsyncs_the_database_before_the_publish_is_acknowledged() {
    require_strace();
    let (read, fsyncs, ack) = trace_one_publish("full");
    assert!(
        fsyncs.iter().any(|f| f.contains("vigil.db")),
        "--sync full: no fsync of the database between reading the publish and writing \
         its `true`:\nread: {read}\nack: {ack}"
    );
    // The control: without fsyncs, the same trace shows none there.
    let (read, fsyncs, ack) = trace_one_publish("normal");
    assert!(
        fsyncs.is_empty(),
        "--sync normal: fsync between reading the publish and writing its `true`: \
         {fsyncs:?}\nread: {read}\nack: {ack}"
    );
}
