//! `Logging`: format and level.

use clap::{Args, ValueEnum};

use super::ConfigError;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Log format and level.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Logging")]
pub struct LogFlags {
    /// Log format.
    #[arg(
        long,
        env = "ACS_EMULATOR_LOG_FORMAT",
        value_enum,
        default_value = "pretty"
    )]
    pub log_format: LogFormat,

    /// Log level or tracing filter directive (e.g. info, debug, acs_emulator=debug).
    #[arg(long, env = "ACS_EMULATOR_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

impl LogFlags {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log_level) {
            return Err(ConfigError(format!(
                "--log-level '{}' is not valid ({e})",
                self.log_level
            )));
        }
        Ok(())
    }

    pub(super) fn for_tests() -> Self {
        Self {
            log_format: LogFormat::Pretty,
            log_level: "warn".into(),
        }
    }
}
