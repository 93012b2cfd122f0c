//! The shared state every request handler can reach: one [`AppState`] per process, built by
//! [`crate::startup::Application::build`] and handed to every worker as `web::Data<AppState>`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use crate::auth::entra::EntraAuthority;
use crate::clock::Clock;
use crate::config::Settings;
use crate::events::EventBus;
use crate::fixtures;
use crate::resource::Resources;
use crate::scenario::{Engine, Journal};
use crate::store::{Changes, Store};

/// Everything a request handler can reach, shared by all workers.
pub struct AppState {
    /// Checked configuration.
    pub settings: Arc<Settings>,
    /// The bound HTTPS address (connection strings in the control API).
    pub https_addr: SocketAddr,
    /// The bound SMTP relay address (`--smtp-port`), when the relay is on.
    pub smtp_addr: Option<SocketAddr>,
    /// `GET /_emulator/health`'s answer, the same for the life of the process: serialised on the
    /// first probe, then sent as is.
    pub health_body: std::sync::OnceLock<actix_web::web::Bytes>,
    /// The emulated resources and their state (`default` first).
    pub resources: Resources,
    /// The emulator's clock.
    pub clock: Arc<Clock>,
    /// Where every store write publishes its change record (the event bus listens; live views
    /// subscribe). Handlers pass `changes.sink(&res.name)` to the store's writes.
    pub changes: Changes,
    /// Event Grid emulation: subscriptions, delivery, history.
    pub events: EventBus,
    /// The HTTPS certificate (PEM).
    pub tls_cert_pem: Arc<String>,
    /// The CA bundle: the certificate plus the machine's trusted roots (PEM).
    pub tls_ca_bundle_pem: Arc<String>,
    /// The built-in Entra ID token authority.
    pub entra: Arc<EntraAuthority>,
    /// Scenario rules and their scenarios' states.
    pub engine: Engine,
    /// The request journal.
    pub journal: Journal,
    /// Every fixture loaded so far (start-up and runtime), re-seeded by a reset.
    pub fixtures: Mutex<Vec<fixtures::Loaded>>,
    /// The secret user access tokens are signed with (shared by all resources).
    pub token_secret: [u8; 32],
    /// Set once the listeners serve and the start-up state is loaded (`/_emulator/ready`).
    pub ready: std::sync::atomic::AtomicBool,
}

impl AppState {
    /// The `default` resource's store (tests and benchmarks reach state through it).
    pub fn store(&self) -> Store {
        self.resources.default_resource().store.clone()
    }
}
