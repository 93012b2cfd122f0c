//! socket.io 0.9 packets as the trouter speaks them over its WebSocket: `type:id[+]:endpoint[:data]`
//! with the types 0 disconnect, 1 connect, 2 heartbeat, 3 message, 5 event and 6 ack.

/// A packet a client sent, as far as the trouter cares.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound<'a> {
    /// `0::`: the client is leaving.
    Disconnect,
    /// `1::` (a namespace connect; nothing to do).
    Connect,
    /// `2::`: the client's answer to a heartbeat.
    Heartbeat,
    /// `3:::{…}`: the client's response to a request the trouter sent (`{"id","status",…}`).
    Message(&'a str),
    /// `5:N[+]::{"name",…}`: an event; `ack` is the id to acknowledge when it asked for one.
    Event {
        /// The event's name (`user.activity`, `ping`).
        name: String,
        /// The id of a `N+` packet (acknowledge with [`ack`]).
        ack: Option<u64>,
    },
    /// Anything else (well-formed or not): ignored.
    Other,
}

/// Reads one packet.
pub fn parse(frame: &str) -> Inbound<'_> {
    let mut parts = frame.splitn(4, ':');
    let kind = parts.next().unwrap_or_default();
    let id = parts.next().unwrap_or_default();
    let _endpoint = parts.next();
    let data = parts.next().unwrap_or_default();
    match kind {
        "0" => Inbound::Disconnect,
        "1" => Inbound::Connect,
        "2" => Inbound::Heartbeat,
        "3" => Inbound::Message(data),
        "5" => {
            let ack = id.strip_suffix('+').and_then(|n| n.parse().ok());
            let name = serde_json::from_str::<serde_json::Value>(data)
                .ok()
                .and_then(|v| v.get("name").and_then(|n| n.as_str()).map(str::to_string))
                .unwrap_or_default();
            Inbound::Event { name, ack }
        }
        _ => Inbound::Other,
    }
}

/// `1::`: the socket is connected.
pub const CONNECT: &str = "1::";
/// `2::`: a heartbeat (the client echoes it).
pub const HEARTBEAT: &str = "2::";
/// `0::`: the server closes the socket.
pub const DISCONNECT: &str = "0::";

/// `5:::{"name":"trouter.connected","args":[{"ttl":…}]}`: what makes the SDK fire
/// `realTimeNotificationConnected`. It carries no `connectparams` (and never `scae`): either
/// would switch the client to another protocol.
pub fn connected(ttl_seconds: u64) -> String {
    let event = serde_json::json!({"name": "trouter.connected", "args": [{"ttl": ttl_seconds}]});
    format!("5:::{event}")
}

/// The acknowledgement of event `id`: `6:::N+[args]` (`["pong"]` for a ping, `[]` otherwise).
pub fn ack(id: u64, name: &str) -> String {
    if name == "ping" {
        format!("6:::{id}+[\"pong\"]")
    } else {
        format!("6:::{id}+[]")
    }
}

/// A request to the client: `3:::{"id","method":"POST","url","headers","body"}`, where `body` is
/// the event payload's JSON as a string (the SDK picks its handler by the body's `eventId`).
pub fn request(id: u64, url: &str, body: &str) -> String {
    let envelope = serde_json::json!({
        "id": id,
        "method": "POST",
        "url": url,
        "headers": {
            "Content-Type": "application/json; charset=UTF-8",
            "MS-CV": format!("{}.0", uuid::Uuid::new_v4().simple()),
        },
        "body": body,
    });
    format!("3:::{envelope}")
}

/// A client's response to a request: its id and status, when it reads as one.
pub fn response_status(data: &str) -> Option<(u64, u16)> {
    let value: serde_json::Value = serde_json::from_str(data).ok()?;
    let id = value.get("id")?.as_u64()?;
    let status = u16::try_from(value.get("status")?.as_u64()?).ok()?;
    Some((id, status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_read_as_the_client_sends_them() {
        assert_eq!(parse("0::"), Inbound::Disconnect);
        assert_eq!(parse("2::"), Inbound::Heartbeat);
        assert_eq!(
            parse(r#"5:1+::{"name":"user.activity","args":[{"state":"active"}]}"#),
            Inbound::Event {
                name: "user.activity".into(),
                ack: Some(1)
            }
        );
        assert_eq!(
            parse(r#"5:7+::{"name":"ping"}"#),
            Inbound::Event {
                name: "ping".into(),
                ack: Some(7)
            }
        );
        assert_eq!(
            parse(r#"5:::{"name":"x"}"#),
            Inbound::Event {
                name: "x".into(),
                ack: None
            }
        );
        assert_eq!(
            parse(r#"3:::{"id":2,"status":200}"#),
            Inbound::Message(r#"{"id":2,"status":200}"#)
        );
        assert_eq!(
            response_status(r#"{"id":2,"status":404,"body":""}"#),
            Some((2, 404))
        );
        assert_eq!(parse("garbage"), Inbound::Other);
        assert_eq!(parse(""), Inbound::Other);
        assert_eq!(ack(3, "ping"), "6:::3+[\"pong\"]");
        assert_eq!(ack(1, "user.activity"), "6:::1+[]");
    }

    #[test]
    fn a_request_carries_its_payload_as_a_string() {
        let frame = request(4, "https://h/trouter/f/x/", r#"{"eventId":200}"#);
        let json: serde_json::Value =
            serde_json::from_str(frame.strip_prefix("3:::").expect("message")).expect("json");
        assert_eq!(json["id"], 4);
        assert_eq!(json["body"], r#"{"eventId":200}"#);
    }
}
