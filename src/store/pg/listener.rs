//! The listener thread: a connection of its own that `LISTEN`s on the
//! change channel (from before the start-up load) and pokes the writer on
//! every notification, after every reconnect and every [`BACKSTOP`], so the
//! writer replays the log. Notifications are hints; the log is the truth.

use super::feed::RECONNECT_EVERY;
use super::schema::CHANNEL;
use crate::store::StoreError;
use crossbeam_channel::{Receiver, Sender};
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Config, NoTls};
use std::time::Duration;

/// The backstop: the log is re-read this often even without a notification.
const BACKSTOP: Duration = Duration::from_secs(5);

/// Starts the listener thread; returns once it `LISTEN`s. Its pokes say
/// "the log may have grown": to the number they carry (a notification's
/// payload), or, when they carry [`CHECK`], to anything.
pub(super) fn start(config: &Config, target: &str) -> Result<Receiver<u64>, StoreError> {
    let client =
        listen(config).map_err(|e| StoreError(format!("cannot LISTEN on {target}: {e}")))?;
    let (tx, rx) = crossbeam_channel::unbounded();
    let config = config.clone();
    std::thread::Builder::new()
        .name("vigil-pg-listener".into())
        .spawn(move || run_listener(config, client, tx))
        .map_err(|e| StoreError(format!("cannot start the listener thread: {e}")))?;
    Ok(rx)
}

fn listen(config: &Config) -> Result<Client, postgres::Error> {
    let mut client = config.connect(NoTls)?;
    client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
    Ok(client)
}

/// Pokes the writer on every notification, after every reconnect and every
/// [`BACKSTOP`]; returns when the writer is gone.
fn run_listener(config: Config, client: Client, pokes: Sender<u64>) {
    let poke = |hint: u64| pokes.send(hint).is_ok();
    let mut client = Some(client);
    loop {
        let Some(c) = client.as_mut() else {
            std::thread::sleep(RECONNECT_EVERY);
            match listen(&config) {
                Ok(c) => {
                    log::info!("listening for changes again");
                    client = Some(c);
                    if !poke(CHECK) {
                        return;
                    }
                }
                Err(e) => log::debug!("cannot reconnect the listener: {e}"),
            }
            continue;
        };
        let broken = {
            let mut notifications = c.notifications();
            let mut iter = notifications.timeout_iter(BACKSTOP);
            loop {
                match iter.next() {
                    Ok(Some(n)) => {
                        if !poke(n.payload().parse().unwrap_or(CHECK)) {
                            return;
                        }
                    }
                    Ok(None) => break false,
                    Err(e) => {
                        log::warn!("change listener lost its connection: {e}");
                        break true;
                    }
                }
            }
        };
        if broken || c.is_closed() || c.is_valid(CONNECT_TIMEOUT_CHECK).is_err() {
            log::warn!("change listener disconnected; reconnecting");
            client = None;
        } else if !poke(CHECK) {
            return;
        }
    }
}

/// A poke that asks for a replay whatever this node has applied.
pub(super) const CHECK: u64 = 0;

/// How long the listener's liveness check may take.
const CONNECT_TIMEOUT_CHECK: Duration = Duration::from_secs(2);
