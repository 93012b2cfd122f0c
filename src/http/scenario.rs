//! Scripted scenarios on requests.
//!
//! - [`JournalEntry`] is used by [`super::edge()`], which wraps the whole app: it notes each
//!   request outside `/_emulator/` and, once the response is built, records it in the journal
//!   with the operation it matched and what auth and the rules made of it.
//! - [`apply`] runs in the operation layer ([`super::operation`]) after authentication (so the
//!   resource and caller are known), for data-plane operations: it asks the engine for a rule and
//!   carries the rule's action out — a scripted response, a delay, a transport fault, or
//!   per-recipient SMS or Email outcomes handed to the handler.

use std::time::Instant;

use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use serde_json::Value;

use super::operation::Matched;
use super::{BufferedBody, Res, faults};
use crate::auth::Caller;
use crate::auth::user_token::UserToken;
use crate::domain::{PhoneNumber, ThreadId};
use crate::error::ApiError;
use crate::scenario::journal::{Bodies, Record};
use crate::scenario::rules::{EmailOverride, EmailOverrides, PhoneNumberFailure};
use crate::scenario::{EMAIL_SEND, Facts, SMS_SEND};
use crate::state::AppState;

/// The rule that applied to a request (request extensions; the journal reads it).
#[derive(Debug, Clone)]
pub struct AppliedRule(pub String);

/// A scripted transport fault happened (the client got no status).
#[derive(Debug, Clone, Copy)]
struct FaultInjected;

/// `Sms.Send` outcomes rules scripted, for the handler (request extensions; as an extractor,
/// none when no rule scripted any).
#[derive(Debug, Clone, Default)]
pub struct SmsOverrides(pub Vec<SmsOverride>);

impl actix_web::FromRequest for SmsOverrides {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(Ok(req
            .extensions()
            .get::<SmsOverrides>()
            .cloned()
            .unwrap_or_default()))
    }
}

impl SmsOverrides {
    /// The first scripted outcome that covers `to`, with its rule.
    pub fn for_recipient(
        &self,
        to: &PhoneNumber,
    ) -> Option<(&str, &crate::scenario::rules::SmsOutcome)> {
        self.0.iter().find_map(|o| {
            o.for_recipient(to)
                .map(|outcome| (o.rule.as_str(), outcome))
        })
    }
}

/// One rule's `Sms.Send` outcome.
#[derive(Debug, Clone)]
pub struct SmsOverride {
    /// The recipients it applies to (E.164; `None`: all).
    pub recipients: Option<Vec<String>>,
    /// What happens to them.
    pub outcome: crate::scenario::rules::SmsOutcome,
    /// The rule, for logs.
    pub rule: String,
}

impl SmsOverride {
    /// The outcome for `to`, if the rule covers it.
    pub fn for_recipient(&self, to: &PhoneNumber) -> Option<&crate::scenario::rules::SmsOutcome> {
        match &self.recipients {
            None => Some(&self.outcome),
            Some(list) => list
                .iter()
                .any(|r| r == to.as_str())
                .then_some(&self.outcome),
        }
    }
}

/// A request on its way to the journal: what is known before it is handled (see
/// [`super::edge()`], which journals every request outside `/_emulator/`). The method and target
/// are read from the request again when it is recorded.
pub struct JournalEntry {
    started: Instant,
    time: chrono::DateTime<chrono::Utc>,
}

impl JournalEntry {
    /// Starts an entry for `req`, unless the journal is off or the request is a control call.
    pub fn begin(state: &AppState, req: &ServiceRequest) -> Option<Self> {
        if !state.journal.enabled() || req.path().starts_with("/_emulator") {
            return None;
        }
        Some(Self {
            started: Instant::now(),
            time: state.clock.now(),
        })
    }

    /// Records the entry with what auth, the rules and the handler made of the request.
    ///
    /// `response_body`: `Some` while the journal is watched ([`crate::scenario::Journal::watched`]):
    /// the response's bytes, or `None` inside when it was streamed. The request's buffered body
    /// is then kept too, except for the Entra ID authority's token requests (credentials).
    pub fn finish<B>(
        self,
        state: &AppState,
        res: &ServiceResponse<B>,
        response_body: Option<Option<actix_web::web::Bytes>>,
    ) {
        let request = res.request();
        let target = crate::scenario::journal::target(request.uri());
        let ext = request.extensions();
        let operation = match ext.get::<Matched>() {
            Some(matched) => matched.data_plane_name(),
            None => Matched::resolve(request).and_then(|m| m.data_plane_name()),
        };
        let auth = match (ext.get::<Caller>(), ext.get::<UserToken>()) {
            (Some(Caller::AccessKey(_)), _) => "accessKey",
            (Some(Caller::Entra(_)), _) => "entraId",
            (None, Some(_)) => "userToken",
            (None, None) if matches!(res.status().as_u16(), 401 | 403) => "denied",
            (None, None) => "none",
        };
        let bodies = response_body.map(|response| {
            let path = request.path();
            Box::new(if path.contains("/oauth2/") || path.starts_with("/msi/") {
                Bodies::withheld()
            } else {
                let body = ext.get::<BufferedBody>().map(|b| b.0.clone());
                Bodies::capture(body.as_deref().unwrap_or_default(), response.as_deref())
            })
        });
        state.journal.record(Record {
            time: self.time,
            method: request.method(),
            target,
            operation,
            resource: ext.get::<Res>().map(|r| r.name.as_str()),
            auth,
            rule: ext.get::<AppliedRule>().map(|r| r.0.clone()),
            status: if ext.get::<FaultInjected>().is_some() {
                0
            } else {
                res.status().as_u16()
            },
            duration_ms: self.started.elapsed().as_secs_f64() * 1000.0,
            bodies,
        });
    }
}

/// Applies the scenario rules to a request for the data-plane operation `op` (see the module
/// docs): the response a rule scripts (an answer or a transport fault), or `None` for the
/// handler to answer, maybe after a delay and with SMS outcomes in the request extensions.
pub async fn apply(
    state: &AppState,
    op: &'static str,
    req: &mut ServiceRequest,
) -> Option<HttpResponse> {
    if state.engine.is_empty() || !state.engine.covers(op) {
        return None;
    }
    // The body was buffered by the edge (a copy is in the extensions); read it for the facts.
    let body = req
        .extensions()
        .get::<BufferedBody>()
        .map(|b| b.0.clone())
        .unwrap_or_default();
    let json: Option<Value> = if body.is_empty() {
        None
    } else {
        serde_json::from_slice(&body).ok()
    };
    let resource = req
        .extensions()
        .get::<Res>()
        .map(|r| r.name.clone())
        .unwrap_or_else(|| crate::resource::DEFAULT_RESOURCE.to_string());
    let api_version = query_param(req.uri().query(), "api-version");
    // The path ids rules match on, as the route matched them.
    let thread = req
        .match_info()
        .get("thread_id")
        .and_then(|t| ThreadId::parse(t).ok());
    let user = req
        .extensions()
        .get::<UserToken>()
        .map(|t| t.user.to_string())
        .or_else(|| {
            req.match_info().get("user_id").map(|raw| {
                percent_encoding::percent_decode_str(raw)
                    .decode_utf8_lossy()
                    .into_owned()
            })
        });
    let (recipients, sender) = match &json {
        Some(json) if op == SMS_SEND => (
            json.get("smsRecipients")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter_map(|r| r.get("to").and_then(Value::as_str))
                        .filter_map(|to| PhoneNumber::parse(to).ok())
                        .map(|to| to.as_str().to_string())
                        .collect()
                })
                .unwrap_or_default(),
            json.get("from")
                .and_then(Value::as_str)
                .and_then(|f| PhoneNumber::parse(f).ok())
                .map(|f| f.as_str().to_string()),
        ),
        Some(json) if op == EMAIL_SEND => (
            email_recipients(json),
            json.get("senderAddress")
                .and_then(Value::as_str)
                .map(crate::domain::address_key),
        ),
        _ => (Vec::new(), None),
    };
    let facts = Facts {
        resource: &resource,
        api_version: api_version.as_deref(),
        thread,
        user,
        body: json.as_ref(),
        recipients,
        sender,
    };
    let applied = state.engine.decide(op, &facts);
    let first = applied.first()?;
    let rule = first.rule.clone();
    let names: Vec<&str> = applied.iter().map(|a| a.rule.name.as_str()).collect();
    tracing::info!(rules = %names.join(","), operation = %op, resource = %resource, "scenario rule applied");
    req.extensions_mut().insert(AppliedRule(names.join(",")));
    for a in &applied {
        if let Some(delay) = a.rule.action.delay {
            tokio::time::sleep(delay).await;
        }
    }
    if let Some(respond) = &rule.action.respond {
        return Some(ApiError::scripted(&rule.name, respond).error_response());
    }
    if let Some(fault) = rule.action.fault {
        req.extensions_mut().insert(FaultInjected);
        let res = faults::respond(req.request(), fault);
        tracing::info!(rule = %rule.name, fault = ?fault, "connection broken by a scenario rule");
        return Some(res);
    }
    let overrides: Vec<SmsOverride> = applied
        .iter()
        .filter_map(|a| {
            a.rule.action.sms.as_ref().map(|outcome| SmsOverride {
                recipients: a.recipients.clone(),
                outcome: outcome.clone(),
                rule: a.rule.name.clone(),
            })
        })
        .collect();
    if !overrides.is_empty() {
        req.extensions_mut().insert(SmsOverrides(overrides));
    }
    let email: Vec<EmailOverride> = applied
        .iter()
        .filter_map(|a| {
            a.rule.action.email.as_ref().map(|outcome| EmailOverride {
                recipients: a.recipients.clone(),
                outcome: outcome.clone(),
                rule: a.rule.name.clone(),
            })
        })
        .collect();
    if !email.is_empty() {
        req.extensions_mut().insert(EmailOverrides(email));
    }
    if let Some(outcome) = applied
        .iter()
        .find_map(|a| a.rule.action.phone_numbers.clone())
    {
        req.extensions_mut()
            .insert(PhoneNumberFailure(Some(outcome)));
    }
    None
}

/// An email send's recipients (`to`, `cc`, `bcc`), lower-cased, each once, as rules compare
/// them.
fn email_recipients(json: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for list in ["to", "cc", "bcc"] {
        let addresses = json
            .pointer(&format!("/recipients/{list}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r.get("address").and_then(Value::as_str))
            .map(crate::domain::address_key);
        for address in addresses {
            if !out.contains(&address) {
                out.push(address);
            }
        }
    }
    out
}

// The `Email.Send` outcomes rules scripted (none when no rule scripted any).
impl actix_web::FromRequest for EmailOverrides {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(Ok(req
            .extensions()
            .get::<EmailOverrides>()
            .cloned()
            .unwrap_or_default()))
    }
}

// The failure a rule scripted for a phone-number operation (none when no rule did).
impl actix_web::FromRequest for PhoneNumberFailure {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(Ok(req
            .extensions()
            .get::<PhoneNumberFailure>()
            .cloned()
            .unwrap_or_default()))
    }
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.into_owned())
}
