//! `Access keys & resources`: the default emulated resource (its keys, ids and ARM id) and how
//! many resources there may be.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::Args;
use uuid::Uuid;

use super::ConfigError;

/// The well-known development access key (base64), used when `--access-key` is not given.
///
/// Like Azurite's well-known account key it is public and documented: never use it for anything real.
pub const DEFAULT_ACCESS_KEY: &str =
    "mTisQgAEcpR1A3Gl/8Jun7D9tBErXplwaHvlwXR+9tclRej7ardRSiLRlN41Uwrpg6l8KGoxMu9akJuvzwcMeg==";

/// The well-known secondary development access key (base64).
pub const DEFAULT_SECONDARY_ACCESS_KEY: &str =
    "sj+5Bvm0kx/JKMJA/RpZEYkhN7KgrFrRBsegbAWoj1TW5SycF+41K11SYhqmKPWLbz+Y/mtHGzb2MqD2VOWuWA==";

/// The default immutable resource id (GUID) of the emulated ACS resource.
pub const DEFAULT_RESOURCE_ID: &str = "acacacac-0000-4000-8000-000000000001";

/// The Azure subscription id in the resource's ARM id (the `topic`/`source` of its events), used
/// when `--azure-subscription-id` is not given.
pub const DEFAULT_AZURE_SUBSCRIPTION_ID: &str = "acacacac-0000-4000-8000-00000000000b";

/// The resource group in the resource's ARM id, used when `--resource-group` is not given.
pub const DEFAULT_RESOURCE_GROUP: &str = "acs-emulator-rg";

/// The resource name in the resource's ARM id, used when `--resource-name` is not given.
pub const DEFAULT_RESOURCE_NAME: &str = "acs-emulator";

/// The default resource: access keys, ids, location and ARM id; the number of resources.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Access keys & resources")]
pub struct ResourceFlags {
    /// Primary access key (base64), used in the connection string and to verify HMAC signatures.
    /// Default: the well-known development key printed at start-up (see the README).
    #[arg(long, env = "ACS_EMULATOR_ACCESS_KEY", default_value = DEFAULT_ACCESS_KEY, hide_default_value = true)]
    pub access_key: String,

    /// Secondary access key (base64); requests signed with either key are accepted.
    /// Default: the well-known secondary development key (see the README).
    #[arg(long, env = "ACS_EMULATOR_SECONDARY_ACCESS_KEY", default_value = DEFAULT_SECONDARY_ACCESS_KEY, hide_default_value = true)]
    pub secondary_access_key: String,

    /// Immutable resource id (GUID) of the emulated resource; appears in user ids and tokens.
    #[arg(long, env = "ACS_EMULATOR_RESOURCE_ID", default_value = DEFAULT_RESOURCE_ID)]
    pub resource_id: String,

    /// Data location reported in user tokens (`resourceLocation` claim).
    #[arg(
        long,
        env = "ACS_EMULATOR_RESOURCE_LOCATION",
        default_value = "unitedstates"
    )]
    pub resource_location: String,

    /// How far an HMAC request's x-ms-date may be from the emulator's clock, e.g. 15m, 30s.
    #[arg(long, env = "ACS_EMULATOR_CLOCK_SKEW", default_value = "15m", value_parser = humantime::parse_duration)]
    pub clock_skew: Duration,

    /// Azure subscription id (GUID) in the resource's ARM id, which is the `topic` (Event Grid
    /// schema) or `source` (CloudEvents) of every event.
    #[arg(long, env = "ACS_EMULATOR_AZURE_SUBSCRIPTION_ID", default_value = DEFAULT_AZURE_SUBSCRIPTION_ID)]
    pub azure_subscription_id: String,

    /// Resource group in the resource's ARM id.
    #[arg(long, env = "ACS_EMULATOR_RESOURCE_GROUP", default_value = DEFAULT_RESOURCE_GROUP)]
    pub resource_group: String,

    /// Resource name in the resource's ARM id (the ACS resource's name).
    #[arg(long, env = "ACS_EMULATOR_RESOURCE_NAME", default_value = DEFAULT_RESOURCE_NAME)]
    pub resource_name: String,

    /// Most resources, `default` included; a fixture (at start-up or through
    /// POST /_emulator/fixtures) that would add more is refused.
    #[arg(long, env = "ACS_EMULATOR_MAX_RESOURCES", default_value_t = 100)]
    pub max_resources: usize,
}

/// What [`ResourceFlags::check`] derives.
pub(super) struct CheckedResource {
    pub access_keys: Vec<Vec<u8>>,
    pub resource_id: Uuid,
    pub azure_subscription_id: Uuid,
}

impl ResourceFlags {
    pub(super) fn check(&self) -> Result<CheckedResource, ConfigError> {
        let decode = |flag: &str, value: &str| {
            let bytes = STANDARD
                .decode(value.trim())
                .map_err(|e| ConfigError(format!("{flag} is not valid base64 ({e})")))?;
            if bytes.is_empty() {
                return Err(ConfigError(format!("{flag} must not be empty")));
            }
            Ok(bytes)
        };
        let access_keys = vec![
            decode("--access-key", &self.access_key)?,
            decode("--secondary-access-key", &self.secondary_access_key)?,
        ];
        let resource_id = Uuid::parse_str(&self.resource_id).map_err(|_| {
            ConfigError(format!(
                "--resource-id '{}' is not a GUID (expected e.g. {DEFAULT_RESOURCE_ID})",
                self.resource_id
            ))
        })?;
        if self.resource_location.is_empty()
            || !self
                .resource_location
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(ConfigError(format!(
                "--resource-location '{}' must be letters, digits or '-' (e.g. unitedstates)",
                self.resource_location
            )));
        }
        if self.max_resources == 0 {
            return Err(ConfigError("--max-resources must be at least 1".into()));
        }
        let azure_subscription_id = Uuid::parse_str(&self.azure_subscription_id).map_err(|_| {
            ConfigError(format!(
                "--azure-subscription-id '{}' is not a GUID (expected e.g. {DEFAULT_AZURE_SUBSCRIPTION_ID})",
                self.azure_subscription_id
            ))
        })?;
        // Azure's rules: resource groups 1-90 of letters, digits, '-', '_', '.', '(' and ')',
        // not ending in '.'; ACS resource names 1-63 of letters, digits and '-'.
        let group_ok = (1..=90).contains(&self.resource_group.len())
            && !self.resource_group.ends_with('.')
            && self
                .resource_group
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'));
        if !group_ok {
            return Err(ConfigError(format!(
                "--resource-group '{}' must be 1 to 90 letters, digits, '-', '_', '.', '(' or ')', not ending in '.'",
                self.resource_group
            )));
        }
        let name_ok = (1..=63).contains(&self.resource_name.len())
            && self
                .resource_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !name_ok {
            return Err(ConfigError(format!(
                "--resource-name '{}' must be 1 to 63 letters, digits or '-'",
                self.resource_name
            )));
        }
        Ok(CheckedResource {
            access_keys,
            resource_id,
            azure_subscription_id,
        })
    }

    pub(super) fn for_tests() -> Self {
        Self {
            access_key: DEFAULT_ACCESS_KEY.into(),
            secondary_access_key: DEFAULT_SECONDARY_ACCESS_KEY.into(),
            resource_id: DEFAULT_RESOURCE_ID.into(),
            resource_location: "unitedstates".into(),
            clock_skew: Duration::from_secs(15 * 60),
            azure_subscription_id: DEFAULT_AZURE_SUBSCRIPTION_ID.into(),
            resource_group: DEFAULT_RESOURCE_GROUP.into(),
            resource_name: DEFAULT_RESOURCE_NAME.into(),
            max_resources: 100,
        }
    }
}
