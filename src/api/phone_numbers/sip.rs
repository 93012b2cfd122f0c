//! SIP routing: `GET /sip` and `PATCH /sip` (api-version 2023-03-01).
//!
//! A PATCH is a merge-patch: `trunks` merge per FQDN (`null` deletes one; deleting an unknown
//! trunk is a no-op), `routes` replaces the whole list (routes apply in list order). The result
//! is checked as a whole before it is stored, with the real service's errors: 422
//! `UnprocessableConfiguration` with an `innererror` (`EmptyPatch`, `InvalidTrunkFqdn`,
//! `InvalidTrunkSipSignalingPort`, `InvalidRouteName`, `InvalidRouteNumberPattern`,
//! `MissingTrunk`), or 400 for `DuplicatedRoute` and `RouteWithDuplicatedTrunk`.
//!
//! Trunk FQDNs must be host names with at least two labels, not under `onmicrosoft.com` or
//! `azure.com`; when the resource has custom domains linked (fixtures `emailDomains`,
//! `--email-domain`), a trunk must be one of them or under one (innererror
//! `UnverifiedTrunkDomain`, the emulator's code: the real one is not documented). Number
//! patterns are .NET regular expressions; the emulator compiles them with a bounded size and
//! accepts the .NET-only constructs it cannot compile (look-around, back-references, a
//! quantified leading `^` as in `^+1…`).

use std::collections::{BTreeMap, HashSet};

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;
use crate::http::{AcsJsonOrDefault, ApiVersion, Res, json_response};
use crate::state::AppState;
use crate::store::numbers::{Route, SipConfig, Trunk};

/// The most trunks and the most routes a configuration holds.
pub const MAX_TRUNKS: usize = 250;
/// The most routes.
pub const MAX_ROUTES: usize = 250;
/// The longest FQDN.
pub const MAX_FQDN: usize = 249;
/// The longest route name.
pub const MAX_ROUTE_NAME: usize = 256;
/// The longest number pattern and description.
pub const MAX_PATTERN: usize = 1024;
/// The most memory a compiled number pattern may take.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TrunkDto {
    sip_signaling_port: i32,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RouteDto {
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    number_pattern: Option<String>,
    #[serde(default)]
    trunks: Option<Vec<String>>,
}

#[derive(Serialize)]
struct ConfigDto {
    trunks: BTreeMap<String, TrunkDto>,
    routes: Vec<RouteDto>,
}

/// `SipConfigurationUpdate`.
#[derive(Debug, Default, Deserialize)]
pub struct UpdateIn {
    trunks: Option<BTreeMap<String, Value>>,
    routes: Option<Vec<Value>>,
}

fn dto(config: &SipConfig) -> ConfigDto {
    ConfigDto {
        trunks: config
            .trunks
            .iter()
            .map(|(fqdn, t)| {
                (
                    fqdn.clone(),
                    TrunkDto {
                        sip_signaling_port: t.port,
                    },
                )
            })
            .collect(),
        routes: config
            .routes
            .iter()
            .map(|r| RouteDto {
                name: Some(r.name.clone()),
                description: r.description.clone(),
                number_pattern: Some(r.number_pattern.clone()),
                trunks: Some(r.trunks.clone()),
            })
            .collect(),
    }
}

fn unprocessable(status: StatusCode, inner_code: &'static str, inner_message: &str) -> ApiError {
    ApiError::Inner {
        status,
        code: "UnprocessableConfiguration",
        message: "One or more request inputs are not valid.".into(),
        inner_code,
        inner_message: inner_message.into(),
    }
}

fn invalid(inner_code: &'static str, inner_message: &str) -> ApiError {
    unprocessable(StatusCode::UNPROCESSABLE_ENTITY, inner_code, inner_message)
}

/// `GET /sip`.
pub async fn get(res: Res, _: ApiVersion) -> Result<HttpResponse, ApiError> {
    json_response(StatusCode::OK, &dto(&res.store.numbers.sip()))
}

/// Whether `fqdn` is a host name the service takes for a trunk.
pub fn valid_fqdn(fqdn: &str) -> bool {
    if fqdn.is_empty() || fqdn.len() > MAX_FQDN {
        return false;
    }
    let labels: Vec<&str> = fqdn.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.bytes().any(|b| b.is_ascii_alphabetic()))
}

/// Whether `pattern` is a regular expression the service would take (see the module docs).
pub fn valid_pattern(pattern: &str) -> bool {
    if pattern.trim().is_empty() || pattern.len() > MAX_PATTERN {
        return false;
    }
    // .NET takes a quantified anchor (`^+`, `^*`, `^?`) as the anchor itself.
    let checked = match pattern.strip_prefix('^') {
        Some(rest) if rest.starts_with(['+', '*', '?']) => format!("^{}", &rest[1..]),
        _ => pattern.to_string(),
    };
    match regex::RegexBuilder::new(&checked)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
    {
        Ok(_) => true,
        Err(regex::Error::Syntax(message)) => {
            message.contains("look-around") || message.contains("backreferences")
        }
        Err(_) => false,
    }
}

fn parse_route(raw: Value) -> Result<Route, ApiError> {
    let route: RouteDto = serde_json::from_value(raw).map_err(|e| {
        ApiError::invalid_body(format!(
            "A route is not valid JSON for this operation: {e}."
        ))
    })?;
    let name = route.name.unwrap_or_default();
    if name.trim().is_empty() || name.len() > MAX_ROUTE_NAME {
        return Err(invalid("InvalidRouteName", "Route with an invalid name."));
    }
    let pattern = route.number_pattern.unwrap_or_default();
    if !valid_pattern(&pattern) {
        return Err(invalid(
            "InvalidRouteNumberPattern",
            "Route with an invalid number pattern.",
        ));
    }
    if route
        .description
        .as_ref()
        .is_some_and(|d| d.len() > MAX_PATTERN)
    {
        return Err(invalid(
            "InvalidRouteDescription",
            "Route with an invalid description.",
        ));
    }
    let trunks = route.trunks.unwrap_or_default();
    if trunks.len() > MAX_TRUNKS {
        return Err(invalid("InvalidRouteTrunks", "Route with too many trunks."));
    }
    let mut seen = HashSet::new();
    if !trunks.iter().all(|t| seen.insert(t.to_ascii_lowercase())) {
        return Err(unprocessable(
            StatusCode::BAD_REQUEST,
            "RouteWithDuplicatedTrunk",
            "There is a duplicated trunk in a route.",
        ));
    }
    Ok(Route {
        name,
        description: route.description,
        number_pattern: pattern,
        trunks,
    })
}

/// `PATCH /sip` (merge-patch; 200 with the whole configuration).
pub async fn update(
    res: Res,
    state: web::Data<AppState>,
    _: ApiVersion,
    AcsJsonOrDefault(body): AcsJsonOrDefault<UpdateIn>,
) -> Result<HttpResponse, ApiError> {
    let trunks = body.trunks.unwrap_or_default();
    if trunks.is_empty() && body.routes.is_none() {
        return Err(invalid("EmptyPatch", "Patch with no data provided."));
    }
    let domains: Vec<String> = res
        .custom_email_domains
        .read()
        .map(|d| d.clone())
        .unwrap_or_default();
    let mut trunk_changes: Vec<(String, Option<Trunk>)> = Vec::with_capacity(trunks.len());
    for (fqdn, value) in trunks {
        let lower = fqdn.to_ascii_lowercase();
        if !valid_fqdn(&fqdn)
            || lower.ends_with(".onmicrosoft.com")
            || lower.ends_with(".azure.com")
        {
            return Err(invalid("InvalidTrunkFqdn", "Trunk with an invalid FQDN."));
        }
        if value.is_null() {
            trunk_changes.push((fqdn, None));
            continue;
        }
        if !domains.is_empty()
            && !domains
                .iter()
                .any(|d| lower == *d || lower.ends_with(&format!(".{d}")))
        {
            return Err(invalid(
                "UnverifiedTrunkDomain",
                "Trunk FQDN is not in a domain verified for this resource.",
            ));
        }
        let port = value
            .get("sipSignalingPort")
            .and_then(Value::as_i64)
            .and_then(|p| i32::try_from(p).ok())
            .filter(|p| (1..=65535).contains(p))
            .ok_or_else(|| {
                invalid(
                    "InvalidTrunkSipSignalingPort",
                    "Trunk with an invalid SIP signaling port.",
                )
            })?;
        trunk_changes.push((fqdn, Some(Trunk { port })));
    }
    let routes = match body.routes {
        None => None,
        Some(list) => {
            if list.len() > MAX_ROUTES {
                return Err(invalid("InvalidRoutes", "Too many routes."));
            }
            let routes = list
                .into_iter()
                .map(parse_route)
                .collect::<Result<Vec<_>, _>>()?;
            let mut names = HashSet::new();
            if !routes.iter().all(|r| names.insert(r.name.clone())) {
                return Err(unprocessable(
                    StatusCode::BAD_REQUEST,
                    "DuplicatedRoute",
                    "There is a duplicated route.",
                ));
            }
            Some(routes)
        }
    };
    let config = res.store.numbers.update_sip(
        |config| {
            for (fqdn, trunk) in trunk_changes {
                match trunk {
                    Some(t) => {
                        config.trunks.insert(fqdn, t);
                    }
                    None => {
                        config.trunks.remove(&fqdn);
                    }
                }
            }
            if let Some(routes) = routes {
                config.routes = routes;
            }
        },
        |config| {
            if config.trunks.len() > MAX_TRUNKS {
                return Err(invalid("InvalidTrunks", "Too many trunks."));
            }
            let missing = config
                .routes
                .iter()
                .flat_map(|r| &r.trunks)
                .any(|t| !config.trunks.contains_key(t));
            if missing {
                return Err(invalid("MissingTrunk", "Route targeting a missing trunk."));
            }
            Ok(())
        },
        state.changes.sink(&res.name),
    )?;
    json_response(StatusCode::OK, &dto(&config))
}
