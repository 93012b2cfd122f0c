//! The SMS API: `POST /sms` ([`send`]), the 2024-12-10-preview+ opt-out operations
//! ([`opt_outs`]) and the 2025-08-01-preview+ delivery reports ([`delivery_reports`]).
//!
//! Contract: `shared/specs/Sms/*` and acs-api.md §8, §13. Every operation takes an access key
//! or an Entra ID token. Request bodies are checked as ASP.NET model validation does
//! ([`validation`]) and refused with RFC 9110 problem details.

pub mod delivery_reports;
pub mod opt_outs;
pub mod send;
pub mod validation;

use actix_web::http::Method;

use crate::http::{AuthKind, Mount, Operation, Plane, Service};

pub use delivery_reports::DELIVERY_REPORT_VERSIONS;
pub use opt_outs::OPT_OUT_VERSIONS;
pub use send::SEND_VERSIONS;

/// The SMS service's slice of the operation table: every operation takes an access key or an
/// Entra ID token.
pub const SERVICE: Service = Service {
    plane: Plane::Data,
    mounts: &[
        Mount {
            prefix: "/sms",
            auth: AuthKind::AccessKeyOrEntra,
            supported_versions: SEND_VERSIONS,
        },
        Mount {
            prefix: "/deliveryReports",
            auth: AuthKind::AccessKeyOrEntra,
            supported_versions: DELIVERY_REPORT_VERSIONS,
        },
    ],
    operations: OPERATIONS,
};

/// How every SMS operation authenticates.
const AUTH: AuthKind = AuthKind::AccessKeyOrEntra;

/// Every SMS operation.
#[rustfmt::skip]
pub const OPERATIONS: &[Operation] = &[
    Operation::new("Sms.Send", Method::POST, "/sms",
        SEND_VERSIONS, AUTH, |r| { r.to(send::send_sms) }),
    Operation::new("Sms.AddOptOuts", Method::POST, "/sms/optouts:add",
        OPT_OUT_VERSIONS, AUTH, |r| r.to(opt_outs::opt_outs)),
    Operation::new("Sms.RemoveOptOuts", Method::POST, "/sms/optouts:remove",
        OPT_OUT_VERSIONS, AUTH, |r| r.to(opt_outs::opt_outs)),
    Operation::new("Sms.CheckOptOuts", Method::POST, "/sms/optouts:check",
        OPT_OUT_VERSIONS, AUTH, |r| r.to(opt_outs::opt_outs)),
    Operation::new("Sms.GetDeliveryReport", Method::GET, "/deliveryReports/{message_id}",
        DELIVERY_REPORT_VERSIONS, AUTH, |r| r.to(delivery_reports::get_delivery_report)),
];
