//! The Email API: `POST /emails:send` ([`send`]) starts a send operation,
//! `GET /emails/operations/{operation_id}` ([`status`]) polls it.
//!
//! Contract: the `Email` specs (stable `2023-03-31` and `2025-09-01`; the latter adds inline
//! attachments, `attachments[].contentId`) and `notes/research/email.md`. Both operations take
//! an access key or an Entra ID token. A send is a long-running operation (`store::lro`):
//! `202 Accepted` with `{id, status: "Running"}`, an absolute `Operation-Location` on the host the
//! client called and `retry-after` in whole seconds; the status moves to `Succeeded` (or
//! `Failed` / `Canceled` with an `error`, as scenario rules script it) after
//! `--email-completion-delay` of emulator time.
//!
//! Every front door that accepts a message (this REST API; an SMTP relay) goes through one entry
//! point, [`accept::accept_email`]: the service's checks, the operation, the inbox, the delivery
//! reports and the events. [`mime`] renders an accepted message as RFC 5322 (the inbox's
//! `.eml`).

pub mod accept;
pub mod mime;
pub mod send;
pub mod status;
pub mod wire;

use actix_web::http::Method;

use crate::config::LimitFlags;
use crate::http::lro::LroLinks;
use crate::http::{AuthKind, Mount, Operation, Plane, Service};
use crate::store::lro::StatusCase;

/// Every api-version the emulator serves: the stable ones. `azure-communication-email` 1.1.0
/// (PyPI) and `@azure/communication-email` 1.1.0 (npm) send 2025-09-01; their 1.0.0 releases
/// sent 2023-03-31.
pub const VERSIONS: &[&str] = &["2023-03-31", "2025-09-01"];

/// The first version with inline attachments (`attachments[].contentId`).
pub const INLINE_ATTACHMENTS_SINCE: &str = "2025-09-01";

/// How Email links to a send operation: an absolute `Operation-Location` (the Python SDK polls
/// it verbatim), no `Location`.
pub const LINKS: LroLinks = LroLinks {
    absolute: true,
    location: false,
};

/// Email spells statuses in PascalCase (`Running`, `Succeeded`).
pub const STATUS_CASE: StatusCase = StatusCase::Pascal;

/// The journal's name for a message received by the SMTP relay (`crate::smtp`). It is no
/// operation of the HTTP table: scenario rules match SMTP sends as [`crate::scenario::EMAIL_SEND`].
pub const SMTP_SEND: &str = "Email.SmtpSend";

/// Where a send operation's status is polled (the id and `?api-version=` follow).
pub const OPERATIONS_PATH: &str = "/emails/operations/";

/// The Email service's slice of the operation table: both operations take an access key or an
/// Entra ID token. `/emails:send` has no `/` after `/emails`, so it is served at the root; the
/// `/emails` mount answers unknown paths below it (404 with `api-supported-versions`).
pub const SERVICE: Service = Service {
    plane: Plane::Data,
    mounts: &[Mount {
        prefix: "/emails",
        auth: AuthKind::AccessKeyOrEntra,
        supported_versions: VERSIONS,
    }],
    operations: OPERATIONS,
};

/// How every Email operation authenticates.
const AUTH: AuthKind = AuthKind::AccessKeyOrEntra;

/// The largest send request: `--max-email-request-bytes` (the real service's limit is 10 MB,
/// attachments included).
fn send_body_limit(flags: &LimitFlags) -> usize {
    flags.max_email_request_bytes
}

/// Every Email operation.
#[rustfmt::skip]
pub const OPERATIONS: &[Operation] = &[
    Operation::new("Email.Send", Method::POST, "/emails:send",
        VERSIONS, AUTH, |r| r.to(send::send_email)).with_body_limit(send_body_limit),
    Operation::new("Email.GetSendResult", Method::GET, "/emails/operations/{operation_id}",
        VERSIONS, AUTH, |r| r.to(status::get_send_result)),
];
