//! Every request-body decoder: the public request DTOs through `serde_json::from_slice`, as
//! `api::json_body` decodes them, then the domain parsing handlers apply to the decoded fields
//! (phone numbers, user ids, thread and message ids, raw identifiers, SMS segment counting).
//! Chat's request bodies included.
//!
//! Property: never panics, whatever the bytes (deep nesting, huge numbers, invalid UTF-8).
#![no_main]

use acs_emulator::api::chat::messages::{
    SendChatMessageRequest, SendReadReceiptRequest, SendTypingNotificationRequest,
    UpdateChatMessageRequest,
};
use acs_emulator::api::chat::participants::AddChatParticipantsRequest;
use acs_emulator::api::chat::threads::{CreateChatThreadRequest, UpdateChatThreadRequest};
use acs_emulator::api::identity::teams::{
    ExchangeTeamsUserAccessTokenRequest, UpsertAssignmentRequest,
};
use acs_emulator::api::identity::users::{CreateUserRequest, IssueAccessTokenRequest};
use acs_emulator::api::sms::opt_outs::OptOutRequest;
use acs_emulator::api::sms::send::SendSmsRequest;
use acs_emulator::domain::{
    ChatMessageId, CommunicationIdentifier, CommunicationUserId, PhoneNumber, ThreadId, segments,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<CreateUserRequest>(data);
    let _ = serde_json::from_slice::<IssueAccessTokenRequest>(data);
    let _ = serde_json::from_slice::<ExchangeTeamsUserAccessTokenRequest>(data);
    let _ = serde_json::from_slice::<UpsertAssignmentRequest>(data);
    let _ = serde_json::from_slice::<OptOutRequest>(data);
    let _ = serde_json::from_slice::<CreateChatThreadRequest>(data);
    let _ = serde_json::from_slice::<UpdateChatThreadRequest>(data);
    let _ = serde_json::from_slice::<SendChatMessageRequest>(data);
    let _ = serde_json::from_slice::<UpdateChatMessageRequest>(data);
    let _ = serde_json::from_slice::<SendReadReceiptRequest>(data);
    let _ = serde_json::from_slice::<SendTypingNotificationRequest>(data);
    let _ = serde_json::from_slice::<AddChatParticipantsRequest>(data);
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        // Strings anywhere in the document go through the domain parsers too.
        let mut stack = vec![&value];
        while let Some(v) = stack.pop() {
            match v {
                serde_json::Value::String(s) => {
                    let _ = PhoneNumber::parse(s);
                    let _ = CommunicationUserId::parse(s);
                    let _ = segments(s);
                    let _ = ThreadId::parse(s);
                    let _ = ChatMessageId::parse(s);
                    let _ = CommunicationIdentifier::parse_raw(s);
                }
                serde_json::Value::Array(items) => stack.extend(items),
                serde_json::Value::Object(map) => stack.extend(map.values()),
                _ => {}
            }
        }
    }
    let _ = serde_json::from_slice::<SendSmsRequest>(data);
});
