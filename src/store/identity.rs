//! Identities and the bookkeeping that makes token revocation and deletion work.
//!
//! Every token issued to an identity carries a per-identity sequence number. Revoking records the
//! next sequence number: tokens below it are revoked, tokens issued later are valid. Comparing
//! sequence numbers instead of issue times keeps revocation exact even when a token is issued in
//! the same second as the revocation. Deleted identities stay as tombstones so that their tokens
//! fail with a clear reason and the id is never reused.

use chrono::{DateTime, Utc};
use dashmap::DashMap;

use super::Counter;
use super::changes::{Area, Change, Sink};
use crate::domain::CommunicationUserId;

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The identity was never created here.
    #[error("identity {0} does not exist in this resource")]
    IdentityNotFound(CommunicationUserId),
    /// The identity was deleted.
    #[error("identity {0} has been deleted")]
    IdentityDeleted(CommunicationUserId),
    /// `--max-identities` records exist, none of them a deleted one that could be dropped.
    #[error("the identity table is full ({0} identities)")]
    Full(usize),
    /// `--max-teams-extension-assignments` assignments exist and this one would be new.
    #[error("the Teams extension assignment table is full ({0} assignments)")]
    AssignmentsFull(usize),
}

/// Whether a token issued to an identity is still good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    /// Good.
    Valid,
    /// The identity's tokens were revoked after this one was issued.
    Revoked,
    /// The identity was deleted.
    IdentityDeleted,
    /// The identity is unknown here (for example after a reset).
    UnknownIdentity,
}

/// An identity's record as a write left it (its change record, and what persistence restores).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentitySnapshot {
    /// Who.
    pub id: CommunicationUserId,
    /// When it was created.
    pub created_on: DateTime<Utc>,
    /// When it was deleted.
    pub deleted_on: Option<DateTime<Utc>>,
    /// The sequence number the next issued token gets.
    pub next_token_seq: u64,
    /// Tokens with a sequence number below this are revoked.
    pub revoked_below: u64,
}

/// What an identity write changed (its change record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityChange {
    /// An identity was created, issued a token, had its tokens revoked or was deleted: its
    /// record after the write.
    Stored(IdentitySnapshot),
    /// Deleted identities forgotten to make room for new ones.
    Dropped(Vec<CommunicationUserId>),
    /// A Teams Phone extension assignment created or replaced: (tenant id, object id, it).
    AssignmentStored(String, String, TeamsExtensionAssignment),
    /// A Teams Phone extension assignment removed: (tenant id, object id).
    AssignmentRemoved(String, String),
}

#[derive(Debug, Clone)]
struct IdentityRecord {
    created_on: DateTime<Utc>,
    deleted_on: Option<DateTime<Utc>>,
    /// Sequence number the next issued token gets.
    next_token_seq: u64,
    /// Tokens with a sequence number below this are revoked.
    revoked_below: u64,
}

/// The identity table.
#[derive(Debug, Default)]
pub struct IdentityStore {
    identities: DashMap<CommunicationUserId, IdentityRecord>,
    /// Records plus room reserved by creates about to insert (see [`Counter`]).
    count: Counter,
}

fn new_record(now: DateTime<Utc>) -> IdentityRecord {
    IdentityRecord {
        created_on: now,
        deleted_on: None,
        next_token_seq: 1,
        revoked_below: 0,
    }
}

impl IdentityRecord {
    fn snapshot(&self, id: &CommunicationUserId) -> Change<'static> {
        Change::Identity(IdentityChange::Stored(IdentitySnapshot {
            id: id.clone(),
            created_on: self.created_on,
            deleted_on: self.deleted_on,
            next_token_seq: self.next_token_seq,
            revoked_below: self.revoked_below,
        }))
    }
}

impl IdentityStore {
    /// Puts back an identity as persistence kept it (start-up, before any request), whatever the
    /// cap.
    pub fn restore(&self, s: IdentitySnapshot) {
        let record = IdentityRecord {
            created_on: s.created_on,
            deleted_on: s.deleted_on,
            next_token_seq: s.next_token_seq.max(1),
            revoked_below: s.revoked_below,
        };
        self.count.try_add(1, usize::MAX);
        if self.identities.insert(s.id, record).is_some() {
            self.count.sub(1);
        }
    }

    /// Every identity with its creation and deletion times, oldest first, at most `limit`
    /// (control API).
    pub fn inspect(
        &self,
        limit: usize,
    ) -> Vec<(CommunicationUserId, DateTime<Utc>, Option<DateTime<Utc>>)> {
        let mut all: Vec<_> = self
            .identities
            .iter()
            .map(|e| (e.key().clone(), e.created_on, e.deleted_on))
            .collect();
        all.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
        all.truncate(limit);
        all
    }

    /// Records a new identity, whatever the cap (tests; the API uses [`Self::create_within`]).
    pub fn create(&self, id: CommunicationUserId, now: DateTime<Utc>) {
        self.restore(IdentitySnapshot {
            id,
            created_on: now,
            deleted_on: None,
            next_token_seq: 1,
            revoked_below: 0,
        });
    }

    /// Records a new identity unless `max` identities exist. When full, the tombstones of deleted
    /// identities are dropped first (their tokens then fail as "does not exist" instead of "has
    /// been deleted": still 401); only live identities fill the table for good.
    ///
    /// Room is reserved on a counter before the insert (one compare-and-swap), so parallel
    /// creates never pass `max`. `id` must be new (generated ids are random UUIDs).
    pub fn create_within(
        &self,
        id: CommunicationUserId,
        now: DateTime<Utc>,
        max: usize,
        sink: Sink<'_>,
    ) -> Result<(), StoreError> {
        self.insert_within(id, new_record(now), max, sink)
    }

    /// [`Self::create_within`], reserving the new identity's first token sequence number in the
    /// same insert and returning it: a reset racing the request cannot leave the identity created
    /// and its token refused (the token then fails like any token from before the reset).
    pub fn create_with_token_within(
        &self,
        id: CommunicationUserId,
        now: DateTime<Utc>,
        max: usize,
        sink: Sink<'_>,
    ) -> Result<u64, StoreError> {
        let mut record = new_record(now);
        let seq = record.next_token_seq;
        record.next_token_seq += 1;
        self.insert_within(id, record, max, sink)?;
        Ok(seq)
    }

    fn insert_within(
        &self,
        id: CommunicationUserId,
        record: IdentityRecord,
        max: usize,
        sink: Sink<'_>,
    ) -> Result<(), StoreError> {
        if !self.count.try_add(1, max) {
            self.drop_tombstones(sink);
            if !self.count.try_add(1, max) {
                return Err(StoreError::Full(max));
            }
        }
        // Published under the entry's lock, so that a token issued to the new identity at once
        // is published after it.
        match self.identities.entry(id) {
            dashmap::Entry::Occupied(mut entry) => {
                self.count.sub(1);
                entry.insert(record);
                sink.publish(Area::Identity, || entry.get().snapshot(entry.key()));
            }
            dashmap::Entry::Vacant(entry) => {
                let entry = entry.insert_entry(record);
                sink.publish(Area::Identity, || entry.get().snapshot(entry.key()));
            }
        }
        Ok(())
    }

    /// Forgets deleted identities, giving their room back.
    fn drop_tombstones(&self, sink: Sink<'_>) {
        let mut dropped = Vec::new();
        self.identities.retain(|id, r| {
            let keep = r.deleted_on.is_none();
            if !keep {
                dropped.push(id.clone());
            }
            keep
        });
        self.count.sub(dropped.len());
        if !dropped.is_empty() {
            sink.publish(Area::Identity, || {
                Change::Identity(IdentityChange::Dropped(dropped))
            });
        }
    }

    /// Applies `f` to a live identity's record, atomically.
    /// Applies `f` to a live identity's record, atomically, and publishes the record after it.
    fn with_live<T>(
        &self,
        id: &CommunicationUserId,
        sink: Sink<'_>,
        f: impl FnOnce(&mut IdentityRecord) -> T,
    ) -> Result<T, StoreError> {
        let mut record = self
            .identities
            .get_mut(id)
            .ok_or_else(|| StoreError::IdentityNotFound(id.clone()))?;
        if record.deleted_on.is_some() {
            return Err(StoreError::IdentityDeleted(id.clone()));
        }
        let out = f(&mut record);
        sink.publish(Area::Identity, || record.snapshot(id));
        Ok(out)
    }

    /// Reserves the sequence number for a new token of `id`.
    pub fn next_token_seq(
        &self,
        id: &CommunicationUserId,
        sink: Sink<'_>,
    ) -> Result<u64, StoreError> {
        self.with_live(id, sink, |r| {
            let seq = r.next_token_seq;
            r.next_token_seq += 1;
            seq
        })
    }

    /// Revokes every token issued to `id` so far.
    pub fn revoke_tokens(
        &self,
        id: &CommunicationUserId,
        sink: Sink<'_>,
    ) -> Result<(), StoreError> {
        self.with_live(id, sink, |r| r.revoked_below = r.next_token_seq)
    }

    /// Deletes `id` (its tokens stop working).
    pub fn delete(
        &self,
        id: &CommunicationUserId,
        now: DateTime<Utc>,
        sink: Sink<'_>,
    ) -> Result<(), StoreError> {
        self.with_live(id, sink, |r| r.deleted_on = Some(now))
    }

    /// Whether token number `seq` of `id` is still good.
    pub fn token_status(&self, id: &CommunicationUserId, seq: u64) -> TokenStatus {
        match self.identities.get(id) {
            None => TokenStatus::UnknownIdentity,
            Some(r) if r.deleted_on.is_some() => TokenStatus::IdentityDeleted,
            Some(r) if seq < r.revoked_below => TokenStatus::Revoked,
            Some(_) => TokenStatus::Valid,
        }
    }

    /// Whether `id` exists and is not deleted.
    pub fn is_live(&self, id: &CommunicationUserId) -> bool {
        self.identities
            .get(id)
            .is_some_and(|r| r.deleted_on.is_none())
    }

    /// When `id` was created, if it exists (deleted or not).
    pub fn created_on(&self, id: &CommunicationUserId) -> Option<DateTime<Utc>> {
        self.identities.get(id).map(|r| r.created_on)
    }

    /// Number of identities, deleted ones included.
    pub fn len(&self) -> usize {
        self.identities.len()
    }

    /// Whether there are no identities.
    pub fn is_empty(&self) -> bool {
        self.identities.is_empty()
    }

    /// Forgets every identity. The count goes down by exactly what was removed, so a create
    /// racing the reset keeps its reservation with its record.
    pub fn clear(&self) {
        let mut removed = 0;
        self.identities.retain(|_, _| {
            removed += 1;
            false
        });
        self.count.sub(removed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn new_identity(store: &IdentityStore) -> CommunicationUserId {
        let id = CommunicationUserId::generate(Uuid::new_v4());
        store.create(id.clone(), Utc::now());
        id
    }

    #[test]
    fn revoking_invalidates_earlier_tokens_only() {
        let store = IdentityStore::default();
        let id = new_identity(&store);
        let before = store.next_token_seq(&id, Sink::NONE).expect("live");
        store.revoke_tokens(&id, Sink::NONE).expect("live");
        let after = store.next_token_seq(&id, Sink::NONE).expect("live");
        assert_eq!(store.token_status(&id, before), TokenStatus::Revoked);
        assert_eq!(store.token_status(&id, after), TokenStatus::Valid);
    }

    #[test]
    fn deleted_identities_refuse_new_tokens_and_invalidate_old_ones() {
        let store = IdentityStore::default();
        let id = new_identity(&store);
        let seq = store.next_token_seq(&id, Sink::NONE).expect("live");
        store.delete(&id, Utc::now(), Sink::NONE).expect("live");
        assert_eq!(store.token_status(&id, seq), TokenStatus::IdentityDeleted);
        assert_eq!(
            store.next_token_seq(&id, Sink::NONE),
            Err(StoreError::IdentityDeleted(id.clone()))
        );
        assert_eq!(
            store.delete(&id, Utc::now(), Sink::NONE),
            Err(StoreError::IdentityDeleted(id))
        );
    }

    #[test]
    fn creating_with_a_token_reserves_its_number_in_the_same_insert() {
        let store = IdentityStore::default();
        let now = Utc::now();
        let id = CommunicationUserId::generate(Uuid::new_v4());
        let first = store
            .create_with_token_within(id.clone(), now, 1, Sink::NONE)
            .expect("room");
        assert_eq!(store.token_status(&id, first), TokenStatus::Valid);
        assert_eq!(store.next_token_seq(&id, Sink::NONE), Ok(first + 1));
        store.revoke_tokens(&id, Sink::NONE).expect("live");
        assert_eq!(store.token_status(&id, first), TokenStatus::Revoked);
        let other = CommunicationUserId::generate(Uuid::new_v4());
        assert_eq!(
            store.create_with_token_within(other, now, 1, Sink::NONE),
            Err(StoreError::Full(1))
        );
        // A reset after the create: the token fails like any token from before it.
        store.clear();
        assert_eq!(store.token_status(&id, first), TokenStatus::UnknownIdentity);
    }

    #[test]
    fn a_full_table_drops_tombstones_before_it_refuses() {
        let store = IdentityStore::default();
        let now = Utc::now();
        let a = CommunicationUserId::generate(Uuid::new_v4());
        store
            .create_within(a.clone(), now, 2, Sink::NONE)
            .expect("room");
        let b = CommunicationUserId::generate(Uuid::new_v4());
        store
            .create_within(b.clone(), now, 2, Sink::NONE)
            .expect("room");
        let c = CommunicationUserId::generate(Uuid::new_v4());
        assert_eq!(
            store.create_within(c.clone(), now, 2, Sink::NONE),
            Err(StoreError::Full(2))
        );
        store.delete(&a, now, Sink::NONE).expect("live");
        store
            .create_within(c.clone(), now, 2, Sink::NONE)
            .expect("the tombstone made room");
        assert_eq!(store.token_status(&a, 1), TokenStatus::UnknownIdentity);
        assert!(store.is_live(&b) && store.is_live(&c));
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn parallel_creates_never_pass_the_cap() {
        let store = std::sync::Arc::new(IdentityStore::default());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .filter(|_| {
                            let id = CommunicationUserId::generate(Uuid::new_v4());
                            store.create_within(id, Utc::now(), 10, Sink::NONE).is_ok()
                        })
                        .count()
                })
            })
            .collect();
        let created: usize = threads.into_iter().map(|t| t.join().expect("thread")).sum();
        assert_eq!(created, 10);
        assert_eq!(store.len(), 10);
    }

    #[test]
    fn clearing_gives_the_room_back() {
        let store = IdentityStore::default();
        for _ in 0..3 {
            let id = CommunicationUserId::generate(Uuid::new_v4());
            store
                .create_within(id, Utc::now(), 3, Sink::NONE)
                .expect("room");
        }
        store.clear();
        for _ in 0..3 {
            let id = CommunicationUserId::generate(Uuid::new_v4());
            store
                .create_within(id, Utc::now(), 3, Sink::NONE)
                .expect("room after clear");
        }
    }

    #[test]
    fn unknown_identities_are_reported_as_such() {
        let store = IdentityStore::default();
        let id = CommunicationUserId::generate(Uuid::new_v4());
        assert_eq!(
            store.revoke_tokens(&id, Sink::NONE),
            Err(StoreError::IdentityNotFound(id.clone()))
        );
        assert_eq!(store.token_status(&id, 1), TokenStatus::UnknownIdentity);
    }
}

/// Who may exchange Teams Phone extension tokens (2025-06-30+ `teamsExtension` assignments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamsExtensionAssignment {
    /// `resourceAccount` or `user`.
    pub principal_type: String,
    /// Entra application (client) ids.
    pub client_ids: Option<Vec<String>>,
}

/// The Teams Phone extension assignment table, keyed by (tenant id, object id).
///
/// At most `--max-teams-extension-assignments` assignments; creating one more is refused
/// ([`StoreError::AssignmentsFull`]) rather than evicting an old one, which would silently make a
/// user's token exchange fail with 403. Replacing an existing assignment always works.
#[derive(Debug)]
pub struct AssignmentStore {
    assignments: DashMap<(String, String), TeamsExtensionAssignment>,
    count: Counter,
    max: usize,
}

impl Default for AssignmentStore {
    fn default() -> Self {
        Self::with_limit(usize::MAX)
    }
}

impl AssignmentStore {
    /// An empty table holding at most `max` assignments.
    pub fn with_limit(max: usize) -> Self {
        Self {
            assignments: DashMap::new(),
            count: Counter::default(),
            max,
        }
    }

    /// The assignment of `object_id` in `tenant_id`.
    pub fn get(&self, tenant_id: &str, object_id: &str) -> Option<TeamsExtensionAssignment> {
        self.assignments
            .get(&(tenant_id.to_string(), object_id.to_string()))
            .map(|a| a.clone())
    }

    /// Creates or replaces an assignment; true when it was created. A new one is refused when
    /// the table is full.
    /// Publishes [`IdentityChange::AssignmentStored`] to `sink`, under the entry's lock.
    pub fn upsert(
        &self,
        tenant_id: &str,
        object_id: &str,
        assignment: TeamsExtensionAssignment,
        sink: Sink<'_>,
    ) -> Result<bool, StoreError> {
        let publish = |assignment: &TeamsExtensionAssignment| {
            sink.publish(Area::Identity, || {
                Change::Identity(IdentityChange::AssignmentStored(
                    tenant_id.to_string(),
                    object_id.to_string(),
                    assignment.clone(),
                ))
            });
        };
        match self
            .assignments
            .entry((tenant_id.to_string(), object_id.to_string()))
        {
            dashmap::Entry::Occupied(mut existing) => {
                existing.insert(assignment);
                publish(existing.get());
                Ok(false)
            }
            dashmap::Entry::Vacant(slot) => {
                if !self.count.try_add(1, self.max) {
                    return Err(StoreError::AssignmentsFull(self.max));
                }
                let entry = slot.insert_entry(assignment);
                publish(entry.get());
                Ok(true)
            }
        }
    }

    /// Puts back an assignment persistence kept (start-up), whatever the cap.
    pub fn restore(
        &self,
        tenant_id: String,
        object_id: String,
        assignment: TeamsExtensionAssignment,
    ) {
        if self
            .assignments
            .insert((tenant_id, object_id), assignment)
            .is_none()
        {
            self.count.try_add(1, usize::MAX);
        }
    }

    /// Removes an assignment; true when there was one (then published to `sink` as
    /// [`IdentityChange::AssignmentRemoved`], under the entry's lock).
    pub fn delete(&self, tenant_id: &str, object_id: &str, sink: Sink<'_>) -> bool {
        let key = (tenant_id.to_string(), object_id.to_string());
        let dashmap::Entry::Occupied(entry) = self.assignments.entry(key) else {
            return false;
        };
        sink.publish(Area::Identity, || {
            Change::Identity(IdentityChange::AssignmentRemoved(
                tenant_id.to_string(),
                object_id.to_string(),
            ))
        });
        entry.remove();
        self.count.sub(1);
        true
    }

    /// Number of assignments.
    pub fn len(&self) -> usize {
        self.assignments.len()
    }

    /// Whether there are no assignments.
    pub fn is_empty(&self) -> bool {
        self.assignments.is_empty()
    }

    /// Forgets every assignment, giving back exactly the room of those removed.
    pub fn clear(&self) {
        let mut removed = 0;
        self.assignments.retain(|_, _| {
            removed += 1;
            false
        });
        self.count.sub(removed);
    }
}

#[cfg(test)]
mod assignment_tests {
    use super::*;

    fn assignment() -> TeamsExtensionAssignment {
        TeamsExtensionAssignment {
            principal_type: "user".into(),
            client_ids: None,
        }
    }

    #[test]
    fn a_full_table_refuses_new_assignments_but_replaces_existing_ones() {
        let store = AssignmentStore::with_limit(2);
        assert_eq!(store.upsert("t", "a", assignment(), Sink::NONE), Ok(true));
        assert_eq!(store.upsert("t", "b", assignment(), Sink::NONE), Ok(true));
        assert_eq!(
            store.upsert("t", "c", assignment(), Sink::NONE),
            Err(StoreError::AssignmentsFull(2))
        );
        assert_eq!(store.upsert("t", "a", assignment(), Sink::NONE), Ok(false));
        assert!(store.delete("t", "a", Sink::NONE));
        assert_eq!(store.upsert("t", "c", assignment(), Sink::NONE), Ok(true));
        assert_eq!(store.len(), 2);
        store.clear();
        assert_eq!(store.upsert("t", "d", assignment(), Sink::NONE), Ok(true));
        assert_eq!(store.upsert("t", "e", assignment(), Sink::NONE), Ok(true));
    }

    #[test]
    fn parallel_creates_never_pass_the_cap() {
        let store = std::sync::Arc::new(AssignmentStore::with_limit(10));
        let threads: Vec<_> = (0..8)
            .map(|n| {
                let store = store.clone();
                std::thread::spawn(move || {
                    (0..20)
                        .filter(|i| {
                            store
                                .upsert("t", &format!("{n}-{i}"), assignment(), Sink::NONE)
                                .is_ok()
                        })
                        .count()
                })
            })
            .collect();
        let created: usize = threads.into_iter().map(|t| t.join().expect("thread")).sum();
        assert_eq!(created, 10);
        assert_eq!(store.len(), 10);
    }
}
