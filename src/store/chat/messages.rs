//! Message operations (send, list, get, edit, delete), read receipts and typing.

use chrono::{DateTime, Utc};

use super::thread::Body;
use super::*;
use crate::store::changes::{Area, Sink};

impl ChatStore {
    /// `POST …/messages`: appends a user message and publishes
    /// [`ChatChangeKind::MessageSent`]; returns its id and sequence id.
    pub fn send_message(
        &self,
        caller: &CommunicationUserId,
        id: &ThreadId,
        message: NewMessage,
        now: DateTime<Utc>,
        sink: Sink<'_>,
    ) -> Result<(ChatMessageId, u64), ChatError> {
        self.with_member(id, caller, |t| {
            // Room first, so a refused message does not add its sender to the sender table.
            self.reserve_message(t)?;
            let sender = t.sender_index(caller);
            let msg_id = self.next_id(now);
            let seq = t.push(
                msg_id,
                message.kind,
                now,
                Body::User {
                    content: message.content,
                    sender,
                    sender_display_name: message.sender_display_name,
                    metadata: message.metadata,
                },
            );
            sink.publish(Area::Chat, || {
                t.change(caller, now, ChatChangeKind::MessageSent(t.view(seq)))
            });
            Ok((ChatMessageId(msg_id), seq))
        })
    }

    /// `GET …/messages`: newest first, starting at sequence id `from` (inclusive; `None` = the
    /// newest), down to the first message at or after `start_time` and the caller's
    /// `shareHistoryTime`. Returns the page and the sequence id the next page starts at.
    ///
    /// O(page + log n): a page is a slice of the message vector.
    pub fn list_messages(
        &self,
        caller: &CommunicationUserId,
        id: &ThreadId,
        start_time: Option<DateTime<Utc>>,
        from: Option<u64>,
        max: usize,
    ) -> Result<(Vec<MessageView>, Option<u64>), ChatError> {
        self.with_member(id, caller, |t| {
            let share = t.member(caller).and_then(|p| p.share_history_time);
            let bound = match (start_time, share) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            let low = t.first_seq_at_or_after(bound);
            let newest = t.messages.len() as u64;
            let high = from.map_or(newest, |f| f.min(newest));
            if high < low {
                return Ok((Vec::new(), None));
            }
            let count = (high - low + 1).min(max as u64);
            let page: Vec<MessageView> = (0..count).map(|i| t.view(high - i)).collect();
            let next_from = high - count;
            let next = (next_from >= low && next_from >= 1).then_some(next_from);
            Ok((page, next))
        })
    }

    /// `GET …/messages/{messageId}`.
    pub fn get_message(
        &self,
        caller: &CommunicationUserId,
        id: &ThreadId,
        message: ChatMessageId,
    ) -> Result<MessageView, ChatError> {
        self.with_member(id, caller, |t| {
            let seq = t.visible_seq(caller, message)?;
            Ok(t.view(seq))
        })
    }

    /// `PATCH …/messages/{messageId}`: only the sender, only live user messages. Bumps
    /// `version`, sets `editedOn` and publishes [`ChatChangeKind::MessageEdited`].
    #[allow(clippy::too_many_arguments)]
    pub fn update_message(
        &self,
        caller: &CommunicationUserId,
        id: &ThreadId,
        message: ChatMessageId,
        content: Option<String>,
        metadata: Option<Option<MetadataPatch>>,
        now: DateTime<Utc>,
        sink: Sink<'_>,
    ) -> Result<(), ChatError> {
        self.with_member(id, caller, |t| {
            let seq = t.visible_seq(caller, message)?;
            let idx = (seq - 1) as usize;
            let sender_idx = match &t.messages[idx].body {
                Body::User { sender, .. } => *sender,
                Body::System(_) => return Err(ChatError::NotSender),
            };
            if t.senders.get(sender_idx as usize) != Some(caller) {
                return Err(ChatError::NotSender);
            }
            if t.messages[idx].deleted_on.is_some() {
                return Err(ChatError::MessageNotFound(message));
            }
            // The merged metadata must fit before anything changes.
            let merged = match (&t.messages[idx].body, metadata) {
                (Body::User { metadata: md, .. }, Some(patch)) => {
                    let merged = merge_metadata(md.as_ref(), patch);
                    if merged
                        .as_ref()
                        .is_some_and(|m| metadata_size(m) > METADATA_LIMIT_BYTES)
                    {
                        return Err(ChatError::MetadataTooLarge);
                    }
                    Some(merged)
                }
                _ => None,
            };
            let version = self.next_id(now);
            let m = &mut t.messages[idx];
            if let Body::User {
                content: c,
                metadata: md,
                ..
            } = &mut m.body
            {
                if let Some(new) = content {
                    *c = new;
                }
                if let Some(merged) = merged {
                    *md = merged;
                }
            }
            m.version = version;
            m.edited_on = Some(now);
            sink.publish(Area::Chat, || {
                t.change(caller, now, ChatChangeKind::MessageEdited(t.view(seq)))
            });
            Ok(())
        })
    }

    /// `DELETE …/messages/{messageId}`: only the sender; idempotent. `true` when this call
    /// deleted it (and published [`ChatChangeKind::MessageDeleted`]).
    pub fn delete_message(
        &self,
        caller: &CommunicationUserId,
        id: &ThreadId,
        message: ChatMessageId,
        now: DateTime<Utc>,
        sink: Sink<'_>,
    ) -> Result<bool, ChatError> {
        self.with_member(id, caller, |t| {
            let seq = t.visible_seq(caller, message)?;
            let idx = (seq - 1) as usize;
            match &t.messages[idx].body {
                Body::User { sender, .. } if t.senders.get(*sender as usize) == Some(caller) => {}
                _ => return Err(ChatError::NotSender),
            }
            let m = &mut t.messages[idx];
            if m.deleted_on.is_some() {
                return Ok(false);
            }
            m.deleted_on = Some(now);
            sink.publish(Area::Chat, || {
                t.change(caller, now, ChatChangeKind::MessageDeleted(t.view(seq)))
            });
            Ok(true)
        })
    }

    /// `POST …/readReceipts`: records that the caller read up to `message` and publishes
    /// [`ChatChangeKind::ReadReceiptSent`]. A receipt for an older message than the caller's
    /// latest one does not move it back.
    pub fn send_read_receipt(
        &self,
        caller: &CommunicationUserId,
        id: &ThreadId,
        message: ChatMessageId,
        now: DateTime<Utc>,
        sink: Sink<'_>,
    ) -> Result<(), ChatError> {
        self.with_member(id, caller, |t| {
            let seq = t.visible_seq(caller, message)?;
            let receipt = ReadReceipt {
                sender: caller.clone(),
                message_id: message,
                read_on: now,
                sequence_id: seq,
            };
            let key = caller.to_string();
            let keep_old = t.receipts.get(&key).is_some_and(|r| r.sequence_id > seq);
            sink.publish(Area::Chat, || {
                t.change(
                    caller,
                    now,
                    ChatChangeKind::ReadReceiptSent(receipt.clone()),
                )
            });
            if !keep_old {
                t.receipts.insert(key, receipt);
            }
            Ok(())
        })
    }

    /// `GET …/readReceipts`: the latest receipt per participant; `skip` then at most `max`.
    pub fn list_read_receipts(
        &self,
        caller: &CommunicationUserId,
        id: &ThreadId,
        skip: usize,
        max: usize,
    ) -> Result<(Vec<ReadReceipt>, bool), ChatError> {
        self.with_member(id, caller, |t| {
            let page: Vec<ReadReceipt> =
                t.receipts.values().skip(skip).take(max).cloned().collect();
            let more = t.receipts.len() > skip.saturating_add(max);
            Ok((page, more))
        })
    }

    /// `POST …/typing`: checks that the caller may post to the thread and publishes
    /// [`ChatChangeKind::Typing`]; nothing is stored.
    pub fn send_typing(
        &self,
        caller: &CommunicationUserId,
        id: &ThreadId,
        sender_display_name: Option<&str>,
        now: DateTime<Utc>,
        sink: Sink<'_>,
    ) -> Result<(), ChatError> {
        self.with_member(id, caller, |t| {
            sink.publish(Area::Chat, || {
                let sender_display_name = sender_display_name.map(str::to_string);
                t.change(
                    caller,
                    now,
                    ChatChangeKind::Typing {
                        sender_display_name,
                    },
                )
            });
            Ok(())
        })
    }
}
