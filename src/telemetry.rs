//! Logging: a tracing subscriber writing to stderr, pretty or JSON.
//!
//! Each request is one span (tracing-actix-web) logged when it closes, with method, route,
//! status and request id. Keys never appear in logs; signatures and expected strings-to-sign
//! only at debug level.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::{Config, LogFormat};

/// Installs the global subscriber (call once, from `main`).
pub fn init(config: &Config) {
    // A TLS client speaking to the HTTP port makes actix log a parse error at ERROR level for
    // every attempt; that is the client's mistake, not the emulator's, so keep it at debug.
    let mut directives = config.log_level.clone();
    if !directives.contains("actix_http") {
        directives.push_str(",actix_http::h1::dispatcher=off");
    }
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_span_events(FmtSpan::CLOSE)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match config.log_format {
        LogFormat::Pretty => builder.compact().init(),
        LogFormat::Json => builder.json().init(),
    }
}
