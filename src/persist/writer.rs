//! The writer: [`Persistence`], the change listener (and event journal) that queues what it
//! keeps, and the one thread that turns the queue into rows and commits them in groups.

use super::*;

mod apply;

use apply::{INSERT_SMS, apply, insert_sms};

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
