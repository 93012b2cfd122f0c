//! Start-up: the kept rows back into the in-memory stores ([`StateDir::load`]), and the
//! kept state outside the stores (run-time fixtures, subscriptions, undelivered events, the
//! clock) for `startup` to put back.

use super::*;

impl StateDir {
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
