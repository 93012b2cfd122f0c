//! `acs-emulator`: a local emulator of Azure Communication Services for tests and development.
//!
//! # Layout
//! The modules form layers, lowest first; a module imports only modules on lower rows
//! (`scripts/module-graph.py` checks it in `make lint`; docs/ARCHITECTURE.md explains it).
//!
//! 0. [`clock`]: the emulator's adjustable clock; nothing else reads the system time.
//!    [`domain`]: typed identifiers (users, chat threads and messages, participants), scopes and
//!    chat roles, phone numbers and SMS segments; no actix, no serde_json.
//!    [`trust`]: the CA bundle clients trust (the machine's roots plus the emulator's
//!    certificate). [`healthcheck`]: the `healthcheck` subcommand's tiny HTTP probe.
//! 1. [`config`]: flags and environment, validated once at start-up into plain data (start-up
//!    turns it into the event bus's options and subscriptions, `resource` into the store's
//!    limits). [`store`]: in-memory state of one resource, and the change sink
//!    ([`store::Changes`]) its writes publish their change records to, under their lock; no
//!    actix.
//! 2. [`auth`]: access-key signatures, user access tokens, the Entra ID authority and the
//!    control token, as pure logic (no actix). [`scenario`]: scripted-scenario rules, their
//!    engine and the request journal; operations are named by the operation table's names,
//!    handed down as data. [`events`]: Event Grid emulation: events built from the store's
//!    change records (the bus listens to the sink), subscriptions, delivery to webhooks with
//!    handshakes, retries and a dead-letter list; no actix. [`telemetry`]: logs and the
//!    access-log line.
//! 3. [`resource`]: the emulated ACS resources (keys, id, numbers, token issuer, state) and
//!    which one a credential or host names.
//! 4. [`fixtures`]: fixture files: parsing, checking against the running emulator, seeding.
//! 5. [`error`]: the error catalogue: every code, the ACS error envelope, and how each lower
//!    layer's errors are answered. [`state`]: the [`state::AppState`] every request handler
//!    shares.
//! 6. [`http`]: the actix glue every service shares: the operation table's types and the
//!    per-operation layer (authentication, scenario rules, `api-supported-versions`), the edge
//!    middleware (limits, buffered body, access log, journal), typed extractors, fallbacks.
//! 7. [`api`]: one folder per service, each with its slice of the operation table, its handlers
//!    and wire models; [`api::SERVICES`] is the whole table.
//! 8. [`smtp`]: the SMTP relay (`--smtp-port`), Email's second front door; it hands messages to
//!    the email entry point in [`api`].
//! 9. [`persist`]: state kept across restarts (`--state-dir`): an embedded database fed by a
//!    listener of the change sink, loaded into the stores at start-up.
//! 10. [`startup`]: TLS material, the listeners and the app.

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
pub mod http;
pub mod persist;
pub mod resource;
pub mod scenario;
pub mod smtp;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod trust;

pub use clock::Clock;
pub use config::Config;
pub use startup::Application;
