//! `acs-emulator`: a local emulator of Azure Communication Services for tests and development.
//!
//! # Layout
//! - [`config`]: flags and environment, validated once at start-up into plain data (it imports
//!   only `domain`; start-up turns it into the event bus's options and subscriptions, `resource`
//!   into the store's limits).
//! - [`startup`]: TLS material, both listeners, the app and its shared [`startup::AppState`].
//! - [`api`]: the HTTP surface, one module per API area (`identity`, `chat`, `sms`, `admin`),
//!   plus shared request plumbing (api-version, JSON bodies, fallbacks).
//! - [`auth`]: access-key signatures (pure functions + middleware) and user access tokens.
//! - [`domain`]: typed identifiers (users, chat threads and messages, participants), scopes, phone
//!   numbers and SMS segments; no actix, no serde_json.
//! - [`resource`]: the emulated ACS resources (keys, id, numbers, state) and request routing.
//! - [`store`]: in-memory state of one resource; no actix.
//! - [`fixtures`]: fixture files: parsing, checking against the running emulator, seeding.
//! - [`scenario`]: scripted-scenario rules, their engine and the request journal; no actix.
//! - [`events`]: Event Grid emulation: events built from store views, subscriptions, delivery
//!   to webhooks with handshakes, retries and a dead-letter list; no actix.
//! - [`error`]: the one error type and the ACS error envelope.
//! - [`healthcheck`]: the `healthcheck` subcommand's tiny HTTP probe.
//! - [`clock`]: the emulator's adjustable clock; nothing else reads the system time.
//! - [`trust`]: the CA bundle clients trust (the machine's roots plus the emulator's certificate).
//!
//! Dependencies point one way: `api` → `auth`, `domain`, `events`, `fixtures`, `scenario`,
//! `resource`, `store`, `error`; `events` → `store`, `domain`, `clock`; `config` → `domain`.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod api;
pub mod auth;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod fixtures;
pub mod healthcheck;
pub mod resource;
pub mod scenario;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod trust;

pub use clock::Clock;
pub use config::Config;
pub use startup::Application;
