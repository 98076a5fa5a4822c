//! The bounded log of recent changes that resumes a watch stream from its
//! `Last-Event-ID`.
//!
//! Invariant: the log holds every change after `base_seq`, in commit order,
//! within its count and byte bounds.

use crate::model::Change;
use std::collections::VecDeque;
use std::sync::Arc;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Entry;
    use crate::protocol::group_key;

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
}
