//! Scripted scenarios: rules that answer, delay, break or shape requests before the real handler
//! runs ([`engine`], [`rules`]), the operation names they match on ([`operation`]) and the
//! request journal ([`journal`]). The HTTP side is `http::scenario` and `api::admin::scenarios`.

pub mod engine;
pub mod journal;
pub mod operation;
pub mod rules;

pub use engine::{Applied, Engine, Facts};
pub use journal::Journal;
pub use operation::Operation;
pub use rules::Rule;
