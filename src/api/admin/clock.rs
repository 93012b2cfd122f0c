//! `/_emulator/clock`: read and control the emulator's clock.
//!
//! Everything time-dependent reads this one clock: user and Entra token expiry, the HMAC
//! `x-ms-date` skew check, message and SMS timestamps, delivery-report timing. Moving it lets a
//! test make tokens expire without waiting. Note that SDKs sign HMAC requests with the real time:
//! moving the clock further than `--clock-skew` makes their access-key requests fail as stale
//! (widen the skew for such tests). Moving it back before a user access token's issue time makes
//! that token "not valid yet" (401) until the clock passes it again, as Entra tokens' `nbf` does.
//!
//! - `GET  /_emulator/clock` → `{"now", "frozen", "offsetMs"}`
//! - `POST /_emulator/clock` with one of: `{"advance": "90s"}` (also `"-5m"`), `{"set": "<RFC 3339>"}`,
//!   `{"freeze": true}` / `{"freeze": false}`, `{"real": true}` (back to the system time, running).
//!   `set` and `freeze` may be combined (`{"set": "…", "freeze": true}`).
//!
//! The clock shows times from 1970-01-01T00:00:00Z to 9998-12-31T23:59:59.999Z (see
//! [`crate::clock`]); a `set` or `advance` that would leave that range is a 400 and changes
//! nothing.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::clock;
use crate::error::ApiError;
use crate::http::{AcsJson, json_response};
use crate::state::AppState;
use crate::store::{Area, Change};

/// The clock's state.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClockState {
    /// The emulated time, RFC 3339 UTC.
    pub now: String,
    /// Whether time stands still.
    pub frozen: bool,
    /// Distance from the system time in milliseconds.
    pub offset_ms: i64,
}

/// A change to the clock.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockChange {
    /// Move by a duration such as `90s`, `1h30m`, `-5m`.
    pub advance: Option<String>,
    /// Jump to this RFC 3339 time.
    pub set: Option<String>,
    /// Stop (`true`) or restart (`false`) the clock.
    pub freeze: Option<bool>,
    /// Return to the system time, running.
    pub real: Option<bool>,
}

fn state_of(state: &AppState) -> ClockState {
    ClockState {
        now: state
            .clock
            .now()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        frozen: state.clock.is_frozen(),
        offset_ms: state.clock.offset_ms(),
    }
}

/// `GET /_emulator/clock`.
pub async fn get_clock(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    json_response(StatusCode::OK, &state_of(&state))
}

fn parse_advance(text: &str) -> Result<TimeDelta, ApiError> {
    let (negative, magnitude) = match text.trim().strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.trim()),
    };
    let duration = humantime::parse_duration(magnitude).map_err(|e| {
        ApiError::validation(
            format!("advance '{text}' is not a duration such as 90s, 1h30m or -5m ({e})."),
            "advance",
        )
    })?;
    let delta = TimeDelta::from_std(duration)
        .map_err(|_| ApiError::validation(format!("advance '{text}' is too large."), "advance"))?;
    Ok(if negative { -delta } else { delta })
}

/// 400 for a change that would take the clock outside the range it can show.
fn out_of_range(field: &str, text: &str) -> ApiError {
    ApiError::validation(
        format!(
            "{field} '{text}' would take the clock outside the times it can show (1970-01-01T00:00:00Z to 9998-12-31T23:59:59.999Z)."
        ),
        field,
    )
}

/// `POST /_emulator/clock`: change the clock, answer its new state.
pub async fn change_clock(
    state: web::Data<AppState>,
    AcsJson(change): AcsJson<ClockChange>,
) -> Result<HttpResponse, ApiError> {
    if change.real == Some(true) {
        if change.advance.is_some() || change.set.is_some() || change.freeze.is_some() {
            return Err(ApiError::validation(
                "'real' cannot be combined with other changes.",
                "real",
            ));
        }
        state.clock.resume(true);
    }
    let set = change
        .set
        .as_deref()
        .map(|text| {
            let at = DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| {
                    ApiError::validation(
                        format!("set '{text}' is not an RFC 3339 time ({e})."),
                        "set",
                    )
                })?;
            if !(clock::EARLIEST..=clock::LATEST).contains(&at) {
                return Err(out_of_range("set", text));
            }
            Ok(at)
        })
        .transpose()?;
    let advance = change.advance.as_deref().map(parse_advance).transpose()?;
    if set.is_some() && advance.is_some() {
        return Err(ApiError::validation(
            "Give either 'set' or 'advance', not both.",
            "advance",
        ));
    }
    // Checked before anything changes, so that a refused request leaves the clock as it was.
    if let (Some(delta), Some(text)) = (advance, change.advance.as_deref())
        && !state
            .clock
            .now()
            .checked_add_signed(delta)
            .is_some_and(|t| (clock::EARLIEST..=clock::LATEST).contains(&t))
    {
        return Err(out_of_range("advance", text));
    }
    match change.freeze {
        Some(true) => {
            let at = set.unwrap_or_else(|| state.clock.now());
            state
                .clock
                .freeze_at(at)
                .map_err(|_| out_of_range("set", &at.to_rfc3339()))?;
        }
        Some(false) => {
            if let Some(at) = set {
                state
                    .clock
                    .set(at)
                    .map_err(|_| out_of_range("set", &at.to_rfc3339()))?;
            }
            state.clock.resume(false);
        }
        None => {
            if let Some(at) = set {
                state
                    .clock
                    .set(at)
                    .map_err(|_| out_of_range("set", &at.to_rfc3339()))?;
            }
        }
    }
    if let (Some(delta), Some(text)) = (advance, change.advance.as_deref()) {
        state
            .clock
            .advance(delta)
            .map_err(|_| out_of_range("advance", text))?;
    }
    state.events.clock_changed();
    state
        .changes
        .sink(crate::resource::DEFAULT_RESOURCE)
        .publish(Area::Clock, || Change::Clock(state.clock.state()));
    let now = state_of(&state);
    tracing::info!(now = %now.now, frozen = now.frozen, "clock changed");
    json_response(StatusCode::OK, &now)
}
