//! Background tasks that survive their own bugs.
//!
//! The event bus's tasks (the delivery supervisor, one delivery worker per subscription, the SMS
//! delivery-report timer) run for the life of the process. A panic in one of them would
//! otherwise end it silently: the server keeps answering, but events or delivery reports stop
//! for good. [`restart_on_panic`] catches the panic, logs it at `error` level and starts the task
//! again after a pause.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt;

/// How long a task that panicked waits before it starts again (so that a task that panics at
/// once does not spin).
const RESTART_PAUSE: Duration = Duration::from_secs(1);

/// Runs `start()` until the future it makes ends normally; each time it panics, logs the panic
/// and, after [`RESTART_PAUSE`], runs a new one. `start` makes the task afresh from its inputs,
/// so a restarted task starts from a clean state.
pub(super) async fn restart_on_panic<F, Fut>(task: &'static str, mut start: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    restart_after(task, RESTART_PAUSE, &mut start).await;
}

async fn restart_after<F, Fut>(task: &'static str, pause: Duration, start: &mut F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut restarts: u64 = 0;
    loop {
        // Unwind safety: a restarted task gets fresh state from `start`; the shared state it
        // reaches through `Arc`s is behind mutexes whose poisoning every user recovers from.
        match AssertUnwindSafe(start()).catch_unwind().await {
            Ok(()) => return,
            Err(panic) => {
                restarts += 1;
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(no message)".to_string());
                tracing::error!(
                    task,
                    panic = %message,
                    restarts,
                    "a background task panicked (a bug in the emulator; please report it); restarting it"
                );
                tokio::time::sleep(pause).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn a_task_that_panics_is_started_again_until_it_ends() {
        let runs = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&runs);
        let mut start = move || {
            let counter = Arc::clone(&counter);
            async move {
                let run = counter.fetch_add(1, Ordering::AcqRel);
                tokio::task::yield_now().await;
                if run < 2 {
                    panic!("run {run} fails");
                }
            }
        };
        restart_after("test", Duration::from_millis(1), &mut start).await;
        assert_eq!(runs.load(Ordering::Acquire), 3);
    }

    #[tokio::test]
    async fn a_task_that_ends_normally_is_not_restarted() {
        let runs = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&runs);
        restart_on_panic("test", move || {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::AcqRel);
            }
        })
        .await;
        assert_eq!(runs.load(Ordering::Acquire), 1);
    }
}
