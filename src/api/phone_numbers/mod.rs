//! The Phone Numbers API (with number lookup) and SIP routing: the catalogue and browse
//! ([`catalogue`]), searches and purchases ([`search`]), owned numbers ([`owned`]), operations
//! ([`operations`]), reservations ([`reservations`]), operator information ([`operator`]) and
//! `GET/PATCH /sip` ([`sip`]).
//!
//! Contract: the `PhoneNumbers` specs (stable 2021-03-07 … 2025-06-01; the released SDKs send
//! 2025-06-01), `SipRouting/stable/2023-03-01`, and `notes/research/phone-numbers.md`. Every
//! operation takes an access key or an Entra ID token. State is `store::numbers`.
//!
//! Long-running operations (search, purchase, release, capabilities update, reservation
//! purchase) answer `202` with no body (capabilities: `{capabilitiesUpdateId}`), a relative
//! `Operation-Location` to `/phoneNumbers/operations/<kind>_<id>?api-version=…`, `operation-id`
//! and a `<kind>-id` header, plus `Location` to the result for a search and a capabilities
//! update (both SDKs GET it when the operation succeeds). Statuses are lower camel case
//! (`notStarted`, `running`, `succeeded`, `failed`): both SDKs compare them in lower case. An
//! operation completes after `--phone-number-operation-delay` of emulator time (0 s by default,
//! so the SDKs' first poll sees it done).

pub mod catalogue;
pub mod operations;
pub mod operator;
pub mod owned;
pub mod reservations;
pub mod search;
pub mod sip;
pub mod wire;

use actix_web::http::Method;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use chrono::TimeDelta;

use crate::error::ApiError;
use crate::http::{AuthKind, Mount, Operation, Plane, Service};
use crate::state::AppState;
use crate::store::lro::LroError;
use crate::store::numbers::{NumbersError, Planned};

/// Every Phone Numbers api-version the emulator serves (stable ones). Python
/// `azure-communication-phonenumbers` 1.4.0 and npm `@azure/communication-phone-numbers` 1.5.0
/// send 2025-06-01; older releases 2025-04-01, 2025-02-11, 2022-12-01 and 2021-03-07.
pub const VERSIONS: &[&str] = &[
    "2021-03-07",
    "2022-11-30",
    "2022-12-01",
    "2024-03-01",
    "2025-02-11",
    "2025-04-01",
    "2025-06-01",
];

/// The versions with the catalogue (countries, localities, area codes, offerings).
pub const CATALOGUE_VERSIONS: &[&str] = &[
    "2022-12-01",
    "2024-03-01",
    "2025-02-11",
    "2025-04-01",
    "2025-06-01",
];

/// The versions with operator information.
pub const OPERATOR_VERSIONS: &[&str] = &["2025-02-11", "2025-04-01", "2025-06-01"];

/// The versions with browse and reservations.
pub const RESERVATION_VERSIONS: &[&str] = &["2025-04-01", "2025-06-01"];

/// The first version with `phoneNumberType: mobile`.
pub const MOBILE_SINCE: &str = "2025-06-01";

/// The SIP routing api-versions: both SDKs send 2023-03-01.
pub const SIP_VERSIONS: &[&str] = &["2021-05-01", "2023-03-01"];

/// The Phone Numbers service's slice of the operation table.
pub const SERVICE: Service = Service {
    plane: Plane::Data,
    mounts: &[
        Mount {
            prefix: "/availablePhoneNumbers",
            auth: AUTH,
            supported_versions: VERSIONS,
        },
        Mount {
            prefix: "/phoneNumbers",
            auth: AUTH,
            supported_versions: VERSIONS,
        },
        Mount {
            prefix: "/operatorInformation",
            auth: AUTH,
            supported_versions: OPERATOR_VERSIONS,
        },
        Mount {
            prefix: "/sip",
            auth: AUTH,
            supported_versions: SIP_VERSIONS,
        },
    ],
    operations: OPERATIONS,
};

/// How every operation authenticates.
const AUTH: AuthKind = AuthKind::AccessKeyOrEntra;

/// Every Phone Numbers and SIP routing operation.
#[rustfmt::skip]
pub const OPERATIONS: &[Operation] = &[
    Operation::new("PhoneNumbers.ListAvailableCountries", Method::GET, "/availablePhoneNumbers/countries",
        CATALOGUE_VERSIONS, AUTH, |r| r.to(catalogue::countries)),
    Operation::new("PhoneNumbers.ListAvailableLocalities", Method::GET, "/availablePhoneNumbers/countries/{country_code}/localities",
        CATALOGUE_VERSIONS, AUTH, |r| r.to(catalogue::localities)),
    Operation::new("PhoneNumbers.ListAreaCodes", Method::GET, "/availablePhoneNumbers/countries/{country_code}/areaCodes",
        CATALOGUE_VERSIONS, AUTH, |r| r.to(catalogue::area_codes)),
    Operation::new("PhoneNumbers.ListOfferings", Method::GET, "/availablePhoneNumbers/countries/{country_code}/offerings",
        CATALOGUE_VERSIONS, AUTH, |r| r.to(catalogue::offerings)),
    Operation::new("PhoneNumbers.BrowseAvailableNumbers", Method::POST, "/availablePhoneNumbers/countries/{country_code}/:browse",
        RESERVATION_VERSIONS, AUTH, |r| r.to(catalogue::browse)),
    Operation::new("PhoneNumbers.SearchAvailablePhoneNumbers", Method::POST, "/availablePhoneNumbers/countries/{country_code}/:search",
        VERSIONS, AUTH, |r| r.to(search::search)),
    Operation::new("PhoneNumbers.GetSearchResult", Method::GET, "/availablePhoneNumbers/searchResults/{search_id}",
        VERSIONS, AUTH, |r| r.to(search::search_result)),
    Operation::new("PhoneNumbers.PurchasePhoneNumbers", Method::POST, "/availablePhoneNumbers/:purchase",
        VERSIONS, AUTH, |r| r.to(search::purchase)),
    Operation::new("PhoneNumbers.ListReservations", Method::GET, "/availablePhoneNumbers/reservations",
        RESERVATION_VERSIONS, AUTH, |r| r.to(reservations::list)),
    Operation::new("PhoneNumbers.CreateOrUpdateReservation", Method::PATCH, "/availablePhoneNumbers/reservations/{reservation_id}",
        RESERVATION_VERSIONS, AUTH, |r| r.to(reservations::create_or_update)),
    Operation::new("PhoneNumbers.GetReservation", Method::GET, "/availablePhoneNumbers/reservations/{reservation_id}",
        RESERVATION_VERSIONS, AUTH, |r| r.to(reservations::get)),
    Operation::new("PhoneNumbers.DeleteReservation", Method::DELETE, "/availablePhoneNumbers/reservations/{reservation_id}",
        RESERVATION_VERSIONS, AUTH, |r| r.to(reservations::delete)),
    Operation::new("PhoneNumbers.PurchaseReservation", Method::POST, "/availablePhoneNumbers/reservations/{reservation_id}/:purchase",
        RESERVATION_VERSIONS, AUTH, |r| r.to(reservations::purchase)),
    Operation::new("PhoneNumbers.ListPhoneNumbers", Method::GET, "/phoneNumbers",
        VERSIONS, AUTH, |r| r.to(owned::list)),
    Operation::new("PhoneNumbers.GetOperation", Method::GET, "/phoneNumbers/operations/{operation_id}",
        VERSIONS, AUTH, |r| r.to(operations::get)),
    Operation::new("PhoneNumbers.CancelOperation", Method::DELETE, "/phoneNumbers/operations/{operation_id}",
        VERSIONS, AUTH, |r| r.to(operations::cancel)),
    Operation::new("PhoneNumbers.GetPhoneNumber", Method::GET, "/phoneNumbers/{phone_number}",
        VERSIONS, AUTH, |r| r.to(owned::get)),
    Operation::new("PhoneNumbers.ReleasePhoneNumber", Method::DELETE, "/phoneNumbers/{phone_number}",
        VERSIONS, AUTH, |r| r.to(owned::release)),
    Operation::new("PhoneNumbers.UpdateCapabilities", Method::PATCH, "/phoneNumbers/{phone_number}/capabilities",
        VERSIONS, AUTH, |r| r.to(owned::update_capabilities)),
    Operation::new("PhoneNumbers.SearchOperatorInformation", Method::POST, "/operatorInformation/:search",
        OPERATOR_VERSIONS, AUTH, |r| r.to(operator::search)),
    Operation::new("SipRouting.GetSipConfiguration", Method::GET, "/sip",
        SIP_VERSIONS, AUTH, |r| r.to(sip::get)),
    Operation::new("SipRouting.UpdateSipConfiguration", Method::PATCH, "/sip",
        SIP_VERSIONS, AUTH, |r| r.to(sip::update)),
];

/// A query parameter (name compared ignoring ASCII case).
pub fn query(req: &HttpRequest, name: &str) -> Option<String> {
    form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.into_owned())
}

/// The most items one page may ask for.
pub const MAX_PAGE_SIZE: usize = 1_000;

/// `skip` and the page size (`size_name`: `maxPageSize` or `top`; default 100): 400
/// `InvalidInput` for a negative or malformed value.
pub fn paging(req: &HttpRequest, size_name: &'static str) -> Result<(usize, usize), ApiError> {
    let number = |name: &'static str, default: usize, min: usize| -> Result<usize, ApiError> {
        match query(req, name) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= min)
                .map(|n| {
                    n.min(if name == "skip" {
                        usize::MAX
                    } else {
                        MAX_PAGE_SIZE
                    })
                })
                .ok_or_else(|| {
                    NumbersError::Invalid {
                        message: format!("The {name} parameter '{raw}' is not valid."),
                        target: name,
                    }
                    .into()
                }),
        }
    };
    Ok((number("skip", 0, 0)?, number(size_name, 100, 1)?))
}

/// One page of `items` and the relative `nextLink` to the next one (the request's own query
/// with `skip` moved on), if there is more.
pub fn paged<T>(
    req: &HttpRequest,
    items: Vec<T>,
    skip: usize,
    size: usize,
) -> (Vec<T>, Option<String>) {
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(skip).take(size).collect();
    let next = skip.saturating_add(size);
    let link = (next < total).then(|| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in form_urlencoded::parse(req.query_string().as_bytes()) {
            if !k.eq_ignore_ascii_case("skip") {
                query.append_pair(&k, &v);
            }
        }
        query.append_pair("skip", &next.to_string());
        format!("{}?{}", req.path(), query.finish())
    });
    (page, link)
}

/// How a new operation runs: from now, completing after `--phone-number-operation-delay`,
/// failing with `failure` if a scenario rule scripts it.
pub fn plan(state: &AppState, failure: Option<LroError>) -> Planned {
    let now = state.clock.now();
    let delay = TimeDelta::from_std(state.settings.config.sms.phone_number_operation_delay)
        .unwrap_or(TimeDelta::MAX);
    Planned {
        now,
        completes_at: crate::clock::saturating_add(now, delay),
        failure,
    }
}

/// A `202 Accepted` starting an operation: `Operation-Location` (relative, with the
/// api-version), `operation-id`, `<kind>-id` and, when given, `Location`.
pub fn accepted(
    operation_id: &str,
    kind_header: (&'static str, &str),
    location: Option<&str>,
    version: &str,
    body: Option<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let header = |v: &str| {
        HeaderValue::from_str(v)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("header value {v:?}: {e}")))
    };
    let mut res = match body {
        Some(body) => crate::http::json_response(actix_web::http::StatusCode::ACCEPTED, &body)?,
        None => HttpResponse::Accepted().finish(),
    };
    let headers = res.headers_mut();
    headers.insert(
        HeaderName::from_static("operation-location"),
        header(&format!(
            "/phoneNumbers/operations/{operation_id}?api-version={version}"
        ))?,
    );
    headers.insert(
        HeaderName::from_static("operation-id"),
        header(operation_id)?,
    );
    headers.insert(
        HeaderName::from_static(kind_header.0),
        header(kind_header.1)?,
    );
    let mut exposed = String::from("Operation-Location,operation-id,");
    exposed.push_str(kind_header.0);
    if let Some(location) = location {
        headers.insert(actix_web::http::header::LOCATION, header(location)?);
        exposed.push_str(",Location");
    }
    headers.insert(
        actix_web::http::header::ACCESS_CONTROL_EXPOSE_HEADERS,
        header(&exposed)?,
    );
    Ok(res)
}

/// The country code of the path, as the catalogue has it: 400 `InvalidInput` "Unable to parse
/// country code." otherwise (the real answer for `XX`).
pub fn country_of_path(
    req: &HttpRequest,
) -> Result<&'static crate::store::numbers::Country, ApiError> {
    let raw = crate::http::extract::decoded_segment(req, "country_code");
    crate::store::numbers::country(raw.trim()).ok_or_else(|| {
        NumbersError::Invalid {
            message: "Unable to parse country code.".into(),
            target: "countrycode",
        }
        .into()
    })
}
