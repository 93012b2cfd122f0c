//! Command-line and environment configuration.
//!
//! [`Config`] is the clap parser: one flattened group of flags per `--help` heading, each in its
//! own file (listeners & TLS, control API, access keys & resources, tokens & Entra ID, SMS,
//! Email, events, fixtures & scenarios, limits, logging). Every flag can also be given as an
//! `ACS_EMULATOR_*` environment variable. [`Config::validate`] turns the raw flags into checked
//! values ([`Settings`]) once, at start-up, so that a bad configuration exits with a one-line
//! reason before any listener binds. This is the only module that reads the process environment.

mod control;
mod email;
mod events;
mod limits;
mod listeners;
mod logging;
mod resource;
mod scenarios;
mod sms;
mod smtp;
mod state;
mod tokens;

use std::path::Path;
use std::time::Duration;

use clap::{Parser, Subcommand};
use uuid::Uuid;

pub use control::ControlFlags;
pub use email::EmailFlags;
pub use events::EventFlags;
pub use limits::LimitFlags;
pub use listeners::{ListenerFlags, default_ca_bundle_path, default_cert_path};
pub use logging::{LogFlags, LogFormat};
pub use resource::{
    DEFAULT_ACCESS_KEY, DEFAULT_AZURE_SUBSCRIPTION_ID, DEFAULT_RESOURCE_GROUP, DEFAULT_RESOURCE_ID,
    DEFAULT_RESOURCE_NAME, DEFAULT_SECONDARY_ACCESS_KEY, ResourceFlags,
};
pub use scenarios::ScenarioFlags;
pub use sms::{DEFAULT_PHONE_NUMBER, SmsFlags};
pub use smtp::SmtpFlags;
pub use state::StateFlags;
pub use tokens::{
    DEFAULT_ENTRA_CLIENT, DEFAULT_ENTRA_TENANT, DEFAULT_MANAGED_IDENTITY_CLIENT_ID,
    DEFAULT_MANAGED_IDENTITY_HEADER, TokenFlags,
};

use crate::domain::PhoneNumber;

/// The end of `--help`.
const EXAMPLES: &str = "\
Examples:
  acs-emulator                                      HTTPS on 127.0.0.1:8443, HTTP on :8080
  acs-emulator --port 0 --http-port 0               free ports (printed once ready)
  acs-emulator --fixtures fixtures/ci-starter.yaml  users and a chat thread to start with
  acs-emulator --token-lifetime 30s                 short-lived tokens, to test refresh
  acs-emulator --state-dir ~/.acs-emulator          keep state across restarts (local development)
  acs-emulator --host 0.0.0.0 --tls-hostname acs-emulator   reachable from other containers
  acs-emulator healthcheck --ready                  exit 0 once the emulator is ready

Every option is also an environment variable (shown as [env: ...]).
Control API on both ports, open unless --control-token is set: http://127.0.0.1:8080/_emulator/...
(reset, clock, SMS outbox, events, scenarios, journal, verify); GET /_emulator/operations lists
the operation names scenario rules match on. Docs: docs/ in the repository.
Exit status: 0 stopped by SIGINT/SIGTERM; 1 start-up failed (a port in use, an unreadable
certificate or fixture file); 2 invalid options or environment variables.";

/// Local emulator of Azure Communication Services (Identity, Chat, SMS, Email, Events).
///
/// Point the official SDKs at it by changing only the connection string.
///
/// The groups are flattened in the order of their `--help` headings (clap shows a heading where
/// its first option is declared, and the options under it in declaration order).
#[derive(Parser, Debug, Clone)]
#[command(name = "acs-emulator", version, about, long_about = None, after_help = EXAMPLES)]
pub struct Config {
    /// Listeners & TLS.
    #[command(flatten)]
    pub listeners: ListenerFlags,

    /// Control API.
    #[command(flatten)]
    pub control: ControlFlags,

    /// Access keys & resources.
    #[command(flatten)]
    pub resource: ResourceFlags,

    /// Tokens & Entra ID.
    #[command(flatten)]
    pub tokens: TokenFlags,

    /// SMS.
    #[command(flatten)]
    pub sms: SmsFlags,

    /// Email.
    #[command(flatten)]
    pub email: EmailFlags,

    /// SMTP relay.
    #[command(flatten)]
    pub smtp: SmtpFlags,

    /// Events.
    #[command(flatten)]
    pub events: EventFlags,

    /// Fixtures & scenarios.
    #[command(flatten)]
    pub scenarios: ScenarioFlags,

    /// State.
    #[command(flatten)]
    pub state: StateFlags,

    /// Limits.
    #[command(flatten)]
    pub limits: LimitFlags,

    /// Logging.
    #[command(flatten)]
    pub logging: LogFlags,

    /// What to do instead of serving (none: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Exit 0 when the emulator answers its health endpoint, 1 otherwise (for container
    /// HEALTHCHECKs: needs no shell or curl).
    Healthcheck {
        /// URL to probe (plain HTTP): a full URL, or a base URL such as http://emulator:8080,
        /// which probes /_emulator/health (/_emulator/ready with --ready). Default: the HTTP
        /// listener from --http-port / ACS_EMULATOR_HTTP_PORT on 127.0.0.1.
        #[arg(long)]
        url: Option<String>,
        /// Give up after this long.
        #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
        timeout: Duration,
        /// Probe /_emulator/ready (fixtures loaded, listeners bound) instead of /_emulator/health.
        #[arg(long)]
        ready: bool,
    },
}

/// A configuration error, reported as one line before anything binds; the process exits with
/// status 2. Start-up raises it too, for the values it checks with the modules that own them
/// (`--event-webhook`).
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl ConfigError {
    /// An error with this reason (name the flag in it).
    pub fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}

/// Settings derived from [`Config`] and checked at start-up.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The raw configuration.
    pub config: Config,
    /// Decoded HMAC secrets: the primary key first, then the secondary.
    pub access_keys: Vec<Vec<u8>>,
    /// The resource id, lower-cased.
    pub resource_id: Uuid,
    /// The phone numbers the resource owns (SMS senders), in the order given.
    pub phone_numbers: Vec<PhoneNumber>,
    /// The custom email domains linked to the resource (`--email-domain`), lower-cased; its
    /// Azure-managed domain is linked besides.
    pub email_domains: Vec<String>,
    /// The Entra tenant id.
    pub entra_tenant: Uuid,
    /// Registered Entra clients: (client id, secret).
    pub entra_clients: Vec<(String, String)>,
    /// The Azure subscription id of the resource's ARM id (the `topic`/`source` of its events).
    pub azure_subscription_id: Uuid,
    /// The `--event-webhook` values, one webhook each (the environment variable's list split at
    /// spaces), as given: `events::Subscription::parse_cli` checks them at start-up.
    pub event_webhooks: Vec<String>,
    /// The certificates of `--event-webhook-ca`.
    pub event_webhook_roots: Vec<rustls_pki_types::CertificateDer<'static>>,
}

impl Config {
    /// Checks the configuration and derives [`Settings`]. Each group checks its own flags; the
    /// first problem found is reported.
    pub fn validate(self) -> Result<Settings, ConfigError> {
        let resource = self.resource.check()?;
        let tokens = self.tokens.check()?;
        let phone_numbers = self.sms.check()?;
        let email_domains = self.email.check()?;
        self.smtp.check()?;
        self.limits.check()?;
        self.scenarios.check()?;
        self.state.check()?;
        self.control.check()?;
        self.listeners.check()?;
        let events = self.events.check()?;
        self.logging.check()?;
        Ok(Settings {
            config: self,
            access_keys: resource.access_keys,
            resource_id: resource.resource_id,
            phone_numbers,
            email_domains,
            entra_tenant: tokens.entra_tenant,
            entra_clients: tokens.entra_clients,
            azure_subscription_id: resource.azure_subscription_id,
            event_webhooks: events.webhooks,
            event_webhook_roots: events.webhook_roots,
        })
    }

    /// A configuration for tests: both ports 0, the well-known keys, one worker, quiet logs.
    pub fn for_tests() -> Config {
        Config {
            listeners: ListenerFlags::for_tests(),
            control: ControlFlags::for_tests(),
            resource: ResourceFlags::for_tests(),
            tokens: TokenFlags::for_tests(),
            sms: SmsFlags::for_tests(),
            email: EmailFlags::for_tests(),
            smtp: SmtpFlags::for_tests(),
            events: EventFlags::for_tests(),
            scenarios: ScenarioFlags::for_tests(),
            state: StateFlags::for_tests(),
            limits: LimitFlags::for_tests(),
            logging: LogFlags::for_tests(),
            command: None,
        }
    }
}

/// `Err` unless `path` (when given) is a file.
fn readable_file(flag: &str, path: Option<&Path>) -> Result<(), ConfigError> {
    match path {
        Some(path) if !path.is_file() => Err(ConfigError(format!(
            "{flag} {} is not a readable file",
            path.display()
        ))),
        _ => Ok(()),
    }
}
