//! The index against simple models: parking, streams and unlinking under
//! random sequences, and what a change fans out to.

use super::*;
use crate::auth::{AuthState, Permission};
use crate::protocol::group_key;
use proptest::prelude::*;
use std::collections::{BTreeSet, HashMap};

fn entry_with(key: &str, content: &str) -> Arc<Entry> {
    let (d, g, t) = protocol::parse_group_key(key).unwrap();
    Arc::new(Entry {
        formal: Some(Arc::new(Config::new(
            1,
            d,
            g,
            t,
            content.into(),
            "text",
            None,
            0,
        ))),
        ..Entry::default()
    })
}

fn entry(key: &str) -> Arc<Entry> {
    entry_with(key, "c")
}

fn change(key: &str, present: bool) -> Change {
    Change {
        seq: 0,
        group_key: key.into(),
        entry: present.then(|| entry(key)),
    }
}

fn park(ix: &mut Index, conn: u32, keys: Vec<(KeyId, ClientMd5, Option<Box<str>>)>) -> SubId {
    ix.park(conn, "127.0.0.1".into(), None, keys)
}

fn viewer(user: Option<&str>) -> Viewer {
    Viewer {
        requester: "127.0.0.1".into(),
        vip_tag: None,
        user: user.map(Into::into),
    }
}

/// The subscribers linked to a change's key, group and namespace.
fn audience(ix: &Index, gk: &str) -> Vec<SubId> {
    let mut out: Vec<SubId> = ix
        .topics_of(gk)
        .into_iter()
        .flatten()
        .flat_map(|t| ix.subs_of(t))
        .collect();
    out.sort();
    out
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
    assert_eq!(ix.subs_of(b), vec![p1, p2]);
    assert_eq!(
        ix.apply(&change("b+G", true)).map(|b| b.is_none()),
        Some(true)
    );
    assert!(ix.apply(&change("zzz+G", false)).is_none());
    assert_eq!(ix.changed_reply(p2, 0), b"b%02G%02public%01\n");
    let got = ix.unsubscribe(p1).unwrap();
    assert_eq!(got.conn, 7);
    assert_eq!(ix.subs_of(b), vec![p2]);
    assert!(ix.subs_of(a).is_empty());
    ix.unsubscribe(p2);
    assert_eq!((ix.parked_count(), ix.waiter_count()), (0, 0));
    // Both keys keep their configs; nothing else is live.
    assert_eq!((ix.key_count(), ix.config_count()), (2, 2));
    assert!(ix.unsubscribe(p2).is_none(), "a stale id is ignored");
}

#[test]
fn absent_keys_are_recycled() {
    let mut ix = Index::new();
    let k = ix.intern("ghost+G");
    let p = park(&mut ix, 1, vec![(k, ClientMd5::Empty, None)]);
    assert_eq!(ix.key_count(), 1);
    ix.unsubscribe(p);
    assert_eq!(ix.key_count(), 0);
    assert_eq!(ix.lookup("ghost+G"), None);
    // A delete of a config nobody listens to frees its slot too.
    ix.load("x+G", entry("x+G"));
    ix.apply(&change("x+G", false));
    assert_eq!((ix.key_count(), ix.config_count()), (0, 0));
    assert!(ix.table.is_empty());
}

#[test]
fn a_change_fans_out_to_its_key_group_and_namespace_only() {
    let mut ix = Index::new();
    let keys = |ids: &[&str]| Scope::Keys {
        tenant: "".into(),
        group: "G".into(),
        data_ids: ids.iter().map(|s| s.to_string()).collect(),
    };
    let s_ab = ix.open_stream(1, viewer(None), false, keys(&["a", "b"]));
    let s_b = ix.open_stream(2, viewer(None), true, keys(&["b"]));
    let group = Scope::Group {
        tenant: "".into(),
        group: "G".into(),
    };
    let s_g = ix.open_stream(3, viewer(None), false, group);
    let s_n = ix.open_stream(
        4,
        viewer(None),
        false,
        Scope::Namespace { tenant: "".into() },
    );
    let dev = Scope::Namespace {
        tenant: "dev".into(),
    };
    let s_dev = ix.open_stream(5, viewer(None), false, dev);
    // A stream whose user may read nothing.
    let s_bob = ix.open_stream(6, viewer(Some("bob")), false, keys(&["b"]));
    let held_old = ClientMd5::parse(
        entry_with("b+G", "old")
            .formal
            .as_ref()
            .unwrap()
            .md5
            .as_str(),
    );
    let held_new = ClientMd5::parse(entry("b+G").formal.as_ref().unwrap().md5.as_str());
    let b = ix.intern("b+G");
    let p_old = park(&mut ix, 7, vec![(b, held_old, None)]);
    let p_new = park(&mut ix, 8, vec![(b, held_new, None)]);
    assert_eq!(ix.stream_count(), 6);

    let c = change("b+G", true);
    let before = ix.apply(&c).expect("listened");
    let mut auth = AuthState::default();
    auth.users.insert("bob".into(), vec!["r".into()]);
    auth.permissions.push(Permission {
        role: "r".into(),
        resource: "other:*:*".into(),
        action: "r".into(),
    });
    let mut out = FanOut::default();
    ix.fan_out(&c, before.as_deref(), &auth, 0, &mut out);
    assert_eq!(
        out.wakes,
        vec![(p_old, 0)],
        "only the poll holding another md5"
    );
    let mut got: Vec<SubId> = out.events.iter().map(|e| e.0).collect();
    got.sort();
    assert_eq!(got, vec![s_ab, s_b, s_g, s_n]);
    // One event without content for all, one with content.
    let plain: Vec<&Arc<[u8]>> = out
        .events
        .iter()
        .filter(|e| e.0 != s_b)
        .map(|e| &e.2)
        .collect();
    assert!(plain.windows(2).all(|w| Arc::ptr_eq(w[0], w[1])));
    let with = out.events.iter().find(|e| e.0 == s_b).unwrap();
    assert!(std::str::from_utf8(&with.2)
        .unwrap()
        .contains("\"content\":\"c\""));

    // An identical re-publish tells nobody anything (once the woken poll
    // is gone).
    assert!(ix.unsubscribe(p_old).is_some());
    let before = ix.apply(&c).expect("listened");
    ix.fan_out(&c, before.as_deref(), &auth, 0, &mut out);
    assert!(out.wakes.is_empty() && out.events.is_empty());

    // Elsewhere: only the namespace stream of `dev`.
    let c = change("z+H+dev", true);
    let before = ix.apply(&c).expect("listened");
    ix.fan_out(&c, before.as_deref(), &auth, 0, &mut out);
    let got: Vec<SubId> = out.events.iter().map(|e| e.0).collect();
    assert_eq!(got, vec![s_dev]);
    assert!(
        ix.apply(&change("z+H+other", true)).is_none(),
        "nobody listens"
    );

    // Replay and snapshot decide alike.
    let c = change("b+G", true);
    assert!(ix.replay_event(s_b, &c, &auth, 0).is_some());
    assert!(ix.replay_event(s_bob, &c, &auth, 0).is_none());
    assert!(
        ix.replay_event(s_dev, &c, &auth, 0).is_none(),
        "out of scope"
    );
    assert!(ix.snapshot_event(s_g, "b+G", &auth).is_some());
    assert!(ix.snapshot_event(s_bob, "b+G", &auth).is_none());
    assert!(
        ix.snapshot_event(p_new, "b+G", &auth).is_none(),
        "not a stream"
    );
}

/// What a model subscriber listens to.
#[derive(Debug, Clone)]
enum Model {
    Poll(BTreeSet<String>),
    Stream(Scope),
    Grpc(BTreeSet<String>),
}

impl Model {
    fn hears(&self, d: &str, g: &str, t: &str) -> bool {
        match self {
            Model::Poll(keys) | Model::Grpc(keys) => keys.contains(&group_key(d, g, t)),
            Model::Stream(scope) => scope.contains(d, g, t),
        }
    }
}

const DATA_IDS: [&str; 4] = ["a", "b+1", "c%", "d"];
const GROUPS: [&str; 2] = ["G", "H+"];
const TENANTS: [&str; 2] = ["", "dev"];

fn key_of(n: u8) -> (&'static str, &'static str, &'static str) {
    let n = n as usize;
    (DATA_IDS[n % 4], GROUPS[(n / 4) % 2], TENANTS[(n / 8) % 2])
}

fn scope_of(kind: u8, keys: &[u8]) -> Scope {
    let (_, g, t) = key_of(keys[0]);
    match kind % 3 {
        0 => Scope::Keys {
            tenant: t.into(),
            group: g.into(),
            data_ids: keys
                .iter()
                .map(|&k| key_of(k).0.to_owned())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
        },
        1 => Scope::Group {
            tenant: t.into(),
            group: g.into(),
        },
        _ => Scope::Namespace { tenant: t.into() },
    }
}

proptest! {
    /// The index agrees with a model (subscriber -> what it hears) under
    /// random parks, stream opens, gRPC listeners, unsubscribes, keys
    /// linked to and unlinked from a subscriber that stays (a gRPC listener
    /// by listen / unlisten), publishes and deletes, and leaks nothing at
    /// the end.
    #[test]
    fn matches_model(ops in proptest::collection::vec((0u8..8, proptest::collection::vec(0u8..16, 1..6)), 1..300)) {
        let mut ix = Index::new();
        let mut model: HashMap<SubId, Model> = HashMap::new();
        let mut configs: BTreeSet<String> = BTreeSet::new();
        for (op, keys) in ops {
            match op {
                0 => {
                    let names: BTreeSet<String> = keys.iter().map(|&k| {
                        let (d, g, t) = key_of(k);
                        group_key(d, g, t)
                    }).collect();
                    let ids = names.iter().map(|n| (ix.intern(n), ClientMd5::Empty, None)).collect();
                    let p = park(&mut ix, 0, ids);
                    prop_assert!(model.insert(p, Model::Poll(names)).is_none());
                }
                7 => {
                    let names: BTreeSet<String> = keys.iter().map(|&k| {
                        let (d, g, t) = key_of(k);
                        group_key(d, g, t)
                    }).collect();
                    let l = ix.open_listener(0, viewer(None));
                    for n in &names {
                        ix.listen(l, n, Held { md5: ClientMd5::Empty, echo_tenant: None });
                    }
                    prop_assert!(model.insert(l, Model::Grpc(names)).is_none());
                }
                1 => {
                    let scope = scope_of(keys[0], &keys);
                    let s = ix.open_stream(0, viewer(None), false, scope.clone());
                    prop_assert!(model.insert(s, Model::Stream(scope)).is_none());
                }
                2 if !model.is_empty() => {
                    let mut subs: Vec<SubId> = model.keys().copied().collect();
                    subs.sort();
                    let s = subs[keys[0] as usize % subs.len()];
                    prop_assert!(ix.unsubscribe(s).is_some());
                    model.remove(&s);
                }
                3 => {
                    let (d, g, t) = key_of(keys[0]);
                    let gk = group_key(d, g, t);
                    let present = keys.len() % 2 == 0;
                    let c = change(&gk, present);
                    let was = configs.contains(&gk);
                    if present { configs.insert(gk.clone()); } else { configs.remove(&gk); }
                    let mut expect: Vec<SubId> = model.iter().filter(|(_, m)| m.hears(d, g, t)).map(|(s, _)| *s).collect();
                    expect.sort();
                    let linked = ix.lookup(&gk).is_some();
                    let listened = ix.apply(&c).is_some();
                    prop_assert_eq!(listened, (was || present || linked) && !expect.is_empty(), "{}", gk);
                    prop_assert_eq!(audience(&ix, &gk), expect);
                }
                5 | 6 if !model.is_empty() => {
                    // A subscriber that stays adds or drops one key, as a
                    // listener batch does (polls stand in for any kind:
                    // linking does not tell kinds apart).
                    let mut subs: Vec<SubId> = model.keys().copied().collect();
                    subs.sort();
                    let s = subs[keys[0] as usize % subs.len()];
                    let (d, g, t) = key_of(keys[keys.len() - 1]);
                    let gk = group_key(d, g, t);
                    if let Some(Model::Grpc(names)) = model.get_mut(&s) {
                        if op == 5 {
                            // A repeated key refreshes, never doubles.
                            ix.listen(s, &gk, Held { md5: ClientMd5::Empty, echo_tenant: None });
                            names.insert(gk.clone());
                        } else {
                            ix.unlisten(s, &gk);
                            names.remove(&gk);
                        }
                        prop_assert_eq!(ix.sub(s).unwrap().links.len(), names.len());
                        continue;
                    }
                    let names = match model.get_mut(&s) {
                        Some(Model::Poll(names)) => names,
                        Some(Model::Stream(_) | Model::Grpc(_)) | None => &mut BTreeSet::new(),
                    };
                    if names.is_empty() {
                        // A stream: its links follow its scope.
                    } else if op == 5 {
                        let id = ix.intern(&gk);
                        let held = Held { md5: ClientMd5::Empty, echo_tenant: None };
                        prop_assert_eq!(ix.link(s, id, Some(held)), names.insert(gk.clone()));
                    } else if names.len() > 1 {
                        let links = &ix.sub(s).unwrap().links;
                        let at = keys[0] as usize % links.len();
                        let topic = links[at].topic;
                        let name = ix.key_name(topic).to_owned();
                        let gone = ix.unlink(s, at as u32).unwrap();
                        prop_assert_eq!(gone.topic, topic);
                        prop_assert!(names.remove(&name));
                    }
                }
                _ => {
                    // Wake every poll on a key, as a change would.
                    let (d, g, t) = key_of(keys[0]);
                    let gk = group_key(d, g, t);
                    let mut expect: Vec<SubId> = model.iter().filter(|(_, m)| m.hears(d, g, t)).map(|(s, _)| *s).collect();
                    expect.sort();
                    let got = audience(&ix, &gk);
                    prop_assert_eq!(&got, &expect);
                    for s in got {
                        if let Some(Model::Poll(_)) = model.get(&s) {
                            ix.unsubscribe(s);
                            model.remove(&s);
                        }
                    }
                }
            }
            let polls = model.values().filter(|m| matches!(m, Model::Poll(_)));
            let links: usize = polls.clone().map(|m| match m { Model::Poll(k) => k.len(), Model::Stream(_) | Model::Grpc(_) => 0 }).sum();
            prop_assert_eq!(ix.waiter_count(), links);
            prop_assert_eq!(ix.parked_count(), polls.count());
            let grpc: Vec<usize> = model.values().filter_map(|m| match m { Model::Grpc(k) => Some(k.len()), Model::Poll(_) | Model::Stream(_) => None }).collect();
            prop_assert_eq!(ix.grpc_counts(), (grpc.len(), grpc.iter().sum()));
            prop_assert_eq!(ix.stream_count(), model.len() - ix.parked_count() - grpc.len());
            prop_assert_eq!(ix.config_count(), configs.len());
        }
        let subs: Vec<SubId> = model.keys().copied().collect();
        for s in subs { ix.unsubscribe(s); }
        prop_assert_eq!(ix.key_count(), configs.len());
        for gk in &configs { ix.apply(&change(gk, false)); }
        prop_assert_eq!((ix.key_count(), ix.waiter_count(), ix.table.len()), (0, 0, 0));
        prop_assert_eq!(ix.free.len(), ix.slots.len());
    }
}

/// A gRPC listener is pushed exactly the changes that alter what it reads.
#[test]
fn grpc_listeners_are_pushed_what_alters_their_read() {
    let mut ix = Index::new();
    let auth = AuthState::default();
    let l = ix.open_listener(7, viewer(None));
    ix.listen(
        l,
        "a+G",
        Held {
            md5: ClientMd5::Empty,
            echo_tenant: Some("public".into()),
        },
    );
    ix.listen(
        l,
        "a+G",
        Held {
            md5: ClientMd5::Empty,
            echo_tenant: Some("public".into()),
        },
    );
    assert_eq!(ix.grpc_counts(), (1, 1), "a repeated listen refreshes");
    let mut out = FanOut::default();
    let mut push = |ix: &mut Index, c: Change| {
        let before = ix.apply(&c).expect("listened").clone();
        ix.fan_out(&c, before.as_deref(), &auth, 0, &mut out);
        out.pushes.clone()
    };
    // First content: pushed, with the link naming the key and its spelling.
    let pushed = push(
        &mut ix,
        Change {
            seq: 1,
            group_key: "a+G".into(),
            entry: Some(entry_with("a+G", "one")),
        },
    );
    assert_eq!(pushed, vec![(l, 7, 0)]);
    assert_eq!(ix.link_key(l, 0), Some(("a+G", Some("public"))));
    // The same content again alters nothing.
    let pushed = push(
        &mut ix,
        Change {
            seq: 2,
            group_key: "a+G".into(),
            entry: Some(entry_with("a+G", "one")),
        },
    );
    assert!(pushed.is_empty());
    // A beta for another address alters nothing this listener reads.
    let e = Entry {
        formal: entry_with("a+G", "one").formal.clone(),
        beta: Some(Arc::new(crate::model::Beta::new(
            Config::new(
                2,
                "a".into(),
                "G".into(),
                String::new(),
                "beta".into(),
                "text",
                None,
                0,
            ),
            "10.1.1.1".into(),
        ))),
        tags: Vec::new(),
    };
    let pushed = push(
        &mut ix,
        Change {
            seq: 3,
            group_key: "a+G".into(),
            entry: Some(Arc::new(e)),
        },
    );
    assert!(pushed.is_empty());
    // A delete does; and after unlisten nothing is pushed.
    let pushed = push(
        &mut ix,
        Change {
            seq: 4,
            group_key: "a+G".into(),
            entry: None,
        },
    );
    assert_eq!(pushed.len(), 1);
    ix.unlisten(l, "a+G");
    assert_eq!(ix.grpc_counts(), (1, 0));
    assert!(ix
        .apply(&Change {
            seq: 5,
            group_key: "a+G".into(),
            entry: Some(entry("a+G"))
        })
        .is_none());
    ix.unsubscribe(l);
    assert_eq!(ix.grpc_counts(), (0, 0));
}
