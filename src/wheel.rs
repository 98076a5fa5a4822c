//! A single-level hashed timer wheel over a slab, with O(1) arm and cancel.
//!
//! Time is integer ticks passed in by the caller (`now_tick`); the wheel never
//! reads a clock, so tests drive time by hand. A timer whose deadline lies more
//! than one revolution ahead sits in its slot and is skipped (its deadline is
//! not yet due) until the revolution that reaches it.
//!
//! A bitmap of non-empty slots tells the owner, in at most 64 word reads,
//! the earliest tick that may fire ([`Wheel::next_due`]), so an idle event
//! loop sleeps until then instead of waking every tick.
//!
//! Invariants: a slot's bit is set exactly when its list is non-empty; every live entry is linked into exactly the slot
//! `deadline_tick % SLOTS`; an entry's deadline is always strictly after the
//! last tick `expire` has processed, so an expiry is never missed; entries are
//! unlinked when they expire or are cancelled, so the wheel never leaks.

use slab::Slab;

/// Number of slots; with 10 ms ticks one revolution is about 41 s, so the
/// usual 29.5 s long-poll hold expires on its first visit.
pub const SLOTS: usize = 4096;

const NIL: u32 = u32::MAX;
const WORDS: usize = SLOTS / 64;

/// Handle returned by [`Wheel::arm`]; pass it to [`Wheel::cancel`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerId(u32);

#[derive(Debug)]
struct Entry {
    deadline_tick: u64,
    payload: u32,
    prev: u32,
    next: u32,
}

/// The wheel. `payload` is whatever the owner needs to find the timed thing
/// (the reactor uses a connection's slab key).
#[derive(Debug)]
pub struct Wheel {
    heads: Vec<u32>,
    /// Bit `s` is set when slot `s` holds a timer.
    occupied: [u64; WORDS],
    entries: Slab<Entry>,
    /// The last tick whose slot has been processed.
    processed_tick: u64,
}

impl Wheel {
    pub fn new(now_tick: u64) -> Wheel {
        Wheel {
            heads: vec![NIL; SLOTS],
            occupied: [0; WORDS],
            entries: Slab::new(),
            processed_tick: now_tick,
        }
    }

    /// Number of armed timers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Arms a timer for `deadline_tick`; a deadline already due fires on the
    /// next `expire`.
    pub fn arm(&mut self, deadline_tick: u64, payload: u32) -> TimerId {
        let deadline_tick = deadline_tick.max(self.processed_tick + 1);
        let slot = (deadline_tick % SLOTS as u64) as usize;
        let head = self.heads[slot];
        let key = self.entries.insert(Entry {
            deadline_tick,
            payload,
            prev: NIL,
            next: head,
        });
        let key = u32::try_from(key).expect("fewer than 2^32 timers");
        if head != NIL {
            self.entries[head as usize].prev = key;
        }
        self.heads[slot] = key;
        self.occupied[slot / 64] |= 1 << (slot % 64);
        TimerId(key)
    }

    /// Cancels a timer; returns its payload, or `None` if it already fired or
    /// was cancelled (a stale id).
    pub fn cancel(&mut self, id: TimerId) -> Option<u32> {
        if !self.entries.contains(id.0 as usize) {
            return None;
        }
        Some(self.unlink(id.0))
    }

    fn unlink(&mut self, key: u32) -> u32 {
        let e = self.entries.remove(key as usize);
        if e.prev != NIL {
            self.entries[e.prev as usize].next = e.next;
        } else {
            let slot = (e.deadline_tick % SLOTS as u64) as usize;
            debug_assert_eq!(self.heads[slot], key, "head of slot {slot}");
            self.heads[slot] = e.next;
            if e.next == NIL {
                self.occupied[slot / 64] &= !(1 << (slot % 64));
            }
        }
        if e.next != NIL {
            self.entries[e.next as usize].prev = e.prev;
        }
        e.payload
    }

    /// The earliest tick at which [`Wheel::expire`] may fire a timer: the
    /// next non-empty slot after the last processed tick (a timer in it may
    /// belong to a later revolution, which only costs one early wake-up).
    /// `None` when no timer is armed.
    pub fn next_due(&self) -> Option<u64> {
        if self.entries.is_empty() {
            return None;
        }
        let first = ((self.processed_tick + 1) % SLOTS as u64) as usize;
        // Scan the words from `first`'s onwards, wrapping once; the first
        // word is masked to the slots at or after `first`, and visited again
        // at the end unmasked for the slots before it.
        for step in 0..=WORDS {
            let w = (first / 64 + step) % WORDS;
            let mut bits = self.occupied[w];
            if step == 0 {
                bits &= !0u64 << (first % 64);
            }
            if bits != 0 {
                let slot = w * 64 + bits.trailing_zeros() as usize;
                let ahead = (slot + SLOTS - first) % SLOTS;
                return Some(self.processed_tick + 1 + ahead as u64);
            }
        }
        None
    }

    /// Processes every tick up to and including `now_tick`, pushing the
    /// payloads of timers that are due onto `out`.
    pub fn expire(&mut self, now_tick: u64, out: &mut Vec<u32>) {
        if now_tick <= self.processed_tick {
            return;
        }
        // Visiting more than one revolution of slots would only revisit them.
        let first = self
            .processed_tick
            .saturating_add(1)
            .max(now_tick.saturating_sub(SLOTS as u64 - 1));
        for tick in first..=now_tick {
            if self.entries.is_empty() {
                break;
            }
            let slot = (tick % SLOTS as u64) as usize;
            let mut cur = self.heads[slot];
            while cur != NIL {
                let e = &self.entries[cur as usize];
                let next = e.next;
                if e.deadline_tick <= now_tick {
                    out.push(self.unlink(cur));
                }
                cur = next;
            }
        }
        self.processed_tick = now_tick;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn expire(w: &mut Wheel, now: u64) -> Vec<u32> {
        let mut out = Vec::new();
        w.expire(now, &mut out);
        out.sort();
        out
    }

    #[test]
    fn fires_at_deadline_not_before() {
        let mut w = Wheel::new(0);
        w.arm(5, 1);
        w.arm(5, 2);
        w.arm(7, 3);
        assert_eq!(expire(&mut w, 4), Vec::<u32>::new());
        assert_eq!(expire(&mut w, 5), vec![1, 2]);
        assert_eq!(expire(&mut w, 100), vec![3]);
        assert!(w.is_empty());
    }

    #[test]
    fn past_deadline_fires_next_expire() {
        let mut w = Wheel::new(10);
        w.arm(3, 9);
        assert_eq!(expire(&mut w, 11), vec![9]);
    }

    #[test]
    fn far_deadlines_wait_their_revolution() {
        let mut w = Wheel::new(0);
        let far = SLOTS as u64 * 2 + 3;
        w.arm(far, 1);
        w.arm(3, 2);
        assert_eq!(expire(&mut w, 3), vec![2]);
        assert_eq!(expire(&mut w, SLOTS as u64 + 3), Vec::<u32>::new());
        assert_eq!(expire(&mut w, far - 1), Vec::<u32>::new());
        assert_eq!(expire(&mut w, far), vec![1]);
    }

    #[test]
    fn big_jump_visits_every_slot() {
        let mut w = Wheel::new(0);
        for i in 1..=100u32 {
            w.arm(i as u64 * 97, i);
        }
        let got = expire(&mut w, 1_000_000);
        assert_eq!(got, (1..=100).collect::<Vec<_>>());
    }

    #[test]
    fn cancel_unlinks_and_stale_cancel_is_none() {
        let mut w = Wheel::new(0);
        let a = w.arm(5, 1);
        let b = w.arm(5, 2);
        let c = w.arm(5, 3);
        assert_eq!(w.cancel(b), Some(2));
        assert_eq!(w.cancel(b), None);
        assert_eq!(w.cancel(a), Some(1));
        assert_eq!(expire(&mut w, 5), vec![3]);
        assert_eq!(w.cancel(c), None);
    }

    #[test]
    fn next_due_is_the_nearest_armed_slot() {
        let mut w = Wheel::new(0);
        assert_eq!(w.next_due(), None);
        let far = w.arm(300, 1);
        assert_eq!(w.next_due(), Some(300));
        let near = w.arm(70, 2);
        assert_eq!(w.next_due(), Some(70));
        w.cancel(near);
        assert_eq!(w.next_due(), Some(300));
        // Wrapping: processed past the end of the slots.
        w.cancel(far);
        let mut out = Vec::new();
        w.expire(SLOTS as u64 - 2, &mut out);
        assert_eq!(out, Vec::<u32>::new());
        w.arm(SLOTS as u64 + 5, 3);
        assert_eq!(w.next_due(), Some(SLOTS as u64 + 5));
        // A timer a revolution ahead is reported at its slot's next visit.
        let mut w = Wheel::new(0);
        w.arm(SLOTS as u64 + 9, 4);
        assert_eq!(w.next_due(), Some(9));
    }

    proptest::proptest! {
        /// The wheel agrees with a BTreeMap model under random arm / cancel /
        /// advance sequences.
        #[test]
        fn matches_model(ops in proptest::collection::vec((0u8..3, 0u64..20_000), 1..400)) {
            let mut w = Wheel::new(0);
            let mut model: BTreeMap<u32, u64> = BTreeMap::new();
            let mut ids: Vec<(TimerId, u32)> = Vec::new();
            let mut now = 0u64;
            let mut next_payload = 0u32;
            for (op, arg) in ops {
                match op {
                    0 => {
                        let deadline = now + arg;
                        let id = w.arm(deadline, next_payload);
                        model.insert(next_payload, deadline.max(now + 1));
                        ids.push((id, next_payload));
                        next_payload += 1;
                    }
                    1 if !ids.is_empty() => {
                        let (id, p) = ids.swap_remove(arg as usize % ids.len());
                        proptest::prop_assert_eq!(w.cancel(id), Some(p));
                        model.remove(&p);
                    }
                    _ => {
                        now += arg % 9000;
                        let got = expire(&mut w, now);
                        let due: Vec<u32> = model.iter().filter(|(_, d)| **d <= now).map(|(p, _)| *p).collect();
                        for p in &due { model.remove(p); }
                        ids.retain(|(_, p)| !due.contains(p));
                        proptest::prop_assert_eq!(got, due);
                    }
                }
                proptest::prop_assert_eq!(w.len(), model.len());
                // No timer fires before `next_due`, and the earliest due
                // timer is never later than it.
                let earliest = model.values().min().copied();
                match (w.next_due(), earliest) {
                    (Some(due), Some(e)) => proptest::prop_assert!(now < due && due <= e, "due {} earliest {} now {}", due, e, now),
                    (None, None) => {}
                    (got, want) => proptest::prop_assert!(false, "next_due {got:?}, earliest {want:?}"),
                }
            }
        }
    }
}
