//! Scripted scenarios: rules that answer, delay, break or shape requests before the real handler
//! runs ([`engine`], [`rules`]) and the request journal ([`journal`]). Operations are named by
//! the operation table's names (`Sms.Send`, `Chat.SendMessage`), handed down as data to whoever
//! reads rules ([`with_operations`]): this module never looks at paths. The HTTP side is `http::scenario` and `api::admin::scenarios`.

pub mod engine;
pub mod journal;
pub mod rules;

pub use engine::{Applied, Engine, Facts};
pub use journal::Journal;
pub use rules::{EMAIL_SEND, EmailOverrides, PhoneNumberFailure, Rule, SMS_SEND, with_operations};
