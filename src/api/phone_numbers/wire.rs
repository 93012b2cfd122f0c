//! Phone Numbers and SIP routing wire models (spec `PhoneNumbers/stable/2025-06-01`,
//! `SipRouting/stable/2023-03-01`).

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::store::numbers::{
    Assignment, AvailableNumber, Capabilities, Capability, Cost, NumberType, OwnedNumber, number_id,
};

/// An RFC 3339 time with fractional seconds, as the service writes them.
pub fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// `PhoneNumberCapabilities`.
#[derive(Debug, Serialize)]
pub struct CapabilitiesDto {
    /// `calling`.
    pub calling: &'static str,
    /// `sms`.
    pub sms: &'static str,
}

impl From<Capabilities> for CapabilitiesDto {
    fn from(c: Capabilities) -> Self {
        Self {
            calling: c.calling.as_str(),
            sms: c.sms.as_str(),
        }
    }
}

/// `PhoneNumberCapabilities` in a request: both fields strings the service knows.
#[derive(Debug, Default, Deserialize)]
pub struct CapabilitiesIn {
    /// `calling`.
    pub calling: Option<String>,
    /// `sms`.
    pub sms: Option<String>,
}

/// `PhoneNumberCost`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CostDto {
    /// `amount`.
    pub amount: f64,
    /// `currencyCode`.
    pub currency_code: &'static str,
    /// `billingFrequency`.
    pub billing_frequency: &'static str,
}

impl From<Cost> for CostDto {
    fn from(c: Cost) -> Self {
        Self {
            amount: c.amount,
            currency_code: "USD",
            billing_frequency: "monthly",
        }
    }
}

/// `PurchasedPhoneNumber`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PurchasedDto {
    /// `id`: the digits.
    pub id: String,
    /// `phoneNumber`.
    pub phone_number: String,
    /// `countryCode`.
    pub country_code: String,
    /// `phoneNumberType`.
    pub phone_number_type: &'static str,
    /// `capabilities`.
    pub capabilities: CapabilitiesDto,
    /// `assignmentType`.
    pub assignment_type: &'static str,
    /// `purchaseDate`.
    pub purchase_date: String,
    /// `cost`.
    pub cost: CostDto,
}

impl PurchasedDto {
    /// The wire form of an owned number with its current capabilities.
    pub fn new(n: &OwnedNumber, caps: Capabilities) -> Self {
        Self {
            id: number_id(&n.number),
            phone_number: n.number.to_string(),
            country_code: n.country.clone(),
            phone_number_type: n.number_type.as_str(),
            capabilities: caps.into(),
            assignment_type: n.assignment.as_str(),
            purchase_date: time(n.purchased_at),
            cost: n.cost.into(),
        }
    }
}

/// `AvailablePhoneNumber`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AvailableDto {
    /// `id`: the digits.
    pub id: String,
    /// `countryCode`.
    pub country_code: String,
    /// `phoneNumber`.
    pub phone_number: String,
    /// `capabilities`.
    pub capabilities: CapabilitiesDto,
    /// `phoneNumberType`.
    pub phone_number_type: &'static str,
    /// `assignmentType`.
    pub assignment_type: &'static str,
    /// `cost`.
    pub cost: CostDto,
    /// `status`.
    pub status: &'static str,
    /// `isAgreementToNotResellRequired`.
    pub is_agreement_to_not_resell_required: bool,
    /// `error` (reservation updates that could not add it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDto>,
}

impl AvailableDto {
    /// The wire form of an available number with `status`.
    pub fn new(n: &AvailableNumber, status: &'static str) -> Self {
        Self {
            id: number_id(&n.number),
            country_code: n.country.clone(),
            phone_number: n.number.to_string(),
            capabilities: n.capabilities.into(),
            phone_number_type: n.number_type.as_str(),
            assignment_type: n.assignment.as_str(),
            cost: n.cost.into(),
            status,
            is_agreement_to_not_resell_required: false,
            error: None,
        }
    }
}

/// `{code, message}`.
#[derive(Debug, Serialize)]
pub struct ErrorDto {
    /// `code`.
    pub code: String,
    /// `message`.
    pub message: String,
}

/// `PhoneNumberSearchRequest` (and the `:browse` request's fields).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchIn {
    /// `phoneNumberType`.
    pub phone_number_type: Option<String>,
    /// `assignmentType`.
    pub assignment_type: Option<String>,
    /// `capabilities`.
    pub capabilities: Option<CapabilitiesIn>,
    /// `areaCode`.
    pub area_code: Option<String>,
    /// `quantity`.
    pub quantity: Option<i64>,
    /// `phoneNumberPrefixes` (`:browse`).
    pub phone_number_prefixes: Option<Vec<String>>,
}

/// `PhoneNumberPurchaseRequest`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PurchaseIn {
    /// `searchId`.
    pub search_id: Option<String>,
    /// `agreeToNotResell`.
    #[allow(dead_code)]
    pub agree_to_not_resell: Option<bool>,
}

/// `PhoneNumberSearchResult`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchResultDto {
    /// `searchId`.
    pub search_id: String,
    /// `phoneNumbers`.
    pub phone_numbers: Vec<String>,
    /// `phoneNumberType`.
    pub phone_number_type: &'static str,
    /// `assignmentType`.
    pub assignment_type: &'static str,
    /// `capabilities`.
    pub capabilities: CapabilitiesDto,
    /// `cost`.
    pub cost: CostDto,
    /// `searchExpiresBy`.
    pub search_expires_by: String,
    /// `isAgreementToNotResellRequired`.
    pub is_agreement_to_not_resell_required: bool,
    /// `errorCode`.
    pub error_code: i32,
    /// `error`.
    pub error: &'static str,
}

/// `PhoneNumberOperation`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationDto {
    /// `operationType`.
    pub operation_type: &'static str,
    /// `status`.
    pub status: &'static str,
    /// `resourceLocation` (null unless search or capabilities).
    pub resource_location: Option<String>,
    /// `createdDateTime`.
    pub created_date_time: String,
    /// `error` once failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDto>,
    /// `id`.
    pub id: String,
    /// `lastActionDateTime`.
    pub last_action_date_time: String,
}

/// A page of a list: the items under `name`, and `nextLink`.
pub fn page<T: Serialize>(name: &str, items: Vec<T>, next: Option<String>) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    map.insert(
        name.to_string(),
        serde_json::to_value(items).unwrap_or_default(),
    );
    if let Some(next) = next {
        map.insert("nextLink".into(), serde_json::Value::String(next));
    }
    serde_json::Value::Object(map)
}

/// `PhoneNumberCapabilitiesRequest`.
pub type CapabilitiesUpdateIn = CapabilitiesIn;

/// `PhoneNumbersReservation`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservationDto {
    /// `id`.
    pub id: String,
    /// `expiresAt`.
    pub expires_at: String,
    /// `phoneNumbers` (left out of the list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_numbers: Option<BTreeMap<String, AvailableDto>>,
    /// `status`.
    pub status: &'static str,
}

/// A reservation update: `phoneNumbers` with a number or `null` per id.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservationIn {
    /// `phoneNumbers`.
    pub phone_numbers: Option<BTreeMap<String, Option<serde_json::Value>>>,
}

/// `OperatorInformationRequest`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatorIn {
    /// `phoneNumbers`.
    pub phone_numbers: Option<Vec<String>>,
    /// `options`.
    pub options: Option<OperatorOptions>,
}

/// `OperatorInformationOptions`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatorOptions {
    /// `includeAdditionalOperatorDetails`.
    pub include_additional_operator_details: Option<bool>,
}

/// Parses a type (`InvalidInput` naming `field` otherwise).
pub fn number_type(raw: Option<&str>) -> Option<NumberType> {
    raw.and_then(NumberType::parse)
}

/// Parses an assignment type.
pub fn assignment(raw: Option<&str>) -> Option<Assignment> {
    raw.and_then(Assignment::parse)
}

/// Parses a capability value.
pub fn capability(raw: Option<&str>) -> Option<Capability> {
    raw.and_then(Capability::parse)
}
