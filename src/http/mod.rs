//! The actix-web glue every service shares: the operation table's types and the per-operation
//! layer ([`operation`]), the [`edge`] middleware (limits, buffered body, standard headers,
//! access log, journal), authentication on requests ([`auth`]), scripted scenarios on requests
//! ([`scenario`]) and transport [`faults`], reading requests ([`request`]) and answering them
//! ([`response`]), and which host a request addresses ([`host`]).

pub mod auth;
pub mod body;
pub mod edge;
pub mod faults;
pub mod host;
pub mod operation;
pub mod request;
pub mod response;
pub mod scenario;

pub use auth::Res;
pub use body::BufferedBody;
pub use edge::edge;
pub use operation::{AuthKind, Mount, Operation, Plane, Service};
pub use request::{api_version, json_body};
pub use response::{json_response, not_found, origin};
