//! Black-box tests over real HTTP: each test spawns its own emulator on port 0.

mod admin;
mod chat_messages;
mod chat_paging;
mod chat_threads;
mod helpers;
mod hmac_auth;
mod identity;
mod server;
mod user_tokens;
