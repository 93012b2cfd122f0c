//! `Control API`: who may use `/_emulator/*`.

use clap::Args;

use super::ConfigError;

/// Access to the control API.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Control API")]
pub struct ControlFlags {
    /// Require `Authorization: Bearer <TOKEN>` on the control API (/_emulator/*, except health,
    /// ready, tls-cert, tls-ca-bundle and token); without it the control API is open to anyone who reaches a
    /// listener. Set it whenever the emulator listens beyond loopback.
    #[arg(long, env = "ACS_EMULATOR_CONTROL_TOKEN", hide_env_values = true)]
    pub control_token: Option<String>,
    /// Turn off the web inspector (/_emulator/ui/ and the `GET /` redirect to it); the control
    /// API stays.
    #[arg(long, env = "ACS_EMULATOR_NO_UI")]
    pub no_ui: bool,
}

impl ControlFlags {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if self
            .control_token
            .as_ref()
            .is_some_and(|t| t.trim().is_empty() || t.trim() != t)
        {
            return Err(ConfigError(
                "--control-token must not be empty or start or end with spaces".into(),
            ));
        }
        Ok(())
    }

    pub(super) fn for_tests() -> Self {
        Self {
            control_token: None,
            no_ui: false,
        }
    }
}
