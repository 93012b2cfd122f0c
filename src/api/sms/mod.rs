//! The SMS API: `POST /sms` ([`send`]), the 2024-12-10-preview+ opt-out operations
//! ([`opt_outs`]) and the 2025-08-01-preview+ delivery reports ([`delivery_reports`]).
//!
//! Contract: `shared/specs/Sms/*` and acs-api.md §8, §13. Every route sits behind the access-key
//! / Entra ID middleware. Request bodies are checked as ASP.NET model validation does
//! ([`validation`]) and refused with RFC 9110 problem details.

pub mod delivery_reports;
pub mod opt_outs;
pub mod send;
pub mod validation;

use actix_web::web;

use crate::http::auth::require_service_auth;
use crate::http::resource;

pub use send::SEND_VERSIONS;

/// Mounts `/sms`, `/sms/optouts:*` and `/deliveryReports/{id}`, behind the access-key / Entra ID
/// middleware.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let headers = |versions: &[&str]| {
        actix_web::middleware::DefaultHeaders::new()
            .add(("api-supported-versions", versions.join(", ")))
    };
    let auth = || actix_web::middleware::from_fn(require_service_auth);
    let scenarios = || actix_web::middleware::from_fn(crate::http::scenario::scenarios);
    cfg.service(
        web::scope("/sms")
            .wrap(scenarios())
            .wrap(auth())
            .wrap(headers(send::SEND_VERSIONS))
            .service(resource("").route(web::post().to(send::send_sms)))
            .service(resource("/optouts:add").route(web::post().to(opt_outs::add_opt_outs)))
            .service(resource("/optouts:remove").route(web::post().to(opt_outs::remove_opt_outs)))
            .service(resource("/optouts:check").route(web::post().to(opt_outs::check_opt_outs))),
    )
    .service(
        web::scope("/deliveryReports")
            .wrap(scenarios())
            .wrap(auth())
            .wrap(headers(delivery_reports::DELIVERY_REPORT_VERSIONS))
            .service(resource("/{id}").route(web::get().to(delivery_reports::get_delivery_report))),
    );
}
