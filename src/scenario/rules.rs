//! Scenario rules as fixture files write them, checked while they are read.
//!
//! Every check runs inside `Deserialize` (through `try_from`), so a bad rule is reported by the
//! JSON or YAML parser with the line it sits on. The operation names a rule's patterns expand to
//! are the operation table's, which this module does not know: whoever parses rules hands them
//! down with [`with_operations`] (the fixture parser does, with `api::rule_operations()`).

use std::collections::BTreeMap;
use std::time::Duration;

use std::cell::RefCell;

use serde::{Deserialize, Deserializer, Serialize};

mod outcomes;

pub use outcomes::{
    DeliveryOutcome, EmailDeliveryOutcome, EmailOutcome, EmailOverride, EmailOverrides,
    EmailReportStatus, EmailResult, EmailResultStatus, ReportStatus, SmsOutcome, SmsResult,
};

/// The state every scenario starts in.
pub const STARTED: &str = "Started";

/// A rule: when a request matches, do something other than (or before) the real handler.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawRule")]
pub struct Rule {
    /// Unique name (journal, verify, control API).
    pub name: String,
    /// What requests it applies to.
    pub matcher: Matcher,
    /// The state machine it belongs to, if any.
    pub scenario: Option<String>,
    /// Applies only while its scenario is in this state.
    pub when_state: Option<String>,
    /// Moves its scenario to this state when it applies.
    pub set_state: Option<String>,
    /// Applies to the first N matching requests only.
    pub times: Option<u64>,
    /// Applies to a matching request with this probability (seeded by `--seed`).
    pub probability: Option<f64>,
    /// Higher first; equal priorities keep file order.
    pub priority: i32,
    /// What it does.
    pub action: Action,
    /// How many times it must have applied when `/_emulator/verify` is asked.
    pub expect: Option<Expect>,
}

/// What a rule does. `delay` combines with any of the others.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    /// Wait this long (real time) first.
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_duration")]
    pub delay: Option<Duration>,
    /// Answer with this instead of the real handler.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub respond: Option<Respond>,
    /// Break the connection instead of answering.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
    /// `Sms.Send` only: the real handler runs, with these per-recipient outcomes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms: Option<SmsOutcome>,
    /// `Email.Send` only: the real handler runs; the send operation and the recipients' delivery
    /// reports end as this says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailOutcome>,
    /// Phone-number operations ([`PHONE_NUMBER_OPERATIONS`]) only: the real handler runs and
    /// the long-running operation it starts ends `failed` with this error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_numbers: Option<PhoneNumbersOutcome>,
}

/// How a scripted phone-number operation fails: `error.code` and `error.message` (defaults:
/// `OutOfStock` for a search, `PurchaseFailed` for purchases, `ReleaseFailed`,
/// `UpdateCapabilitiesFailed`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PhoneNumbersOutcome {
    /// `error.code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// `error.message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The operations a rule's `phoneNumbers` action applies to: those that start a long-running
/// operation.
pub const PHONE_NUMBER_OPERATIONS: &[&str] = &[
    "PhoneNumbers.SearchAvailablePhoneNumbers",
    "PhoneNumbers.PurchasePhoneNumbers",
    "PhoneNumbers.PurchaseReservation",
    "PhoneNumbers.ReleasePhoneNumber",
    "PhoneNumbers.UpdateCapabilities",
];

/// The `phoneNumbers` outcome a rule scripted for one request (none when no rule did).
#[derive(Debug, Clone, Default)]
pub struct PhoneNumberFailure(pub Option<PhoneNumbersOutcome>);

impl PhoneNumberFailure {
    /// The error the operation fails with, if scripted: the rule's code and message, else
    /// these defaults.
    pub fn error(&self, code: &str, message: &str) -> Option<crate::store::lro::LroError> {
        self.0.as_ref().map(|o| crate::store::lro::LroError {
            code: o.code.clone().unwrap_or_else(|| code.to_string()),
            message: o.message.clone().unwrap_or_else(|| message.to_string()),
        })
    }
}

impl Action {
    /// Whether its outcome is per recipient (`sms`, `email`): such rules combine, each
    /// recipient getting the first outcome that names it.
    pub fn per_recipient(&self) -> bool {
        self.sms.is_some() || self.email.is_some()
    }
}

/// A scripted response.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Respond {
    /// HTTP status, 100..=599.
    pub status: u16,
    /// ACS error code for the envelope (default: from the status, e.g. `TooManyRequests`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// ACS error message (default: names the rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Response headers, e.g. `Retry-After`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// A JSON body sent as is instead of the error envelope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}

/// A transport fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Fault {
    /// The connection is reset (TCP RST) without an answer.
    ConnectionReset,
    /// The connection is closed without a byte of answer.
    EmptyResponse,
    /// The status line and headers arrive, then the connection closes halfway through the body.
    TruncatedBody,
}

/// How many times a rule must have applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// At least.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u64>,
    /// At most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
}

impl Expect {
    /// Whether `applied` meets it.
    pub fn met_by(&self, applied: u64) -> bool {
        self.count.is_none_or(|c| applied == c)
            && self.min.is_none_or(|m| applied >= m)
            && self.max.is_none_or(|m| applied <= m)
    }
}

/// Which requests a rule applies to. Every given field must match.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Matcher {
    /// Operation names or patterns (`Sms.Send`, `Chat.*`, `*`).
    pub operation: Vec<String>,
    /// Resource name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// api-version, exactly as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Recipients (any of them): SMS numbers, or email address patterns (`*` wildcards).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    /// The sender: an SMS number, or an email address pattern.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Chat thread id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    /// The acting user: the Chat caller, or the identity in an Identity path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// JSON pointer → the value the request body must have there.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub body: BTreeMap<String, serde_json::Value>,
    /// The operations the patterns name.
    #[serde(skip)]
    pub operations: Vec<&'static str>,
}

impl Matcher {
    /// Whether the rule can apply to the operation `op` at all.
    pub fn covers(&self, op: &str) -> bool {
        self.operations.contains(&op)
    }
}

/// The service part of an operation name or pattern (`Sms` of `Sms.Send` and of `Sms.*`).
fn service_of(pattern: &str) -> Option<&str> {
    pattern.split_once('.').map(|(service, _)| service)
}

/// One operation pattern → the operations of `names` it names; `None` if it names none.
fn expand(pattern: &str, names: &[&'static str]) -> Option<Vec<&'static str>> {
    let found: Vec<&'static str> = if pattern == "*" {
        names.to_vec()
    } else if let Some(service) = pattern.strip_suffix(".*") {
        names
            .iter()
            .copied()
            .filter(|name| service_of(name) == Some(service))
            .collect()
    } else {
        names
            .iter()
            .copied()
            .filter(|name| *name == pattern)
            .collect()
    };
    (!found.is_empty()).then_some(found)
}

/// The operation a rule's `sms` action applies to.
pub const SMS_SEND: &str = "Sms.Send";

/// The operation a rule's `email` action applies to.
pub const EMAIL_SEND: &str = "Email.Send";

thread_local! {
    /// The operation names rules read on this thread may name (see [`with_operations`]).
    static OPERATIONS: RefCell<Option<Vec<&'static str>>> = const { RefCell::new(None) };
}

/// Runs `parse` with `operations` as the operation names rules may match on: rules deserialized
/// meanwhile on this thread expand their patterns against them and refuse a pattern that names
/// none, so that the parser reports the rule with its line. Outside it, reading a rule fails.
pub fn with_operations<T>(operations: &[&'static str], parse: impl FnOnce() -> T) -> T {
    /// Forgets the names when `parse` returns or unwinds.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            OPERATIONS.with(|names| names.borrow_mut().take());
        }
    }
    OPERATIONS.with(|names| *names.borrow_mut() = Some(operations.to_vec()));
    let _reset = Reset;
    parse()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRule {
    name: String,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(rename = "match")]
    matcher: RawMatcher,
    #[serde(default)]
    scenario: Option<String>,
    #[serde(default)]
    when_state: Option<String>,
    #[serde(default)]
    set_state: Option<String>,
    #[serde(default)]
    times: Option<u64>,
    #[serde(default)]
    probability: Option<f64>,
    #[serde(default)]
    priority: i32,
    #[serde(default, deserialize_with = "de_opt_duration")]
    delay: Option<Duration>,
    #[serde(default)]
    respond: Option<Respond>,
    #[serde(default)]
    fault: Option<Fault>,
    #[serde(default)]
    sms: Option<SmsOutcome>,
    #[serde(default)]
    email: Option<EmailOutcome>,
    #[serde(default)]
    phone_numbers: Option<PhoneNumbersOutcome>,
    #[serde(default)]
    expect: Option<Expect>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawMatcher {
    operation: OneOrMany,
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    to: Option<OneOrMany>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    thread_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    body: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}

impl TryFrom<RawRule> for Rule {
    type Error = String;

    fn try_from(raw: RawRule) -> Result<Self, String> {
        let name = raw.name.trim().to_string();
        if name.is_empty() {
            return Err("a rule's name must not be empty".into());
        }
        let at = |msg: String| format!("rule '{name}': {msg}");
        let patterns = raw.matcher.operation.into_vec();
        if patterns.is_empty() {
            return Err(at("match.operation must name at least one operation".into()));
        }
        let names = OPERATIONS.with(|names| names.borrow().clone()).ok_or_else(|| {
            at("no operation names to check the rule against (read rules inside with_operations)".into())
        })?;
        let mut operations = Vec::new();
        for pattern in &patterns {
            let found = expand(pattern, &names).ok_or_else(|| {
                at(format!(
                    "unknown operation '{pattern}' (expected e.g. Sms.Send, Chat.SendMessage, \
                     Identity.IssueAccessToken, Chat.* or *; see /_emulator/operations)"
                ))
            })?;
            for op in found {
                if !operations.contains(&op) {
                    operations.push(op);
                }
            }
        }
        let only = |what: &str, service: &str| -> Result<(), String> {
            if operations.iter().all(|op| service_of(op) == Some(service)) {
                Ok(())
            } else {
                Err(at(format!(
                    "match.{what} applies to {service} operations only"
                )))
            }
        };
        // `to` and `from` are numbers for SMS operations, address patterns for Email ones.
        let messaging = |what: &str| -> Result<&'static str, String> {
            if only(what, "Email").is_ok() {
                Ok("Email")
            } else {
                only(what, "Sms").map(|()| "Sms")
            }
        };
        let to = raw.matcher.to.map(OneOrMany::into_vec).unwrap_or_default();
        for value in &to {
            if messaging("to")? == "Email" {
                if !crate::domain::is_address_pattern(value) {
                    return Err(at(format!(
                        "match.to '{value}' is not an email address or a pattern such as *@example.com"
                    )));
                }
            } else {
                crate::domain::PhoneNumber::parse(value)
                    .map_err(|e| at(format!("match.to '{value}' is not an E.164 number ({e})")))?;
            }
        }
        if let Some(from) = &raw.matcher.from {
            if messaging("from")? == "Email" {
                if !crate::domain::is_address_pattern(from) {
                    return Err(at(format!(
                        "match.from '{from}' is not an email address or a pattern such as *@example.com"
                    )));
                }
            } else {
                crate::domain::PhoneNumber::parse(from)
                    .map_err(|e| at(format!("match.from '{from}' is not an E.164 number ({e})")))?;
            }
        }
        if let Some(thread) = &raw.matcher.thread_id {
            crate::domain::ThreadId::parse(thread)
                .map_err(|e| at(format!("match.threadId: {e}")))?;
            // Chat requests, and the real-time notifications of a thread.
            if !operations
                .iter()
                .all(|op| matches!(service_of(op), Some("Chat" | "Realtime")))
            {
                return Err(at(
                    "match.threadId applies to Chat and Realtime operations only".into(),
                ));
            }
        }
        if let Some(user) = &raw.matcher.user_id {
            crate::domain::CommunicationUserId::parse(user)
                .map_err(|e| at(format!("match.userId: {e}")))?;
        }
        for pointer in raw.matcher.body.keys() {
            if !(pointer.is_empty() || pointer.starts_with('/')) {
                return Err(at(format!(
                    "match.body key '{pointer}' is not a JSON pointer (e.g. /message)"
                )));
            }
        }
        if (raw.when_state.is_some() || raw.set_state.is_some()) && raw.scenario.is_none() {
            return Err(at("whenState and setState need a scenario".into()));
        }
        for (field, value) in [
            ("scenario", &raw.scenario),
            ("whenState", &raw.when_state),
            ("setState", &raw.set_state),
        ] {
            if value.as_ref().is_some_and(|v| v.trim().is_empty()) {
                return Err(at(format!("{field} must not be empty")));
            }
        }
        if raw.times == Some(0) {
            return Err(at("times must be at least 1".into()));
        }
        if let Some(p) = raw.probability
            && !(p > 0.0 && p <= 1.0)
        {
            return Err(at(format!("probability {p} must be in (0, 1]")));
        }
        let kinds = [
            raw.respond.is_some(),
            raw.fault.is_some(),
            raw.sms.is_some(),
            raw.email.is_some(),
            raw.phone_numbers.is_some(),
        ];
        match kinds.iter().filter(|k| **k).count() {
            0 if raw.delay.is_none() && raw.set_state.is_none() => {
                return Err(at(
                    "give an action: respond, fault, sms, email, phoneNumbers, delay (or only setState)"
                        .into(),
                ));
            }
            0 | 1 => {}
            _ => {
                return Err(at(
                    "respond, fault, sms, email and phoneNumbers exclude each other".into(),
                ));
            }
        }
        if let Some(outcome) = &raw.phone_numbers {
            if operations.is_empty()
                || operations
                    .iter()
                    .any(|op| !PHONE_NUMBER_OPERATIONS.contains(op))
            {
                return Err(at(format!(
                    "a phoneNumbers action needs match.operation among {}",
                    PHONE_NUMBER_OPERATIONS.join(", ")
                )));
            }
            if outcome.code.as_ref().is_some_and(|c| c.trim().is_empty())
                || outcome
                    .message
                    .as_ref()
                    .is_some_and(|m| m.trim().is_empty())
            {
                return Err(at("phoneNumbers.code and message must not be empty".into()));
            }
        }
        if let Some(delay) = raw.delay
            && delay > MAX_DELAY
        {
            return Err(at(format!(
                "delay {} is longer than the emulator's limit of {} (a scripted hang holds a worker's request slot)",
                humantime::format_duration(delay),
                humantime::format_duration(MAX_DELAY)
            )));
        }
        if let Some(respond) = &raw.respond
            && !(100..=599).contains(&respond.status)
        {
            return Err(at(format!(
                "respond.status {} is not an HTTP status",
                respond.status
            )));
        }
        if let Some(sms) = &raw.sms {
            if operations != [SMS_SEND] {
                return Err(at("an sms action needs match.operation: Sms.Send".into()));
            }
            if sms.result.is_none() && sms.delivery_report.is_none() {
                return Err(at("sms needs result or deliveryReport".into()));
            }
            if let Some(result) = &sms.result
                && !(400..=599).contains(&result.status)
            {
                return Err(at(format!(
                    "sms.result.status {} must be 400..599 (a failed recipient)",
                    result.status
                )));
            }
            if sms.result.is_some() && sms.delivery_report.is_some() {
                return Err(at(
                    "a recipient whose send fails gets no delivery report: give result or deliveryReport"
                        .into(),
                ));
            }
        }
        if let Some(email) = &raw.email {
            if operations != [EMAIL_SEND] {
                return Err(at(
                    "an email action needs match.operation: Email.Send".into()
                ));
            }
            if email.result.is_none()
                && email.delivery_report.is_none()
                && email.complete_after.is_none()
            {
                return Err(at(
                    "email needs result, completeAfter or deliveryReport".into()
                ));
            }
            if email.result.is_some() && email.delivery_report.is_some() {
                return Err(at(
                    "a failed or canceled send delivers to no one: give result or deliveryReport"
                        .into(),
                ));
            }
            if let Some(result) = &email.result
                && (result.code.as_ref().is_some_and(|c| c.trim().is_empty())
                    || result.message.as_ref().is_some_and(|m| m.trim().is_empty()))
            {
                return Err(at("email.result.code and message must not be empty".into()));
            }
        }
        if let Some(expect) = &raw.expect
            && expect.count.is_none()
            && expect.min.is_none()
            && expect.max.is_none()
        {
            return Err(at("expect needs count, min or max".into()));
        }
        Ok(Rule {
            matcher: Matcher {
                operation: patterns,
                resource: raw.matcher.resource,
                api_version: raw.matcher.api_version,
                to,
                from: raw.matcher.from,
                thread_id: raw.matcher.thread_id,
                user_id: raw.matcher.user_id,
                body: raw.matcher.body,
                operations,
            },
            scenario: raw.scenario,
            when_state: raw.when_state,
            set_state: raw.set_state,
            times: raw.times,
            probability: raw.probability,
            priority: raw.priority,
            action: Action {
                delay: raw.delay,
                respond: raw.respond,
                fault: raw.fault,
                sms: raw.sms,
                email: raw.email,
                phone_numbers: raw.phone_numbers,
            },
            expect: raw.expect,
            name,
        })
    }
}

/// The longest `delay` a rule may script: long enough for any client timeout worth testing,
/// short enough that a forgotten rule cannot hold requests for days (README "Limits").
pub const MAX_DELAY: Duration = Duration::from_secs(600);

/// A duration written as `250ms`, `5s`, `1m` (humantime) or a number of seconds.
pub fn de_opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Secs(f64),
        Text(String),
    }
    let raw = Option::<Raw>::deserialize(d)?;
    match raw {
        None => Ok(None),
        // `try_`: a number of seconds too large for a `Duration` (1e30) is an error, not a panic.
        Some(Raw::Secs(s)) if let Ok(d) = Duration::try_from_secs_f64(s) => Ok(Some(d)),
        Some(Raw::Secs(s)) => Err(serde::de::Error::custom(format!(
            "{s} is not a duration (expected e.g. 250ms, 5s or a number of seconds)"
        ))),
        Some(Raw::Text(t)) => humantime::parse_duration(t.trim()).map(Some).map_err(|e| {
            serde::de::Error::custom(format!(
                "'{t}' is not a duration ({e}; expected e.g. 250ms, 5s)"
            ))
        }),
    }
}

/// Serialises an optional duration the way fixtures write it.
pub mod opt_duration {
    use std::time::Duration;

    /// `250ms`, `5s`.
    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names the tests' rules resolve against (a part of the operation table).
    const NAMES: &[&str] = &[
        "Identity.CreateUser",
        "Chat.CreateThread",
        "Chat.SendMessage",
        "Sms.Send",
        "Sms.AddOptOuts",
    ];

    fn rule(json: serde_json::Value) -> Result<Rule, String> {
        with_operations(NAMES, || serde_json::from_value::<Rule>(json)).map_err(|e| e.to_string())
    }

    #[test]
    fn a_throttling_rule_reads() {
        let r = rule(serde_json::json!({
            "name": "throttle",
            "match": {"operation": "Sms.Send", "to": "+14255550123"},
            "times": 1,
            "delay": "10ms",
            "respond": {"status": 429, "headers": {"Retry-After": "1"}}
        }))
        .expect("valid");
        assert_eq!(r.matcher.operations, ["Sms.Send"]);
        assert_eq!(r.action.delay, Some(Duration::from_millis(10)));
        assert_eq!(r.action.respond.expect("respond").status, 429);
    }

    #[test]
    fn patterns_expand() {
        let r = rule(serde_json::json!({
            "name": "outage", "match": {"operation": ["Chat.*", "Sms.Send"]},
            "respond": {"status": 503}
        }))
        .expect("valid");
        assert!(r.matcher.covers("Chat.SendMessage"));
        assert!(r.matcher.covers("Sms.Send"));
        assert!(!r.matcher.covers("Sms.AddOptOuts"));
        let all = rule(
            serde_json::json!({"name": "a", "match": {"operation": "*"}, "fault": "emptyResponse"}),
        )
        .expect("valid");
        assert_eq!(all.matcher.operations.len(), NAMES.len());
    }

    #[test]
    fn bad_rules_say_why() {
        let cases = [
            (
                serde_json::json!({"name": "x", "match": {"operation": "Sms.Sent"}, "respond": {"status": 429}}),
                "unknown operation 'Sms.Sent'",
            ),
            (
                serde_json::json!({"name": "x", "match": {"operation": "Sms.Send"}}),
                "give an action",
            ),
            (
                serde_json::json!({"name": "x", "match": {"operation": "Sms.Send"}, "respond": {"status": 429}, "fault": "emptyResponse"}),
                "exclude each other",
            ),
            (
                serde_json::json!({"name": "x", "match": {"operation": "Sms.Send"}, "respond": {"status": 99}}),
                "not an HTTP status",
            ),
            (
                serde_json::json!({"name": "x", "match": {"operation": "Sms.Send"}, "whenState": "A", "respond": {"status": 429}}),
                "need a scenario",
            ),
            (
                serde_json::json!({"name": "x", "match": {"operation": "Sms.Send"}, "times": 0, "respond": {"status": 429}}),
                "times must be",
            ),
            (
                serde_json::json!({"name": "x", "match": {"operation": "Sms.Send"}, "probability": 1.5, "respond": {"status": 429}}),
                "probability",
            ),
            (
                serde_json::json!({"name": "x", "match": {"operation": "Chat.SendMessage", "to": "+14255550123"}, "respond": {"status": 429}}),
                "Sms operations only",
            ),
            (
                serde_json::json!({"name": "x", "match": {"operation": "Sms.Send", "to": "12"}, "respond": {"status": 429}}),
                "not an E.164",
            ),
            (
                serde_json::json!({"name": "x", "match": {"operation": "Chat.SendMessage"}, "sms": {"result": {"status": 400}}}),
                "Sms.Send",
            ),
            (
                serde_json::json!({"name": "x", "match": {"operation": "Sms.Send"}, "respond": {"status": 429}, "colour": 1}),
                "unknown field `colour`",
            ),
            (
                serde_json::json!({"name": "x", "match": {"operation": "Sms.Send", "body": {"message": "x"}}, "respond": {"status": 429}}),
                "JSON pointer",
            ),
            (
                serde_json::json!({"name": "x", "match": {"operation": "Sms.Send"}, "delay": "soon"}),
                "not a duration",
            ),
            (
                serde_json::json!({"name": "x", "match": {"operation": "Sms.Send"}, "delay": 1e30}),
                "not a duration",
            ),
            (
                serde_json::json!({"name": "x", "match": {"operation": "Sms.Send"}, "delay": -1}),
                "not a duration",
            ),
            (
                serde_json::json!({"name": "x", "match": {"operation": "Sms.Send"}, "delay": "1000000y"}),
                "longer than the emulator's limit of 10m",
            ),
            (
                serde_json::json!({"name": "x", "match": {"operation": "Sms.Send"},
                                   "sms": {"deliveryReport": {"status": "Delivered", "after": 1e300}}}),
                "not a duration",
            ),
        ];
        for (json, expected) in cases {
            let err = rule(json.clone()).expect_err(&json.to_string());
            assert!(err.contains(expected), "{err} should contain {expected}");
        }
    }

    #[test]
    fn expectations() {
        let e = Expect {
            count: Some(2),
            min: None,
            max: None,
        };
        assert!(e.met_by(2) && !e.met_by(1) && !e.met_by(3));
        let e = Expect {
            count: None,
            min: Some(1),
            max: Some(3),
        };
        assert!(e.met_by(1) && e.met_by(3) && !e.met_by(0) && !e.met_by(4));
    }
}
