//! Disk trouble

use super::*;

/// Runs a vigil meant to refuse to start (see [`common::refused`]);
/// returns (exit code, stderr).
fn run_expecting_exit(cmd: Command, what: &str) -> (Option<i32>, String) {
    let e = common::refused(cmd, what);
    (e.status.code(), e.stderr)
}

fn vigil_cmd(data_dir: &Path) -> Command {
    common::vigil_command(data_dir, &[])
}

fn assert_refused(code: Option<i32>, err: &str, names: &Path, what: &str) {
    assert!(
        code.is_some_and(|c| c != 0),
        "{what}: exit status {code:?} (stderr {err:?})"
    );
    let name = names.display().to_string();
    assert!(
        err.contains(&name),
        "{what}: stderr does not name {name}: {err:?}"
    );
}

#[test]
fn refuses_to_start_when_the_database_path_is_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    std::fs::create_dir_all(dir.join("vigil.db")).unwrap();
    let (code, err) = run_expecting_exit(vigil_cmd(&dir), "vigil.db is a directory");
    assert_refused(code, &err, &dir.join("vigil.db"), "vigil.db is a directory");
    println!("stderr: {}", err.trim());
}

#[test]
fn refuses_to_start_when_the_database_file_is_garbage() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    std::fs::create_dir_all(&dir).unwrap();
    let garbage: Vec<u8> = (0..16_384u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(dir.join("vigil.db"), &garbage).unwrap();
    let (code, err) = run_expecting_exit(vigil_cmd(&dir), "garbage vigil.db");
    assert_refused(code, &err, &dir.join("vigil.db"), "garbage vigil.db");
    // The corrupt file is left alone for an operator to inspect.
    assert_eq!(std::fs::read(dir.join("vigil.db")).unwrap(), garbage);
    println!("stderr: {}", err.trim());
}

#[test]
fn refuses_to_start_when_the_data_dir_path_is_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let (code, err) = run_expecting_exit(vigil_cmd(&file), "data dir is a file");
    assert_refused(code, &err, &file, "data dir is a file");
    println!("stderr: {}", err.trim());
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|v| v.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn refuses_to_start_on_a_read_only_data_dir() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = tmp.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    // Root ignores permission bits, so run the server as `nobody` then.
    let cmd = if running_as_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            env!("CARGO_BIN_EXE_vigil"),
        ]);
        common::vigil_args(&mut c, &dir, &[]);
        c
    } else {
        vigil_cmd(&dir)
    };
    let (code, err) = run_expecting_exit(cmd, "read-only data dir");
    assert_refused(code, &err, &dir, "read-only data dir");
    assert!(
        !dir.join("vigil.db").exists(),
        "a database file appeared in the read-only directory"
    );
    println!("stderr: {}", err.trim());
}

#[test]
fn database_locked_by_another_process_fails_publishes_with_5xx_then_recovers() {
    let s = Server::start();
    let addr = s.addr;
    publish_ok(addr, "locked.properties", DG, "", "v1");
    let rec = record("locked.properties", DG, &md5_hex("v1"), None);
    let mut parked = start_poll(addr, &rec, "30000");
    wait_metrics(addr, "the poll to park", GAUGE_WAIT, |m| {
        metric(m, "vigil_parked_polls") == 1
    });

    let db = rusqlite::Connection::open(s.data_dir.join("vigil.db")).expect("open db");
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    db.execute_batch("BEGIN EXCLUSIVE")
        .expect("take the write lock");

    // The publish waits for the lock in the writer thread, then fails.
    let publisher = std::thread::spawn(move || {
        let t = Instant::now();
        let r = publish(addr, "locked.properties", DG, "", "v2");
        (r, t.elapsed())
    });
    // Meanwhile reads and polls are served from memory.
    for _ in 0..3 {
        let r = get_config(addr, "locked.properties", DG, "");
        assert_eq!(
            (r.status, lossy(&r.body).as_str()),
            (200, "v1"),
            "GET while locked"
        );
        let r = request(
            addr,
            &listener_raw(
                &record("locked.properties", DG, "", None),
                Some("30000"),
                &[],
            ),
        );
        assert_eq!(
            (r.status, lossy(&r.body).as_str()),
            (200, "locked.properties%02DEFAULT_GROUP%01\n"),
            "stale poll while locked"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (r, took) = publisher.join().unwrap();
    let body = lossy(&r.body);
    println!("publish while locked: {} {body:?} after {took:?}", r.status);
    assert!(
        (500..600).contains(&r.status),
        "publish while the database is locked: {} {body:?}",
        r.status
    );
    assert!(
        body.contains("locked") || body.contains("busy"),
        "the 5xx body does not say why: {body:?}"
    );
    // The failed write changed nothing and woke nobody.
    let r = get_config(addr, "locked.properties", DG, "");
    assert_eq!(lossy(&r.body), "v1", "content after the failed publish");
    assert!(
        still_waiting(&mut parked, Duration::from_millis(200)),
        "the parked poll was answered by a failed publish"
    );

    db.execute_batch("ROLLBACK").unwrap();
    drop(db);
    publish_ok(addr, "locked.properties", DG, "", "v2");
    parked.set_read_timeout(Duration::from_secs(5));
    let r = parked.read_response();
    assert_eq!(
        (r.status, lossy(&r.body).as_str()),
        (200, "locked.properties%02DEFAULT_GROUP%01\n"),
        "the parked poll after the lock was released"
    );
    let r = get_config(addr, "locked.properties", DG, "");
    assert_eq!(lossy(&r.body), "v2");
}
