//! One trouter WebSocket: `1::` and `trouter.connected` first, then acks for the client's
//! events, `2::` heartbeats, the notifications the hub hands it (as `3:::` requests), and the
//! bounds: frame size (enforced by the WebSocket reader), frames per second, idle time.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use actix_ws::{CloseCode, CloseReason, Message, MessageStream, Session};
use tokio::sync::mpsc;
use tokio::time::{Instant, interval_at, sleep_until};

use super::frames::{self, Inbound};
use super::hub::{Hub, Outbound, Owner, SocketInfo};

/// How long the `ttl` in `trouter.connected` says the connection lasts.
pub const CONNECTION_TTL_SECONDS: u64 = 86_400;

/// Runs a socket until either side closes it, then takes it out of the hub.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    hub: Arc<Hub>,
    owner: Owner,
    info: Arc<SocketInfo>,
    mut session: Session,
    stream: MessageStream,
    mut rx: mpsc::Receiver<Outbound>,
    loopback: mpsc::Sender<Outbound>,
    url: String,
) {
    let limits = hub.limits().clone();
    let mut stream = stream.max_frame_size(limits.max_frame_bytes);
    let reason = serve(
        &limits,
        &info,
        &mut session,
        &mut stream,
        &mut rx,
        &loopback,
        &url,
    )
    .await;
    hub.remove_socket(&owner, info.id);
    tracing::debug!(socket = info.id, user = %owner.user, reason, "trouter socket closed");
    let _ = session
        .close(Some(CloseReason {
            code: if reason == "frame flood" || reason == "protocol error" {
                CloseCode::Policy
            } else {
                CloseCode::Normal
            },
            description: Some(reason.to_string()),
        }))
        .await;
}

async fn serve(
    limits: &super::hub::Limits,
    info: &SocketInfo,
    session: &mut Session,
    stream: &mut MessageStream,
    rx: &mut mpsc::Receiver<Outbound>,
    loopback: &mpsc::Sender<Outbound>,
    url: &str,
) -> &'static str {
    if session.text(frames::CONNECT).await.is_err()
        || session
            .text(frames::connected(CONNECTION_TTL_SECONDS))
            .await
            .is_err()
    {
        return "gone";
    }
    let mut heartbeat = interval_at(Instant::now() + limits.heartbeat, limits.heartbeat);
    let mut last_seen = Instant::now();
    // Frames-per-second bound, as a budget refilled every second (bursts up to 3 s worth).
    let per_second = limits.frames_per_second.max(1);
    let mut budget = per_second.saturating_mul(3);
    let mut refill = tokio::time::interval(Duration::from_secs(1));
    let mut next_request: u64 = 1;
    loop {
        tokio::select! {
            incoming = stream.recv() => {
                let Some(incoming) = incoming else { return "client closed" };
                let Ok(message) = incoming else { return "protocol error" };
                last_seen = Instant::now();
                if budget == 0 {
                    return "frame flood";
                }
                budget -= 1;
                match message {
                    Message::Text(text) => match frames::parse(&text) {
                        Inbound::Disconnect => return "client disconnected",
                        Inbound::Event { name, ack: Some(id) } => {
                            let acked = session.text(frames::ack(id, &name)).await;
                            if acked.is_err() {
                                return "gone";
                            }
                        }
                        Inbound::Message(data) => {
                            if let Some((_, status)) = frames::response_status(data)
                                && status == 200
                            {
                                info.acknowledged.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        _ => {}
                    },
                    Message::Ping(bytes) => {
                        let ponged = session.pong(&bytes).await;
                        if ponged.is_err() {
                            return "gone";
                        }
                    }
                    Message::Close(_) => return "client closed",
                    _ => {}
                }
            }
            out = rx.recv() => {
                match out {
                    None | Some(Outbound::Close) => return "closed by the emulator",
                    Some(Outbound::Event { event, body, delay }) if !delay.is_zero() => {
                        let loopback = loopback.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(delay).await;
                            let _ = loopback
                                .send(Outbound::Event { event, body, delay: Duration::ZERO })
                                .await;
                        });
                    }
                    Some(Outbound::Event { event, body, .. }) => {
                        let frame = frames::request(next_request, url, &body);
                        next_request += 1;
                        tracing::debug!(socket = info.id, event, "notification sent");
                        if session.text(frame).await.is_err() {
                            return "gone";
                        }
                        info.sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            _ = heartbeat.tick() => {
                if session.text(frames::HEARTBEAT).await.is_err() {
                    return "gone";
                }
            }
            _ = refill.tick() => {
                budget = budget.saturating_add(per_second).min(per_second.saturating_mul(3));
            }
            () = sleep_until(last_seen + limits.idle_timeout) => {
                return "idle";
            }
        }
    }
}
