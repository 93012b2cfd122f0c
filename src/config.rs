//! Command-line and environment configuration.
//!
//! One clap struct; every flag can also be given as an `ACS_EMULATOR_*` environment variable.
//! [`Config::validate`] turns the raw flags into checked values once, at start-up, so that a bad
//! configuration exits with a one-line reason before any listener binds. This is the only module
//! that reads the process environment.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::{Parser, Subcommand, ValueEnum};
use uuid::Uuid;

use crate::domain::PhoneNumber;
use crate::events::{Subscription, resource_topic};
use crate::store::{ChatLimits, StoreLimits};

/// The well-known development access key (base64), used when `--access-key` is not given.
///
/// Like Azurite's well-known account key it is public and documented: never use it for anything real.
pub const DEFAULT_ACCESS_KEY: &str =
    "mTisQgAEcpR1A3Gl/8Jun7D9tBErXplwaHvlwXR+9tclRej7ardRSiLRlN41Uwrpg6l8KGoxMu9akJuvzwcMeg==";

/// The well-known secondary development access key (base64).
pub const DEFAULT_SECONDARY_ACCESS_KEY: &str =
    "sj+5Bvm0kx/JKMJA/RpZEYkhN7KgrFrRBsegbAWoj1TW5SycF+41K11SYhqmKPWLbz+Y/mtHGzb2MqD2VOWuWA==";

/// The default immutable resource id (GUID) of the emulated ACS resource.
pub const DEFAULT_RESOURCE_ID: &str = "acacacac-0000-4000-8000-000000000001";

/// The phone number the emulated resource owns when `--phone-number` is not given: a fictional
/// North American 555-01xx number, safe to use in tests.
pub const DEFAULT_PHONE_NUMBER: &str = "+18005550100";

/// The emulated Microsoft Entra ID tenant, used when `--entra-tenant` is not given.
pub const DEFAULT_ENTRA_TENANT: &str = "acacacac-0000-4000-8000-00000000000a";

/// The client registered with the built-in token authority by default, as `ID:SECRET`.
pub const DEFAULT_ENTRA_CLIENT: &str =
    "acacacac-0000-4000-8000-00000000000c:acs-emulator-client-secret";

/// The client id of the emulated managed identity.
pub const DEFAULT_MANAGED_IDENTITY_CLIENT_ID: &str = "acacacac-0000-4000-8000-00000000000d";

/// The default `IDENTITY_HEADER` secret of the emulated managed identity endpoint.
pub const DEFAULT_MANAGED_IDENTITY_HEADER: &str = "acs-emulator-identity-header";

/// The Azure subscription id in the resource's ARM id (the `topic`/`source` of its events), used
/// when `--azure-subscription-id` is not given.
pub const DEFAULT_AZURE_SUBSCRIPTION_ID: &str = "acacacac-0000-4000-8000-00000000000b";

/// The resource group in the resource's ARM id, used when `--resource-group` is not given.
pub const DEFAULT_RESOURCE_GROUP: &str = "acs-emulator-rg";

/// The resource name in the resource's ARM id, used when `--resource-name` is not given.
pub const DEFAULT_RESOURCE_NAME: &str = "acs-emulator";

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

// `--help` headings, in the order they are shown (clap orders headings by their first option).
const LISTENERS: &str = "Listeners & TLS";
const CONTROL: &str = "Control API";
const KEYS: &str = "Access keys & resources";
const TOKENS: &str = "Tokens & Entra ID";
const SMS: &str = "SMS";
const EVENTS: &str = "Events";
const FIXTURES: &str = "Fixtures & scenarios";
const LIMITS: &str = "Limits";
const LOGGING: &str = "Logging";

/// The end of `--help`.
const EXAMPLES: &str = "\
Examples:
  acs-emulator                                      HTTPS on 127.0.0.1:8443, HTTP on :8080
  acs-emulator --port 0 --http-port 0               free ports (printed once ready)
  acs-emulator --fixtures fixtures/ci-starter.yaml  users and a chat thread to start with
  acs-emulator --token-lifetime 30s                 short-lived tokens, to test refresh
  acs-emulator --host 0.0.0.0 --tls-hostname acs-emulator   reachable from other containers
  acs-emulator healthcheck --ready                  exit 0 once the emulator is ready

Every option is also an environment variable (shown as [env: ...]).
Control API on both ports, open unless --control-token is set: http://127.0.0.1:8080/_emulator/...
(reset, clock, SMS outbox, events, scenarios, journal, verify); GET /_emulator/operations lists
the operation names scenario rules match on. Docs: docs/ in the repository.
Exit status: 0 stopped by SIGINT/SIGTERM; 1 start-up failed (a port in use, an unreadable
certificate or fixture file); 2 invalid options or environment variables.";

/// Local emulator of Azure Communication Services (Identity, Chat, SMS, Events).
///
/// Point the official SDKs at it by changing only the connection string.
#[derive(Parser, Debug, Clone)]
#[command(name = "acs-emulator", version, about, long_about = None, after_help = EXAMPLES)]
pub struct Config {
    /// Address both listeners bind to (use 0.0.0.0 inside a container).
    #[arg(help_heading = LISTENERS, long, env = "ACS_EMULATOR_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,

    /// HTTPS port (the main door: the SDKs refuse bearer tokens over plain HTTP). 0 picks a free port.
    #[arg(help_heading = LISTENERS, long, env = "ACS_EMULATOR_PORT", default_value_t = 8443)]
    pub port: u16,

    /// Plain HTTP port (health checks, the certificate download, HMAC clients that allow HTTP). 0 picks a free port.
    #[arg(help_heading = LISTENERS, long, env = "ACS_EMULATOR_HTTP_PORT", default_value_t = 8080)]
    pub http_port: u16,

    /// Extra host name or IP address for the generated certificate (repeatable; localhost, 127.0.0.1 and ::1 are always included).
    #[arg(
        help_heading = LISTENERS,
        long = "tls-hostname",
        env = "ACS_EMULATOR_TLS_HOSTNAME",
        value_delimiter = ','
    )]
    pub tls_hostnames: Vec<String>,

    /// Write the certificate (PEM) to this path. Default: a file in the system temp directory,
    /// named after the HTTPS port, removed on exit.
    #[arg(help_heading = LISTENERS, long, env = "ACS_EMULATOR_TLS_CERT_OUT")]
    pub tls_cert_out: Option<PathBuf>,

    /// Write the CA bundle (PEM) to this path: the certificate plus the machine's trusted roots,
    /// for REQUESTS_CA_BUNDLE, SSL_CERT_FILE and NODE_EXTRA_CA_CERTS (other HTTPS keeps working).
    /// Default: a file in the system temp directory, named after the HTTPS port, removed on exit.
    #[arg(help_heading = LISTENERS, long, env = "ACS_EMULATOR_TLS_CA_BUNDLE_OUT")]
    pub tls_ca_bundle_out: Option<PathBuf>,

    /// Use this certificate chain (PEM) instead of generating one. Requires --tls-key.
    #[arg(help_heading = LISTENERS, long, env = "ACS_EMULATOR_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1) for --tls-cert.
    #[arg(help_heading = LISTENERS, long, env = "ACS_EMULATOR_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Require `Authorization: Bearer <TOKEN>` on the control API (/_emulator/*, except health,
    /// ready, tls-cert, tls-ca-bundle and token); without it the control API is open to anyone who reaches a
    /// listener. Set it whenever the emulator listens beyond loopback.
    #[arg(
        long,
        env = "ACS_EMULATOR_CONTROL_TOKEN",
        hide_env_values = true,
        help_heading = CONTROL
    )]
    pub control_token: Option<String>,

    /// Primary access key (base64), used in the connection string and to verify HMAC signatures.
    /// Default: the well-known development key printed at start-up (see the README).
    #[arg(help_heading = KEYS, long, env = "ACS_EMULATOR_ACCESS_KEY", default_value = DEFAULT_ACCESS_KEY, hide_default_value = true)]
    pub access_key: String,

    /// Secondary access key (base64); requests signed with either key are accepted.
    /// Default: the well-known secondary development key (see the README).
    #[arg(help_heading = KEYS, long, env = "ACS_EMULATOR_SECONDARY_ACCESS_KEY", default_value = DEFAULT_SECONDARY_ACCESS_KEY, hide_default_value = true)]
    pub secondary_access_key: String,

    /// Immutable resource id (GUID) of the emulated resource; appears in user ids and tokens.
    #[arg(help_heading = KEYS, long, env = "ACS_EMULATOR_RESOURCE_ID", default_value = DEFAULT_RESOURCE_ID)]
    pub resource_id: String,

    /// Data location reported in user tokens (`resourceLocation` claim).
    #[arg(
        help_heading = KEYS,
        long,
        env = "ACS_EMULATOR_RESOURCE_LOCATION",
        default_value = "unitedstates"
    )]
    pub resource_location: String,

    /// How far an HMAC request's x-ms-date may be from the emulator's clock, e.g. 15m, 30s.
    #[arg(help_heading = KEYS, long, env = "ACS_EMULATOR_CLOCK_SKEW", default_value = "15m", value_parser = humantime::parse_duration)]
    pub clock_skew: Duration,

    /// Lifetime of every user access token (e.g. 30s, 5m), in place of expiresInMinutes (which is
    /// still validated), to exercise clients' token-refresh code.
    #[arg(help_heading = TOKENS, long, env = "ACS_EMULATOR_TOKEN_LIFETIME", value_parser = humantime::parse_duration)]
    pub token_lifetime: Option<Duration>,

    /// A phone number (E.164) the resource owns and may send SMS from (repeatable or comma-separated).
    #[arg(
        help_heading = SMS,
        long = "phone-number",
        env = "ACS_EMULATOR_PHONE_NUMBER",
        value_delimiter = ',',
        default_value = DEFAULT_PHONE_NUMBER
    )]
    pub phone_numbers: Vec<String>,

    /// How long after a send its SMS delivery report becomes available (emulator clock), e.g. 0s, 5s.
    #[arg(help_heading = SMS, long, env = "ACS_EMULATOR_SMS_DELIVERY_REPORT_DELAY", default_value = "0s", value_parser = humantime::parse_duration)]
    pub sms_delivery_report_delay: Duration,

    /// Tenant id (GUID) of the built-in Microsoft Entra ID token authority.
    #[arg(help_heading = TOKENS, long, env = "ACS_EMULATOR_ENTRA_TENANT", default_value = DEFAULT_ENTRA_TENANT)]
    pub entra_tenant: String,

    /// A client registered with the built-in token authority, as CLIENT_ID:SECRET (repeatable).
    #[arg(help_heading = TOKENS, long = "entra-client", env = "ACS_EMULATOR_ENTRA_CLIENT", value_delimiter = ',', default_value = DEFAULT_ENTRA_CLIENT)]
    pub entra_clients: Vec<String>,

    /// Accept any well-formed, unexpired JWT with the right audience as an Entra ID token, whoever
    /// signed it. Only for apps that mint their own test tokens: anything that looks right gets in.
    #[arg(help_heading = TOKENS, long, env = "ACS_EMULATOR_ENTRA_TRUST_ANY")]
    pub entra_trust_any: bool,

    /// Sign Entra ID tokens with this P-256 private key (PEM, PKCS#8) instead of one generated at
    /// start-up, so that tokens stay valid across restarts.
    #[arg(help_heading = TOKENS, long, env = "ACS_EMULATOR_ENTRA_SIGNING_KEY")]
    pub entra_signing_key: Option<PathBuf>,

    /// Client id of the emulated managed identity (the `appid` of its tokens).
    #[arg(help_heading = TOKENS, long, env = "ACS_EMULATOR_MANAGED_IDENTITY_CLIENT_ID", default_value = DEFAULT_MANAGED_IDENTITY_CLIENT_ID)]
    pub managed_identity_client_id: String,

    /// The secret that callers of the managed identity endpoint must send as X-IDENTITY-HEADER
    /// (set the app's IDENTITY_HEADER to it).
    #[arg(help_heading = TOKENS, long, env = "ACS_EMULATOR_MANAGED_IDENTITY_HEADER", default_value = DEFAULT_MANAGED_IDENTITY_HEADER)]
    pub managed_identity_header: String,

    /// Build the Entra ID authority's URLs (issuer, token endpoint) and Chat's nextLink from the
    /// Forwarded / X-Forwarded-Host / X-Forwarded-Proto headers of a reverse proxy in front of
    /// the emulator. Off: from the request's own host and the listener's scheme.
    #[arg(
        long,
        env = "ACS_EMULATOR_TRUST_FORWARDED_HEADERS",
        help_heading = TOKENS
    )]
    pub trust_forwarded_headers: bool,

    /// Push events to this webhook, as an Event Grid subscription would (repeatable; in the
    /// environment variable, separate webhooks with spaces). Options go after a '#', joined by
    /// '&': types=SMSReceived,ChatMessageReceived (default: every type), schema=EventGridSchema or
    /// CloudEventSchemaV1_0, maxEventsPerBatch=N, name=NAME, skipValidation=true, resource=NAME
    /// (only that resource's events). Example:
    /// 'http://localhost:7071/api/events#types=SMSReceived&schema=CloudEventSchemaV1_0'.
    #[arg(help_heading = EVENTS, long = "event-webhook", env = "ACS_EMULATOR_EVENT_WEBHOOK")]
    pub event_webhooks: Vec<String>,

    /// Delivery attempts per event (the first included) before it is dead-lettered.
    #[arg(help_heading = EVENTS, long, env = "ACS_EMULATOR_EVENT_MAX_ATTEMPTS", default_value_t = 5)]
    pub event_max_attempts: u32,

    /// Wait before the first retry of a failed delivery; it doubles with each further retry,
    /// up to --event-retry-max (e.g. 100ms, 1s).
    #[arg(help_heading = EVENTS, long, env = "ACS_EMULATOR_EVENT_RETRY_INITIAL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub event_retry_initial: Duration,

    /// Longest wait between two delivery attempts.
    #[arg(help_heading = EVENTS, long, env = "ACS_EMULATOR_EVENT_RETRY_MAX", default_value = "1m", value_parser = humantime::parse_duration)]
    pub event_retry_max: Duration,

    /// PEM file of certificates to trust for HTTPS webhooks, besides the public roots: a private
    /// CA (mkcert's root) vouches for the certificates it issued; a self-signed development
    /// certificate (openssl req -x509, ASP.NET) is trusted for a webhook that presents exactly it.
    #[arg(help_heading = EVENTS, long = "event-webhook-ca", env = "ACS_EMULATOR_EVENT_WEBHOOK_CA")]
    pub event_webhook_ca: Option<PathBuf>,

    /// How long a webhook may take to answer one delivery (Event Grid waits 30s).
    #[arg(help_heading = EVENTS, long, env = "ACS_EMULATOR_EVENT_DELIVERY_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub event_delivery_timeout: Duration,

    /// Most events waiting for delivery per subscription; when full, the oldest waiting event is
    /// dropped (counted and logged).
    #[arg(
        help_heading = EVENTS,
        long,
        env = "ACS_EMULATOR_EVENT_QUEUE_CAPACITY",
        default_value_t = 10_000
    )]
    pub event_queue_capacity: usize,

    /// Most delivered and most dead-lettered events kept for /_emulator/events (each list; the
    /// oldest are forgotten first).
    #[arg(help_heading = EVENTS, long, env = "ACS_EMULATOR_EVENT_HISTORY", default_value_t = 10_000)]
    pub event_history: usize,

    /// Fixture file to load at start-up (JSON or YAML; repeatable, or comma-separated in the
    /// environment variable): resources, identities, chat threads, opt-outs and scenario rules.
    /// Any error exits with the file, line and reason before the listeners bind.
    #[arg(
        help_heading = FIXTURES,
        long = "fixtures",
        env = "ACS_EMULATOR_FIXTURES",
        value_delimiter = ','
    )]
    pub fixtures: Vec<PathBuf>,

    /// Seed for reproducible runs: ids (users, threads, SMS messages, events) and scenario rules
    /// with a `probability` follow the same sequence on every run (and again after a reset).
    #[arg(help_heading = FIXTURES, long, env = "ACS_EMULATOR_SEED")]
    pub seed: Option<u64>,

    /// Most requests kept in the request journal (`/_emulator/journal`), oldest dropped first;
    /// 0 turns the journal off.
    #[arg(help_heading = FIXTURES, long, env = "ACS_EMULATOR_JOURNAL_SIZE", default_value_t = 10_000)]
    pub journal_size: usize,

    /// Largest accepted request body in bytes; larger bodies get 413.
    #[arg(help_heading = LIMITS, long, env = "ACS_EMULATOR_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Largest accepted request head (request line plus headers) in bytes; larger heads get 431.
    /// actix-web itself closes connections whose head exceeds 128 KiB or 96 headers.
    #[arg(help_heading = LIMITS, long, env = "ACS_EMULATOR_MAX_HEADER_BYTES", default_value_t = 32 * 1024)]
    pub max_header_bytes: usize,

    /// Most concurrent connections per worker (per listener socket); further clients wait in the
    /// listen backlog until a connection closes.
    #[arg(help_heading = LIMITS, long, env = "ACS_EMULATOR_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// How long a client may take to send a request's head (slow clients get 408 and are
    /// disconnected), e.g. 5s.
    #[arg(help_heading = LIMITS, long, env = "ACS_EMULATOR_CLIENT_REQUEST_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub client_request_timeout: Duration,

    /// How long a client may take to send a request's body once the head has arrived (late bodies
    /// get 408 and the connection is closed), e.g. 30s.
    #[arg(help_heading = LIMITS, long, env = "ACS_EMULATOR_REQUEST_BODY_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub request_body_timeout: Duration,

    /// Most requests in flight on one connection (HTTP/2 multiplexes many): more get 503 with
    /// Retry-After at once, before their bodies are read. actix-web does not advertise it as
    /// SETTINGS_MAX_CONCURRENT_STREAMS, so it is enforced per request.
    #[arg(
        long,
        env = "ACS_EMULATOR_MAX_CONCURRENT_STREAMS",
        default_value_t = 100,
        help_heading = LIMITS
    )]
    pub max_concurrent_streams: usize,

    /// Most request-body bytes held for one connection's requests in flight together (at least
    /// --max-body-bytes); a body that would pass it gets 503 with Retry-After.
    #[arg(
        long,
        env = "ACS_EMULATOR_MAX_CONNECTION_BODY_BYTES",
        default_value_t = 16 * 1024 * 1024,
        help_heading = LIMITS
    )]
    pub max_connection_body_bytes: usize,

    /// How long an idle keep-alive connection stays open (0s: close after each response).
    #[arg(help_heading = LIMITS, long, env = "ACS_EMULATOR_KEEP_ALIVE", default_value = "5s", value_parser = humantime::parse_duration)]
    pub keep_alive: Duration,

    /// How long a client may take to complete the TLS handshake on the HTTPS listener.
    #[arg(help_heading = LIMITS, long, env = "ACS_EMULATOR_TLS_HANDSHAKE_TIMEOUT", default_value = "3s", value_parser = humantime::parse_duration)]
    pub tls_handshake_timeout: Duration,

    /// On SIGINT/SIGTERM, how long in-flight requests may take to finish before the process exits.
    #[arg(help_heading = LIMITS, long, env = "ACS_EMULATOR_SHUTDOWN_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,

    /// Most identities kept (deleted ones included until room is needed); creating one more gets
    /// 403 `IdentityLimitReached`.
    #[arg(help_heading = LIMITS, long, env = "ACS_EMULATOR_MAX_IDENTITIES", default_value_t = 1_000_000)]
    pub max_identities: usize,

    /// Most messages kept in the SMS outbox; older ones are evicted first. Delivery reports and
    /// repeatability records are kept for as many of the newest messages that have one.
    #[arg(help_heading = LIMITS, long, env = "ACS_EMULATOR_MAX_SMS_OUTBOX", default_value_t = 100_000)]
    pub max_sms_outbox: usize,

    /// Most SMS opt-outs (sender, recipient pairs) kept; adding more gets 403
    /// `OptOutLimitReached`.
    #[arg(help_heading = LIMITS, long, env = "ACS_EMULATOR_MAX_SMS_OPT_OUTS", default_value_t = 100_000)]
    pub max_sms_opt_outs: usize,

    /// Most chat threads kept (deleted ones included until room is needed); creating one more
    /// gets 403 `ChatThreadLimitReached`.
    #[arg(help_heading = LIMITS, long, env = "ACS_EMULATOR_MAX_CHAT_THREADS", default_value_t = 100_000)]
    pub max_chat_threads: usize,

    /// Most chat messages kept in all threads together, system messages included (a deleted
    /// thread frees its messages); one more gets 403 `MessageLimitReached`. At least 2.
    #[arg(
        help_heading = LIMITS,
        long,
        env = "ACS_EMULATOR_MAX_CHAT_MESSAGES",
        default_value_t = 1_000_000
    )]
    pub max_chat_messages: usize,

    /// Most messages in one chat thread, system messages included; one more gets 403
    /// `MessageLimitReached`. At least 2 (a new thread holds two system messages).
    #[arg(
        help_heading = LIMITS,
        long,
        env = "ACS_EMULATOR_MAX_CHAT_MESSAGES_PER_THREAD",
        default_value_t = 100_000
    )]
    pub max_chat_messages_per_thread: usize,

    /// Most participants in one chat thread, the creator included (the real service's limit is
    /// 250); more gets 403 `ParticipantLimitReached`.
    #[arg(
        help_heading = LIMITS,
        long,
        env = "ACS_EMULATOR_MAX_CHAT_PARTICIPANTS_PER_THREAD",
        default_value_t = 250
    )]
    pub max_chat_participants_per_thread: usize,

    /// Most Teams Phone extension assignments kept; creating one more gets 403
    /// `AssignmentLimitReached` (replacing an existing one always works).
    #[arg(
        help_heading = LIMITS,
        long,
        env = "ACS_EMULATOR_MAX_TEAMS_EXTENSION_ASSIGNMENTS",
        default_value_t = 100_000
    )]
    pub max_teams_extension_assignments: usize,

    /// Azure subscription id (GUID) in the resource's ARM id, which is the `topic` (Event Grid
    /// schema) or `source` (CloudEvents) of every event.
    #[arg(help_heading = KEYS, long, env = "ACS_EMULATOR_AZURE_SUBSCRIPTION_ID", default_value = DEFAULT_AZURE_SUBSCRIPTION_ID)]
    pub azure_subscription_id: String,

    /// Resource group in the resource's ARM id.
    #[arg(help_heading = KEYS, long, env = "ACS_EMULATOR_RESOURCE_GROUP", default_value = DEFAULT_RESOURCE_GROUP)]
    pub resource_group: String,

    /// Resource name in the resource's ARM id (the ACS resource's name).
    #[arg(help_heading = KEYS, long, env = "ACS_EMULATOR_RESOURCE_NAME", default_value = DEFAULT_RESOURCE_NAME)]
    pub resource_name: String,

    /// Most resources, `default` included; a fixture (at start-up or through
    /// POST /_emulator/fixtures) that would add more is refused.
    #[arg(
        long,
        env = "ACS_EMULATOR_MAX_RESOURCES",
        default_value_t = 100,
        help_heading = KEYS
    )]
    pub max_resources: usize,

    /// Worker threads (default: one per CPU core).
    #[arg(help_heading = LIMITS, long, env = "ACS_EMULATOR_WORKERS")]
    pub workers: Option<usize>,

    /// Log format.
    #[arg(
        help_heading = LOGGING,
        long,
        env = "ACS_EMULATOR_LOG_FORMAT",
        value_enum,
        default_value = "pretty"
    )]
    pub log_format: LogFormat,

    /// Log level or tracing filter directive (e.g. info, debug, acs_emulator=debug).
    #[arg(help_heading = LOGGING, long, env = "ACS_EMULATOR_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

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

/// The certificates of a PEM file (at least one).
fn webhook_roots(
    path: &std::path::Path,
) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| e.to_string())?;
    crate::events::tls::read_pem_certificates(&pem)
}

/// A configuration error, reported as one line before anything binds.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

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
    /// The Entra tenant id.
    pub entra_tenant: Uuid,
    /// Registered Entra clients: (client id, secret).
    pub entra_clients: Vec<(String, String)>,
    /// The resource's ARM id: the `topic`/`source` of its events.
    pub event_topic: String,
    /// Event subscriptions from `--event-webhook`.
    pub event_subscriptions: Vec<Subscription>,
    /// The certificates of `--event-webhook-ca`.
    pub event_webhook_roots: Vec<rustls_pki_types::CertificateDer<'static>>,
}

impl Config {
    /// Checks the configuration and derives [`Settings`].
    pub fn validate(self) -> Result<Settings, ConfigError> {
        let decode = |flag: &str, value: &str| {
            let bytes = STANDARD
                .decode(value.trim())
                .map_err(|e| ConfigError(format!("{flag} is not valid base64 ({e})")))?;
            if bytes.is_empty() {
                return Err(ConfigError(format!("{flag} must not be empty")));
            }
            Ok(bytes)
        };
        let access_keys = vec![
            decode("--access-key", &self.access_key)?,
            decode("--secondary-access-key", &self.secondary_access_key)?,
        ];
        let resource_id = Uuid::parse_str(&self.resource_id).map_err(|_| {
            ConfigError(format!(
                "--resource-id '{}' is not a GUID (expected e.g. {DEFAULT_RESOURCE_ID})",
                self.resource_id
            ))
        })?;
        let entra_tenant = Uuid::parse_str(&self.entra_tenant).map_err(|_| {
            ConfigError(format!(
                "--entra-tenant '{}' is not a GUID",
                self.entra_tenant
            ))
        })?;
        let mut entra_clients = Vec::with_capacity(self.entra_clients.len());
        for entry in &self.entra_clients {
            let (id, secret) = entry
                .split_once(':')
                .filter(|(id, secret)| !id.trim().is_empty() && !secret.is_empty())
                .ok_or_else(|| {
                    ConfigError(format!("--entra-client '{entry}' must be CLIENT_ID:SECRET"))
                })?;
            entra_clients.push((id.trim().to_ascii_lowercase(), secret.to_string()));
        }
        if self.managed_identity_header.is_empty() {
            return Err(ConfigError(
                "--managed-identity-header must not be empty".into(),
            ));
        }
        if self.resource_location.is_empty()
            || !self
                .resource_location
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(ConfigError(format!(
                "--resource-location '{}' must be letters, digits or '-' (e.g. unitedstates)",
                self.resource_location
            )));
        }
        if self
            .token_lifetime
            .is_some_and(|lifetime| lifetime < Duration::from_secs(1))
        {
            return Err(ConfigError("--token-lifetime must be at least 1s".into()));
        }
        let mut phone_numbers = Vec::new();
        for raw in &self.phone_numbers {
            let number = PhoneNumber::parse(raw.trim()).map_err(|e| {
                ConfigError(format!(
                    "--phone-number '{raw}' is not usable: {e} (expected e.g. {DEFAULT_PHONE_NUMBER})"
                ))
            })?;
            if !phone_numbers.contains(&number) {
                phone_numbers.push(number);
            }
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError("--max-body-bytes must be at least 1024".into()));
        }
        if self.max_header_bytes < 1024 {
            return Err(ConfigError(
                "--max-header-bytes must be at least 1024".into(),
            ));
        }
        for (flag, value, least) in [
            ("--max-identities", self.max_identities, 1),
            ("--max-sms-outbox", self.max_sms_outbox, 1),
            ("--max-sms-opt-outs", self.max_sms_opt_outs, 1),
            ("--max-chat-threads", self.max_chat_threads, 1),
            // A new thread holds two system messages.
            ("--max-chat-messages", self.max_chat_messages, 2),
            (
                "--max-chat-messages-per-thread",
                self.max_chat_messages_per_thread,
                2,
            ),
            (
                "--max-chat-participants-per-thread",
                self.max_chat_participants_per_thread,
                1,
            ),
            (
                "--max-teams-extension-assignments",
                self.max_teams_extension_assignments,
                1,
            ),
        ] {
            if value < least {
                return Err(ConfigError(format!("{flag} must be at least {least}")));
            }
        }
        for path in &self.fixtures {
            if !path.is_file() {
                return Err(ConfigError(format!(
                    "--fixtures {} is not a readable file",
                    path.display()
                )));
            }
        }
        if self.max_concurrent_streams == 0 {
            return Err(ConfigError(
                "--max-concurrent-streams must be at least 1".into(),
            ));
        }
        if self.max_connection_body_bytes < self.max_body_bytes {
            return Err(ConfigError(format!(
                "--max-connection-body-bytes ({}) must be at least --max-body-bytes ({})",
                self.max_connection_body_bytes, self.max_body_bytes
            )));
        }
        if self.max_resources == 0 {
            return Err(ConfigError("--max-resources must be at least 1".into()));
        }
        if self
            .control_token
            .as_ref()
            .is_some_and(|t| t.trim().is_empty() || t.trim() != t)
        {
            return Err(ConfigError(
                "--control-token must not be empty or start or end with spaces".into(),
            ));
        }
        if self.max_connections == 0 {
            return Err(ConfigError("--max-connections must be at least 1".into()));
        }
        for (flag, value) in [
            ("--client-request-timeout", self.client_request_timeout),
            ("--request-body-timeout", self.request_body_timeout),
            ("--tls-handshake-timeout", self.tls_handshake_timeout),
        ] {
            if value < Duration::from_millis(100) {
                return Err(ConfigError(format!("{flag} must be at least 100ms")));
            }
        }
        if self.workers == Some(0) {
            return Err(ConfigError("--workers must be at least 1".into()));
        }
        for name in &self.tls_hostnames {
            if name.trim().is_empty() {
                return Err(ConfigError("--tls-hostname must not be empty".into()));
            }
        }
        for (flag, path) in [
            ("--tls-cert", &self.tls_cert),
            ("--tls-key", &self.tls_key),
            ("--entra-signing-key", &self.entra_signing_key),
        ] {
            if let Some(path) = path
                && !path.is_file()
            {
                return Err(ConfigError(format!(
                    "{flag} {} is not a readable file",
                    path.display()
                )));
            }
        }
        let azure_subscription_id = Uuid::parse_str(&self.azure_subscription_id).map_err(|_| {
            ConfigError(format!(
                "--azure-subscription-id '{}' is not a GUID (expected e.g. {DEFAULT_AZURE_SUBSCRIPTION_ID})",
                self.azure_subscription_id
            ))
        })?;
        // Azure's rules: resource groups 1-90 of letters, digits, '-', '_', '.', '(' and ')',
        // not ending in '.'; ACS resource names 1-63 of letters, digits and '-'.
        let group_ok = (1..=90).contains(&self.resource_group.len())
            && !self.resource_group.ends_with('.')
            && self
                .resource_group
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'));
        if !group_ok {
            return Err(ConfigError(format!(
                "--resource-group '{}' must be 1 to 90 letters, digits, '-', '_', '.', '(' or ')', not ending in '.'",
                self.resource_group
            )));
        }
        let name_ok = (1..=63).contains(&self.resource_name.len())
            && self
                .resource_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !name_ok {
            return Err(ConfigError(format!(
                "--resource-name '{}' must be 1 to 63 letters, digits or '-'",
                self.resource_name
            )));
        }
        let event_topic = resource_topic(
            &azure_subscription_id.to_string(),
            &self.resource_group,
            &self.resource_name,
        );
        let mut event_subscriptions = Vec::new();
        // The environment variable holds several webhooks separated by spaces.
        for raw in self
            .event_webhooks
            .iter()
            .flat_map(|v| v.split_whitespace())
        {
            let subscription = Subscription::parse_cli(raw)
                .map_err(|e| ConfigError(format!("--event-webhook '{raw}': {e}")))?;
            event_subscriptions.push(subscription);
        }
        if self.event_max_attempts == 0 {
            return Err(ConfigError(
                "--event-max-attempts must be at least 1".into(),
            ));
        }
        if self.event_retry_initial.is_zero() || self.event_retry_max < self.event_retry_initial {
            return Err(ConfigError(
                "--event-retry-initial must be more than 0s and at most --event-retry-max".into(),
            ));
        }
        if self.event_delivery_timeout < Duration::from_millis(100) {
            return Err(ConfigError(
                "--event-delivery-timeout must be at least 100ms".into(),
            ));
        }
        if self.event_queue_capacity == 0 || self.event_history == 0 {
            return Err(ConfigError(
                "--event-queue-capacity and --event-history must be at least 1".into(),
            ));
        }
        let event_webhook_roots = match &self.event_webhook_ca {
            None => Vec::new(),
            Some(path) => webhook_roots(path).map_err(|e| {
                ConfigError(format!("--event-webhook-ca '{}': {e}", path.display()))
            })?,
        };
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log_level) {
            return Err(ConfigError(format!(
                "--log-level '{}' is not valid ({e})",
                self.log_level
            )));
        }
        Ok(Settings {
            config: self,
            access_keys,
            resource_id,
            phone_numbers,
            entra_tenant,
            entra_clients,
            event_topic,
            event_subscriptions,
            event_webhook_roots,
        })
    }

    /// The caps the store is built with (the `--max-*` flags other than `--max-sms-outbox`,
    /// which is passed to each write).
    pub fn store_limits(&self) -> StoreLimits {
        StoreLimits {
            identities: self.max_identities,
            chat: ChatLimits {
                threads: self.max_chat_threads,
                messages: self.max_chat_messages,
                messages_per_thread: self.max_chat_messages_per_thread,
                participants_per_thread: self.max_chat_participants_per_thread,
            },
            sms_opt_outs: self.max_sms_opt_outs,
            teams_extension_assignments: self.max_teams_extension_assignments,
        }
    }

    /// A configuration for tests: both ports 0, the well-known keys, quiet logs.
    pub fn for_tests() -> Config {
        Config {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 0,
            http_port: 0,
            tls_hostnames: Vec::new(),
            tls_cert_out: None,
            tls_ca_bundle_out: None,
            tls_cert: None,
            tls_key: None,
            access_key: DEFAULT_ACCESS_KEY.into(),
            secondary_access_key: DEFAULT_SECONDARY_ACCESS_KEY.into(),
            resource_id: DEFAULT_RESOURCE_ID.into(),
            resource_location: "unitedstates".into(),
            clock_skew: Duration::from_secs(15 * 60),
            token_lifetime: None,
            phone_numbers: vec![DEFAULT_PHONE_NUMBER.into()],
            sms_delivery_report_delay: Duration::ZERO,
            entra_tenant: DEFAULT_ENTRA_TENANT.into(),
            entra_clients: vec![DEFAULT_ENTRA_CLIENT.into()],
            entra_trust_any: false,
            entra_signing_key: None,
            managed_identity_client_id: DEFAULT_MANAGED_IDENTITY_CLIENT_ID.into(),
            managed_identity_header: DEFAULT_MANAGED_IDENTITY_HEADER.into(),
            max_body_bytes: 1024 * 1024,
            max_header_bytes: 32 * 1024,
            max_connections: 10_000,
            client_request_timeout: Duration::from_secs(5),
            request_body_timeout: Duration::from_secs(30),
            max_concurrent_streams: 100,
            max_connection_body_bytes: 16 * 1024 * 1024,
            keep_alive: Duration::from_secs(5),
            tls_handshake_timeout: Duration::from_secs(3),
            shutdown_timeout: Duration::from_secs(5),
            max_identities: 1_000_000,
            max_sms_outbox: 100_000,
            max_sms_opt_outs: 100_000,
            max_chat_threads: 100_000,
            max_chat_messages: 1_000_000,
            max_chat_messages_per_thread: 100_000,
            max_chat_participants_per_thread: 250,
            max_teams_extension_assignments: 100_000,
            azure_subscription_id: DEFAULT_AZURE_SUBSCRIPTION_ID.into(),
            resource_group: DEFAULT_RESOURCE_GROUP.into(),
            resource_name: DEFAULT_RESOURCE_NAME.into(),
            event_webhooks: Vec::new(),
            event_max_attempts: 5,
            event_retry_initial: Duration::from_secs(1),
            event_retry_max: Duration::from_secs(60),
            event_delivery_timeout: Duration::from_secs(30),
            event_webhook_ca: None,
            event_queue_capacity: 10_000,
            event_history: 10_000,
            max_resources: 100,
            control_token: None,
            trust_forwarded_headers: false,
            fixtures: Vec::new(),
            seed: None,
            journal_size: 10_000,
            workers: Some(1),
            log_format: LogFormat::Pretty,
            log_level: "warn".into(),
            command: None,
        }
    }
}

/// Where a generated certificate is written when `--tls-cert-out` is not given:
/// `<temp dir>/acs-emulator/cert-<bound https port>.pem`, so that several emulators never share a
/// file. The emulator removes it when it stops.
pub fn default_cert_path(https_port: u16) -> PathBuf {
    std::env::temp_dir()
        .join("acs-emulator")
        .join(format!("cert-{https_port}.pem"))
}

/// Where the CA bundle is written when `--tls-ca-bundle-out` is not given:
/// `<temp dir>/acs-emulator/ca-bundle-<bound https port>.pem`, removed when the emulator stops.
pub fn default_ca_bundle_path(https_port: u16) -> PathBuf {
    std::env::temp_dir()
        .join("acs-emulator")
        .join(format!("ca-bundle-{https_port}.pem"))
}
