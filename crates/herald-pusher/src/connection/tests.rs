use super::*;
use std::sync::Arc;

const KEY: &str = "app-key";
const SECRET: &str = "app-secret";

fn rules() -> AppRules {
    AppRules {
        key: KEY.to_owned(),
        secret: SECRET.to_owned(),
        client_events: true,
        client_event_rate: Some(10),
        max_user_info_size: 1024,
        max_event_size: 10 * 1024,
    }
}

fn connection(now: Instant) -> Connection {
    Connection::new(SocketId::new(1, 2), Arc::new(rules()), now)
}

fn handle(c: &mut Connection, frame: &str, now: Instant) -> Vec<Action> {
    let mut out = Vec::new();
    c.handle_frame(frame, now, &mut out);
    out
}

/// `auth` for `channel` on socket 1.2, with `channel_data` signed when given.
fn auth(channel: &str, channel_data: Option<&str>) -> String {
    let mut signed = format!("1.2:{channel}");
    if let Some(data) = channel_data {
        signed.push(':');
        signed.push_str(data);
    }
    format!("{KEY}:{}", sign::hmac_hex(SECRET, signed.as_bytes()))
}

fn subscribe_frame(channel: &str, auth: Option<&str>, channel_data: Option<&str>) -> String {
    let mut data = serde_json::json!({ "channel": channel });
    if let Some(auth) = auth {
        data["auth"] = auth.into();
    }
    if let Some(channel_data) = channel_data {
        data["channel_data"] = channel_data.into();
    }
    serde_json::json!({"event": "pusher:subscribe", "data": data}).to_string()
}

fn channel(name: &str) -> Channel {
    Channel::parse(name).expect("valid")
}

fn sent(actions: &[Action]) -> Vec<serde_json::Value> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(text) => Some(serde_json::from_str(text).expect("JSON")),
            _ => None,
        })
        .collect()
}

/// Subscribes and completes the shell's side; returns the answer.
fn subscribe_active(c: &mut Connection, name: &str, now: Instant) -> serde_json::Value {
    let actions = handle(
        c,
        &subscribe_frame(name, Some(&auth(name, None)), None),
        now,
    );
    assert!(
        matches!(actions.as_slice(), [Action::Subscribe { .. }]),
        "{actions:?}"
    );
    let Some(Action::Send(answer)) = c.subscribed(&channel(name), [], None) else {
        panic!("an answer");
    };
    serde_json::from_str(&answer).expect("JSON")
}

#[test]
fn established_says_the_socket_id_and_timeout() {
    let c = connection(Instant::now());
    let frame: serde_json::Value =
        serde_json::from_str(&c.established(Duration::from_secs(120))).expect("JSON");
    assert_eq!(frame["event"], "pusher:connection_established");
    assert_eq!(
        frame["data"],
        r#"{"socket_id":"1.2","activity_timeout":120}"#
    );
}

#[test]
fn public_subscribe_and_unsubscribe() {
    let now = Instant::now();
    let mut c = connection(now);
    let actions = handle(&mut c, &subscribe_frame("news", None, None), now);
    assert_eq!(
        actions,
        [Action::Subscribe {
            channel: channel("news"),
            member: None
        }]
    );
    // A second subscribe while it is on its way changes nothing.
    assert!(handle(&mut c, &subscribe_frame("news", None, None), now).is_empty());
    let answer = c.subscribed(&channel("news"), [], None);
    assert_eq!(
        answer,
        Some(Action::Send(server::subscription_succeeded(&channel(
            "news"
        ))))
    );
    let actions = handle(
        &mut c,
        r#"{"event":"pusher:unsubscribe","data":{"channel":"news"}}"#,
        now,
    );
    assert_eq!(
        actions,
        [Action::Unsubscribe {
            channel: channel("news")
        }]
    );
    // Unsubscribing again, or a late answer, does nothing.
    assert!(
        handle(
            &mut c,
            r#"{"event":"pusher:unsubscribe","data":{"channel":"news"}}"#,
            now
        )
        .is_empty()
    );
    assert_eq!(c.subscribed(&channel("news"), [], None), None);
}

#[test]
fn private_channels_need_a_valid_signature() {
    let now = Instant::now();
    let mut c = connection(now);
    let good = subscribe_frame("private-a", Some(&auth("private-a", None)), None);
    assert!(matches!(
        handle(&mut c, &good, now).as_slice(),
        [Action::Subscribe { .. }]
    ));
    for bad in [
        subscribe_frame("private-b", None, None),
        subscribe_frame("private-b", Some(&auth("private-a", None)), None),
        subscribe_frame("private-b", Some("app-key:00"), None),
        subscribe_frame("private-encrypted-b", Some(&auth("private-b", None)), None),
    ] {
        let actions = handle(&mut c, &bad, now);
        let frames = sent(&actions);
        assert_eq!(actions.len(), 1, "{bad}");
        assert_eq!(frames[0]["event"], "pusher:subscription_error", "{bad}");
        assert_eq!(frames[0]["data"]["type"], "AuthError");
        assert_eq!(frames[0]["data"]["status"], 401);
    }
}

#[test]
fn presence_members() {
    let now = Instant::now();
    let mut c = connection(now);
    let data = r#"{"user_id":"u1","user_info":{"name":"A"}}"#;
    let frame = subscribe_frame(
        "presence-r",
        Some(&auth("presence-r", Some(data))),
        Some(data),
    );
    let actions = handle(&mut c, &frame, now);
    let [
        Action::Subscribe {
            channel: ch,
            member: Some(member),
        },
    ] = actions.as_slice()
    else {
        panic!("a presence subscribe: {actions:?}");
    };
    assert_eq!(ch.as_str(), "presence-r");
    assert_eq!(member.user_id, "u1");
    let info = RawValue::from_string(r#"{"name":"A"}"#.to_owned()).expect("valid");
    let Some(Action::Send(answer)) = c.subscribed(
        &channel("presence-r"),
        [("u1", Some(&*info))],
        Some("u1".to_owned()),
    ) else {
        panic!("an answer");
    };
    let answer: serde_json::Value = serde_json::from_str(&answer).expect("JSON");
    let presence: serde_json::Value =
        serde_json::from_str(answer["data"].as_str().expect("a string")).expect("JSON");
    assert_eq!(presence["presence"]["count"], 1);
    assert_eq!(presence["presence"]["hash"]["u1"]["name"], "A");

    // Without channel_data, with unsigned channel_data, or with too much user_info: refused.
    let mut small = rules();
    small.max_user_info_size = 5;
    let mut c = Connection::new(SocketId::new(1, 2), Arc::new(small), now);
    for frame in [
        subscribe_frame("presence-r", Some(&auth("presence-r", None)), None),
        subscribe_frame("presence-r", Some(&auth("presence-r", None)), Some(data)),
        subscribe_frame(
            "presence-r",
            Some(&auth("presence-r", Some(data))),
            Some(data),
        ),
    ] {
        let frames = sent(&handle(&mut c, &frame, now));
        assert_eq!(frames[0]["event"], "pusher:subscription_error", "{frame}");
    }
}

#[test]
fn signin_and_the_users_own_channel() {
    let now = Instant::now();
    let mut c = connection(now);
    // Not signed in: the user's channel is refused.
    let frames = sent(&handle(
        &mut c,
        &subscribe_frame("#server-to-user-u1", None, None),
        now,
    ));
    assert_eq!(frames[0]["data"]["status"], 403);

    let user_data = r#"{"id":"u1"}"#;
    let signature = sign::hmac_hex(SECRET, format!("1.2::user::{user_data}").as_bytes());
    let frame = serde_json::json!({"event": "pusher:signin", "data": {"auth": format!("{KEY}:{signature}"), "user_data": user_data}});
    let actions = handle(&mut c, &frame.to_string(), now);
    assert_eq!(sent(&actions)[0]["event"], "pusher:signin_success");
    assert!(matches!(&actions[1], Action::SignedIn(user) if user.id == "u1"));
    assert_eq!(c.user().map(|u| u.id.as_str()), Some("u1"));
    assert!(matches!(
        handle(
            &mut c,
            &subscribe_frame("#server-to-user-u1", None, None),
            now
        )
        .as_slice(),
        [Action::Subscribe { .. }]
    ));
    // Another user's channel stays refused.
    let frames = sent(&handle(
        &mut c,
        &subscribe_frame("#server-to-user-u2", None, None),
        now,
    ));
    assert_eq!(frames[0]["event"], "pusher:subscription_error");

    // A bad sign-in closes with 4009 (the shell announces it with pusher:error).
    let bad = serde_json::json!({"event": "pusher:signin", "data": {"auth": format!("{KEY}:00"), "user_data": user_data}});
    let actions = handle(&mut connection(now), &bad.to_string(), now);
    assert!(matches!(actions[..], [Action::Close { code: 4009, .. }]));
}

#[test]
fn client_events_go_to_the_others_once_subscribed() {
    let now = Instant::now();
    let mut c = connection(now);
    let event = r#"{"event":"client-typing","channel":"private-a","data":{"x":1}}"#;
    // Not subscribed yet.
    assert_eq!(
        sent(&handle(&mut c, event, now))[0]["event"],
        "pusher:error"
    );
    subscribe_active(&mut c, "private-a", now);
    let actions = handle(&mut c, event, now);
    let [
        Action::Publish {
            channel: ch,
            frame,
            exclude,
            event: name,
            data,
            user_id,
        },
    ] = actions.as_slice()
    else {
        panic!("a publish: {actions:?}");
    };
    assert_eq!(ch.as_str(), "private-a");
    assert_eq!(
        frame,
        r#"{"event":"client-typing","channel":"private-a","data":{"x":1}}"#
    );
    assert_eq!(*exclude, SocketId::new(1, 2));
    assert_eq!(name, "client-typing");
    assert_eq!(data, r#"{"x":1}"#);
    assert_eq!(*user_id, None);

    // On a public channel, or with client events off: refused, nothing published.
    let mut c = connection(now);
    let actions = handle(&mut c, &subscribe_frame("news", None, None), now);
    assert_eq!(actions.len(), 1);
    c.subscribed(&channel("news"), [], None);
    let public = r#"{"event":"client-x","channel":"news","data":{}}"#;
    assert_eq!(
        sent(&handle(&mut c, public, now))[0]["event"],
        "pusher:error"
    );
    let mut off = rules();
    off.client_events = false;
    let mut c = Connection::new(SocketId::new(1, 2), Arc::new(off), now);
    subscribe_active(&mut c, "private-a", now);
    let actions = handle(&mut c, event, now);
    assert!(!actions.iter().any(|a| matches!(a, Action::Publish { .. })));
}

#[test]
fn client_events_past_the_rate_get_4301() {
    let start = Instant::now();
    let mut c = connection(start);
    subscribe_active(&mut c, "private-a", start);
    let event = r#"{"event":"client-x","channel":"private-a","data":{}}"#;
    let published =
        |actions: &[Action]| actions.iter().any(|a| matches!(a, Action::Publish { .. }));
    for _ in 0..10 {
        assert!(published(&handle(&mut c, event, start)));
    }
    let actions = handle(&mut c, event, start);
    assert!(!published(&actions));
    assert_eq!(sent(&actions)[0]["data"]["code"], 4301);
    // A tenth of a second later, one more.
    let later = start + Duration::from_millis(100);
    assert!(published(&handle(&mut c, event, later)));
    assert!(!published(&handle(&mut c, event, later)));
}

#[test]
fn pings_and_garbage() {
    let now = Instant::now();
    let mut c = connection(now);
    assert_eq!(
        handle(&mut c, r#"{"event":"pusher:ping","data":{}}"#, now),
        [Action::Send(server::pong())]
    );
    assert!(handle(&mut c, r#"{"event":"pusher:pong","data":{}}"#, now).is_empty());
    assert!(handle(&mut c, r#"{"event":"my-event","data":{}}"#, now).is_empty());
    let frames = sent(&handle(&mut c, "not json", now));
    assert_eq!(frames[0]["event"], "pusher:error");
    assert_eq!(frames[0]["data"]["code"], serde_json::Value::Null);
}

#[test]
fn a_failed_registration_answers_subscription_error() {
    let now = Instant::now();
    let mut c = connection(now);
    handle(&mut c, &subscribe_frame("news", None, None), now);
    let Some(Action::Send(text)) =
        c.subscribe_failed(&channel("news"), "LimitReached", "full", 4100)
    else {
        panic!("an answer");
    };
    assert!(text.contains(r#""type":"LimitReached""#), "{text}");
    // The client may try again.
    assert!(matches!(
        handle(&mut c, &subscribe_frame("news", None, None), now).as_slice(),
        [Action::Subscribe { .. }]
    ));
}
