//! One reactor's view of the world: the config cache, and one inverted
//! index from *topics* to *subscribers* of every kind.
//!
//! A topic is a key (a groupKey), a group or a namespace, interned once;
//! keys also hold the cached entry. A subscriber is a parked long poll
//! (linked to its keys, unlinked when answered), a watch stream (linked to
//! its listed keys, its group or its namespace, for good), or any later
//! kind that links to topics (a gRPC connection listening to a batch of
//! keys is one more [`Kind`], not one more index). A change to key k
//! visits exactly the subscribers of k, of its group and of its namespace
//! (`fanout`), never a scan; unlinking a subscriber is O(its links) thanks
//! to back-positions: every link knows its position in its topic's list,
//! and every list entry knows which link of which subscriber it is, so
//! removal is a swap-remove plus one fix-up.
//!
//! Rooms: `scope` (what a stream watches, and topic names as slices of a
//! groupKey), `listener` (a gRPC connection's listener: keys added,
//! refreshed and dropped one by one), `view` (which variant a subscriber reads, may it, did it
//! change: pure), `framing` (the bytes sent), `fanout` (a change, a replay
//! or a snapshot turned into wake-ups and events), `log` (the change log
//! streams resume from).
//!
//! Invariants: a topic is live while it has a config or a subscriber, and
//! is recycled as soon as it has neither, so clients listening to arbitrary
//! absent keys leave nothing behind; `slots[t].subs[pos]` and
//! `subs[s].links[link]` always point at each other. Pure data: no sockets.

mod fanout;
pub mod framing;
mod listener;
pub mod log;
pub mod scope;
pub mod view;

pub use fanout::FanOut;
pub use log::ChangeLog;
pub use scope::Scope;
pub use view::Viewer;

use crate::model::{Change, Config, Entry};
use crate::protocol::{self, canonical_tenant, ClientMd5, ListenRecord};
use hashbrown::{DefaultHashBuilder, HashTable};
use slab::Slab;
use std::hash::BuildHasher;
use std::sync::Arc;

/// Which parked polls a listener-status query asks about (spec §4.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenerFilter {
    /// Every poll listening to this canonical groupKey: address -> md5.
    Key(String),
    /// Every key the polls from this address listen to: groupKey -> md5;
    /// `tenant` keeps keys whose text contains it, else `all` keeps
    /// everything, else only keys of the public namespace.
    Ip {
        ip: String,
        all: bool,
        tenant: Option<String>,
    },
    /// The same, on this node only (a cluster member is asking).
    Local(Box<ListenerFilter>),
}

/// An interned topic.
pub type TopicId = u32;
/// An interned key (a topic of kind [`TopicKind::Key`]).
pub type KeyId = TopicId;
/// A subscriber.
pub type SubId = u32;

/// What a topic names; its text is the escaped groupKey of a key, the part
/// after a key's first `+` for a group, after its second for a namespace
/// (see `scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TopicKind {
    #[default]
    Key,
    Group,
    Namespace,
}

/// What a subscriber said it holds for a key (polls, and any kind that
/// compares md5s): the md5, and the tenant as it spelt it when that differs
/// from the canonical one (e.g. `public`; `None` echoes the canonical one).
#[derive(Debug)]
pub struct Held {
    pub md5: ClientMd5,
    pub echo_tenant: Option<Box<str>>,
}

/// One topic a subscriber is linked to.
#[derive(Debug)]
pub struct Link {
    pub topic: TopicId,
    /// Position of this link's entry in the topic's list.
    pos: u32,
    pub held: Option<Held>,
}

/// A watch stream's own data.
#[derive(Debug)]
pub struct StreamSpec {
    /// Events carry the content.
    pub content: bool,
    pub scope: Scope,
}

/// The kinds of subscriber; each links to topics the same way.
#[derive(Debug)]
pub enum Kind {
    /// A parked long poll: answered by the first change to one of its keys
    /// that alters what it reads, then unlinked.
    Poll,
    /// A watch stream: stays linked, told of every change it sees.
    Stream(Box<StreamSpec>),
    /// A gRPC connection's listener: linked to the keys of its batch
    /// listens (added and dropped one by one), pushed a notify for every
    /// change that alters what it reads; stays until the connection goes.
    Grpc,
}

/// A subscriber: whose it is, who is looking, and what it is linked to.
#[derive(Debug)]
pub struct Sub {
    /// The owner's handle (the reactor's connection key).
    pub conn: u32,
    pub viewer: Viewer,
    pub kind: Kind,
    pub links: Vec<Link>,
}

/// An entry of a topic's list: which link of which subscriber.
#[derive(Debug, Clone, Copy)]
struct Back {
    sub: SubId,
    link: u32,
}

#[derive(Debug, Default)]
struct Slot {
    kind: TopicKind,
    name: Box<str>,
    /// Keys only.
    entry: Option<Arc<Entry>>,
    subs: Vec<Back>,
}

/// The cache plus the inverted index.
#[derive(Default)]
pub struct Index {
    hasher: DefaultHashBuilder,
    table: HashTable<TopicId>,
    slots: Vec<Slot>,
    free: Vec<TopicId>,
    subs: Slab<Sub>,
    configs: usize,
    keys: usize,
    polls: usize,
    poll_links: usize,
    streams: usize,
    grpc: usize,
    grpc_links: usize,
}

impl Index {
    pub fn new() -> Index {
        Index::default()
    }

    /// Number of cached formal configs.
    pub fn config_count(&self) -> usize {
        self.configs
    }

    /// Number of parked polls.
    pub fn parked_count(&self) -> usize {
        self.polls
    }

    /// Number of open watch streams.
    pub fn stream_count(&self) -> usize {
        self.streams
    }

    /// Number of gRPC connections' listeners, and their keys.
    pub fn grpc_counts(&self) -> (usize, usize) {
        (self.grpc, self.grpc_links)
    }

    /// Number of live interned keys (with a config or a subscriber).
    pub fn key_count(&self) -> usize {
        self.keys
    }

    /// Total links of parked polls over all keys.
    pub fn waiter_count(&self) -> usize {
        self.poll_links
    }

    fn hash(&self, kind: TopicKind, name: &str) -> u64 {
        self.hasher.hash_one((kind, name))
    }

    fn find(&self, kind: TopicKind, name: &str) -> Option<TopicId> {
        let hash = self.hash(kind, name);
        self.table
            .find(hash, |&id| {
                let s = &self.slots[id as usize];
                s.kind == kind && &*s.name == name
            })
            .copied()
    }

    /// The id of a live key.
    pub fn lookup(&self, group_key: &str) -> Option<KeyId> {
        self.find(TopicKind::Key, group_key)
    }

    /// The live key, group and namespace topics a change to `group_key`
    /// concerns (slices of it: nothing is built).
    fn topics_of(&self, group_key: &str) -> [Option<TopicId>; 3] {
        let key = self.lookup(group_key);
        if self.streams == 0 {
            // Only streams link to groups and namespaces.
            return [key, None, None];
        }
        let (group, tenant) = scope::split(group_key);
        [
            key,
            self.find(TopicKind::Group, &group),
            self.find(TopicKind::Namespace, tenant),
        ]
    }

    /// Everything cached under a groupKey.
    pub fn entry_of(&self, group_key: &str) -> Option<&Arc<Entry>> {
        self.lookup(group_key)
            .and_then(|id| self.slots[id as usize].entry.as_ref())
    }

    /// The cached formal config of a groupKey.
    pub fn config_of(&self, group_key: &str) -> Option<&Arc<Config>> {
        self.entry_of(group_key).and_then(|e| e.formal.as_ref())
    }

    pub fn entry(&self, key: KeyId) -> Option<&Arc<Entry>> {
        self.slots[key as usize].entry.as_ref()
    }

    /// The groupKey text of a live key.
    pub fn key_name(&self, key: KeyId) -> &str {
        &self.slots[key as usize].name
    }

    /// Every cached entry.
    pub fn entries(&self) -> impl Iterator<Item = &Arc<Entry>> {
        self.table
            .iter()
            .filter_map(|&id| self.slots[id as usize].entry.as_ref())
    }

    /// The groupKeys of the cached configs in a watch scope: listed keys are
    /// looked up, a group or namespace is a scan (at stream start only).
    pub fn keys_in(&self, scope: &Scope) -> Vec<Box<str>> {
        if let Scope::Keys {
            tenant,
            group,
            data_ids,
        } = scope
        {
            return data_ids
                .iter()
                .map(|d| protocol::group_key(d, group, tenant))
                .filter(|gk| self.entry_of(gk).is_some())
                .map(String::into_boxed_str)
                .collect();
        }
        self.table
            .iter()
            .filter_map(|&id| {
                let slot = &self.slots[id as usize];
                let e = slot.entry.as_deref()?;
                let c = e
                    .formal
                    .as_deref()
                    .or(e.beta.as_deref().map(|b| &*b.config))
                    .or(e.tags.first().map(|(_, c)| &**c))?;
                scope
                    .contains(&c.data_id, &c.group, &c.tenant)
                    .then(|| slot.name.clone())
            })
            .collect()
    }

    /// Returns the id of a topic, creating a live slot if needed.
    fn intern_topic(&mut self, kind: TopicKind, name: &str) -> TopicId {
        if let Some(id) = self.find(kind, name) {
            return id;
        }
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.slots.push(Slot::default());
                TopicId::try_from(self.slots.len() - 1).expect("fewer than 2^32 topics")
            }
        };
        let slot = &mut self.slots[id as usize];
        slot.kind = kind;
        slot.name = name.into();
        if kind == TopicKind::Key {
            self.keys += 1;
        }
        let hash = self.hash(kind, name);
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.table.insert_unique(hash, id, |&t| {
            let s = &slots[t as usize];
            hasher.hash_one((s.kind, &*s.name))
        });
        id
    }

    /// Returns the id of `group_key`, creating a live slot if needed.
    pub fn intern(&mut self, group_key: &str) -> KeyId {
        self.intern_topic(TopicKind::Key, group_key)
    }

    /// Frees a slot that has neither config nor subscribers.
    fn release_if_unused(&mut self, topic: TopicId) {
        let slot = &self.slots[topic as usize];
        if slot.entry.is_some() || !slot.subs.is_empty() {
            return;
        }
        let hash = self.hash(slot.kind, &slot.name);
        if let Ok(entry) = self.table.find_entry(hash, |&id| id == topic) {
            entry.remove();
        }
        let slot = &mut self.slots[topic as usize];
        if slot.kind == TopicKind::Key {
            self.keys -= 1;
        }
        slot.name = Box::default();
        slot.subs = Vec::new();
        self.free.push(topic);
    }

    /// Installs an entry loaded at start-up.
    pub fn load(&mut self, group_key: &str, entry: Arc<Entry>) {
        let id = self.intern(group_key);
        let slot = &mut self.slots[id as usize];
        if slot.entry.as_ref().is_some_and(|e| e.formal.is_some()) {
            self.configs -= 1;
        }
        if entry.formal.is_some() {
            self.configs += 1;
        }
        slot.entry = Some(entry);
    }

    /// Applies a committed change. When subscribers of any kind are linked
    /// to its key, group or namespace, returns `Some(the entry before)`,
    /// for [`Index::fan_out`] once the inbox is drained.
    pub fn apply(&mut self, change: &Change) -> Option<Option<Arc<Entry>>> {
        let id = match (&change.entry, self.lookup(&change.group_key)) {
            (_, Some(id)) => id,
            (Some(_), None) => self.intern(&change.group_key),
            // Nothing was there and nothing is: no one sees a difference.
            (None, None) => return None,
        };
        let slot = &mut self.slots[id as usize];
        let had = slot.entry.as_ref().is_some_and(|e| e.formal.is_some());
        let has = change.entry.as_ref().is_some_and(|e| e.formal.is_some());
        match (had, has) {
            (false, true) => self.configs += 1,
            (true, false) => self.configs -= 1,
            (false, false) | (true, true) => {}
        }
        let before = std::mem::replace(&mut slot.entry, change.entry.clone());
        let listened = self
            .topics_of(&change.group_key)
            .into_iter()
            .flatten()
            .any(|t| !self.slots[t as usize].subs.is_empty());
        self.release_if_unused(id);
        listened.then_some(before)
    }

    /// Links a subscriber to topics (distinct, interned by the caller).
    pub fn subscribe(
        &mut self,
        conn: u32,
        viewer: Viewer,
        kind: Kind,
        topics: Vec<(TopicId, Option<Held>)>,
    ) -> SubId {
        let entry = self.subs.vacant_entry();
        let sub = SubId::try_from(entry.key()).expect("fewer than 2^32 subscribers");
        let mut links = Vec::with_capacity(topics.len());
        for (link, (topic, held)) in topics.into_iter().enumerate() {
            let list = &mut self.slots[topic as usize].subs;
            links.push(Link {
                topic,
                pos: list.len() as u32,
                held,
            });
            list.push(Back {
                sub,
                link: link as u32,
            });
        }
        match &kind {
            Kind::Poll => {
                self.polls += 1;
                self.poll_links += links.len();
            }
            Kind::Stream(_) => self.streams += 1,
            Kind::Grpc => {
                self.grpc += 1;
                self.grpc_links += links.len();
            }
        }
        entry.insert(Sub {
            conn,
            viewer,
            kind,
            links,
        });
        sub
    }

    /// Unlinks a subscriber from every topic and returns it (`None`: a
    /// stale id).
    pub fn unsubscribe(&mut self, sub: SubId) -> Option<Sub> {
        let gone = self.subs.try_remove(sub as usize)?;
        for link in &gone.links {
            self.unlink_entry(link.topic, link.pos, sub);
        }
        match &gone.kind {
            Kind::Poll => {
                self.polls -= 1;
                self.poll_links -= gone.links.len();
            }
            Kind::Stream(_) => self.streams -= 1,
            Kind::Grpc => {
                self.grpc -= 1;
                self.grpc_links -= gone.links.len();
            }
        }
        Some(gone)
    }

    /// Links one more topic to a subscriber (a listener that adds a key to
    /// its batch); false when the subscriber is gone or already linked to
    /// it (O(its links)).
    pub fn link(&mut self, sub: SubId, topic: TopicId, held: Option<Held>) -> bool {
        let Some(s) = self.subs.get_mut(sub as usize) else {
            return false;
        };
        if s.links.iter().any(|l| l.topic == topic) {
            return false;
        }
        let list = &mut self.slots[topic as usize].subs;
        list.push(Back {
            sub,
            link: s.links.len() as u32,
        });
        s.links.push(Link {
            topic,
            pos: list.len() as u32 - 1,
            held,
        });
        match s.kind {
            Kind::Poll => self.poll_links += 1,
            Kind::Grpc => self.grpc_links += 1,
            Kind::Stream(_) => {}
        }
        true
    }

    /// Unlinks one topic from a subscriber that stays (a listener that
    /// drops a key): swap-removes the link, and fixes the list entry of the
    /// link that took its place, then the topic's list as [`Index::unsubscribe`]
    /// does. O(1).
    pub fn unlink(&mut self, sub: SubId, link: u32) -> Option<Link> {
        let s = self.subs.get_mut(sub as usize)?;
        if link as usize >= s.links.len() {
            return None;
        }
        let gone = s.links.swap_remove(link as usize);
        if let Some(moved) = s.links.get(link as usize) {
            self.slots[moved.topic as usize].subs[moved.pos as usize].link = link;
        }
        match s.kind {
            Kind::Poll => self.poll_links -= 1,
            Kind::Grpc => self.grpc_links -= 1,
            Kind::Stream(_) => {}
        }
        self.unlink_entry(gone.topic, gone.pos, sub);
        Some(gone)
    }

    /// Removes entry `pos` (subscriber `sub`'s) from a topic's list, fixes
    /// the entry that took its place, and frees the topic if unused.
    fn unlink_entry(&mut self, topic: TopicId, pos: u32, sub: SubId) {
        let list = &mut self.slots[topic as usize].subs;
        let pos = pos as usize;
        debug_assert!(
            list[pos].sub == sub,
            "entry {pos} of topic {topic} is {:?}, not subscriber {sub}",
            list[pos]
        );
        list.swap_remove(pos);
        if let Some(moved) = list.get(pos).copied() {
            self.subs[moved.sub as usize].links[moved.link as usize].pos = pos as u32;
        }
        self.release_if_unused(topic);
    }

    /// Parks a poll on its keys: `(key, client md5, echo tenant)` each, keys
    /// distinct and interned by the caller.
    pub fn park(
        &mut self,
        conn: u32,
        requester: Box<str>,
        vip_tag: Option<Box<str>>,
        keys: Vec<(KeyId, ClientMd5, Option<Box<str>>)>,
    ) -> SubId {
        let viewer = Viewer {
            requester,
            vip_tag,
            user: None,
        };
        let topics = keys
            .into_iter()
            .map(|(key, md5, echo_tenant)| (key, Some(Held { md5, echo_tenant })))
            .collect();
        self.subscribe(conn, viewer, Kind::Poll, topics)
    }

    /// Parks a poll on the records of its request: interns each key and
    /// remembers the tenant to echo when the client spelled it differently
    /// from its canonical form (spec §5.5).
    pub fn park_records(
        &mut self,
        conn: u32,
        records: Vec<ListenRecord>,
        requester: Box<str>,
        vip_tag: Option<Box<str>>,
    ) -> SubId {
        let keys = records
            .into_iter()
            .map(|r| {
                let id = self.intern(r.group_key());
                let canonical = canonical_tenant(&r.tenant);
                let echo = (canonical != r.tenant && !r.tenant.is_empty())
                    .then(|| r.tenant.into_boxed_str());
                (id, r.md5, echo)
            })
            .collect();
        self.park(conn, requester, vip_tag, keys)
    }

    /// Opens a watch stream: links it to the topics of its scope.
    pub fn open_stream(&mut self, conn: u32, viewer: Viewer, content: bool, scope: Scope) -> SubId {
        let topics = scope
            .topics()
            .into_iter()
            .map(|(kind, name)| (self.intern_topic(kind, &name), None))
            .collect();
        let spec = StreamSpec { content, scope };
        self.subscribe(conn, viewer, Kind::Stream(Box::new(spec)), topics)
    }

    /// The subscribers linked to a topic.
    pub fn subs_of(&self, topic: TopicId) -> Vec<SubId> {
        self.slots[topic as usize]
            .subs
            .iter()
            .map(|b| b.sub)
            .collect()
    }

    /// A subscriber, by id.
    pub fn sub(&self, sub: SubId) -> Option<&Sub> {
        self.subs.get(sub as usize)
    }

    /// The listener reply naming the key of a poll's `link` as changed,
    /// with the tenant spelled as the poll spelled it.
    pub fn changed_reply(&self, sub: SubId, link: u32) -> Vec<u8> {
        let Some(link) = self.sub(sub).and_then(|s| s.links.get(link as usize)) else {
            return Vec::new();
        };
        let echo = link.held.as_ref().and_then(|h| h.echo_tenant.as_deref());
        framing::poll_changed(self.key_name(link.topic), echo)
    }

    /// Answers a listener-status query from the live index (parked polls
    /// and gRPC listeners; a watch stream is not a Nacos listener).
    pub fn listeners(&self, filter: &ListenerFilter) -> Vec<(String, String)> {
        let md5 = |h: &Held| match h.md5 {
            ClientMd5::Hex(h) => h.as_str().to_owned(),
            ClientMd5::Empty | ClientMd5::Other => String::new(),
        };
        let held = |link: &Link| link.held.as_ref().map(md5).unwrap_or_default();
        let polls = self
            .subs
            .iter()
            .map(|(_, s)| s)
            .filter(|s| is_listener(&s.kind));
        match filter {
            ListenerFilter::Local(inner) => self.listeners(inner),
            ListenerFilter::Key(group_key) => {
                let Some(key) = self.lookup(group_key) else {
                    return Vec::new();
                };
                self.slots[key as usize]
                    .subs
                    .iter()
                    .filter_map(|b| {
                        let s = &self.subs[b.sub as usize];
                        let ip = s.viewer.requester.to_string();
                        is_listener(&s.kind).then(|| (ip, held(&s.links[b.link as usize])))
                    })
                    .collect()
            }
            ListenerFilter::Ip { ip, all, tenant } => {
                let mut out = Vec::new();
                for p in polls.filter(|p| &*p.viewer.requester == ip.as_str()) {
                    for link in &p.links {
                        let name = self.key_name(link.topic);
                        let echo = link.held.as_ref().and_then(|h| h.echo_tenant.as_deref());
                        let name = match (echo, protocol::parse_group_key(name)) {
                            (Some(t), Some((d, g, _))) => protocol::group_key(&d, &g, t),
                            _ => name.to_owned(),
                        };
                        let has_tenant = name.matches('+').count() >= 2;
                        let keep = match tenant {
                            Some(t) => name.contains(t.as_str()),
                            None => *all || !has_tenant,
                        };
                        if keep {
                            out.push((name, held(link)));
                        }
                    }
                }
                out
            }
        }
    }
}

/// Whether a subscriber is what Nacos calls a listener (listener queries
/// and the console's listener page show it): a parked poll or a gRPC
/// connection's listener; a watch stream is not one.
fn is_listener(kind: &Kind) -> bool {
    match kind {
        Kind::Poll | Kind::Grpc => true,
        Kind::Stream(_) => false,
    }
}

#[cfg(test)]
mod tests;
