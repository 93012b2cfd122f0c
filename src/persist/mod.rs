//! State that survives a restart (`--state-dir DIR`): an embedded SQLite database in DIR.
//!
//! Memory stays the working set: requests read and write the in-memory stores as without
//! `--state-dir`, and nothing on a request's path touches the database. Every committed store
//! write already publishes its change record through the sink ([`crate::store::changes`]), under
//! the store's lock, in commit order; [`Persistence`] is one more listener of that sink. It
//! clones the records it keeps into a bounded queue, and ONE writer thread turns them into rows
//! and commits them in groups: a transaction holds the records of at most
//! [`GROUP_COMMIT_WINDOW`] (or [`GROUP_COMMIT_RECORDS`] records), so after `kill -9` a restart
//! finds every write acknowledged more than that window earlier (SQLite's write-ahead log makes
//! each commit atomic: a crash never leaves half a group). A graceful stop flushes the queue.
//!
//! At start-up, [`StateDir::open`] locks DIR (a second process is refused), checks the schema
//! version (a newer one is refused, never misread) and reads the keys kept there (the token and
//! Entra ID signing keys, the TLS certificate); [`StateDir::load`] puts the rows back into the
//! in-memory stores before the listeners open and before [`Persistence`] starts listening.
//!
//! A store joins persistence in four steps (docs/ARCHITECTURE.md, "Persistence"): its writes
//! publish change records carrying what they stored; a table in [`SCHEMA`]; an arm in
//! `Writer::apply` turning its records into rows; a loader in [`StateDir::load`] with a
//! `restore` method on the store that puts a row back without publishing.

mod rows;

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};

use crate::api::sms::SEND_VERSIONS;
use crate::events::{Event, EventJournal, EventRecord, ReportKey, ReportKind};
use crate::resource::Resources;
use crate::store::numbers::OwnedNumber;
use crate::store::{
    Area, Change, ChangeListener, ChatChange, ChatChangeKind, ControlChange, EmailChange,
    IdentityChange, IdentitySnapshot, NumbersChange, RestoredThread, RoomsChange, Sink, SmsChange,
};
use rows::{
    EmailRow, EventRow, MessageRow, OwnedRow, ParticipantRow, PropsRow, ReservationRow, RoomRow,
    SipRow, SmsRow, parse_time, time,
};

/// The schema this emulator writes. Bump it with a migration in [`migrate`] when a table
/// changes; a DIR with a newer schema is refused.
pub const SCHEMA_VERSION: i64 = 3;

/// The longest a committed write waits in the queue before its transaction commits: the most
/// acknowledged writes a `kill -9` can lose.
pub const GROUP_COMMIT_WINDOW: Duration = Duration::from_millis(100);

/// The most records one transaction holds.
pub const GROUP_COMMIT_RECORDS: usize = 2048;

/// Records the queue holds before writers wait for the writer thread (back-pressure rather than
/// loss).
pub const QUEUE_CAPACITY: usize = 65_536;

/// SMS rows added to a resource's outbox between two trims of its rows to `--max-sms-outbox`.
const PRUNE_EVERY: usize = 1024;

/// The database's file name in DIR.
pub const DB_FILE: &str = "state.db";

/// The lock file's name in DIR.
pub const LOCK_FILE: &str = "lock";

/// The tables of schema version 3 (version 2 had all but `pending_events` and `due_reports`;
/// version 1 kept an SMS as one JSON document, `sms_outbox (n, resource, message)`, and had
/// neither `rooms`, `phone_numbers`, `number_reservations`, `sip_config`, `emails`,
/// `runtime_fixtures` nor `event_subscriptions`).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS identities (
    resource TEXT NOT NULL, id TEXT NOT NULL, created_on TEXT NOT NULL, deleted_on TEXT,
    next_token_seq INTEGER NOT NULL, revoked_below INTEGER NOT NULL,
    PRIMARY KEY (resource, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chat_threads (
    resource TEXT NOT NULL, id TEXT NOT NULL, props TEXT NOT NULL, participants TEXT NOT NULL,
    PRIMARY KEY (resource, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chat_messages (
    resource TEXT NOT NULL, thread TEXT NOT NULL, seq INTEGER NOT NULL, message TEXT NOT NULL,
    PRIMARY KEY (resource, thread, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chat_receipts (
    resource TEXT NOT NULL, thread TEXT NOT NULL, sender TEXT NOT NULL,
    message_id INTEGER NOT NULL, read_on TEXT NOT NULL,
    PRIMARY KEY (resource, thread, sender)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sms_outbox (
    n INTEGER PRIMARY KEY, resource TEXT NOT NULL, message_id TEXT NOT NULL,
    sender TEXT NOT NULL, recipient TEXT NOT NULL, message TEXT NOT NULL, tag TEXT,
    enable_delivery_report INTEGER NOT NULL, delivery_report_timeout INTEGER,
    repeatability_request_id TEXT, api_version TEXT NOT NULL, sent_at NOT NULL,
    encoding TEXT NOT NULL, segments INTEGER NOT NULL, delivery_report_at, delivery_failure TEXT);
CREATE INDEX IF NOT EXISTS sms_outbox_resource ON sms_outbox (resource, n);
CREATE TABLE IF NOT EXISTS teams_assignments (
    resource TEXT NOT NULL, tenant TEXT NOT NULL, object TEXT NOT NULL,
    principal_type TEXT NOT NULL, client_ids TEXT,
    PRIMARY KEY (resource, tenant, object)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sms_opt_outs (
    resource TEXT NOT NULL, sender TEXT NOT NULL, recipient TEXT NOT NULL,
    PRIMARY KEY (resource, sender, recipient)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rooms (
    n INTEGER PRIMARY KEY, resource TEXT NOT NULL, id TEXT NOT NULL, room TEXT, repeat TEXT,
    UNIQUE (resource, id));
CREATE TABLE IF NOT EXISTS phone_numbers (
    resource TEXT NOT NULL, number TEXT NOT NULL, record TEXT NOT NULL,
    PRIMARY KEY (resource, number)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS number_reservations (
    n INTEGER PRIMARY KEY, resource TEXT NOT NULL, id TEXT NOT NULL, reservation TEXT NOT NULL,
    UNIQUE (resource, id));
CREATE TABLE IF NOT EXISTS sip_config (
    resource TEXT PRIMARY KEY, config TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS emails (
    n INTEGER PRIMARY KEY, resource TEXT NOT NULL, id TEXT NOT NULL, email TEXT NOT NULL,
    in_inbox INTEGER NOT NULL DEFAULT 1);
CREATE INDEX IF NOT EXISTS emails_resource ON emails (resource, n);
CREATE TABLE IF NOT EXISTS runtime_fixtures (
    n INTEGER PRIMARY KEY, text TEXT NOT NULL, yaml INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS event_subscriptions (
    n INTEGER PRIMARY KEY, name TEXT NOT NULL COLLATE NOCASE UNIQUE, spec TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pending_events (
    subscription TEXT NOT NULL, seq INTEGER NOT NULL, event TEXT NOT NULL,
    PRIMARY KEY (subscription, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS due_reports (
    kind TEXT NOT NULL, topic TEXT NOT NULL, id TEXT NOT NULL, idx INTEGER NOT NULL,
    due TEXT NOT NULL, PRIMARY KEY (kind, topic, id, idx)) WITHOUT ROWID;
";

/// Why DIR cannot be used. Each names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Another process holds DIR's lock.
    #[error(
        "the state directory {0} is in use by another acs-emulator (its lock file {0}/lock is held): stop that one, or choose another --state-dir"
    )]
    Locked(PathBuf),
    /// DIR was written by a newer emulator.
    #[error(
        "{file} holds state schema version {found}, written by acs-emulator {by}; this acs-emulator ({ours}) reads schema version {SCHEMA_VERSION} and older: use that version, or choose another --state-dir"
    )]
    NewerSchema {
        /// The database file.
        file: PathBuf,
        /// Its schema version.
        found: i64,
        /// The emulator version that wrote it.
        by: String,
        /// This emulator's version.
        ours: &'static str,
    },
    /// The database cannot be read: not a database, truncated, garbled, or a row that does not
    /// convert back.
    #[error(
        "{file} is damaged or not an acs-emulator state database ({reason}); nothing was changed: move it away to start with an empty state, or restore a copy"
    )]
    Corrupt {
        /// The database file.
        file: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A file-system error (creating DIR, its lock file).
    #[error("cannot use the state directory {path}: {reason}")]
    Io {
        /// The path.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// An open, locked state directory.
pub struct StateDir {
    dir: PathBuf,
    db_path: PathBuf,
    conn: Connection,
    /// Held (locked) for the life of the process.
    _lock: File,
}

impl std::fmt::Debug for StateDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateDir").field("dir", &self.dir).finish()
    }
}

/// What [`StateDir::load`] put back.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    /// Identities.
    pub identities: usize,
    /// Chat threads.
    pub threads: usize,
    /// Chat messages.
    pub messages: usize,
    /// Messages in the SMS outbox.
    pub sms: usize,
    /// SMS opt-outs.
    pub opt_outs: usize,
    /// Teams Phone extension assignments.
    pub assignments: usize,
    /// Rooms (put back or, deleted since a fixture made them, removed).
    pub rooms: usize,
    /// Phone numbers owned (or released) and reservations.
    pub numbers: usize,
    /// Emails (their send operations, and the inbox).
    pub emails: usize,
    /// Rows of resources that no longer exist (skipped).
    pub skipped: usize,
}

impl StateDir {
    /// Creates (if needed) and locks DIR, opens its database, creates or checks its schema.
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        let io = |path: &Path, e: std::io::Error| StateError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StateError::Locked(dir.to_path_buf()));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&lock_path, e)),
        }
        let db_path = dir.join(DB_FILE);
        check_size(&db_path)?;
        let corrupt = |e: rusqlite::Error| StateError::Corrupt {
            file: db_path.clone(),
            reason: e.to_string(),
        };
        let conn = Connection::open(&db_path).map_err(corrupt)?;
        // The write-ahead log: a commit is atomic and survives the process being killed;
        // `NORMAL` syncs at checkpoints (a power cut may lose the last commits, never the file).
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(corrupt)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(corrupt)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(corrupt)?;
        let state = Self {
            dir: dir.to_path_buf(),
            db_path: db_path.clone(),
            conn,
            _lock: lock,
        };
        state.check_integrity()?;
        state.check_schema()?;
        Ok(state)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn corrupt(&self, reason: impl std::fmt::Display) -> StateError {
        StateError::Corrupt {
            file: self.db_path.clone(),
            reason: reason.to_string(),
        }
    }

    /// SQLite's own check of every page and index (`PRAGMA quick_check`): damage anywhere is
    /// refused at start-up rather than found by a later read or write.
    fn check_integrity(&self) -> Result<(), StateError> {
        let mut stmt = self
            .conn
            .prepare("PRAGMA quick_check(5)")
            .map_err(|e| self.corrupt(e))?;
        let problems: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.corrupt(e))?;
        if problems.len() == 1 && problems[0] == "ok" {
            return Ok(());
        }
        Err(self.corrupt(problems.join("; ")))
    }

    /// Creates the tables of a new database, or checks (and migrates) an existing one's.
    fn check_schema(&self) -> Result<(), StateError> {
        let sql = |e: rusqlite::Error| self.corrupt(e);
        let tables: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(sql)?;
        let has_meta: bool = self
            .conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(sql)?
            > 0;
        if tables > 0 && !has_meta {
            return Err(self.corrupt("it has tables but no emulator metadata"));
        }
        let meta = |key: &str| -> Result<Option<String>, StateError> {
            if !has_meta {
                return Ok(None);
            }
            self.conn
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()
                .map_err(sql)
        };
        let version = match meta("schema_version")? {
            None if tables == 0 => None,
            None => return Err(self.corrupt("its schema version is missing")),
            Some(v) => Some(
                v.parse::<i64>()
                    .map_err(|_| self.corrupt(format!("invalid schema version {v:?}")))?,
            ),
        };
        if let Some(found) = version.filter(|v| *v > SCHEMA_VERSION) {
            return Err(StateError::NewerSchema {
                file: self.db_path.clone(),
                found,
                by: meta("emulator_version")?.unwrap_or_else(|| "(unknown)".into()),
                ours: env!("CARGO_PKG_VERSION"),
            });
        }
        if let Some(found) = version {
            migrate(&self.conn, found).map_err(sql)?;
        }
        self.conn.execute_batch(SCHEMA).map_err(sql)?;
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?1), ('emulator_version', ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![SCHEMA_VERSION.to_string(), env!("CARGO_PKG_VERSION")],
            )
            .map_err(sql)?;
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES ('created_with', ?1) ON CONFLICT DO NOTHING",
                [env!("CARGO_PKG_VERSION")],
            )
            .map_err(sql)?;
        Ok(())
    }

    /// The secret kept under `name`, if any.
    pub fn kept(&self, name: &str) -> Result<Option<String>, StateError> {
        self.conn
            .query_row("SELECT value FROM secrets WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.corrupt(e))
    }

    /// The secret kept under `name`, or the one `make` makes (then kept).
    pub fn secret(
        &self,
        name: &str,
        make: impl FnOnce() -> anyhow::Result<String>,
    ) -> anyhow::Result<String> {
        if let Some(kept) = self.kept(name)? {
            return Ok(kept);
        }
        let made = make()?;
        self.conn
            .execute(
                "INSERT INTO secrets (name, value) VALUES (?1, ?2)",
                params![name, made],
            )
            .map_err(|e| self.corrupt(e))?;
        Ok(made)
    }

    /// Keeps `value` under `name`, replacing what was kept.
    pub fn replace_secret(&self, name: &str, value: &str) -> anyhow::Result<()> {
        self.conn
            .execute(
                "INSERT INTO secrets (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![name, value],
            )
            .map_err(|e| self.corrupt(e))?;
        Ok(())
    }

    /// The secret user access tokens are signed with: the kept one, or a new one (kept).
    pub fn token_secret(&self) -> anyhow::Result<[u8; 32]> {
        use base64::Engine;
        use base64::engine::general_purpose::STANDARD;
        let encoded = self.secret("token_secret", || {
            let mut secret = [0u8; 32];
            getrandom::fill(&mut secret)
                .map_err(|e| anyhow::anyhow!("the OS random number generator failed: {e}"))?;
            Ok(STANDARD.encode(secret))
        })?;
        STANDARD
            .decode(encoded.as_bytes())
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .ok_or_else(|| {
                self.corrupt("the kept token secret is not 32 bytes of base64")
                    .into()
            })
    }

    /// Puts every kept row back into the stores of `resources` (call it before the listeners
    /// open and before [`Persistence::start`]). Rows of resources that are not loaded are
    /// skipped (and counted). `max_outbox` is `--max-sms-outbox`.
    pub fn load(&self, resources: &Resources, max_outbox: usize) -> Result<Loaded, StateError> {
        let mut loaded = Loaded::default();
        let sql = |e: rusqlite::Error| self.corrupt(e);
        let by_name: HashMap<String, Arc<crate::resource::Resource>> = resources
            .all()
            .iter()
            .map(|r| (r.name.clone(), Arc::clone(r)))
            .collect();

        // Identities.
        self.each_row(
            "SELECT resource, id, created_on, deleted_on, next_token_seq, revoked_below
             FROM identities",
            0,
            &by_name,
            &mut loaded,
            |res, row, loaded| {
                let id: String = row.get(1).map_err(sql)?;
                let snapshot = (|| -> Result<IdentitySnapshot, String> {
                    let created_on: String = row.get(2).map_err(|e| e.to_string())?;
                    let deleted_on: Option<String> = row.get(3).map_err(|e| e.to_string())?;
                    let next_token_seq: i64 = row.get(4).map_err(|e| e.to_string())?;
                    let revoked_below: i64 = row.get(5).map_err(|e| e.to_string())?;
                    Ok(IdentitySnapshot {
                        id: rows::user_id(&id)?,
                        created_on: parse_time(&created_on)?,
                        deleted_on: deleted_on.as_deref().map(parse_time).transpose()?,
                        next_token_seq: u64::try_from(next_token_seq)
                            .map_err(|_| "negative token sequence".to_string())?,
                        revoked_below: u64::try_from(revoked_below)
                            .map_err(|_| "negative token sequence".to_string())?,
                    })
                })()
                .map_err(|reason| self.bad_row("identities", &id, reason))?;
                res.store.identities.restore(snapshot);
                loaded.identities += 1;
                Ok(())
            },
        )?;

        // Teams Phone extension assignments.
        self.each_row(
            "SELECT resource, tenant, object, principal_type, client_ids FROM teams_assignments",
            0,
            &by_name,
            &mut loaded,
            |res, row, loaded| {
                let (tenant, object): (String, String) =
                    (row.get(1).map_err(sql)?, row.get(2).map_err(sql)?);
                let principal_type: String = row.get(3).map_err(sql)?;
                let client_ids: Option<String> = row.get(4).map_err(sql)?;
                let client_ids = client_ids
                    .map(|ids| serde_json::from_str::<Vec<String>>(&ids))
                    .transpose()
                    .map_err(|e| self.bad_row("teams_assignments", &object, e))?;
                res.store.assignments.restore(
                    tenant,
                    object,
                    crate::store::TeamsExtensionAssignment {
                        principal_type,
                        client_ids,
                    },
                );
                loaded.assignments += 1;
                Ok(())
            },
        )?;

        // Chat: threads, then their messages and receipts in key order.
        let mut threads: HashMap<(String, String), RestoredThread> = HashMap::new();
        self.each_row(
            "SELECT resource, id, props, participants FROM chat_threads",
            0,
            &by_name,
            &mut loaded,
            |res, row, _| {
                let id: String = row.get(1).map_err(sql)?;
                let props: String = row.get(2).map_err(sql)?;
                let participants: String = row.get(3).map_err(sql)?;
                let thread = (|| -> Result<RestoredThread, String> {
                    let props: PropsRow =
                        serde_json::from_str(&props).map_err(|e| e.to_string())?;
                    let participants: Vec<ParticipantRow> =
                        serde_json::from_str(&participants).map_err(|e| e.to_string())?;
                    Ok(RestoredThread {
                        props: props.into_props(&id)?,
                        participants: rows::participants(participants)?,
                        messages: Vec::new(),
                        receipts: Vec::new(),
                    })
                })()
                .map_err(|reason| self.bad_row("chat_threads", &id, reason))?;
                threads.insert((res.name.clone(), id), thread);
                Ok(())
            },
        )?;
        let mut stmt = self
            .conn
            .prepare("SELECT resource, thread, seq, message FROM chat_messages ORDER BY resource, thread, seq")
            .map_err(sql)?;
        let mut rows = stmt.query([]).map_err(sql)?;
        while let Some(row) = rows.next().map_err(sql)? {
            let resource: String = row.get(0).map_err(sql)?;
            let thread: String = row.get(1).map_err(sql)?;
            let seq: i64 = row.get(2).map_err(sql)?;
            let key = (resource, thread);
            let Some(restored) = threads.get_mut(&key) else {
                loaded.skipped += 1;
                continue;
            };
            let text: String = row.get(3).map_err(sql)?;
            let view = serde_json::from_str::<MessageRow>(&text)
                .map_err(|e| e.to_string())
                .and_then(|m| m.into_view(u64::try_from(seq).unwrap_or(0)))
                .map_err(|reason| {
                    self.bad_row("chat_messages", &format!("{}/{seq}", key.1), reason)
                })?;
            restored.messages.push(view);
        }
        drop(rows);
        drop(stmt);
        let mut stmt = self
            .conn
            .prepare("SELECT resource, thread, sender, message_id, read_on FROM chat_receipts")
            .map_err(sql)?;
        let mut rows = stmt.query([]).map_err(sql)?;
        while let Some(row) = rows.next().map_err(sql)? {
            let key: (String, String) = (row.get(0).map_err(sql)?, row.get(1).map_err(sql)?);
            let Some(restored) = threads.get_mut(&key) else {
                loaded.skipped += 1;
                continue;
            };
            let sender: String = row.get(2).map_err(sql)?;
            let message_id: i64 = row.get(3).map_err(sql)?;
            let read_on: String = row.get(4).map_err(sql)?;
            let receipt = (|| -> Result<_, String> {
                Ok((
                    rows::user_id(&sender)?,
                    crate::domain::ChatMessageId(
                        u64::try_from(message_id).map_err(|_| "negative message id")?,
                    ),
                    parse_time(&read_on)?,
                ))
            })()
            .map_err(|reason| self.bad_row("chat_receipts", &key.1, reason))?;
            restored.receipts.push(receipt);
        }
        drop(rows);
        drop(stmt);
        for ((resource, _), thread) in threads {
            if let Some(res) = by_name.get(&resource) {
                loaded.threads += 1;
                loaded.messages += thread.messages.len();
                res.store.chat.restore_thread(thread);
            }
        }

        // The SMS outbox, replayed in order: delivery reports and repeatability records come
        // back with their messages, and the outbox keeps its newest `max_outbox`.
        self.each_row(
            "SELECT n, resource, message_id, sender, recipient, message, tag,
               enable_delivery_report, delivery_report_timeout, repeatability_request_id,
               api_version, sent_at, encoding, segments, delivery_report_at, delivery_failure
             FROM sms_outbox ORDER BY n",
            1,
            &by_name,
            &mut loaded,
            |res, row, loaded| {
                let n: i64 = row.get(0).map_err(sql)?;
                let sms = (|| -> Result<_, String> {
                    let text = |i: usize| row.get::<_, String>(i).map_err(|e| e.to_string());
                    let opt = |i: usize| row.get::<_, Option<String>>(i).map_err(|e| e.to_string());
                    let stamp = |i: usize| {
                        row.get_ref(i)
                            .map_err(|e| e.to_string())
                            .and_then(rows::read_stamp)
                    };
                    let delivery_report_at = match row.get_ref(14).map_err(|e| e.to_string())? {
                        rusqlite::types::ValueRef::Null => None,
                        value => Some(rows::read_stamp(value)?),
                    };
                    SmsRow {
                        message_id: text(2)?,
                        from: text(3)?,
                        to: text(4)?,
                        message: text(5)?,
                        tag: opt(6)?,
                        enable_delivery_report: row.get(7).map_err(|e| e.to_string())?,
                        delivery_report_timeout_in_seconds: row
                            .get(8)
                            .map_err(|e| e.to_string())?,
                        repeatability_request_id: opt(9)?,
                        api_version: text(10)?,
                        sent_at: stamp(11)?,
                        encoding: text(12)?,
                        segments: row.get(13).map_err(|e| e.to_string())?,
                        delivery_report_at,
                        delivery_failure: opt(15)?,
                    }
                    .into_sms(SEND_VERSIONS)
                })()
                .map_err(|reason| self.bad_row("sms_outbox", &n.to_string(), reason))?;
                res.store.sms.record(sms, max_outbox, Sink::NONE);
                loaded.sms += 1;
                Ok(())
            },
        )?;

        // SMS opt-outs.
        self.each_row(
            "SELECT resource, sender, recipient FROM sms_opt_outs",
            0,
            &by_name,
            &mut loaded,
            |res, row, loaded| {
                let (from, to): (String, String) =
                    (row.get(1).map_err(sql)?, row.get(2).map_err(sql)?);
                let number = |raw: &str| {
                    crate::domain::PhoneNumber::parse(raw)
                        .map_err(|_| self.bad_row("sms_opt_outs", raw, "invalid phone number"))
                };
                // Restored whatever the cap, as the other tables.
                res.store.sms.restore_opt_out(number(&from)?, number(&to)?);
                loaded.opt_outs += 1;
                Ok(())
            },
        )?;

        self.load_rooms(&by_name, &mut loaded)?;
        self.load_numbers(&by_name, &mut loaded)?;
        self.load_emails(&by_name, &mut loaded)?;
        Ok(loaded)
    }

    /// Runs `query` and hands each row to `each` with the resource its column `resource_column`
    /// names; a row of a resource that is not loaded is skipped (and counted). Every loader of a
    /// per-resource table reads through it.
    fn each_row(
        &self,
        query: &str,
        resource_column: usize,
        by_name: &HashMap<String, Arc<crate::resource::Resource>>,
        loaded: &mut Loaded,
        mut each: impl FnMut(
            &Arc<crate::resource::Resource>,
            &rusqlite::Row<'_>,
            &mut Loaded,
        ) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        let sql = |e: rusqlite::Error| self.corrupt(e);
        let mut stmt = self.conn.prepare(query).map_err(sql)?;
        let mut rows = stmt.query([]).map_err(sql)?;
        while let Some(row) = rows.next().map_err(sql)? {
            let resource: String = row.get(resource_column).map_err(sql)?;
            match by_name.get(&resource) {
                Some(res) => each(res, row, loaded)?,
                None => loaded.skipped += 1,
            }
        }
        Ok(())
    }

    /// A row of `table` (named by `key`) that does not convert back.
    fn bad_row(&self, table: &str, key: &str, reason: impl std::fmt::Display) -> StateError {
        self.corrupt(format!("table {table}, row {key}: {reason}"))
    }

    /// Emails replayed in order: each one's send operation comes back (a poller goes on where
    /// it was), and the message into the inbox unless the inbox was emptied since; the inbox's
    /// caps (`--max-emails`, `--max-email-storage-bytes`) apply as when they were sent.
    fn load_emails(
        &self,
        by_name: &HashMap<String, Arc<crate::resource::Resource>>,
        loaded: &mut Loaded,
    ) -> Result<(), StateError> {
        let sql = |e: rusqlite::Error| self.corrupt(e);
        self.each_row(
            "SELECT resource, id, email, in_inbox FROM emails ORDER BY n",
            0,
            by_name,
            loaded,
            |res, row, loaded| {
                let id: String = row.get(1).map_err(sql)?;
                let text: String = row.get(2).map_err(sql)?;
                let in_inbox: bool = row.get(3).map_err(sql)?;
                let email = serde_json::from_str::<EmailRow>(&text)
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.into_email(&id))
                    .map_err(|reason| self.bad_row("emails", &id, reason))?;
                if in_inbox {
                    res.store.email.accept(email, Sink::NONE);
                } else {
                    res.store.email.restore_operation(email.operation());
                }
                loaded.emails += 1;
                Ok(())
            },
        )
    }

    /// Owned (and released) numbers over the configured ones, reservations in creation order,
    /// the SIP routing configuration.
    fn load_numbers(
        &self,
        by_name: &HashMap<String, Arc<crate::resource::Resource>>,
        loaded: &mut Loaded,
    ) -> Result<(), StateError> {
        let sql = |e: rusqlite::Error| self.corrupt(e);
        self.each_row(
            "SELECT resource, number, record FROM phone_numbers",
            0,
            by_name,
            loaded,
            |res, row, loaded| {
                let number: String = row.get(1).map_err(sql)?;
                let text: String = row.get(2).map_err(sql)?;
                let owned = serde_json::from_str::<OwnedRow>(&text)
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.into_owned(&number))
                    .map_err(|reason| self.bad_row("phone_numbers", &number, reason))?;
                res.store.numbers.restore_owned(owned);
                loaded.numbers += 1;
                Ok(())
            },
        )?;
        self.each_row(
            "SELECT resource, id, reservation FROM number_reservations ORDER BY n",
            0,
            by_name,
            loaded,
            |res, row, loaded| {
                let id: String = row.get(1).map_err(sql)?;
                let text: String = row.get(2).map_err(sql)?;
                let reservation = serde_json::from_str::<ReservationRow>(&text)
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.into_reservation(&id))
                    .map_err(|reason| self.bad_row("number_reservations", &id, reason))?;
                res.store.numbers.restore_reservation(reservation);
                loaded.numbers += 1;
                Ok(())
            },
        )?;
        self.each_row(
            "SELECT resource, config FROM sip_config",
            0,
            by_name,
            loaded,
            |res, row, _| {
                let text: String = row.get(1).map_err(sql)?;
                let sip = serde_json::from_str::<SipRow>(&text)
                    .map_err(|e| self.bad_row("sip_config", &res.name, e))?;
                res.store.numbers.restore_sip(sip.into_sip());
                Ok(())
            },
        )
    }

    /// Rooms, in creation order. A deleted room's row (no `room`) removes the fixture's room
    /// with its id; one that removes nothing is dropped from the table (no fixture makes that
    /// room any more).
    fn load_rooms(
        &self,
        by_name: &HashMap<String, Arc<crate::resource::Resource>>,
        loaded: &mut Loaded,
    ) -> Result<(), StateError> {
        let sql = |e: rusqlite::Error| self.corrupt(e);
        let mut stale = Vec::new();
        self.each_row(
            "SELECT n, resource, id, room, repeat FROM rooms ORDER BY n",
            1,
            by_name,
            loaded,
            |res, row, loaded| {
                let n: i64 = row.get(0).map_err(sql)?;
                let id: String = row.get(2).map_err(sql)?;
                let room: Option<String> = row.get(3).map_err(sql)?;
                let repeat: Option<String> = row.get(4).map_err(sql)?;
                let room = room
                    .map(|text| {
                        serde_json::from_str::<RoomRow>(&text)
                            .map_err(|e| e.to_string())
                            .and_then(|r| r.into_room(&id))
                    })
                    .transpose()
                    .map_err(|reason| self.bad_row("rooms", &id, reason))?;
                let deleted = room.is_none();
                if res.store.rooms.restore(&id, room, repeat) {
                    loaded.rooms += 1;
                } else if deleted {
                    stale.push(n);
                }
                Ok(())
            },
        )?;
        for n in stale {
            self.conn
                .execute("DELETE FROM rooms WHERE n = ?1", [n])
                .map_err(sql)?;
        }
        Ok(())
    }

    /// The fixtures loaded at run time through the control API, in load order: (text, whether
    /// YAML). Start-up applies them after the `--fixtures` files and before [`Self::load`] (they
    /// may add the resources kept rows belong to).
    pub fn runtime_fixtures(&self) -> Result<Vec<(String, bool)>, StateError> {
        let sql = |e: rusqlite::Error| self.corrupt(e);
        let mut stmt = self
            .conn
            .prepare("SELECT text, yaml FROM runtime_fixtures ORDER BY n")
            .map_err(sql)?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .map_err(sql)
    }

    /// The event subscriptions added at run time through the control API, in the order added:
    /// their specs as JSON (with their names).
    pub fn subscriptions(&self) -> Result<Vec<String>, StateError> {
        let sql = |e: rusqlite::Error| self.corrupt(e);
        let mut stmt = self
            .conn
            .prepare("SELECT spec FROM event_subscriptions ORDER BY n")
            .map_err(sql)?;
        stmt.query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(sql)
    }

    /// The events that were waiting for delivery when the emulator stopped, in publication
    /// order: (subscription, publication number, event).
    pub fn pending_events(&self) -> Result<Vec<(String, u64, Event)>, StateError> {
        let sql = |e: rusqlite::Error| self.corrupt(e);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT subscription, seq, event FROM pending_events ORDER BY seq, subscription",
            )
            .map_err(sql)?;
        let rows: Vec<(String, i64, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .and_then(|rows| rows.collect())
            .map_err(sql)?;
        rows.into_iter()
            .map(|(subscription, seq, text)| {
                let event = serde_json::from_str::<EventRow>(&text)
                    .map_err(|e| e.to_string())
                    .and_then(EventRow::into_event)
                    .map_err(|reason| {
                        self.bad_row("pending_events", &format!("{subscription}/{seq}"), reason)
                    })?;
                let seq = u64::try_from(seq).map_err(|_| {
                    self.corrupt(format!("table pending_events: invalid number {seq}"))
                })?;
                Ok((subscription, seq, event))
            })
            .collect()
    }

    /// The delivery reports that were waiting for their time when the emulator stopped.
    pub fn due_reports(&self) -> Result<Vec<ReportKey>, StateError> {
        let sql = |e: rusqlite::Error| self.corrupt(e);
        let mut stmt = self
            .conn
            .prepare("SELECT kind, topic, id, idx, due FROM due_reports ORDER BY due")
            .map_err(sql)?;
        let rows: Vec<(String, String, String, u32, String)> = stmt
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .and_then(|rows| rows.collect())
            .map_err(sql)?;
        rows.into_iter()
            .map(|(kind, topic, id, index, due)| {
                let bad =
                    |reason: String| self.bad_row("due_reports", &format!("{kind}/{id}"), reason);
                Ok(ReportKey {
                    kind: ReportKind::parse(&kind)
                        .ok_or_else(|| bad(format!("unknown kind {kind:?}")))?,
                    due: parse_time(&due).map_err(bad)?,
                    topic,
                    id,
                    index,
                })
            })
            .collect()
    }

    /// Forgets the kept events of a subscription that no longer exists, and the kept reports
    /// whose message is gone (start-up, before the writer starts).
    pub fn forget_undeliverable(
        &self,
        subscriptions: &[String],
        reports: &[ReportKey],
    ) -> Result<(), StateError> {
        let sql = |e: rusqlite::Error| self.corrupt(e);
        for name in subscriptions {
            self.conn
                .execute("DELETE FROM pending_events WHERE subscription = ?1", [name])
                .map_err(sql)?;
        }
        for r in reports {
            self.conn
                .execute(
                    "DELETE FROM due_reports WHERE kind = ?1 AND topic = ?2 AND id = ?3 AND idx = ?4",
                    params![r.kind.as_str(), r.topic, r.id, r.index],
                )
                .map_err(sql)?;
        }
        Ok(())
    }

    /// Puts the kept clock state back (an offset, or a frozen instant), if one was kept.
    pub fn load_clock(&self, clock: &crate::clock::Clock) -> Result<(), StateError> {
        let value: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'clock'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.corrupt(e))?;
        let Some(value) = value else {
            return Ok(());
        };
        let (offset, frozen) = value
            .split_once(',')
            .ok_or_else(|| self.corrupt(format!("invalid clock state {value:?}")))?;
        let offset_ms: i64 = offset
            .parse()
            .map_err(|_| self.corrupt(format!("invalid clock state {value:?}")))?;
        let frozen_at_ms: Option<i64> = match frozen {
            "" => None,
            at => Some(
                at.parse()
                    .map_err(|_| self.corrupt(format!("invalid clock state {value:?}")))?,
            ),
        };
        clock.restore(crate::clock::ClockState {
            offset_ms,
            frozen_at_ms,
        });
        Ok(())
    }
}

/// Refuses a database file shorter than its header says (truncated), before SQLite reads it.
fn check_size(path: &Path) -> Result<(), StateError> {
    use std::io::Read;
    let Ok(mut file) = File::open(path) else {
        // Missing: a new directory. Unreadable: opening it reports why.
        return Ok(());
    };
    let corrupt = |reason: String| StateError::Corrupt {
        file: path.to_path_buf(),
        reason,
    };
    let len = file.metadata().map_err(|e| corrupt(e.to_string()))?.len();
    let mut header = [0u8; 100];
    if len < 100 || file.read_exact(&mut header).is_err() {
        return if len == 0 {
            Ok(())
        } else {
            Err(corrupt(format!("truncated to {len} bytes")))
        };
    }
    let be32 = |at: usize| {
        u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65_536,
        n => u64::from(n),
    };
    let pages = u64::from(be32(28));
    // The header's page count is valid when its change counter matches (SQLite's rule).
    if pages > 0 && be32(24) == be32(92) && len < pages * page_size {
        return Err(corrupt(format!(
            "truncated: {len} bytes where its header says {}",
            pages * page_size
        )));
    }
    Ok(())
}

/// Brings a database of schema `found` (older than or equal to [`SCHEMA_VERSION`]) up to date.
/// Tables a version adds are made by [`SCHEMA`]'s `CREATE TABLE IF NOT EXISTS`; a step here
/// changes an existing table. Version 1 → 2 (which added `rooms`, `phone_numbers`,
/// `number_reservations`, `sip_config`, `emails`, `runtime_fixtures`, `event_subscriptions`)
/// turns `sms_outbox`'s JSON documents into columns, in one transaction. Version 2 → 3 only adds
/// tables (`pending_events`, `due_reports`): nothing to change.
fn migrate(conn: &Connection, found: i64) -> rusqlite::Result<()> {
    if found >= 2 {
        return Ok(());
    }
    tracing::info!(
        from = found,
        to = SCHEMA_VERSION,
        "migrating the state database"
    );
    let columns: i64 = conn.query_row(
        "SELECT count(*) FROM pragma_table_info('sms_outbox') WHERE name = 'message_id'",
        [],
        |r| r.get(0),
    )?;
    if columns > 0 {
        return Ok(());
    }
    conn.execute_batch(&format!(
        "BEGIN;
         ALTER TABLE sms_outbox RENAME TO sms_outbox_v1;
         DROP INDEX IF EXISTS sms_outbox_resource;
         {SCHEMA}
         INSERT INTO sms_outbox (n, resource, message_id, sender, recipient, message, tag,
           enable_delivery_report, delivery_report_timeout, repeatability_request_id,
           api_version, sent_at, encoding, segments, delivery_report_at, delivery_failure)
         SELECT n, resource, message ->> '$.message_id', message ->> '$.from',
           message ->> '$.to', message ->> '$.message', message ->> '$.tag',
           message ->> '$.enable_delivery_report',
           message ->> '$.delivery_report_timeout_in_seconds',
           message ->> '$.repeatability_request_id', message ->> '$.api_version',
           message ->> '$.sent_at', message ->> '$.encoding', message ->> '$.segments',
           message ->> '$.delivery_report_at', message ->> '$.delivery_failure'
         FROM sms_outbox_v1;
         DROP TABLE sms_outbox_v1;
         COMMIT;"
    ))
}

/// What the writer thread is handed.
enum Op {
    /// A committed change of the resource called `.0` (boxed: the queue's slots stay small).
    Change(Box<(String, Change<'static>)>),
    /// A note of the event bus about what it has not delivered yet.
    Note(Box<Note>),
    /// Commit what is queued, then answer; with `true`, also move the write-ahead log into the
    /// database file (a graceful stop leaves one self-contained file).
    Flush(mpsc::Sender<()>, bool),
}

/// What the event bus notes (see [`EventJournal`]), as the writer thread is handed it.
enum Note {
    Queued {
        subscription: String,
        seq: u64,
        event: Arc<Event>,
    },
    Settled {
        subscription: String,
        seqs: Vec<u64>,
    },
    Unsubscribed(String),
    Cleared,
    ReportsScheduled(Vec<ReportKey>),
    ReportsTaken(Vec<ReportKey>),
    ReportsCleared,
}

/// What one transaction of the writer holds, in queue order.
enum Item {
    /// (boxed as in [`Op`]).
    Change(Box<(String, Change<'static>)>),
    Note(Note),
}

/// The persistence listener: queues the records it keeps for the writer thread.
pub struct Persistence {
    queue: SyncSender<Op>,
}

impl std::fmt::Debug for Persistence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Persistence").finish_non_exhaustive()
    }
}

impl Persistence {
    /// Starts the writer thread on `dir`'s database; register the result with
    /// [`crate::store::Changes::listen`] once the state is loaded. `max_outbox` bounds the SMS
    /// rows kept per resource.
    pub fn start(
        dir: StateDir,
        max_outbox: usize,
        max_emails: usize,
    ) -> std::io::Result<Arc<Self>> {
        let (queue, rx) = mpsc::sync_channel(QUEUE_CAPACITY);
        let writer = Writer {
            dir,
            max_outbox: i64::try_from(max_outbox).unwrap_or(i64::MAX),
            max_emails: i64::try_from(max_emails).unwrap_or(i64::MAX),
            unpruned: HashMap::new(),
            unpruned_emails: HashMap::new(),
            failed: false,
        };
        std::thread::Builder::new()
            .name("state-writer".into())
            .spawn(move || writer.run(rx))?;
        Ok(Arc::new(Self { queue }))
    }

    /// Commits everything queued so far; returns once it is in the database (or the writer is
    /// gone). A graceful stop calls it once the server has stopped.
    pub fn flush(&self) {
        self.flush_and(false);
    }

    /// [`Self::flush`], then moves the write-ahead log into the database file: the graceful
    /// stop, once the server has stopped.
    pub fn close(&self) {
        self.flush_and(true);
    }

    fn flush_and(&self, checkpoint: bool) {
        let (ack, done) = mpsc::channel();
        if self.queue.send(Op::Flush(ack, checkpoint)).is_ok() {
            let _ = done.recv();
        }
    }
}

impl Persistence {
    /// Queues a note of the event bus (waits only when the writer is far behind).
    fn note(&self, note: Note) {
        let _ = self.queue.send(Op::Note(Box::new(note)));
    }
}

/// The event bus's notes of what it has not delivered yet become rows of `pending_events` and
/// `due_reports`, committed in order with the store's changes.
impl EventJournal for Persistence {
    fn queued(&self, record: &EventRecord) {
        self.note(Note::Queued {
            subscription: record.subscription.clone(),
            seq: record.seq,
            event: Arc::clone(&record.event),
        });
    }

    fn settled(&self, subscription: &str, seqs: &[u64]) {
        if !seqs.is_empty() {
            self.note(Note::Settled {
                subscription: subscription.to_string(),
                seqs: seqs.to_vec(),
            });
        }
    }

    fn unsubscribed(&self, subscription: &str) {
        self.note(Note::Unsubscribed(subscription.to_string()));
    }

    fn cleared(&self) {
        self.note(Note::Cleared);
    }

    fn reports_scheduled(&self, reports: &[ReportKey]) {
        if !reports.is_empty() {
            self.note(Note::ReportsScheduled(reports.to_vec()));
        }
    }

    fn reports_taken(&self, reports: &[ReportKey]) {
        if !reports.is_empty() {
            self.note(Note::ReportsTaken(reports.to_vec()));
        }
    }

    fn reports_cleared(&self) {
        self.note(Note::ReportsCleared);
    }
}

impl ChangeListener for Persistence {
    fn wants(&self, area: Area) -> bool {
        matches!(
            area,
            Area::Chat
                | Area::Sms
                | Area::Identity
                | Area::Reset
                | Area::Clock
                | Area::Rooms
                | Area::Numbers
                | Area::Email
                | Area::Control
        )
    }

    fn changed(&self, resource: &str, change: &Change<'_>) {
        let kept = match change {
            Change::Chat(ChatChange {
                kind: ChatChangeKind::Typing { .. },
                ..
            })
            | Change::Sms(SmsChange::Received(_))
            | Change::Email(EmailChange::Engaged(_)) => false,
            Change::Email(EmailChange::Sent(_) | EmailChange::InboxCleared)
            | Change::Control(_) => true,
            Change::Chat(_)
            | Change::Numbers(_)
            | Change::Rooms(_)
            | Change::Sms(_)
            | Change::Identity(_)
            | Change::Reset
            | Change::Clock(_) => true,
        };
        if kept {
            // Waits only when the writer is `QUEUE_CAPACITY` records behind (back-pressure: a
            // write is never dropped); an error means the writer stopped (after `close`).
            let _ = self.queue.send(Op::Change(Box::new((
                resource.to_string(),
                change.clone().into_owned(),
            ))));
        }
    }
}

/// The writer thread's state.
struct Writer {
    dir: StateDir,
    max_outbox: i64,
    /// `--max-emails`: the email rows kept per resource (as many send operations are kept).
    max_emails: i64,
    /// SMS rows added per resource since its outbox rows were last trimmed.
    unpruned: HashMap<String, usize>,
    /// Email rows added per resource since they were last trimmed.
    unpruned_emails: HashMap<String, usize>,
    /// A commit failed (disk full, DIR removed): logged once, later groups are still tried.
    failed: bool,
}

impl Writer {
    fn run(mut self, rx: Receiver<Op>) {
        while let Ok(first) = rx.recv() {
            let deadline = Instant::now() + GROUP_COMMIT_WINDOW;
            let mut group = vec![first];
            let mut acks = Vec::new();
            let mut checkpoint = false;
            loop {
                if let Some(Op::Flush(..)) = group.last() {
                    break;
                }
                if group.len() >= GROUP_COMMIT_RECORDS {
                    break;
                }
                let left = deadline.saturating_duration_since(Instant::now());
                match rx.recv_timeout(left) {
                    Ok(op) => group.push(op),
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            }
            let changes: Vec<Item> = group
                .into_iter()
                .filter_map(|op| match op {
                    Op::Change(change) => Some(Item::Change(change)),
                    Op::Note(note) => Some(Item::Note(*note)),
                    Op::Flush(ack, and_checkpoint) => {
                        acks.push(ack);
                        checkpoint |= and_checkpoint;
                        None
                    }
                })
                .collect();
            if !changes.is_empty() {
                match self.commit(&changes) {
                    Ok(()) => self.failed = false,
                    Err(e) if !self.failed => {
                        self.failed = true;
                        tracing::error!(dir = %self.dir.dir.display(), error = %e, records = changes.len(), "cannot write the state database; these changes are not kept");
                    }
                    Err(_) => {}
                }
            }
            if checkpoint
                && let Err(e) =
                    self.dir
                        .conn
                        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            {
                tracing::warn!(error = %e, "cannot checkpoint the state database");
            }
            for ack in acks {
                let _ = ack.send(());
            }
        }
    }

    fn commit(&mut self, changes: &[Item]) -> rusqlite::Result<()> {
        let tx = self.dir.conn.transaction()?;
        let mut added: HashMap<&str, usize> = HashMap::new();
        let mut emails: HashMap<&str, usize> = HashMap::new();
        // The SMS insert is prepared once a group: a send to many recipients is many rows.
        let mut sms_insert = None;
        for item in changes {
            let (resource, change) = match item {
                Item::Change(boxed) => (&boxed.0, &boxed.1),
                Item::Note(note) => {
                    apply_note(&tx, note)?;
                    continue;
                }
            };
            if let Change::Sms(SmsChange::Sent { message, .. }) = change {
                let insert = match &mut sms_insert {
                    Some(insert) => insert,
                    None => sms_insert.insert(tx.prepare_cached(INSERT_SMS)?),
                };
                insert_sms(insert, resource, message)?;
            } else {
                apply(&tx, resource, change)?;
            }
            match change {
                Change::Sms(SmsChange::Sent { .. }) => *added.entry(resource).or_default() += 1,
                Change::Email(EmailChange::Sent(_)) => {
                    *emails.entry(resource).or_default() += 1;
                }
                _ => {}
            }
        }
        // Likewise the emails: their newest `--max-emails` rows (the operations kept).
        let mut pruned_emails = Vec::new();
        for (resource, n) in emails {
            let since = self
                .unpruned_emails
                .entry(resource.to_string())
                .or_default();
            *since += n;
            if *since >= PRUNE_EVERY {
                tx.execute(
                    "DELETE FROM emails WHERE resource = ?1 AND n <= (
                       SELECT n FROM emails WHERE resource = ?1 ORDER BY n DESC LIMIT 1 OFFSET ?2)",
                    params![resource, self.max_emails],
                )?;
                pruned_emails.push(resource);
            }
        }
        // The outbox keeps its newest `--max-sms-outbox` messages; its rows are trimmed to as
        // many once every `PRUNE_EVERY` new rows (trimming walks the kept rows' index), so the
        // table holds at most that many more (the start-up replay drops them).
        let mut pruned = Vec::new();
        for (resource, n) in added {
            let since = self.unpruned.entry(resource.to_string()).or_default();
            *since += n;
            if *since >= PRUNE_EVERY {
                tx.execute(
                    "DELETE FROM sms_outbox WHERE resource = ?1 AND n <= (
                       SELECT n FROM sms_outbox WHERE resource = ?1 ORDER BY n DESC LIMIT 1 OFFSET ?2)",
                    params![resource, self.max_outbox],
                )?;
                pruned.push(resource);
            }
        }
        drop(sms_insert);
        tx.commit()?;
        for resource in pruned {
            self.unpruned.remove(resource);
        }
        for resource in pruned_emails {
            self.unpruned_emails.remove(resource);
        }
        Ok(())
    }
}

/// Turns one note of the event bus into rows.
fn apply_note(tx: &rusqlite::Transaction<'_>, note: &Note) -> rusqlite::Result<()> {
    match note {
        Note::Queued {
            subscription,
            seq,
            event,
        } => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO pending_events (subscription, seq, event) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![subscription, seq_value(*seq), json(&EventRow::of(event))?])?;
        }
        Note::Settled { subscription, seqs } => {
            let mut delete = tx.prepare_cached(
                "DELETE FROM pending_events WHERE subscription = ?1 AND seq = ?2",
            )?;
            for seq in seqs {
                delete.execute(params![subscription, seq_value(*seq)])?;
            }
        }
        Note::Unsubscribed(subscription) => {
            tx.prepare_cached("DELETE FROM pending_events WHERE subscription = ?1")?
                .execute([subscription])?;
        }
        Note::Cleared => {
            tx.execute("DELETE FROM pending_events", [])?;
        }
        Note::ReportsScheduled(reports) => {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO due_reports (kind, topic, id, idx, due) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for r in reports {
                insert.execute(params![
                    r.kind.as_str(),
                    r.topic,
                    r.id,
                    r.index,
                    rows::time(r.due)
                ])?;
            }
        }
        Note::ReportsTaken(reports) => {
            let mut delete = tx.prepare_cached(
                "DELETE FROM due_reports WHERE kind = ?1 AND topic = ?2 AND id = ?3 AND idx = ?4",
            )?;
            for r in reports {
                delete.execute(params![r.kind.as_str(), r.topic, r.id, r.index])?;
            }
        }
        Note::ReportsCleared => {
            tx.execute("DELETE FROM due_reports", [])?;
        }
    }
    Ok(())
}

/// A publication number as SQLite's signed integer (they start at 1 and count up: never near
/// the limit).
fn seq_value(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

fn json<T: serde::Serialize>(value: &T) -> rusqlite::Result<String> {
    serde_json::to_string(value).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

/// A row of the SMS outbox: columns, not a document (a send to many recipients writes a row
/// each, and nothing is serialised).
const INSERT_SMS: &str = "INSERT INTO sms_outbox (resource, message_id, sender, recipient,
    message, tag, enable_delivery_report, delivery_report_timeout, repeatability_request_id,
    api_version, sent_at, encoding, segments, delivery_report_at, delivery_failure)
  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";

fn insert_sms(
    insert: &mut rusqlite::CachedStatement<'_>,
    resource: &str,
    sms: &crate::store::SentSms,
) -> rusqlite::Result<()> {
    insert.execute(params![
        resource,
        sms.message_id.as_str(),
        sms.from.as_str(),
        sms.to.as_str(),
        sms.message,
        sms.tag,
        sms.enable_delivery_report,
        sms.delivery_report_timeout_in_seconds,
        sms.repeatability_request_id,
        sms.api_version,
        rows::stamp(sms.sent_at),
        sms.encoding.as_str(),
        sms.segments,
        sms.delivery_report_at.map(rows::stamp),
        sms.delivery_failure,
    ])?;
    Ok(())
}

/// Turns one change record into rows.
fn apply(
    tx: &rusqlite::Transaction<'_>,
    resource: &str,
    change: &Change<'_>,
) -> rusqlite::Result<()> {
    match change {
        Change::Identity(IdentityChange::Stored(s)) => {
            tx.prepare_cached(
                "INSERT INTO identities (resource, id, created_on, deleted_on, next_token_seq, revoked_below)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (resource, id) DO UPDATE SET created_on = excluded.created_on,
                   deleted_on = excluded.deleted_on, next_token_seq = excluded.next_token_seq,
                   revoked_below = excluded.revoked_below",
            )?
            .execute(params![
                resource,
                s.id.as_str(),
                time(s.created_on),
                s.deleted_on.map(time),
                i64::try_from(s.next_token_seq).unwrap_or(i64::MAX),
                i64::try_from(s.revoked_below).unwrap_or(i64::MAX),
            ])?;
        }
        Change::Identity(IdentityChange::Dropped(ids)) => {
            let mut delete =
                tx.prepare_cached("DELETE FROM identities WHERE resource = ?1 AND id = ?2")?;
            for id in ids {
                delete.execute(params![resource, id.as_str()])?;
            }
        }
        Change::Identity(IdentityChange::AssignmentStored(tenant, object, a)) => {
            let client_ids = a.client_ids.as_ref().map(json).transpose()?;
            tx.prepare_cached(
                "INSERT INTO teams_assignments (resource, tenant, object, principal_type, client_ids)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (resource, tenant, object) DO UPDATE SET
                   principal_type = excluded.principal_type, client_ids = excluded.client_ids",
            )?
            .execute(params![resource, tenant, object, a.principal_type, client_ids])?;
        }
        Change::Identity(IdentityChange::AssignmentRemoved(tenant, object)) => {
            tx.prepare_cached(
                "DELETE FROM teams_assignments WHERE resource = ?1 AND tenant = ?2 AND object = ?3",
            )?
            .execute(params![resource, tenant, object])?;
        }
        Change::Chat(change) => apply_chat(tx, resource, change)?,
        Change::Sms(SmsChange::Sent { message, .. }) => {
            let mut insert = tx.prepare_cached(INSERT_SMS)?;
            insert_sms(&mut insert, resource, message)?;
        }
        Change::Sms(SmsChange::OutboxCleared) => {
            tx.execute("DELETE FROM sms_outbox WHERE resource = ?1", [resource])?;
        }
        Change::Sms(SmsChange::OptedOut { from, to }) => {
            let mut insert = tx.prepare_cached(
                "INSERT INTO sms_opt_outs (resource, sender, recipient) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
            )?;
            for to in to {
                insert.execute(params![resource, from.as_str(), to.as_str()])?;
            }
        }
        Change::Sms(SmsChange::OptedIn { from, to }) => {
            tx.prepare_cached(
                "DELETE FROM sms_opt_outs WHERE resource = ?1 AND sender = ?2 AND recipient = ?3",
            )?
            .execute(params![resource, from.as_str(), to.as_str()])?;
        }
        Change::Clock(state) => {
            let value = format!(
                "{},{}",
                state.offset_ms,
                state
                    .frozen_at_ms
                    .map(|at| at.to_string())
                    .unwrap_or_default()
            );
            tx.prepare_cached(
                "INSERT INTO meta (key, value) VALUES ('clock', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute([value])?;
        }
        Change::Rooms(change) => apply_rooms(tx, resource, change)?,
        Change::Numbers(change) => apply_numbers(tx, resource, change)?,
        Change::Email(EmailChange::Sent(email)) => {
            tx.prepare_cached("INSERT INTO emails (resource, id, email) VALUES (?1, ?2, ?3)")?
                .execute(params![resource, email.id, json(&EmailRow::of(email))?])?;
        }
        Change::Email(EmailChange::InboxCleared) => {
            tx.prepare_cached(
                "UPDATE emails SET in_inbox = 0 WHERE resource = ?1 AND in_inbox = 1",
            )?
            .execute([resource])?;
        }
        Change::Control(ControlChange::FixtureLoaded { text, yaml }) => {
            tx.prepare_cached("INSERT INTO runtime_fixtures (text, yaml) VALUES (?1, ?2)")?
                .execute(params![text.as_ref(), yaml])?;
        }
        Change::Control(ControlChange::Subscribed { name, spec }) => {
            tx.prepare_cached(
                "INSERT INTO event_subscriptions (name, spec) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET spec = excluded.spec",
            )?
            .execute(params![name, spec.as_ref()])?;
        }
        Change::Control(ControlChange::Unsubscribed(Some(name))) => {
            tx.prepare_cached("DELETE FROM event_subscriptions WHERE name = ?1")?
                .execute([name])?;
        }
        Change::Control(ControlChange::Unsubscribed(None)) => {
            tx.execute("DELETE FROM event_subscriptions", [])?;
        }
        Change::Sms(SmsChange::Received(_)) | Change::Email(EmailChange::Engaged(_)) => {}
        Change::Reset => {
            for table in [
                "identities",
                "teams_assignments",
                "chat_threads",
                "chat_messages",
                "chat_receipts",
                "sms_outbox",
                "sms_opt_outs",
                "rooms",
                "phone_numbers",
                "number_reservations",
                "sip_config",
                "emails",
            ] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE resource = ?1"),
                    [resource],
                )?;
            }
        }
    }
    Ok(())
}

/// A created room gets a new row (after the others: creation order), an update rewrites its
/// room, a deletion leaves the row without a room, so that a fixture's room deleted at run
/// time stays deleted after a restart.
fn apply_rooms(
    tx: &rusqlite::Transaction<'_>,
    resource: &str,
    change: &RoomsChange,
) -> rusqlite::Result<()> {
    match change {
        RoomsChange::Created { room, repeat } => {
            tx.prepare_cached("DELETE FROM rooms WHERE resource = ?1 AND id = ?2")?
                .execute(params![resource, room.id])?;
            tx.prepare_cached(
                "INSERT INTO rooms (resource, id, room, repeat) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                resource,
                room.id,
                json(&RoomRow::of(room))?,
                repeat
            ])?;
        }
        RoomsChange::Updated(room) => {
            tx.prepare_cached(
                "INSERT INTO rooms (resource, id, room) VALUES (?1, ?2, ?3)
                 ON CONFLICT (resource, id) DO UPDATE SET room = excluded.room",
            )?
            .execute(params![resource, room.id, json(&RoomRow::of(room))?])?;
        }
        RoomsChange::Deleted { id } => {
            tx.prepare_cached(
                "INSERT INTO rooms (resource, id, room) VALUES (?1, ?2, NULL)
                 ON CONFLICT (resource, id) DO UPDATE SET room = NULL",
            )?
            .execute(params![resource, id])?;
        }
    }
    Ok(())
}

/// An owned number's record (bought, released, capabilities changed) replaces its row; a
/// reservation's row keeps its place (creation order); the SIP configuration is one row.
fn apply_numbers(
    tx: &rusqlite::Transaction<'_>,
    resource: &str,
    change: &NumbersChange,
) -> rusqlite::Result<()> {
    let put_owned = |owned: &OwnedNumber| -> rusqlite::Result<()> {
        tx.prepare_cached(
            "INSERT INTO phone_numbers (resource, number, record) VALUES (?1, ?2, ?3)
             ON CONFLICT (resource, number) DO UPDATE SET record = excluded.record",
        )?
        .execute(params![
            resource,
            owned.number.as_str(),
            json(&OwnedRow::of(owned))?
        ])?;
        Ok(())
    };
    match change {
        NumbersChange::Purchased { owned, .. } => {
            for owned in owned {
                put_owned(owned)?;
            }
        }
        NumbersChange::Released { owned, .. }
        | NumbersChange::CapabilitiesUpdated { owned, .. } => {
            put_owned(owned)?;
        }
        NumbersChange::SipConfigured(sip) => {
            tx.prepare_cached(
                "INSERT INTO sip_config (resource, config) VALUES (?1, ?2)
                 ON CONFLICT (resource) DO UPDATE SET config = excluded.config",
            )?
            .execute(params![resource, json(&SipRow::of(sip))?])?;
        }
        NumbersChange::Reserved {
            reservation,
            dropped,
        } => {
            tx.prepare_cached(
                "INSERT INTO number_reservations (resource, id, reservation) VALUES (?1, ?2, ?3)
                 ON CONFLICT (resource, id) DO UPDATE SET reservation = excluded.reservation",
            )?
            .execute(params![
                resource,
                reservation.id,
                json(&ReservationRow::of(reservation))?
            ])?;
            let mut delete = tx.prepare_cached(
                "DELETE FROM number_reservations WHERE resource = ?1 AND id = ?2",
            )?;
            for id in dropped {
                delete.execute(params![resource, id])?;
            }
        }
        NumbersChange::ReservationDeleted(id) => {
            tx.prepare_cached("DELETE FROM number_reservations WHERE resource = ?1 AND id = ?2")?
                .execute(params![resource, id])?;
        }
    }
    Ok(())
}

fn apply_chat(
    tx: &rusqlite::Transaction<'_>,
    resource: &str,
    change: &ChatChange,
) -> rusqlite::Result<()> {
    let thread = change.thread.props.id.as_str();
    let put_thread = || -> rusqlite::Result<()> {
        tx.prepare_cached(
            "INSERT INTO chat_threads (resource, id, props, participants) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (resource, id) DO UPDATE SET props = excluded.props,
               participants = excluded.participants",
        )?
        .execute(params![
            resource,
            thread,
            json(&PropsRow::of(&change.thread.props))?,
            json(&rows::participants_of(&change.thread.participants))?,
        ])?;
        Ok(())
    };
    let put_message = |m: &crate::store::MessageView| -> rusqlite::Result<()> {
        tx.prepare_cached(
            "INSERT INTO chat_messages (resource, thread, seq, message) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (resource, thread, seq) DO UPDATE SET message = excluded.message",
        )?
        .execute(params![
            resource,
            thread,
            i64::try_from(m.sequence_id).unwrap_or(i64::MAX),
            json(&MessageRow::of(m))?,
        ])?;
        Ok(())
    };
    match &change.kind {
        ChatChangeKind::ThreadCreated
        | ChatChangeKind::ThreadUpdated
        | ChatChangeKind::ParticipantsAdded(_) => put_thread()?,
        ChatChangeKind::ParticipantRemoved(p) => {
            put_thread()?;
            tx.prepare_cached(
                "DELETE FROM chat_receipts WHERE resource = ?1 AND thread = ?2 AND sender = ?3",
            )?
            .execute(params![resource, thread, p.id.raw_id()])?;
        }
        ChatChangeKind::ThreadDeleted => {
            put_thread()?;
            for table in ["chat_messages", "chat_receipts"] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE resource = ?1 AND thread = ?2"),
                    params![resource, thread],
                )?;
            }
        }
        ChatChangeKind::MessageSent(m)
        | ChatChangeKind::MessageEdited(m)
        | ChatChangeKind::MessageDeleted(m) => put_message(m)?,
        ChatChangeKind::ReadReceiptSent(r) => {
            // The latest place wins, as in the store (message ids grow with sequence ids).
            tx.prepare_cached(
                "INSERT INTO chat_receipts (resource, thread, sender, message_id, read_on)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (resource, thread, sender) DO UPDATE SET
                   message_id = excluded.message_id, read_on = excluded.read_on
                 WHERE excluded.message_id >= chat_receipts.message_id",
            )?
            .execute(params![
                resource,
                thread,
                r.sender.to_string(),
                i64::try_from(r.message_id.0).unwrap_or(i64::MAX),
                time(r.read_on),
            ])?;
        }
        ChatChangeKind::Typing { .. } => {}
    }
    for m in &change.system_messages {
        put_message(m)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventType;
    use chrono::{DateTime, Utc};

    /// A state directory under the system's temporary directory, removed when dropped.
    struct Temp(PathBuf);

    impl Drop for Temp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 123_456_789).expect("valid")
    }

    fn event(id: &str) -> Arc<Event> {
        Arc::new(Event {
            id: id.into(),
            event_type: EventType::SmsReceived,
            subject: "/phonenumber/18005550100".into(),
            topic: "/subscriptions/s/resourceGroups/g".into(),
            event_time: at(1),
            data: serde_json::json!({"MessageId": id, "Message": "hé ✓"}),
        })
    }

    fn queued(subscription: &str, seq: u64, id: &str) -> Note {
        Note::Queued {
            subscription: subscription.into(),
            seq,
            event: event(id),
        }
    }

    fn report(kind: ReportKind, id: &str, index: u32, due: i64) -> ReportKey {
        ReportKey {
            kind,
            topic: "/t".into(),
            id: id.into(),
            index,
            due: at(due),
        }
    }

    fn commit(dir: &mut StateDir, notes: Vec<Note>) {
        let tx = dir.conn.transaction().expect("transaction");
        for note in &notes {
            apply_note(&tx, note).expect("applied");
        }
        tx.commit().expect("committed");
    }

    #[test]
    fn the_event_bus_notes_become_rows_that_read_back_in_order() {
        let temp =
            Temp(std::env::temp_dir().join(format!("acs-emulator-unit-{}", uuid::Uuid::new_v4())));
        let mut dir = StateDir::open(&temp.0).expect("opens");
        commit(
            &mut dir,
            vec![
                queued("a", 1, "e1"),
                queued("a", 2, "e2"),
                queued("b", 2, "e2"),
                queued("c", 3, "e3"),
                Note::Settled {
                    subscription: "a".into(),
                    seqs: vec![1],
                },
                Note::Unsubscribed("c".into()),
                // Queued again (a redelivery): one row still.
                queued("b", 2, "e2"),
                Note::ReportsScheduled(vec![
                    report(ReportKind::Email, "op", 1, 30),
                    report(ReportKind::Sms, "Outgoing_1", 0, 20),
                    report(ReportKind::Email, "op", 0, 10),
                ]),
                Note::ReportsTaken(vec![report(ReportKind::Email, "op", 0, 10)]),
            ],
        );

        let pending = dir.pending_events().expect("reads");
        let kept: Vec<(&str, u64, &str)> = pending
            .iter()
            .map(|(s, seq, e)| (s.as_str(), *seq, e.id.as_str()))
            .collect();
        assert_eq!(kept, [("a", 2, "e2"), ("b", 2, "e2")]);
        assert_eq!(pending[0].2, *event("e2"), "the event reads back whole");
        let due = dir.due_reports().expect("reads");
        assert_eq!(
            due,
            [
                report(ReportKind::Sms, "Outgoing_1", 0, 20),
                report(ReportKind::Email, "op", 1, 30)
            ]
        );

        commit(&mut dir, vec![Note::Cleared, Note::ReportsCleared]);
        assert!(dir.pending_events().expect("reads").is_empty());
        assert!(dir.due_reports().expect("reads").is_empty());
    }

    #[test]
    fn a_garbled_kept_event_is_reported_as_damage_not_guessed_at() {
        let temp =
            Temp(std::env::temp_dir().join(format!("acs-emulator-unit-{}", uuid::Uuid::new_v4())));
        let dir = StateDir::open(&temp.0).expect("opens");
        dir.conn
            .execute(
                "INSERT INTO pending_events (subscription, seq, event) VALUES ('a', 1, '{\"id\":1}')",
                [],
            )
            .expect("inserted");
        let error = dir.pending_events().expect_err("refused").to_string();
        assert!(error.contains("table pending_events, row a/1"), "{error}");
    }
}
