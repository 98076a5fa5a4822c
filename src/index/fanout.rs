//! What a change, a replay or a snapshot gives each subscriber: the index
//! finds the audience (the subscribers of the key, its group and its
//! namespace), `view` decides what each one sees, `framing` builds the
//! bytes. The reactor only answers the polls and queues the events.
//!
//! An event is built once per distinct thing seen (a config version, or a
//! delete) and content flag, and shared by every stream it goes to: with
//! no beta or tag variant involved that is one event for all of them.

use super::framing;
use super::view::{self, Before, Names, Seen};
use super::{Index, Kind, StreamSpec, Sub, SubId};
use crate::auth::{AuthState, Resource};
use crate::model::Change;
use std::sync::Arc;

/// What one change does to its subscribers.
#[derive(Debug, Default)]
pub struct FanOut {
    /// Polls to answer, each with its link to the key that changed.
    pub wakes: Vec<(SubId, u32)>,
    /// Events to queue: the stream, its connection, the bytes.
    pub events: Vec<(SubId, u32, Arc<[u8]>)>,
    /// gRPC listeners to push a change notify to: the listener, its
    /// connection, its link to the key that changed.
    pub pushes: Vec<(SubId, u32, u32)>,
}

/// What the streams of one change share, built on first need.
struct Shared<'c> {
    names: Option<Option<Names>>,
    resource: Option<Resource>,
    built: Vec<(Seen<'c>, bool, Arc<[u8]>)>,
}

impl Index {
    /// Fills `out` with what `change` does to the subscribers linked to its
    /// key, group and namespace. `before` is the key's entry before it
    /// (from [`Index::apply`]); polls compare with the entry now cached,
    /// which a later change in the same drain may already have replaced.
    pub fn fan_out(
        &self,
        change: &Change,
        before: Option<&crate::model::Entry>,
        auth: &AuthState,
        now_ms: i64,
        out: &mut FanOut,
    ) {
        out.wakes.clear();
        out.events.clear();
        out.pushes.clear();
        let mut shared = Shared {
            names: None,
            resource: None,
            built: Vec::new(),
        };
        for topic in self.topics_of(&change.group_key).into_iter().flatten() {
            let slot = &self.slots[topic as usize];
            for back in &slot.subs {
                let sub = &self.subs[back.sub as usize];
                match &sub.kind {
                    Kind::Poll => {
                        let held = sub.links[back.link as usize].held.as_ref();
                        if held.is_some_and(|h| {
                            view::poll_wakes(&sub.viewer, &h.md5, slot.entry.as_deref())
                        }) {
                            out.wakes.push((back.sub, back.link));
                        }
                    }
                    Kind::Grpc => {
                        if view::push_wakes(&sub.viewer, before, change.entry.as_deref()) {
                            out.pushes.push((back.sub, sub.conn, back.link));
                        }
                    }
                    Kind::Stream(spec) => {
                        let names = shared
                            .names
                            .get_or_insert_with(|| Names::of(&change.group_key));
                        let Some(names) = names.as_ref() else {
                            continue;
                        };
                        let user = sub.viewer.user.as_deref();
                        let allowed = view::may_read(auth, user, names, &mut shared.resource);
                        let after = change.entry.as_deref();
                        let Some(seen) =
                            view::stream_event(&sub.viewer, allowed, Before::Known(before), after)
                        else {
                            continue;
                        };
                        let found = shared
                            .built
                            .iter()
                            .find(|(s, content, _)| s.same(seen) && *content == spec.content);
                        let bytes = match found {
                            Some((_, _, bytes)) => bytes.clone(),
                            None => {
                                let bytes: Arc<[u8]> = framing::event(
                                    names,
                                    seen,
                                    Some(change.seq),
                                    spec.content,
                                    now_ms,
                                )
                                .into();
                                shared.built.push((seen, spec.content, bytes.clone()));
                                bytes
                            }
                        };
                        out.events.push((back.sub, sub.conn, bytes));
                    }
                }
            }
        }
    }

    /// The event a resuming stream gets for a change from the log: every
    /// change in its scope that it may read.
    pub fn replay_event(
        &self,
        stream: SubId,
        change: &Change,
        auth: &AuthState,
        now_ms: i64,
    ) -> Option<Vec<u8>> {
        let (sub, spec) = self.stream(stream)?;
        let names = Names::of(&change.group_key)?;
        if !spec
            .scope
            .contains(&names.data_id, &names.group, &names.tenant)
        {
            return None;
        }
        let allowed = view::may_read(auth, sub.viewer.user.as_deref(), &names, &mut None);
        let seen = view::stream_event(
            &sub.viewer,
            allowed,
            Before::Replay,
            change.entry.as_deref(),
        )?;
        Some(framing::event(
            &names,
            seen,
            Some(change.seq),
            spec.content,
            now_ms,
        ))
    }

    /// The snapshot event a stream gets for a cached key (its current
    /// entry, not the one at connect: a change sent meanwhile must not be
    /// followed by older content).
    pub fn snapshot_event(
        &self,
        stream: SubId,
        group_key: &str,
        auth: &AuthState,
    ) -> Option<Vec<u8>> {
        let (sub, spec) = self.stream(stream)?;
        let names = Names::of(group_key)?;
        let allowed = view::may_read(auth, sub.viewer.user.as_deref(), &names, &mut None);
        let entry = self.entry_of(group_key).map(Arc::as_ref);
        let config = view::snapshot_event(&sub.viewer, allowed, entry)?;
        Some(framing::event(
            &names,
            Seen::Config(config),
            None,
            spec.content,
            0,
        ))
    }

    /// A watch stream and its own data.
    fn stream(&self, stream: SubId) -> Option<(&Sub, &StreamSpec)> {
        let sub = self.sub(stream)?;
        match &sub.kind {
            Kind::Stream(spec) => Some((sub, spec)),
            Kind::Poll | Kind::Grpc => None,
        }
    }
}
