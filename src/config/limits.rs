//! `Limits`: request sizes, connections, timeouts, worker threads and the caps on stored state.
//!
//! The caps are plain numbers here; `resource` turns them into the store's `StoreLimits` (config
//! imports nothing from the layers above it).

use std::time::Duration;

use clap::Args;

use super::ConfigError;

/// What one request, one connection and the stores may hold, and how long clients may take.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Limits")]
pub struct LimitFlags {
    /// Largest accepted request body in bytes; larger bodies get 413.
    #[arg(long, env = "ACS_EMULATOR_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Largest accepted request head (request line plus headers) in bytes; larger heads get 431.
    /// actix-web itself closes connections whose head exceeds 128 KiB or 96 headers.
    #[arg(long, env = "ACS_EMULATOR_MAX_HEADER_BYTES", default_value_t = 32 * 1024)]
    pub max_header_bytes: usize,

    /// Most concurrent connections per worker (per listener socket); further clients wait in the
    /// listen backlog until a connection closes.
    #[arg(long, env = "ACS_EMULATOR_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// How long a client may take to send a request's head (slow clients get 408 and are
    /// disconnected), e.g. 5s.
    #[arg(long, env = "ACS_EMULATOR_CLIENT_REQUEST_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub client_request_timeout: Duration,

    /// How long a client may take to send a request's body once the head has arrived (late bodies
    /// get 408 and the connection is closed), e.g. 30s.
    #[arg(long, env = "ACS_EMULATOR_REQUEST_BODY_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub request_body_timeout: Duration,

    /// Most requests in flight on one connection (HTTP/2 multiplexes many): more get 503 with
    /// Retry-After at once, before their bodies are read. actix-web does not advertise it as
    /// SETTINGS_MAX_CONCURRENT_STREAMS, so it is enforced per request.
    #[arg(
        long,
        env = "ACS_EMULATOR_MAX_CONCURRENT_STREAMS",
        default_value_t = 100
    )]
    pub max_concurrent_streams: usize,

    /// Most request-body bytes held for one connection's requests in flight together (at least
    /// --max-body-bytes); a body that would pass it gets 503 with Retry-After.
    #[arg(
        long,
        env = "ACS_EMULATOR_MAX_CONNECTION_BODY_BYTES",
        default_value_t = 16 * 1024 * 1024
    )]
    pub max_connection_body_bytes: usize,

    /// How long an idle keep-alive connection stays open (0s: close after each response).
    #[arg(long, env = "ACS_EMULATOR_KEEP_ALIVE", default_value = "5s", value_parser = humantime::parse_duration)]
    pub keep_alive: Duration,

    /// How long a client may take to complete the TLS handshake on the HTTPS listener.
    #[arg(long, env = "ACS_EMULATOR_TLS_HANDSHAKE_TIMEOUT", default_value = "3s", value_parser = humantime::parse_duration)]
    pub tls_handshake_timeout: Duration,

    /// On SIGINT/SIGTERM, how long in-flight requests may take to finish before the process exits.
    #[arg(long, env = "ACS_EMULATOR_SHUTDOWN_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,

    /// Most identities kept (deleted ones included until room is needed); creating one more gets
    /// 403 `IdentityLimitReached`.
    #[arg(long, env = "ACS_EMULATOR_MAX_IDENTITIES", default_value_t = 1_000_000)]
    pub max_identities: usize,

    /// Most messages kept in the SMS outbox; older ones are evicted first. Delivery reports and
    /// repeatability records are kept for as many of the newest messages that have one.
    #[arg(long, env = "ACS_EMULATOR_MAX_SMS_OUTBOX", default_value_t = 100_000)]
    pub max_sms_outbox: usize,

    /// Most emails kept in the email inbox (and send operations kept pollable); older ones are
    /// evicted first.
    #[arg(long, env = "ACS_EMULATOR_MAX_EMAILS", default_value_t = 10_000)]
    pub max_emails: usize,

    /// Most bytes of emails (texts and decoded attachments) kept in the inbox; older emails are
    /// evicted first (the newest always stays).
    #[arg(
        long,
        env = "ACS_EMULATOR_MAX_EMAIL_STORAGE_BYTES",
        default_value_t = 256 * 1024 * 1024
    )]
    pub max_email_storage_bytes: usize,

    /// Largest accepted email send request (JSON body, attachments included) in bytes; larger
    /// ones get 413. The real service's limit is 10 MB. Email sends take this instead of
    /// --max-body-bytes (at most --max-connection-body-bytes applies).
    #[arg(
        long,
        env = "ACS_EMULATOR_MAX_EMAIL_REQUEST_BYTES",
        default_value_t = 10 * 1024 * 1024
    )]
    pub max_email_request_bytes: usize,

    /// Most SMS opt-outs (sender, recipient pairs) kept; adding more gets 403
    /// `OptOutLimitReached`.
    #[arg(long, env = "ACS_EMULATOR_MAX_SMS_OPT_OUTS", default_value_t = 100_000)]
    pub max_sms_opt_outs: usize,

    /// Most chat threads kept (deleted ones included until room is needed); creating one more
    /// gets 403 `ChatThreadLimitReached`.
    #[arg(long, env = "ACS_EMULATOR_MAX_CHAT_THREADS", default_value_t = 100_000)]
    pub max_chat_threads: usize,

    /// Most chat messages kept in all threads together, system messages included (a deleted
    /// thread frees its messages); one more gets 403 `MessageLimitReached`. At least 2.
    #[arg(
        long,
        env = "ACS_EMULATOR_MAX_CHAT_MESSAGES",
        default_value_t = 1_000_000
    )]
    pub max_chat_messages: usize,

    /// Most messages in one chat thread, system messages included; one more gets 403
    /// `MessageLimitReached`. At least 2 (a new thread holds two system messages).
    #[arg(
        long,
        env = "ACS_EMULATOR_MAX_CHAT_MESSAGES_PER_THREAD",
        default_value_t = 100_000
    )]
    pub max_chat_messages_per_thread: usize,

    /// Most participants in one chat thread, the creator included (the real service's limit is
    /// 250); more gets 403 `ParticipantLimitReached`.
    #[arg(
        long,
        env = "ACS_EMULATOR_MAX_CHAT_PARTICIPANTS_PER_THREAD",
        default_value_t = 250
    )]
    pub max_chat_participants_per_thread: usize,

    /// Most Teams Phone extension assignments kept; creating one more gets 403
    /// `AssignmentLimitReached` (replacing an existing one always works).
    #[arg(
        long,
        env = "ACS_EMULATOR_MAX_TEAMS_EXTENSION_ASSIGNMENTS",
        default_value_t = 100_000
    )]
    pub max_teams_extension_assignments: usize,

    /// Most rooms kept per resource; creating one more gets 403 `RoomLimitReached`.
    #[arg(long, env = "ACS_EMULATOR_MAX_ROOMS", default_value_t = 100_000)]
    pub max_rooms: usize,

    /// Most participants in one room; more gets 403 `ParticipantLimitReached`.
    #[arg(
        long,
        env = "ACS_EMULATOR_MAX_ROOM_PARTICIPANTS",
        default_value_t = 1_000
    )]
    pub max_room_participants: usize,

    /// Worker threads (default: one per CPU core).
    #[arg(long, env = "ACS_EMULATOR_WORKERS")]
    pub workers: Option<usize>,
}

impl LimitFlags {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
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
            ("--max-emails", self.max_emails, 1),
            ("--max-email-storage-bytes", self.max_email_storage_bytes, 1),
            (
                "--max-email-request-bytes",
                self.max_email_request_bytes,
                1024,
            ),
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
            ("--max-rooms", self.max_rooms, 1),
            ("--max-room-participants", self.max_room_participants, 1),
        ] {
            if value < least {
                return Err(ConfigError(format!("{flag} must be at least {least}")));
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
        Ok(())
    }

    pub(super) fn for_tests() -> Self {
        Self {
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
            max_emails: 10_000,
            max_email_storage_bytes: 256 * 1024 * 1024,
            max_email_request_bytes: 10 * 1024 * 1024,
            max_chat_threads: 100_000,
            max_chat_messages: 1_000_000,
            max_chat_messages_per_thread: 100_000,
            max_chat_participants_per_thread: 250,
            max_teams_extension_assignments: 100_000,
            max_rooms: 100_000,
            max_room_participants: 1_000,
            workers: Some(1),
        }
    }
}
