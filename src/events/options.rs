//! The bus's options (plain data start-up fills from the flags) and the ARM ids that are the
//! events' topics.

use super::DeliveryPolicy;

/// The ARM id of an ACS resource: the `topic` (Event Grid schema) or `source` (CloudEvents) of
/// its events.
pub fn resource_topic(subscription_id: &str, resource_group: &str, name: &str) -> String {
    format!(
        "/subscriptions/{subscription_id}/resourceGroups/{resource_group}{}",
        provider_path(name)
    )
}

pub(super) fn provider_path(name: &str) -> String {
    format!("/providers/Microsoft.Communication/communicationServices/{name}")
}

/// Tuning of the bus: plain data, filled from the command line by start-up (this module never
/// reads the configuration itself).
#[derive(Debug, Clone)]
pub struct BusOptions {
    /// The default resource's topic (its ARM id, named by `--resource-name`).
    pub topic: String,
    /// `/subscriptions/{id}/resourceGroups/{group}`: other resources' topics end in their name.
    pub arm_prefix: String,
    /// The name of the default resource (the one the flags describe).
    pub default_resource: String,
    /// Retries, backoff and timeouts.
    pub policy: DeliveryPolicy,
    /// Most events waiting per subscription.
    pub queue_capacity: usize,
    /// Most records kept per history list (delivered, dead-lettered).
    pub history_capacity: usize,
    /// Most SMS delivery reports waiting for their time.
    pub report_capacity: usize,
    /// `--seed`: event ids and chat transaction ids come from this reproducible sequence
    /// (random when `None`); a reset starts it over.
    pub seed: Option<u64>,
    /// Certificates HTTPS webhooks may present besides the public roots (`--event-webhook-ca`;
    /// see [`tls`](super::tls)).
    pub extra_roots: Vec<rustls_pki_types::CertificateDer<'static>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_topic_is_the_resources_arm_id() {
        assert_eq!(
            resource_topic("sub", "rg", "acs"),
            "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Communication/communicationServices/acs"
        );
    }
}
