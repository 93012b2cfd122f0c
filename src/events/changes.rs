//! The bus as a listener of the store's change sink ([`Changes`]): each committed change it
//! wants becomes Event Grid events, built from the change record alone.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::EventBus;
use crate::store::{Area, Change, ChangeListener, Changes};

/// The bus, listening.
struct EventGrid {
    bus: EventBus,
}

impl ChangeListener for EventGrid {
    fn wants(&self, area: Area) -> bool {
        match area {
            Area::Chat => self.bus.inner.subscribed.load(Ordering::Acquire),
            // A sent message's delivery report is scheduled whether or not anyone subscribes
            // yet: a subscription added before it falls due gets it.
            Area::Sms => true,
            // Likewise an email's delivery reports; an engagement is published at once.
            Area::Email => true,
            // Event Grid defines no phone-number events.
            Area::Numbers => false,
            // No events are made of identities or resets.
            Area::Identity | Area::Reset | Area::Clock => false,
            // Event Grid defines no Rooms events.
            Area::Rooms => false,
            // Nor any of the emulator's own configuration.
            Area::Control => false,
        }
    }

    fn changed(&self, resource: &str, change: &Change<'_>) {
        match change {
            Change::Chat(change) => self.bus.chat_changed(resource, change),
            Change::Sms(change) => self.bus.sms_changed(resource, change),
            Change::Email(change) => self.bus.email_changed(resource, change),
            Change::Numbers(_) => {}
            Change::Identity(_) | Change::Reset | Change::Clock(_) => {}
            Change::Rooms(_) | Change::Control(_) => {}
        }
    }
}

impl EventBus {
    /// Makes the bus a listener of `changes`, so that every committed change a subscription
    /// wants is published as events (under the lock of the write that made it, so each
    /// thread's events are queued in commit order). Call it once, before requests are served.
    pub fn listen_to(&self, changes: &Changes) {
        changes.listen(Arc::new(EventGrid { bus: self.clone() }));
    }
}
