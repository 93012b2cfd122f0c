//! The writer: [`Persistence`], the change listener (and event journal) that queues what it
//! keeps, and the one thread that turns the queue into rows and commits them in groups.

use super::*;

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
