//! Owned numbers: `GET /phoneNumbers` (paged with `skip` and `top`), `GET /phoneNumbers/{n}`,
//! `PATCH /phoneNumbers/{n}/capabilities` and `DELETE /phoneNumbers/{n}` (both long-running).
//!
//! Numbers arrive in the path as `%2B1…` (the SDKs encode `+`) or with a literal `+`; an
//! unparsable number is 400 `InvalidInput`, a number the resource does not own 404 `NotFound`
//! "Input phoneNumber … cannot be found." (the recorded answer).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::wire::{CapabilitiesUpdateIn, PurchasedDto, page};
use super::{accepted, paged, paging, plan};
use crate::domain::PhoneNumber;
use crate::error::ApiError;
use crate::http::extract::decoded_segment;
use crate::http::{AcsJsonOrDefault, ApiVersion, Res, json_response};
use crate::scenario::PhoneNumberFailure;
use crate::state::AppState;
use crate::store::numbers::{Capability, NumbersError};

/// The number in the path.
pub fn number_of_path(req: &HttpRequest) -> Result<PhoneNumber, ApiError> {
    let raw = decoded_segment(req, "phone_number");
    let trimmed = raw.trim();
    // A `+` that a form decoder turned into a space comes back.
    let candidate = if trimmed.starts_with('+') {
        trimmed.to_string()
    } else {
        format!("+{trimmed}")
    };
    PhoneNumber::parse(&candidate).map_err(|_| {
        NumbersError::Invalid {
            message: format!("Invalid telephone number '{raw}'."),
            target: "phonenumber",
        }
        .into()
    })
}

/// `GET /phoneNumbers`.
pub async fn list(
    req: HttpRequest,
    res: Res,
    state: web::Data<AppState>,
    _: ApiVersion,
) -> Result<HttpResponse, ApiError> {
    let (skip, size) = paging(&req, "top")?;
    let all: Vec<PurchasedDto> = res
        .store
        .numbers
        .owned(state.clock.now())
        .iter()
        .map(|(n, caps)| PurchasedDto::new(n, *caps))
        .collect();
    let (items, next) = paged(&req, all, skip, size);
    json_response(StatusCode::OK, &page("phoneNumbers", items, next))
}

/// `GET /phoneNumbers/{phoneNumber}`.
pub async fn get(
    req: HttpRequest,
    res: Res,
    state: web::Data<AppState>,
    _: ApiVersion,
) -> Result<HttpResponse, ApiError> {
    let number = number_of_path(&req)?;
    let (owned, caps) = res.store.numbers.owned_number(&number, state.clock.now())?;
    json_response(StatusCode::OK, &PurchasedDto::new(&owned, caps))
}

/// `DELETE /phoneNumbers/{phoneNumber}`: releases it when the operation completes.
pub async fn release(
    req: HttpRequest,
    res: Res,
    state: web::Data<AppState>,
    ApiVersion(version): ApiVersion,
    scripted: PhoneNumberFailure,
) -> Result<HttpResponse, ApiError> {
    let number = number_of_path(&req)?;
    let release_id = res.store.ids.uuid().to_string();
    let lro = res.store.numbers.release(
        &number,
        format!("release_{release_id}"),
        plan(&state, scripted.error("ReleaseFailed", "Release failed.")),
        state.changes.sink(&res.name),
    )?;
    accepted(&lro.id, ("release-id", &release_id), None, version, None)
}

/// `PATCH /phoneNumbers/{phoneNumber}/capabilities` (merge-patch: `calling` and `sms`, each
/// optional, at least one).
pub async fn update_capabilities(
    req: HttpRequest,
    res: Res,
    state: web::Data<AppState>,
    ApiVersion(version): ApiVersion,
    AcsJsonOrDefault(body): AcsJsonOrDefault<CapabilitiesUpdateIn>,
    scripted: PhoneNumberFailure,
) -> Result<HttpResponse, ApiError> {
    let number = number_of_path(&req)?;
    let field = |raw: Option<&String>, name: &str| -> Result<Option<Capability>, ApiError> {
        raw.map(|raw| {
            Capability::parse(raw.trim()).ok_or_else(|| {
                NumbersError::Invalid {
                    message: format!("The {name} capability '{raw}' is not valid."),
                    target: "capabilities",
                }
                .into()
            })
        })
        .transpose()
    };
    let calling = field(body.calling.as_ref(), "calling")?;
    let sms = field(body.sms.as_ref(), "sms")?;
    if calling.is_none() && sms.is_none() {
        return Err(NumbersError::Invalid {
            message: "Give calling or sms capabilities to update.".into(),
            target: "capabilities",
        }
        .into());
    }
    let update_id = res.store.ids.uuid().to_string();
    let location = format!(
        "/phoneNumbers/%2B{}?api-version={version}",
        &number.as_str()[1..]
    );
    let lro = res.store.numbers.update_capabilities(
        &number,
        calling,
        sms,
        format!("capabilities_{update_id}"),
        plan(
            &state,
            scripted.error("UpdateCapabilitiesFailed", "Capabilities update failed."),
        ),
        location.clone(),
        state.changes.sink(&res.name),
    )?;
    accepted(
        &lro.id,
        ("capabilities-id", &update_id),
        Some(&location),
        version,
        Some(json!({"capabilitiesUpdateId": update_id})),
    )
}
