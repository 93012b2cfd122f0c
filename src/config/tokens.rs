//! `Tokens & Entra ID`: user access tokens and the built-in Microsoft Entra ID token authority.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use uuid::Uuid;

use super::ConfigError;

/// The emulated Microsoft Entra ID tenant, used when `--entra-tenant` is not given.
pub const DEFAULT_ENTRA_TENANT: &str = "acacacac-0000-4000-8000-00000000000a";

/// The client registered with the built-in token authority by default, as `ID:SECRET`.
pub const DEFAULT_ENTRA_CLIENT: &str =
    "acacacac-0000-4000-8000-00000000000c:acs-emulator-client-secret";

/// The client id of the emulated managed identity.
pub const DEFAULT_MANAGED_IDENTITY_CLIENT_ID: &str = "acacacac-0000-4000-8000-00000000000d";

/// The default `IDENTITY_HEADER` secret of the emulated managed identity endpoint.
pub const DEFAULT_MANAGED_IDENTITY_HEADER: &str = "acs-emulator-identity-header";

/// User token lifetime, the Entra ID authority (tenant, clients, signing key, managed identity)
/// and how its URLs are built behind a proxy.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Tokens & Entra ID")]
pub struct TokenFlags {
    /// Lifetime of every user access token (e.g. 30s, 5m), in place of expiresInMinutes (which is
    /// still validated), to exercise clients' token-refresh code.
    #[arg(long, env = "ACS_EMULATOR_TOKEN_LIFETIME", value_parser = humantime::parse_duration)]
    pub token_lifetime: Option<Duration>,

    /// Tenant id (GUID) of the built-in Microsoft Entra ID token authority.
    #[arg(long, env = "ACS_EMULATOR_ENTRA_TENANT", default_value = DEFAULT_ENTRA_TENANT)]
    pub entra_tenant: String,

    /// A client registered with the built-in token authority, as CLIENT_ID:SECRET (repeatable).
    #[arg(long = "entra-client", env = "ACS_EMULATOR_ENTRA_CLIENT", value_delimiter = ',', default_value = DEFAULT_ENTRA_CLIENT)]
    pub entra_clients: Vec<String>,

    /// Accept any well-formed, unexpired JWT with the right audience as an Entra ID token, whoever
    /// signed it. Only for apps that mint their own test tokens: anything that looks right gets in.
    #[arg(long, env = "ACS_EMULATOR_ENTRA_TRUST_ANY")]
    pub entra_trust_any: bool,

    /// Sign Entra ID tokens with this P-256 private key (PEM, PKCS#8) instead of one generated at
    /// start-up, so that tokens stay valid across restarts.
    #[arg(long, env = "ACS_EMULATOR_ENTRA_SIGNING_KEY")]
    pub entra_signing_key: Option<PathBuf>,

    /// Client id of the emulated managed identity (the `appid` of its tokens).
    #[arg(long, env = "ACS_EMULATOR_MANAGED_IDENTITY_CLIENT_ID", default_value = DEFAULT_MANAGED_IDENTITY_CLIENT_ID)]
    pub managed_identity_client_id: String,

    /// The secret that callers of the managed identity endpoint must send as X-IDENTITY-HEADER
    /// (set the app's IDENTITY_HEADER to it).
    #[arg(long, env = "ACS_EMULATOR_MANAGED_IDENTITY_HEADER", default_value = DEFAULT_MANAGED_IDENTITY_HEADER)]
    pub managed_identity_header: String,

    /// Build the Entra ID authority's URLs (issuer, token endpoint) and Chat's nextLink from the
    /// Forwarded / X-Forwarded-Host / X-Forwarded-Proto headers of a reverse proxy in front of
    /// the emulator. Off: from the request's own host and the listener's scheme.
    #[arg(long, env = "ACS_EMULATOR_TRUST_FORWARDED_HEADERS")]
    pub trust_forwarded_headers: bool,
}

/// What [`TokenFlags::check`] derives.
pub(super) struct CheckedTokens {
    pub entra_tenant: Uuid,
    pub entra_clients: Vec<(String, String)>,
}

impl TokenFlags {
    pub(super) fn check(&self) -> Result<CheckedTokens, ConfigError> {
        let entra_tenant = Uuid::parse_str(&self.entra_tenant).map_err(|_| {
            ConfigError(format!(
                "--entra-tenant '{}' is not a GUID",
                self.entra_tenant
            ))
        })?;
        let mut entra_clients = Vec::with_capacity(self.entra_clients.len());
        for entry in &self.entra_clients {
            let (id, secret) = entry
                .split_once(':')
                .filter(|(id, secret)| !id.trim().is_empty() && !secret.is_empty())
                .ok_or_else(|| {
                    ConfigError(format!("--entra-client '{entry}' must be CLIENT_ID:SECRET"))
                })?;
            entra_clients.push((id.trim().to_ascii_lowercase(), secret.to_string()));
        }
        if self.managed_identity_header.is_empty() {
            return Err(ConfigError(
                "--managed-identity-header must not be empty".into(),
            ));
        }
        if self
            .token_lifetime
            .is_some_and(|lifetime| lifetime < Duration::from_secs(1))
        {
            return Err(ConfigError("--token-lifetime must be at least 1s".into()));
        }
        super::readable_file("--entra-signing-key", self.entra_signing_key.as_deref())?;
        Ok(CheckedTokens {
            entra_tenant,
            entra_clients,
        })
    }

    pub(super) fn for_tests() -> Self {
        Self {
            token_lifetime: None,
            entra_tenant: DEFAULT_ENTRA_TENANT.into(),
            entra_clients: vec![DEFAULT_ENTRA_CLIENT.into()],
            entra_trust_any: false,
            entra_signing_key: None,
            managed_identity_client_id: DEFAULT_MANAGED_IDENTITY_CLIENT_ID.into(),
            managed_identity_header: DEFAULT_MANAGED_IDENTITY_HEADER.into(),
            trust_forwarded_headers: false,
        }
    }
}
