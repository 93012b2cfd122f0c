//! `SMS`: the numbers the default resource owns and when delivery reports arrive.

use std::time::Duration;

use clap::Args;

use super::ConfigError;
use crate::domain::PhoneNumber;

/// The phone number the emulated resource owns when `--phone-number` is not given: a fictional
/// North American 555-01xx number, safe to use in tests.
pub const DEFAULT_PHONE_NUMBER: &str = "+18005550100";

/// SMS senders and delivery reports.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "SMS")]
pub struct SmsFlags {
    /// A phone number (E.164) the resource owns and may send SMS from (repeatable or comma-separated).
    #[arg(
        long = "phone-number",
        env = "ACS_EMULATOR_PHONE_NUMBER",
        value_delimiter = ',',
        default_value = DEFAULT_PHONE_NUMBER
    )]
    pub phone_numbers: Vec<String>,

    /// How long after a send its SMS delivery report becomes available (emulator clock), e.g. 0s, 5s.
    #[arg(long, env = "ACS_EMULATOR_SMS_DELIVERY_REPORT_DELAY", default_value = "0s", value_parser = humantime::parse_duration)]
    pub sms_delivery_report_delay: Duration,

    /// How long a phone-number operation (search, purchase, release, capabilities update) runs
    /// before it completes (emulator clock), e.g. 0s, 3s.
    #[arg(long, env = "ACS_EMULATOR_PHONE_NUMBER_OPERATION_DELAY", default_value = "0s", value_parser = humantime::parse_duration)]
    pub phone_number_operation_delay: Duration,
}

impl SmsFlags {
    /// The phone numbers, parsed, without duplicates, in the order given.
    pub(super) fn check(&self) -> Result<Vec<PhoneNumber>, ConfigError> {
        let mut phone_numbers = Vec::new();
        for raw in &self.phone_numbers {
            let number = PhoneNumber::parse(raw.trim()).map_err(|e| {
                ConfigError(format!(
                    "--phone-number '{raw}' is not usable: {e} (expected e.g. {DEFAULT_PHONE_NUMBER})"
                ))
            })?;
            if !phone_numbers.contains(&number) {
                phone_numbers.push(number);
            }
        }
        Ok(phone_numbers)
    }

    pub(super) fn for_tests() -> Self {
        Self {
            phone_numbers: vec![DEFAULT_PHONE_NUMBER.into()],
            sms_delivery_report_delay: Duration::ZERO,
            phone_number_operation_delay: Duration::ZERO,
        }
    }
}
