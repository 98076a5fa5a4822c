//! Watch streams (Server-Sent Events) as data: the inverted index scope ->
//! open streams, the bounded log of recent changes that resumes a stream
//! from its `Last-Event-ID`, and the bytes of one event.
//!
//! A stream is parked like a poll but stays linked after a delivery. It
//! watches listed keys, a whole group, or a whole namespace; each scope has
//! its own index entry, so a change to key (dataId, group, tenant) visits
//! exactly the streams on that key, that group and that namespace, never a
//! scan. Unlinking is O(the stream's scopes) through back-positions, as in
//! `index`.
//!
//! Invariants: `lists[s][pos]` and `streams[id].links[i]` point at each other;
//! the log holds every change after `base_seq`, in commit order, within its
//! count and byte bounds. Pure data: no sockets.

use crate::model::{Change, Entry};
use crate::protocol::{canonical_tenant, parse_group_key};
use serde::Serialize;
use slab::Slab;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

pub type StreamId = u32;

/// What a stream watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// These dataIds of one group.
    Keys {
        tenant: String,
        group: String,
        data_ids: Vec<String>,
    },
    /// Every config of a group, including ones created later.
    Group { tenant: String, group: String },
    /// Every config of a namespace, including ones created later.
    Namespace { tenant: String },
}

impl Scope {
    /// The index entries this scope links into.
    fn list_keys(&self) -> Vec<String> {
        match self {
            Scope::Keys {
                tenant,
                group,
                data_ids,
            } => data_ids
                .iter()
                .map(|d| key_list(d, group, tenant))
                .collect(),
            Scope::Group { tenant, group } => vec![group_list(group, tenant)],
            Scope::Namespace { tenant } => vec![namespace_list(tenant)],
        }
    }

    /// Whether the config (dataId, group, tenant) is in this scope.
    pub fn contains(&self, data_id: &str, group: &str, tenant: &str) -> bool {
        match self {
            Scope::Keys {
                tenant: t,
                group: g,
                data_ids,
            } => t == tenant && g == group && data_ids.iter().any(|d| d == data_id),
            Scope::Group {
                tenant: t,
                group: g,
            } => t == tenant && g == group,
            Scope::Namespace { tenant: t } => t == tenant,
        }
    }
}

fn key_list(data_id: &str, group: &str, tenant: &str) -> String {
    format!("k\u{2}{data_id}\u{2}{group}\u{2}{tenant}")
}

fn group_list(group: &str, tenant: &str) -> String {
    format!("g\u{2}{group}\u{2}{tenant}")
}

fn namespace_list(tenant: &str) -> String {
    format!("n\u{2}{tenant}")
}

/// One open stream.
#[derive(Debug)]
pub struct Stream {
    pub conn: u32,
    /// The address beta lists are matched against.
    pub requester: Box<str>,
    /// The `Vipserver-Tag` the client sent.
    pub vip_tag: Option<Box<str>>,
    /// The authenticated user, when auth is on: events are filtered by what
    /// this user may read at delivery time.
    pub user: Option<Box<str>>,
    /// Events carry the content.
    pub content: bool,
    pub scope: Scope,
    /// Position of this stream in each of its lists (`scope.list_keys()`
    /// order).
    links: Vec<u32>,
}

/// The inverted index scope -> streams.
#[derive(Debug, Default)]
pub struct Streams {
    streams: Slab<Stream>,
    /// List key -> (stream, index into its `links`).
    lists: HashMap<Box<str>, Vec<(StreamId, u32)>>,
}

impl Streams {
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// Links a stream into every list of its scope.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        &mut self,
        conn: u32,
        requester: Box<str>,
        vip_tag: Option<Box<str>>,
        user: Option<Box<str>>,
        content: bool,
        scope: Scope,
    ) -> StreamId {
        let entry = self.streams.vacant_entry();
        let id = StreamId::try_from(entry.key()).unwrap_or(StreamId::MAX);
        let mut links = Vec::new();
        for (i, list) in scope.list_keys().into_iter().enumerate() {
            let l = self.lists.entry(list.into_boxed_str()).or_default();
            links.push(l.len() as u32);
            l.push((id, i as u32));
        }
        entry.insert(Stream {
            conn,
            requester,
            vip_tag,
            user,
            content,
            scope,
            links,
        });
        id
    }

    /// Unlinks a stream from every list; lists left empty are dropped.
    pub fn close(&mut self, id: StreamId) -> Option<Stream> {
        let stream = self.streams.try_remove(id as usize)?;
        for (list, pos) in stream.scope.list_keys().into_iter().zip(&stream.links) {
            let Some(l) = self.lists.get_mut(list.as_str()) else {
                continue;
            };
            let pos = *pos as usize;
            debug_assert_eq!(l.get(pos).map(|e| e.0), Some(id), "list {list:?} pos {pos}");
            l.swap_remove(pos);
            if let Some(&(moved, link)) = l.get(pos) {
                if let Some(s) = self.streams.get_mut(moved as usize) {
                    s.links[link as usize] = pos as u32;
                }
            }
            if l.is_empty() {
                self.lists.remove(list.as_str());
            }
        }
        Some(stream)
    }

    pub fn get(&self, id: StreamId) -> Option<&Stream> {
        self.streams.get(id as usize)
    }

    /// The streams a change to `group_key` concerns: those on that key, its
    /// group and its namespace.
    pub fn audience(&self, group_key: &str) -> Vec<StreamId> {
        let Some((data_id, group, tenant)) = parse_group_key(group_key) else {
            return Vec::new();
        };
        let tenant = canonical_tenant(&tenant);
        let mut out = Vec::new();
        for list in [
            key_list(&data_id, &group, tenant),
            group_list(&group, tenant),
            namespace_list(tenant),
        ] {
            if let Some(l) = self.lists.get(list.as_str()) {
                out.extend(l.iter().map(|(id, _)| *id));
            }
        }
        out
    }
}

/// The recent changes, for resuming streams.
#[derive(Debug)]
pub struct ChangeLog {
    entries: VecDeque<Arc<Change>>,
    bytes: usize,
    /// Every change after this seq is in the log.
    base_seq: u64,
    max_entries: usize,
    max_bytes: usize,
}

impl ChangeLog {
    /// An empty log complete after `base_seq` (the last change applied
    /// before it started).
    pub fn new(base_seq: u64, max_entries: usize, max_bytes: usize) -> ChangeLog {
        ChangeLog {
            entries: VecDeque::new(),
            bytes: 0,
            base_seq,
            max_entries,
            max_bytes,
        }
    }

    fn weight(c: &Change) -> usize {
        let entry = c.entry.as_deref().map_or(0, |e| {
            e.formal.as_ref().map_or(0, |f| f.content.len())
                + e.beta.as_ref().map_or(0, |b| b.config.content.len())
                + e.tags.iter().map(|(_, t)| t.content.len()).sum::<usize>()
        });
        64 + c.group_key.len() + entry
    }

    /// Appends a change (in commit order) and evicts the oldest past the
    /// bounds.
    pub fn push(&mut self, change: Arc<Change>) {
        self.bytes += Self::weight(&change);
        self.entries.push_back(change);
        while self.entries.len() > self.max_entries || self.bytes > self.max_bytes {
            let Some(old) = self.entries.pop_front() else {
                break;
            };
            self.bytes -= Self::weight(&old);
            self.base_seq = old.seq;
        }
    }

    /// The changes after `seq`, or `None` when some of them were evicted
    /// (or `seq` is not one this log can place: the caller resets).
    pub fn since(&self, seq: u64, applied: u64) -> Option<impl Iterator<Item = &Arc<Change>>> {
        if seq < self.base_seq || seq > applied {
            return None;
        }
        Some(self.entries.iter().filter(move |c| c.seq > seq))
    }
}

/// The JSON of an event's `data:` line.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventData<'a> {
    data_id: &'a str,
    group: &'a str,
    tenant: &'a str,
    md5: &'a str,
    #[serde(rename = "type")]
    config_type: &'a str,
    last_modified: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
}

/// What one event says about one config.
#[derive(Debug, Clone, Copy)]
pub struct EventOf<'a> {
    pub data_id: &'a str,
    pub group: &'a str,
    pub tenant: &'a str,
    /// The variant the stream sees; `None`: deleted (or not visible).
    pub config: Option<&'a crate::model::Config>,
    /// When the change was applied (deletes carry no config time).
    pub now_ms: i64,
}

/// The bytes of one event: `id:` (when given), `event:`, one `data:` line.
pub fn event_bytes(ev: EventOf, id: Option<u64>, with_content: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    if let Some(id) = id {
        out.extend_from_slice(format!("id: {id}\n").as_bytes());
    }
    let data = match ev.config {
        Some(c) => EventData {
            data_id: ev.data_id,
            group: ev.group,
            tenant: ev.tenant,
            md5: c.md5.as_str(),
            config_type: c.config_type,
            last_modified: c.modified_ms,
            content: with_content.then_some(c.content.as_str()),
        },
        None => EventData {
            data_id: ev.data_id,
            group: ev.group,
            tenant: ev.tenant,
            md5: "",
            config_type: "",
            last_modified: ev.now_ms,
            content: None,
        },
    };
    out.extend_from_slice(if ev.config.is_some() {
        b"event: change\ndata: "
    } else {
        b"event: delete\ndata: "
    });
    // Serialising plain strings and integers cannot fail; JSON never
    // contains a raw newline, so one data line holds it.
    if let Ok(json) = serde_json::to_vec(&data) {
        out.extend_from_slice(&json);
    }
    out.extend_from_slice(b"\n\n");
    out
}

/// The variant of `entry` a stream sees.
pub fn visible<'e>(
    entry: Option<&'e Entry>,
    requester: &str,
    vip_tag: Option<&str>,
) -> Option<&'e crate::model::Config> {
    entry
        .and_then(|e| e.effective(requester, vip_tag))
        .map(|v| &**v.config())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::group_key;

    fn keys(ids: &[&str]) -> Scope {
        Scope::Keys {
            tenant: "".into(),
            group: "G".into(),
            data_ids: ids.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn open(s: &mut Streams, conn: u32, scope: Scope) -> StreamId {
        s.open(conn, "127.0.0.1".into(), None, None, false, scope)
    }

    #[test]
    fn a_change_reaches_its_key_group_and_namespace_streams_only() {
        let mut s = Streams::default();
        let a = open(&mut s, 1, keys(&["a", "b"]));
        let b = open(&mut s, 2, keys(&["b"]));
        let g = open(
            &mut s,
            3,
            Scope::Group {
                tenant: "".into(),
                group: "G".into(),
            },
        );
        let n = open(&mut s, 4, Scope::Namespace { tenant: "".into() });
        let other = open(
            &mut s,
            5,
            Scope::Namespace {
                tenant: "dev".into(),
            },
        );
        let mut got = s.audience(&group_key("b", "G", ""));
        got.sort();
        assert_eq!(got, vec![a, b, g, n]);
        assert_eq!(s.audience(&group_key("c", "H", "dev")), vec![other]);
        // Closing keeps every other link right (swap-remove fix-ups).
        s.close(a);
        let mut got = s.audience(&group_key("b", "G", ""));
        got.sort();
        assert_eq!(got, vec![b, g, n]);
        assert_eq!(s.audience(&group_key("a", "G", "")), vec![g, n]);
        for id in [b, g, n, other] {
            assert!(s.close(id).is_some());
        }
        assert!(s.is_empty());
        assert!(s.lists.is_empty(), "no empty lists left behind");
        assert!(s.close(a).is_none(), "a stale id is ignored");
    }

    fn change(seq: u64, content_len: usize) -> Arc<Change> {
        let c = crate::model::Config::new(
            1,
            "d".into(),
            "G".into(),
            "".into(),
            "x".repeat(content_len),
            "text",
            None,
            0,
        );
        Arc::new(Change {
            seq,
            group_key: group_key("d", "G", "").into(),
            entry: Some(Arc::new(Entry {
                formal: Some(Arc::new(c)),
                ..Entry::default()
            })),
        })
    }

    #[test]
    fn the_log_resumes_within_its_bounds_and_refuses_beyond() {
        let mut log = ChangeLog::new(10, 3, 1 << 20);
        for seq in 11..=15 {
            log.push(change(seq, 1));
        }
        // Holds 13..=15: complete after 12.
        let seqs = |from| {
            log.since(from, 15)
                .map(|it| it.map(|c| c.seq).collect::<Vec<_>>())
        };
        assert_eq!(seqs(12), Some(vec![13, 14, 15]));
        assert_eq!(seqs(14), Some(vec![15]));
        assert_eq!(seqs(15), Some(vec![]));
        assert_eq!(seqs(11), None, "13's predecessor 12 was evicted");
        assert_eq!(seqs(16), None, "from the future");
        // Bytes bound too.
        let mut log = ChangeLog::new(0, 1000, 1000);
        log.push(change(1, 600));
        log.push(change(2, 600));
        assert_eq!(log.since(0, 2).map(|i| i.count()), None);
        assert_eq!(log.since(1, 2).map(|i| i.count()), Some(1));
    }

    #[test]
    fn events_are_one_data_line_of_json() {
        let c = change(7, 0);
        let cfg = c.entry.as_ref().unwrap().formal.as_deref();
        let ev = EventOf {
            data_id: "d",
            group: "G",
            tenant: "",
            config: cfg,
            now_ms: 5,
        };
        let b = String::from_utf8(event_bytes(ev, Some(7), true)).unwrap();
        assert_eq!(
            b,
            "id: 7\nevent: change\ndata: {\"dataId\":\"d\",\"group\":\"G\",\"tenant\":\"\",\"md5\":\"d41d8cd98f00b204e9800998ecf8427e\",\"type\":\"text\",\"lastModified\":0,\"content\":\"\"}\n\n"
        );
        let del =
            String::from_utf8(event_bytes(EventOf { config: None, ..ev }, Some(8), true)).unwrap();
        assert!(del.starts_with("id: 8\nevent: delete\ndata: {"), "{del}");
        assert!(del.contains("\"md5\":\"\""), "{del}");
    }
}
