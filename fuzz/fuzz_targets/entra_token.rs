//! Entra ID tokens: `EntraAuthority::verify` (and `check_if_ours`) on arbitrary text and on
//! mutations of a real client-credentials token, with and without `--entra-trust-any`.
//!
//! Property: never panics; without trust-any, no modification of a real token verifies except
//! ones that leave header, payload and signature decoding to the same bytes.
#![no_main]

use std::sync::LazyLock;

use acs_emulator::auth::entra::EntraAuthority;
use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;

const CLIENT: &str = "acacacac-0000-4000-8000-00000000000c";

struct Fixture {
    strict: EntraAuthority,
    trusting: EntraAuthority,
    token: String,
    now: DateTime<Utc>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let tenant = uuid::Uuid::parse_str("acacacac-0000-4000-8000-00000000000a").unwrap_or_default();
    let clients = vec![(CLIENT.to_string(), "secret".to_string())];
    let build = |trust_any| {
        EntraAuthority::new(tenant, &clients, "mi", trust_any, None).expect("authority")
    };
    let strict = build(false);
    let trusting = build(true);
    let now = DateTime::<Utc>::from_timestamp(1_790_000_000, 0).unwrap_or_default();
    let issuer = EntraAuthority::issuer("https://127.0.0.1:8443", &tenant.to_string());
    let token = strict
        .client_credentials(
            CLIENT,
            "secret",
            "https://communication.azure.com/.default",
            &issuer,
            &tenant.to_string(),
            now,
        )
        .unwrap_or_default();
    Fixture {
        strict,
        trusting,
        token,
        now,
    }
});

fuzz_target!(|data: &[u8]| {
    let f = &*FIXTURE;
    let text = String::from_utf8_lossy(data);
    let _ = f.trusting.verify(&text, f.now);
    let _ = f.strict.check_if_ours(&text);
    if f.strict.verify(&text, f.now).is_ok() {
        assert_eq!(&*text, f.token.as_str(), "a forged Entra token verified");
    }
    if let Some((&pos, rest)) = data.split_first() {
        let token = f.token.as_bytes();
        let at = (pos as usize * token.len() / 256).min(token.len());
        let mut spliced = token[..at].to_vec();
        spliced.extend_from_slice(rest);
        spliced.extend_from_slice(&token[(at + rest.len()).min(token.len())..]);
        let spliced = String::from_utf8_lossy(&spliced);
        let _ = f.trusting.verify(&spliced, f.now);
        if f.strict.verify(&spliced, f.now).is_ok() {
            assert_eq!(
                &*spliced,
                f.token.as_str(),
                "a tampered Entra token verified"
            );
        }
    }
});
