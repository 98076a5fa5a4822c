//! The client's local files, as the 1.x client keeps them under its home:
//! the snapshot of every config it read (`nacos/config/<server>_nacos/snapshot/
//! <group>/<dataId>`) answers getConfig while the server is away, and a
//! failover file an operator writes (`.../data/config-data/<group>/<dataId>`)
//! wins over everything while it exists. When the server is back, the
//! listener receives what changed while it was away.

use crate::common::{self, Server};
use crate::driver::Driver;
use crate::stop_cleanly;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const G: &str = "DEFAULT_GROUP";
const KEY: &str = "java.failover";
/// A getConfig timeout while the server is down (the client retries the
/// dead address for this long before it turns to its snapshot).
const DOWN_TIMEOUT_MS: &str = "1000";
/// Upper bound for the client to notice the server is back (its poll
/// retries a dead address every 200 ms, a failed poll waits 2 s).
const PATIENCE: Duration = Duration::from_secs(30);

/// Server up: read and listen. Server stopped: getConfig answers the
/// snapshot; a failover file's content wins; the file removed, the
/// snapshot answers again. Meanwhile the config is
/// changed through another server on the same data. The server back on its
/// address, the listener receives that change.
#[test]
fn snapshot_failover_and_the_changes_made_while_away() {
    let mut first = Server::start();
    let addr = first.addr;
    let data_dir = first.data_dir.clone();
    // The data directory must outlive the first server: the others reuse it.
    let _data = first.take_tmp();
    let mut d = Driver::on("nacos-client failover", addr);
    common::publish_ok(addr, KEY, G, "", "v1");
    assert_eq!(d.get("c", KEY, G).as_deref(), Some("v1"));
    d.listen("c", KEY, G);
    common::wait_parked(addr, 1, "the listener's poll");

    // The client names its files after the server list: fixed-<ip>_<port>.
    let base: PathBuf = d.jvm().home().join("nacos/config").join(format!(
        "fixed-{}_{}_nacos",
        addr.ip(),
        addr.port()
    ));
    let snapshot = base.join("snapshot").join(G).join(KEY);
    let failover = base.join("data/config-data").join(G).join(KEY);
    assert_eq!(
        std::fs::read_to_string(&snapshot).ok().as_deref(),
        Some("v1"),
        "the snapshot at {}",
        snapshot.display()
    );

    stop_cleanly(first, "the first server");
    let get_down = |d: &mut Driver| {
        d.try_get("c", KEY, G, DOWN_TIMEOUT_MS)
            .unwrap_or_else(|e| panic!("getConfig with the server down threw {e:?}"))
    };
    assert_eq!(get_down(&mut d).as_deref(), Some("v1"), "from the snapshot");

    std::fs::create_dir_all(failover.parent().expect("a parent")).expect("failover directory");
    std::fs::write(&failover, "from the failover file").expect("writing the failover file");
    assert_eq!(
        get_down(&mut d).as_deref(),
        Some("from the failover file"),
        "the failover file wins"
    );
    std::fs::remove_file(&failover).expect("removing the failover file");
    assert_eq!(
        get_down(&mut d).as_deref(),
        Some("v1"),
        "the snapshot again once the failover file is gone"
    );

    // A change the client cannot see: made through another server on the
    // same data while the client's address is dead.
    let mut other = Server::start_in(&data_dir, &[]);
    common::publish_ok(other.addr, KEY, G, "", "v2, made while away");
    assert_eq!(other.sigterm().code(), Some(0), "the other server's exit");

    // The listening task retries its poll against the dead address for up
    // to its 45 s read timeout, and reads the failover file only between
    // polls, so whether its listener saw the file's content depends on the
    // timing; after that content, if any, comes the change made while away.
    let back = Server::start_on(addr.port(), &data_dir, &[]);
    let at = Instant::now();
    let mut seen = Vec::new();
    loop {
        let Some((got, when)) = d.next_change(PATIENCE) else {
            panic!("no callback with the change made while away within {PATIENCE:?}; callbacks: {seen:?}")
        };
        assert_eq!(
            (
                got.client.as_str(),
                got.data_id.as_str(),
                got.group.as_str()
            ),
            ("c", KEY, G)
        );
        seen.push(got.content.clone());
        if got.content.as_deref() == Some("v2, made while away") {
            println!(
                "the change made while away arrived {:?} after the server came back",
                when.duration_since(at)
            );
            break;
        }
    }
    let allowed = [
        vec![Some("v2, made while away".to_string())],
        vec![
            Some("from the failover file".to_string()),
            Some("v2, made while away".to_string()),
        ],
    ];
    assert!(
        allowed.contains(&seen),
        "the listener's callbacks: {seen:?}"
    );
    assert_eq!(d.get("c", KEY, G).as_deref(), Some("v2, made while away"));
    assert_eq!(
        std::fs::read_to_string(&snapshot).ok().as_deref(),
        Some("v2, made while away"),
        "the snapshot follows"
    );
    d.quit();
    stop_cleanly(back, "the server back on its address");
}
