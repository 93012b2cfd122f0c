//! The Phone Numbers API: the catalogue and its paging, search → purchase → SMS from the number
//! → capabilities → release (SMS refused) on the emulator clock, operation statuses and headers,
//! reservations, operator information, scenario rules failing operations, the journal and
//! validation.

use std::time::Duration;

use acs_emulator::Config;
use reqwest::Response;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, body, spawn_app, spawn_with};

/// The api-version the released SDKs send.
pub const V: &str = "2025-06-01";

/// A toll-free search with SMS both ways.
pub fn toll_free_search(quantity: u32) -> Value {
    json!({
        "phoneNumberType": "tollFree",
        "assignmentType": "application",
        "capabilities": {"calling": "outbound", "sms": "inbound+outbound"},
        "areaCode": "833",
        "quantity": quantity,
    })
}

fn header(res: &Response, name: &str) -> String {
    res.headers()
        .get(name)
        .unwrap_or_else(|| panic!("{name} header"))
        .to_str()
        .expect("ascii")
        .to_string()
}

impl TestApp {
    /// A signed GET of `path` (which carries its own query) with `api-version=V` added.
    pub async fn pn_get(&self, path: &str) -> Response {
        let sep = if path.contains('?') { '&' } else { '?' };
        self.signed("GET", &format!("{path}{sep}api-version={V}"), b"")
            .await
    }

    /// A signed JSON request to `path` with `api-version=V`.
    pub async fn pn_send(&self, method: &str, path: &str, body: &Value) -> Response {
        self.signed_json(method, &format!("{path}?api-version={V}"), body)
            .await
    }

    /// Polls an `Operation-Location` (relative, with its api-version).
    pub async fn pn_operation(&self, link: &str) -> Value {
        let res = self.signed("GET", link, b"").await;
        assert_eq!(res.status(), 200);
        body(res).await
    }

    /// Searches; asserts 202 and the links; returns (operation link, search id).
    pub async fn pn_search(&self, request: &Value) -> (String, String) {
        let res = self
            .pn_send(
                "POST",
                "/availablePhoneNumbers/countries/US/:search",
                request,
            )
            .await;
        assert_eq!(res.status(), 202);
        let op = header(&res, "operation-location");
        let search_id = header(&res, "search-id");
        assert_eq!(
            header(&res, "location"),
            format!("/availablePhoneNumbers/searchResults/{search_id}?api-version={V}")
        );
        assert_eq!(
            op,
            format!("/phoneNumbers/operations/search_{search_id}?api-version={V}")
        );
        assert_eq!(header(&res, "operation-id"), format!("search_{search_id}"));
        assert!(res.text().await.expect("body").is_empty());
        (op, search_id)
    }

    /// Searches, purchases and returns the numbers bought (operations complete at once).
    pub async fn pn_buy(&self, request: &Value) -> Vec<String> {
        let (op, search_id) = self.pn_search(request).await;
        assert_eq!(self.pn_operation(&op).await["status"], "succeeded");
        let result = body(
            self.pn_get(&format!("/availablePhoneNumbers/searchResults/{search_id}"))
                .await,
        )
        .await;
        let res = self
            .pn_send(
                "POST",
                "/availablePhoneNumbers/:purchase",
                &json!({"searchId": search_id}),
            )
            .await;
        assert_eq!(res.status(), 202);
        let op = header(&res, "operation-location");
        assert!(res.headers().get("location").is_none());
        let status = self.pn_operation(&op).await;
        assert_eq!(status["status"], "succeeded", "{status}");
        assert!(status["resourceLocation"].is_null());
        result["phoneNumbers"]
            .as_array()
            .expect("numbers")
            .iter()
            .map(|n| n.as_str().expect("number").to_string())
            .collect()
    }

    /// Sends an SMS from `from`; returns the status.
    pub async fn sms_from(&self, from: &str) -> u16 {
        self.send_sms(&json!({
            "from": from,
            "smsRecipients": [{"to": "+14255550123"}],
            "message": "hello",
        }))
        .await
        .status()
        .as_u16()
    }
}

fn encoded(number: &str) -> String {
    number.replace('+', "%2B")
}

#[actix_web::test]
async fn the_catalogue_pages_with_relative_next_links() {
    let app = spawn_app().await;
    let res = app
        .pn_get("/availablePhoneNumbers/countries?maxPageSize=1")
        .await;
    assert_eq!(res.status(), 200);
    let page = body(res).await;
    assert_eq!(page["countries"][0]["countryCode"], "US");
    let next = page["nextLink"].as_str().expect("nextLink");
    assert!(
        next.starts_with("/availablePhoneNumbers/countries?"),
        "{next}"
    );
    let second = body(app.signed("GET", next, b"").await).await;
    assert_eq!(second["countries"][0]["countryCode"], "CA");
    assert!(second.get("nextLink").is_none());

    let localities = body(
        app.pn_get("/availablePhoneNumbers/countries/US/localities?administrativeDivision=WA")
            .await,
    )
    .await;
    let names: Vec<&str> = localities["phoneNumberLocalities"]
        .as_array()
        .expect("list")
        .iter()
        .map(|l| l["localizedName"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["Redmond", "Seattle"]);
    assert_eq!(
        localities["phoneNumberLocalities"][0]["administrativeDivision"]["abbreviatedName"],
        "WA"
    );

    let codes = body(
        app.pn_get("/availablePhoneNumbers/countries/US/areaCodes?phoneNumberType=geographic&locality=Redmond")
            .await,
    )
    .await;
    assert_eq!(codes["areaCodes"], json!([{"areaCode": "425"}]));
    let toll_free = body(
        app.pn_get("/availablePhoneNumbers/countries/US/areaCodes?phoneNumberType=tollFree&assignmentType=application")
            .await,
    )
    .await;
    assert!(toll_free["areaCodes"].as_array().expect("list").len() > 3);
    let missing = app
        .pn_get("/availablePhoneNumbers/countries/US/areaCodes")
        .await;
    assert_error(missing, 400, "InvalidInput").await;

    let offerings = body(
        app.pn_get("/availablePhoneNumbers/countries/US/offerings?phoneNumberType=tollFree")
            .await,
    )
    .await;
    let offering = &offerings["phoneNumberOfferings"][0];
    assert_eq!(offering["assignmentType"], "application");
    assert_eq!(
        offering["availableCapabilities"],
        json!({"calling": "inbound+outbound", "sms": "inbound+outbound"})
    );
    assert_eq!(offering["cost"]["currencyCode"], "USD");
    assert_eq!(offering["cost"]["billingFrequency"], "monthly");

    let res = app
        .pn_get("/availablePhoneNumbers/countries/XX/offerings")
        .await;
    assert_eq!(res.status(), 400);
    let error = body(res).await;
    assert_eq!(error["error"]["code"], "InvalidInput");
    assert_eq!(error["error"]["message"], "Unable to parse country code.");
    assert_eq!(error["error"]["target"], "countrycode");

    // The catalogue came in 2022-12-01.
    let old = app
        .signed(
            "GET",
            "/availablePhoneNumbers/countries?api-version=2021-03-07",
            b"",
        )
        .await;
    assert_error(old, 400, "InvalidApiVersion").await;
}

#[actix_web::test]
async fn search_purchase_sms_capabilities_release_journey() {
    let app = spawn_app().await;
    // The configured number is owned, with SMS and calling both ways.
    let list = body(app.pn_get("/phoneNumbers?skip=0&top=100").await).await;
    assert_eq!(list["phoneNumbers"][0]["phoneNumber"], "+18005550100");
    assert_eq!(list["phoneNumbers"][0]["id"], "18005550100");
    assert_eq!(list["phoneNumbers"][0]["phoneNumberType"], "tollFree");

    let bought = app.pn_buy(&toll_free_search(2)).await;
    assert_eq!(bought.len(), 2);
    assert!(bought[0].starts_with("+1833555"), "{bought:?}");
    let number = &bought[0];
    assert_eq!(
        app.sms_from(number).await,
        202,
        "a bought number sends at once"
    );

    let res = app
        .pn_get(&format!("/phoneNumbers/{}", encoded(number)))
        .await;
    assert_eq!(res.status(), 200);
    let owned = body(res).await;
    assert_eq!(owned["phoneNumber"], number.as_str());
    assert_eq!(owned["id"], &number[1..]);
    assert_eq!(owned["countryCode"], "US");
    assert_eq!(owned["assignmentType"], "application");
    assert_eq!(
        owned["capabilities"],
        json!({"calling": "outbound", "sms": "inbound+outbound"})
    );
    assert!(owned["purchaseDate"].as_str().expect("date").contains('.'));
    assert_eq!(owned["cost"]["amount"], 2.0);

    // Paging the owned numbers: `top`, relative nextLink.
    let page = body(app.pn_get("/phoneNumbers?skip=0&top=1").await).await;
    assert_eq!(page["phoneNumbers"].as_array().expect("list").len(), 1);
    let next = page["nextLink"].as_str().expect("next");
    assert!(
        next.starts_with("/phoneNumbers?") && next.contains("skip=1"),
        "{next}"
    );

    // Capabilities: SMS inbound only → the number can no longer send.
    let target = format!(
        "/phoneNumbers/{}/capabilities?api-version={V}",
        encoded(number)
    );
    let res = app
        .signed_json("PATCH", &target, &json!({"sms": "inbound"}))
        .await;
    assert_eq!(res.status(), 202);
    let location = header(&res, "location");
    assert_eq!(
        location,
        format!("/phoneNumbers/%2B{}?api-version={V}", &number[1..])
    );
    let op = header(&res, "operation-location");
    assert!(
        op.starts_with("/phoneNumbers/operations/capabilities_"),
        "{op}"
    );
    assert!(body(res).await["capabilitiesUpdateId"].is_string());
    let status = app.pn_operation(&op).await;
    assert_eq!(status["status"], "succeeded");
    assert_eq!(status["operationType"], "updatePhoneNumberCapabilities");
    assert_eq!(status["resourceLocation"], location.as_str());
    let updated = body(app.signed("GET", &location, b"").await).await;
    assert_eq!(
        updated["capabilities"],
        json!({"calling": "outbound", "sms": "inbound"})
    );
    assert_eq!(app.sms_from(number).await, 401);

    // The other number still sends; released, it does not.
    let other = &bought[1];
    assert_eq!(app.sms_from(other).await, 202);
    let res = app
        .signed(
            "DELETE",
            &format!("/phoneNumbers/{}?api-version={V}", encoded(other)),
            b"",
        )
        .await;
    assert_eq!(res.status(), 202);
    let op = header(&res, "operation-location");
    assert!(res.headers().get("release-id").is_some());
    let status = app.pn_operation(&op).await;
    assert_eq!(status["status"], "succeeded");
    assert_eq!(status["operationType"], "releasePhoneNumber");
    assert_eq!(app.sms_from(other).await, 401);
    let gone = app
        .pn_get(&format!("/phoneNumbers/{}", encoded(other)))
        .await;
    let message = assert_error(gone, 404, "NotFound").await;
    assert_eq!(
        message,
        format!("Input phoneNumber {other} cannot be found.")
    );

    // A reset forgets bought numbers and keeps the configured one.
    app.reset().await;
    assert_eq!(app.sms_from(number).await, 401);
    assert_eq!(app.sms_from("+18005550100").await, 202);
}

#[actix_web::test]
async fn operations_run_on_the_emulator_clock() {
    let mut config = Config::for_tests();
    config.sms.phone_number_operation_delay = Duration::from_secs(5);
    let app = spawn_with(config).await;
    let (op, search_id) = app.pn_search(&toll_free_search(1)).await;
    let res = app.signed("GET", &op, b"").await;
    assert_eq!(header(&res, "retry-after"), "5");
    assert!(res.headers().get("location").is_none());
    let running = body(res).await;
    assert_eq!(running["status"], "running");
    assert_eq!(running["operationType"], "search");
    assert_eq!(running["lastActionDateTime"], "0001-01-01T00:00:00+00:00");
    assert_eq!(
        running["resourceLocation"],
        format!("/availablePhoneNumbers/searchResults/{search_id}?api-version={V}")
    );
    let early = app
        .pn_get(&format!("/availablePhoneNumbers/searchResults/{search_id}"))
        .await;
    assert_error(early, 404, "NotFound").await;
    app.advance_secs(5);
    let res = app.signed("GET", &op, b"").await;
    assert!(res.headers().get("retry-after").is_none());
    assert!(res.headers().get("location").is_some());
    assert_eq!(body(res).await["status"], "succeeded");
    let result = body(
        app.pn_get(&format!("/availablePhoneNumbers/searchResults/{search_id}"))
            .await,
    )
    .await;
    let number = result["phoneNumbers"][0]
        .as_str()
        .expect("number")
        .to_string();
    assert_eq!(result["error"], "NoError");
    assert!(result["searchExpiresBy"].is_string());

    let res = app
        .pn_send(
            "POST",
            "/availablePhoneNumbers/:purchase",
            &json!({"searchId": search_id}),
        )
        .await;
    let op = header(&res, "operation-location");
    assert_eq!(app.pn_operation(&op).await["status"], "running");
    assert_eq!(
        app.sms_from(&number).await,
        401,
        "not owned until the purchase completes"
    );
    app.advance_secs(5);
    assert_eq!(app.pn_operation(&op).await["status"], "succeeded");
    assert_eq!(app.sms_from(&number).await, 202);
    // A search result is bought once.
    let again = app
        .pn_send(
            "POST",
            "/availablePhoneNumbers/:purchase",
            &json!({"searchId": search_id}),
        )
        .await;
    assert_error(again, 409, "Conflict").await;
    // An expired search cannot be bought.
    let (_, late) = app.pn_search(&toll_free_search(1)).await;
    app.advance_secs(5 + 17 * 60);
    let res = app
        .pn_send(
            "POST",
            "/availablePhoneNumbers/:purchase",
            &json!({"searchId": late}),
        )
        .await;
    let op = header(&res, "operation-location");
    app.advance_secs(5);
    let failed = app.pn_operation(&op).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["code"], "ReservationExpired");
}

#[actix_web::test]
async fn searches_fail_out_of_stock_and_validate_their_input() {
    let app = spawn_app().await;
    let mut request = toll_free_search(1);
    request["areaCode"] = json!("999");
    let (op, search_id) = app.pn_search(&request).await;
    let failed = app.pn_operation(&op).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["code"], "OutOfStock");
    let missing = app
        .pn_get(&format!("/availablePhoneNumbers/searchResults/{search_id}"))
        .await;
    assert_error(missing, 404, "NotFound").await;
    // US geographic numbers are for calling only.
    let sms_geo = json!({
        "phoneNumberType": "geographic", "assignmentType": "person",
        "capabilities": {"calling": "inbound+outbound", "sms": "outbound"},
    });
    let (op, _) = app.pn_search(&sms_geo).await;
    assert_eq!(app.pn_operation(&op).await["error"]["code"], "OutOfStock");

    for (bad, target) in [
        (
            json!({"assignmentType": "application", "capabilities": {"calling": "none", "sms": "none"}}),
            "phoneNumberType",
        ),
        (
            json!({"phoneNumberType": "tollFree", "capabilities": {"calling": "none", "sms": "none"}}),
            "assignmentType",
        ),
        (
            json!({"phoneNumberType": "tollFree", "assignmentType": "application"}),
            "capabilities",
        ),
        (
            json!({"phoneNumberType": "tollFree", "assignmentType": "application", "capabilities": {"calling": "both", "sms": "none"}}),
            "capabilities",
        ),
        (
            json!({"phoneNumberType": "landline", "assignmentType": "application", "capabilities": {"calling": "none", "sms": "none"}}),
            "phoneNumberType",
        ),
        (
            json!({"phoneNumberType": "tollFree", "assignmentType": "application", "capabilities": {"calling": "none", "sms": "none"}, "quantity": 0}),
            "quantity",
        ),
        (
            json!({"phoneNumberType": "tollFree", "assignmentType": "application", "capabilities": {"calling": "none", "sms": "none"}, "quantity": 101}),
            "quantity",
        ),
        (
            json!({"phoneNumberType": "tollFree", "assignmentType": "application", "capabilities": {"calling": "none", "sms": "none"}, "areaCode": "8a3"}),
            "areaCode",
        ),
    ] {
        let res = app
            .pn_send("POST", "/availablePhoneNumbers/countries/US/:search", &bad)
            .await;
        assert_eq!(res.status(), 400, "{bad}");
        assert_eq!(body(res).await["error"]["target"], target, "{bad}");
    }
    // `mobile` came in 2025-06-01.
    let mobile = json!({"phoneNumberType": "mobile", "assignmentType": "application", "capabilities": {"calling": "none", "sms": "none"}});
    let res = app
        .signed_json(
            "POST",
            "/availablePhoneNumbers/countries/US/:search?api-version=2025-04-01",
            &mobile,
        )
        .await;
    assert_error(res, 400, "InvalidInput").await;
    let res = app
        .pn_send("POST", "/availablePhoneNumbers/:purchase", &json!({}))
        .await;
    assert_error(res, 400, "InvalidInput").await;
    let res = app
        .pn_send(
            "POST",
            "/availablePhoneNumbers/:purchase",
            &json!({"searchId": "nope"}),
        )
        .await;
    assert_error(res, 404, "NotFound").await;
    let res = app.pn_get("/phoneNumbers/not-a-number").await;
    assert_error(res, 400, "InvalidInput").await;
    let res = app
        .signed_json(
            "PATCH",
            &format!("/phoneNumbers/%2B18005550100/capabilities?api-version={V}"),
            &json!({}),
        )
        .await;
    assert_error(res, 400, "InvalidInput").await;
    let res = app.pn_get("/phoneNumbers/operations/search_nope").await;
    assert_error(res, 404, "NotFound").await;
    // A literal `+` in the path works too.
    let res = app.pn_get("/phoneNumbers/+18005550100").await;
    assert_eq!(res.status(), 200);
}

#[actix_web::test]
async fn an_operation_can_be_cancelled_by_id_and_polled_without_a_version() {
    let app = spawn_app().await;
    let (op, search_id) = app.pn_search(&toll_free_search(1)).await;
    let unversioned = op.split('?').next().expect("path").to_string();
    let status = app.pn_operation(&unversioned).await;
    assert_eq!(status["id"], format!("search_{search_id}"));
    let res = app.signed("DELETE", &op, b"").await;
    assert_eq!(res.status(), 204);
    let res = app
        .signed(
            "DELETE",
            &format!("/phoneNumbers/operations/unknown?api-version={V}"),
            b"",
        )
        .await;
    assert_error(res, 404, "NotFound").await;
}

async fn load_rules(app: &TestApp, rules: Value) {
    let res = app
        .client
        .post(format!("{}/_emulator/fixtures", app.http))
        .json(&json!({"rules": rules}))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        res.status(),
        201,
        "{}",
        res.text().await.unwrap_or_default()
    );
}

#[actix_web::test]
async fn scenario_rules_fail_searches_purchases_and_releases() {
    let app = spawn_app().await;
    load_rules(
        &app,
        json!([
            {"name": "no-stock", "times": 1, "match": {"operation": "PhoneNumbers.SearchAvailablePhoneNumbers"}, "phoneNumbers": {}},
            {"name": "no-buy", "times": 1, "match": {"operation": "PhoneNumbers.PurchasePhoneNumbers"},
             "phoneNumbers": {"code": "NotEnoughCredit", "message": "Not enough credit."}},
            {"name": "no-release", "times": 1, "match": {"operation": "PhoneNumbers.ReleasePhoneNumber"}, "phoneNumbers": {}},
        ]),
    )
    .await;
    let (op, _) = app.pn_search(&toll_free_search(1)).await;
    let failed = app.pn_operation(&op).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["code"], "OutOfStock");

    let (op, search_id) = app.pn_search(&toll_free_search(1)).await;
    assert_eq!(app.pn_operation(&op).await["status"], "succeeded");
    let res = app
        .pn_send(
            "POST",
            "/availablePhoneNumbers/:purchase",
            &json!({"searchId": search_id}),
        )
        .await;
    let failed = app.pn_operation(&header(&res, "operation-location")).await;
    assert_eq!(
        failed["error"],
        json!({"code": "NotEnoughCredit", "message": "Not enough credit."})
    );
    let result = body(
        app.pn_get(&format!("/availablePhoneNumbers/searchResults/{search_id}"))
            .await,
    )
    .await;
    let number = result["phoneNumbers"][0].as_str().expect("number");
    assert_eq!(
        app.sms_from(number).await,
        401,
        "a failed purchase buys nothing"
    );

    let res = app
        .signed(
            "DELETE",
            &format!("/phoneNumbers/%2B18005550100?api-version={V}"),
            b"",
        )
        .await;
    let failed = app.pn_operation(&header(&res, "operation-location")).await;
    assert_eq!(failed["error"]["code"], "ReleaseFailed");
    assert_eq!(
        app.sms_from("+18005550100").await,
        202,
        "a failed release keeps the number"
    );

    let journal = app
        .client
        .get(format!(
            "{}/_emulator/journal?operation=PhoneNumbers.SearchAvailablePhoneNumbers",
            app.http
        ))
        .send()
        .await
        .expect("sent");
    let journal = body(journal).await;
    assert_eq!(journal["value"].as_array().expect("entries").len(), 2);
    assert_eq!(journal["value"][0]["rule"], "no-stock");

    let res = app
        .client
        .post(format!("{}/_emulator/fixtures", app.http))
        .json(&json!({"rules": [{"name": "wrong", "match": {"operation": "PhoneNumbers.GetPhoneNumber"}, "phoneNumbers": {}}]}))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 400);
}

#[actix_web::test]
async fn reservations_reserve_extend_refuse_taken_numbers_and_purchase() {
    let app = spawn_app().await;
    let browsed = body(
        app.pn_send(
            "POST",
            "/availablePhoneNumbers/countries/US/:browse",
            &json!({"phoneNumberType": "tollFree", "capabilities": {"sms": "outbound"}, "phoneNumberPrefixes": ["1844"]}),
        )
        .await,
    )
    .await;
    let numbers = browsed["phoneNumbers"].as_array().expect("numbers");
    assert!(!numbers.is_empty());
    let first = &numbers[0];
    assert!(
        first["phoneNumber"]
            .as_str()
            .expect("n")
            .starts_with("+1844")
    );
    assert_eq!(first["status"], "available");
    let id = first["id"].as_str().expect("id").to_string();

    let reservation = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
    let path = format!("/availablePhoneNumbers/reservations/{reservation}");
    let res = app
        .pn_send(
            "PATCH",
            &path,
            &json!({"phoneNumbers": {id.clone(): first}}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let created = body(res).await;
    assert_eq!(created["status"], "active");
    assert_eq!(created["phoneNumbers"][&id]["status"], "reserved");
    let expires = created["expiresAt"].as_str().expect("expires").to_string();
    app.advance_secs(60);
    let res = app
        .pn_send("PATCH", &path, &json!({"phoneNumbers": {}}))
        .await;
    assert_eq!(res.status(), 200);
    let updated = body(res).await;
    assert!(updated["expiresAt"].as_str().expect("expires") > expires.as_str());

    // Another reservation cannot take the number: 207 with the error.
    let other = "4fa85f64-5717-4562-b3fc-2c963f66afa6";
    let res = app
        .pn_send(
            "PATCH",
            &format!("/availablePhoneNumbers/reservations/{other}"),
            &json!({"phoneNumbers": {id.clone(): first}}),
        )
        .await;
    assert_eq!(res.status(), 207);
    let partial = body(res).await;
    assert_eq!(partial["phoneNumbers"][&id]["status"], "error");
    assert_eq!(
        partial["phoneNumbers"][&id]["error"]["code"],
        "FailedToReserveNumber"
    );

    let list = body(app.pn_get("/availablePhoneNumbers/reservations").await).await;
    assert_eq!(list["reservations"].as_array().expect("list").len(), 2);
    assert!(list["reservations"][0].get("phoneNumbers").is_none());

    let res = app
        .pn_send("POST", &format!("{path}/:purchase"), &json!({}))
        .await;
    assert_eq!(res.status(), 202);
    assert_eq!(header(&res, "reservation-purchase-id"), reservation);
    let op = header(&res, "operation-location");
    let status = app.pn_operation(&op).await;
    assert_eq!(status["status"], "succeeded");
    assert_eq!(status["operationType"], "reservationPurchase");
    let number = first["phoneNumber"].as_str().expect("number");
    assert_eq!(app.sms_from(number).await, 202);
    let done = body(app.pn_get(&path).await).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["phoneNumbers"][&id]["status"], "purchased");
    let res = app
        .signed("DELETE", &format!("{path}?api-version={V}"), b"")
        .await;
    assert_error(res, 409, "Conflict").await;

    // Deleting an active reservation frees it; unknown ids are 404, bad ids 400.
    let res = app
        .signed(
            "DELETE",
            &format!("/availablePhoneNumbers/reservations/{other}?api-version={V}"),
            b"",
        )
        .await;
    assert_eq!(res.status(), 204);
    let res = app
        .pn_get(&format!("/availablePhoneNumbers/reservations/{other}"))
        .await;
    assert_error(res, 404, "NotFound").await;
    let res = app
        .pn_get("/availablePhoneNumbers/reservations/not-a-uuid")
        .await;
    assert_error(res, 400, "InvalidInput").await;

    // Reservations expire on the emulator clock.
    let third = "5fa85f64-5717-4562-b3fc-2c963f66afa6";
    let path = format!("/availablePhoneNumbers/reservations/{third}");
    let second = &numbers[1];
    let second_id = second["id"].as_str().expect("id");
    let res = app
        .pn_send(
            "PATCH",
            &path,
            &json!({"phoneNumbers": {second_id: second}}),
        )
        .await;
    assert_eq!(res.status(), 201);
    app.advance_secs(16 * 60);
    assert_eq!(body(app.pn_get(&path).await).await["status"], "expired");
    let res = app
        .pn_send("POST", &format!("{path}/:purchase"), &json!({}))
        .await;
    assert_error(res, 409, "Conflict").await;
    // Browse on 2025-02-11 does not exist.
    let res = app
        .signed_json(
            "POST",
            "/availablePhoneNumbers/countries/US/:browse?api-version=2025-02-11",
            &json!({"phoneNumberType": "tollFree"}),
        )
        .await;
    assert_error(res, 400, "InvalidApiVersion").await;
}

#[actix_web::test]
async fn operator_information_formats_known_numbers() {
    let app = spawn_app().await;
    let res = app
        .pn_send(
            "POST",
            "/operatorInformation/:search",
            &json!({"phoneNumbers": ["+18005550100", "+14255550123"], "options": {"includeAdditionalOperatorDetails": false}}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let answer = body(res).await;
    let first = &answer["values"][0];
    assert_eq!(first["phoneNumber"], "+18005550100");
    assert_eq!(first["nationalFormat"], "+1 (800) 555-0100");
    assert_eq!(first["internationalFormat"], "+1 800 555 0100");
    assert_eq!(first["isoCountryCode"], "US");
    assert_eq!(first["numberType"], "other");
    assert!(first.get("operatorDetails").is_none());
    assert_eq!(answer["values"][1]["numberType"], "geographic");
    let detailed = body(
        app.pn_send(
            "POST",
            "/operatorInformation/:search",
            &json!({"phoneNumbers": ["+14255550123", "+18005550100"], "options": {"includeAdditionalOperatorDetails": true}}),
        )
        .await,
    )
    .await;
    assert!(detailed["values"][0]["operatorDetails"]["name"].is_string());
    assert_eq!(
        detailed["values"][0]["operatorDetails"]["mobileNetworkCode"],
        "000"
    );
    // An owned number's operator is the emulator: no mobile codes, left out rather than null
    // (the spec types them as strings).
    let owned = detailed["values"][1]["operatorDetails"]
        .as_object()
        .unwrap();
    assert!(owned["name"].is_string());
    assert!(!owned.contains_key("mobileNetworkCode") && !owned.contains_key("mobileCountryCode"));
    for bad in [
        json!({}),
        json!({"phoneNumbers": ["425"]}),
        json!({"phoneNumbers": vec!["+14255550123"; 101]}),
    ] {
        let res = app
            .pn_send("POST", "/operatorInformation/:search", &bad)
            .await;
        assert_error(res, 400, "InvalidInput").await;
    }
}

#[actix_web::test]
async fn phone_number_operations_need_credentials() {
    let app = spawn_app().await;
    for path in [
        "/phoneNumbers?api-version=2025-06-01",
        "/availablePhoneNumbers/countries?api-version=2025-06-01",
        "/sip?api-version=2023-03-01",
    ] {
        let res = app
            .client
            .get(format!("{}{path}", app.http))
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), 401, "{path}");
    }
}

#[actix_web::test]
async fn fixtures_declare_numbers_that_searches_offer_first() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(format!("{}/_emulator/fixtures", app.http))
        .json(&json!({"availablePhoneNumbers": [
            {"phoneNumber": "+18335550199", "phoneNumberType": "tollFree",
             "capabilities": {"calling": "none", "sms": "outbound"}, "cost": 3.5},
        ]}))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 201);
    assert_eq!(body(res).await["availablePhoneNumbers"], 1);
    let request = json!({
        "phoneNumberType": "tollFree", "assignmentType": "application",
        "capabilities": {"calling": "none", "sms": "outbound"}, "areaCode": "833",
    });
    let bought = app.pn_buy(&request).await;
    assert_eq!(bought, ["+18335550199"]);
    let owned = body(app.pn_get("/phoneNumbers/%2B18335550199").await).await;
    assert_eq!(owned["cost"]["amount"], 3.5);
    assert_eq!(app.sms_from("+18335550199").await, 202);
    // Bought, it is no longer offered; a reset makes it available again.
    let next = app.pn_buy(&request).await;
    assert_ne!(next, ["+18335550199"]);
    app.reset().await;
    assert_eq!(app.pn_buy(&request).await, ["+18335550199"]);

    let res = app
        .client
        .post(format!("{}/_emulator/fixtures", app.http))
        .json(&json!({"availablePhoneNumbers": [{"phoneNumber": "+18335550198", "phoneNumberType": "landline"}]}))
        .send()
        .await
        .expect("sent");
    assert_error(res, 400, "InvalidFixture").await;
}

#[actix_web::test]
async fn tampered_signatures_and_oversized_bodies_change_nothing() {
    let mut config = Config::for_tests();
    config.limits.max_body_bytes = 4096;
    let app = spawn_with(config).await;
    // A tampered body (a different trunk) fails the content hash.
    let target = "/sip?api-version=2023-03-01";
    let signed = json!({"trunks": {"sbc.contoso.com": {"sipSignalingPort": 5061}}}).to_string();
    let s = app.sign("PATCH", target, signed.as_bytes());
    let mut headers = s.headers().to_vec();
    headers.push(("content-type", "application/merge-patch+json"));
    let tampered = json!({"trunks": {"evil.contoso.com": {"sipSignalingPort": 5061}}}).to_string();
    let res = app
        .send("PATCH", target, &headers, tampered.as_bytes())
        .await;
    assert_error(res, 401, "Denied").await;
    // A release signed for one number cannot release another.
    let signed_for = format!("/phoneNumbers/%2B18005550101?api-version={V}");
    let s = app.sign("DELETE", &signed_for, b"");
    let res = app
        .send(
            "DELETE",
            &format!("/phoneNumbers/%2B18005550100?api-version={V}"),
            &s.headers(),
            b"",
        )
        .await;
    assert_error(res, 401, "Denied").await;
    assert_eq!(app.sms_from("+18005550100").await, 202);
    // Bodies past --max-body-bytes are refused before they are read.
    let huge = json!({"routes": [{"name": "r", "numberPattern": "x".repeat(5000), "trunks": []}]});
    let res = app.signed_json("PATCH", target, &huge).await;
    assert_eq!(res.status(), 413);
    let huge = json!({"phoneNumbers": vec!["+14255550123"; 400]});
    let res = app
        .pn_send("POST", "/operatorInformation/:search", &huge)
        .await;
    assert_eq!(res.status(), 413);
    let sip = body(app.signed("GET", target, b"").await).await;
    assert_eq!(sip, json!({"trunks": {}, "routes": []}));
}

#[actix_web::test]
async fn a_reservation_buys_the_capabilities_it_asked_for() {
    let app = spawn_app().await;
    let id = "6fa85f64-5717-4562-b3fc-2c963f66afa6";
    let path = format!("/availablePhoneNumbers/reservations/{id}");
    let calling_only = json!({"countryCode": "US", "phoneNumberType": "tollFree", "assignmentType": "application",
                              "capabilities": {"calling": "outbound", "sms": "none"}});
    let geographic_sms = json!({"countryCode": "US", "phoneNumberType": "geographic", "assignmentType": "person",
                                "capabilities": {"calling": "outbound", "sms": "outbound"}});
    let res = app
        .pn_send(
            "PATCH",
            &path,
            &json!({"phoneNumbers": {"18885550100": calling_only, "14255550100": geographic_sms}}),
        )
        .await;
    assert_eq!(res.status(), 207, "a geographic number cannot do SMS");
    let reservation = body(res).await;
    assert_eq!(
        reservation["phoneNumbers"]["18885550100"]["capabilities"],
        json!({"calling": "outbound", "sms": "none"})
    );
    assert_eq!(
        reservation["phoneNumbers"]["14255550100"]["status"],
        "error"
    );
    let res = app
        .pn_send("POST", &format!("{path}/:purchase"), &json!({}))
        .await;
    assert_eq!(
        app.pn_operation(&header(&res, "operation-location")).await["status"],
        "succeeded"
    );
    let owned = body(app.pn_get("/phoneNumbers/%2B18885550100").await).await;
    assert_eq!(owned["capabilities"]["sms"], "none");
    assert_eq!(
        app.sms_from("+18885550100").await,
        401,
        "bought without SMS"
    );
    let res = app.pn_get("/phoneNumbers/%2B14255550100").await;
    assert_error(res, 404, "NotFound").await;
}

#[actix_web::test]
async fn deep_or_ill_typed_json_and_bad_paths_are_4xx_without_side_effects() {
    let app = spawn_app().await;
    let deep_array = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_value = format!(
        r#"{{"trunks":{{"a.contoso.com":{}1{}}}}}"#,
        r#"{"a":"#.repeat(5_000),
        "}".repeat(5_000)
    );
    let reservation = "/availablePhoneNumbers/reservations/7fa85f64-5717-4562-b3fc-2c963f66afa6";
    let cases: Vec<(&str, String, String)> = vec![
        ("POST", format!("/availablePhoneNumbers/countries/US/:search?api-version={V}"), deep_array.clone()),
        ("POST", format!("/availablePhoneNumbers/countries/US/:search?api-version={V}"), r#"{"phoneNumberType":1}"#.into()),
        ("POST", format!("/availablePhoneNumbers/countries/US/:search?api-version={V}"), r#"{"phoneNumberType":"tollFree","assignmentType":"application","capabilities":{"calling":"none","sms":"none"},"quantity":1e400}"#.into()),
        ("POST", format!("/availablePhoneNumbers/:purchase?api-version={V}"), r#"{"searchId":["x"]}"#.into()),
        ("PATCH", "/sip?api-version=2023-03-01".into(), deep_value),
        ("PATCH", "/sip?api-version=2023-03-01".into(), r#"{"trunks":[]}"#.into()),
        ("PATCH", "/sip?api-version=2023-03-01".into(), r#"{"routes":[{"name":1,"numberPattern":"x"}]}"#.into()),
        ("PATCH", format!("{reservation}?api-version={V}"), deep_array.clone()),
        ("PATCH", format!("{reservation}?api-version={V}"), r#"{"phoneNumbers":{"not-digits":{}}}"#.into()),
        ("POST", format!("/operatorInformation/:search?api-version={V}"), r#"{"phoneNumbers":"+14255550123"}"#.into()),
        ("PATCH", format!("/phoneNumbers/%2B18005550100/capabilities?api-version={V}"), r#"{"sms":true}"#.into()),
    ];
    for (method, target, body) in &cases {
        let res = app.signed(method, target, body.as_bytes()).await;
        assert_eq!(
            res.status(),
            400,
            "{method} {target} {}",
            &body[..body.len().min(60)]
        );
        assert!(crate::helpers::body(res).await["error"]["code"].is_string());
    }
    for target in [
        format!("/phoneNumbers/%ZZ1800?api-version={V}"),
        format!("/phoneNumbers/%2B1800%00?api-version={V}"),
        format!("/phoneNumbers/{}?api-version={V}", "9".repeat(5000)),
    ] {
        let res = app.signed("GET", &target, b"").await;
        assert!(res.status().is_client_error(), "{target}: {}", res.status());
    }
    assert_eq!(
        body(app.signed("GET", "/sip?api-version=2023-03-01", b"").await).await,
        json!({"trunks": {}, "routes": []})
    );
    assert_eq!(
        body(app.pn_get("/availablePhoneNumbers/reservations").await).await["reservations"],
        json!([])
    );
    let owned = body(app.pn_get("/phoneNumbers").await).await;
    assert_eq!(owned["phoneNumbers"].as_array().expect("list").len(), 1);
    assert_eq!(
        owned["phoneNumbers"][0]["capabilities"]["sms"],
        "inbound+outbound"
    );
}
