//! `SMTP relay`: the optional SMTP listener (ACS Email's SMTP front door) and its limits.

use std::time::Duration;

use clap::Args;

use super::ConfigError;

/// The SMTP relay: off unless `--smtp-port` is given.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "SMTP relay")]
pub struct SmtpFlags {
    /// Listen for SMTP (STARTTLS, AUTH with an --entra-client's id and secret) on this port, on
    /// the same address as the other listeners; 0 picks a free port (printed once ready, and in
    /// /_emulator/health). Off when not given. The real service listens on 587.
    #[arg(long, env = "ACS_EMULATOR_SMTP_PORT")]
    pub smtp_port: Option<u16>,

    /// How long an SMTP client may stay silent (between commands, or between lines of a
    /// message) before the connection is closed with 421.
    #[arg(long, env = "ACS_EMULATOR_SMTP_IDLE_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub smtp_idle_timeout: Duration,

    /// The most SMTP connections served at once; more are answered 421 and closed.
    #[arg(long, env = "ACS_EMULATOR_SMTP_MAX_CONNECTIONS", default_value_t = 64)]
    pub smtp_max_connections: usize,
}

impl SmtpFlags {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if !(1..=10_000).contains(&self.smtp_max_connections) {
            return Err(ConfigError(format!(
                "--smtp-max-connections {} is out of range (1 to 10000)",
                self.smtp_max_connections
            )));
        }
        if self.smtp_idle_timeout < Duration::from_millis(100)
            || self.smtp_idle_timeout > Duration::from_secs(3600)
        {
            return Err(ConfigError(
                "--smtp-idle-timeout must be between 100ms and 1h".into(),
            ));
        }
        Ok(())
    }

    pub(super) fn for_tests() -> Self {
        Self {
            smtp_port: None,
            smtp_idle_timeout: Duration::from_secs(60),
            smtp_max_connections: 64,
        }
    }
}
