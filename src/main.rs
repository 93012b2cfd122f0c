//! The `acs-emulator` binary: parse flags, set up logging, serve until SIGINT/SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;

use acs_emulator::config::{Command, ConfigError};
use acs_emulator::healthcheck::{ProbeUrl, probe};
use acs_emulator::{Application, Clock, Config, telemetry};
use clap::Parser;

fn main() -> ExitCode {
    let config = match Config::try_parse() {
        Ok(config) => config,
        // --help and --version print and exit 0; real errors get one line, as below.
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            eprintln!(
                "acs-emulator: {} (see --help)",
                first.trim_start_matches("error: ")
            );
            return ExitCode::from(2);
        }
    };
    if let Some(Command::Healthcheck {
        url,
        timeout,
        ready,
    }) = &config.command
    {
        return healthcheck(&config, url.as_deref(), *timeout, *ready);
    }
    let settings = match config.validate() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("acs-emulator: {e}");
            return ExitCode::from(2);
        }
    };
    // Dropping it writes the log lines still buffered.
    let log = telemetry::init(&settings.config);
    let result = actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings, Arc::new(Clock::system()))?;
        app.stop_on_signals()?;
        // The ready block is the program's output, not a log line: stdout, once, when serving.
        app.run_and_announce().await?;
        tracing::info!("stopped");
        anyhow::Ok(())
    });
    // The log first, then the reason for a failure (the last thing a user reads).
    drop(log);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A flag that start-up checks with the module that owns its syntax (--event-webhook).
        Err(e) if e.downcast_ref::<ConfigError>().is_some() => {
            eprintln!("acs-emulator: {e:#}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("acs-emulator: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `acs-emulator healthcheck`: 0 when the emulator answers 200, 1 otherwise (with the reason).
fn healthcheck(
    config: &Config,
    url: Option<&str>,
    timeout: std::time::Duration,
    ready: bool,
) -> ExitCode {
    let path = if ready {
        "/_emulator/ready"
    } else {
        "/_emulator/health"
    };
    let url = url
        .map(str::to_string)
        .unwrap_or_else(|| format!("http://127.0.0.1:{}{path}", config.listeners.http_port));
    // A base URL (`http://emulator:8080`) probes the health (or readiness) endpoint.
    let result = ProbeUrl::parse(&url).and_then(|u| probe(&u.or_path(path), timeout));
    match result {
        Ok(200) => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("acs-emulator healthcheck: {url} answered {status}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("acs-emulator healthcheck: {e}");
            ExitCode::FAILURE
        }
    }
}
