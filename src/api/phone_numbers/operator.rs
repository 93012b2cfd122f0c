//! `POST /operatorInformation/:search` (2025-02-11+): number lookup.
//!
//! The emulator knows no carriers. It answers every well-formed number with its national and
//! international formats (North American numbers as the spec's example writes them:
//! `+1 (123) 456-7899`, `+1 123 456 7899`) and ISO country; `numberType` is what the emulator knows (a number an
//! emulated resource owns: `geographic`, or `other` for toll-free; other North American numbers
//! `geographic`; the rest `unknown`). With `includeAdditionalOperatorDetails`, `operatorDetails`
//! names the emulator for numbers an emulated resource owns (without mobile network and country
//! codes, which the spec types as strings: left out, not `null`) and a fictional carrier otherwise.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use super::wire::OperatorIn;
use crate::domain::PhoneNumber;
use crate::error::ApiError;
use crate::http::{AcsJson, ApiVersion, Res, json_response};
use crate::state::AppState;
use crate::store::numbers::{NumberType, NumbersError};

/// The most numbers one lookup takes.
pub const MAX_LOOKUP: usize = 100;

/// `POST /operatorInformation/:search`.
pub async fn search(
    res: Res,
    state: web::Data<AppState>,
    _: ApiVersion,
    AcsJson(body): AcsJson<OperatorIn>,
) -> Result<HttpResponse, ApiError> {
    let invalid = |message: String| -> ApiError {
        NumbersError::Invalid {
            message,
            target: "phoneNumbers",
        }
        .into()
    };
    let numbers = body
        .phone_numbers
        .filter(|n| !n.is_empty())
        .ok_or_else(|| invalid("The phoneNumbers field is required.".into()))?;
    if numbers.len() > MAX_LOOKUP {
        return Err(invalid(format!(
            "At most {MAX_LOOKUP} phone numbers can be looked up at once."
        )));
    }
    let details = body
        .options
        .and_then(|o| o.include_additional_operator_details)
        .unwrap_or(false);
    let now = state.clock.now();
    let mut values = Vec::with_capacity(numbers.len());
    for raw in &numbers {
        let number = PhoneNumber::parse(raw.trim())
            .map_err(|_| invalid(format!("Invalid telephone number '{raw}'.")))?;
        let owned = res.store.numbers.owned_number(&number, now).ok();
        let digits = &number.as_str()[1..];
        let code = number.country_code();
        let national = &digits[code.len()..];
        let (national_format, international_format) = if code == "1" && national.len() == 10 {
            (
                format!(
                    "+1 ({}) {}-{}",
                    &national[..3],
                    &national[3..6],
                    &national[6..]
                ),
                format!(
                    "+1 {} {} {}",
                    &national[..3],
                    &national[3..6],
                    &national[6..]
                ),
            )
        } else {
            (format!("0{national}"), format!("+{code} {national}"))
        };
        let number_type = match &owned {
            Some((o, _)) if o.number_type == NumberType::TollFree => "other",
            Some(_) => "geographic",
            None if code == "1" => "geographic",
            None => "unknown",
        };
        let iso = if code == "1" {
            crate::store::numbers::country_of(&number)
        } else {
            ""
        };
        let mut value = json!({
            "phoneNumber": number.as_str(),
            "nationalFormat": national_format,
            "internationalFormat": international_format,
            "numberType": number_type,
        });
        if !iso.is_empty() {
            value["isoCountryCode"] = Value::String(iso.to_string());
        }
        if details {
            value["operatorDetails"] = if owned.is_some() {
                json!({"name": "Azure Communication Services (emulated)"})
            } else {
                json!({"name": "Emulated Carrier", "mobileNetworkCode": "000", "mobileCountryCode": "001"})
            };
        }
        values.push(value);
    }
    json_response(StatusCode::OK, &json!({"values": values}))
}
