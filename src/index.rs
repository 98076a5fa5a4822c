//! One reactor's view of the world: the config cache keyed by interned
//! groupKey ids, and the inverted index key -> parked long polls.
//!
//! A change to key k visits exactly the polls parked on k (O(waiters of k +
//! their keys)); unparking a poll is O(its keys) thanks to back-positions:
//! every waiter entry knows which record of which parked poll it belongs to,
//! and every record knows its position in its key's waiter list, so removal
//! is a swap-remove plus one fix-up.
//!
//! Invariants: a key slot is live while it has a config or a waiter, and is
//! recycled as soon as it has neither, so clients listening to arbitrary
//! absent keys leave nothing behind; `waiters[k][pos]` and
//! `parked[p].keys[rec]` always point at each other. Pure data: no sockets.

use crate::model::{Change, Config, Entry};
use crate::protocol::{self, canonical_tenant, ClientMd5, ListenRecord};
use crate::streams::{Scope, Streams};
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

/// An interned groupKey.
pub type KeyId = u32;
/// A parked poll.
pub type ParkId = u32;

/// One listened key of a parked poll.
#[derive(Debug)]
pub struct ParkedKey {
    pub key: KeyId,
    /// Position of this record's entry in the key's waiter list.
    pos: u32,
    /// What the client said it holds.
    pub md5: ClientMd5,
    /// The tenant as the client wrote it, when it differs from the canonical
    /// one (e.g. `public`); `None` means echo the canonical tenant.
    pub echo_tenant: Option<Box<str>>,
}

/// A parked long poll: whose it is and what it listens to.
#[derive(Debug)]
pub struct Parked {
    /// The owner's handle (the reactor's connection key).
    pub conn: u32,
    /// The requester address beta lists are matched against.
    pub requester: Box<str>,
    /// The `Vipserver-Tag` the poll carried.
    pub vip_tag: Option<Box<str>>,
    pub keys: Vec<ParkedKey>,
}

#[derive(Debug, Clone, Copy)]
struct Waiter {
    park: ParkId,
    rec: u32,
}

#[derive(Debug, Default)]
struct Slot {
    name: Box<str>,
    entry: Option<Arc<Entry>>,
    waiters: Vec<Waiter>,
}

/// The cache plus the inverted index.
#[derive(Default)]
pub struct Index {
    hasher: DefaultHashBuilder,
    table: HashTable<KeyId>,
    slots: Vec<Slot>,
    free: Vec<KeyId>,
    parked: Slab<Parked>,
    configs: usize,
    waiters: usize,
    /// Open watch streams: their own inverted index (scope -> streams),
    /// beside the one of parked polls.
    pub streams: Streams,
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
        self.parked.len()
    }

    /// Number of live interned keys (with a config or a waiter).
    pub fn key_count(&self) -> usize {
        self.table.len()
    }

    /// Total waiter entries over all keys.
    pub fn waiter_count(&self) -> usize {
        self.waiters
    }

    fn find(&self, group_key: &str) -> Option<KeyId> {
        let hash = self.hasher.hash_one(group_key);
        self.table
            .find(hash, |&id| &*self.slots[id as usize].name == group_key)
            .copied()
    }

    /// The id of a live key.
    pub fn lookup(&self, group_key: &str) -> Option<KeyId> {
        self.find(group_key)
    }

    /// Everything cached under a groupKey.
    pub fn entry_of(&self, group_key: &str) -> Option<&Arc<Entry>> {
        self.find(group_key)
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

    /// Returns the id of `group_key`, creating a live slot if needed.
    pub fn intern(&mut self, group_key: &str) -> KeyId {
        if let Some(id) = self.find(group_key) {
            return id;
        }
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.slots.push(Slot::default());
                KeyId::try_from(self.slots.len() - 1).expect("fewer than 2^32 keys")
            }
        };
        self.slots[id as usize].name = group_key.into();
        let hash = self.hasher.hash_one(group_key);
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.table
            .insert_unique(hash, id, |&k| hasher.hash_one(&*slots[k as usize].name));
        id
    }

    /// Frees a slot that has neither config nor waiters.
    fn release_if_unused(&mut self, key: KeyId) {
        let slot = &self.slots[key as usize];
        if slot.entry.is_some() || !slot.waiters.is_empty() {
            return;
        }
        let hash = self.hasher.hash_one(&*slot.name);
        if let Ok(entry) = self.table.find_entry(hash, |&id| id == key) {
            entry.remove();
        }
        let slot = &mut self.slots[key as usize];
        slot.name = Box::default();
        slot.waiters = Vec::new();
        self.free.push(key);
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

    /// Applies a committed change; returns the key id when polls are parked
    /// on it (the caller decides, per poll, whether what it sees changed).
    pub fn apply(&mut self, change: &Change) -> Option<KeyId> {
        let id = match (&change.entry, self.find(&change.group_key)) {
            (_, Some(id)) => id,
            (Some(_), None) => self.intern(&change.group_key),
            (None, None) => return None,
        };
        let slot = &mut self.slots[id as usize];
        let had = slot.entry.as_ref().is_some_and(|e| e.formal.is_some());
        let has = change.entry.as_ref().is_some_and(|e| e.formal.is_some());
        match (had, has) {
            (false, true) => self.configs += 1,
            (true, false) => self.configs -= 1,
            _ => {}
        }
        slot.entry = change.entry.clone();
        let waiting = !slot.waiters.is_empty();
        self.release_if_unused(id);
        waiting.then_some(id)
    }

    /// Parks a poll on its keys: `(key, client md5, echo tenant)` each, keys
    /// distinct and interned by the caller.
    pub fn park(
        &mut self,
        conn: u32,
        requester: Box<str>,
        vip_tag: Option<Box<str>>,
        keys: Vec<(KeyId, ClientMd5, Option<Box<str>>)>,
    ) -> ParkId {
        let entry = self.parked.vacant_entry();
        let park = ParkId::try_from(entry.key()).expect("fewer than 2^32 parked polls");
        let mut recs = Vec::with_capacity(keys.len());
        for (rec, (key, md5, echo_tenant)) in keys.into_iter().enumerate() {
            let waiters = &mut self.slots[key as usize].waiters;
            recs.push(ParkedKey {
                key,
                pos: waiters.len() as u32,
                md5,
                echo_tenant,
            });
            waiters.push(Waiter {
                park,
                rec: rec as u32,
            });
        }
        self.waiters += recs.len();
        entry.insert(Parked {
            conn,
            requester,
            vip_tag,
            keys: recs,
        });
        park
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
    ) -> ParkId {
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

    /// Whether a change to `key` alters what a parked poll would read: its
    /// client md5 no longer matches the variant it sees (beta if its address
    /// is listed, else its `Vipserver-Tag` variant, else formal). So an
    /// identical re-publish, or a beta for other addresses, wakes nobody.
    pub fn sees_change(&self, park: ParkId, key: KeyId) -> bool {
        let parked = self.parked(park);
        let Some(rec) = parked.keys.iter().find(|k| k.key == key) else {
            return false;
        };
        let now = self
            .entry(key)
            .and_then(|e| e.effective(&parked.requester, parked.vip_tag.as_deref()))
            .map(|v| &v.config().md5);
        !rec.md5.matches(now)
    }

    /// The listener reply naming `key` as changed, with the tenant spelled
    /// as this poll spelled it.
    pub fn changed_reply(&self, park: ParkId, key: KeyId) -> Vec<u8> {
        let mut body = Vec::new();
        let echo = self
            .parked(park)
            .keys
            .iter()
            .find(|k| k.key == key)
            .and_then(|k| k.echo_tenant.as_deref());
        if let Some((data_id, group, tenant)) = protocol::parse_group_key(self.key_name(key)) {
            protocol::encode_changed_key(&mut body, &data_id, &group, echo.unwrap_or(&tenant));
            body.push(b'\n');
        }
        body
    }

    /// Unlinks a parked poll from every key and returns it.
    pub fn unpark(&mut self, park: ParkId) -> Parked {
        let parked = self.parked.remove(park as usize);
        for pk in &parked.keys {
            let waiters = &mut self.slots[pk.key as usize].waiters;
            let pos = pk.pos as usize;
            debug_assert!(
                waiters[pos].park == park,
                "waiter {pos} of key {} is {:?}, not park {park}",
                pk.key,
                waiters[pos]
            );
            waiters.swap_remove(pos);
            if let Some(moved) = waiters.get(pos).copied() {
                self.parked[moved.park as usize].keys[moved.rec as usize].pos = pos as u32;
            }
            self.release_if_unused(pk.key);
        }
        self.waiters -= parked.keys.len();
        parked
    }

    /// The polls parked on a key.
    pub fn waiters_of(&self, key: KeyId) -> Vec<ParkId> {
        self.slots[key as usize]
            .waiters
            .iter()
            .map(|w| w.park)
            .collect()
    }

    /// A parked poll, by id.
    pub fn parked(&self, park: ParkId) -> &Parked {
        &self.parked[park as usize]
    }

    /// Answers a listener-status query from the live index.
    pub fn listeners(&self, filter: &ListenerFilter) -> Vec<(String, String)> {
        let md5 = |k: &ParkedKey| match k.md5 {
            ClientMd5::Hex(h) => h.as_str().to_owned(),
            _ => String::new(),
        };
        match filter {
            ListenerFilter::Local(inner) => self.listeners(inner),
            ListenerFilter::Key(group_key) => {
                let Some(key) = self.lookup(group_key) else {
                    return Vec::new();
                };
                self.slots[key as usize]
                    .waiters
                    .iter()
                    .map(|w| {
                        let p = &self.parked[w.park as usize];
                        (p.requester.to_string(), md5(&p.keys[w.rec as usize]))
                    })
                    .collect()
            }
            ListenerFilter::Ip { ip, all, tenant } => {
                let mut out = Vec::new();
                for (_, p) in self
                    .parked
                    .iter()
                    .filter(|(_, p)| &*p.requester == ip.as_str())
                {
                    for k in &p.keys {
                        let name = self.key_name(k.key);
                        let name = match (&k.echo_tenant, crate::protocol::parse_group_key(name)) {
                            (Some(t), Some((d, g, _))) => crate::protocol::group_key(&d, &g, t),
                            _ => name.to_owned(),
                        };
                        let has_tenant = name.matches('+').count() >= 2;
                        let keep = match tenant {
                            Some(t) => name.contains(t.as_str()),
                            None => *all || !has_tenant,
                        };
                        if keep {
                            out.push((name, md5(k)));
                        }
                    }
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeSet, HashMap};

    fn entry(key: &str) -> Arc<Entry> {
        let (d, g, t) = crate::protocol::parse_group_key(key).unwrap();
        Arc::new(Entry {
            formal: Some(Arc::new(Config::new(
                1,
                d,
                g,
                t,
                "c".into(),
                "text",
                None,
                0,
            ))),
            ..Entry::default()
        })
    }

    fn change(key: &str, present: bool) -> Change {
        Change {
            seq: 0,
            group_key: key.into(),
            entry: present.then(|| entry(key)),
        }
    }

    fn park(ix: &mut Index, conn: u32, keys: Vec<(KeyId, ClientMd5, Option<Box<str>>)>) -> ParkId {
        ix.park(conn, "127.0.0.1".into(), None, keys)
    }

    #[test]
    fn park_wake_unpark() {
        let mut ix = Index::new();
        ix.load("a+G", entry("a+G"));
        let a = ix.intern("a+G");
        let b = ix.intern("b+G");
        let p1 = park(
            &mut ix,
            7,
            vec![(a, ClientMd5::Empty, None), (b, ClientMd5::Empty, None)],
        );
        let p2 = park(
            &mut ix,
            8,
            vec![(b, ClientMd5::Empty, Some("public".into()))],
        );
        assert_eq!(ix.waiters_of(b), vec![p1, p2]);
        assert_eq!(ix.apply(&change("b+G", true)), Some(b));
        assert_eq!(ix.apply(&change("zzz+G", false)), None);
        let got = ix.unpark(p1);
        assert_eq!(got.conn, 7);
        assert_eq!(ix.waiters_of(b), vec![p2]);
        assert!(ix.waiters_of(a).is_empty());
        ix.unpark(p2);
        assert_eq!((ix.parked_count(), ix.waiter_count()), (0, 0));
        // Both keys keep their configs; nothing else is live.
        assert_eq!((ix.key_count(), ix.config_count()), (2, 2));
    }

    #[test]
    fn absent_keys_are_recycled() {
        let mut ix = Index::new();
        let k = ix.intern("ghost+G");
        let p = park(&mut ix, 1, vec![(k, ClientMd5::Empty, None)]);
        assert_eq!(ix.key_count(), 1);
        ix.unpark(p);
        assert_eq!(ix.key_count(), 0);
        assert_eq!(ix.lookup("ghost+G"), None);
        // A delete of a config nobody listens to frees its slot too.
        ix.load("x+G", entry("x+G"));
        ix.apply(&change("x+G", false));
        assert_eq!((ix.key_count(), ix.config_count()), (0, 0));
    }

    proptest::proptest! {
        /// The index agrees with a model (key -> set of parks) under random
        /// park / unpark / wake sequences, and leaks nothing at the end.
        #[test]
        fn matches_model(ops in proptest::collection::vec((0u8..3, proptest::collection::vec(0u8..12, 1..6)), 1..300)) {
            let mut ix = Index::new();
            let mut model: HashMap<ParkId, BTreeSet<String>> = HashMap::new();
            for (op, keys) in ops {
                match op {
                    0 => {
                        let names: BTreeSet<String> = keys.iter().map(|k| format!("k{k}+G")).collect();
                        let ids = names.iter().map(|n| (ix.intern(n), ClientMd5::Empty, None)).collect();
                        let p = park(&mut ix, 0, ids);
                        model.insert(p, names);
                    }
                    1 if !model.is_empty() => {
                        let mut ps: Vec<ParkId> = model.keys().copied().collect();
                        ps.sort();
                        let p = ps[keys[0] as usize % ps.len()];
                        ix.unpark(p);
                        model.remove(&p);
                    }
                    _ => {
                        let name = format!("k{}+G", keys[0]);
                        let mut expect: Vec<ParkId> = model.iter().filter(|(_, ks)| ks.contains(&name)).map(|(p, _)| *p).collect();
                        expect.sort();
                        let mut got = ix.lookup(&name).map(|k| ix.waiters_of(k)).unwrap_or_default();
                        got.sort();
                        proptest::prop_assert_eq!(&got, &expect);
                        for p in got { ix.unpark(p); model.remove(&p); }
                    }
                }
                let total: usize = model.values().map(|s| s.len()).sum();
                proptest::prop_assert_eq!(ix.waiter_count(), total);
                proptest::prop_assert_eq!(ix.parked_count(), model.len());
            }
            let ps: Vec<ParkId> = model.keys().copied().collect();
            for p in ps { ix.unpark(p); }
            proptest::prop_assert_eq!((ix.key_count(), ix.waiter_count()), (0, 0));
        }
    }
}
