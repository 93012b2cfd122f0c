//! Change records as SQL: what each store change writes to the state database (an SMS into the
//! outbox, and Chat's, Rooms', Phone Numbers' and the other services' rows), inside the writer's
//! group transaction.

use super::*;

/// A row of the SMS outbox: columns, not a document (a send to many recipients writes a row
/// each, and nothing is serialised).
pub(super) const INSERT_SMS: &str =
    "INSERT INTO sms_outbox (resource, message_id, sender, recipient,
    message, tag, enable_delivery_report, delivery_report_timeout, repeatability_request_id,
    api_version, sent_at, encoding, segments, delivery_report_at, delivery_failure)
  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";

pub(super) fn insert_sms(
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
pub(super) fn apply(
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
