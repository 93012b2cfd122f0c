//! The catalogue: countries, localities, area codes and offerings (paged with `skip` and
//! `maxPageSize`, relative `nextLink`), and `:browse` (2025-04-01+).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use serde_json::json;

use super::wire::{AvailableDto, CapabilitiesDto, CostDto, SearchIn, page};
use super::{MOBILE_SINCE, country_of_path, paged, paging, query};
use crate::error::ApiError;
use crate::http::{AcsJson, ApiVersion, Res, json_response};
use crate::state::AppState;
use crate::store::numbers::{
    self, Capabilities, Capability, LOCALITIES, NumberType, NumbersError, OFFERINGS, SearchRequest,
};

fn invalid(message: String, target: &'static str) -> ApiError {
    NumbersError::Invalid { message, target }.into()
}

/// A `phoneNumberType` parameter or field, refusing `mobile` before [`MOBILE_SINCE`].
pub fn parse_type(
    raw: Option<&str>,
    version: &str,
    target: &'static str,
) -> Result<Option<NumberType>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    match NumberType::parse(raw.trim()) {
        Some(NumberType::Mobile) if version < MOBILE_SINCE => Err(invalid(
            format!("The phone number type '{raw}' is not supported by api-version {version}."),
            target,
        )),
        Some(t) => Ok(Some(t)),
        None => Err(invalid(
            format!("The phone number type '{raw}' is not valid."),
            target,
        )),
    }
}

/// `GET /availablePhoneNumbers/countries`.
pub async fn countries(req: HttpRequest, _: ApiVersion) -> Result<HttpResponse, ApiError> {
    let (skip, size) = paging(&req, "maxPageSize")?;
    let all: Vec<_> = numbers::COUNTRIES
        .iter()
        .map(|c| json!({"countryCode": c.code, "localizedName": c.name}))
        .collect();
    let (items, next) = paged(&req, all, skip, size);
    json_response(StatusCode::OK, &page("countries", items, next))
}

/// `GET /availablePhoneNumbers/countries/{countryCode}/localities`.
pub async fn localities(
    req: HttpRequest,
    ApiVersion(version): ApiVersion,
) -> Result<HttpResponse, ApiError> {
    let country = country_of_path(&req)?;
    let (skip, size) = paging(&req, "maxPageSize")?;
    let division = query(&req, "administrativeDivision");
    let number_type = parse_type(
        query(&req, "phoneNumberType").as_deref(),
        version,
        "phoneNumberType",
    )?;
    let all: Vec<_> = LOCALITIES
        .iter()
        .filter(|l| l.country == country.code)
        .filter(|_| number_type.is_none_or(|t| t == NumberType::Geographic))
        .filter(|l| {
            division.as_deref().is_none_or(|d| {
                l.division.eq_ignore_ascii_case(d) || l.division_abbr.eq_ignore_ascii_case(d)
            })
        })
        .map(|l| {
            json!({
                "localizedName": l.name,
                "administrativeDivision": {"localizedName": l.division, "abbreviatedName": l.division_abbr},
            })
        })
        .collect();
    let (items, next) = paged(&req, all, skip, size);
    json_response(StatusCode::OK, &page("phoneNumberLocalities", items, next))
}

/// `GET /availablePhoneNumbers/countries/{countryCode}/areaCodes` (`phoneNumberType`
/// required; `locality` narrows geographic ones).
pub async fn area_codes(
    req: HttpRequest,
    ApiVersion(version): ApiVersion,
) -> Result<HttpResponse, ApiError> {
    let country = country_of_path(&req)?;
    let (skip, size) = paging(&req, "maxPageSize")?;
    let number_type = parse_type(
        query(&req, "phoneNumberType").as_deref(),
        version,
        "phoneNumberType",
    )?
    .ok_or_else(|| {
        invalid(
            "The phoneNumberType parameter is required.".into(),
            "phoneNumberType",
        )
    })?;
    let locality = query(&req, "locality");
    let all: Vec<_> = numbers::area_codes(country.code, number_type, locality.as_deref())
        .into_iter()
        .map(|a| json!({"areaCode": a}))
        .collect();
    let (items, next) = paged(&req, all, skip, size);
    json_response(StatusCode::OK, &page("areaCodes", items, next))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OfferingDto {
    phone_number_type: &'static str,
    assignment_type: &'static str,
    available_capabilities: CapabilitiesDto,
    cost: CostDto,
}

/// `GET /availablePhoneNumbers/countries/{countryCode}/offerings`.
pub async fn offerings(
    req: HttpRequest,
    ApiVersion(version): ApiVersion,
) -> Result<HttpResponse, ApiError> {
    let country = country_of_path(&req)?;
    let (skip, size) = paging(&req, "maxPageSize")?;
    let number_type = parse_type(
        query(&req, "phoneNumberType").as_deref(),
        version,
        "phoneNumberType",
    )?;
    let assignment = match query(&req, "assignmentType") {
        None => None,
        Some(raw) => Some(numbers::Assignment::parse(raw.trim()).ok_or_else(|| {
            invalid(
                format!("The assignment type '{raw}' is not valid."),
                "assignmentType",
            )
        })?),
    };
    let all: Vec<_> = OFFERINGS
        .iter()
        .filter(|o| o.country == country.code)
        .filter(|o| number_type.is_none_or(|t| t == o.number_type))
        .filter(|o| assignment.is_none_or(|a| a == o.assignment))
        .map(|o| OfferingDto {
            phone_number_type: o.number_type.as_str(),
            assignment_type: o.assignment.as_str(),
            available_capabilities: o.capabilities.into(),
            cost: o.cost.into(),
        })
        .collect();
    let (items, next) = paged(&req, all, skip, size);
    json_response(StatusCode::OK, &page("phoneNumberOfferings", items, next))
}

/// The capabilities of a request (`required`: both must be given).
pub fn capabilities(
    caps: Option<&super::wire::CapabilitiesIn>,
    required: bool,
) -> Result<Capabilities, ApiError> {
    let field = |raw: Option<&String>, name: &'static str| -> Result<Capability, ApiError> {
        match raw {
            Some(raw) => Capability::parse(raw.trim()).ok_or_else(|| {
                invalid(
                    format!("The {name} capability '{raw}' is not valid."),
                    "capabilities",
                )
            }),
            None if required => Err(invalid(
                format!("The capabilities.{name} field is required."),
                "capabilities",
            )),
            None => Ok(Capability::None),
        }
    };
    match caps {
        Some(c) => Ok(Capabilities {
            calling: field(c.calling.as_ref(), "calling")?,
            sms: field(c.sms.as_ref(), "sms")?,
        }),
        None if required => Err(invalid(
            "The capabilities field is required.".into(),
            "capabilities",
        )),
        None => Ok(Capabilities {
            calling: Capability::None,
            sms: Capability::None,
        }),
    }
}

/// `POST /availablePhoneNumbers/countries/{countryCode}/:browse` (2025-04-01+): up to 100
/// available numbers of a type, optionally with capabilities, an assignment type and number
/// prefixes.
pub async fn browse(
    req: HttpRequest,
    res: Res,
    state: web::Data<AppState>,
    ApiVersion(version): ApiVersion,
    AcsJson(body): AcsJson<SearchIn>,
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
    let assignment = match body.assignment_type.as_deref() {
        None => None,
        Some(raw) => Some(numbers::Assignment::parse(raw.trim()).ok_or_else(|| {
            invalid(
                format!("The assignment type '{raw}' is not valid."),
                "assignmentType",
            )
        })?),
    };
    let caps = capabilities(body.capabilities.as_ref(), false)?;
    let prefixes = body.phone_number_prefixes.unwrap_or_default();
    if prefixes.len() > 100
        || prefixes.iter().any(|p| {
            p.len() > 15
                || !p
                    .trim_start_matches('+')
                    .bytes()
                    .all(|b| b.is_ascii_digit())
        })
    {
        return Err(invalid(
            "phoneNumberPrefixes must be at most 100 prefixes of digits.".into(),
            "phoneNumberPrefixes",
        ));
    }
    let prefixes: Vec<String> = prefixes
        .into_iter()
        .map(|p| p.trim_start_matches('+').to_string())
        .collect();
    let now = state.clock.now();
    let assignments = match assignment {
        Some(a) => vec![a],
        None => vec![
            numbers::Assignment::Application,
            numbers::Assignment::Person,
        ],
    };
    let mut found = Vec::new();
    for assignment in assignments {
        let request = SearchRequest {
            country: country.code.to_string(),
            number_type,
            assignment,
            capabilities: caps,
            area_code: None,
            quantity: numbers::MAX_QUANTITY,
        };
        found.extend(res.store.numbers.browse(&request, &prefixes, now));
    }
    found.truncate(numbers::MAX_QUANTITY);
    let items: Vec<AvailableDto> = found
        .iter()
        .map(|n| AvailableDto::new(n, "available"))
        .collect();
    json_response(StatusCode::OK, &json!({"phoneNumbers": items}))
}
