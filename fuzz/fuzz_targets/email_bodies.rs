//! The Email send body, as `POST /emails:send` takes it: the request DTO through
//! `serde_json::from_slice`, the REST checks and base64 decoding (`send::new_email`), the
//! service's checks (`accept::check_email`, both api-versions) and, for what passes, the RFC 5322
//! message the inbox serves (`mime::eml`).
//!
//! Property: never panics, whatever the bytes; a message that passes the checks always builds.
#![no_main]

use acs_emulator::api::email::accept::check_email;
use acs_emulator::api::email::mime::eml;
use acs_emulator::api::email::send::new_email;
use acs_emulator::api::email::wire::EmailMessageDto;
use acs_emulator::store::lro::{LroOutcome, LroPlan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for version in ["2023-03-31", "2025-09-01"] {
        let Ok(dto) = serde_json::from_slice::<EmailMessageDto>(data) else {
            return;
        };
        let Ok(email) = new_email(dto, version) else {
            continue;
        };
        let Ok(checked) = check_email(email) else {
            continue;
        };
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("valid");
        let plan = LroPlan {
            running_at: now,
            completes_at: now,
            outcome: LroOutcome::Succeeded,
        };
        let sent = checked.into_sent("id".into(), version, now, plan, Vec::new());
        assert!(!eml(&sent).expect("a checked message builds").is_empty());
    }
});
