//! The HTTP surface: one module per service, each with its slice of the operation table
//! (`SERVICE`), its handlers and its wire models; [`SERVICES`] is the whole table. The actix glue
//! they share (the table's types, the per-operation layer, the edge middleware, authentication,
//! extractors, fallbacks) is in [`crate::http`].

pub mod admin;
pub mod chat;
pub mod email;
pub mod entra;
pub mod identity;
pub mod phone_numbers;
pub mod realtime;
pub mod rooms;
pub mod sms;

use actix_web::web;

use crate::http::Service;

/// The operation table: every service's slice, in the order their routes are registered. Where
/// path patterns overlap the earlier one wins, so the Entra ID authority comes last: its
/// `/{tenant}/…` patterns would shadow fixed paths otherwise.
pub const SERVICES: &[&Service] = &[
    // Before the control API's `/_emulator` mount, whose fallback would answer its paths.
    &realtime::CONTROL,
    &admin::SERVICE,
    &identity::SERVICE,
    &chat::SERVICE,
    &sms::SERVICE,
    &email::SERVICE,
    &phone_numbers::SERVICE,
    &rooms::SERVICE,
    &realtime::SERVICE,
    &entra::SERVICE,
];

/// Registers every operation of the table (see [`crate::http::operation::register`]).
pub fn configure(cfg: &mut web::ServiceConfig) {
    crate::http::operation::register(cfg, SERVICES);
}

/// The names scenario rules may match on: every data-plane operation, in table order.
/// Real-time notifications (`Realtime.ChatMessageReceived`, …) come last: their rules apply
/// to each notification about to go to a socket (`api::realtime::faults`).
pub fn rule_operations() -> Vec<&'static str> {
    let mut names = crate::http::operation::data_plane_names(SERVICES);
    names.extend_from_slice(realtime::faults::OPERATIONS);
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{AuthKind, Plane};

    #[test]
    fn the_table_names_each_operation_once() {
        let mut seen = std::collections::HashSet::new();
        for service in SERVICES {
            for op in service.operations {
                assert!(seen.insert(op.name), "{} is declared twice", op.name);
                let (prefix, rest) = op.name.split_once('.').expect("Service.Operation");
                assert!(!prefix.is_empty() && !rest.is_empty() && !rest.contains('.'));
                assert!(op.path.starts_with('/'), "{}", op.name);
            }
        }
        assert!(rule_operations().contains(&crate::scenario::SMS_SEND));
    }

    #[test]
    fn data_plane_operations_authenticate_and_take_versions() {
        for service in SERVICES.iter().filter(|s| s.plane == Plane::Data) {
            for op in service.operations {
                assert!(!op.versions.is_empty(), "{}", op.name);
                assert!(
                    matches!(op.auth, AuthKind::AccessKeyOrEntra | AuthKind::UserToken(_)),
                    "{}",
                    op.name
                );
                // Under one of its service's mounts, so unknown paths nearby authenticate alike.
                assert!(
                    service.mounts.iter().any(|m| op.path.starts_with(m.prefix)),
                    "{}",
                    op.name
                );
            }
        }
    }
}
