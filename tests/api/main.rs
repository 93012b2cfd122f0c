//! Black-box tests over real HTTP: each test spawns its own emulator on port 0.

mod admin;
mod admin_fixtures;
mod chat_hardening;
mod chat_messages;
mod chat_paging;
mod chat_threads;
mod concurrency;
mod control_extremes;
mod entra;
mod events;
mod events_chat;
mod helpers;
mod hmac_auth;
mod hostile;
mod identity;
mod limits;
mod scenario_faults;
mod scenarios;
mod server;
mod shutdown;
mod sms;
mod sms_extras;
mod sms_outbox;
mod sms_repeatability;
mod user_tokens;
mod webhook;
