//! A gRPC connection's listener: one subscriber of kind [`Kind::Grpc`]
//! per connection, to which each batch listen adds, refreshes or drops
//! keys one by one (a batch repeats the whole set every few minutes).

use super::{Held, Index, Kind, SubId, Viewer};

impl Index {
    /// Opens a gRPC connection's listener, linked to nothing yet.
    pub fn open_listener(&mut self, conn: u32, viewer: Viewer) -> SubId {
        self.subscribe(conn, viewer, Kind::Grpc, Vec::new())
    }

    /// Adds a key to a gRPC listener, or refreshes what it holds for a key
    /// it already listens to (a batch listen repeats the whole set).
    pub fn listen(&mut self, sub: SubId, group_key: &str, held: Held) {
        let topic = self.intern(group_key);
        let Some(s) = self.subs.get_mut(sub as usize) else {
            self.release_if_unused(topic);
            return;
        };
        match s.links.iter_mut().find(|l| l.topic == topic) {
            Some(link) => link.held = Some(held),
            None => {
                self.link(sub, topic, Some(held));
            }
        }
    }

    /// Drops a key from a gRPC listener (a no-op for a key it does not
    /// listen to).
    pub fn unlisten(&mut self, sub: SubId, group_key: &str) {
        let Some(topic) = self.lookup(group_key) else {
            return;
        };
        let Some(s) = self.subs.get(sub as usize) else {
            return;
        };
        if let Some(link) = s.links.iter().position(|l| l.topic == topic) {
            self.unlink(sub, link as u32);
        }
    }

    /// The key and the tenant spelling of one of a subscriber's links.
    pub fn link_key(&self, sub: SubId, link: u32) -> Option<(&str, Option<&str>)> {
        let link = self.sub(sub)?.links.get(link as usize)?;
        let echo = link.held.as_ref().and_then(|h| h.echo_tenant.as_deref());
        Some((self.key_name(link.topic), echo))
    }
}
