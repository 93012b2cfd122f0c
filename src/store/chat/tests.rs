use super::*;
use crate::store::Sink;
use chrono::TimeDelta;
use uuid::Uuid;

fn user() -> CommunicationUserId {
    CommunicationUserId::generate(Uuid::new_v4())
}

fn new_thread(topic: &str, others: &[&CommunicationUserId]) -> NewThread {
    NewThread {
        id: None,
        topic: topic.into(),
        participants: others
            .iter()
            .map(|u| Participant {
                id: CommunicationIdentifier::User((*u).clone()),
                display_name: None,
                share_history_time: None,
                metadata: None,
            })
            .collect(),
        metadata: None,
        retention_policy: None,
    }
}

fn text(content: &str) -> NewMessage {
    NewMessage {
        content: content.into(),
        kind: MessageType::Text,
        sender_display_name: None,
        metadata: None,
    }
}

#[test]
fn ids_are_unique_and_increasing_within_one_millisecond() {
    let store = ChatStore::default();
    let now = Utc::now();
    let ids: Vec<u64> = (0..1000).map(|_| store.next_id(now)).collect();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1));
    assert_eq!(ids[0], now.timestamp_millis() as u64);
}

#[test]
fn creating_a_thread_emits_participant_added_then_topic_updated() {
    let store = ChatStore::default();
    let (a, b) = (user(), user());
    let (t, created) = store
        .create_thread(&a, new_thread("T", &[&b]), None, Utc::now(), Sink::NONE)
        .expect("created");
    assert!(created);
    let (page, next) = store
        .list_messages(&b, &t.id, None, None, 10)
        .expect("member");
    assert_eq!(next, None);
    let kinds: Vec<_> = page.iter().map(|m| (m.sequence_id, m.kind)).collect();
    assert_eq!(
        kinds,
        vec![
            (2, MessageType::TopicUpdated),
            (1, MessageType::ParticipantAdded)
        ]
    );
    let added = page[1].system.as_ref().expect("system");
    assert_eq!(added.participants.len(), 2);
    assert_eq!(added.initiator, CommunicationIdentifier::User(a.clone()));
}

#[test]
fn paging_is_a_descending_walk_that_ignores_newer_messages() {
    let store = ChatStore::default();
    let a = user();
    let (t, _) = store
        .create_thread(&a, new_thread("T", &[]), None, Utc::now(), Sink::NONE)
        .expect("created");
    for i in 0..10 {
        store
            .send_message(&a, &t.id, text(&i.to_string()), Utc::now(), Sink::NONE)
            .expect("sent");
    }
    let (p1, next) = store.list_messages(&a, &t.id, None, None, 5).expect("ok");
    assert_eq!(p1.first().map(|m| m.sequence_id), Some(12));
    assert_eq!(next, Some(7));
    store
        .send_message(&a, &t.id, text("late"), Utc::now(), Sink::NONE)
        .expect("sent");
    let (p2, next) = store.list_messages(&a, &t.id, None, next, 5).expect("ok");
    assert_eq!(
        p2.iter().map(|m| m.sequence_id).collect::<Vec<_>>(),
        vec![7, 6, 5, 4, 3]
    );
    let (p3, next) = store.list_messages(&a, &t.id, None, next, 5).expect("ok");
    assert_eq!(
        p3.iter().map(|m| m.sequence_id).collect::<Vec<_>>(),
        vec![2, 1]
    );
    assert_eq!(next, None);
}

#[test]
fn created_on_never_decreases_when_the_clock_goes_back() {
    let store = ChatStore::default();
    let a = user();
    let now = Utc::now();
    let (t, _) = store
        .create_thread(&a, new_thread("T", &[]), None, now, Sink::NONE)
        .expect("created");
    store
        .send_message(&a, &t.id, text("x"), now - TimeDelta::hours(1), Sink::NONE)
        .expect("sent");
    let m = store.list_messages(&a, &t.id, None, None, 1).expect("ok").0;
    assert_eq!(m[0].created_on, now);
}

#[test]
fn non_participants_and_deleted_threads_are_refused() {
    let store = ChatStore::default();
    let (a, b) = (user(), user());
    let (t, _) = store
        .create_thread(&a, new_thread("T", &[]), None, Utc::now(), Sink::NONE)
        .expect("created");
    assert_eq!(store.get_thread(&b, &t.id), Err(ChatError::NotParticipant));
    store
        .delete_thread(&a, &t.id, Utc::now(), Sink::NONE)
        .expect("deleted");
    assert_eq!(
        store.get_thread(&a, &t.id),
        Err(ChatError::ThreadNotFound(t.id.clone()))
    );
    assert_eq!(
        store.delete_thread(&a, &t.id, Utc::now(), Sink::NONE),
        Ok(false)
    );
    assert!(store.list_threads(&a, None, None, 10).0.is_empty());
}

#[test]
fn repeatability_returns_the_same_thread_per_creator() {
    let store = ChatStore::default();
    let (a, b) = (user(), user());
    let now = Utc::now();
    let (t1, c1) = store
        .create_thread(&a, new_thread("T", &[]), Some("k".into()), now, Sink::NONE)
        .expect("created");
    let (t2, c2) = store
        .create_thread(&a, new_thread("T", &[]), Some("k".into()), now, Sink::NONE)
        .expect("created");
    let (t3, _) = store
        .create_thread(&b, new_thread("T", &[]), Some("k".into()), now, Sink::NONE)
        .expect("created");
    assert!(c1 && !c2);
    assert_eq!(t1.id, t2.id);
    assert_ne!(t1.id, t3.id);
}

fn limited(threads: usize, messages: usize, per_thread: usize, people: usize) -> ChatStore {
    ChatStore::with_limits(ChatLimits {
        threads,
        messages,
        messages_per_thread: per_thread,
        participants_per_thread: people,
    })
}

#[test]
fn a_full_thread_table_drops_tombstones_before_it_refuses() {
    let store = limited(2, 100, 100, 10);
    let a = user();
    let now = Utc::now();
    let (t1, _) = store
        .create_thread(&a, new_thread("1", &[]), Some("k1".into()), now, Sink::NONE)
        .expect("room");
    store
        .create_thread(&a, new_thread("2", &[]), None, now, Sink::NONE)
        .expect("room");
    assert_eq!(
        store.create_thread(&a, new_thread("3", &[]), None, now, Sink::NONE),
        Err(ChatError::ThreadsFull(2))
    );
    store
        .delete_thread(&a, &t1.id, now, Sink::NONE)
        .expect("deleted");
    store
        .create_thread(&a, new_thread("3", &[]), None, now, Sink::NONE)
        .expect("the tombstone made room");
    assert_eq!(store.len(), 2);
    // The dropped thread's repeatability record went with it.
    assert!(store.repeatability.is_empty());
    assert_eq!(
        store.get_thread(&a, &t1.id),
        Err(ChatError::ThreadNotFound(t1.id.clone()))
    );
}

#[test]
fn a_full_thread_refuses_every_message_and_changes_nothing() {
    let store = limited(10, 100, 4, 10);
    let (a, b) = (user(), user());
    let now = Utc::now();
    let (t, _) = store
        .create_thread(&a, new_thread("T", &[&b]), None, now, Sink::NONE)
        .expect("room");
    store
        .send_message(&a, &t.id, text("1"), now, Sink::NONE)
        .expect("3rd");
    store
        .send_message(&b, &t.id, text("2"), now, Sink::NONE)
        .expect("4th");
    assert_eq!(
        store.send_message(&a, &t.id, text("3"), now, Sink::NONE),
        Err(ChatError::ThreadMessagesFull(4))
    );
    let update = ThreadUpdate {
        topic: Some("new".into()),
        metadata: Some(Some(MetadataPatch::from([("k".into(), Some("v".into()))]))),
        ..ThreadUpdate::default()
    };
    assert_eq!(
        store.update_thread(&a, &t.id, update, now, Sink::NONE),
        Err(ChatError::ThreadMessagesFull(4))
    );
    let props = store.get_thread(&a, &t.id).expect("member");
    assert_eq!((props.topic.as_str(), props.metadata), ("T", None));
    let target = CommunicationIdentifier::User(b.clone());
    assert_eq!(
        store.remove_participant(&a, &t.id, &target, now, Sink::NONE),
        Err(ChatError::ThreadMessagesFull(4))
    );
    assert!(store.get_thread(&b, &t.id).is_ok(), "b is still a member");
    let (page, _) = store.list_messages(&a, &t.id, None, None, 10).expect("ok");
    assert_eq!(page.len(), 4);
    assert_eq!(store.message_count(), 4);
}

#[test]
fn the_message_total_spans_threads_and_a_deleted_thread_frees_its_share() {
    let store = limited(10, 5, 100, 10);
    let a = user();
    let now = Utc::now();
    let (t1, _) = store
        .create_thread(&a, new_thread("1", &[]), None, now, Sink::NONE)
        .expect("room");
    let (t2, _) = store
        .create_thread(&a, new_thread("2", &[]), None, now, Sink::NONE)
        .expect("room");
    store
        .send_message(&a, &t2.id, text("5th"), now, Sink::NONE)
        .expect("room");
    assert_eq!(
        store.send_message(&a, &t1.id, text("6th"), now, Sink::NONE),
        Err(ChatError::MessagesFull(5))
    );
    assert_eq!(
        store.create_thread(&a, new_thread("3", &[]), None, now, Sink::NONE),
        Err(ChatError::MessagesFull(5))
    );
    assert_eq!(store.len(), 2, "the refused thread took no room");
    store
        .delete_thread(&a, &t2.id, now, Sink::NONE)
        .expect("deleted");
    assert_eq!(store.message_count(), 2);
    store
        .send_message(&a, &t1.id, text("again"), now, Sink::NONE)
        .expect("room");
    store
        .create_thread(&a, new_thread("3", &[]), None, now, Sink::NONE)
        .expect("room");
    assert_eq!(store.message_count(), 5);
}

#[test]
fn participants_are_capped_per_thread_and_a_refused_add_adds_nobody() {
    let store = limited(10, 100, 100, 3);
    let a = user();
    let others: Vec<CommunicationUserId> = (0..3).map(|_| user()).collect();
    let refs: Vec<&CommunicationUserId> = others.iter().collect();
    let now = Utc::now();
    assert_eq!(
        store.create_thread(&a, new_thread("T", &refs), None, now, Sink::NONE),
        Err(ChatError::ParticipantsFull(3))
    );
    let (t, _) = store
        .create_thread(&a, new_thread("T", &refs[..1]), None, now, Sink::NONE)
        .expect("creator plus one");
    let participant = |u: &CommunicationUserId| Participant {
        id: CommunicationIdentifier::User(u.clone()),
        display_name: None,
        share_history_time: None,
        metadata: None,
    };
    let two = vec![participant(&others[1]), participant(&others[2])];
    assert_eq!(
        store.add_participants(&a, &t.id, two, now, Sink::NONE),
        Err(ChatError::ParticipantsFull(3))
    );
    let (listed, _) = store.list_participants(&a, &t.id, 0, 10).expect("ok");
    assert_eq!(listed.len(), 2);
    // Adding someone already there takes no room.
    let again = vec![participant(&others[0]), participant(&others[1])];
    store
        .add_participants(&a, &t.id, again, now, Sink::NONE)
        .expect("one new");
    assert_eq!(
        store
            .list_participants(&a, &t.id, 0, 10)
            .expect("ok")
            .0
            .len(),
        3
    );
}

#[test]
fn parallel_senders_stop_exactly_at_the_caps() {
    for (per_thread, total) in [(12, 1000), (1000, 12)] {
        let store = Arc::new(limited(10, total, per_thread, 10));
        let a = user();
        let (t, _) = store
            .create_thread(&a, new_thread("T", &[]), None, Utc::now(), Sink::NONE)
            .expect("room");
        let senders: Vec<_> = (0..32)
            .map(|_| {
                let (store, a, id) = (store.clone(), a.clone(), t.id.clone());
                std::thread::spawn(move || {
                    store
                        .send_message(&a, &id, text("x"), Utc::now(), Sink::NONE)
                        .is_ok()
                })
            })
            .collect();
        let sent = senders
            .into_iter()
            .map(|s| s.join().expect("thread"))
            .filter(|ok| *ok)
            .count();
        assert_eq!(sent, 10, "per thread {per_thread}, total {total}");
        let (page, _) = store.list_messages(&a, &t.id, None, None, 100).expect("ok");
        assert_eq!(page.len(), 12);
        assert_eq!(store.message_count(), 12);
    }
}

#[test]
fn clearing_gives_all_room_back_and_detaches_threads_held_by_requests() {
    let store = limited(1, 3, 100, 10);
    let a = user();
    let now = Utc::now();
    let (t, _) = store
        .create_thread(&a, new_thread("T", &[]), Some("k".into()), now, Sink::NONE)
        .expect("room");
    let held = store.thread(&t.id).expect("exists");
    store.clear();
    assert_eq!(store.message_count(), 0);
    // A request that fetched the thread before the reset finds it gone.
    {
        let state = lock(&held);
        assert_eq!(
            state.check_member(&a).map(|_| ()),
            Err(ChatError::ThreadNotFound(t.id.clone()))
        );
        assert!(state.messages.is_empty());
    }
    let (again, created) = store
        .create_thread(&a, new_thread("T", &[]), Some("k".into()), now, Sink::NONE)
        .expect("room after the reset");
    assert!(created && again.id != t.id);
    store
        .send_message(&a, &again.id, text("3rd"), now, Sink::NONE)
        .expect("room");
    assert_eq!(
        store.send_message(&a, &again.id, text("4th"), now, Sink::NONE),
        Err(ChatError::MessagesFull(3))
    );
}

#[test]
fn counts_stay_exact_when_clears_race_writers() {
    let store = Arc::new(limited(50, 400, 100, 10));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let (store, stop) = (store.clone(), stop.clone());
            std::thread::spawn(move || {
                let a = user();
                while !stop.load(Ordering::Relaxed) {
                    let Ok((t, _)) =
                        store.create_thread(&a, new_thread("T", &[]), None, Utc::now(), Sink::NONE)
                    else {
                        continue;
                    };
                    for _ in 0..5 {
                        let _ = store.send_message(&a, &t.id, text("x"), Utc::now(), Sink::NONE);
                    }
                    let _ = store.delete_thread(&a, &t.id, Utc::now(), Sink::NONE);
                }
            })
        })
        .collect();
    for _ in 0..300 {
        store.clear();
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer");
    }
    assert_eq!(store.message_count(), store.stored_messages());
    assert_eq!(store.thread_count.get(), store.len());
    let tombstones = store
        .threads
        .iter()
        .filter(|t| lock(t.value()).is_deleted())
        .count();
    assert_eq!(store.tombstones.load(Ordering::Acquire), tombstones);
}

/// Keeps every chat change it hears of.
#[derive(Default)]
struct Recorder(Mutex<Vec<ChatChange>>);

impl crate::store::ChangeListener for Recorder {
    fn wants(&self, area: crate::store::Area) -> bool {
        area == crate::store::Area::Chat
    }

    fn changed(&self, _resource: &str, change: &crate::store::Change<'_>) {
        if let crate::store::Change::Chat(change) = change {
            self.0.lock().expect("lock").push(change.clone());
        }
    }
}

fn recording() -> (crate::store::Changes, Arc<Recorder>) {
    let changes = crate::store::Changes::default();
    let recorder = Arc::new(Recorder::default());
    changes.listen(recorder.clone());
    (changes, recorder)
}

#[test]
fn every_write_publishes_what_it_changed_as_the_write_left_it() {
    let store = ChatStore::default();
    let (changes, recorder) = recording();
    let sink = changes.sink("default");
    let (a, b, c) = (user(), user(), user());
    let now = Utc::now();
    let (t, _) = store
        .create_thread(&a, new_thread("T", &[&b]), None, now, sink)
        .expect("created");
    let (m, _) = store
        .send_message(&a, &t.id, text("hello"), now, sink)
        .expect("sent");
    store
        .update_message(&a, &t.id, m, Some("edited".into()), None, now, sink)
        .expect("edited");
    store
        .send_read_receipt(&b, &t.id, m, now, sink)
        .expect("read");
    store
        .send_typing(&b, &t.id, Some("Bob"), now, sink)
        .expect("typing");
    let carol = Participant {
        id: CommunicationIdentifier::User(c.clone()),
        display_name: None,
        share_history_time: None,
        metadata: None,
    };
    store
        .add_participants(&a, &t.id, vec![carol.clone()], now, sink)
        .expect("added");
    store
        .remove_participant(&a, &t.id, &carol.id, now, sink)
        .expect("removed");
    store
        .update_thread(
            &a,
            &t.id,
            ThreadUpdate {
                topic: Some("renamed".into()),
                ..ThreadUpdate::default()
            },
            now,
            sink,
        )
        .expect("updated");
    assert!(
        store
            .delete_message(&a, &t.id, m, now, sink)
            .expect("deleted")
    );
    // Repeats change nothing and publish nothing.
    assert!(
        !store
            .delete_message(&a, &t.id, m, now, sink)
            .expect("again")
    );
    assert!(store.delete_thread(&a, &t.id, now, sink).expect("deleted"));
    assert!(!store.delete_thread(&a, &t.id, now, sink).expect("again"));

    let seen = recorder.0.lock().expect("lock").clone();
    let names = |c: &ChatChange| c.thread.participants.len();
    let kinds: Vec<(&str, usize)> = seen
        .iter()
        .map(|c| {
            let kind = match &c.kind {
                ChatChangeKind::ThreadCreated => "created",
                ChatChangeKind::MessageSent(_) => "sent",
                ChatChangeKind::MessageEdited(_) => "edited",
                ChatChangeKind::ReadReceiptSent(_) => "read",
                ChatChangeKind::Typing { .. } => "typing",
                ChatChangeKind::ParticipantsAdded(_) => "added",
                ChatChangeKind::ParticipantRemoved(_) => "removed",
                ChatChangeKind::ThreadUpdated => "updated",
                ChatChangeKind::MessageDeleted(_) => "message deleted",
                ChatChangeKind::ThreadDeleted => "thread deleted",
            };
            (kind, names(c))
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("created", 2),
            ("sent", 2),
            ("edited", 2),
            ("read", 2),
            ("typing", 2),
            ("added", 3),
            ("removed", 2),
            ("updated", 2),
            ("message deleted", 2),
            ("thread deleted", 2),
        ]
    );
    let ChatChangeKind::MessageSent(sent) = &seen[1].kind else {
        panic!("not a send: {:?}", seen[1]);
    };
    let ChatChangeKind::MessageEdited(edited) = &seen[2].kind else {
        panic!("not an edit: {:?}", seen[2]);
    };
    let ChatChangeKind::MessageDeleted(deleted) = &seen[8].kind else {
        panic!("not a deletion: {:?}", seen[8]);
    };
    assert_eq!(sent.content.as_deref(), Some("hello"));
    assert_eq!(edited.content.as_deref(), Some("edited"));
    assert!(edited.version > sent.version && edited.edited_on.is_some());
    assert_eq!(deleted.content.as_deref(), Some(""));
    assert!(deleted.deleted_on.is_some());
    assert_eq!(seen[4].by, b);
    assert_eq!(
        seen[4].kind,
        ChatChangeKind::Typing {
            sender_display_name: Some("Bob".into())
        }
    );
    // The snapshot is the thread as each change left it, not as it is now.
    assert_eq!(seen[0].thread.props.topic, "T");
    assert_eq!(seen[7].thread.props.topic, "renamed");
    assert_eq!(seen[8].thread.props.deleted_on, None);
    assert_eq!(seen[9].thread.props.deleted_on, Some(now));
}

#[test]
fn refused_writes_and_repeated_creates_publish_nothing() {
    let store = ChatStore::with_limits(ChatLimits {
        messages_per_thread: 2,
        ..ChatLimits::default()
    });
    let (changes, recorder) = recording();
    let sink = changes.sink("default");
    let (a, b) = (user(), user());
    let now = Utc::now();
    let (t, _) = store
        .create_thread(&a, new_thread("T", &[]), Some("k".into()), now, sink)
        .expect("created");
    let (again, created) = store
        .create_thread(&a, new_thread("T", &[]), Some("k".into()), now, sink)
        .expect("repeated");
    assert_eq!((again.id, created), (t.id.clone(), false));
    assert!(store.send_message(&a, &t.id, text("x"), now, sink).is_err());
    assert!(store.send_message(&b, &t.id, text("x"), now, sink).is_err());
    assert_eq!(recorder.0.lock().expect("lock").len(), 1);
}

#[test]
fn a_snapshot_shares_the_threads_participants_until_they_change() {
    let store = ChatStore::default();
    let (changes, recorder) = recording();
    let sink = changes.sink("default");
    let (a, b) = (user(), user());
    let now = Utc::now();
    let (t, _) = store
        .create_thread(&a, new_thread("T", &[&b]), None, now, sink)
        .expect("created");
    store
        .send_message(&a, &t.id, text("one"), now, sink)
        .expect("sent");
    store
        .send_message(&a, &t.id, text("two"), now, sink)
        .expect("sent");
    let seen = recorder.0.lock().expect("lock").clone();
    assert!(Arc::ptr_eq(
        &seen[1].thread.participants,
        &seen[2].thread.participants
    ));
    assert!(Arc::ptr_eq(&seen[1].thread.props, &seen[2].thread.props));
}
