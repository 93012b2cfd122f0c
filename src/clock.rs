//! The emulator's clock.
//!
//! Everything that depends on time (x-ms-date skew, token `iat`/`exp`, expiry checks, message
//! timestamps) reads [`Clock::now`], never the system time directly, so that tests and scripted
//! scenarios can control time. The clock is the system time plus an adjustable offset; it can
//! also be frozen at an instant.
//!
//! The clock only ever shows instants from [`EARLIEST`] (1970-01-01T00:00:00Z) to [`LATEST`]
//! (9998-12-31T23:59:59.999Z): every consumer can format those (HTTP dates stop at 1970 and at
//! year 9999, RFC 3339 at year 9999), and a year is left for the times computed from the clock
//! (token expiry, delivery-report times). Moving it outside that range is refused
//! ([`ClockError`]); a running clock that reaches [`LATEST`] stays there. Times computed from the
//! clock go through [`saturating_add`], which stops at [`LAST_FORMATTABLE`] instead of
//! overflowing.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use chrono::{DateTime, TimeDelta, Utc};

/// The earliest instant the clock shows: 1970-01-01T00:00:00Z.
pub const EARLIEST: DateTime<Utc> = DateTime::UNIX_EPOCH;
/// The latest instant the clock shows: 9998-12-31T23:59:59.999Z.
pub const LATEST: DateTime<Utc> = at_millis(LATEST_MS);
/// The latest instant every consumer can format (9999-12-31T23:59:59Z): times computed from the
/// clock stop here.
pub const LAST_FORMATTABLE: DateTime<Utc> = at_millis(253_402_300_799_000);

const EARLIEST_MS: i64 = 0;
const LATEST_MS: i64 = 253_370_764_799_999;

const fn at_millis(ms: i64) -> DateTime<Utc> {
    match DateTime::from_timestamp_millis(ms) {
        Some(t) => t,
        None => DateTime::UNIX_EPOCH,
    }
}

/// `at + delta`, or [`LAST_FORMATTABLE`] (or [`EARLIEST`], for a negative `delta`) where that
/// would be later (earlier) or overflow: for times computed from the clock, such as a token's
/// expiry or a delivery report's due time.
pub fn saturating_add(at: DateTime<Utc>, delta: TimeDelta) -> DateTime<Utc> {
    match at.checked_add_signed(delta) {
        Some(t) => t.clamp(EARLIEST, LAST_FORMATTABLE),
        None if delta < TimeDelta::zero() => EARLIEST,
        None => LAST_FORMATTABLE,
    }
}

/// `at + d` for a `std` duration, saturating as [`saturating_add`] does.
pub fn saturating_add_std(at: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    saturating_add(at, TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX))
}

/// A change the clock refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    /// The clock would show an instant outside [`EARLIEST`]..=[`LATEST`].
    #[error(
        "the emulator's clock only shows times from 1970-01-01T00:00:00Z to 9998-12-31T23:59:59.999Z"
    )]
    OutOfRange,
}

/// What the clock was set to: its offset from the system time, or the instant it is frozen at
/// (what `--state-dir` keeps across restarts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockState {
    /// Offset from the system time, in milliseconds (a running clock).
    pub offset_ms: i64,
    /// The frozen reading in milliseconds since 1970, if frozen.
    pub frozen_at_ms: Option<i64>,
}

/// A clock that reads the system time shifted by an offset, or a frozen instant.
#[derive(Debug, Default)]
pub struct Clock {
    /// Offset from the system time, in milliseconds (may be negative).
    offset_ms: AtomicI64,
    /// When set, `now()` returns `frozen_at_ms` instead of advancing.
    frozen: AtomicBool,
    frozen_at_ms: AtomicI64,
}

/// The system time in milliseconds since 1970 (the one place that reads it).
fn system_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn in_range(ms: i64) -> bool {
    (EARLIEST_MS..=LATEST_MS).contains(&ms)
}

fn checked_ms(at: DateTime<Utc>) -> Result<i64, ClockError> {
    Some(at.timestamp_millis())
        .filter(|&ms| in_range(ms))
        .ok_or(ClockError::OutOfRange)
}

impl Clock {
    /// A clock that follows the system time.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock frozen at `at` (for tests), moved into the clock's range if outside it.
    pub fn fixed(at: DateTime<Utc>) -> Self {
        let clock = Self::default();
        clock.frozen_at_ms.store(
            at.clamp(EARLIEST, LATEST).timestamp_millis(),
            Ordering::Release,
        );
        clock.frozen.store(true, Ordering::Release);
        clock
    }

    /// The current emulated time, always within [`EARLIEST`]..=[`LATEST`].
    pub fn now(&self) -> DateTime<Utc> {
        if self.frozen.load(Ordering::Acquire) {
            return at_millis(self.now_ms());
        }
        // A running clock keeps the system time's precision (below the millisecond).
        let offset = self.offset_ms.load(Ordering::Acquire);
        let shifted = TimeDelta::try_milliseconds(offset)
            .and_then(|offset| Utc::now().checked_add_signed(offset));
        match shifted {
            Some(t) => t.clamp(EARLIEST, LATEST),
            None if offset < 0 => EARLIEST,
            None => LATEST,
        }
    }

    fn now_ms(&self) -> i64 {
        let ms = if self.frozen.load(Ordering::Acquire) {
            self.frozen_at_ms.load(Ordering::Acquire)
        } else {
            system_ms().saturating_add(self.offset_ms.load(Ordering::Acquire))
        };
        ms.clamp(EARLIEST_MS, LATEST_MS)
    }

    /// Moves the clock forward (or backward, with a negative delta); refused (the clock
    /// unchanged) when the reading would leave the clock's range. Returns the new reading.
    pub fn advance(&self, delta: TimeDelta) -> Result<DateTime<Utc>, ClockError> {
        let ms = delta.num_milliseconds();
        if self.frozen.load(Ordering::Acquire) {
            self.frozen_at_ms
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |at| {
                    at.checked_add(ms).filter(|&t| in_range(t))
                })
                .map_err(|_| ClockError::OutOfRange)?;
        } else {
            // From the reading the clock shows: a running clock held at `LATEST` moves back
            // from there, not from where the offset alone would put it.
            let system = system_ms();
            self.offset_ms
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |offset| {
                    let shown = system.saturating_add(offset).clamp(EARLIEST_MS, LATEST_MS);
                    let target = shown.checked_add(ms).filter(|&t| in_range(t))?;
                    Some(target.saturating_sub(system))
                })
                .map_err(|_| ClockError::OutOfRange)?;
        }
        Ok(self.now())
    }

    /// Stops the clock at `at`; refused (the clock unchanged) outside the clock's range.
    pub fn freeze_at(&self, at: DateTime<Utc>) -> Result<(), ClockError> {
        let ms = checked_ms(at)?;
        self.frozen_at_ms.store(ms, Ordering::Release);
        self.frozen.store(true, Ordering::Release);
        Ok(())
    }

    /// Sets the current reading to `at`; a frozen clock stays frozen there, a running one runs on
    /// from it. Refused (the clock unchanged) outside the clock's range.
    pub fn set(&self, at: DateTime<Utc>) -> Result<(), ClockError> {
        let ms = checked_ms(at)?;
        if self.frozen.load(Ordering::Acquire) {
            self.frozen_at_ms.store(ms, Ordering::Release);
        } else {
            self.offset_ms
                .store(ms.saturating_sub(system_ms()), Ordering::Release);
        }
        Ok(())
    }

    /// Its offset, or the instant it is frozen at.
    pub fn state(&self) -> ClockState {
        ClockState {
            offset_ms: self.offset_ms.load(Ordering::Acquire),
            frozen_at_ms: self
                .is_frozen()
                .then(|| self.frozen_at_ms.load(Ordering::Acquire)),
        }
    }

    /// Puts back a state [`Self::state`] gave (start-up); readings outside the clock's range are
    /// brought into it.
    pub fn restore(&self, state: ClockState) {
        self.offset_ms.store(state.offset_ms, Ordering::Release);
        match state.frozen_at_ms {
            Some(at) => {
                self.frozen_at_ms
                    .store(at.clamp(EARLIEST_MS, LATEST_MS), Ordering::Release);
                self.frozen.store(true, Ordering::Release);
            }
            None => self.frozen.store(false, Ordering::Release),
        }
    }

    /// Whether the clock is frozen.
    pub fn is_frozen(&self) -> bool {
        self.frozen.load(Ordering::Acquire)
    }

    /// How far the clock is from the system time, in milliseconds.
    pub fn offset_ms(&self) -> i64 {
        self.now_ms().saturating_sub(system_ms())
    }

    /// Lets the clock run again from its current reading, and forgets any offset when `reset` is set.
    pub fn resume(&self, reset: bool) {
        if reset {
            self.offset_ms.store(0, Ordering::Release);
        } else if self.frozen.load(Ordering::Acquire) {
            let frozen = self.frozen_at_ms.load(Ordering::Acquire);
            self.offset_ms
                .store(frozen.saturating_sub(system_ms()), Ordering::Release);
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
        clock.advance(TimeDelta::seconds(90)).expect("in range");
        assert_eq!(clock.now(), at + TimeDelta::seconds(90));
    }

    #[test]
    fn advancing_a_running_clock_shifts_it() {
        let clock = Clock::system();
        clock.advance(TimeDelta::hours(2)).expect("in range");
        let diff = clock.now() - Utc::now();
        assert!(diff > TimeDelta::minutes(119) && diff < TimeDelta::minutes(121));
    }

    #[test]
    fn setting_a_running_clock_keeps_it_running_from_the_new_reading() {
        let clock = Clock::system();
        let target = Utc::now() + TimeDelta::days(2);
        clock.set(target).expect("in range");
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

    fn ymd(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        chrono::NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .expect("valid date")
            .and_utc()
    }

    #[test]
    fn the_range_constants_are_the_documented_instants() {
        assert_eq!(EARLIEST.to_rfc3339(), "1970-01-01T00:00:00+00:00");
        assert_eq!(
            LATEST.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "9998-12-31T23:59:59.999Z"
        );
        assert_eq!(
            LAST_FORMATTABLE.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "9999-12-31T23:59:59Z"
        );
    }

    #[test]
    fn moves_outside_the_range_are_refused_and_change_nothing() {
        for clock in [Clock::system(), Clock::fixed(ymd(2030, 1, 1))] {
            let before = clock.offset_ms();
            assert_eq!(
                clock.advance(TimeDelta::days(365 * 1_000_000)),
                Err(ClockError::OutOfRange)
            );
            assert_eq!(clock.advance(TimeDelta::MAX), Err(ClockError::OutOfRange));
            assert_eq!(clock.advance(TimeDelta::MIN), Err(ClockError::OutOfRange));
            assert_eq!(
                clock.advance(TimeDelta::days(-365 * 100)),
                Err(ClockError::OutOfRange)
            );
            assert_eq!(clock.set(ymd(1969, 6, 1)), Err(ClockError::OutOfRange));
            assert_eq!(clock.set(ymd(9999, 12, 31)), Err(ClockError::OutOfRange));
            assert_eq!(
                clock.freeze_at(ymd(9999, 1, 1)),
                Err(ClockError::OutOfRange)
            );
            assert_eq!(
                clock.freeze_at(DateTime::<Utc>::MIN_UTC),
                Err(ClockError::OutOfRange)
            );
            assert!((clock.offset_ms() - before).abs() < 1000);
        }
    }

    #[test]
    fn the_ends_of_the_range_are_allowed() {
        let clock = Clock::system();
        clock.set(LATEST).expect("the last instant");
        assert!(clock.now() <= LATEST && clock.now() > LATEST - TimeDelta::seconds(5));
        assert_eq!(
            clock.advance(TimeDelta::days(2)),
            Err(ClockError::OutOfRange)
        );
        // A running clock that reaches the end stays there.
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(clock.now(), LATEST);
        // And moves back from the reading it shows.
        let back = clock.advance(TimeDelta::days(-1)).expect("in range");
        assert!(back <= LATEST - TimeDelta::days(1) + TimeDelta::seconds(1));
        clock.freeze_at(EARLIEST).expect("the first instant");
        assert_eq!(clock.now(), EARLIEST);
        assert_eq!(
            clock.advance(TimeDelta::milliseconds(-1)),
            Err(ClockError::OutOfRange)
        );
    }

    #[test]
    fn a_fixed_clock_outside_the_range_is_moved_into_it() {
        assert_eq!(Clock::fixed(DateTime::<Utc>::MIN_UTC).now(), EARLIEST);
        assert_eq!(Clock::fixed(DateTime::<Utc>::MAX_UTC).now(), LATEST);
    }

    #[test]
    fn times_computed_from_the_clock_saturate() {
        let at = ymd(2030, 1, 1);
        assert_eq!(
            saturating_add(at, TimeDelta::hours(1)),
            at + TimeDelta::hours(1)
        );
        assert_eq!(saturating_add(LATEST, TimeDelta::MAX), LAST_FORMATTABLE);
        assert_eq!(
            saturating_add(LATEST, TimeDelta::days(400)),
            LAST_FORMATTABLE
        );
        assert_eq!(saturating_add(EARLIEST, TimeDelta::MIN), EARLIEST);
        assert_eq!(
            saturating_add_std(at, std::time::Duration::MAX),
            LAST_FORMATTABLE
        );
    }
}
