//! The control API of scripted scenarios, fixtures and the request journal (no authentication).
//!
//! - `GET  /_emulator/scenarios`: every scenario's state and every rule with its counter.
//! - `PUT  /_emulator/scenarios/{name}` `{"state": "…"}`: put a scenario in a state.
//! - `POST /_emulator/scenarios/{name}/reset`: back to `Started`, its rules' counters to 0.
//! - `DELETE /_emulator/rules/{name}`: remove a rule.
//! - `GET  /_emulator/verify[?rule=A,B&scenario=S]`: rules whose `expect` is not met (`ok` is
//!   false if any), of all rules or only of those named.
//! - `GET  /_emulator/journal?operation=&resource=&status=&rule=&after=&limit=`: journaled
//!   requests, oldest first; `GET /_emulator/journal/count?…` counts them; `DELETE` clears.
//! - `GET|POST /_emulator/fixtures`: what is loaded; load a fixture (JSON or YAML body) at
//!   runtime, all or nothing, with the same checks as `--fixtures`.
//! - `GET  /_emulator/resources`: the resources and their connection strings.
//! - `GET  /_emulator/operations`: the operation names rules can match.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::query::invalid;
use crate::error::ApiError;
use crate::fixtures;
use crate::http::{AcsJson, BufferedBody, json_response};
use crate::scenario::journal::Filter;
use crate::state::AppState;
use crate::store::{Area, Change, ControlChange};

/// Most journal entries one listing returns.
const MAX_LIMIT: usize = 10_000;

/// `GET /_emulator/scenarios`.
pub async fn list_scenarios(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    json_response(
        StatusCode::OK,
        &serde_json::json!({
            "scenarios": state.engine.scenarios(),
            "rules": state.engine.rules(),
        }),
    )
}

/// The body of `PUT /_emulator/scenarios/{name}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetState {
    /// The state to move the scenario to.
    state: String,
}

/// `PUT /_emulator/scenarios/{name}`.
pub async fn set_scenario_state(
    req: HttpRequest,
    state: web::Data<AppState>,
    AcsJson(wanted): AcsJson<SetState>,
) -> Result<HttpResponse, ApiError> {
    let name = req.match_info().get("name").unwrap_or_default().to_string();
    if wanted.state.trim().is_empty() {
        return Err(ApiError::validation("state must not be empty.", "state"));
    }
    if !state.engine.set_state(&name, wanted.state.trim()) {
        return Err(unknown_scenario(&name));
    }
    tracing::info!(scenario = %name, state = %wanted.state, "scenario state set");
    json_response(
        StatusCode::OK,
        &serde_json::json!({"name": name, "state": wanted.state.trim()}),
    )
}

/// `POST /_emulator/scenarios/{name}/reset`.
pub async fn reset_scenario(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let name = req.match_info().get("name").unwrap_or_default().to_string();
    if !state.engine.reset_scenario(&name) {
        return Err(unknown_scenario(&name));
    }
    json_response(
        StatusCode::OK,
        &serde_json::json!({"name": name, "state": crate::scenario::rules::STARTED}),
    )
}

fn unknown_scenario(name: &str) -> ApiError {
    ApiError::NotFound(format!("No rule belongs to a scenario named '{name}'."))
}

/// `DELETE /_emulator/rules/{name}`.
pub async fn delete_rule(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let name = req.match_info().get("name").unwrap_or_default();
    if !state.engine.remove(name) {
        return Err(ApiError::NotFound(format!(
            "There is no rule named '{name}'."
        )));
    }
    // A reset must not bring it back.
    for loaded in state
        .fixtures
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter_mut()
    {
        loaded.forget_rule(name);
    }
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /_emulator/verify[?rule=A,B][&scenario=S]`: every rule's `expect`, or only those of the
/// rules named (comma-separated or repeated) and of the scenarios named, so that a test checks
/// only what it set out to trigger. An unknown name is 404, so a typo cannot pass silently.
pub async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut rules: Vec<String> = Vec::new();
    let mut scenarios: Vec<String> = Vec::new();
    for (name, value) in form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()) {
        let list = match name.as_ref() {
            "rule" => &mut rules,
            "scenario" => &mut scenarios,
            other => {
                return Err(invalid(other, &value, "no such parameter (rule, scenario)"));
            }
        };
        list.extend(
            value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string),
        );
    }
    let views = state.engine.rules();
    for rule in &rules {
        if !views.iter().any(|v| &v.name == rule) {
            return Err(ApiError::NotFound(format!(
                "There is no rule named '{rule}'."
            )));
        }
    }
    let known = state.engine.scenarios();
    for scenario in &scenarios {
        if !known.contains_key(scenario) {
            return Err(ApiError::NotFound(format!(
                "There is no scenario named '{scenario}'."
            )));
        }
    }
    let chosen = |rule: &str| {
        (rules.is_empty() && scenarios.is_empty())
            || rules.iter().any(|r| r == rule)
            || views.iter().any(|v| {
                v.name == rule && v.scenario.as_ref().is_some_and(|s| scenarios.contains(s))
            })
    };
    let unmet: Vec<_> = state
        .engine
        .unmet()
        .into_iter()
        .filter(|u| chosen(&u.rule))
        .collect();
    json_response(
        StatusCode::OK,
        &serde_json::json!({"ok": unmet.is_empty(), "unmet": unmet}),
    )
}

/// `GET /_emulator/journal`.
pub async fn list_journal(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (filter, limit) = journal_query(req.uri().query().unwrap_or(""))?;
    json_response(
        StatusCode::OK,
        &serde_json::json!({
            "value": state.journal.list(&filter, limit),
            "dropped": state.journal.dropped(),
        }),
    )
}

/// `GET /_emulator/journal/count`.
pub async fn count_journal(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (filter, _) = journal_query(req.uri().query().unwrap_or(""))?;
    json_response(
        StatusCode::OK,
        &serde_json::json!({"count": state.journal.count(&filter)}),
    )
}

/// `DELETE /_emulator/journal`.
pub async fn clear_journal(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.journal.clear();
    json_response(StatusCode::OK, &serde_json::json!({"cleared": true}))
}

fn journal_query(query: &str) -> Result<(Filter, usize), ApiError> {
    let mut filter = Filter::default();
    let mut limit = 1000;
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        let value = value.trim();
        match name.as_ref() {
            "operation" => {
                if !crate::api::rule_operations().contains(&value)
                    && value != crate::api::email::SMTP_SEND
                {
                    return Err(invalid(&name, value, "an operation name such as Sms.Send"));
                }
                filter.operation = Some(value.to_string());
            }
            "resource" => filter.resource = Some(value.to_string()),
            "rule" => filter.rule = Some(value.to_string()),
            "status" => {
                filter.status = Some(
                    value
                        .parse()
                        .map_err(|_| invalid(&name, value, "an HTTP status code"))?,
                )
            }
            "after" => {
                filter.after = Some(
                    value
                        .parse()
                        .map_err(|_| invalid(&name, value, "a journal sequence number"))?,
                )
            }
            "limit" => {
                limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|l| (1..=MAX_LIMIT).contains(l))
                    .ok_or_else(|| invalid(&name, value, "a number from 1 to 10000"))?
            }
            other => {
                return Err(invalid(
                    other,
                    value,
                    "no such parameter (operation, resource, status, rule, after, limit)",
                ));
            }
        }
    }
    Ok((filter, limit))
}

/// `GET /_emulator/fixtures`: what each loaded fixture declared.
pub async fn list_fixtures(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let loaded = state.fixtures.lock().unwrap_or_else(|p| p.into_inner());
    let value: Vec<serde_json::Value> = loaded.iter().map(fixtures::Loaded::summary).collect();
    json_response(StatusCode::OK, &serde_json::json!({ "value": value }))
}

/// `POST /_emulator/fixtures`: load a fixture at runtime. A YAML body needs a YAML content type
/// (`application/yaml`, `text/yaml`) or `?format=yaml`; anything else is read as JSON.
pub async fn load_fixture(
    req: HttpRequest,
    state: web::Data<AppState>,
    BufferedBody(body): BufferedBody,
) -> Result<HttpResponse, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let yaml = content_type.contains("yaml")
        || req.uri().query().is_some_and(|q| q.contains("format=yaml"));
    // Parsing and checking are CPU work that grows with the fixture: off the async workers, so
    // that a large or hostile fixture cannot stall other requests (health checks included).
    let summary = web::block(move || load_blocking(&state, &body, yaml))
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("fixture load task failed: {e}")))??;
    json_response(StatusCode::CREATED, &summary)
}

/// Parses, checks and applies a fixture (all or nothing).
fn load_blocking(state: &AppState, body: &[u8], yaml: bool) -> Result<serde_json::Value, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::invalid_fixture("the request body is not UTF-8".into()))?;
    let source = "request body";
    let fixture = fixtures::parse(source, text, !yaml, &crate::api::rule_operations())?;
    // One load at a time: the checks and the change happen under the same lock.
    let mut all = state.fixtures.lock().unwrap_or_else(|p| p.into_inner());
    let loaded = fixtures::check(
        source,
        text,
        fixture,
        &state.resources,
        &state.engine,
        &state.events,
    )?;
    fixtures::apply(
        &loaded,
        &state.resources,
        &state.engine,
        &state.events,
        &state.token_secret,
        state.settings.config.scenarios.seed,
        state.clock.now(),
    )
    .map_err(ApiError::invalid_fixture)?;
    let summary = loaded.summary();
    tracing::info!(summary = %summary, "fixture loaded at runtime");
    state.changes.sink("default").publish(Area::Control, || {
        Change::Control(ControlChange::FixtureLoaded {
            text: text.into(),
            yaml,
        })
    });
    all.push(loaded);
    Ok(summary)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResourceView {
    name: String,
    resource_id: String,
    location: String,
    hosts: Vec<String>,
    phone_numbers: Vec<String>,
    connection_string: String,
    entra_clients: Option<Vec<String>>,
    /// The Azure-managed domain first, then the custom ones.
    email_domains: Vec<String>,
    identities: usize,
    threads: usize,
}

/// `GET /_emulator/resources`: each resource, with a connection string for the host the caller
/// used (requests reach a resource by the key that signs them, whatever the host).
pub async fn list_resources(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let https = state.https_addr.port();
    let (_, host) = crate::http::origin(&req);
    let host = crate::resource::host_name(&host);
    let value: Vec<ResourceView> = state
        .resources
        .all()
        .iter()
        .map(|r| ResourceView {
            name: r.name.clone(),
            resource_id: r.resource_id.to_string(),
            location: r.location.clone(),
            hosts: r.hosts.clone(),
            phone_numbers: r.phone_numbers.iter().map(|n| n.to_string()).collect(),
            connection_string: format!(
                "endpoint=https://{host}:{https}/;accesskey={}",
                r.access_key_b64
            ),
            entra_clients: r.entra_clients.clone(),
            email_domains: r.email_domains(),
            identities: r.store.identities.len(),
            threads: r.store.chat.len(),
        })
        .collect();
    json_response(StatusCode::OK, &serde_json::json!({ "value": value }))
}

/// `GET /_emulator/operations`: the name of every data-plane operation (what scenario rules and
/// journal filters name), in table order, then the real-time notifications rules may name. The control API's and the Entra ID authority's
/// operations are in the table too, but rules cannot name them: they are not listed.
pub async fn list_operations() -> Result<HttpResponse, ApiError> {
    let value = crate::api::rule_operations();
    json_response(StatusCode::OK, &serde_json::json!({ "value": value }))
}
