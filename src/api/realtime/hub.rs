//! The trouter's state: allocations (`sr` → user), pending handshakes (session id → user), the
//! live sockets of each user, and the change listener that fans chat changes out to them.
//!
//! Everything is bounded (see [`Limits`]): allocations and handshakes expire and have a cap,
//! sockets are capped per user and in total.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::payload;
use crate::domain::CommunicationUserId;
use crate::store::{Area, Change, ChangeListener};

/// The trouter's bounds.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Live sockets one user may hold (a user with several tabs open has one each).
    pub sockets_per_user: usize,
    /// Live sockets in total.
    pub sockets_total: usize,
    /// Allocations (`sr` values) kept; the oldest are forgotten first.
    pub allocations: usize,
    /// How long an allocation's `sr` may be used for a handshake.
    pub allocation_ttl: Duration,
    /// Handshakes waiting for their WebSocket.
    pub pending_sessions: usize,
    /// How long a handshake waits for its WebSocket.
    pub session_ttl: Duration,
    /// The largest WebSocket frame a client may send.
    pub max_frame_bytes: usize,
    /// Frames a client may send per second (averaged over a few seconds) before it is closed.
    pub frames_per_second: u32,
    /// A socket on which the client sent nothing for this long is closed.
    pub idle_timeout: Duration,
    /// How often the trouter sends `2::`.
    pub heartbeat: Duration,
    /// Notifications queued for one socket before further ones are dropped (the client then
    /// catches up by listing messages, as after a reconnect).
    pub queue: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            sockets_per_user: 10,
            sockets_total: 1000,
            allocations: 10_000,
            allocation_ttl: Duration::from_secs(7 * 24 * 3600),
            pending_sessions: 1000,
            session_ttl: Duration::from_secs(60),
            max_frame_bytes: 64 * 1024,
            frames_per_second: 50,
            idle_timeout: Duration::from_secs(120),
            heartbeat: Duration::from_secs(25),
            queue: 256,
        }
    }
}

/// Whom an allocation or a handshake belongs to: a user of one emulated resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner {
    /// The resource's name.
    pub resource: String,
    /// The user.
    pub user: CommunicationUserId,
}

/// What the fan-out hands a socket.
#[derive(Debug)]
pub enum Outbound {
    /// A notification: its event id and name, and the payload's JSON.
    Event {
        /// The SDK's event name.
        event: &'static str,
        /// The payload.
        body: String,
        /// Deliver it this much later (a scenario rule's delay).
        delay: Duration,
    },
    /// Close the socket (a scenario rule, a reset).
    Close,
}

/// A live socket, as the hub keeps it.
struct Socket {
    id: u64,
    tx: mpsc::Sender<Outbound>,
    info: Arc<SocketInfo>,
}

/// What the inspector sees of a socket.
#[derive(Debug)]
pub struct SocketInfo {
    /// The socket's id (in this process).
    pub id: u64,
    /// The resource.
    pub resource: String,
    /// The user's raw id.
    pub user: String,
    /// The page's origin, when the WebSocket sent one.
    pub origin: Option<String>,
    /// When it connected.
    pub connected_at: DateTime<Utc>,
    /// Notifications sent on it.
    pub sent: AtomicU64,
    /// Notifications the client answered with 200.
    pub acknowledged: AtomicU64,
    /// Notifications dropped (queue full, scenario rule).
    pub dropped: AtomicU64,
}

struct Timed<T> {
    value: T,
    at: Instant,
}

/// The trouter's state (app data, and a listener of the change sink).
pub struct Hub {
    limits: Limits,
    allocations: Mutex<HashMap<String, Timed<Owner>>>,
    sessions: Mutex<HashMap<String, Timed<Owner>>>,
    sockets: Mutex<HashMap<Owner, Vec<Socket>>>,
    live: AtomicUsize,
    next_id: AtomicU64,
    /// Scenario-driven behaviour applied at fan-out.
    pub faults: super::faults::Faults,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("live", &self.live.load(Ordering::Relaxed))
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A new socket: what the inspector sees, a sender to its queue (for delayed notifications)
/// and the queue.
pub type SocketParts = (
    Arc<SocketInfo>,
    mpsc::Sender<Outbound>,
    mpsc::Receiver<Outbound>,
);

/// Why a socket was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum SocketRefused {
    /// The user holds [`Limits::sockets_per_user`] sockets.
    PerUser(usize),
    /// [`Limits::sockets_total`] sockets are open.
    Total(usize),
}

/// A random token for `sr`, session ids and signatures.
pub fn random_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl Hub {
    /// A hub with `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            allocations: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            sockets: Mutex::new(HashMap::new()),
            live: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            faults: super::faults::Faults::default(),
        }
    }

    /// Its limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Who holds allocation `sr`, if it is known and not expired.
    pub fn allocation(&self, sr: &str) -> Option<Owner> {
        let map = lock(&self.allocations);
        map.get(sr)
            .filter(|t| t.at.elapsed() < self.limits.allocation_ttl)
            .map(|t| t.value.clone())
    }

    /// Records allocation `sr` for `owner`, forgetting expired ones and, when full, the oldest.
    pub fn allocate(&self, sr: String, owner: Owner) {
        let mut map = lock(&self.allocations);
        insert_bounded(
            &mut map,
            sr,
            owner,
            self.limits.allocations,
            self.limits.allocation_ttl,
        );
    }

    /// Starts a handshake for `owner`; its session id.
    pub fn begin_session(&self, owner: Owner) -> String {
        let id = random_token();
        let mut map = lock(&self.sessions);
        insert_bounded(
            &mut map,
            id.clone(),
            owner,
            self.limits.pending_sessions,
            self.limits.session_ttl,
        );
        id
    }

    /// Takes the handshake `id` (once).
    pub fn take_session(&self, id: &str) -> Option<Owner> {
        let mut map = lock(&self.sessions);
        map.remove(id)
            .filter(|t| t.at.elapsed() < self.limits.session_ttl)
            .map(|t| t.value)
    }

    /// Adds a socket for `owner`, or says why not.
    pub fn add_socket(
        &self,
        owner: &Owner,
        origin: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<SocketParts, SocketRefused> {
        let mut sockets = lock(&self.sockets);
        let total: usize = sockets.values().map(Vec::len).sum();
        if total >= self.limits.sockets_total {
            return Err(SocketRefused::Total(self.limits.sockets_total));
        }
        let list = sockets.entry(owner.clone()).or_default();
        if list.len() >= self.limits.sockets_per_user {
            return Err(SocketRefused::PerUser(self.limits.sockets_per_user));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(self.limits.queue.max(1));
        let info = Arc::new(SocketInfo {
            id,
            resource: owner.resource.clone(),
            user: owner.user.to_string(),
            origin,
            connected_at: now,
            sent: AtomicU64::new(0),
            acknowledged: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        });
        list.push(Socket {
            id,
            tx: tx.clone(),
            info: info.clone(),
        });
        self.live.fetch_add(1, Ordering::AcqRel);
        Ok((info, tx, rx))
    }

    /// Removes socket `id` of `owner`.
    pub fn remove_socket(&self, owner: &Owner, id: u64) {
        let mut sockets = lock(&self.sockets);
        if let Some(list) = sockets.get_mut(owner) {
            let before = list.len();
            list.retain(|s| s.id != id);
            if list.len() < before {
                self.live.fetch_sub(1, Ordering::AcqRel);
            }
            if list.is_empty() {
                sockets.remove(owner);
            }
        }
    }

    /// Closes every socket of `user` (any resource) or, with `None`, every socket; how many.
    pub fn close(&self, user: Option<&str>) -> usize {
        let sockets = lock(&self.sockets);
        let mut closed = 0;
        for (owner, list) in sockets.iter() {
            if user.is_some_and(|u| owner.user.to_string() != u) {
                continue;
            }
            for socket in list {
                if socket.tx.try_send(Outbound::Close).is_ok() {
                    closed += 1;
                }
            }
        }
        closed
    }

    /// The live sockets, per user, for the inspector.
    pub fn snapshot(&self) -> Vec<Arc<SocketInfo>> {
        let sockets = lock(&self.sockets);
        let mut all: Vec<Arc<SocketInfo>> = sockets
            .values()
            .flat_map(|list| list.iter().map(|s| s.info.clone()))
            .collect();
        all.sort_by_key(|s| s.id);
        all
    }

    /// Hands `change`'s notification to its recipients' sockets; never waits.
    fn fan_out(&self, resource: &str, change: &crate::store::ChatChange) {
        let Some(note) = payload::notification(change) else {
            return;
        };
        let sockets = lock(&self.sockets);
        for user in &note.recipients {
            let owner = Owner {
                resource: resource.to_string(),
                user: user.clone(),
            };
            let Some(list) = sockets.get(&owner) else {
                continue;
            };
            let body = note.body_for(user);
            for socket in list {
                let fate = self
                    .faults
                    .fate(note.event, resource, &note.thread_id, &owner.user);
                let out = match fate {
                    super::faults::Fate::Deliver(delay) => Outbound::Event {
                        event: note.event,
                        body: body.clone(),
                        delay,
                    },
                    super::faults::Fate::Drop => {
                        socket.info.dropped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    super::faults::Fate::CloseSocket => Outbound::Close,
                };
                if socket.tx.try_send(out).is_err() {
                    socket.info.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

fn insert_bounded<T>(
    map: &mut HashMap<String, Timed<T>>,
    key: String,
    value: T,
    cap: usize,
    ttl: Duration,
) {
    if map.len() >= cap {
        map.retain(|_, t| t.at.elapsed() < ttl);
    }
    if map.len() >= cap
        && let Some(oldest) = map.iter().min_by_key(|(_, t)| t.at).map(|(k, _)| k.clone())
    {
        map.remove(&oldest);
    }
    map.insert(
        key,
        Timed {
            value,
            at: Instant::now(),
        },
    );
}

/// The hub as a listener of the change sink: it wants chat changes while a socket is open.
pub struct Listener(pub Arc<Hub>);

impl ChangeListener for Listener {
    fn wants(&self, area: Area) -> bool {
        area == Area::Chat && self.0.live.load(Ordering::Acquire) > 0
    }

    fn changed(&self, resource: &str, change: &Change<'_>) {
        if let Change::Chat(change) = change {
            self.0.fan_out(resource, change);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(n: u8) -> Owner {
        Owner {
            resource: "default".into(),
            user: CommunicationUserId::parse(&format!(
                "8:acs:acacacac-0000-4000-8000-000000000001_0000000{n}-0000-0000-0000-000000000000"
            ))
            .expect("user"),
        }
    }

    #[test]
    fn sockets_are_bounded_per_user_and_in_total() {
        let hub = Hub::new(Limits {
            sockets_per_user: 2,
            sockets_total: 3,
            ..Limits::default()
        });
        let now = Utc::now();
        let a1 = hub.add_socket(&owner(1), None, now).expect("first");
        let _a2 = hub.add_socket(&owner(1), None, now).expect("second");
        assert_eq!(
            hub.add_socket(&owner(1), None, now).err(),
            Some(SocketRefused::PerUser(2))
        );
        let _b1 = hub.add_socket(&owner(2), None, now).expect("other user");
        assert_eq!(
            hub.add_socket(&owner(3), None, now).err(),
            Some(SocketRefused::Total(3))
        );
        hub.remove_socket(&owner(1), a1.0.id);
        assert!(hub.add_socket(&owner(3), None, now).is_ok());
        assert_eq!(hub.snapshot().len(), 3);
    }

    #[test]
    fn allocations_and_sessions_are_bounded() {
        let hub = Hub::new(Limits {
            allocations: 2,
            pending_sessions: 1,
            ..Limits::default()
        });
        hub.allocate("a".into(), owner(1));
        hub.allocate("b".into(), owner(2));
        hub.allocate("c".into(), owner(3));
        assert_eq!(lock(&hub.allocations).len(), 2);
        assert_eq!(hub.allocation("c"), Some(owner(3)));
        let s1 = hub.begin_session(owner(1));
        let s2 = hub.begin_session(owner(2));
        assert_eq!(hub.take_session(&s1), None);
        assert_eq!(hub.take_session(&s2), Some(owner(2)));
        assert_eq!(hub.take_session(&s2), None, "a session is used once");
    }
}
