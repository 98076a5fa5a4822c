//! Who else is in the cluster: every node upserts its row in `vigil_nodes`
//! (the writer's heartbeat); a member is live while that row is fresh.
//! `crate::cluster` asks the live members for their listeners.

use postgres::{Client, Config, NoTls};

/// A member is live while its heartbeat is younger than this.
const LIVE_SECS: i64 = 10;

/// The other members, read on a connection of the caller's thread.
pub struct Roster {
    config: Config,
    client: Option<Client>,
    node_id: String,
}

impl Roster {
    pub(super) fn new(config: Config, node_id: String) -> Roster {
        Roster {
            config,
            client: None,
            node_id,
        }
    }

    /// Addresses of the other live members (none when PostgreSQL is down).
    pub fn others(&mut self) -> Vec<String> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = self.config.connect(NoTls).ok();
        }
        let Some(c) = self.client.as_mut() else {
            return Vec::new();
        };
        let rows = c.query(
            "SELECT addr FROM vigil_nodes WHERE node_id <> $1 AND last_seen > now() - make_interval(secs => $2) ORDER BY addr",
            &[&self.node_id, &(LIVE_SECS as f64)],
        );
        match rows {
            Ok(rows) => rows.iter().filter_map(|r| r.try_get(0).ok()).collect(),
            Err(e) => {
                log::warn!("cannot list cluster members: {e}");
                Vec::new()
            }
        }
    }
}
