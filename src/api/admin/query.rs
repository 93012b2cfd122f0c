//! What the control API's listings share: query-parameter errors, `wait`/`count` parsing, the
//! long poll that waits for enough matching records, and the `DELETE` answer.

use std::time::Duration;

use serde::Serialize;
use tokio::sync::futures::Notified;

use crate::error::ApiError;

/// `{"cleared": n}`: what a `DELETE` of a listing forgot.
#[derive(Debug, Serialize)]
pub struct Cleared {
    /// How many records went.
    pub cleared: usize,
}

/// A listing's query string: its filter, and how long to wait for how many matching records.
#[derive(Debug)]
pub struct Poll<F> {
    /// What the records must match.
    pub filter: F,
    /// `wait`: how long to wait for `count` matches (none: answer at once).
    pub wait: Option<Duration>,
    /// `count` (default 1).
    pub count: usize,
}

impl<F: Default> Poll<F> {
    /// Parses `query`: `wait` and `count` here, every other parameter with `filter_by`, which
    /// ignores the ones it does not know and refuses bad values.
    pub fn parse(
        query: &str,
        mut filter_by: impl FnMut(&mut F, &str, &str) -> Result<(), ApiError>,
    ) -> Result<Self, ApiError> {
        let mut poll = Poll {
            filter: F::default(),
            wait: None,
            count: 1,
        };
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let value = value.trim();
            match name.as_ref() {
                "wait" => poll.wait = Some(wait(&name, value)?),
                "count" => poll.count = count(&name, value)?,
                _ => filter_by(&mut poll.filter, &name, value)?,
            }
        }
        Ok(poll)
    }

    /// What `look` finds for the filter: at once, or, with `wait`, once `count` records match
    /// (see [`long_poll`]).
    pub async fn poll<'a, T>(
        &self,
        changed: impl Fn() -> Notified<'a>,
        look: impl Fn(&F) -> Vec<T>,
    ) -> Vec<T> {
        long_poll(self.wait, self.count, changed, || look(&self.filter)).await
    }
}

/// Longest accepted `wait`.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// 400 `InvalidQueryParameter`: `name` has `value`, `expected` something else.
pub fn invalid(name: &str, value: &str, expected: &str) -> ApiError {
    ApiError::invalid_query_parameter(name, value, expected)
}

/// A `wait` value: whole seconds or a duration such as `500ms`, at most [`MAX_WAIT`].
pub fn wait(name: &str, value: &str) -> Result<Duration, ApiError> {
    value
        .parse::<u64>()
        .map(Duration::from_secs)
        .or_else(|_| humantime::parse_duration(value))
        .map(|d| d.min(MAX_WAIT))
        .map_err(|_| invalid(name, value, "a duration such as 5s or 500ms"))
}

/// A `count` value: a whole number of at least 1.
pub fn count(name: &str, value: &str) -> Result<usize, ApiError> {
    value
        .parse::<usize>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| invalid(name, value, "a whole number of at least 1"))
}

/// What `look` finds, once it finds at least `count` records or `wait` (real time) is over;
/// without `wait`, at once. `changed` gives the notification of the next change; it is enabled
/// before each look, so a change in between still wakes the poll.
pub async fn long_poll<'a, T>(
    wait: Option<Duration>,
    count: usize,
    changed: impl Fn() -> Notified<'a>,
    look: impl Fn() -> Vec<T>,
) -> Vec<T> {
    let Some(wait) = wait else {
        return look();
    };
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let next = changed();
        tokio::pin!(next);
        next.as_mut().enable();
        let found = look();
        if found.len() >= count || tokio::time::Instant::now() >= deadline {
            return found;
        }
        if tokio::time::timeout_at(deadline, next).await.is_err() {
            return look();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_and_count_are_checked() {
        assert_eq!(wait("wait", "5").ok(), Some(Duration::from_secs(5)));
        assert_eq!(wait("wait", "500ms").ok(), Some(Duration::from_millis(500)));
        assert_eq!(wait("wait", "1h").ok(), Some(MAX_WAIT));
        assert!(wait("wait", "soon").is_err());
        assert_eq!(count("count", "3").ok(), Some(3));
        assert!(count("count", "0").is_err());
    }

    #[tokio::test]
    async fn the_poll_returns_once_enough_is_found() {
        let notify = std::sync::Arc::new(tokio::sync::Notify::new());
        let items = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u32>::new()));
        let (n, i) = (notify.clone(), items.clone());
        tokio::spawn(async move {
            for k in 0..3 {
                tokio::time::sleep(Duration::from_millis(10)).await;
                i.lock().expect("lock").push(k);
                n.notify_waiters();
            }
        });
        let found = long_poll(
            Some(Duration::from_secs(10)),
            3,
            || notify.notified(),
            || items.lock().expect("lock").clone(),
        )
        .await;
        assert_eq!(found, [0, 1, 2]);
        let none = long_poll(
            Some(Duration::from_millis(20)),
            5,
            || notify.notified(),
            Vec::<u32>::new,
        )
        .await;
        assert!(none.is_empty());
    }
}
