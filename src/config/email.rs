//! `Email`: the sender domains linked to the default resource and how long a send takes.

use std::time::Duration;

use clap::Args;

use super::ConfigError;
use crate::domain::is_domain_name;

/// Sender domains and timing of email sends.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Email")]
pub struct EmailFlags {
    /// A custom domain linked to the default resource, which may send email from any address
    /// on it (repeatable or comma-separated). The resource's Azure-managed domain,
    /// <resource id>.azurecomm.net, is always linked.
    #[arg(
        long = "email-domain",
        env = "ACS_EMULATOR_EMAIL_DOMAIN",
        value_delimiter = ','
    )]
    pub email_domains: Vec<String>,

    /// How long an email send operation stays Running before it succeeds (emulator clock), e.g.
    /// 1s, 0s. The SDKs' pollers return about this long after the send.
    #[arg(long, env = "ACS_EMULATOR_EMAIL_COMPLETION_DELAY", default_value = "1s", value_parser = humantime::parse_duration)]
    pub email_completion_delay: Duration,

    /// How long after a send operation finishes its recipients' delivery reports arrive
    /// (EmailDeliveryReportReceived events; emulator clock), e.g. 0s, 5s.
    #[arg(long, env = "ACS_EMULATOR_EMAIL_DELIVERY_REPORT_DELAY", default_value = "0s", value_parser = humantime::parse_duration)]
    pub email_delivery_report_delay: Duration,
}

impl EmailFlags {
    /// The domains, lower-cased, without duplicates, in the order given.
    pub(super) fn check(&self) -> Result<Vec<String>, ConfigError> {
        let mut domains = Vec::new();
        for raw in &self.email_domains {
            let domain = raw.trim().trim_end_matches('.').to_ascii_lowercase();
            if !is_domain_name(&domain) {
                return Err(ConfigError(format!(
                    "--email-domain '{raw}' is not a domain name (expected e.g. contoso.com)"
                )));
            }
            if !domains.contains(&domain) {
                domains.push(domain);
            }
        }
        Ok(domains)
    }

    pub(super) fn for_tests() -> Self {
        Self {
            email_domains: Vec::new(),
            email_completion_delay: Duration::from_secs(1),
            email_delivery_report_delay: Duration::ZERO,
        }
    }
}
