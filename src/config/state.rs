//! `State`: where the emulator keeps its state across restarts (off by default).

use std::path::PathBuf;

use clap::Args;

use super::ConfigError;

/// The state directory.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "State")]
pub struct StateFlags {
    /// Keep the state in this directory across restarts (an embedded SQLite database, created
    /// if missing): identities and their tokens' state, the token, Entra ID and TLS keys, chat,
    /// Teams assignments, the SMS outbox and opt-outs, emails, rooms, phone numbers and SIP
    /// routing, resources and event subscriptions added at run time, events not delivered yet
    /// and delivery reports not due yet, the clock's offset. For local
    /// development; leave it unset in CI (memory only, as default). One emulator at a time may
    /// use a directory. See docs/persistence.md.
    #[arg(long, env = "ACS_EMULATOR_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

impl StateFlags {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        match &self.state_dir {
            Some(dir) if dir.as_os_str().is_empty() => Err(ConfigError::new(
                "--state-dir (ACS_EMULATOR_STATE_DIR) is empty: give a directory, or leave it unset",
            )),
            Some(dir) if dir.exists() && !dir.is_dir() => Err(ConfigError::new(format!(
                "--state-dir {} is not a directory",
                dir.display()
            ))),
            _ => Ok(()),
        }
    }

    pub(super) fn for_tests() -> Self {
        Self { state_dir: None }
    }
}
