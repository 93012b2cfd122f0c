//! The emulator's clock.
//!
//! Everything that depends on time (x-ms-date skew, token `iat`/`exp`, expiry checks, message
//! timestamps) reads [`Clock::now`], never the system time directly, so that tests and scripted
//! scenarios can control time. The clock is the system time plus an adjustable offset; it can
//! also be frozen at an instant.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use chrono::{DateTime, TimeDelta, Utc};

/// A clock that reads the system time shifted by an offset, or a frozen instant.
#[derive(Debug, Default)]
pub struct Clock {
    /// Offset from the system time, in milliseconds (may be negative).
    offset_ms: AtomicI64,
    /// When set, `now()` returns `frozen_at_ms` instead of advancing.
    frozen: AtomicBool,
    frozen_at_ms: AtomicI64,
}

impl Clock {
    /// A clock that follows the system time.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock frozen at `at` (for tests).
    pub fn fixed(at: DateTime<Utc>) -> Self {
        let clock = Self::default();
        clock.freeze_at(at);
        clock
    }

    /// The current emulated time.
    pub fn now(&self) -> DateTime<Utc> {
        if self.frozen.load(Ordering::Acquire) {
            let ms = self.frozen_at_ms.load(Ordering::Acquire);
            return DateTime::from_timestamp_millis(ms).unwrap_or_else(Utc::now);
        }
        let offset = TimeDelta::milliseconds(self.offset_ms.load(Ordering::Acquire));
        Utc::now() + offset
    }

    /// Moves the clock forward (or backward, with a negative delta).
    pub fn advance(&self, delta: TimeDelta) {
        let ms = delta.num_milliseconds();
        if self.frozen.load(Ordering::Acquire) {
            self.frozen_at_ms.fetch_add(ms, Ordering::AcqRel);
        } else {
            self.offset_ms.fetch_add(ms, Ordering::AcqRel);
        }
    }

    /// Stops the clock at `at`.
    pub fn freeze_at(&self, at: DateTime<Utc>) {
        self.frozen_at_ms
            .store(at.timestamp_millis(), Ordering::Release);
        self.frozen.store(true, Ordering::Release);
    }

    /// Sets the current reading to `at`; a frozen clock stays frozen there, a running one runs on
    /// from it.
    pub fn set(&self, at: DateTime<Utc>) {
        if self.frozen.load(Ordering::Acquire) {
            self.frozen_at_ms
                .store(at.timestamp_millis(), Ordering::Release);
        } else {
            self.offset_ms.store(
                at.timestamp_millis() - Utc::now().timestamp_millis(),
                Ordering::Release,
            );
        }
    }

    /// Whether the clock is frozen.
    pub fn is_frozen(&self) -> bool {
        self.frozen.load(Ordering::Acquire)
    }

    /// How far the clock is from the system time, in milliseconds.
    pub fn offset_ms(&self) -> i64 {
        (self.now() - Utc::now()).num_milliseconds()
    }

    /// Lets the clock run again from its current reading, and forgets any offset when `reset` is set.
    pub fn resume(&self, reset: bool) {
        if reset {
            self.offset_ms.store(0, Ordering::Release);
        } else if self.frozen.load(Ordering::Acquire) {
            let frozen = self.frozen_at_ms.load(Ordering::Acquire);
            self.offset_ms
                .store(frozen - Utc::now().timestamp_millis(), Ordering::Release);
        }
        self.frozen.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_does_not_move_until_advanced() {
        let at = DateTime::from_timestamp(1_800_000_000, 0).expect("valid");
        let clock = Clock::fixed(at);
        assert_eq!(clock.now(), at);
        clock.advance(TimeDelta::seconds(90));
        assert_eq!(clock.now(), at + TimeDelta::seconds(90));
    }

    #[test]
    fn advancing_a_running_clock_shifts_it() {
        let clock = Clock::system();
        clock.advance(TimeDelta::hours(2));
        let diff = clock.now() - Utc::now();
        assert!(diff > TimeDelta::minutes(119) && diff < TimeDelta::minutes(121));
    }

    #[test]
    fn setting_a_running_clock_keeps_it_running_from_the_new_reading() {
        let clock = Clock::system();
        let target = Utc::now() + TimeDelta::days(2);
        clock.set(target);
        let diff = clock.now() - target;
        assert!(diff >= TimeDelta::zero() && diff < TimeDelta::seconds(5));
        assert!(!clock.is_frozen());
        clock.resume(true);
        assert!(clock.offset_ms().abs() < 1000);
    }

    #[test]
    fn resuming_a_frozen_clock_continues_from_the_frozen_reading() {
        let clock = Clock::fixed(Utc::now() - TimeDelta::days(3));
        // The frozen reading has millisecond precision, so compare with it, not with the
        // nanosecond instant it was frozen at (that made this test fail now and then).
        let frozen = clock.now();
        clock.resume(false);
        let diff = clock.now() - frozen;
        assert!(diff >= TimeDelta::zero() && diff < TimeDelta::seconds(5));
    }
}
