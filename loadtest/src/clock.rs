//! A system-wide monotonic clock in nanoseconds.
//!
//! Worker processes and the coordinator compare timestamps taken in different
//! processes (a publish is sent by one, the wake-up is seen by another), so
//! `std::time::Instant`, which cannot cross a process boundary, is not enough.
//! `CLOCK_MONOTONIC` is shared by every process on the machine.

use rustix::time::{clock_gettime, ClockId};

/// Nanoseconds on `CLOCK_MONOTONIC`; comparable across processes.
pub fn mono_ns() -> u64 {
    let ts = clock_gettime(ClockId::Monotonic);
    // The monotonic clock starts near boot and never goes negative.
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_and_in_nanoseconds() {
        let a = mono_ns();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = mono_ns();
        assert!(b - a >= 2_000_000, "{a} {b}");
        assert!(b - a < 2_000_000_000, "{a} {b}");
    }
}
