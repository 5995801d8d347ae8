//! Centrifugo's permission model as tables, one row per case: the namespace's options, who the
//! client is (anonymous or a user), whether it is subscribed, the command, and the outcome
//! (a reply, an error code, or a disconnect code). Subscribe follows the order of
//! `authorize_subscribe` (private channel, token, user-limited channel, `allow_subscribe_*`,
//! `client.insecure`); publish, presence and history follow `allow_*_for_client`, then
//! `_for_subscriber` (subscribed first), with `_for_anonymous` for the user `""`.

use std::sync::Arc;
use std::time::Duration;

use herald_hub::{
    ChannelOptions, ConnectTokenClaims, Hub, Namespace, NodeOptions, Session, SubscribeTokenClaims,
    TokenError, TokenVerifier,
};
use herald_proto::Protocol;
use regex::Regex;
use serde_json::{Value, json};

use crate::support::{send, take};

const USER: &str = "alice";

/// Connection tokens are the user name. Subscription tokens are `user|channel`; `expired` is
/// expired and `bad` invalid (a bad signature).
struct Tokens;

impl TokenVerifier for Tokens {
    fn verify_connect_token(&self, token: &str) -> Result<ConnectTokenClaims, TokenError> {
        Ok(ConnectTokenClaims {
            user: token.into(),
            ..Default::default()
        })
    }

    fn verify_subscribe_token(&self, token: &str) -> Result<SubscribeTokenClaims, TokenError> {
        match token {
            "expired" => Err(TokenError::Expired),
            "bad" => Err(TokenError::Invalid("bad signature".into())),
            _ => {
                let (user, channel) = token
                    .split_once('|')
                    .ok_or_else(|| TokenError::Invalid("not user|channel".into()))?;
                Ok(SubscribeTokenClaims {
                    user: user.into(),
                    channel: channel.into(),
                    ..Default::default()
                })
            }
        }
    }
}

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// A reply without error.
    Ok,
    /// An error reply with this code; the connection goes on.
    Error(u32),
    /// The connection is closed with this code.
    Disconnect(u16),
}

use Outcome::{Disconnect, Error, Ok as Allowed};

const PERMISSION_DENIED: Outcome = Error(103);
const UNKNOWN_CHANNEL: Outcome = Error(102);
const BAD_REQUEST: Outcome = Error(107);
const NOT_AVAILABLE: Outcome = Error(108);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anonymous,
    User,
}

use Who::{Anonymous, User};

#[derive(Debug, Clone, Copy)]
enum Command {
    Subscribe,
    /// Subscribe with this subscription token.
    SubscribeWithToken(&'static str),
    Publish,
    Presence,
    PresenceStats,
    History,
}

struct Row {
    case: &'static str,
    /// Options of the namespace `ns`.
    options: ChannelOptions,
    /// `client.insecure`.
    insecure: bool,
    who: Who,
    /// Subscribed to `channel` (with a valid subscription token) before the command.
    subscribed: bool,
    channel: &'static str,
    command: Command,
    expected: Outcome,
}

/// Options of the namespace `ns` for one row.
fn ns(set: impl FnOnce(&mut ChannelOptions)) -> ChannelOptions {
    let mut options = ChannelOptions::default();
    set(&mut options);
    options
}

fn closed() -> ChannelOptions {
    ChannelOptions::default()
}

fn with_presence(set: impl FnOnce(&mut ChannelOptions)) -> ChannelOptions {
    ns(|o| {
        o.presence = true;
        set(o);
    })
}

fn with_history(set: impl FnOnce(&mut ChannelOptions)) -> ChannelOptions {
    ns(|o| {
        o.history_size = 10;
        o.history_ttl = Duration::from_secs(300);
        set(o);
    })
}

/// A row on channel `ns:room`, not insecure, not subscribed.
fn row(
    case: &'static str,
    options: ChannelOptions,
    who: Who,
    command: Command,
    expected: Outcome,
) -> Row {
    Row {
        case,
        options,
        insecure: false,
        who,
        subscribed: false,
        channel: "ns:room",
        command,
        expected,
    }
}

impl Row {
    fn on(self, channel: &'static str) -> Self {
        Self { channel, ..self }
    }

    fn subscribed(self) -> Self {
        Self {
            subscribed: true,
            ..self
        }
    }

    fn insecure(self) -> Self {
        Self {
            insecure: true,
            ..self
        }
    }
}

#[tokio::test]
async fn subscribe_permissions() {
    use Command::{Subscribe, SubscribeWithToken as WithToken};
    let for_client = || ns(|o| o.allow_subscribe_for_client = true);
    let for_everyone = || {
        ns(|o| {
            o.allow_subscribe_for_client = true;
            o.allow_subscribe_for_anonymous = true;
        })
    };
    let user_limited = || ns(|o| o.allow_user_limited_channels = true);
    let lowercase = || {
        ns(|o| {
            o.allow_subscribe_for_client = true;
            o.channel_regex = Some(Regex::new("^[a-z]+$").expect("regex"));
        })
    };
    let rows = vec![
        row("no option", closed(), User, Subscribe, PERMISSION_DENIED),
        row("for client: a user", for_client(), User, Subscribe, Allowed),
        row(
            "for client: anonymous",
            for_client(),
            Anonymous,
            Subscribe,
            PERMISSION_DENIED,
        ),
        row(
            "for client and anonymous: anonymous",
            for_everyone(),
            Anonymous,
            Subscribe,
            Allowed,
        ),
        row(
            "for anonymous alone allows nothing",
            ns(|o| o.allow_subscribe_for_anonymous = true),
            Anonymous,
            Subscribe,
            PERMISSION_DENIED,
        ),
        row(
            "already subscribed",
            for_client(),
            User,
            Subscribe,
            Error(105),
        )
        .subscribed(),
        row(
            "unknown namespace",
            for_client(),
            User,
            Subscribe,
            UNKNOWN_CHANNEL,
        )
        .on("nope:room"),
        row("regex matches", lowercase(), User, Subscribe, Allowed).on("ns:room"),
        row(
            "regex does not match",
            lowercase(),
            User,
            Subscribe,
            BAD_REQUEST,
        )
        .on("ns:Room1"),
        row(
            "non-ASCII without a regex",
            for_client(),
            User,
            Subscribe,
            BAD_REQUEST,
        )
        .on("ns:salle-à-manger"),
        row(
            "private channel without a token, even for clients",
            for_everyone(),
            User,
            Subscribe,
            PERMISSION_DENIED,
        )
        .on("$ns:room"),
        row(
            "private channel with a token",
            closed(),
            User,
            WithToken("alice|$ns:room"),
            Allowed,
        )
        .on("$ns:room"),
        row(
            "a token needs no subscribe option",
            closed(),
            User,
            WithToken("alice|ns:room"),
            Allowed,
        ),
        row(
            "an anonymous token for an anonymous client",
            closed(),
            Anonymous,
            WithToken("|ns:room"),
            Allowed,
        ),
        row(
            "a token for another channel",
            for_client(),
            User,
            WithToken("alice|ns:other"),
            Disconnect(3500),
        ),
        row(
            "a token for another user",
            for_client(),
            User,
            WithToken("bob|ns:room"),
            Disconnect(3500),
        ),
        row(
            "an invalid token is refused even where clients may subscribe",
            for_client(),
            User,
            WithToken("bad"),
            PERMISSION_DENIED,
        ),
        row(
            "an expired token",
            closed(),
            User,
            WithToken("expired"),
            Error(109),
        ),
        row(
            "user-limited channel, listed",
            user_limited(),
            User,
            Subscribe,
            Allowed,
        )
        .on("ns:dialog#bob,alice"),
        row(
            "user-limited channel, not listed",
            ns(|o| {
                o.allow_user_limited_channels = true;
                o.allow_subscribe_for_client = true;
            }),
            User,
            Subscribe,
            PERMISSION_DENIED,
        )
        .on("ns:dialog#bob,carol"),
        row(
            "user-limited channel without the option, even for clients",
            for_client(),
            User,
            Subscribe,
            PERMISSION_DENIED,
        )
        .on("ns:dialog#alice"),
        row(
            "user-limited channel, anonymous",
            user_limited(),
            Anonymous,
            Subscribe,
            PERMISSION_DENIED,
        )
        .on("ns:dialog#alice"),
        row(
            "insecure allows what no option does",
            closed(),
            Anonymous,
            Subscribe,
            Allowed,
        )
        .insecure(),
        row(
            "insecure does not open private channels",
            closed(),
            User,
            Subscribe,
            PERMISSION_DENIED,
        )
        .on("$ns:room")
        .insecure(),
        row(
            "an empty channel name",
            for_client(),
            User,
            Subscribe,
            Disconnect(3501),
        )
        .on(""),
    ];
    check(rows).await;
}

#[tokio::test]
async fn publish_permissions() {
    use Command::Publish;
    let rows = vec![
        row("no option", closed(), User, Publish, PERMISSION_DENIED).subscribed(),
        row(
            "for client: a user",
            ns(|o| o.allow_publish_for_client = true),
            User,
            Publish,
            Allowed,
        ),
        row(
            "for client: anonymous",
            ns(|o| o.allow_publish_for_client = true),
            Anonymous,
            Publish,
            PERMISSION_DENIED,
        ),
        row(
            "for client and anonymous: anonymous",
            ns(|o| {
                o.allow_publish_for_client = true;
                o.allow_publish_for_anonymous = true;
            }),
            Anonymous,
            Publish,
            Allowed,
        ),
        row(
            "for subscriber: not subscribed",
            ns(|o| o.allow_publish_for_subscriber = true),
            User,
            Publish,
            PERMISSION_DENIED,
        ),
        row(
            "for subscriber: subscribed",
            ns(|o| o.allow_publish_for_subscriber = true),
            User,
            Publish,
            Allowed,
        )
        .subscribed(),
        row(
            "for subscriber: subscribed but anonymous",
            ns(|o| o.allow_publish_for_subscriber = true),
            Anonymous,
            Publish,
            PERMISSION_DENIED,
        )
        .subscribed(),
        row(
            "for subscriber and anonymous: subscribed and anonymous",
            ns(|o| {
                o.allow_publish_for_subscriber = true;
                o.allow_publish_for_anonymous = true;
            }),
            Anonymous,
            Publish,
            Allowed,
        )
        .subscribed(),
        row(
            "for anonymous alone allows nothing",
            ns(|o| o.allow_publish_for_anonymous = true),
            Anonymous,
            Publish,
            PERMISSION_DENIED,
        )
        .subscribed(),
        row(
            "subscribe permission is not publish permission",
            ns(|o| o.allow_subscribe_for_client = true),
            User,
            Publish,
            PERMISSION_DENIED,
        )
        .subscribed(),
        row("insecure", closed(), Anonymous, Publish, Allowed).insecure(),
        row(
            "unknown namespace",
            ns(|o| o.allow_publish_for_client = true),
            User,
            Publish,
            UNKNOWN_CHANNEL,
        )
        .on("nope:room"),
        row(
            "an empty channel name",
            ns(|o| o.allow_publish_for_client = true),
            User,
            Publish,
            Disconnect(3501),
        )
        .on(""),
    ];
    check(rows).await;
}

#[tokio::test]
async fn presence_permissions() {
    use Command::{Presence, PresenceStats};
    let rows = vec![
        row(
            "presence off",
            ns(|o| o.allow_presence_for_client = true),
            User,
            Presence,
            NOT_AVAILABLE,
        ),
        row(
            "no option",
            with_presence(|_| {}),
            User,
            Presence,
            PERMISSION_DENIED,
        )
        .subscribed(),
        row(
            "for client: a user",
            with_presence(|o| o.allow_presence_for_client = true),
            User,
            Presence,
            Allowed,
        ),
        row(
            "for client: anonymous",
            with_presence(|o| o.allow_presence_for_client = true),
            Anonymous,
            Presence,
            PERMISSION_DENIED,
        ),
        row(
            "for client and anonymous: anonymous",
            with_presence(|o| {
                o.allow_presence_for_client = true;
                o.allow_presence_for_anonymous = true;
            }),
            Anonymous,
            Presence,
            Allowed,
        ),
        row(
            "for subscriber: not subscribed",
            with_presence(|o| o.allow_presence_for_subscriber = true),
            User,
            Presence,
            PERMISSION_DENIED,
        ),
        row(
            "for subscriber: subscribed",
            with_presence(|o| o.allow_presence_for_subscriber = true),
            User,
            Presence,
            Allowed,
        )
        .subscribed(),
        row(
            "for subscriber: subscribed but anonymous",
            with_presence(|o| o.allow_presence_for_subscriber = true),
            Anonymous,
            Presence,
            PERMISSION_DENIED,
        )
        .subscribed(),
        row(
            "insecure",
            with_presence(|_| {}),
            Anonymous,
            Presence,
            Allowed,
        )
        .insecure(),
        row(
            "presence stats: same rule, denied",
            with_presence(|o| o.allow_presence_for_subscriber = true),
            User,
            PresenceStats,
            PERMISSION_DENIED,
        ),
        row(
            "presence stats: same rule, allowed",
            with_presence(|o| o.allow_presence_for_subscriber = true),
            User,
            PresenceStats,
            Allowed,
        )
        .subscribed(),
        row(
            "presence stats: presence off",
            ns(|o| o.allow_presence_for_client = true),
            User,
            PresenceStats,
            NOT_AVAILABLE,
        ),
        row(
            "unknown namespace",
            with_presence(|o| o.allow_presence_for_client = true),
            User,
            Presence,
            UNKNOWN_CHANNEL,
        )
        .on("nope:room"),
    ];
    check(rows).await;
}

#[tokio::test]
async fn history_permissions() {
    use Command::History;
    let rows = vec![
        row(
            "history off",
            ns(|o| o.allow_history_for_client = true),
            User,
            History,
            NOT_AVAILABLE,
        ),
        row(
            "history_size without history_ttl is off",
            ns(|o| {
                o.history_size = 10;
                o.allow_history_for_client = true;
            }),
            User,
            History,
            NOT_AVAILABLE,
        ),
        row(
            "no option",
            with_history(|_| {}),
            User,
            History,
            PERMISSION_DENIED,
        )
        .subscribed(),
        row(
            "for client: a user",
            with_history(|o| o.allow_history_for_client = true),
            User,
            History,
            Allowed,
        ),
        row(
            "for client: anonymous",
            with_history(|o| o.allow_history_for_client = true),
            Anonymous,
            History,
            PERMISSION_DENIED,
        ),
        row(
            "for client and anonymous: anonymous",
            with_history(|o| {
                o.allow_history_for_client = true;
                o.allow_history_for_anonymous = true;
            }),
            Anonymous,
            History,
            Allowed,
        ),
        row(
            "for subscriber: not subscribed",
            with_history(|o| o.allow_history_for_subscriber = true),
            User,
            History,
            PERMISSION_DENIED,
        ),
        row(
            "for subscriber: subscribed",
            with_history(|o| o.allow_history_for_subscriber = true),
            User,
            History,
            Allowed,
        )
        .subscribed(),
        row(
            "for subscriber and anonymous: subscribed and anonymous",
            with_history(|o| {
                o.allow_history_for_subscriber = true;
                o.allow_history_for_anonymous = true;
            }),
            Anonymous,
            History,
            Allowed,
        )
        .subscribed(),
        row(
            "insecure",
            with_history(|_| {}),
            Anonymous,
            History,
            Allowed,
        )
        .insecure(),
        row(
            "unknown namespace",
            with_history(|o| o.allow_history_for_client = true),
            User,
            History,
            UNKNOWN_CHANNEL,
        )
        .on("nope:room"),
    ];
    check(rows).await;
}

/// History access also lets the client ask for `positioned` and `recoverable`; otherwise
/// only `allow_positioning` / `allow_recovery` do.
#[tokio::test]
async fn subscribe_flags_need_history_access_or_their_option() {
    // (case, options, who, expected (positioned, recoverable))
    let rows: Vec<(&str, ChannelOptions, Who, (bool, bool))> = vec![
        (
            "neither",
            with_history(|o| o.allow_subscribe_for_client = true),
            User,
            (false, false),
        ),
        (
            "allow_positioning and allow_recovery",
            with_history(|o| {
                o.allow_subscribe_for_client = true;
                o.allow_positioning = true;
                o.allow_recovery = true;
            }),
            User,
            (true, true),
        ),
        (
            "history for client",
            with_history(|o| {
                o.allow_subscribe_for_client = true;
                o.allow_history_for_client = true;
            }),
            User,
            (true, true),
        ),
        (
            "history for client, but anonymous",
            with_history(|o| {
                o.allow_subscribe_for_client = true;
                o.allow_subscribe_for_anonymous = true;
                o.allow_history_for_client = true;
            }),
            Anonymous,
            (false, false),
        ),
        (
            "history for subscriber: the subscription itself counts",
            with_history(|o| {
                o.allow_subscribe_for_client = true;
                o.allow_history_for_subscriber = true;
            }),
            User,
            (true, true),
        ),
        (
            "options allow it but the namespace keeps no history",
            ns(|o| {
                o.allow_subscribe_for_client = true;
                o.allow_positioning = true;
                o.allow_recovery = true;
            }),
            User,
            (false, false),
        ),
    ];
    let mut failures = Vec::new();
    for (case, options, who, expected) in rows {
        let hub = hub(options, false).await;
        let mut session = connect(&hub, who).await;
        let command = json!({"id": 2, "subscribe": {
            "channel": "ns:room", "positioned": true, "recoverable": true,
        }});
        let _ = send(&mut session, &command.to_string()).await;
        let (replies, close) = take(&session).await;
        let result = replies
            .first()
            .and_then(|r| r.subscribe.as_ref())
            .map(|s| (s.positioned, s.recoverable));
        if close.is_some() || result != Some(expected) {
            failures.push(format!(
                "{case}: want {expected:?}, got {result:?} (close {close:?}, {replies:?})"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Runs every row on a hub of its own and reports all the rows that fail.
async fn check(rows: Vec<Row>) {
    let mut failures = Vec::new();
    for row in &rows {
        let got = run(row).await;
        if got != row.expected {
            failures.push(format!(
                "{} ({:?} {:?} on {:?}{}{}): want {:?}, got {got:?}",
                row.case,
                row.who,
                row.command,
                row.channel,
                if row.subscribed { ", subscribed" } else { "" },
                if row.insecure { ", insecure" } else { "" },
                row.expected,
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

async fn run(row: &Row) -> Outcome {
    let hub = hub(row.options.clone(), row.insecure).await;
    let mut session = connect(&hub, row.who).await;
    if row.subscribed {
        let user = match row.who {
            Anonymous => "",
            User => USER,
        };
        let token = format!("{user}|{}", row.channel);
        let subscribe = json!({"id": 2, "subscribe": {"channel": row.channel, "token": token}});
        let _ = send(&mut session, &subscribe.to_string()).await;
        let (replies, close) = take(&session).await;
        assert!(
            close.is_none() && replies.first().is_some_and(|r| r.subscribe.is_some()),
            "{}: subscribing first failed: {replies:?} {close:?}",
            row.case
        );
    }
    let channel = row.channel;
    let body = match row.command {
        Command::Subscribe => json!({"subscribe": {"channel": channel}}),
        Command::SubscribeWithToken(token) => {
            json!({"subscribe": {"channel": channel, "token": token}})
        }
        Command::Publish => json!({"publish": {"channel": channel, "data": {"n": 1}}}),
        Command::Presence => json!({"presence": {"channel": channel}}),
        Command::PresenceStats => json!({"presence_stats": {"channel": channel}}),
        Command::History => json!({"history": {"channel": channel, "limit": 10}}),
    };
    let mut command = body;
    command["id"] = json!(3);
    let _ = send(&mut session, &command.to_string()).await;
    let (replies, close) = take(&session).await;
    if let Some(code) = close {
        return Disconnect(code);
    }
    let reply = replies
        .iter()
        .find(|r| r.id == 3)
        .unwrap_or_else(|| panic!("{}: no reply to the command: {replies:?}", row.case));
    match &reply.error {
        Some(error) => Error(error.code),
        None => Allowed,
    }
}

/// A hub whose namespace `ns` has `options`; anonymous clients may connect.
async fn hub(options: ChannelOptions, insecure: bool) -> Hub {
    let mut node = NodeOptions::default();
    node.client.allow_anonymous_connect_without_token = true;
    node.client.insecure = insecure;
    node.channel.namespaces.push(Namespace {
        name: "ns".into(),
        options,
    });
    let engine = Arc::new(herald_engine::memory::MemoryEngine::new());
    let hub = Hub::new(node, engine.clone(), engine, Arc::new(Tokens));
    hub.start().await.expect("memory engine starts");
    hub
}

async fn connect(hub: &Hub, who: Who) -> Session {
    let mut session = hub.session(Protocol::Json);
    let connect: Value = match who {
        Anonymous => json!({"id": 1, "connect": {}}),
        User => json!({"id": 1, "connect": {"token": USER}}),
    };
    let _ = send(&mut session, &connect.to_string()).await;
    let (replies, close) = take(&session).await;
    assert!(
        close.is_none() && replies.first().is_some_and(|r| r.connect.is_some()),
        "connect failed: {replies:?} {close:?}"
    );
    session
}
