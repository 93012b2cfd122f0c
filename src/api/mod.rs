//! The HTTP surface: one module per API area, each with its own `configure`. The actix glue they
//! share (the edge middleware, authentication, api-version and body parsing, fallbacks) is in
//! [`crate::http`].

pub mod admin;
pub mod chat;
pub mod entra;
pub mod identity;
pub mod sms;

use actix_web::web;

/// Mounts every API area and the fallbacks.
pub fn configure(cfg: &mut web::ServiceConfig) {
    admin::configure(cfg);
    chat::configure(cfg);
    identity::configure(cfg);
    sms::configure(cfg);
    // Last: its `/{tenant}/…` patterns must not shadow the fixed routes above.
    entra::configure(cfg);
}
