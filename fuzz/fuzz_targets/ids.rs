//! Path and id parsers: `CommunicationUserId::parse`, `PhoneNumber::parse`, `SmsMessageId::parse`,
//! `ScopeSet::parse_claim`, and SMS segment counting.
//!
//! Properties: never panics; whatever parses prints back to the same text and parses again;
//! accessors on parsed values (resource id, skype id, country code) do not panic.
#![no_main]

use acs_emulator::domain::{CommunicationUserId, PhoneNumber, ScopeSet, SmsMessageId, segments};
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
    let (_, parts) = segments(&text);
    assert!(parts >= 1);
});
