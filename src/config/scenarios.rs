//! `Fixtures & scenarios`: what the emulator starts with, its seed, and the request journal.

use std::path::PathBuf;

use clap::Args;

use super::ConfigError;

/// Fixture files, the seed and the journal.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Fixtures & scenarios")]
pub struct ScenarioFlags {
    /// Fixture file to load at start-up (JSON or YAML; repeatable, or comma-separated in the
    /// environment variable): resources, identities, chat threads, opt-outs and scenario rules.
    /// Any error exits with the file, line and reason before the listeners bind.
    #[arg(
        long = "fixtures",
        env = "ACS_EMULATOR_FIXTURES",
        value_delimiter = ','
    )]
    pub fixtures: Vec<PathBuf>,

    /// Seed for reproducible runs: ids (users, threads, SMS messages, events) and scenario rules
    /// with a `probability` follow the same sequence on every run (and again after a reset).
    #[arg(long, env = "ACS_EMULATOR_SEED")]
    pub seed: Option<u64>,

    /// Most requests kept in the request journal (`/_emulator/journal`), oldest dropped first;
    /// 0 turns the journal off.
    #[arg(long, env = "ACS_EMULATOR_JOURNAL_SIZE", default_value_t = 10_000)]
    pub journal_size: usize,
}

impl ScenarioFlags {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        for path in &self.fixtures {
            super::readable_file("--fixtures", Some(path))?;
        }
        Ok(())
    }

    pub(super) fn for_tests() -> Self {
        Self {
            fixtures: Vec::new(),
            seed: None,
            journal_size: 10_000,
        }
    }
}
