//! The request journal: what every data-plane request was, and what became of it.
//!
//! A bounded ring (`--journal-size`, oldest dropped first) behind one mutex, appended once per
//! request after its response is built. `/_emulator/*` requests are not journaled.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

/// One journaled request.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// Increasing sequence number (never reused, also across resets).
    pub seq: u64,
    /// When it arrived (emulator clock, RFC 3339).
    pub time: String,
    /// HTTP method.
    pub method: String,
    /// Path as received (query left out).
    pub path: String,
    /// Operation name, when it is a data-plane operation.
    pub operation: Option<&'static str>,
    /// The resource it was routed to (after authentication).
    pub resource: Option<String>,
    /// The `api-version` query parameter.
    pub api_version: Option<String>,
    /// `accessKey`, `entraId`, `userToken`, `denied` or `none`.
    pub auth: &'static str,
    /// The scenario rule that applied.
    pub rule: Option<String>,
    /// The response status (0 when a transport fault cut the connection).
    pub status: u16,
    /// Time spent in the emulator, milliseconds.
    pub duration_ms: f64,
}

/// Which entries to return.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// Exact operation name.
    pub operation: Option<String>,
    /// Resource name.
    pub resource: Option<String>,
    /// Status code.
    pub status: Option<u16>,
    /// Rule name (`*` for any rule).
    pub rule: Option<String>,
    /// Only entries after this sequence number.
    pub after: Option<u64>,
}

impl Filter {
    fn matches(&self, e: &Entry) -> bool {
        self.operation
            .as_deref()
            .is_none_or(|op| e.operation == Some(op))
            && self
                .resource
                .as_deref()
                .is_none_or(|r| e.resource.as_deref() == Some(r))
            && self.status.is_none_or(|s| e.status == s)
            && self.rule.as_deref().is_none_or(|r| match &e.rule {
                Some(applied) => r == "*" || applied == r,
                None => false,
            })
            && self.after.is_none_or(|after| e.seq > after)
    }
}

struct Inner {
    entries: VecDeque<Entry>,
    next_seq: u64,
    dropped: u64,
}

/// The journal.
pub struct Journal {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl Journal {
    /// Keeps at most `capacity` entries (0: keeps none).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Inner {
                entries: VecDeque::new(),
                next_seq: 1,
                dropped: 0,
            }),
        }
    }

    /// Whether it records anything.
    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// Appends an entry, giving it its sequence number.
    pub fn record(&self, mut entry: Entry) {
        if self.capacity == 0 {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        entry.seq = inner.next_seq;
        inner.next_seq += 1;
        if inner.entries.len() >= self.capacity {
            inner.entries.pop_front();
            inner.dropped += 1;
        }
        inner.entries.push_back(entry);
    }

    /// Matching entries, oldest first, at most `limit` (the newest ones when cut).
    pub fn list(&self, filter: &Filter, limit: usize) -> Vec<Entry> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut found: Vec<Entry> = inner
            .entries
            .iter()
            .rev()
            .filter(|e| filter.matches(e))
            .take(limit)
            .cloned()
            .collect();
        found.reverse();
        found
    }

    /// How many entries match.
    pub fn count(&self, filter: &Filter) -> usize {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.entries.iter().filter(|e| filter.matches(e)).count()
    }

    /// Entries dropped to stay within the capacity since the last clear.
    pub fn dropped(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .dropped
    }

    /// Forgets every entry (sequence numbers keep increasing).
    pub fn clear(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.entries.clear();
        inner.dropped = 0;
    }
}

/// RFC 3339 with milliseconds.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(op: &'static str, status: u16) -> Entry {
        Entry {
            seq: 0,
            time: String::new(),
            method: "POST".into(),
            path: "/sms".into(),
            operation: Some(op),
            resource: Some("default".into()),
            api_version: None,
            auth: "accessKey",
            rule: (status == 429).then(|| "throttle".to_string()),
            status,
            duration_ms: 0.0,
        }
    }

    #[test]
    fn bounded_filtered_and_counted() {
        let journal = Journal::new(3);
        for status in [202, 429, 202, 429] {
            journal.record(entry("Sms.Send", status));
        }
        let all = journal.list(&Filter::default(), 100);
        assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3, 4]);
        assert_eq!(journal.dropped(), 1);
        let throttled = Filter {
            rule: Some("*".into()),
            ..Filter::default()
        };
        assert_eq!(journal.count(&throttled), 2);
        let after = Filter {
            after: Some(3),
            ..Filter::default()
        };
        assert_eq!(journal.list(&after, 100)[0].seq, 4);
        assert_eq!(journal.list(&Filter::default(), 1)[0].seq, 4);
        journal.clear();
        assert_eq!(journal.count(&Filter::default()), 0);
        journal.record(entry("Sms.Send", 202));
        assert_eq!(journal.list(&Filter::default(), 10)[0].seq, 5);
        let off = Journal::new(0);
        off.record(entry("Sms.Send", 202));
        assert_eq!(off.count(&Filter::default()), 0);
    }
}
