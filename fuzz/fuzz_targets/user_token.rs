//! User access tokens: `TokenIssuer::verify` on arbitrary text, and on mutations of a real token.
//!
//! Property: never panics; nothing but the issued token itself (byte for byte) verifies.
#![no_main]

use std::sync::LazyLock;

use acs_emulator::auth::user_token::TokenIssuer;
use acs_emulator::domain::{Scope, ScopeSet};
use chrono::{DateTime, TimeDelta, Utc};
use libfuzzer_sys::fuzz_target;

static ISSUER: LazyLock<(TokenIssuer, String, DateTime<Utc>)> = LazyLock::new(|| {
    let resource =
        uuid::Uuid::parse_str("acacacac-0000-4000-8000-000000000001").unwrap_or_default();
    let issuer = TokenIssuer::new(resource, "unitedstates");
    let now = DateTime::<Utc>::from_timestamp(1_790_000_000, 0).unwrap_or_default();
    let token = issuer
        .issue(
            &format!("acs:{resource}_00000000-0000-4000-8000-000000000001"),
            &ScopeSet::new([Scope::Chat]),
            1,
            now,
            TimeDelta::hours(1),
        )
        .map(|t| t.token)
        .unwrap_or_default();
    (issuer, token, now)
});

fuzz_target!(|data: &[u8]| {
    let (issuer, token, now) = &*ISSUER;
    let text = String::from_utf8_lossy(data);
    if issuer.verify(&text, *now).is_ok() {
        assert_eq!(&*text, token.as_str(), "a forged token verified");
    }
    // Splice the input into the real token at a position chosen by the first byte.
    if let Some((&pos, rest)) = data.split_first() {
        let at = (pos as usize * token.len() / 256).min(token.len());
        let mut spliced = token.as_bytes()[..at].to_vec();
        spliced.extend_from_slice(rest);
        spliced.extend_from_slice(&token.as_bytes()[(at + rest.len()).min(token.len())..]);
        let spliced = String::from_utf8_lossy(&spliced);
        if issuer.verify(&spliced, *now).is_ok() {
            assert_eq!(&*spliced, token.as_str(), "a tampered token verified");
        }
    }
});
