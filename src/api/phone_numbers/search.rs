//! `POST /availablePhoneNumbers/countries/{cc}/:search` (long-running; the result at
//! `/availablePhoneNumbers/searchResults/{searchId}`) and `POST /availablePhoneNumbers/:purchase`
//! (long-running).
//!
//! A search holds the numbers it finds until it expires (16 minutes after it completes) or is
//! purchased; one that cannot find as many numbers as asked fails with `OutOfStock`. A purchase
//! makes the numbers owned when its operation completes.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::catalogue::{capabilities, parse_type};
use super::wire::{PurchaseIn, SearchIn, SearchResultDto, time};
use super::{accepted, country_of_path, plan};
use crate::error::ApiError;
use crate::http::extract::decoded_segment;
use crate::http::{AcsJson, ApiVersion, Res, json_response};
use crate::scenario::PhoneNumberFailure;
use crate::state::AppState;
use crate::store::Sink;
use crate::store::numbers::{Assignment, MAX_QUANTITY, NumbersError, SearchRequest};

fn invalid(message: String, target: &'static str) -> ApiError {
    NumbersError::Invalid { message, target }.into()
}

/// `POST /availablePhoneNumbers/countries/{countryCode}/:search`.
pub async fn search(
    req: HttpRequest,
    res: Res,
    state: web::Data<AppState>,
    ApiVersion(version): ApiVersion,
    AcsJson(body): AcsJson<SearchIn>,
    scripted: PhoneNumberFailure,
) -> Result<HttpResponse, ApiError> {
    let country = country_of_path(&req)?;
    let number_type = parse_type(
        body.phone_number_type.as_deref(),
        version,
        "phoneNumberType",
    )?
    .ok_or_else(|| {
        invalid(
            "The phoneNumberType field is required.".into(),
            "phoneNumberType",
        )
    })?;
    let assignment = body
        .assignment_type
        .as_deref()
        .map(|raw| {
            Assignment::parse(raw.trim()).ok_or_else(|| {
                invalid(
                    format!("The assignment type '{raw}' is not valid."),
                    "assignmentType",
                )
            })
        })
        .transpose()?
        .ok_or_else(|| {
            invalid(
                "The assignmentType field is required.".into(),
                "assignmentType",
            )
        })?;
    let caps = capabilities(body.capabilities.as_ref(), true)?;
    let quantity = body.quantity.unwrap_or(1);
    let quantity = usize::try_from(quantity)
        .ok()
        .filter(|q| (1..=MAX_QUANTITY).contains(q))
        .ok_or_else(|| {
            invalid(
                format!("The quantity must be between 1 and {MAX_QUANTITY}."),
                "quantity",
            )
        })?;
    let area_code = body
        .area_code
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty());
    if let Some(a) = &area_code
        && (a.len() > 10 || !a.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(invalid(
            format!("The area code '{a}' is not valid."),
            "areaCode",
        ));
    }
    let request = SearchRequest {
        country: country.code.to_string(),
        number_type,
        assignment,
        capabilities: caps,
        area_code,
        quantity,
    };
    let search_id = res.store.ids.uuid().to_string();
    let location =
        format!("/availablePhoneNumbers/searchResults/{search_id}?api-version={version}");
    let lro = res.store.numbers.search(
        &search_id,
        request,
        plan(
            &state,
            scripted.error(
                "OutOfStock",
                "No phone numbers are available for this search.",
            ),
        ),
        location.clone(),
        Sink::NONE,
    );
    accepted(
        &lro.id,
        ("search-id", &search_id),
        Some(&location),
        version,
        None,
    )
}

/// `GET /availablePhoneNumbers/searchResults/{searchId}`.
pub async fn search_result(
    req: HttpRequest,
    res: Res,
    state: web::Data<AppState>,
    _: ApiVersion,
) -> Result<HttpResponse, ApiError> {
    let id = decoded_segment(&req, "search_id");
    let result = res.store.numbers.search_result(&id, state.clock.now())?;
    let body = SearchResultDto {
        search_id: result.id,
        phone_numbers: result.numbers.iter().map(ToString::to_string).collect(),
        phone_number_type: result.request.number_type.as_str(),
        assignment_type: result.request.assignment.as_str(),
        capabilities: result.request.capabilities.into(),
        cost: result.cost.into(),
        search_expires_by: time(result.expires_by),
        is_agreement_to_not_resell_required: false,
        error_code: 0,
        error: "NoError",
    };
    json_response(StatusCode::OK, &body)
}

/// `POST /availablePhoneNumbers/:purchase`.
pub async fn purchase(
    res: Res,
    state: web::Data<AppState>,
    ApiVersion(version): ApiVersion,
    AcsJson(body): AcsJson<PurchaseIn>,
    scripted: PhoneNumberFailure,
) -> Result<HttpResponse, ApiError> {
    let search_id = body
        .search_id
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| invalid("The searchId field is required.".into(), "searchId"))?;
    let lro = res.store.numbers.purchase(
        &search_id,
        plan(&state, scripted.error("PurchaseFailed", "Purchase failed.")),
        state.changes.sink(&res.name),
    )?;
    accepted(&lro.id, ("purchase-id", &search_id), None, version, None)
}
