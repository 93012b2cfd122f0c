//! `Listeners & TLS`: where the emulator listens and the certificate it serves.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Args;

use super::ConfigError;

/// Where both listeners bind, and the HTTPS listener's certificate.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Listeners & TLS")]
pub struct ListenerFlags {
    /// Address both listeners bind to (use 0.0.0.0 inside a container).
    #[arg(long, env = "ACS_EMULATOR_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,

    /// HTTPS port (the main door: the SDKs refuse bearer tokens over plain HTTP). 0 picks a free port.
    #[arg(long, env = "ACS_EMULATOR_PORT", default_value_t = 8443)]
    pub port: u16,

    /// Plain HTTP port (health checks, the certificate download, HMAC clients that allow HTTP). 0 picks a free port.
    #[arg(long, env = "ACS_EMULATOR_HTTP_PORT", default_value_t = 8080)]
    pub http_port: u16,

    /// Extra host name or IP address for the generated certificate (repeatable; localhost, 127.0.0.1 and ::1 are always included).
    #[arg(
        long = "tls-hostname",
        env = "ACS_EMULATOR_TLS_HOSTNAME",
        value_delimiter = ','
    )]
    pub tls_hostnames: Vec<String>,

    /// Write the certificate (PEM) to this path. Default: a file in the system temp directory,
    /// named after the HTTPS port, removed on exit.
    #[arg(long, env = "ACS_EMULATOR_TLS_CERT_OUT")]
    pub tls_cert_out: Option<PathBuf>,

    /// Write the CA bundle (PEM) to this path: the certificate plus the machine's trusted roots,
    /// for REQUESTS_CA_BUNDLE, SSL_CERT_FILE and NODE_EXTRA_CA_CERTS (other HTTPS keeps working).
    /// Default: a file in the system temp directory, named after the HTTPS port, removed on exit.
    #[arg(long, env = "ACS_EMULATOR_TLS_CA_BUNDLE_OUT")]
    pub tls_ca_bundle_out: Option<PathBuf>,

    /// Use this certificate chain (PEM) instead of generating one. Requires --tls-key.
    #[arg(long, env = "ACS_EMULATOR_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1) for --tls-cert.
    #[arg(long, env = "ACS_EMULATOR_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl ListenerFlags {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        for name in &self.tls_hostnames {
            if name.trim().is_empty() {
                return Err(ConfigError("--tls-hostname must not be empty".into()));
            }
        }
        for (flag, path) in [("--tls-cert", &self.tls_cert), ("--tls-key", &self.tls_key)] {
            super::readable_file(flag, path.as_deref())?;
        }
        Ok(())
    }

    pub(super) fn for_tests() -> Self {
        Self {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 0,
            http_port: 0,
            tls_hostnames: Vec::new(),
            tls_cert_out: None,
            tls_ca_bundle_out: None,
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// Where a generated certificate is written when `--tls-cert-out` is not given:
/// `<temp dir>/acs-emulator/cert-<bound https port>.pem`, so that several emulators never share a
/// file. The emulator removes it when it stops.
pub fn default_cert_path(https_port: u16) -> PathBuf {
    std::env::temp_dir()
        .join("acs-emulator")
        .join(format!("cert-{https_port}.pem"))
}

/// Where the CA bundle is written when `--tls-ca-bundle-out` is not given:
/// `<temp dir>/acs-emulator/ca-bundle-<bound https port>.pem`, removed when the emulator stops.
pub fn default_ca_bundle_path(https_port: u16) -> PathBuf {
    std::env::temp_dir()
        .join("acs-emulator")
        .join(format!("ca-bundle-{https_port}.pem"))
}
