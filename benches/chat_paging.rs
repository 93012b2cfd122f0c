//! List-messages page latency versus thread length: 10, 100 000 and 1 000 000 messages.
//!
//! Run with `cargo bench --bench chat_paging`. It fills threads directly through the store (fast),
//! then times, for each thread, the first page (newest 5) and a deep page (5 messages starting
//! halfway down the thread, as a `syncState` continuation lands there), both through the store API
//! and over HTTPS against a running emulator. It prints medians and the ratio to the 10-message
//! thread: paging is O(page), so the ratios should stay near 1. This is a report, not a pass/fail
//! test; it finishes well under a minute in release mode.

use std::sync::Arc;
use std::time::{Duration, Instant};

use acs_emulator::api::chat::SyncState;
use acs_emulator::domain::{CommunicationUserId, ScopeSet, ThreadId};
use acs_emulator::state::AppState;
use acs_emulator::store::{ChatStore, MessageType, NewMessage, NewThread, Sink};
use acs_emulator::{Application, Clock, Config};
use chrono::{TimeDelta, Utc};

const SIZES: [usize; 3] = [10, 100_000, 1_000_000];
/// Small enough that the 10-message thread fills every page too, so all sizes return equal pages.
const PAGE: usize = 5;
/// Store timings: this many samples, each the mean of `STORE_BATCH` calls (sub-µs calls are
/// too short to time one by one).
const STORE_ITERATIONS: usize = 300;
const STORE_BATCH: u32 = 100;
const HTTP_ITERATIONS: usize = 200;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Creates a thread owned by `user` and appends `n` messages (minus the two system messages).
fn fill(store: &ChatStore, user: &CommunicationUserId, n: usize) -> ThreadId {
    let start = Utc::now() - TimeDelta::days(30);
    let (thread, _) = store
        .create_thread(
            user,
            NewThread {
                id: None,
                topic: format!("{n} messages"),
                participants: Vec::new(),
                metadata: None,
                retention_policy: None,
            },
            None,
            start,
            Sink::NONE,
        )
        .expect("an unbounded store has room");
    for i in 0..n.saturating_sub(2) {
        store
            .send_message(
                user,
                &thread.id,
                NewMessage {
                    content: format!("message number {i}"),
                    kind: MessageType::Text,
                    sender_display_name: None,
                    metadata: None,
                },
                // A millisecond apart, like a busy thread.
                start + TimeDelta::milliseconds(i as i64),
                Sink::NONE,
            )
            .expect("participant");
    }
    thread.id
}

fn time_store(
    store: &ChatStore,
    user: &CommunicationUserId,
    thread: &ThreadId,
    n: usize,
) -> (Duration, Duration) {
    let deep = Some((n / 2) as u64);
    let mut first = Vec::with_capacity(STORE_ITERATIONS);
    let mut deep_samples = Vec::with_capacity(STORE_ITERATIONS);
    for _ in 0..STORE_ITERATIONS {
        let t = Instant::now();
        for _ in 0..STORE_BATCH {
            let (page, _) = store
                .list_messages(user, thread, None, None, PAGE)
                .expect("ok");
            assert_eq!(page.len(), PAGE.min(n));
        }
        first.push(t.elapsed() / STORE_BATCH);
        let t = Instant::now();
        for _ in 0..STORE_BATCH {
            let (page, _) = store
                .list_messages(user, thread, None, deep, PAGE)
                .expect("ok");
            assert_eq!(page.len(), PAGE.min(n / 2));
        }
        deep_samples.push(t.elapsed() / STORE_BATCH);
    }
    (median(first), median(deep_samples))
}

async fn time_http(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    thread: &ThreadId,
    n: usize,
) -> (Duration, Duration) {
    let path = format!(
        "{base}/chat/threads/{}/messages",
        thread.as_str().replace(':', "%3A").replace('@', "%40")
    );
    let first_url = format!("{path}?maxPageSize={PAGE}&api-version=2025-03-15");
    let deep_url = format!(
        "{path}?syncState={}&maxPageSize={PAGE}&api-version=2025-03-15",
        SyncState::encode('m', "2025-03-15", &(n / 2).to_string())
    );
    let mut first = Vec::with_capacity(HTTP_ITERATIONS);
    let mut deep = Vec::with_capacity(HTTP_ITERATIONS);
    for _ in 0..HTTP_ITERATIONS {
        for (url, samples) in [(&first_url, &mut first), (&deep_url, &mut deep)] {
            let t = Instant::now();
            let res = client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("sent");
            assert_eq!(res.status(), 200);
            let bytes = res.bytes().await.expect("body");
            samples.push(t.elapsed());
            assert!(bytes.len() > 100);
        }
    }
    (median(first), median(deep))
}

fn ratio(d: Duration, base: Duration) -> f64 {
    d.as_secs_f64() / base.as_secs_f64()
}

fn main() {
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut config = Config::for_tests();
        config.listeners.tls_cert_out = Some(std::env::temp_dir().join("acs-emulator-bench-cert.pem"));
        // The threads hold 1 100 010 messages, one of them a million: over the default caps.
        config.limits.max_chat_messages = 2_000_000;
        config.limits.max_chat_messages_per_thread = 2_000_000;
        let settings = config.validate().expect("config");
        let resource = settings.resource_id;
        let app = Application::build(settings, Arc::new(Clock::system())).expect("app");
        let base = format!("https://127.0.0.1:{}", app.https_addr().port());
        let state: actix_web::web::Data<AppState> = app.state();
        let cert = reqwest::Certificate::from_pem(state.tls_cert_pem.as_bytes()).expect("pem");
        // HTTP/1.1 without Nagle, as curl does: with reqwest's HTTP/2 every request waited for a
        // delayed ACK (~40 ms), which would hide the server's own time.
        let client = reqwest::Client::builder()
            .http1_only()
            .tcp_nodelay(true)
            .add_root_certificate(cert)
            .tls_built_in_root_certs(false)
            .build()
            .expect("client");
        let handle = app.handle();
        tokio::spawn(app.run());

        let user = CommunicationUserId::generate(resource);
        let now = state.clock.now();
        state.store().identities.create(user.clone(), now);
        let seq = state.store().identities.next_token_seq(&user, acs_emulator::store::Sink::NONE).expect("live");
        let scopes = ScopeSet::parse_claim("chat").expect("scope");
        let token = state
            .resources
            .default_resource()
            .tokens
            .issue(user.skype_id(), &scopes, seq, now, TimeDelta::hours(1))
            .expect("token")
            .token;

        let mut rows = Vec::new();
        for n in SIZES {
            let t = Instant::now();
            let thread = fill(&state.store().chat, &user, n);
            let fill_time = t.elapsed();
            let (store_first, store_deep) = time_store(&state.store().chat, &user, &thread, n);
            let (http_first, http_deep) = time_http(&client, &base, &token, &thread, n).await;
            println!(
                "filled {n:>9} messages in {fill_time:>10.2?}; store first {store_first:>9.2?} deep {store_deep:>9.2?}; https first {http_first:>9.2?} deep {http_deep:>9.2?}"
            );
            rows.push((n, store_first, store_deep, http_first, http_deep));
        }
        let base_row = rows[0];
        println!();
        println!("list-messages page of {PAGE}, median; ratio = time / time for the 10-message thread");
        println!(
            "{:>10} | {:>12} {:>6} | {:>12} {:>6} | {:>12} {:>6} | {:>12} {:>6}",
            "messages", "store first", "ratio", "store deep", "ratio", "https first", "ratio", "https deep", "ratio"
        );
        for (n, sf, sd, hf, hd) in &rows {
            println!(
                "{n:>10} | {sf:>12.2?} {:>6.2} | {sd:>12.2?} {:>6.2} | {hf:>12.2?} {:>6.2} | {hd:>12.2?} {:>6.2}",
                ratio(*sf, base_row.1),
                ratio(*sd, base_row.2),
                ratio(*hf, base_row.3),
                ratio(*hd, base_row.4),
            );
        }
        println!("\ntotal {:.1?}", started.elapsed());
        handle.stop(false).await;
    });
}
