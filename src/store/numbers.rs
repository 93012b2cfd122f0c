//! Phone numbers: the inventory a resource can search and buy, the numbers it owns, number
//! searches and reservations, the phone-number operations, and the SIP routing configuration.
//!
//! Invariants:
//! - One mutex guards everything here, so that a search holding numbers, a purchase making them
//!   owned and a release giving them back are each one step, and two searches never hold the same
//!   number.
//! - Everything that happens "when the operation completes" is recorded when the operation
//!   starts, dated with its planned completion: a purchased number is owned from
//!   `owned_from` (the purchase's completion) and released from `released_at` (the release's
//!   completion); a capabilities update applies from its completion. Lookups take `now` (the
//!   emulator clock), so nothing runs in the background and moving the clock moves everything.
//!   A failed operation records nothing.
//! - The numbers the resource was configured with (`--phone-number`, fixtures) are owned from
//!   the start with SMS and calling both ways; `reset` restores exactly them.
//! - Every table is bounded: searches, reservations and operations by [`MAX_SEARCHES`],
//!   [`MAX_RESERVATIONS`] and [`MAX_OPERATIONS`] (oldest first), owned numbers by
//!   [`MAX_OWNED`] (a purchase past it fails), SIP trunks and routes by the service's own
//!   limits (checked by the API).
//! - A write that changes what a client can observe publishes a [`NumbersChange`] to its sink
//!   under the lock.
//!
//! No actix, no serde_json.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};

use super::changes::{Area, Change, Sink};
use super::lro::{Lro, LroError, LroOutcome, LroPlan, LroTable, Started};
use crate::domain::PhoneNumber;

/// The most number searches kept (oldest forgotten first).
pub const MAX_SEARCHES: usize = 1_000;
/// The most reservations kept (oldest forgotten first).
pub const MAX_RESERVATIONS: usize = 1_000;
/// The most phone-number operations kept (oldest forgotten first).
pub const MAX_OPERATIONS: usize = 10_000;
/// The most numbers one resource may own (configured ones included).
pub const MAX_OWNED: usize = 10_000;
/// The most numbers one search or reservation may hold.
pub const MAX_QUANTITY: usize = 100;
/// The most numbers declared available for one resource (fixtures).
pub const MAX_DECLARED: usize = 10_000;
/// How long a search result may be purchased (the real service: about 16 minutes).
pub const SEARCH_VALIDITY: TimeDelta = TimeDelta::minutes(16);
/// A reservation's expiry after its last change.
pub const RESERVATION_VALIDITY: TimeDelta = TimeDelta::minutes(15);
/// A reservation never lives longer than this after it was created.
pub const RESERVATION_MAX_AGE: TimeDelta = TimeDelta::hours(2);

/// `phoneNumberType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumberType {
    /// `geographic`.
    Geographic,
    /// `tollFree`.
    TollFree,
    /// `mobile` (2025-06-01).
    Mobile,
}

impl NumberType {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            NumberType::Geographic => "geographic",
            NumberType::TollFree => "tollFree",
            NumberType::Mobile => "mobile",
        }
    }

    /// Parses the wire spelling (any case).
    pub fn parse(s: &str) -> Option<Self> {
        [
            NumberType::Geographic,
            NumberType::TollFree,
            NumberType::Mobile,
        ]
        .into_iter()
        .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
}

/// `assignmentType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Assignment {
    /// `person`.
    Person,
    /// `application`.
    Application,
}

impl Assignment {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Assignment::Person => "person",
            Assignment::Application => "application",
        }
    }

    /// Parses the wire spelling (any case).
    pub fn parse(s: &str) -> Option<Self> {
        [Assignment::Person, Assignment::Application]
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
}

/// A `PhoneNumberCapabilityType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// `none`.
    None,
    /// `inbound`.
    Inbound,
    /// `outbound`.
    Outbound,
    /// `inbound+outbound`.
    InboundOutbound,
}

impl Capability {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::None => "none",
            Capability::Inbound => "inbound",
            Capability::Outbound => "outbound",
            Capability::InboundOutbound => "inbound+outbound",
        }
    }

    /// Parses the wire spelling (any case).
    pub fn parse(s: &str) -> Option<Self> {
        [
            Capability::None,
            Capability::Inbound,
            Capability::Outbound,
            Capability::InboundOutbound,
        ]
        .into_iter()
        .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }

    fn inbound(self) -> bool {
        matches!(self, Capability::Inbound | Capability::InboundOutbound)
    }

    /// Whether it includes outbound.
    pub fn outbound(self) -> bool {
        matches!(self, Capability::Outbound | Capability::InboundOutbound)
    }

    /// Whether `self` (what a number offers) includes everything `wanted` asks for.
    pub fn covers(self, wanted: Capability) -> bool {
        (!wanted.inbound() || self.inbound()) && (!wanted.outbound() || self.outbound())
    }
}

/// `PhoneNumberCapabilities`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Capabilities {
    /// `calling`.
    pub calling: Capability,
    /// `sms`.
    pub sms: Capability,
}

impl Capabilities {
    /// Both ways, both services.
    pub const ALL: Capabilities = Capabilities {
        calling: Capability::InboundOutbound,
        sms: Capability::InboundOutbound,
    };

    /// Whether `self` covers everything `wanted` asks for.
    pub fn covers(self, wanted: Capabilities) -> bool {
        self.calling.covers(wanted.calling) && self.sms.covers(wanted.sms)
    }
}

/// `PhoneNumberCost`: `amount` in `USD`, billed monthly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    /// The monthly amount in US dollars.
    pub amount: f64,
}

/// A kind of number a country offers (`PhoneNumberOffering`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Offering {
    /// ISO 3166 alpha-2 country.
    pub country: &'static str,
    /// Its type.
    pub number_type: NumberType,
    /// Its assignment type.
    pub assignment: Assignment,
    /// The most it can do.
    pub capabilities: Capabilities,
    /// What it costs.
    pub cost: Cost,
}

/// A country in the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Country {
    /// ISO 3166 alpha-2 code.
    pub code: &'static str,
    /// English name.
    pub name: &'static str,
    /// The calling code, without `+`.
    pub calling_code: &'static str,
    /// Toll-free area codes.
    pub toll_free: &'static [&'static str],
}

/// A locality with its geographic area codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locality {
    /// Its country.
    pub country: &'static str,
    /// Its name.
    pub name: &'static str,
    /// Its state or province.
    pub division: &'static str,
    /// The division's abbreviation.
    pub division_abbr: &'static str,
    /// Its geographic area codes.
    pub area_codes: &'static [&'static str],
}

/// The countries whose numbers the emulator sells.
pub const COUNTRIES: &[Country] = &[
    Country {
        code: "US",
        name: "United States",
        calling_code: "1",
        toll_free: &["800", "833", "844", "855", "866", "877", "888"],
    },
    Country {
        code: "CA",
        name: "Canada",
        calling_code: "1",
        toll_free: &["800", "833", "844", "855", "866", "877", "888"],
    },
];

/// The localities whose geographic numbers the emulator sells.
pub const LOCALITIES: &[Locality] = &[
    Locality {
        country: "US",
        name: "Redmond",
        division: "Washington",
        division_abbr: "WA",
        area_codes: &["425"],
    },
    Locality {
        country: "US",
        name: "Seattle",
        division: "Washington",
        division_abbr: "WA",
        area_codes: &["206"],
    },
    Locality {
        country: "US",
        name: "Los Angeles",
        division: "California",
        division_abbr: "CA",
        area_codes: &["213", "323"],
    },
    Locality {
        country: "US",
        name: "New York",
        division: "New York",
        division_abbr: "NY",
        area_codes: &["212"],
    },
    Locality {
        country: "CA",
        name: "Toronto",
        division: "Ontario",
        division_abbr: "ON",
        area_codes: &["416"],
    },
    Locality {
        country: "CA",
        name: "Vancouver",
        division: "British Columbia",
        division_abbr: "BC",
        area_codes: &["604"],
    },
];

const CALLING_ONLY: Capabilities = Capabilities {
    calling: Capability::InboundOutbound,
    sms: Capability::None,
};

/// What each country offers. US and Canadian geographic numbers are for calling only (SMS
/// there needs 10DLC registration, which the emulator does not model); toll-free numbers do
/// both.
pub const OFFERINGS: &[Offering] = &[
    Offering {
        country: "US",
        number_type: NumberType::TollFree,
        assignment: Assignment::Application,
        capabilities: Capabilities::ALL,
        cost: Cost { amount: 2.0 },
    },
    Offering {
        country: "US",
        number_type: NumberType::Geographic,
        assignment: Assignment::Application,
        capabilities: CALLING_ONLY,
        cost: Cost { amount: 1.0 },
    },
    Offering {
        country: "US",
        number_type: NumberType::Geographic,
        assignment: Assignment::Person,
        capabilities: CALLING_ONLY,
        cost: Cost { amount: 1.0 },
    },
    Offering {
        country: "CA",
        number_type: NumberType::TollFree,
        assignment: Assignment::Application,
        capabilities: Capabilities::ALL,
        cost: Cost { amount: 2.0 },
    },
    Offering {
        country: "CA",
        number_type: NumberType::Geographic,
        assignment: Assignment::Application,
        capabilities: CALLING_ONLY,
        cost: Cost { amount: 1.0 },
    },
];

/// The catalogue entry of `code` (any case).
pub fn country(code: &str) -> Option<&'static Country> {
    COUNTRIES.iter().find(|c| c.code.eq_ignore_ascii_case(code))
}

/// The country a number belongs to: the catalogue's, else `US` for `+1` numbers, else none.
pub fn country_of(number: &PhoneNumber) -> &'static str {
    let digits = &number.as_str()[1..];
    if digits.starts_with('1') {
        let area = digits.get(1..4).unwrap_or("");
        if LOCALITIES
            .iter()
            .any(|l| l.country == "CA" && l.area_codes.contains(&area))
        {
            return "CA";
        }
        return "US";
    }
    "ZZ"
}

/// A number's type by its area code: North American 8xx toll-free codes, geographic otherwise.
fn type_of(number: &PhoneNumber) -> NumberType {
    let digits = &number.as_str()[1..];
    let area = digits.get(1..4).unwrap_or("");
    if digits.starts_with('1') && COUNTRIES[0].toll_free.contains(&area) {
        NumberType::TollFree
    } else {
        NumberType::Geographic
    }
}

/// A number that can be searched for and bought.
#[derive(Debug, Clone, PartialEq)]
pub struct AvailableNumber {
    /// The number.
    pub number: PhoneNumber,
    /// Its country.
    pub country: String,
    /// Its type.
    pub number_type: NumberType,
    /// Its assignment type.
    pub assignment: Assignment,
    /// The most it can do.
    pub capabilities: Capabilities,
    /// What it costs.
    pub cost: Cost,
}

/// A number the resource owns (or owned, or is buying).
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedNumber {
    /// The number.
    pub number: PhoneNumber,
    /// Its country.
    pub country: String,
    /// Its type.
    pub number_type: NumberType,
    /// Its assignment type.
    pub assignment: Assignment,
    /// `purchaseDate`.
    pub purchased_at: DateTime<Utc>,
    /// What it costs.
    pub cost: Cost,
    /// From when it is owned (the purchase's completion).
    pub owned_from: DateTime<Utc>,
    /// From when it is no longer owned (a release's completion).
    pub released_at: Option<DateTime<Utc>>,
    /// Its capabilities, each from a time on (oldest first; the first from `owned_from`).
    pub capabilities: Vec<(DateTime<Utc>, Capabilities)>,
}

impl OwnedNumber {
    /// Whether it is owned at `now`.
    pub fn owned_at(&self, now: DateTime<Utc>) -> bool {
        now >= self.owned_from && self.released_at.is_none_or(|r| now < r)
    }

    /// Its capabilities at `now`.
    pub fn capabilities_at(&self, now: DateTime<Utc>) -> Capabilities {
        self.capabilities
            .iter()
            .rev()
            .find(|(from, _)| *from <= now)
            .or(self.capabilities.first())
            .map_or(Capabilities::ALL, |(_, c)| *c)
    }

    /// Whether an update or release is pending at `now` (one at a time).
    fn busy_at(&self, now: DateTime<Utc>) -> bool {
        self.released_at.is_some() || self.capabilities.iter().any(|(from, _)| *from > now)
    }
}

/// What a search asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    /// The country (upper case).
    pub country: String,
    /// Type.
    pub number_type: NumberType,
    /// Assignment type.
    pub assignment: Assignment,
    /// Capabilities wanted.
    pub capabilities: Capabilities,
    /// Area code (or prefix) wanted.
    pub area_code: Option<String>,
    /// How many (1..=[`MAX_QUANTITY`]).
    pub quantity: usize,
}

/// A search's result (`PhoneNumberSearchResult`).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResult {
    /// `searchId`.
    pub id: String,
    /// The numbers found (held for this search until it expires or is purchased).
    pub numbers: Vec<PhoneNumber>,
    /// What was asked for.
    pub request: SearchRequest,
    /// The monthly cost of one number.
    pub cost: Cost,
    /// `searchExpiresBy`.
    pub expires_by: DateTime<Utc>,
    /// The operation's planned completion: the result exists from then on.
    pub ready_at: DateTime<Utc>,
    /// A purchase of it started (it cannot be purchased twice).
    pub purchased: bool,
}

/// One change a reservation update asks for: the number's digits-only id, and the number with
/// the capabilities wanted (`None`: those it has) to add, or `None` to remove it.
pub type ReservationChange = (String, Option<(PhoneNumber, Option<Capabilities>)>);

/// A reservation's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservationStatus {
    /// `active`.
    Active,
    /// `submitted` (a purchase is running).
    Submitted,
    /// `completed`.
    Completed,
    /// `expired`.
    Expired,
}

impl ReservationStatus {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ReservationStatus::Active => "active",
            ReservationStatus::Submitted => "submitted",
            ReservationStatus::Completed => "completed",
            ReservationStatus::Expired => "expired",
        }
    }
}

/// A reservation (`PhoneNumbersReservation`).
#[derive(Debug, Clone, PartialEq)]
pub struct Reservation {
    /// Its id (a UUID the client chose).
    pub id: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it expires (unless purchased).
    pub expires_at: DateTime<Utc>,
    /// Its numbers by digits-only id.
    pub numbers: BTreeMap<String, AvailableNumber>,
    /// When a purchase started and when it completes.
    pub purchase: Option<(DateTime<Utc>, bool)>,
}

impl Reservation {
    /// Its status at `now`.
    pub fn status(&self, now: DateTime<Utc>) -> ReservationStatus {
        match self.purchase {
            Some((done, true)) if now >= done => ReservationStatus::Completed,
            Some((_, true)) => ReservationStatus::Submitted,
            _ if now >= self.expires_at => ReservationStatus::Expired,
            _ => ReservationStatus::Active,
        }
    }
}

/// The kind of a phone-number operation (`operationType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationKind {
    /// `search`.
    Search,
    /// `purchase`.
    Purchase,
    /// `releasePhoneNumber`.
    Release,
    /// `updatePhoneNumberCapabilities`.
    UpdateCapabilities,
    /// `reservationPurchase`.
    ReservationPurchase,
}

impl OperationKind {
    /// `operationType`.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::Search => "search",
            OperationKind::Purchase => "purchase",
            OperationKind::Release => "releasePhoneNumber",
            OperationKind::UpdateCapabilities => "updatePhoneNumberCapabilities",
            OperationKind::ReservationPurchase => "reservationPurchase",
        }
    }

    /// The prefix of its operation ids (`search_<guid>`).
    pub fn id_prefix(self) -> &'static str {
        match self {
            OperationKind::Search => "search",
            OperationKind::Purchase => "purchase",
            OperationKind::Release => "release",
            OperationKind::UpdateCapabilities => "capabilities",
            OperationKind::ReservationPurchase => "reservationPurchase",
        }
    }
}

/// What the store keeps with a phone-number operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberOperation {
    /// Its kind.
    pub kind: OperationKind,
    /// `resourceLocation` (search and capabilities only; includes the api-version).
    pub resource_location: Option<String>,
}

/// A SIP trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trunk {
    /// `sipSignalingPort`.
    pub port: i32,
}

/// A voice route (`TrunkRoute`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `name`.
    pub name: String,
    /// `description`.
    pub description: Option<String>,
    /// `numberPattern`.
    pub number_pattern: String,
    /// `trunks`, in order.
    pub trunks: Vec<String>,
}

/// The SIP routing configuration (`SipConfiguration`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SipConfig {
    /// Trunks by FQDN (lower case), in FQDN order.
    pub trunks: BTreeMap<String, Trunk>,
    /// Routes, in the order they apply.
    pub routes: Vec<Route>,
}

/// Why a phone-number request failed. The API answers each as `error::from` says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumbersError {
    /// 400 `InvalidInput` about `target`.
    #[error("{message}")]
    Invalid {
        /// What is wrong.
        message: String,
        /// The offending input.
        target: &'static str,
    },
    /// 404 `NotFound`: the resource does not own this number.
    #[error("Input phoneNumber {0} cannot be found.")]
    NumberNotFound(String),
    /// 404 `NotFound`: unknown search.
    #[error("Search with id {0} cannot be found.")]
    SearchNotFound(String),
    /// 404 `NotFound`: unknown operation.
    #[error("Operation with id {0} cannot be found.")]
    OperationNotFound(String),
    /// 404 `NotFound`: unknown reservation.
    #[error("Reservation with id {0} cannot be found.")]
    ReservationNotFound(String),
    /// 409 `Conflict`: the request does not fit the object's state.
    #[error("{0}")]
    Conflict(String),
}

/// What a phone-number write changed, captured under the store's lock.
#[derive(Debug, Clone, PartialEq)]
pub enum NumbersChange {
    /// Numbers were bought (owned from `at`).
    Purchased {
        /// The numbers.
        numbers: Vec<PhoneNumber>,
        /// When the purchase completes.
        at: DateTime<Utc>,
        /// Their records as stored.
        owned: Vec<OwnedNumber>,
    },
    /// A number was released (from `at`).
    Released {
        /// The number.
        number: PhoneNumber,
        /// When the release completes.
        at: DateTime<Utc>,
        /// Its record as stored (with `released_at`).
        owned: Box<OwnedNumber>,
    },
    /// A number's capabilities change (from `at`).
    CapabilitiesUpdated {
        /// The number.
        number: PhoneNumber,
        /// Its new capabilities.
        capabilities: Capabilities,
        /// When the update completes.
        at: DateTime<Utc>,
        /// Its record as stored (with the new capabilities' entry).
        owned: Box<OwnedNumber>,
    },
    /// The SIP routing configuration changed.
    SipConfigured(SipConfig),
    /// A reservation was created, changed or purchased (as it is now); `dropped` are the
    /// oldest reservations forgotten to stay under [`MAX_RESERVATIONS`].
    Reserved {
        /// The reservation.
        reservation: Box<Reservation>,
        /// The ids of the reservations forgotten.
        dropped: Vec<String>,
    },
    /// A reservation was deleted.
    ReservationDeleted(String),
}

/// Why an SMS sender is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderRefusal {
    /// The resource does not own it (now).
    NotOwned,
    /// It is owned, without outbound SMS.
    NoOutboundSms,
}

/// How an operation is planned: when it completes, and whether it fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// When it starts.
    pub now: DateTime<Utc>,
    /// When it completes.
    pub completes_at: DateTime<Utc>,
    /// The error it fails with, if scripted.
    pub failure: Option<LroError>,
}

impl Planned {
    fn plan(&self) -> LroPlan {
        LroPlan {
            running_at: self.now,
            completes_at: self.completes_at,
            outcome: match &self.failure {
                Some(e) => LroOutcome::Failed(e.clone()),
                None => LroOutcome::Succeeded,
            },
        }
    }
}

#[derive(Debug)]
struct Inner {
    base: Vec<PhoneNumber>,
    declared: Vec<AvailableNumber>,
    owned: BTreeMap<PhoneNumber, OwnedNumber>,
    searches: HashMap<String, SearchResult>,
    search_order: VecDeque<String>,
    reservations: HashMap<String, Reservation>,
    reservation_order: VecDeque<String>,
    operations: LroTable<NumberOperation>,
    sip: SipConfig,
}

/// The date configured numbers were "bought": fixed, so answers are reproducible.
fn base_purchase_date() -> DateTime<Utc> {
    DateTime::from_timestamp(1_704_067_200, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn configured(number: &PhoneNumber) -> OwnedNumber {
    let number_type = type_of(number);
    let at = DateTime::<Utc>::MIN_UTC;
    OwnedNumber {
        number: number.clone(),
        country: country_of(number).to_string(),
        number_type,
        assignment: Assignment::Application,
        purchased_at: base_purchase_date(),
        cost: Cost {
            amount: if number_type == NumberType::TollFree {
                2.0
            } else {
                1.0
            },
        },
        owned_from: at,
        released_at: None,
        capabilities: vec![(at, Capabilities::ALL)],
    }
}

impl Inner {
    fn new() -> Self {
        Self {
            base: Vec::new(),
            declared: Vec::new(),
            owned: BTreeMap::new(),
            searches: HashMap::new(),
            search_order: VecDeque::new(),
            reservations: HashMap::new(),
            reservation_order: VecDeque::new(),
            operations: LroTable::new(MAX_OPERATIONS),
            sip: SipConfig::default(),
        }
    }

    fn restore_base(&mut self) {
        self.owned = self
            .base
            .iter()
            .map(|n| (n.clone(), configured(n)))
            .collect();
    }

    /// Whether `number` is taken at `now`: owned (or being bought), held by a live search, or in
    /// a live reservation.
    fn taken(&self, number: &PhoneNumber, now: DateTime<Utc>) -> bool {
        if self
            .owned
            .get(number)
            .is_some_and(|o| o.released_at.is_none_or(|r| now < r))
        {
            return true;
        }
        if self
            .searches
            .values()
            .any(|s| !s.purchased && now < s.expires_by && s.numbers.contains(number))
        {
            return true;
        }
        let key = &number.as_str()[1..];
        // A purchased search or reservation holds nothing: its numbers are owned (or released).
        self.reservations
            .values()
            .any(|r| r.status(now) == ReservationStatus::Active && r.numbers.contains_key(key))
    }

    /// The digits of every number taken at `now` (see [`Inner::taken`]), looked up once per
    /// search rather than per candidate.
    fn held(&self, now: DateTime<Utc>) -> std::collections::HashSet<&str> {
        let owned = self
            .owned
            .values()
            .filter(|o| o.released_at.is_none_or(|r| now < r))
            .map(|o| &o.number.as_str()[1..]);
        let searched = self
            .searches
            .values()
            .filter(|s| !s.purchased && now < s.expires_by)
            .flat_map(|s| s.numbers.iter().map(|n| &n.as_str()[1..]));
        let reserved = self
            .reservations
            .values()
            .filter(|r| r.status(now) == ReservationStatus::Active)
            .flat_map(|r| r.numbers.keys().map(String::as_str));
        owned.chain(searched).chain(reserved).collect()
    }

    /// Up to `limit` available numbers fitting `request`: declared ones first, then generated
    /// ones, in a fixed order.
    fn candidates(
        &self,
        req: &SearchRequest,
        prefixes: &[String],
        limit: usize,
        now: DateTime<Utc>,
    ) -> Vec<AvailableNumber> {
        let held = self.held(now);
        let mut out: Vec<AvailableNumber> = Vec::new();
        let national = |n: &PhoneNumber, calling: &str| -> String {
            n.as_str()[1..]
                .strip_prefix(calling)
                .unwrap_or("")
                .to_string()
        };
        let calling = country(&req.country).map_or("1", |c| c.calling_code);
        let fits_prefix = |n: &PhoneNumber| {
            let nat = national(n, calling);
            let area_ok = req.area_code.as_ref().is_none_or(|a| nat.starts_with(a));
            let prefix_ok = prefixes.is_empty()
                || prefixes
                    .iter()
                    .any(|p| nat.starts_with(p.as_str()) || n.as_str()[1..].starts_with(p));
            area_ok && prefix_ok
        };
        for d in &self.declared {
            if out.len() >= limit {
                return out;
            }
            if d.country.eq_ignore_ascii_case(&req.country)
                && d.number_type == req.number_type
                && d.assignment == req.assignment
                && d.capabilities.covers(req.capabilities)
                && fits_prefix(&d.number)
                && !held.contains(&d.number.as_str()[1..])
                && !out.iter().any(|o| o.number == d.number)
            {
                out.push(d.clone());
            }
        }
        let Some(offering) = OFFERINGS.iter().find(|o| {
            o.country.eq_ignore_ascii_case(&req.country)
                && o.number_type == req.number_type
                && o.assignment == req.assignment
        }) else {
            return out;
        };
        if !offering.capabilities.covers(req.capabilities) {
            return out;
        }
        for area in area_codes(&req.country, req.number_type, None) {
            if let Some(a) = &req.area_code
                && !area.starts_with(a.as_str())
            {
                continue;
            }
            // Skip area codes no prefix can match (either may be the longer one).
            let compatible = |p: &str, head: &str| p.starts_with(head) || head.starts_with(p);
            let full = format!("{calling}{area}");
            if !prefixes.is_empty()
                && !prefixes
                    .iter()
                    .any(|p| compatible(p, area) || compatible(p, &full))
            {
                continue;
            }
            // Fictional-looking subscriber numbers: exchange 555, lines 0100 upwards.
            for line in 100..10_000u32 {
                if out.len() >= limit {
                    return out;
                }
                let raw = format!("+{calling}{area}555{line:04}");
                let Ok(number) = PhoneNumber::parse(&raw) else {
                    continue;
                };
                if !fits_prefix(&number)
                    || held.contains(&number.as_str()[1..])
                    || out.iter().any(|o| o.number == number)
                {
                    continue;
                }
                out.push(AvailableNumber {
                    number,
                    country: offering.country.to_string(),
                    number_type: offering.number_type,
                    assignment: offering.assignment,
                    capabilities: offering.capabilities,
                    cost: offering.cost,
                });
            }
        }
        out
    }

    /// The stored records of `numbers` (for change records).
    fn records(&self, numbers: &[PhoneNumber]) -> Vec<OwnedNumber> {
        numbers
            .iter()
            .filter_map(|n| self.owned.get(n).cloned())
            .collect()
    }

    fn owned_count(&self, now: DateTime<Utc>) -> usize {
        self.owned
            .values()
            .filter(|o| o.released_at.is_none_or(|r| now < r))
            .count()
    }

    fn start(
        &mut self,
        kind: OperationKind,
        id: String,
        planned: &Planned,
        location: Option<String>,
    ) -> Lro<NumberOperation> {
        let lro = Lro {
            id,
            created_at: planned.now,
            plan: planned.plan(),
            payload: NumberOperation {
                kind,
                resource_location: location,
            },
        };
        match self.operations.start(lro) {
            Started::New(l) | Started::Existing(l) => l.clone(),
        }
    }

    fn buy(
        &mut self,
        numbers: Vec<AvailableNumber>,
        planned: &Planned,
    ) -> Result<Vec<PhoneNumber>, LroError> {
        if self.owned_count(planned.now) + numbers.len() > MAX_OWNED {
            return Err(LroError {
                code: "PurchaseFailed".into(),
                message: format!(
                    "The resource would own more than {MAX_OWNED} phone numbers, the emulator's limit."
                ),
            });
        }
        let mut bought = Vec::new();
        for n in numbers {
            let owned = OwnedNumber {
                number: n.number.clone(),
                country: n.country.clone(),
                number_type: n.number_type,
                assignment: n.assignment,
                purchased_at: planned.completes_at,
                cost: n.cost,
                owned_from: planned.completes_at,
                released_at: None,
                capabilities: vec![(planned.completes_at, n.capabilities)],
            };
            bought.push(n.number.clone());
            self.owned.insert(n.number, owned);
        }
        Ok(bought)
    }
}

/// The geographic or toll-free area codes of `country` (for `locality` when given).
pub fn area_codes(
    country_code: &str,
    number_type: NumberType,
    locality: Option<&str>,
) -> Vec<&'static str> {
    let Some(c) = country(country_code) else {
        return Vec::new();
    };
    match number_type {
        NumberType::TollFree => c.toll_free.to_vec(),
        NumberType::Geographic => LOCALITIES
            .iter()
            .filter(|l| l.country == c.code)
            .filter(|l| locality.is_none_or(|name| l.name.eq_ignore_ascii_case(name)))
            .flat_map(|l| l.area_codes.iter().copied())
            .collect(),
        NumberType::Mobile => Vec::new(),
    }
}

/// A resource's phone numbers and SIP routing.
#[derive(Debug)]
pub struct NumberStore {
    inner: Mutex<Inner>,
}

impl Default for NumberStore {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner::new()),
        }
    }
}

/// The digits-only id of a number (`id` of `PurchasedPhoneNumber`).
pub fn number_id(number: &PhoneNumber) -> String {
    number.as_str()[1..].to_string()
}

impl NumberStore {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the numbers the resource was configured with: owned from the start, SMS and calling
    /// both ways; what `clear` restores.
    pub fn set_configured(&self, numbers: &[PhoneNumber]) {
        let mut inner = self.inner();
        inner.base = numbers.to_vec();
        inner.restore_base();
    }

    /// Adds numbers that searches offer before generated ones (fixtures). At most
    /// [`MAX_DECLARED`] are kept.
    pub fn declare_available(&self, numbers: Vec<AvailableNumber>) {
        let mut inner = self.inner();
        for n in numbers {
            if inner.declared.len() >= MAX_DECLARED {
                break;
            }
            if !inner.declared.iter().any(|d| d.number == n.number) {
                inner.declared.push(n);
            }
        }
    }

    /// Records `owned` as a number the resource owns, replacing any record of it (fixtures and
    /// snapshots: a number bought before). Publishes nothing.
    pub fn insert_owned(&self, owned: OwnedNumber) {
        self.inner().owned.insert(owned.number.clone(), owned);
    }

    /// Forgets everything but the configured numbers and the declared inventory.
    pub fn clear(&self) {
        let mut inner = self.inner();
        inner.restore_base();
        inner.searches.clear();
        inner.search_order.clear();
        inner.reservations.clear();
        inner.reservation_order.clear();
        inner.operations.clear();
        inner.sip = SipConfig::default();
    }

    /// Whether `number` may send SMS at `now`.
    pub fn sms_sender(
        &self,
        number: &PhoneNumber,
        now: DateTime<Utc>,
    ) -> Result<(), SenderRefusal> {
        let inner = self.inner();
        let owned = inner
            .owned
            .get(number)
            .filter(|o| o.owned_at(now))
            .ok_or(SenderRefusal::NotOwned)?;
        if owned.capabilities_at(now).sms.outbound() {
            Ok(())
        } else {
            Err(SenderRefusal::NoOutboundSms)
        }
    }

    /// Whether the resource owns `number` at `now`.
    pub fn owns(&self, number: &PhoneNumber, now: DateTime<Utc>) -> bool {
        self.inner()
            .owned
            .get(number)
            .is_some_and(|o| o.owned_at(now))
    }

    /// The numbers owned at `now`, in number order, with their capabilities then.
    pub fn owned(&self, now: DateTime<Utc>) -> Vec<(OwnedNumber, Capabilities)> {
        self.inner()
            .owned
            .values()
            .filter(|o| o.owned_at(now))
            .map(|o| (o.clone(), o.capabilities_at(now)))
            .collect()
    }

    /// One owned number at `now`.
    pub fn owned_number(
        &self,
        number: &PhoneNumber,
        now: DateTime<Utc>,
    ) -> Result<(OwnedNumber, Capabilities), NumbersError> {
        self.inner()
            .owned
            .get(number)
            .filter(|o| o.owned_at(now))
            .map(|o| (o.clone(), o.capabilities_at(now)))
            .ok_or_else(|| NumbersError::NumberNotFound(number.to_string()))
    }

    /// Starts a search: finds the numbers (held at once) and records the operation. A search
    /// that finds fewer numbers than asked fails (`OutOfStock`), as does a scripted failure.
    pub fn search(
        &self,
        search_id: &str,
        request: SearchRequest,
        mut planned: Planned,
        location: String,
        sink: Sink<'_>,
    ) -> Lro<NumberOperation> {
        let _ = sink;
        let mut inner = self.inner();
        let now = planned.now;
        let found = if planned.failure.is_some() {
            Vec::new()
        } else {
            inner.candidates(&request, &[], request.quantity, now)
        };
        if planned.failure.is_none() && found.len() < request.quantity {
            planned.failure = Some(LroError {
                code: "OutOfStock".into(),
                message: "No phone numbers are available for this search.".into(),
            });
        }
        let succeeded = planned.failure.is_none();
        let cost = found.first().map_or(
            OFFERINGS
                .iter()
                .find(|o| {
                    o.country.eq_ignore_ascii_case(&request.country)
                        && o.number_type == request.number_type
                })
                .map_or(Cost { amount: 1.0 }, |o| o.cost),
            |n| n.cost,
        );
        if succeeded {
            let result = SearchResult {
                id: search_id.to_string(),
                numbers: found.iter().map(|n| n.number.clone()).collect(),
                request,
                cost,
                expires_by: crate::clock::saturating_add(planned.completes_at, SEARCH_VALIDITY),
                ready_at: planned.completes_at,
                purchased: false,
            };
            inner.searches.insert(search_id.to_string(), result);
            inner.search_order.push_back(search_id.to_string());
            while inner.search_order.len() > MAX_SEARCHES {
                if let Some(old) = inner.search_order.pop_front() {
                    inner.searches.remove(&old);
                }
            }
        }
        let id = format!("{}_{search_id}", OperationKind::Search.id_prefix());
        inner.start(OperationKind::Search, id, &planned, Some(location))
    }

    /// A search's result, once its operation has completed.
    pub fn search_result(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<SearchResult, NumbersError> {
        self.inner()
            .searches
            .get(id)
            .filter(|s| now >= s.ready_at)
            .cloned()
            .ok_or_else(|| NumbersError::SearchNotFound(id.to_string()))
    }

    /// Starts the purchase of a search's numbers.
    pub fn purchase(
        &self,
        search_id: &str,
        mut planned: Planned,
        sink: Sink<'_>,
    ) -> Result<Lro<NumberOperation>, NumbersError> {
        let mut inner = self.inner();
        let now = planned.now;
        let search = inner
            .searches
            .get(search_id)
            .filter(|s| now >= s.ready_at)
            .cloned()
            .ok_or_else(|| NumbersError::SearchNotFound(search_id.to_string()))?;
        if search.purchased {
            return Err(NumbersError::Conflict(format!(
                "Search with id {search_id} has already been purchased."
            )));
        }
        if planned.failure.is_none() && now >= search.expires_by {
            planned.failure = Some(LroError {
                code: "ReservationExpired".into(),
                message: format!("Search with id {search_id} has expired."),
            });
        }
        if planned.failure.is_none() {
            let numbers: Vec<AvailableNumber> = search
                .numbers
                .iter()
                .map(|n| AvailableNumber {
                    number: n.clone(),
                    country: search.request.country.clone(),
                    number_type: search.request.number_type,
                    assignment: search.request.assignment,
                    capabilities: search.request.capabilities,
                    cost: search.cost,
                })
                .collect();
            match inner.buy(numbers, &planned) {
                Ok(bought) => {
                    if let Some(s) = inner.searches.get_mut(search_id) {
                        s.purchased = true;
                    }
                    let at = planned.completes_at;
                    sink.publish(Area::Numbers, || {
                        Change::Numbers(NumbersChange::Purchased {
                            owned: inner.records(&bought),
                            numbers: bought,
                            at,
                        })
                    });
                }
                Err(e) => planned.failure = Some(e),
            }
        }
        let id = format!("{}_{search_id}", OperationKind::Purchase.id_prefix());
        Ok(inner.start(OperationKind::Purchase, id, &planned, None))
    }

    /// Starts the release of an owned number.
    pub fn release(
        &self,
        number: &PhoneNumber,
        op_id: String,
        planned: Planned,
        sink: Sink<'_>,
    ) -> Result<Lro<NumberOperation>, NumbersError> {
        let mut inner = self.inner();
        let now = planned.now;
        let owned = inner
            .owned
            .get_mut(number)
            .filter(|o| o.owned_at(now))
            .ok_or_else(|| NumbersError::NumberNotFound(number.to_string()))?;
        if owned.busy_at(now) {
            return Err(NumbersError::Conflict(format!(
                "Phone number {number} has an operation in progress."
            )));
        }
        if planned.failure.is_none() {
            owned.released_at = Some(planned.completes_at);
            let at = planned.completes_at;
            sink.publish(Area::Numbers, || {
                Change::Numbers(NumbersChange::Released {
                    number: number.clone(),
                    at,
                    owned: Box::new(owned.clone()),
                })
            });
        }
        Ok(inner.start(OperationKind::Release, op_id, &planned, None))
    }

    /// Starts a capabilities update of an owned number; `calling`/`sms` left out keep theirs.
    #[allow(clippy::too_many_arguments)]
    pub fn update_capabilities(
        &self,
        number: &PhoneNumber,
        calling: Option<Capability>,
        sms: Option<Capability>,
        op_id: String,
        planned: Planned,
        location: String,
        sink: Sink<'_>,
    ) -> Result<Lro<NumberOperation>, NumbersError> {
        let mut inner = self.inner();
        let now = planned.now;
        let owned = inner
            .owned
            .get_mut(number)
            .filter(|o| o.owned_at(now))
            .ok_or_else(|| NumbersError::NumberNotFound(number.to_string()))?;
        if owned.busy_at(now) {
            return Err(NumbersError::Conflict(format!(
                "Phone number {number} has an operation in progress."
            )));
        }
        if planned.failure.is_none() {
            let current = owned.capabilities_at(now);
            let next = Capabilities {
                calling: calling.unwrap_or(current.calling),
                sms: sms.unwrap_or(current.sms),
            };
            // Keep the history short: what applies now, then the new entry.
            owned.capabilities = vec![(owned.owned_from, current), (planned.completes_at, next)];
            let at = planned.completes_at;
            sink.publish(Area::Numbers, || {
                Change::Numbers(NumbersChange::CapabilitiesUpdated {
                    number: number.clone(),
                    capabilities: next,
                    at,
                    owned: Box::new(owned.clone()),
                })
            });
        }
        Ok(inner.start(
            OperationKind::UpdateCapabilities,
            op_id,
            &planned,
            Some(location),
        ))
    }

    /// A phone-number operation.
    pub fn operation(&self, id: &str) -> Result<Lro<NumberOperation>, NumbersError> {
        self.inner()
            .operations
            .get(id)
            .cloned()
            .ok_or_else(|| NumbersError::OperationNotFound(id.to_string()))
    }

    /// Numbers to browse (2025-04-01+): available ones fitting the request and prefixes.
    pub fn browse(
        &self,
        request: &SearchRequest,
        prefixes: &[String],
        now: DateTime<Utc>,
    ) -> Vec<AvailableNumber> {
        self.inner()
            .candidates(request, prefixes, MAX_QUANTITY, now)
    }

    /// The reservations, oldest first.
    pub fn reservations(&self) -> Vec<Reservation> {
        let inner = self.inner();
        inner
            .reservation_order
            .iter()
            .filter_map(|id| inner.reservations.get(id).cloned())
            .collect()
    }

    /// One reservation.
    pub fn reservation(&self, id: &str) -> Result<Reservation, NumbersError> {
        self.inner()
            .reservations
            .get(&id.to_ascii_lowercase())
            .cloned()
            .ok_or_else(|| NumbersError::ReservationNotFound(id.to_string()))
    }

    /// Creates or updates a reservation: `Some` adds a number (if it is available; else it
    /// comes back in the second list, refused), `None` removes it. Returns the reservation,
    /// whether it was created, and the refused ids.
    pub fn reserve(
        &self,
        id: &str,
        changes: Vec<ReservationChange>,
        now: DateTime<Utc>,
        sink: Sink<'_>,
    ) -> Result<(Reservation, bool, Vec<String>), NumbersError> {
        let mut guard = self.inner();
        let inner = &mut *guard;
        let key = id.to_ascii_lowercase();
        let created = !inner.reservations.contains_key(&key);
        let mut reservation = match inner.reservations.get(&key) {
            Some(r) => {
                if r.status(now) != ReservationStatus::Active {
                    return Err(NumbersError::Conflict(format!(
                        "Reservation {id} is {}; only active reservations can be updated.",
                        r.status(now).as_str()
                    )));
                }
                r.clone()
            }
            None => Reservation {
                id: key.clone(),
                created_at: now,
                expires_at: now,
                numbers: BTreeMap::new(),
                purchase: None,
            },
        };
        let mut refused = Vec::new();
        for (num_id, number) in changes {
            match number {
                None => {
                    reservation.numbers.remove(&num_id);
                }
                Some(_) if reservation.numbers.contains_key(&num_id) => {}
                Some((number, wanted)) => {
                    if reservation.numbers.len() >= MAX_QUANTITY {
                        refused.push(num_id);
                        continue;
                    }
                    let found = inner
                        .taken(&number, now)
                        .then_some(())
                        .map_or_else(|| available_number(inner, &number, now), |()| None);
                    // Reserved (and bought) with the capabilities asked for, if it has them.
                    match found {
                        Some(mut n) if wanted.is_none_or(|w| n.capabilities.covers(w)) => {
                            if let Some(w) = wanted {
                                n.capabilities = w;
                            }
                            reservation.numbers.insert(num_id, n);
                        }
                        _ => refused.push(num_id),
                    }
                }
            }
        }
        let cap = crate::clock::saturating_add(reservation.created_at, RESERVATION_MAX_AGE);
        reservation.expires_at = crate::clock::saturating_add(now, RESERVATION_VALIDITY).min(cap);
        inner.reservations.insert(key.clone(), reservation.clone());
        let mut dropped = Vec::new();
        if created {
            inner.reservation_order.push_back(key);
            while inner.reservation_order.len() > MAX_RESERVATIONS {
                if let Some(old) = inner.reservation_order.pop_front() {
                    inner.reservations.remove(&old);
                    dropped.push(old);
                }
            }
        }
        sink.publish(Area::Numbers, || {
            Change::Numbers(NumbersChange::Reserved {
                reservation: Box::new(reservation.clone()),
                dropped,
            })
        });
        Ok((reservation, created, refused))
    }

    /// Deletes a reservation (its numbers become available again).
    pub fn delete_reservation(
        &self,
        id: &str,
        now: DateTime<Utc>,
        sink: Sink<'_>,
    ) -> Result<(), NumbersError> {
        let mut inner = self.inner();
        let key = id.to_ascii_lowercase();
        let r = inner
            .reservations
            .get(&key)
            .ok_or_else(|| NumbersError::ReservationNotFound(id.to_string()))?;
        if matches!(
            r.status(now),
            ReservationStatus::Submitted | ReservationStatus::Completed
        ) {
            return Err(NumbersError::Conflict(format!(
                "Reservation {id} is {}; only active reservations can be deleted.",
                r.status(now).as_str()
            )));
        }
        inner.reservations.remove(&key);
        inner.reservation_order.retain(|k| k != &key);
        sink.publish(Area::Numbers, || {
            Change::Numbers(NumbersChange::ReservationDeleted(key.clone()))
        });
        Ok(())
    }

    /// Starts the purchase of a reservation's numbers.
    pub fn purchase_reservation(
        &self,
        id: &str,
        mut planned: Planned,
        sink: Sink<'_>,
    ) -> Result<Lro<NumberOperation>, NumbersError> {
        let mut inner = self.inner();
        let now = planned.now;
        let key = id.to_ascii_lowercase();
        let r = inner
            .reservations
            .get(&key)
            .cloned()
            .ok_or_else(|| NumbersError::ReservationNotFound(id.to_string()))?;
        if r.status(now) != ReservationStatus::Active {
            return Err(NumbersError::Conflict(format!(
                "Reservation {id} is {}; only active reservations can be purchased.",
                r.status(now).as_str()
            )));
        }
        if r.numbers.is_empty() {
            return Err(NumbersError::Invalid {
                message: "The reservation has no phone numbers to purchase.".into(),
                target: "reservationId",
            });
        }
        if planned.failure.is_none() {
            match inner.buy(r.numbers.values().cloned().collect(), &planned) {
                Ok(bought) => {
                    if let Some(res) = inner.reservations.get_mut(&key) {
                        res.purchase = Some((planned.completes_at, true));
                    }
                    let at = planned.completes_at;
                    let reservation = inner.reservations.get(&key).cloned();
                    sink.publish(Area::Numbers, || {
                        Change::Numbers(NumbersChange::Purchased {
                            owned: inner.records(&bought),
                            numbers: bought,
                            at,
                        })
                    });
                    if let Some(reservation) = reservation {
                        sink.publish(Area::Numbers, || {
                            Change::Numbers(NumbersChange::Reserved {
                                reservation: Box::new(reservation),
                                dropped: Vec::new(),
                            })
                        });
                    }
                }
                Err(e) => planned.failure = Some(e),
            }
        }
        let op_id = format!("{}_{key}", OperationKind::ReservationPurchase.id_prefix());
        Ok(inner.start(OperationKind::ReservationPurchase, op_id, &planned, None))
    }

    /// Puts a kept owned number back (the `--state-dir` replay at start-up): it replaces the
    /// record of the same number (a configured number released or updated at run time stays
    /// so). Publishes nothing; no cap refuses it.
    pub fn restore_owned(&self, owned: OwnedNumber) {
        self.inner().owned.insert(owned.number.clone(), owned);
    }

    /// Puts a kept reservation back, after the others (call in creation order). Publishes
    /// nothing; the oldest are forgotten past [`MAX_RESERVATIONS`] as on a create.
    pub fn restore_reservation(&self, reservation: Reservation) {
        let mut inner = self.inner();
        let key = reservation.id.clone();
        if inner
            .reservations
            .insert(key.clone(), reservation)
            .is_none()
        {
            inner.reservation_order.push_back(key);
        }
        while inner.reservation_order.len() > MAX_RESERVATIONS {
            if let Some(old) = inner.reservation_order.pop_front() {
                inner.reservations.remove(&old);
            }
        }
    }

    /// Puts the kept SIP routing configuration back. Publishes nothing.
    pub fn restore_sip(&self, sip: SipConfig) {
        self.inner().sip = sip;
    }

    /// The SIP routing configuration.
    pub fn sip(&self) -> SipConfig {
        self.inner().sip.clone()
    }

    /// Applies `update` to the SIP configuration if `check` accepts the result; the new
    /// configuration (or `check`'s error) comes back.
    pub fn update_sip<E>(
        &self,
        update: impl FnOnce(&mut SipConfig),
        check: impl FnOnce(&SipConfig) -> Result<(), E>,
        sink: Sink<'_>,
    ) -> Result<SipConfig, E> {
        let mut inner = self.inner();
        let mut next = inner.sip.clone();
        update(&mut next);
        check(&next)?;
        inner.sip = next.clone();
        sink.publish(Area::Numbers, || {
            Change::Numbers(NumbersChange::SipConfigured(next.clone()))
        });
        Ok(next)
    }
}

/// `number` as an available number, if the inventory has it: declared, or generated for a
/// country and type it belongs to.
fn available_number(
    inner: &Inner,
    number: &PhoneNumber,
    _now: DateTime<Utc>,
) -> Option<AvailableNumber> {
    if let Some(d) = inner.declared.iter().find(|d| &d.number == number) {
        return Some(d.clone());
    }
    let digits = &number.as_str()[1..];
    let country = country_of(number);
    let number_type = type_of(number);
    let area = digits.get(1..4)?;
    if !digits.starts_with('1') || !area_codes(country, number_type, None).contains(&area) {
        return None;
    }
    let offering = OFFERINGS
        .iter()
        .find(|o| o.country == country && o.number_type == number_type)?;
    Some(AvailableNumber {
        number: number.clone(),
        country: country.to_string(),
        number_type,
        assignment: offering.assignment,
        capabilities: offering.capabilities,
        cost: offering.cost,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("valid")
    }

    fn planned(now: i64, done: i64) -> Planned {
        Planned {
            now: at(now),
            completes_at: at(done),
            failure: None,
        }
    }

    fn toll_free(quantity: usize) -> SearchRequest {
        SearchRequest {
            country: "US".into(),
            number_type: NumberType::TollFree,
            assignment: Assignment::Application,
            capabilities: Capabilities {
                calling: Capability::Outbound,
                sms: Capability::InboundOutbound,
            },
            area_code: Some("833".into()),
            quantity,
        }
    }

    #[test]
    fn a_purchase_owns_the_numbers_from_its_completion_and_a_release_gives_them_back() {
        let store = NumberStore::default();
        store.set_configured(&[PhoneNumber::parse("+18005550100").expect("valid")]);
        store.search("s1", toll_free(2), planned(0, 1), "/x".into(), Sink::NONE);
        assert!(store.search_result("s1", at(0)).is_err(), "not ready yet");
        let result = store.search_result("s1", at(1)).expect("ready");
        assert_eq!(result.numbers.len(), 2);
        assert!(result.numbers[0].as_str().starts_with("+1833555"));
        // Held: a second search gets other numbers.
        store.search("s2", toll_free(1), planned(1, 1), "/x".into(), Sink::NONE);
        let other = store.search_result("s2", at(1)).expect("ready");
        assert!(!result.numbers.contains(&other.numbers[0]));
        store
            .purchase("s1", planned(2, 5), Sink::NONE)
            .expect("purchase");
        let n = &result.numbers[0];
        assert_eq!(store.sms_sender(n, at(4)), Err(SenderRefusal::NotOwned));
        assert_eq!(store.sms_sender(n, at(5)), Ok(()));
        assert!(store.purchase("s1", planned(6, 6), Sink::NONE).is_err());
        store
            .update_capabilities(
                n,
                None,
                Some(Capability::Inbound),
                "c".into(),
                planned(6, 7),
                "/y".into(),
                Sink::NONE,
            )
            .expect("update");
        assert_eq!(store.sms_sender(n, at(6)), Ok(()));
        assert_eq!(
            store.sms_sender(n, at(7)),
            Err(SenderRefusal::NoOutboundSms)
        );
        store
            .release(n, "r".into(), planned(8, 9), Sink::NONE)
            .expect("release");
        assert!(store.owns(n, at(8)));
        assert!(!store.owns(n, at(9)));
        // Released, the number is offered again.
        store.search("s3", toll_free(1), planned(9, 9), "/x".into(), Sink::NONE);
        assert_eq!(
            &store.search_result("s3", at(9)).expect("ready").numbers[0],
            n
        );
        store.clear();
        assert_eq!(store.owned(at(10)).len(), 1, "the configured number stays");
    }

    #[test]
    fn a_search_past_the_inventory_fails_out_of_stock() {
        let store = NumberStore::default();
        let mut req = toll_free(1);
        req.area_code = Some("999".into());
        let lro = store.search("s", req, planned(0, 0), "/x".into(), Sink::NONE);
        assert_eq!(
            lro.error(at(0)).map(|e| e.code.as_str()),
            Some("OutOfStock")
        );
    }

    #[test]
    fn reservations_extend_their_expiry_up_to_two_hours_and_refuse_taken_numbers() {
        let store = NumberStore::default();
        let n = PhoneNumber::parse("+14255550100").expect("valid");
        let (r, created, refused) = store
            .reserve(
                "R1",
                vec![("14255550100".into(), Some((n.clone(), None)))],
                at(0),
                Sink::NONE,
            )
            .expect("reserve");
        assert!(created && refused.is_empty());
        assert_eq!(r.expires_at, at(15 * 60));
        let (_, created, refused) = store
            .reserve(
                "r2",
                vec![("14255550100".into(), Some((n, None)))],
                at(1),
                Sink::NONE,
            )
            .expect("reserve");
        assert!(created);
        assert_eq!(refused, vec!["14255550100".to_string()]);
        let mut r = None;
        for minute in (10..=110).step_by(10) {
            let (updated, created, _) = store
                .reserve("r1", vec![], at(minute * 60), Sink::NONE)
                .expect("update");
            assert!(!created);
            r = Some(updated);
        }
        let r = r.expect("updated");
        assert_eq!(r.expires_at, at(120 * 60));
        assert_eq!(r.status(at(120 * 60)), ReservationStatus::Expired);
    }
}
