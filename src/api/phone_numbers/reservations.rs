//! Reservations (2025-04-01+): `GET /availablePhoneNumbers/reservations`, `PATCH` (create or
//! update; merge-patch of `phoneNumbers`, `null` removes), `GET` and `DELETE` of one, and
//! `POST …/{id}/:purchase` (long-running).
//!
//! The id is a UUID the client chooses. A PATCH answers 201 when it created the reservation,
//! 200 when it updated it, 207 when some numbers could not be added (those come back with
//! `status: "error"` and `FailedToReserveNumber`). Every change moves `expiresAt` to 15 minutes
//! later, at most 2 hours after creation; only active reservations change.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::wire::{AvailableDto, ErrorDto, ReservationDto, ReservationIn, page, time};
use super::{accepted, paged, paging, plan};
use crate::domain::PhoneNumber;
use crate::error::ApiError;
use crate::http::extract::decoded_segment;
use crate::http::{AcsJson, ApiVersion, Res, json_response};
use crate::scenario::PhoneNumberFailure;
use crate::state::AppState;
use crate::store::numbers::{
    Assignment, AvailableNumber, Capabilities, Capability, Cost, MAX_QUANTITY, NumberType,
    NumbersError, Reservation, ReservationStatus, country_of,
};

fn invalid(message: String, target: &'static str) -> ApiError {
    NumbersError::Invalid { message, target }.into()
}

fn reservation_id(req: &HttpRequest) -> Result<String, ApiError> {
    let raw = decoded_segment(req, "reservation_id");
    uuid::Uuid::parse_str(raw.trim())
        .map(|u| u.to_string())
        .map_err(|_| {
            invalid(
                format!("The reservation id '{raw}' is not a UUID."),
                "reservationId",
            )
        })
}

fn dto(r: &Reservation, now: chrono::DateTime<chrono::Utc>, with_numbers: bool) -> ReservationDto {
    let status = r.status(now);
    let number_status = match status {
        ReservationStatus::Completed => "purchased",
        ReservationStatus::Expired => "expired",
        _ => "reserved",
    };
    ReservationDto {
        id: r.id.clone(),
        expires_at: time(r.expires_at),
        phone_numbers: with_numbers.then(|| {
            r.numbers
                .iter()
                .map(|(k, n)| (k.clone(), AvailableDto::new(n, number_status)))
                .collect()
        }),
        status: status.as_str(),
    }
}

/// `GET /availablePhoneNumbers/reservations` (`maxPageSize`; numbers left out).
pub async fn list(
    req: HttpRequest,
    res: Res,
    state: web::Data<AppState>,
    _: ApiVersion,
) -> Result<HttpResponse, ApiError> {
    let (skip, size) = paging(&req, "maxPageSize")?;
    let now = state.clock.now();
    let all: Vec<ReservationDto> = res
        .store
        .numbers
        .reservations()
        .iter()
        .map(|r| dto(r, now, false))
        .collect();
    let (items, next) = paged(&req, all, skip, size);
    json_response(StatusCode::OK, &page("reservations", items, next))
}

/// `GET /availablePhoneNumbers/reservations/{reservationId}`.
pub async fn get(
    req: HttpRequest,
    res: Res,
    state: web::Data<AppState>,
    _: ApiVersion,
) -> Result<HttpResponse, ApiError> {
    let id = reservation_id(&req)?;
    let r = res.store.numbers.reservation(&id)?;
    json_response(StatusCode::OK, &dto(&r, state.clock.now(), true))
}

/// `DELETE /availablePhoneNumbers/reservations/{reservationId}`: 204.
pub async fn delete(
    req: HttpRequest,
    res: Res,
    state: web::Data<AppState>,
    _: ApiVersion,
) -> Result<HttpResponse, ApiError> {
    let id = reservation_id(&req)?;
    res.store
        .numbers
        .delete_reservation(&id, state.clock.now(), state.changes.sink(&res.name))?;
    Ok(HttpResponse::NoContent().finish())
}

/// `PATCH /availablePhoneNumbers/reservations/{reservationId}`.
pub async fn create_or_update(
    req: HttpRequest,
    res: Res,
    state: web::Data<AppState>,
    _: ApiVersion,
    AcsJson(body): AcsJson<ReservationIn>,
) -> Result<HttpResponse, ApiError> {
    let id = reservation_id(&req)?;
    let entries = body.phone_numbers.unwrap_or_default();
    if entries.len() > MAX_QUANTITY {
        return Err(invalid(
            format!("A reservation holds at most {MAX_QUANTITY} phone numbers."),
            "phoneNumbers",
        ));
    }
    let mut changes = Vec::with_capacity(entries.len());
    let mut asked: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    for (key, value) in entries {
        let digits = key.trim().trim_start_matches('+').to_string();
        let number = PhoneNumber::parse(&format!("+{digits}")).map_err(|_| {
            invalid(
                format!("The phone number id '{key}' is not valid."),
                "phoneNumbers",
            )
        })?;
        match value {
            None | Some(serde_json::Value::Null) => changes.push((digits, None)),
            Some(v) => {
                let wanted = v.get("capabilities").filter(|c| c.is_object()).map(|c| {
                    let field = |name: &str| {
                        c.get(name)
                            .and_then(serde_json::Value::as_str)
                            .and_then(Capability::parse)
                            .unwrap_or(Capability::None)
                    };
                    Capabilities {
                        calling: field("calling"),
                        sms: field("sms"),
                    }
                });
                asked.insert(digits.clone(), v);
                changes.push((digits, Some((number, wanted))));
            }
        }
    }
    let now = state.clock.now();
    let (reservation, created, refused) =
        res.store
            .numbers
            .reserve(&id, changes, now, state.changes.sink(&res.name))?;
    let mut body = dto(&reservation, now, true);
    if !refused.is_empty()
        && let Some(numbers) = body.phone_numbers.as_mut()
    {
        for digits in &refused {
            let Ok(number) = PhoneNumber::parse(&format!("+{digits}")) else {
                continue;
            };
            let field = |name: &str| {
                asked
                    .get(digits)
                    .and_then(|v| v.get(name))
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            };
            let mut item = AvailableDto::new(
                &AvailableNumber {
                    country: field("countryCode").unwrap_or_else(|| country_of(&number).into()),
                    number,
                    number_type: field("phoneNumberType")
                        .as_deref()
                        .and_then(NumberType::parse)
                        .unwrap_or(NumberType::Geographic),
                    assignment: field("assignmentType")
                        .as_deref()
                        .and_then(Assignment::parse)
                        .unwrap_or(Assignment::Application),
                    capabilities: Capabilities::ALL,
                    cost: Cost { amount: 0.0 },
                },
                "error",
            );
            item.error = Some(ErrorDto {
                code: "FailedToReserveNumber".into(),
                message: "Failed to add the number to the reservation.".into(),
            });
            numbers.insert(digits.clone(), item);
        }
    }
    let status = if !refused.is_empty() {
        StatusCode::MULTI_STATUS
    } else if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    json_response(status, &body)
}

/// `POST /availablePhoneNumbers/reservations/{reservationId}/:purchase`.
pub async fn purchase(
    req: HttpRequest,
    res: Res,
    state: web::Data<AppState>,
    ApiVersion(version): ApiVersion,
    scripted: PhoneNumberFailure,
) -> Result<HttpResponse, ApiError> {
    let id = reservation_id(&req)?;
    let lro = res.store.numbers.purchase_reservation(
        &id,
        plan(&state, scripted.error("PurchaseFailed", "Purchase failed.")),
        state.changes.sink(&res.name),
    )?;
    accepted(
        &lro.id,
        ("reservation-purchase-id", &id),
        None,
        version,
        None,
    )
}
