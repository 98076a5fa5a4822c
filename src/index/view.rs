//! What a subscriber sees, and whether it may see it: the one place that
//! decides, for every kind of subscriber, which variant of a config it
//! reads (beta if its address is listed, else its `Vipserver-Tag` variant,
//! else the formal config), whether a change alters that, and whether its
//! user may read the config at all. Pure functions over plain data; the
//! index and the reactor only act on the answers.

use crate::auth::{config_resource, Access, AuthState, Resource};
use crate::model::{Config, Entry};
use crate::protocol::{parse_group_key, ClientMd5};

/// Who is looking: the address beta lists are matched against, the
/// `Vipserver-Tag` it sent, and its user when auth is on and the
/// subscriber is filtered per config (a watch stream on a group or a
/// namespace). Polls are authorised when they arrive and carry no user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    pub requester: Box<str>,
    pub vip_tag: Option<Box<str>>,
    pub user: Option<Box<str>>,
}

impl Viewer {
    /// The variant of `entry` this viewer reads (spec §3.3).
    pub fn sees<'e>(&self, entry: Option<&'e Entry>) -> Option<&'e Config> {
        entry
            .and_then(|e| e.effective(&self.requester, self.vip_tag.as_deref()))
            .map(|v| &**v.config())
    }
}

/// A config's names, unescaped from its groupKey once per change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub data_id: String,
    pub group: String,
    pub tenant: String,
}

impl Names {
    pub fn of(group_key: &str) -> Option<Names> {
        let (data_id, group, tenant) = parse_group_key(group_key)?;
        Some(Names {
            data_id,
            group,
            tenant,
        })
    }
}

/// Whether `user` may read the config `names`; no user reads everything.
/// `resource` keeps the config's permission resource for the next viewer
/// of the same change (built once, on first need).
pub fn may_read(
    auth: &AuthState,
    user: Option<&str>,
    names: &Names,
    resource: &mut Option<Resource>,
) -> bool {
    let Some(user) = user else {
        return true;
    };
    let resource = resource.get_or_insert_with(|| {
        config_resource(&names.tenant, Some(&names.group), Some(&names.data_id))
    });
    auth.allows(user, resource, Access::Read)
}

/// Whether a parked poll holding `held` for a key is answered, now that
/// the key's entry is `now`: the md5 of what it reads no longer matches.
/// So an identical re-publish, or a beta for other addresses, wakes nobody.
pub fn poll_wakes(viewer: &Viewer, held: &ClientMd5, now: Option<&Entry>) -> bool {
    !held.matches(viewer.sees(now).map(|c| &c.md5))
}

/// Whether a gRPC listener is pushed a change: what it reads before and
/// after differ. The push makes the client query again, so an identical
/// re-publish, or a beta or tag variant it does not read, pushes nothing.
/// (Not what it last said it holds: that md5 goes stale between its
/// listens, and a change back to it must still be pushed.)
pub fn push_wakes(viewer: &Viewer, before: Option<&Entry>, after: Option<&Entry>) -> bool {
    viewer.sees(before).map(|c| &c.md5) != viewer.sees(after).map(|c| &c.md5)
}

/// What came before a change, as far as a stream is concerned.
#[derive(Debug, Clone, Copy)]
pub enum Before<'e> {
    /// Live delivery: the key's entry before the change.
    Known(Option<&'e Entry>),
    /// A replay from the change log: every change in scope is sent.
    Replay,
}

/// What a stream is told about one config.
#[derive(Debug, Clone, Copy)]
pub enum Seen<'e> {
    /// The variant it reads now.
    Config(&'e Config),
    /// Nothing it can read is left (deleted, or only variants for others).
    Gone,
}

impl<'e> Seen<'e> {
    pub fn config(self) -> Option<&'e Config> {
        match self {
            Seen::Config(c) => Some(c),
            Seen::Gone => None,
        }
    }

    /// The same thing seen (the same config version, or both gone): one
    /// event's bytes serve both.
    pub fn same(self, other: Seen) -> bool {
        match (self, other) {
            (Seen::Config(a), Seen::Config(b)) => std::ptr::eq(a, b),
            (Seen::Gone, Seen::Gone) => true,
            (Seen::Config(_), Seen::Gone) | (Seen::Gone, Seen::Config(_)) => false,
        }
    }
}

/// The event a stream gets for a change (`None`: no event): only when its
/// user may read the config and, live, only when the md5 of what it reads
/// changed.
pub fn stream_event<'e>(
    viewer: &Viewer,
    allowed: bool,
    before: Before<'_>,
    after: Option<&'e Entry>,
) -> Option<Seen<'e>> {
    if !allowed {
        return None;
    }
    let now = viewer.sees(after);
    match before {
        Before::Known(before) if viewer.sees(before).map(|c| &c.md5) == now.map(|c| &c.md5) => None,
        Before::Known(_) | Before::Replay => Some(now.map_or(Seen::Gone, Seen::Config)),
    }
}

/// The snapshot event a stream gets for a config (`None`: none).
pub fn snapshot_event<'e>(
    viewer: &Viewer,
    allowed: bool,
    entry: Option<&'e Entry>,
) -> Option<&'e Config> {
    if !allowed {
        return None;
    }
    viewer.sees(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Permission;
    use crate::model::Beta;
    use std::sync::Arc;

    fn config(content: &str) -> Config {
        Config::new(
            1,
            "d".into(),
            "G".into(),
            "".into(),
            content.into(),
            "text",
            None,
            0,
        )
    }

    /// An entry: formal content, beta (content, ips), tags (name, content).
    fn entry(formal: Option<&str>, beta: Option<(&str, &str)>, tags: &[(&str, &str)]) -> Entry {
        Entry {
            formal: formal.map(|c| Arc::new(config(c))),
            beta: beta.map(|(c, ips)| Arc::new(Beta::new(config(c), ips.into()))),
            tags: tags
                .iter()
                .map(|(t, c)| (t.to_string(), Arc::new(config(c))))
                .collect(),
        }
    }

    fn viewer(ip: &str, tag: Option<&str>) -> Viewer {
        Viewer {
            requester: ip.into(),
            vip_tag: tag.map(Into::into),
            user: None,
        }
    }

    #[test]
    fn which_variant_a_viewer_reads() {
        let full = entry(Some("f"), Some(("b", "1.1.1.1,2.2.2.2")), &[("t", "tag")]);
        let no_formal = entry(None, Some(("b", "1.1.1.1")), &[]);
        // (entry, ip, tag, content read)
        let cases = [
            (Some(&full), "1.1.1.1", None, Some("b")),
            (Some(&full), "2.2.2.2", Some("t"), Some("b")),
            (Some(&full), "3.3.3.3", Some("t"), Some("tag")),
            (Some(&full), "3.3.3.3", Some("other"), Some("f")),
            (Some(&full), "3.3.3.3", None, Some("f")),
            (Some(&no_formal), "1.1.1.1", None, Some("b")),
            (Some(&no_formal), "3.3.3.3", None, None),
            (None, "1.1.1.1", None, None),
        ];
        for (e, ip, tag, want) in cases {
            let got = viewer(ip, tag).sees(e).map(|c| c.content.as_str());
            assert_eq!(got, want, "{ip} {tag:?}");
        }
    }

    #[test]
    fn a_poll_wakes_when_what_it_reads_differs_from_what_it_holds() {
        let held_f = ClientMd5::parse(config("f").md5.as_str());
        let beta = entry(Some("f"), Some(("b", "1.1.1.1")), &[]);
        let formal = entry(Some("f"), None, &[]);
        // (viewer ip, held, entry now, wakes)
        let cases = [
            ("9.9.9.9", &held_f, Some(&formal), false),
            ("9.9.9.9", &held_f, Some(&beta), false),
            ("1.1.1.1", &held_f, Some(&beta), true),
            ("9.9.9.9", &held_f, None, true),
            ("9.9.9.9", &ClientMd5::Empty, None, false),
            ("9.9.9.9", &ClientMd5::Empty, Some(&formal), true),
            ("9.9.9.9", &ClientMd5::Other, Some(&formal), true),
        ];
        for (ip, held, now, wakes) in cases {
            assert_eq!(
                poll_wakes(&viewer(ip, None), held, now),
                wakes,
                "{ip} {held:?}"
            );
        }
    }

    #[test]
    fn a_stream_hears_of_changes_to_what_it_may_read() {
        let f1 = entry(Some("1"), None, &[]);
        let f2 = entry(Some("2"), None, &[]);
        let f1_beta = entry(Some("1"), Some(("b", "1.1.1.1")), &[]);
        // (ip, allowed, before, after, event content: Some(None) = delete)
        let cases = [
            (
                "9.9.9.9",
                true,
                Before::Known(Some(&f1)),
                Some(&f2),
                Some(Some("2")),
            ),
            ("9.9.9.9", true, Before::Known(Some(&f1)), Some(&f1), None),
            ("9.9.9.9", false, Before::Known(Some(&f1)), Some(&f2), None),
            ("9.9.9.9", true, Before::Known(Some(&f1)), None, Some(None)),
            ("9.9.9.9", true, Before::Known(None), None, None),
            // A beta for others changes nothing for this viewer ...
            (
                "9.9.9.9",
                true,
                Before::Known(Some(&f1)),
                Some(&f1_beta),
                None,
            ),
            // ... and everything for a listed one.
            (
                "1.1.1.1",
                true,
                Before::Known(Some(&f1)),
                Some(&f1_beta),
                Some(Some("b")),
            ),
            // A replay sends every change in scope it may read.
            ("9.9.9.9", true, Before::Replay, Some(&f1), Some(Some("1"))),
            ("9.9.9.9", false, Before::Replay, Some(&f1), None),
        ];
        for (ip, allowed, before, after, want) in cases {
            let got = stream_event(&viewer(ip, None), allowed, before, after)
                .map(|s| s.config().map(|c| c.content.as_str()));
            assert_eq!(got, want, "{ip} {allowed} {before:?}");
        }
        assert!(snapshot_event(&viewer("9.9.9.9", None), false, Some(&f1)).is_none());
        assert_eq!(
            snapshot_event(&viewer("1.1.1.1", None), true, Some(&f1_beta))
                .map(|c| c.content.as_str()),
            Some("b")
        );
    }

    #[test]
    fn who_may_read() {
        let mut auth = AuthState::default();
        auth.users.insert("admin".into(), vec!["ROLE_ADMIN".into()]);
        auth.users.insert("alice".into(), vec!["dev".into()]);
        auth.users.insert("bob".into(), vec![]);
        auth.permissions.push(Permission {
            role: "dev".into(),
            resource: "ns1:*:*".into(),
            action: "r".into(),
        });
        // (user, groupKey, may read)
        let cases = [
            (None, "d+G+ns2", true),
            (Some("admin"), "d+G+ns2", true),
            (Some("alice"), "d+G+ns1", true),
            (Some("alice"), "d+G+ns2", false),
            (Some("alice"), "d+G", false),
            (Some("bob"), "d+G+ns1", false),
            (Some("nobody"), "d+G+ns1", false),
        ];
        for (user, gk, want) in cases {
            let names = Names::of(gk).unwrap();
            let mut resource = None;
            assert_eq!(
                may_read(&auth, user, &names, &mut resource),
                want,
                "{user:?} {gk}"
            );
            // The resource is built for a user only, then kept.
            assert_eq!(resource.is_some(), user.is_some(), "{user:?}");
            assert_eq!(
                may_read(&auth, user, &names, &mut resource),
                want,
                "{user:?} {gk}"
            );
        }
    }
}
