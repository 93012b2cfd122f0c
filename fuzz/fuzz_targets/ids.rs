//! Path and id parsers: `CommunicationUserId::parse`, `PhoneNumber::parse`, `SmsMessageId::parse`,
//! `ScopeSet::parse_claim`, SMS segment counting, and Chat's `ThreadId::parse`,
//! `ChatMessageId::parse`, `CommunicationIdentifier::parse_raw` and continuation tokens
//! (`SyncState::decode`).
//!
//! Properties: never panics; whatever parses prints back to the same text and parses again;
//! accessors on parsed values (resource id, skype id, country code) do not panic.
#![no_main]

use acs_emulator::api::chat::SyncState;
use acs_emulator::domain::{
    ChatMessageId, CommunicationIdentifier, CommunicationUserId, PhoneNumber, ScopeSet,
    SmsMessageId, ThreadId, segments,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(id) = CommunicationUserId::parse(&text) {
        assert_eq!(id.as_str(), &*text);
        assert!(id.resource_id().is_some());
        let again = CommunicationUserId::from_skype_id(id.skype_id()).expect("skype id round trip");
        assert_eq!(again, id);
    }
    if let Ok(number) = PhoneNumber::parse(&text) {
        assert_eq!(number.as_str(), &*text);
        assert!(text[1..].starts_with(number.country_code()));
        assert_eq!(PhoneNumber::parse(number.as_str()).ok(), Some(number));
    }
    if let Some(id) = SmsMessageId::parse(&text) {
        assert_eq!(SmsMessageId::parse(id.as_str()).as_ref(), Some(&id));
    }
    if let Some(scopes) = ScopeSet::parse_claim(&text) {
        let claim = scopes.to_claim();
        assert_eq!(ScopeSet::parse_claim(&claim), Some(scopes));
    }
    if let Ok(id) = ThreadId::parse(&text) {
        assert_eq!(ThreadId::parse(id.as_str()).ok().as_ref(), Some(&id));
        let _ = id.location_segment();
    }
    if let Ok(id) = ChatMessageId::parse(&text) {
        assert_eq!(ChatMessageId::parse(&id.0.to_string()).ok(), Some(id));
    }
    if let Ok(identifier) = CommunicationIdentifier::parse_raw(&text) {
        let raw = identifier.raw_id();
        let again = CommunicationIdentifier::parse_raw(&raw).expect("raw id round trip");
        assert_eq!(again.raw_id(), raw);
    }
    for kind in ['m', 't'] {
        if let Ok(state) = SyncState::decode(&text, kind) {
            let encoded = SyncState::encode(state.kind, state.version, &state.cursor);
            assert_eq!(SyncState::decode(&encoded, kind).ok(), Some(state));
        }
    }
    let (_, parts) = segments(&text);
    assert!(parts >= 1);
});
