//! Cluster-wide listener queries: the cluster is one more peer of the
//! reactors. When a reactor gathers the polls matching a filter it asks
//! every local reactor and this thread; this thread asks every live member
//! (the store's [`Roster`]) over HTTP, on the same public endpoints with
//! the header [`NODE_SCOPE_HEADER`], which makes the member answer for
//! itself only (`ListenerFilter::Local`), and sends the merged answer back
//! as one `ListenerPart`. A member that does not answer within
//! [`PEER_TIMEOUT`] is left out.
//!
//! The HTTP client is ureq, the one the `vigil` subcommands use.

use crate::auth::AuthKeys;
use crate::index::ListenerFilter;
use crate::msg::{ReactorLink, ReplyTo, ToReactor};
use crate::protocol::parse_group_key;
use crate::store::pg::Roster;
use crossbeam_channel::Receiver;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

/// The header that asks a node for its own listeners only.
pub const NODE_SCOPE_HEADER: &str = "Vigil-Scope";
/// Longest wait for one member's answer (connect, then each read and write).
const PEER_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest member answer read.
const MAX_ANSWER_BYTES: u64 = 64 * 1024 * 1024;

/// Credentials for asking members when auth is on: the shared token key
/// signs a token for the administrator.
pub struct PeerAuth {
    pub keys: AuthKeys,
    pub user: String,
}

/// In cluster mode (a roster), starts the thread that asks the other
/// members for their listeners; returns the link reactors treat as one
/// more peer.
pub fn start(
    roster: Option<Roster>,
    reactors: Vec<ReactorLink>,
    auth: Option<PeerAuth>,
) -> std::io::Result<Option<ReactorLink>> {
    let Some(roster) = roster else {
        return Ok(None);
    };
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::Builder::new()
        .name("vigil-members".into())
        .spawn(move || run(roster, rx, reactors, auth))?;
    Ok(Some(ReactorLink {
        tx,
        notify: Arc::new(|| {}),
    }))
}

/// Answers the reactors' `CollectListeners` with the other members' polls;
/// returns when every reactor has dropped its link to it.
fn run(
    mut roster: Roster,
    rx: Receiver<ToReactor>,
    reactors: Vec<ReactorLink>,
    auth: Option<PeerAuth>,
) {
    let auth = auth.map(Arc::new);
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(PEER_TIMEOUT)
        .timeout_read(PEER_TIMEOUT)
        .timeout_write(PEER_TIMEOUT)
        .redirects(0)
        // One connection per question, as before: no idle sockets held on
        // the members between listener queries.
        .max_idle_connections(0)
        .build();
    while let Ok(msg) = rx.recv() {
        let ToReactor::CollectListeners { filter, reply } = msg else {
            continue;
        };
        let members = if matches!(*filter, ListenerFilter::Local(_)) {
            Vec::new()
        } else {
            roster.others()
        };
        let Some(link) = reactors.get(reply.reactor).cloned() else {
            continue;
        };
        let auth = auth.clone();
        let agent = agent.clone();
        // Members answer slowly or not at all: never hold up the next query.
        let spawned = std::thread::Builder::new()
            .name("vigil-peer-query".into())
            .spawn(move || answer(&agent, &filter, reply, &members, &link, auth.as_deref()));
        if let Err(e) = spawned {
            log::error!("cannot start a peer query: {e}");
        }
    }
}

fn answer(
    agent: &ureq::Agent,
    filter: &ListenerFilter,
    reply: ReplyTo,
    members: &[String],
    link: &ReactorLink,
    auth: Option<&PeerAuth>,
) {
    let mut part = Vec::new();
    if let Some(target) = request_target(filter, auth) {
        for addr in members {
            match ask(agent, addr, &target) {
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
fn ask(agent: &ureq::Agent, addr: &str, target: &str) -> Result<Vec<(String, String)>, String> {
    let response = agent
        .get(&format!("http://{addr}{target}"))
        .set(NODE_SCOPE_HEADER, "node")
        .call()
        .map_err(|e| match e {
            ureq::Error::Status(code, _) => format!("answered {code}"),
            e => e.to_string(),
        })?;
    if response.status() != 200 {
        return Err(format!("answered {}", response.status()));
    }
    let body = response.into_reader().take(MAX_ANSWER_BYTES);
    let json: serde_json::Value = serde_json::from_reader(body).map_err(|e| e.to_string())?;
    let map = json
        .get("lisentersGroupkeyStatus")
        .and_then(|m| m.as_object())
        .ok_or("no lisentersGroupkeyStatus")?;
    Ok(map
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect())
}
