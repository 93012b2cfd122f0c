//! Long-running operations (LROs), shared by every service that answers `202 Accepted` and a
//! status to poll: Email sends today; Phone Numbers' searches, purchases and releases can use the
//! same records.
//!
//! An [`Lro`] is planned when it starts ([`LroPlan`]: when it starts running, when it finishes,
//! and how it ends); its status is then a function of the emulator clock
//! ([`Lro::status`]), so nothing has to run in the background, and moving the clock moves every
//! operation. Scenario rules fail or delay an operation by changing its plan before it starts.
//!
//! [`LroTable`] keeps operations by id (ids compare ignoring ASCII case, so a caller's
//! `Operation-Id` in any case finds its operation), bounded, oldest evicted first. Starting an
//! operation whose id is known returns the existing one instead ([`Started::Existing`]):
//! repeatability by operation id. The table has no lock of its own: a service keeps it inside its
//! own, so that recording the operation and the service's own write are one step.
//!
//! The wire spelling of statuses differs between services (Email: `Running`, Phone Numbers:
//! `running`): [`LroStatus::as_str`] takes a [`StatusCase`]. The HTTP headers
//! (`Operation-Location`, `Location`, `retry-after`) are built in `http::lro`.
//!
//! No actix, no serde_json.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};

/// The most seconds a `retry-after` asks a client to wait: a plan far in the future (or a
/// frozen clock) still gets polled now and then.
pub const MAX_RETRY_AFTER_SECS: u64 = 30;

/// Where an operation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LroStatus {
    /// Accepted, not started.
    NotStarted,
    /// In progress.
    Running,
    /// Done.
    Succeeded,
    /// Ended with an error.
    Failed,
    /// Canceled (with an error saying why).
    Canceled,
}

/// How a service spells its statuses on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusCase {
    /// `NotStarted`, `Running`, `Succeeded`, `Failed`, `Canceled` (Email).
    Pascal,
    /// `notStarted`, `running`, `succeeded`, `failed`, `canceled` (Phone Numbers).
    LowerCamel,
}

impl LroStatus {
    /// The status in `case`.
    pub fn as_str(self, case: StatusCase) -> &'static str {
        match (self, case) {
            (LroStatus::NotStarted, StatusCase::Pascal) => "NotStarted",
            (LroStatus::Running, StatusCase::Pascal) => "Running",
            (LroStatus::Succeeded, StatusCase::Pascal) => "Succeeded",
            (LroStatus::Failed, StatusCase::Pascal) => "Failed",
            (LroStatus::Canceled, StatusCase::Pascal) => "Canceled",
            (LroStatus::NotStarted, StatusCase::LowerCamel) => "notStarted",
            (LroStatus::Running, StatusCase::LowerCamel) => "running",
            (LroStatus::Succeeded, StatusCase::LowerCamel) => "succeeded",
            (LroStatus::Failed, StatusCase::LowerCamel) => "failed",
            (LroStatus::Canceled, StatusCase::LowerCamel) => "canceled",
        }
    }

    /// Whether it is final (`Succeeded`, `Failed`, `Canceled`).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            LroStatus::Succeeded | LroStatus::Failed | LroStatus::Canceled
        )
    }
}

/// The error an operation ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LroError {
    /// `error.code`, e.g. `EmailDropped`.
    pub code: String,
    /// `error.message`.
    pub message: String,
}

/// How an operation ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LroOutcome {
    /// `Succeeded`.
    Succeeded,
    /// `Failed` with this error.
    Failed(LroError),
    /// `Canceled` with this error.
    Canceled(LroError),
}

impl LroOutcome {
    /// The final status.
    pub fn status(&self) -> LroStatus {
        match self {
            LroOutcome::Succeeded => LroStatus::Succeeded,
            LroOutcome::Failed(_) => LroStatus::Failed,
            LroOutcome::Canceled(_) => LroStatus::Canceled,
        }
    }

    /// The error, unless it succeeds.
    pub fn error(&self) -> Option<&LroError> {
        match self {
            LroOutcome::Succeeded => None,
            LroOutcome::Failed(e) | LroOutcome::Canceled(e) => Some(e),
        }
    }
}

/// An operation's course, fixed when it starts: `NotStarted` until `running_at`, `Running`
/// until `completes_at`, then `outcome`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LroPlan {
    /// When it starts running (emulator clock); the start itself for "running at once".
    pub running_at: DateTime<Utc>,
    /// When it ends (emulator clock); not before `running_at`.
    pub completes_at: DateTime<Utc>,
    /// How it ends.
    pub outcome: LroOutcome,
}

/// One operation and what the service keeps with it (`T`: nothing for Email, a result for a
/// phone number search).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lro<T> {
    /// Its id, as the client gave it (`Operation-Id`) or as the emulator generated it.
    pub id: String,
    /// When it was accepted (emulator clock).
    pub created_at: DateTime<Utc>,
    /// Its course.
    pub plan: LroPlan,
    /// The service's data.
    pub payload: T,
}

impl LroPlan {
    /// Its status at `now`.
    pub fn status(&self, now: DateTime<Utc>) -> LroStatus {
        if now >= self.completes_at {
            self.outcome.status()
        } else if now >= self.running_at {
            LroStatus::Running
        } else {
            LroStatus::NotStarted
        }
    }

    /// Its error at `now`: only once it has failed or been canceled.
    pub fn error(&self, now: DateTime<Utc>) -> Option<&LroError> {
        if self.status(now).is_terminal() {
            self.outcome.error()
        } else {
            None
        }
    }

    /// The `retry-after` at `now`, in whole seconds, while it is unfinished: the time left,
    /// rounded up, at least 1 (the Python SDK's poller treats 0 as absent and then waits 30 s;
    /// JavaScript's ignores 0 and fractions it cannot parse), at most
    /// [`MAX_RETRY_AFTER_SECS`]. `None` once it is finished.
    pub fn retry_after(&self, now: DateTime<Utc>) -> Option<u64> {
        if self.status(now).is_terminal() {
            return None;
        }
        let left_ms = u64::try_from((self.completes_at - now).num_milliseconds()).unwrap_or(0);
        let secs = left_ms.div_ceil(1000);
        Some(secs.clamp(1, MAX_RETRY_AFTER_SECS))
    }
}

impl<T> Lro<T> {
    /// Its status at `now` ([`LroPlan::status`]).
    pub fn status(&self, now: DateTime<Utc>) -> LroStatus {
        self.plan.status(now)
    }

    /// Its error at `now` ([`LroPlan::error`]).
    pub fn error(&self, now: DateTime<Utc>) -> Option<&LroError> {
        self.plan.error(now)
    }

    /// Its `retry-after` at `now` ([`LroPlan::retry_after`]).
    pub fn retry_after(&self, now: DateTime<Utc>) -> Option<u64> {
        self.plan.retry_after(now)
    }
}

/// What [`LroTable::start`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started<'a, T> {
    /// A new operation was recorded: it, as the table keeps it.
    New(&'a Lro<T>),
    /// An operation with that id exists: it, unchanged (nothing was recorded).
    Existing(&'a Lro<T>),
}

/// Operations by id, at most `max` of them (the oldest go first). Keep it inside the owning
/// service's lock.
#[derive(Debug)]
pub struct LroTable<T> {
    /// The map and the eviction order share each key.
    by_key: HashMap<Arc<str>, Lro<T>>,
    order: VecDeque<Arc<str>>,
    max: usize,
}

/// How an id is looked up: ASCII case ignored (operation ids are GUIDs, which clients write in
/// either case). The emulator's own ids are lower case already and are not copied.
fn key(id: &str) -> Cow<'_, str> {
    if id.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(id.to_ascii_lowercase())
    } else {
        Cow::Borrowed(id)
    }
}

impl<T: Clone> LroTable<T> {
    /// An empty table keeping at most `max` operations (at least one).
    pub fn new(max: usize) -> Self {
        Self {
            by_key: HashMap::new(),
            order: VecDeque::new(),
            max: max.max(1),
        }
    }

    /// Whether an operation with this id is known.
    pub fn contains(&self, id: &str) -> bool {
        self.by_key.contains_key(key(id).as_ref())
    }

    /// Records `lro`, unless its id is known: then the existing operation comes back and
    /// nothing changes. The oldest operations past the cap are forgotten.
    pub fn start(&mut self, lro: Lro<T>) -> Started<'_, T> {
        let k: Arc<str> = Arc::from(key(&lro.id));
        // The oldest go first, before the new one is in (so it is never among them).
        if !self.by_key.contains_key(&k) {
            while self.order.len() >= self.max {
                let Some(old) = self.order.pop_front() else {
                    break;
                };
                self.by_key.remove(&old);
            }
        }
        match self.by_key.entry(Arc::clone(&k)) {
            Entry::Occupied(existing) => Started::Existing(existing.into_mut()),
            Entry::Vacant(slot) => {
                self.order.push_back(k);
                Started::New(slot.insert(lro))
            }
        }
    }

    /// The operation with this id.
    pub fn get(&self, id: &str) -> Option<&Lro<T>> {
        self.by_key.get(key(id).as_ref())
    }

    /// How many operations are kept.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Forgets every operation.
    pub fn clear(&mut self) {
        self.by_key.clear();
        self.order.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + ms).expect("valid")
    }

    fn lro(id: &str, running: i64, done: i64, outcome: LroOutcome) -> Lro<()> {
        Lro {
            id: id.into(),
            created_at: at(0),
            plan: LroPlan {
                running_at: at(running),
                completes_at: at(done),
                outcome,
            },
            payload: (),
        }
    }

    #[test]
    fn the_status_follows_the_plan_on_the_clock() {
        let failed = LroOutcome::Failed(LroError {
            code: "EmailDropped".into(),
            message: "dropped".into(),
        });
        let op = lro("a", 500, 1500, failed);
        assert_eq!(op.status(at(0)), LroStatus::NotStarted);
        assert_eq!(op.status(at(500)), LroStatus::Running);
        assert!(op.error(at(1499)).is_none());
        assert_eq!(op.status(at(1500)), LroStatus::Failed);
        assert_eq!(
            op.error(at(2000)).map(|e| e.code.as_str()),
            Some("EmailDropped")
        );
        assert_eq!(LroStatus::Failed.as_str(StatusCase::Pascal), "Failed");
        assert_eq!(
            LroStatus::NotStarted.as_str(StatusCase::LowerCamel),
            "notStarted"
        );
    }

    #[test]
    fn retry_after_is_whole_seconds_between_one_and_the_cap_while_unfinished() {
        let op = lro("a", 0, 1000, LroOutcome::Succeeded);
        assert_eq!(op.retry_after(at(0)), Some(1));
        assert_eq!(op.retry_after(at(10)), Some(1));
        assert_eq!(op.retry_after(at(999)), Some(1));
        assert_eq!(op.retry_after(at(1000)), None);
        let slow = lro("b", 0, 2500, LroOutcome::Succeeded);
        assert_eq!(slow.retry_after(at(0)), Some(3));
        assert_eq!(slow.retry_after(at(1600)), Some(1));
        let far = lro("c", 0, i64::from(u32::MAX), LroOutcome::Succeeded);
        assert_eq!(far.retry_after(at(0)), Some(MAX_RETRY_AFTER_SECS));
        let end = Lro {
            plan: LroPlan {
                running_at: DateTime::<Utc>::MAX_UTC,
                completes_at: DateTime::<Utc>::MAX_UTC,
                outcome: LroOutcome::Succeeded,
            },
            ..lro("d", 0, 0, LroOutcome::Succeeded)
        };
        assert_eq!(end.retry_after(at(0)), Some(MAX_RETRY_AFTER_SECS));
        assert_eq!(
            end.retry_after(DateTime::<Utc>::MIN_UTC + TimeDelta::days(1)),
            Some(MAX_RETRY_AFTER_SECS)
        );
    }

    #[test]
    fn a_known_id_in_any_case_returns_the_existing_operation() {
        let mut table = LroTable::new(10);
        let first = lro("ABC", 0, 10, LroOutcome::Succeeded);
        assert_eq!(table.start(first.clone()), Started::New(&first));
        let again = lro("abc", 5, 50, LroOutcome::Succeeded);
        assert_eq!(table.start(again), Started::Existing(&first));
        assert_eq!(table.len(), 1);
        assert!(table.get("aBc").is_some());
    }

    #[test]
    fn the_oldest_operations_go_first() {
        let mut table = LroTable::new(2);
        for id in ["a", "b", "c"] {
            table.start(lro(id, 0, 0, LroOutcome::Succeeded));
        }
        assert!(!table.contains("a"));
        assert!(table.contains("b") && table.contains("c"));
        table.clear();
        assert!(table.is_empty());
    }
}
