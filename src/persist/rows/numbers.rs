//! Phone Numbers rows: bought and offered numbers, reservations, and the SIP configuration.

use serde::{Deserialize, Serialize};

use crate::domain::PhoneNumber;
use crate::store::numbers::{
    Assignment, AvailableNumber, Capabilities, Capability, Cost, NumberType, OwnedNumber,
    Reservation, Route, SipConfig, Trunk,
};

use super::{RowError, parse_opt_time, parse_time, time};

fn number(raw: &str) -> Result<PhoneNumber, RowError> {
    PhoneNumber::parse(raw).map_err(|_| format!("invalid phone number {raw:?}"))
}

/// Capabilities as `[calling, sms]` wire names.
type CapabilitiesRow = (String, String);

fn capabilities_row(c: Capabilities) -> CapabilitiesRow {
    (c.calling.as_str().to_string(), c.sms.as_str().to_string())
}

fn capabilities(row: &CapabilitiesRow) -> Result<Capabilities, RowError> {
    let one =
        |raw: &str| Capability::parse(raw).ok_or_else(|| format!("unknown capability {raw:?}"));
    Ok(Capabilities {
        calling: one(&row.0)?,
        sms: one(&row.1)?,
    })
}

fn number_type(raw: &str) -> Result<NumberType, RowError> {
    NumberType::parse(raw).ok_or_else(|| format!("unknown number type {raw:?}"))
}

fn assignment(raw: &str) -> Result<Assignment, RowError> {
    Assignment::parse(raw).ok_or_else(|| format!("unknown assignment {raw:?}"))
}

/// A phone number the resource owns (or owned: released), with its capabilities' timeline.
#[derive(Debug, Serialize, Deserialize)]
pub struct OwnedRow {
    country: String,
    number_type: String,
    assignment: String,
    purchased_at: String,
    cost: f64,
    owned_from: String,
    released_at: Option<String>,
    capabilities: Vec<(String, CapabilitiesRow)>,
}

impl OwnedRow {
    /// The row of `owned`.
    pub fn of(owned: &OwnedNumber) -> Self {
        Self {
            country: owned.country.clone(),
            number_type: owned.number_type.as_str().to_string(),
            assignment: owned.assignment.as_str().to_string(),
            purchased_at: time(owned.purchased_at),
            cost: owned.cost.amount,
            owned_from: time(owned.owned_from),
            released_at: owned.released_at.map(time),
            capabilities: owned
                .capabilities
                .iter()
                .map(|(from, c)| (time(*from), capabilities_row(*c)))
                .collect(),
        }
    }

    /// The record of the number `raw`.
    pub fn into_owned(self, raw: &str) -> Result<OwnedNumber, RowError> {
        Ok(OwnedNumber {
            number: number(raw)?,
            country: self.country,
            number_type: number_type(&self.number_type)?,
            assignment: assignment(&self.assignment)?,
            purchased_at: parse_time(&self.purchased_at)?,
            cost: Cost { amount: self.cost },
            owned_from: parse_time(&self.owned_from)?,
            released_at: parse_opt_time(&self.released_at)?,
            capabilities: self
                .capabilities
                .iter()
                .map(|(from, c)| Ok((parse_time(from)?, capabilities(c)?)))
                .collect::<Result<_, RowError>>()?,
        })
    }
}

/// A number a reservation holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct AvailableRow {
    id: String,
    number: String,
    country: String,
    number_type: String,
    assignment: String,
    capabilities: CapabilitiesRow,
    cost: f64,
}

/// A phone-number reservation: its expiry, numbers and purchase.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReservationRow {
    created_at: String,
    expires_at: String,
    numbers: Vec<AvailableRow>,
    /// When its purchase completes, and whether it succeeds.
    purchase: Option<(String, bool)>,
}

impl ReservationRow {
    /// The row of `r`.
    pub fn of(r: &Reservation) -> Self {
        Self {
            created_at: time(r.created_at),
            expires_at: time(r.expires_at),
            numbers: r
                .numbers
                .iter()
                .map(|(id, n)| AvailableRow {
                    id: id.clone(),
                    number: n.number.to_string(),
                    country: n.country.clone(),
                    number_type: n.number_type.as_str().to_string(),
                    assignment: n.assignment.as_str().to_string(),
                    capabilities: capabilities_row(n.capabilities),
                    cost: n.cost.amount,
                })
                .collect(),
            purchase: r.purchase.map(|(at, ok)| (time(at), ok)),
        }
    }

    /// The reservation `id`.
    pub fn into_reservation(self, id: &str) -> Result<Reservation, RowError> {
        Ok(Reservation {
            id: id.to_string(),
            created_at: parse_time(&self.created_at)?,
            expires_at: parse_time(&self.expires_at)?,
            numbers: self
                .numbers
                .into_iter()
                .map(|n| {
                    Ok((
                        n.id,
                        AvailableNumber {
                            number: number(&n.number)?,
                            country: n.country,
                            number_type: number_type(&n.number_type)?,
                            assignment: assignment(&n.assignment)?,
                            capabilities: capabilities(&n.capabilities)?,
                            cost: Cost { amount: n.cost },
                        },
                    ))
                })
                .collect::<Result<_, RowError>>()?,
            purchase: self
                .purchase
                .map(|(at, ok)| Ok::<_, RowError>((parse_time(&at)?, ok)))
                .transpose()?,
        })
    }
}

/// A SIP trunk: its FQDN and port.
#[derive(Debug, Serialize, Deserialize)]
pub struct TrunkRow {
    fqdn: String,
    port: i32,
}

/// A SIP route.
#[derive(Debug, Serialize, Deserialize)]
pub struct RouteRow {
    name: String,
    description: Option<String>,
    number_pattern: String,
    trunks: Vec<String>,
}

/// The SIP routing configuration: trunks, and routes in the order they apply.
#[derive(Debug, Serialize, Deserialize)]
pub struct SipRow {
    trunks: Vec<TrunkRow>,
    routes: Vec<RouteRow>,
}

impl SipRow {
    /// The row of `sip`.
    pub fn of(sip: &SipConfig) -> Self {
        Self {
            trunks: sip
                .trunks
                .iter()
                .map(|(fqdn, t)| TrunkRow {
                    fqdn: fqdn.clone(),
                    port: t.port,
                })
                .collect(),
            routes: sip
                .routes
                .iter()
                .map(|r| RouteRow {
                    name: r.name.clone(),
                    description: r.description.clone(),
                    number_pattern: r.number_pattern.clone(),
                    trunks: r.trunks.clone(),
                })
                .collect(),
        }
    }

    /// The configuration.
    pub fn into_sip(self) -> SipConfig {
        SipConfig {
            trunks: self
                .trunks
                .into_iter()
                .map(|t| (t.fqdn, Trunk { port: t.port }))
                .collect(),
            routes: self
                .routes
                .into_iter()
                .map(|r| Route {
                    name: r.name,
                    description: r.description,
                    number_pattern: r.number_pattern,
                    trunks: r.trunks,
                })
                .collect(),
        }
    }
}
