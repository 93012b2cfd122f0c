//! Every request-body decoder: the public request DTOs through `serde_json::from_slice`, as
//! `api::json_body` decodes them, then the domain parsing handlers apply to the decoded fields
//! (phone numbers, user ids, SMS segment counting).
//!
//! Property: never panics, whatever the bytes (deep nesting, huge numbers, invalid UTF-8).
#![no_main]

use acs_emulator::api::identity::{
    CreateUserRequest, ExchangeTeamsUserAccessTokenRequest, IssueAccessTokenRequest,
    UpsertAssignmentRequest,
};
use acs_emulator::api::sms::SendSmsRequest;
use acs_emulator::api::sms_extras::OptOutRequest;
use acs_emulator::domain::{CommunicationUserId, PhoneNumber, segments};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<CreateUserRequest>(data);
    let _ = serde_json::from_slice::<IssueAccessTokenRequest>(data);
    let _ = serde_json::from_slice::<ExchangeTeamsUserAccessTokenRequest>(data);
    let _ = serde_json::from_slice::<UpsertAssignmentRequest>(data);
    let _ = serde_json::from_slice::<OptOutRequest>(data);
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        // Strings anywhere in the document go through the domain parsers too.
        let mut stack = vec![&value];
        while let Some(v) = stack.pop() {
            match v {
                serde_json::Value::String(s) => {
                    let _ = PhoneNumber::parse(s);
                    let _ = CommunicationUserId::parse(s);
                    let _ = segments(s);
                }
                serde_json::Value::Array(items) => stack.extend(items),
                serde_json::Value::Object(map) => stack.extend(map.values()),
                _ => {}
            }
        }
    }
    let _ = serde_json::from_slice::<SendSmsRequest>(data);
});
