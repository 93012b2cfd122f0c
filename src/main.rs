//! The `acs-emulator` binary: parse flags, set up logging, serve until SIGINT/SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;

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
    let settings = match config.validate() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("acs-emulator: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings.config);
    let result = actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings, Arc::new(Clock::system()))?;
        // The ready block is the program's output, not a log line: stdout, once.
        println!("{}", app.ready_banner());
        app.run().await?;
        tracing::info!("stopped");
        anyhow::Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("acs-emulator: {e:#}");
            ExitCode::FAILURE
        }
    }
}
