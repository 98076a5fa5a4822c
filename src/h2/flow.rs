//! Flow-control windows (RFC 9113 §5.2, §6.9) for both directions.
//!
//! Receiving: a [`RecvWindow`] is charged for every DATA payload (padding
//! included) and, since this server consumes DATA as soon as it arrives
//! (messages are bounded by `Limits::max_message`, not by the window), it
//! hands the bytes back with a WINDOW_UPDATE once half the window is used:
//! a client is never stalled and never sees more than one update per half
//! window. Sending: a window is an `i64` that may go negative after a
//! SETTINGS_INITIAL_WINDOW_SIZE decrease, and may never exceed 2^31 - 1.

use super::frame::MAX_WINDOW;

/// Our receive window of the connection or of one stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvWindow {
    /// Bytes the peer may still send.
    available: u32,
    /// Bytes consumed and not yet handed back.
    unacked: u32,
}

/// The peer sent more than the window allowed.
#[derive(Debug, PartialEq, Eq)]
pub struct Overrun;

impl RecvWindow {
    pub fn new(size: u32) -> RecvWindow {
        RecvWindow {
            available: size,
            unacked: 0,
        }
    }

    /// Charges `n` bytes of a DATA frame.
    pub fn charge(&mut self, n: u32) -> Result<(), Overrun> {
        self.available = self.available.checked_sub(n).ok_or(Overrun)?;
        self.unacked += n;
        Ok(())
    }

    /// The increment to send now, if half of `size` (the window we keep
    /// open) has been consumed; the window is counted as restored.
    pub fn release(&mut self, size: u32) -> Option<u32> {
        if self.unacked == 0 || self.unacked < size / 2 {
            return None;
        }
        let inc = self.unacked;
        self.available = self.available.saturating_add(inc);
        self.unacked = 0;
        Some(inc)
    }

    /// Raises the window to `size` at once (the connection window, which
    /// starts at 65,535 whatever we advertise); returns the increment.
    pub fn grow_to(&mut self, size: u32) -> Option<u32> {
        let inc = size.checked_sub(self.available)?;
        self.available = size;
        (inc > 0).then_some(inc)
    }
}

/// The peer's window for our DATA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendWindow(i64);

/// A WINDOW_UPDATE or SETTINGS change took a window over 2^31 - 1.
#[derive(Debug, PartialEq, Eq)]
pub struct Overflow;

impl SendWindow {
    pub fn new(size: u32) -> SendWindow {
        SendWindow(i64::from(size))
    }

    /// Bytes we may send now (0 when the window is negative).
    pub fn available(&self) -> usize {
        self.0.max(0) as usize
    }

    pub fn spend(&mut self, n: usize) {
        debug_assert!(n as i64 <= self.0, "spent {n} of a window of {}", self.0);
        self.0 -= n as i64;
    }

    /// Adds an increment (or, for a SETTINGS change, a signed delta).
    pub fn adjust(&mut self, delta: i64) -> Result<(), Overflow> {
        let next = self.0 + delta;
        if next > MAX_WINDOW {
            return Err(Overflow);
        }
        self.0 = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receive_window_hands_back_at_half() {
        let mut w = RecvWindow::new(100);
        assert_eq!(w.charge(40), Ok(()));
        assert_eq!(w.release(100), None);
        assert_eq!(w.charge(10), Ok(()));
        assert_eq!(w.release(100), Some(50));
        assert_eq!(w.charge(100), Ok(()));
        assert_eq!(w.charge(1), Err(Overrun));
        assert_eq!(w.release(100), Some(100));
        let mut c = RecvWindow::new(65_535);
        assert_eq!(c.grow_to(1 << 20), Some((1 << 20) - 65_535));
        assert_eq!(c.grow_to(1 << 20), None);
    }

    #[test]
    fn send_window_may_go_negative_but_not_past_the_maximum() {
        let mut w = SendWindow::new(10);
        w.spend(10);
        assert_eq!(w.adjust(-5), Ok(()));
        assert_eq!(w.available(), 0);
        assert_eq!(w.adjust(MAX_WINDOW + 5), Ok(()));
        assert_eq!(w.adjust(1), Err(Overflow));
        assert_eq!(w.available(), MAX_WINDOW as usize);
    }
}
