//! Publishes one round through the server's HTTP API on an open-loop schedule.
//!
//! Herald and the Socket.IO peer get the same treatment: one keep-alive connection, requests
//! pipelined in publish order (so the server sees them in order, and out-of-order arrivals are
//! the server's doing), each written when it is due whatever happened to earlier ones. Every
//! message carries its due time; receivers measure latency from it.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::adapter::{Flavor, Target};
use crate::error::BenchError;
use crate::http;
use crate::net;
use crate::payload::{Stamp, now_us};
use crate::schedule::Schedule;
use crate::stats::Latency;
use crate::tracker::Published;

/// Requests written but not yet answered before the writer waits. Bounds memory if the server
/// stops answering; the wait shows up as latency, not as a lower rate.
const MAX_IN_FLIGHT: usize = 50_000;

/// Bytes written per `write` call at most, so a burst of due messages is sent in pieces.
const WRITE_CHUNK: usize = 64 * 1024;

/// Up to this rate the publisher spins through the last [`SPIN_MARGIN`] before a due time:
/// tokio's timer fires up to a millisecond or so late, and that would be added to every latency
/// sample. Above it, spinning would take a sizeable share of a core from the server.
const SPIN_UP_TO_RATE: f64 = 50.0;

/// How long before a due time the publisher stops sleeping and spins.
const SPIN_MARGIN: Duration = Duration::from_micros(1500);

/// What a round of publishing did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishOutcome {
    /// Which messages the server accepted.
    pub published: Published,
    /// The first rejected request's status and body.
    pub first_error: Option<String>,
    /// How late each request was written, compared with its due time: the publisher's own
    /// lag (large values mean the generator, not the server, fell behind).
    pub send_lag: Latency,
    /// API round trip, from queueing a request for writing to reading its answer.
    pub response_time: Latency,
}

/// Publishes `schedule.total()` messages of `payload` bytes to `channel`, stamped with
/// `round`. `answer_timeout` bounds the wait for answers after the last request is written.
pub async fn publish_round(
    target: &Target,
    channel: &str,
    schedule: Schedule,
    round: u32,
    payload: usize,
    answer_timeout: Duration,
) -> Result<PublishOutcome, BenchError> {
    let source = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let stream = net::connect(source, target.addr, target.connect_timeout)
        .await
        .map_err(|err| {
            err.fatal(source).unwrap_or(BenchError::Unreachable {
                addr: target.addr,
                why: format!("publisher: {err}"),
            })
        })?;
    let (mut reader, mut writer) = stream.into_split();
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let total = schedule.total();
    let host = target.addr.to_string();
    let (path, key_name) = match target.flavor {
        Flavor::Pusher => ("", "channel"),
        flavor if flavor.is_herald() => ("/api/publish", "channel"),
        _ => ("/publish", "room"),
    };
    let pusher_app = match (target.flavor, &target.pusher_app) {
        (Flavor::Pusher, None) => {
            return Err(BenchError::Publish(
                "the pusher protocol needs --pusher-app ID:KEY:SECRET".to_owned(),
            ));
        }
        (Flavor::Pusher, Some(app)) => Some(app.clone()),
        _ => None,
    };
    let channel_json = serde_json::Value::from(channel).to_string();
    let start = Instant::now();
    let start_us = now_us();
    let (sent_tx, mut sent_rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();

    let write_permits = in_flight.clone();
    let write = async move {
        let mut send_lag = Latency::default();
        let mut out = Vec::with_capacity(WRITE_CHUNK + 4096);
        let mut seq = 0;
        while seq < total {
            let due_count = schedule.due_by(start.elapsed());
            if seq >= due_count {
                wait_until(
                    start + schedule.due(seq),
                    schedule.rate() <= SPIN_UP_TO_RATE,
                )
                .await;
                continue;
            }
            while seq < due_count && out.len() < WRITE_CHUNK {
                let Ok(permit) = write_permits.acquire().await else {
                    break;
                };
                permit.forget();
                let due = schedule.due(seq);
                let stamp = Stamp {
                    round,
                    seq,
                    due_us: start_us + due.as_micros() as i64,
                };
                match &pusher_app {
                    // Pusher events carry their data as a string, and every request is signed.
                    Some(app) => {
                        let data = serde_json::Value::from(stamp.encode(payload)).to_string();
                        let body =
                            format!(r#"{{"name":"bench","channel":{channel_json},"data":{data}}}"#);
                        let path = app.events_path(body.as_bytes());
                        http::write_post(&mut out, &host, &path, None, body.as_bytes());
                    }
                    None => {
                        let body = format!(
                            r#"{{"{key_name}":{channel_json},"data":{}}}"#,
                            stamp.encode(payload)
                        );
                        http::write_post(
                            &mut out,
                            &host,
                            path,
                            target.api_key.as_deref(),
                            body.as_bytes(),
                        );
                    }
                }
                send_lag.record(start.elapsed().saturating_sub(due).as_micros() as i64);
                // The reader lives as long as the writer unless it failed, and then its error
                // is the one reported.
                let _ = sent_tx.send(Instant::now());
                seq += 1;
            }
            writer
                .write_all(&out)
                .await
                .map_err(|e| format!("writing publish requests: {e}"))?;
            out.clear();
        }
        // The write half goes back to the caller: dropping it would send a FIN, and a server
        // may then drop the answers still owed (hyper does).
        Ok::<_, String>((send_lag, writer))
    };

    let read_permits = in_flight;
    let read = async move {
        let mut buf = BytesMut::with_capacity(64 * 1024);
        let mut failed = Vec::new();
        let mut first_error = None;
        let mut response_time = Latency::default();
        let mut answered = 0u64;
        while answered < total {
            while let Some(response) = http::take_response(&mut buf)? {
                // Requests are queued (with their time) before they are written, so the time of
                // the request this answers is always there.
                if let Ok(queued) = sent_rx.try_recv() {
                    response_time.record(queued.elapsed().as_micros() as i64);
                }
                if let Some(error) = rejection(target.flavor, response.status, &response.body) {
                    failed.push(answered);
                    first_error.get_or_insert(error);
                }
                answered += 1;
                read_permits.add_permits(1);
            }
            if answered >= total {
                break;
            }
            let n = reader
                .read_buf(&mut buf)
                .await
                .map_err(|e| format!("reading publish answers: {e}"))?;
            if n == 0 {
                return Err(format!(
                    "the server closed the API connection after {answered} of {total} answers"
                ));
            }
        }
        Ok::<_, String>((failed, first_error, response_time))
    };

    let deadline = schedule.span() + answer_timeout;
    let joined = tokio::time::timeout(deadline, async { tokio::try_join!(write, read) }).await;
    let ((send_lag, _writer), (failed, first_error, response_time)) = match joined {
        Ok(Ok(done)) => done,
        Ok(Err(why)) => return Err(BenchError::Publish(why)),
        Err(_) => {
            return Err(BenchError::Publish(format!(
                "the server did not answer all {total} publish requests within {deadline:?}"
            )));
        }
    };
    Ok(PublishOutcome {
        published: Published { total, failed },
        first_error,
        send_lag,
        response_time,
    })
}

/// Why an answer means the publish failed, or `None` if it succeeded. Herald answers API
/// errors with 200 and `{"error":{...}}`, like Centrifugo.
fn rejection(flavor: Flavor, status: u16, body: &[u8]) -> Option<String> {
    let text = || String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
    if status != 200 {
        return Some(format!("HTTP {status}: {}", text()));
    }
    if flavor.is_herald() {
        let parsed: Result<serde_json::Map<String, serde_json::Value>, _> =
            serde_json::from_slice(body);
        match parsed {
            Ok(map) if map.contains_key("error") => return Some(text()),
            Ok(_) => {}
            Err(_) => return Some(format!("unreadable answer: {}", text())),
        }
    }
    None
}

/// Waits for `due`: with `spin`, sleeps until [`SPIN_MARGIN`] before it, then yields the
/// thread (the publisher's own) until it comes.
async fn wait_until(due: Instant, spin: bool) {
    if !spin {
        tokio::time::sleep_until(due).await;
        return;
    }
    if let Some(early) = due.checked_sub(SPIN_MARGIN) {
        tokio::time::sleep_until(early).await;
    }
    // Bounded by `due`: at most SPIN_MARGIN plus the timer's lateness.
    while Instant::now() < due {
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_in_a_200_are_rejections() {
        assert_eq!(
            rejection(Flavor::HeraldJson, 200, br#"{"result":{}}"#),
            None
        );
        assert!(
            rejection(
                Flavor::HeraldJson,
                200,
                br#"{"error":{"code":102,"message":"unknown channel"}}"#
            )
            .is_some()
        );
        assert!(rejection(Flavor::Socketio, 400, b"bad").is_some());
        assert_eq!(rejection(Flavor::Socketio, 200, b"{\"ok\":true}"), None);
    }
}
