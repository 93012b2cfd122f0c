//! Rooms state: each resource's rooms, their validity windows and participants.
//!
//! Invariants:
//! - One mutex guards the rooms, the id index and the repeatability records, so a create with a
//!   `Repeatability-Request-ID` seen before finds the first room (never makes a second), even
//!   when both race.
//! - At most `limits.rooms` rooms (`--max-rooms`) and `limits.participants_per_room`
//!   participants in one room (`--max-room-participants`); a write that would pass either is
//!   refused whole ([`RoomsError::Full`], [`RoomsError::ParticipantsFull`]).
//! - A room's window is checked on every write ([`check_window`]): `validUntil` after
//!   `validFrom`, at most [`MAX_WINDOW_DAYS`] apart, not in the past, `validFrom` at most
//!   [`MAX_WINDOW_DAYS`] ahead.
//! - Every write publishes its change record ([`RoomsChange`]) to the sink it is given, under
//!   the lock, once it can no longer fail.
//!
//! Rooms are listed in creation order; a page's cursor is the last room's sequence number, so
//! deleting rooms between pages neither repeats nor skips any.
//!
//! No actix, no serde_json.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, TimeDelta, Timelike, Utc};

use super::changes::{Area, Change, Sink};
use crate::domain::CommunicationUserId;

/// The longest validity window, and how far ahead a window may start: 180 days.
pub const MAX_WINDOW_DAYS: i64 = 180;

/// The shortest and longest room id (decimal digits). Real ids have 16 to 18 digits.
pub const ROOM_ID_LENGTH: std::ops::RangeInclusive<usize> = 16..=19;

/// A participant's role in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoomRole {
    /// `Presenter`.
    Presenter,
    /// `Attendee` (the default).
    Attendee,
    /// `Consumer`.
    Consumer,
    /// `Collaborator` (api-version 2025-03-13 on).
    Collaborator,
}

impl RoomRole {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RoomRole::Presenter => "Presenter",
            RoomRole::Attendee => "Attendee",
            RoomRole::Consumer => "Consumer",
            RoomRole::Collaborator => "Collaborator",
        }
    }

    /// The role a wire name names, in any case.
    pub fn parse(raw: &str) -> Option<Self> {
        [
            RoomRole::Presenter,
            RoomRole::Attendee,
            RoomRole::Consumer,
            RoomRole::Collaborator,
        ]
        .into_iter()
        .find(|r| r.as_str().eq_ignore_ascii_case(raw))
    }
}

/// One room as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    /// Its id: decimal digits.
    pub id: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it opens.
    pub valid_from: DateTime<Utc>,
    /// When it closes.
    pub valid_until: DateTime<Utc>,
    /// Whether participants may dial out to phone numbers.
    pub pstn_dial_out_enabled: bool,
    /// Its participants, in the order they were added.
    pub participants: Vec<(CommunicationUserId, RoomRole)>,
}

/// A room to create: its window is already defaulted.
#[derive(Debug, Clone)]
pub struct NewRoom {
    /// When it opens.
    pub valid_from: DateTime<Utc>,
    /// When it closes.
    pub valid_until: DateTime<Utc>,
    /// Whether participants may dial out.
    pub pstn_dial_out_enabled: bool,
    /// Its participants (a raw id given twice keeps the last role).
    pub participants: Vec<(CommunicationUserId, RoomRole)>,
}

/// A merge-patch of a room: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct RoomUpdate {
    /// New `validFrom`.
    pub valid_from: Option<DateTime<Utc>>,
    /// New `validUntil`.
    pub valid_until: Option<DateTime<Utc>>,
    /// New `pstnDialOutEnabled`.
    pub pstn_dial_out_enabled: Option<bool>,
}

/// The caps of one resource's rooms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomLimits {
    /// Rooms (`--max-rooms`).
    pub rooms: usize,
    /// Participants in one room (`--max-room-participants`).
    pub participants_per_room: usize,
}

impl Default for RoomLimits {
    fn default() -> Self {
        Self {
            rooms: usize::MAX,
            participants_per_room: usize::MAX,
        }
    }
}

/// Why a rooms operation failed; `error::from` decides how the API answers each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomsError {
    /// 400: a room id of the wrong length.
    #[error("Invalid room ID length.")]
    InvalidIdLength,
    /// 400: a room id that is not all digits.
    #[error("Invalid room ID.")]
    InvalidId,
    /// 404: no such room (never created, or deleted).
    #[error("The server cannot find the requested resource.")]
    NotFound,
    /// 400 (`ValidUntil`): the window ends before it starts or is longer than 180 days.
    #[error("The time range is incorrect, or larger than 180 days.")]
    TimeRange,
    /// 400 (`ValidUntil`): the window ends in the past.
    #[error("The time range end is in the past.")]
    EndInPast,
    /// 400 (`ValidFrom`): the window starts more than 180 days ahead.
    #[error("The time range start is more than 180 days in the future.")]
    StartTooFar,
    /// 403: the resource holds `--max-rooms` rooms.
    #[error(
        "The emulator holds its limit of {0} rooms for this resource (--max-rooms); delete some or POST /_emulator/reset."
    )]
    Full(usize),
    /// A fixture's room id is taken already.
    #[error("The room {0} exists already.")]
    Taken(String),
    /// 403: the room would hold more than `--max-room-participants` participants.
    #[error("A room holds at most {0} participants (--max-room-participants).")]
    ParticipantsFull(usize),
}

impl RoomsError {
    /// The request field a window error is about (`ValidUntil`, `ValidFrom`), as the real
    /// service names it.
    pub fn target(&self) -> Option<&'static str> {
        match self {
            RoomsError::TimeRange | RoomsError::EndInPast => Some("ValidUntil"),
            RoomsError::StartTooFar => Some("ValidFrom"),
            _ => None,
        }
    }
}

/// A room write, as listeners (live views) see it.
#[derive(Debug, Clone)]
pub enum RoomsChange {
    /// A room was created (as it is now), with the create request's
    /// `Repeatability-Request-ID` if it had one (so the record can be kept).
    Created {
        /// The room.
        room: Room,
        /// The request's repeatability id.
        repeat: Option<String>,
    },
    /// A room's properties or participants changed (as it is now).
    Updated(Room),
    /// A room was deleted.
    Deleted {
        /// Its id.
        id: String,
    },
}

/// Checks a room id's format: its length, then its digits.
pub fn check_room_id(raw: &str) -> Result<(), RoomsError> {
    if !ROOM_ID_LENGTH.contains(&raw.len()) {
        return Err(RoomsError::InvalidIdLength);
    }
    if !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RoomsError::InvalidId);
    }
    Ok(())
}

/// Checks a validity window at `now` (see the module docs).
pub fn check_window(
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), RoomsError> {
    let max = TimeDelta::days(MAX_WINDOW_DAYS);
    if until < now {
        return Err(RoomsError::EndInPast);
    }
    if until <= from || until.signed_duration_since(from) > max {
        return Err(RoomsError::TimeRange);
    }
    if from.signed_duration_since(now) > max {
        return Err(RoomsError::StartTooFar);
    }
    Ok(())
}

/// The default `validUntil` for a window opening at `from`: 180 days later.
pub fn default_valid_until(from: DateTime<Utc>) -> DateTime<Utc> {
    from.checked_add_signed(TimeDelta::days(MAX_WINDOW_DAYS))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A time kept at the real service's precision (100 ns).
pub fn at_service_precision(t: DateTime<Utc>) -> DateTime<Utc> {
    let nanos = t.nanosecond();
    t.with_nanosecond(nanos - nanos % 100).unwrap_or(t)
}

/// A page of rooms.
#[derive(Debug)]
pub struct RoomsPage {
    /// The rooms, in creation order.
    pub rooms: Vec<Room>,
    /// The cursor of the next page, if there are more rooms.
    pub next: Option<u64>,
}

#[derive(Default)]
struct Inner {
    /// By sequence number (creation order).
    rooms: BTreeMap<u64, Room>,
    /// Room id → sequence number.
    by_id: HashMap<String, u64>,
    next_seq: u64,
    /// `Repeatability-Request-ID` → room id, oldest first for eviction.
    repeats: HashMap<String, String>,
    repeat_order: VecDeque<String>,
}

/// One resource's rooms.
#[derive(Default)]
pub struct RoomsStore {
    inner: Mutex<Inner>,
    limits: RoomLimits,
}

/// What a create did.
#[derive(Debug)]
pub struct Created {
    /// The room (for a repeated request, the first request's, as it is now).
    pub room: Room,
    /// False when the `Repeatability-Request-ID` was seen before.
    pub fresh: bool,
}

impl RoomsStore {
    /// An empty store with these caps.
    pub fn with_limits(limits: RoomLimits) -> Self {
        Self {
            inner: Mutex::default(),
            limits,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn check_participants(&self, n: usize) -> Result<(), RoomsError> {
        if n > self.limits.participants_per_room {
            return Err(RoomsError::ParticipantsFull(
                self.limits.participants_per_room,
            ));
        }
        Ok(())
    }

    /// Creates a room with an id made from `seed` (17 digits; the next free one if taken).
    /// With a `repeat` id seen before, returns that request's room instead and changes nothing.
    /// The window is the caller's to check ([`check_window`]).
    pub fn create(
        &self,
        new: NewRoom,
        seed: u128,
        repeat: Option<String>,
        now: DateTime<Utc>,
        sink: Sink<'_>,
    ) -> Result<Created, RoomsError> {
        let mut inner = self.lock();
        if let Some(id) = repeat.as_ref().and_then(|r| inner.repeats.get(r))
            && let Some(room) = inner.by_id.get(id).and_then(|seq| inner.rooms.get(seq))
        {
            return Ok(Created {
                room: room.clone(),
                fresh: false,
            });
        }
        if inner.rooms.len() >= self.limits.rooms {
            return Err(RoomsError::Full(self.limits.rooms));
        }
        let mut participants: Vec<(CommunicationUserId, RoomRole)> = Vec::new();
        for (user, role) in new.participants {
            upsert(&mut participants, user, role);
        }
        self.check_participants(participants.len())?;
        const BASE: u128 = 10_000_000_000_000_000; // 17 digits
        let mut n = BASE + seed % (9 * BASE);
        let id = loop {
            let id = n.to_string();
            if !inner.by_id.contains_key(&id) {
                break id;
            }
            n = if n + 1 >= 10 * BASE { BASE } else { n + 1 };
        };
        let room = Room {
            id: id.clone(),
            created_at: now,
            valid_from: new.valid_from,
            valid_until: new.valid_until,
            pstn_dial_out_enabled: new.pstn_dial_out_enabled,
            participants,
        };
        let seq = inner.next_seq;
        inner.next_seq += 1;
        inner.by_id.insert(id.clone(), seq);
        inner.rooms.insert(seq, room.clone());
        if let Some(repeat) = &repeat {
            self.remember(&mut inner, repeat.clone(), id);
        }
        sink.publish(Area::Rooms, || {
            Change::Rooms(RoomsChange::Created {
                room: room.clone(),
                repeat: repeat.clone(),
            })
        });
        Ok(Created { room, fresh: true })
    }

    /// Keeps a `Repeatability-Request-ID` → room id record: as many records as rooms may
    /// exist; the oldest go first.
    fn remember(&self, inner: &mut Inner, repeat: String, id: String) {
        inner.repeats.insert(repeat.clone(), id);
        inner.repeat_order.push_back(repeat);
        while inner.repeat_order.len() > self.limits.rooms {
            if let Some(old) = inner.repeat_order.pop_front() {
                inner.repeats.remove(&old);
            }
        }
    }

    /// Puts a kept room back (the `--state-dir` replay at start-up), publishing nothing and
    /// refused by no cap: `Some(room)` replaces the room with its id where it is (a fixture's)
    /// or is appended after the others; `None` (a room deleted since) removes the room `id` if
    /// there is one. `repeat` brings back the create request's repeatability record. Returns
    /// whether a room was put back or removed.
    pub fn restore(&self, id: &str, room: Option<Room>, repeat: Option<String>) -> bool {
        let mut inner = self.lock();
        let existing = inner.by_id.get(id).copied();
        let changed = match (room, existing) {
            (Some(room), Some(seq)) => {
                inner.rooms.insert(seq, room);
                true
            }
            (Some(room), None) => {
                let seq = inner.next_seq;
                inner.next_seq += 1;
                inner.by_id.insert(id.to_string(), seq);
                inner.rooms.insert(seq, room);
                true
            }
            (None, Some(seq)) => {
                inner.by_id.remove(id);
                inner.rooms.remove(&seq);
                true
            }
            (None, None) => false,
        };
        if let Some(repeat) = repeat
            && inner.by_id.contains_key(id)
        {
            self.remember(&mut inner, repeat, id.to_string());
        }
        changed
    }

    /// Stores `room` as it is (fixtures): refused if its id is taken or a cap would be passed.
    /// Publishes nothing.
    pub fn insert(&self, room: Room) -> Result<(), RoomsError> {
        let mut inner = self.lock();
        if inner.by_id.contains_key(&room.id) {
            return Err(RoomsError::Taken(room.id));
        }
        if inner.rooms.len() >= self.limits.rooms {
            return Err(RoomsError::Full(self.limits.rooms));
        }
        self.check_participants(room.participants.len())?;
        let seq = inner.next_seq;
        inner.next_seq += 1;
        inner.by_id.insert(room.id.clone(), seq);
        inner.rooms.insert(seq, room);
        Ok(())
    }

    /// The room `id`.
    pub fn get(&self, id: &str) -> Result<Room, RoomsError> {
        let inner = self.lock();
        inner
            .by_id
            .get(id)
            .and_then(|seq| inner.rooms.get(seq))
            .cloned()
            .ok_or(RoomsError::NotFound)
    }

    /// Up to `size` rooms created after the room with sequence number `after` (from the
    /// first when `None`).
    pub fn page(&self, after: Option<u64>, size: usize) -> RoomsPage {
        let inner = self.lock();
        let start = after.map_or(0, |a| a.saturating_add(1));
        let mut iter = inner.rooms.range(start..);
        let mut rooms = Vec::new();
        let mut last = None;
        for (seq, room) in iter.by_ref().take(size.max(1)) {
            rooms.push(room.clone());
            last = Some(*seq);
        }
        let next = if iter.next().is_some() { last } else { None };
        RoomsPage { rooms, next }
    }

    /// Merges `update` into the room `id` and checks the resulting window at `now`.
    pub fn update(
        &self,
        id: &str,
        update: RoomUpdate,
        now: DateTime<Utc>,
        sink: Sink<'_>,
    ) -> Result<Room, RoomsError> {
        let mut inner = self.lock();
        let seq = *inner.by_id.get(id).ok_or(RoomsError::NotFound)?;
        let room = inner.rooms.get_mut(&seq).ok_or(RoomsError::NotFound)?;
        let from = update.valid_from.unwrap_or(room.valid_from);
        let until = update.valid_until.unwrap_or(room.valid_until);
        if update.valid_from.is_some() || update.valid_until.is_some() {
            check_window(from, until, now)?;
        }
        room.valid_from = from;
        room.valid_until = until;
        if let Some(pstn) = update.pstn_dial_out_enabled {
            room.pstn_dial_out_enabled = pstn;
        }
        let room = room.clone();
        sink.publish(Area::Rooms, || {
            Change::Rooms(RoomsChange::Updated(room.clone()))
        });
        Ok(room)
    }

    /// Deletes the room `id`; false when there was none (not an error: deleting is idempotent).
    pub fn delete(&self, id: &str, sink: Sink<'_>) -> bool {
        let mut inner = self.lock();
        let Some(seq) = inner.by_id.remove(id) else {
            return false;
        };
        inner.rooms.remove(&seq);
        sink.publish(Area::Rooms, || {
            Change::Rooms(RoomsChange::Deleted { id: id.to_string() })
        });
        true
    }

    /// Adds, updates (`Some(role)`) or removes (`None`) participants of the room `id`, all or
    /// nothing. Removing one who is not there changes nothing.
    pub fn update_participants(
        &self,
        id: &str,
        changes: Vec<(CommunicationUserId, Option<RoomRole>)>,
        sink: Sink<'_>,
    ) -> Result<Room, RoomsError> {
        let mut inner = self.lock();
        let seq = *inner.by_id.get(id).ok_or(RoomsError::NotFound)?;
        let room = inner.rooms.get_mut(&seq).ok_or(RoomsError::NotFound)?;
        let mut participants = room.participants.clone();
        for (user, role) in changes {
            match role {
                Some(role) => upsert(&mut participants, user, role),
                None => participants.retain(|(u, _)| *u != user),
            }
        }
        self.check_participants(participants.len())?;
        room.participants = participants;
        let room = room.clone();
        sink.publish(Area::Rooms, || {
            Change::Rooms(RoomsChange::Updated(room.clone()))
        });
        Ok(room)
    }

    /// How many rooms there are.
    pub fn len(&self) -> usize {
        self.lock().rooms.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every room and repeatability record.
    pub fn clear(&self) {
        *self.lock() = Inner::default();
    }
}

fn upsert(
    participants: &mut Vec<(CommunicationUserId, RoomRole)>,
    user: CommunicationUserId,
    role: RoomRole,
) {
    match participants.iter_mut().find(|(u, _)| *u == user) {
        Some(entry) => entry.1 = role,
        None => participants.push((user, role)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").to_utc()
    }

    fn user(n: u8) -> CommunicationUserId {
        CommunicationUserId::parse(&format!(
            "8:acs:acacacac-0000-4000-8000-000000000001_0000000{n}-0000-4000-8000-000000000000"
        ))
        .expect("user")
    }

    fn new_room(participants: Vec<(CommunicationUserId, RoomRole)>) -> NewRoom {
        let from = t("2030-01-01T00:00:00Z");
        NewRoom {
            valid_from: from,
            valid_until: default_valid_until(from),
            pstn_dial_out_enabled: false,
            participants,
        }
    }

    #[test]
    fn room_ids_are_checked_for_length_then_digits() {
        assert_eq!(check_room_id("123"), Err(RoomsError::InvalidIdLength));
        assert_eq!(
            check_room_id("invalid_id"),
            Err(RoomsError::InvalidIdLength)
        );
        assert_eq!(
            check_room_id("non-existingroomId"),
            Err(RoomsError::InvalidId)
        );
        assert_eq!(check_room_id("99460161060023207"), Ok(()));
    }

    #[test]
    fn windows_are_at_most_180_days_and_not_over() {
        let now = t("2030-01-01T00:00:00Z");
        let from = now;
        assert_eq!(check_window(from, default_valid_until(from), now), Ok(()));
        assert_eq!(
            check_window(from, default_valid_until(from) + TimeDelta::seconds(1), now),
            Err(RoomsError::TimeRange)
        );
        assert_eq!(check_window(from, from, now), Err(RoomsError::TimeRange));
        assert_eq!(
            check_window(from - TimeDelta::days(2), now - TimeDelta::days(1), now),
            Err(RoomsError::EndInPast)
        );
        let far = now + TimeDelta::days(181);
        assert_eq!(
            check_window(far, far + TimeDelta::days(1), now),
            Err(RoomsError::StartTooFar)
        );
    }

    #[test]
    fn repeated_creates_return_the_first_room_and_caps_hold() {
        let store = RoomsStore::with_limits(RoomLimits {
            rooms: 2,
            participants_per_room: 1,
        });
        let now = t("2030-01-01T00:00:00Z");
        let a = store
            .create(new_room(vec![]), 7, Some("r".into()), now, Sink::NONE)
            .expect("create");
        assert!(a.fresh);
        assert_eq!(a.room.id.len(), 17);
        let again = store
            .create(new_room(vec![]), 8, Some("r".into()), now, Sink::NONE)
            .expect("repeat");
        assert!(!again.fresh);
        assert_eq!(again.room.id, a.room.id);
        assert_eq!(
            store
                .create(
                    new_room(vec![
                        (user(1), RoomRole::Attendee),
                        (user(2), RoomRole::Attendee)
                    ]),
                    9,
                    None,
                    now,
                    Sink::NONE
                )
                .map(|c| c.fresh),
            Err(RoomsError::ParticipantsFull(1))
        );
        // The same seed gives another id when the first is taken.
        let b = store
            .create(new_room(vec![]), 7, None, now, Sink::NONE)
            .expect("create");
        assert_ne!(b.room.id, a.room.id);
        assert_eq!(
            store
                .create(new_room(vec![]), 1, None, now, Sink::NONE)
                .map(|c| c.fresh),
            Err(RoomsError::Full(2))
        );
    }

    #[test]
    fn pages_follow_creation_order_across_deletes() {
        let store = RoomsStore::default();
        let now = t("2030-01-01T00:00:00Z");
        let ids: Vec<String> = (0..5)
            .map(|n| {
                store
                    .create(new_room(vec![]), n, None, now, Sink::NONE)
                    .expect("create")
                    .room
                    .id
            })
            .collect();
        let first = store.page(None, 2);
        assert_eq!(first.rooms.len(), 2);
        assert!(store.delete(&ids[2], Sink::NONE));
        assert!(!store.delete(&ids[2], Sink::NONE));
        let second = store.page(first.next, 2);
        let got: Vec<&str> = second.rooms.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(got, [ids[3].as_str(), ids[4].as_str()]);
        assert_eq!(second.next, None);
    }

    #[test]
    fn participants_merge_per_user() {
        let store = RoomsStore::default();
        let now = t("2030-01-01T00:00:00Z");
        let id = store
            .create(
                new_room(vec![(user(1), RoomRole::Presenter)]),
                1,
                None,
                now,
                Sink::NONE,
            )
            .expect("create")
            .room
            .id;
        let room = store
            .update_participants(
                &id,
                vec![
                    (user(2), Some(RoomRole::Consumer)),
                    (user(1), None),
                    (user(3), None),
                ],
                Sink::NONE,
            )
            .expect("update");
        assert_eq!(room.participants, vec![(user(2), RoomRole::Consumer)]);
        assert_eq!(
            store.update_participants("1", vec![], Sink::NONE),
            Err(RoomsError::NotFound)
        );
    }

    #[test]
    fn times_keep_100_nanoseconds() {
        let t = t("2030-01-01T00:00:00.123456789Z");
        assert_eq!(at_service_precision(t).nanosecond(), 123_456_700);
    }
}
