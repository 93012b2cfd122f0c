//! The actix-web glue every service shares: the operation table's types and the per-operation
//! layer ([`operation`]), the [`edge()`] middleware (limits, buffered body, standard headers,
//! access log, journal), authentication on requests ([`auth`]), scripted scenarios on requests
//! ([`scenario`]) and transport [`faults`], typed extractors ([`extract`]), answering requests
//! ([`response`]), browsers' cross-origin requests ([`cors`]), the headers of long-running operations ([`lro`]), and which host a request
//! addresses ([`host`]).

pub mod auth;
pub mod body;
pub mod cors;
pub mod edge;
pub mod extract;
pub mod faults;
pub mod host;
pub mod lro;
pub mod operation;
pub mod response;
pub mod scenario;

pub use auth::Res;
pub use body::BufferedBody;
pub use edge::edge;
pub use extract::{
    AcsJson, AcsJsonOrDefault, ApiVersion, ChatCaller, MessagePath, ProblemJson, ThreadPath,
    UserPath,
};
pub use operation::{AuthKind, Mount, Operation, Plane, Service};
pub use response::{json_response, not_found, origin};
