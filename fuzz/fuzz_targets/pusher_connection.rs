//! Any text frame from a Pusher client is handled without a panic, and every frame the
//! connection answers with is one JSON object with a string `event` (what pusher-js parses).
//! Frames go through one connection in turn, so state built by earlier frames (subscriptions,
//! a sign-in, the client-event bucket) is exercised too; the input is split on `\n`.
#![no_main]

use std::time::{Duration, Instant};

use herald_pusher::{Action, AppRules, Connection, SocketId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The WebSocket layer hands on only valid UTF-8 text frames.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let start = Instant::now();
    let rules = AppRules {
        key: "key".to_owned(),
        secret: "secret".to_owned(),
        client_events: true,
        client_event_rate: Some(10),
        max_user_info_size: 64,
        max_event_size: 256,
    };
    let mut connection = Connection::new(SocketId::new(1, 2), std::sync::Arc::new(rules), start);
    let mut actions = Vec::new();
    for (i, frame) in text.split('\n').enumerate() {
        let now = start + Duration::from_millis(10 * i as u64);
        connection.handle_frame(frame, now, &mut actions);
        // What the shell would do: answer every subscription it was asked to register.
        for action in std::mem::take(&mut actions) {
            let reply = match action {
                Action::Subscribe { channel, member } => {
                    let user = member.as_ref().map(|m| m.user_id.clone());
                    let info = member.as_ref().and_then(|m| m.user_info.as_deref());
                    let members = user.as_deref().map(|id| (id, info));
                    connection.subscribed(&channel, members, user.clone())
                }
                other => Some(other),
            };
            if let Some(Action::Send(frame)) = reply {
                let value: serde_json::Value =
                    serde_json::from_str(&frame).expect("the server sends JSON");
                assert!(value["event"].is_string(), "every frame has an event: {frame}");
            }
        }
    }
});
