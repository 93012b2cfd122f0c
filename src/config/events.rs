//! `Events`: Event Grid webhooks from the command line, and how deliveries are retried, timed
//! out, queued and remembered.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::ConfigError;

/// Webhooks and delivery tuning.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Events")]
pub struct EventFlags {
    /// Push events to this webhook, as an Event Grid subscription would (repeatable; in the
    /// environment variable, separate webhooks with spaces). Options go after a '#', joined by
    /// '&': types=SMSReceived,ChatMessageReceived (default: every type), schema=EventGridSchema or
    /// CloudEventSchemaV1_0, maxEventsPerBatch=N, name=NAME, skipValidation=true, resource=NAME
    /// (only that resource's events). Example:
    /// 'http://localhost:7071/api/events#types=SMSReceived&schema=CloudEventSchemaV1_0'.
    #[arg(long = "event-webhook", env = "ACS_EMULATOR_EVENT_WEBHOOK")]
    pub event_webhooks: Vec<String>,

    /// Delivery attempts per event (the first included) before it is dead-lettered.
    #[arg(long, env = "ACS_EMULATOR_EVENT_MAX_ATTEMPTS", default_value_t = 5)]
    pub event_max_attempts: u32,

    /// Wait before the first retry of a failed delivery; it doubles with each further retry,
    /// up to --event-retry-max (e.g. 100ms, 1s).
    #[arg(long, env = "ACS_EMULATOR_EVENT_RETRY_INITIAL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub event_retry_initial: Duration,

    /// Longest wait between two delivery attempts.
    #[arg(long, env = "ACS_EMULATOR_EVENT_RETRY_MAX", default_value = "1m", value_parser = humantime::parse_duration)]
    pub event_retry_max: Duration,

    /// PEM file of certificates to trust for HTTPS webhooks, besides the public roots: a private
    /// CA (mkcert's root) vouches for the certificates it issued; a self-signed development
    /// certificate (openssl req -x509, ASP.NET) is trusted for a webhook that presents exactly it.
    #[arg(long = "event-webhook-ca", env = "ACS_EMULATOR_EVENT_WEBHOOK_CA")]
    pub event_webhook_ca: Option<PathBuf>,

    /// How long a webhook may take to answer one delivery (Event Grid waits 30s).
    #[arg(long, env = "ACS_EMULATOR_EVENT_DELIVERY_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub event_delivery_timeout: Duration,

    /// Most events waiting for delivery per subscription; when full, the oldest waiting event is
    /// dropped (counted and logged).
    #[arg(
        long,
        env = "ACS_EMULATOR_EVENT_QUEUE_CAPACITY",
        default_value_t = 10_000
    )]
    pub event_queue_capacity: usize,

    /// Most delivered and most dead-lettered events kept for /_emulator/events (each list; the
    /// oldest are forgotten first).
    #[arg(long, env = "ACS_EMULATOR_EVENT_HISTORY", default_value_t = 10_000)]
    pub event_history: usize,
}

/// What [`EventFlags::check`] derives.
pub(super) struct CheckedEvents {
    pub webhooks: Vec<String>,
    pub webhook_roots: Vec<CertificateDer<'static>>,
}

impl EventFlags {
    pub(super) fn check(&self) -> Result<CheckedEvents, ConfigError> {
        // The environment variable holds several webhooks separated by spaces. Their syntax and
        // event types are the events module's to check (it owns them): start-up turns each into
        // a subscription and reports a bad one as a configuration error.
        let webhooks = self
            .event_webhooks
            .iter()
            .flat_map(|v| v.split_whitespace())
            .map(str::to_string)
            .collect();
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
        let webhook_roots = match &self.event_webhook_ca {
            None => Vec::new(),
            Some(path) => webhook_roots(path).map_err(|e| {
                ConfigError(format!("--event-webhook-ca '{}': {e}", path.display()))
            })?,
        };
        Ok(CheckedEvents {
            webhooks,
            webhook_roots,
        })
    }

    pub(super) fn for_tests() -> Self {
        Self {
            event_webhooks: Vec::new(),
            event_max_attempts: 5,
            event_retry_initial: Duration::from_secs(1),
            event_retry_max: Duration::from_secs(60),
            event_webhook_ca: None,
            event_delivery_timeout: Duration::from_secs(30),
            event_queue_capacity: 10_000,
            event_history: 10_000,
        }
    }
}

/// The certificates of a PEM file (at least one).
fn webhook_roots(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| e.to_string())?;
    read_pem_certificates(&pem)
}

/// The certificates of PEM text; an error says why there are none.
fn read_pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM certificate bundle ({e})"))?;
    if certs.is_empty() {
        return Err("no PEM certificate in it".into());
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pem_file_needs_at_least_one_certificate() {
        assert!(read_pem_certificates(b"hello").is_err());
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        let two = format!("{}{}", cert.cert.pem(), cert.cert.pem());
        assert_eq!(
            read_pem_certificates(two.as_bytes()).map(|c| c.len()),
            Ok(2)
        );
    }

    #[test]
    fn webhooks_in_the_environment_variable_are_split_at_spaces() {
        let mut flags = EventFlags::for_tests();
        flags.event_webhooks = vec![
            "http://a/#name=one  http://b/".into(),
            "http://c/#types=SMSReceived".into(),
        ];
        let checked = flags.check().expect("valid");
        assert_eq!(
            checked.webhooks,
            [
                "http://a/#name=one",
                "http://b/",
                "http://c/#types=SMSReceived"
            ]
        );
    }
}
