//! `GET /_emulator/state`: a snapshot of the emulator's data as a fixture file (YAML by
//! default, or JSON) that `--fixtures` loads back into the same state. What it contains and
//! leaves out: [`crate::fixtures::snapshot`] and `docs/persistence.md` ("Snapshots").

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::domain::CommunicationUserId;
use crate::error::ApiError;
use crate::fixtures;
use crate::state::AppState;

/// The `?format=` of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Yaml,
    Json,
}

/// `GET /_emulator/state[?resource=NAME][&format=yaml|json]`: every resource's data (or one
/// resource's) as a fixture, with `Content-Disposition: attachment; filename=…`.
pub async fn get_state(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let only = super::resource_param(&state, &req)?.map(|r| r.name.clone());
    let format = match query_param(&req, "format").as_deref() {
        None | Some("yaml") => Format::Yaml,
        Some("json") => Format::Json,
        Some(other) => {
            return Err(ApiError::BadRequest {
                code: "InvalidFormat",
                message: format!("format '{other}' is not yaml or json."),
            });
        }
    };
    let now = state.clock.now();
    let names: HashMap<CommunicationUserId, String> = {
        let loaded = state.fixtures.lock().unwrap_or_else(|p| p.into_inner());
        loaded
            .iter()
            .flat_map(|f| f.identities())
            .filter_map(|(_, id, name)| Some((id.clone(), name?.to_string())))
            .collect()
    };
    // Reading every store and writing the text grows with the state: off the async workers.
    let text = web::block(move || {
        let fixture = fixtures::snapshot(&state.resources, &names, only.as_deref(), now);
        match format {
            Format::Yaml => serde_yaml_ng::to_string(&fixture)
                .map(|t| format!("# {SCHEMA_NOTE}\n{t}"))
                .map_err(|e| e.to_string()),
            Format::Json => serde_json::to_string_pretty(&fixture).map_err(|e| e.to_string()),
        }
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("snapshot task failed: {e}")))?
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("snapshot not serialized: {e}")))?;
    let (content_type, extension) = match format {
        Format::Yaml => ("application/yaml", "yaml"),
        Format::Json => ("application/json", "json"),
    };
    let stamp = now.format("%Y%m%dT%H%M%SZ");
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"acs-emulator-state-{stamp}.{extension}\""),
        ))
        .body(text))
}

/// The YAML output's first line: what the file is and which schema it follows.
const SCHEMA_NOTE: &str =
    "acs-emulator state snapshot; load it with --fixtures (schema: schemas/fixtures.schema.json)";

/// The first value of query parameter `name`.
fn query_param(req: &HttpRequest, name: &str) -> Option<String> {
    let query = req.uri().query().unwrap_or("");
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
