//! The request journal: what every data-plane request was, and what became of it.
//!
//! A bounded ring (`--journal-size`, oldest dropped first) behind one mutex, appended once per
//! request after its response is built. `/_emulator/*` requests are not journaled.
//!
//! Recording sits on every request's path, so it borrows what it is given ([`Record`]: the
//! method, the request target, the resource's name, the operation's name, which is static, and a
//! few small values) and copies the two texts into the buffers of the entry it evicts: once the
//! journal is full, a request allocates and frees nothing for it (freeing a record written
//! thousands of requests earlier touched cold memory and cost more than all the rest). The fields
//! derived from what is kept (path, api-version, RFC 3339 time) are worked out when the journal
//! is read.
//!
//! Request and response bodies (the first [`MAX_BODY_BYTES`] of each) are kept only while a
//! live view watches the journal ([`Journal::watch`], the web inspector's stream): otherwise the
//! request path pays one atomic load for them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use actix_web::http::{Method, Uri};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

/// One request, as the journal is given it (see [`Entry`] for what it reads as).
#[derive(Debug)]
pub struct Record<'a> {
    /// When it arrived (emulator clock).
    pub time: DateTime<Utc>,
    /// HTTP method.
    pub method: &'a Method,
    /// The request target as received: the path and the query (e.g. `/sms?api-version=…`).
    pub target: &'a str,
    /// The data-plane operation it matched.
    pub operation: Option<&'static str>,
    /// The resource it was routed to (after authentication).
    pub resource: Option<&'a str>,
    /// `accessKey`, `entraId`, `userToken`, `denied` or `none`.
    pub auth: &'static str,
    /// The scenario rule that applied.
    pub rule: Option<String>,
    /// The response status (0 when a transport fault cut the connection).
    pub status: u16,
    /// Time spent in the emulator, milliseconds.
    pub duration_ms: f64,
    /// The bodies, when a live view was watching ([`Journal::watched`]).
    pub bodies: Option<Box<Bodies>>,
}

/// The request target of `uri` as [`Record::target`] takes it: the path and the query.
pub fn target(uri: &Uri) -> &str {
    uri.path_and_query().map_or("/", |pq| pq.as_str())
}

/// What the journal keeps of one request: a [`Record`] with its texts copied into buffers that
/// are reused when the entry is evicted.
#[derive(Debug, Default)]
struct Kept {
    time: DateTime<Utc>,
    method: Method,
    target: String,
    operation: Option<&'static str>,
    resource: Option<String>,
    auth: &'static str,
    rule: Option<String>,
    status: u16,
    duration_ms: f64,
    bodies: Option<Box<Bodies>>,
}

/// A reused buffer larger than this (a long URI once) is given back rather than kept.
const MAX_REUSED_BYTES: usize = 512;

/// `text` into `buf`, reusing its allocation unless it is much larger than needed.
fn copy_into(buf: &mut String, text: &str) {
    if buf.capacity() > MAX_REUSED_BYTES && text.len() <= MAX_REUSED_BYTES {
        *buf = String::new();
    }
    buf.clear();
    buf.push_str(text);
}

impl Kept {
    /// Overwrites this entry with `record`; returns what it held that is not reused (a rule's
    /// name, bodies), to be dropped outside the journal's lock.
    fn fill(&mut self, record: Record<'_>) -> (Option<String>, Option<Box<Bodies>>) {
        self.time = record.time;
        if self.method != *record.method {
            self.method = record.method.clone();
        }
        copy_into(&mut self.target, record.target);
        self.operation = record.operation;
        match (record.resource, &mut self.resource) {
            (Some(name), Some(buf)) => copy_into(buf, name),
            (Some(name), kept) => *kept = Some(name.to_string()),
            (None, kept) => *kept = None,
        }
        self.auth = record.auth;
        self.status = record.status;
        self.duration_ms = record.duration_ms;
        (
            std::mem::replace(&mut self.rule, record.rule),
            std::mem::replace(&mut self.bodies, record.bodies),
        )
    }

    fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(p, _)| p)
    }

    fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }
}

/// How much of each body the journal keeps.
pub const MAX_BODY_BYTES: usize = 8 * 1024;

/// The start of a request's and its response's bodies, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bodies {
    /// The request body (decoded), or empty.
    pub request: String,
    /// The response body, or `None` when it was streamed.
    pub response: Option<String>,
}

impl Bodies {
    /// At most [`MAX_BODY_BYTES`] of each body as (lossy) UTF-8, with a note when cut.
    pub fn capture(request: &[u8], response: Option<&[u8]>) -> Self {
        Self {
            request: excerpt(request),
            response: response.map(excerpt),
        }
    }

    /// For requests that carry credentials in their bodies (token requests).
    pub fn withheld() -> Self {
        const WITHHELD: &str = "(not kept: it carries credentials)";
        Self {
            request: WITHHELD.into(),
            response: Some(WITHHELD.into()),
        }
    }
}

fn excerpt(bytes: &[u8]) -> String {
    if bytes.len() <= MAX_BODY_BYTES {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    format!(
        "{}… ({} bytes in all)",
        String::from_utf8_lossy(&bytes[..MAX_BODY_BYTES]),
        bytes.len()
    )
}

impl Kept {
    fn entry(&self, seq: u64) -> Entry {
        Entry {
            seq,
            time: timestamp(self.time),
            method: self.method.as_str().to_string(),
            path: self.path().to_string(),
            operation: self.operation,
            resource: self.resource.clone(),
            api_version: form_urlencoded::parse(self.query().as_bytes())
                .find(|(k, _)| k.eq_ignore_ascii_case("api-version"))
                .map(|(_, v)| v.into_owned()),
            auth: self.auth,
            rule: self.rule.clone(),
            status: self.status,
            duration_ms: self.duration_ms,
            request_body: self.bodies.as_ref().map(|b| b.request.clone()),
            response_body: self.bodies.as_ref().and_then(|b| b.response.clone()),
        }
    }
}

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
    /// The request body's start, when a live view was watching.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    /// The response body's start, when a live view was watching.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
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
    fn matches(&self, seq: u64, e: &Kept) -> bool {
        self.after.is_none_or(|after| seq > after)
            && self.status.is_none_or(|s| e.status == s)
            && self
                .resource
                .as_deref()
                .is_none_or(|r| e.resource.as_deref() == Some(r))
            && self.rule.as_deref().is_none_or(|r| match &e.rule {
                Some(applied) => r == "*" || applied == r,
                None => false,
            })
            && self
                .operation
                .as_deref()
                .is_none_or(|op| e.operation == Some(op))
    }
}

struct Inner {
    /// (sequence number, record), oldest first.
    entries: VecDeque<(u64, Kept)>,
    next_seq: u64,
    dropped: u64,
}

/// The journal.
pub struct Journal {
    capacity: usize,
    inner: Mutex<Inner>,
    watchers: AtomicUsize,
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
            watchers: AtomicUsize::new(0),
        }
    }

    /// A live view starts watching: bodies are kept until it [`unwatch`](Self::unwatch)es.
    pub fn watch(&self) {
        self.watchers.fetch_add(1, Ordering::Relaxed);
    }

    /// A live view stops watching.
    pub fn unwatch(&self) {
        self.watchers.fetch_sub(1, Ordering::Relaxed);
    }

    /// Whether bodies are kept (a live view watches and the journal records).
    pub fn watched(&self) -> bool {
        self.capacity > 0 && self.watchers.load(Ordering::Relaxed) > 0
    }

    /// Whether it records anything.
    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// Appends a record, giving it the next sequence number. Once the journal is full, the
    /// oldest entry's buffers take the new record's texts.
    pub fn record(&self, record: Record<'_>) {
        if self.capacity == 0 {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let mut kept = if inner.entries.len() >= self.capacity {
            inner.dropped += 1;
            inner
                .entries
                .pop_front()
                .map(|(_, k)| k)
                .unwrap_or_default()
        } else {
            Kept::default()
        };
        let released = kept.fill(record);
        inner.entries.push_back((seq, kept));
        drop(inner);
        // What is not reused is freed after the lock is released (freeing takes time too).
        drop(released);
    }

    /// Matching entries, oldest first, at most `limit` (the newest ones when cut).
    pub fn list(&self, filter: &Filter, limit: usize) -> Vec<Entry> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut found: Vec<Entry> = inner
            .entries
            .iter()
            .rev()
            .filter(|(seq, r)| filter.matches(*seq, r))
            .take(limit)
            .map(|(seq, r)| r.entry(*seq))
            .collect();
        found.reverse();
        found
    }

    /// How many entries match.
    pub fn count(&self, filter: &Filter) -> usize {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner
            .entries
            .iter()
            .filter(|(seq, r)| filter.matches(*seq, r))
            .count()
    }

    /// The newest entry's sequence number (0 before the first); it changes whenever an entry is
    /// recorded, so a live view can tell there is something new without reading the entries.
    pub fn last_seq(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .next_seq
            - 1
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

    static POST: Method = Method::POST;

    fn entry(op: &'static str, status: u16) -> Record<'static> {
        assert_eq!(op, "Sms.Send");
        Record {
            time: DateTime::UNIX_EPOCH,
            method: &POST,
            target: "/sms?api-version=2021-03-07",
            operation: Some(op),
            resource: Some("default"),
            auth: "accessKey",
            rule: (status == 429).then(|| "throttle".to_string()),
            status,
            duration_ms: 0.0,
            bodies: None,
        }
    }

    #[test]
    fn bodies_are_kept_only_while_watched_and_cut_at_the_limit() {
        let journal = Journal::new(3);
        assert!(!journal.watched());
        journal.watch();
        assert!(journal.watched());
        journal.unwatch();
        assert!(!journal.watched());
        assert!(!Journal::new(0).watched());
        let long = vec![b'a'; MAX_BODY_BYTES + 5];
        let bodies = Bodies::capture(b"{\"x\":1}", Some(&long));
        assert_eq!(bodies.request, "{\"x\":1}");
        let response = bodies.response.expect("kept");
        assert!(response.ends_with(&format!("… ({} bytes in all)", MAX_BODY_BYTES + 5)));
        let mut record = entry("Sms.Send", 202);
        record.bodies = Some(Box::new(Bodies::withheld()));
        journal.record(record);
        let listed = journal.list(&Filter::default(), 10);
        assert!(
            listed[0]
                .request_body
                .as_deref()
                .is_some_and(|b| b.contains("credentials"))
        );
    }

    #[test]
    fn entries_read_as_the_request_was() {
        let journal = Journal::new(3);
        journal.record(entry("Sms.Send", 202));
        let e = &journal.list(&Filter::default(), 1)[0];
        assert_eq!(e.seq, 1);
        assert_eq!(e.time, "1970-01-01T00:00:00.000Z");
        assert_eq!((e.method.as_str(), e.path.as_str()), ("POST", "/sms"));
        assert_eq!(e.operation, Some("Sms.Send"));
        assert_eq!(e.api_version.as_deref(), Some("2021-03-07"));
        let by_op = |op: &str| Filter {
            operation: Some(op.into()),
            ..Filter::default()
        };
        assert_eq!(journal.count(&by_op("Sms.Send")), 1);
        assert_eq!(journal.count(&by_op("Chat.SendMessage")), 0);
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

    #[test]
    fn an_evicted_entry_reused_reads_as_the_new_request_only() {
        static GET: Method = Method::GET;
        let journal = Journal::new(1);
        let mut first = entry("Sms.Send", 429);
        first.bodies = Some(Box::new(Bodies::capture(b"first", Some(b"first"))));
        journal.record(first);
        let long = format!(
            "/chat/threads/{}/messages?api-version=2024-03-07",
            "x".repeat(600)
        );
        journal.record(Record {
            method: &GET,
            target: &long,
            operation: Some("Chat.ListMessages"),
            resource: None,
            auth: "userToken",
            rule: None,
            status: 200,
            ..entry("Sms.Send", 200)
        });
        let e = &journal.list(&Filter::default(), 10)[0];
        assert_eq!((e.seq, e.method.as_str(), e.status), (2, "GET", 200));
        assert_eq!(e.path, long.split_once('?').map(|(p, _)| p).unwrap_or(""));
        assert_eq!(e.api_version.as_deref(), Some("2024-03-07"));
        assert_eq!((e.resource.as_deref(), e.rule.as_deref()), (None, None));
        assert_eq!((e.request_body.as_deref(), e.auth), (None, "userToken"));
        journal.record(Record {
            target: "/identities",
            ..entry("Sms.Send", 201)
        });
        let e = &journal.list(&Filter::default(), 10)[0];
        assert_eq!(
            (e.path.as_str(), e.api_version.as_deref()),
            ("/identities", None)
        );
        assert_eq!(
            (e.method.as_str(), e.resource.as_deref()),
            ("POST", Some("default"))
        );
    }
}
