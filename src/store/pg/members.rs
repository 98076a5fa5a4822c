//! Cluster-wide listener queries: the cluster is one more peer of the
//! reactors. When a reactor gathers the polls matching a filter it asks
//! every local reactor and this thread; this thread asks every live member
//! (a fresh heartbeat in `vigil_nodes`) over HTTP, on the same public
//! endpoints with the header [`NODE_SCOPE_HEADER`], which makes the member
//! answer for itself only (`ListenerFilter::Local`), and sends the merged
//! answer back as one `ListenerPart`. A member that does not answer within
//! [`PEER_TIMEOUT`] is left out.

use crate::auth::AuthKeys;
use crate::index::ListenerFilter;
use crate::msg::{ReactorLink, ReplyTo, ToReactor};
use crate::protocol::parse_group_key;
use crossbeam_channel::Receiver;
use postgres::{Client, Config, NoTls};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// The header that asks a node for its own listeners only.
pub const NODE_SCOPE_HEADER: &str = "Vigil-Scope";
/// Longest wait for one member's answer (connect, then read).
const PEER_TIMEOUT: Duration = Duration::from_secs(5);
/// A member is live while its heartbeat is younger than this.
const LIVE_SECS: i64 = 10;
/// Largest member answer read.
const MAX_ANSWER_BYTES: u64 = 64 * 1024 * 1024;

/// Credentials for asking members when auth is on: the shared token key
/// signs a token for the administrator.
pub struct PeerAuth {
    pub keys: AuthKeys,
    pub user: String,
}

/// Answers the reactors' `CollectListeners` with the other members' polls;
/// returns when every reactor has dropped its link to it.
pub fn run(
    config: Config,
    node_id: String,
    rx: Receiver<ToReactor>,
    reactors: Vec<ReactorLink>,
    auth: Option<PeerAuth>,
) {
    let mut client: Option<Client> = None;
    let auth = auth.map(Arc::new);
    while let Ok(msg) = rx.recv() {
        let ToReactor::CollectListeners { filter, reply } = msg else {
            continue;
        };
        let members = if matches!(*filter, ListenerFilter::Local(_)) {
            Vec::new()
        } else {
            live_members(&config, &mut client, &node_id)
        };
        let Some(link) = reactors.get(reply.reactor).cloned() else {
            continue;
        };
        let auth = auth.clone();
        // Members answer slowly or not at all: never hold up the next query.
        let spawned = std::thread::Builder::new()
            .name("vigil-peer-query".into())
            .spawn(move || answer(&filter, reply, &members, &link, auth.as_deref()));
        if let Err(e) = spawned {
            log::error!("cannot start a peer query: {e}");
        }
    }
}

fn answer(
    filter: &ListenerFilter,
    reply: ReplyTo,
    members: &[String],
    link: &ReactorLink,
    auth: Option<&PeerAuth>,
) {
    let mut part = Vec::new();
    if let Some(target) = request_target(filter, auth) {
        for addr in members {
            match ask(addr, &target) {
                Ok(found) => part.extend(found),
                Err(e) => log::warn!("member {addr} did not answer a listener query: {e}"),
            }
        }
    }
    link.send(ToReactor::ListenerPart {
        conn: reply.conn,
        generation: reply.generation,
        part,
    });
}

/// Addresses of the other live members (none when PostgreSQL is down).
fn live_members(config: &Config, client: &mut Option<Client>, node_id: &str) -> Vec<String> {
    if client.as_ref().is_none_or(Client::is_closed) {
        *client = config.connect(NoTls).ok();
    }
    let Some(c) = client.as_mut() else {
        return Vec::new();
    };
    let rows = c.query(
        "SELECT addr FROM vigil_nodes WHERE node_id <> $1 AND last_seen > now() - make_interval(secs => $2) ORDER BY addr",
        &[&node_id, &(LIVE_SECS as f64)],
    );
    match rows {
        Ok(rows) => rows.iter().filter_map(|r| r.try_get(0).ok()).collect(),
        Err(e) => {
            log::warn!("cannot list cluster members: {e}");
            Vec::new()
        }
    }
}

/// The path and query that asks a member the same question.
fn request_target(filter: &ListenerFilter, auth: Option<&PeerAuth>) -> Option<String> {
    let mut q = form_urlencoded::Serializer::new(String::new());
    let path = match filter {
        ListenerFilter::Key(group_key) => {
            let (data_id, group, tenant) = parse_group_key(group_key)?;
            q.append_pair("dataId", &data_id)
                .append_pair("group", &group)
                .append_pair("tenant", &tenant);
            "/nacos/v1/cs/configs/listener"
        }
        ListenerFilter::Ip { ip, all, tenant } => {
            q.append_pair("ip", ip)
                .append_pair("all", if *all { "true" } else { "false" });
            if let Some(t) = tenant {
                q.append_pair("tenant", t);
            }
            "/nacos/v1/cs/listener"
        }
        ListenerFilter::Local(_) => return None,
    };
    if let Some(a) = auth {
        let now = crate::msg::now_ms() as u64 / 1000;
        q.append_pair("accessToken", &a.keys.sign(&a.user, now));
    }
    Some(format!("{path}?{}", q.finish()))
}

/// One member's `lisentersGroupkeyStatus`.
fn ask(addr: &str, target: &str) -> Result<Vec<(String, String)>, String> {
    let sock: SocketAddr = addr
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("no address")?;
    let mut s = TcpStream::connect_timeout(&sock, PEER_TIMEOUT).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(PEER_TIMEOUT))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(PEER_TIMEOUT))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\n{NODE_SCOPE_HEADER}: node\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.take(MAX_ANSWER_BYTES)
        .read_to_end(&mut raw)
        .map_err(|e| e.to_string())?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no response head")?;
    let (head, body) = (&raw[..split], &raw[split + 4..]);
    if !head.starts_with(b"HTTP/1.1 200") {
        return Err(format!(
            "answered {}",
            String::from_utf8_lossy(head.split(|&b| b == b'\r').next().unwrap_or_default())
        ));
    }
    let json: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let map = json
        .get("lisentersGroupkeyStatus")
        .and_then(|m| m.as_object())
        .ok_or("no lisentersGroupkeyStatus")?;
    Ok(map
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect())
}
