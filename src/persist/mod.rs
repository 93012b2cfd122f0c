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
//!
//! # Layout
//! - here: the schema, [`StateDir`] (lock, checks, secrets) and the migrations;
//! - `load`: reading the kept rows back at start-up;
//! - `writer`: [`Persistence`] and the writer thread (change records and the event bus's notes
//!   into rows);
//! - `rows`: the row types and their conversions.

mod load;
mod rows;
mod writer;

pub use writer::Persistence;

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
