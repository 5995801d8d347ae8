//! Label values known at compile time, as enums that index the counters' arrays (no map, no
//! lock on the paths that count every command). Their `name`s are Centrifugo's label values.

/// Defines a label enum with its Prometheus value per variant, `COUNT` and `ALL`.
macro_rules! label {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $value:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// Every value, in index order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];
            /// How many values there are.
            pub const COUNT: usize = Self::ALL.len();

            /// The label value.
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $value,)*
                }
            }

            /// The index into an array of `COUNT` counters.
            pub fn index(self) -> usize {
                self as usize
            }
        }
    };
}

label! {
    /// A client command (`method` / `frame_type` label), as Centrifugo's `FrameType` names it.
    Method {
        /// `connect`.
        Connect = "connect",
        /// `subscribe`.
        Subscribe = "subscribe",
        /// `unsubscribe`.
        Unsubscribe = "unsubscribe",
        /// `publish`.
        Publish = "publish",
        /// `presence`.
        Presence = "presence",
        /// `presence_stats`.
        PresenceStats = "presence_stats",
        /// `history`.
        History = "history",
        /// `rpc`.
        Rpc = "rpc",
        /// `refresh`.
        Refresh = "refresh",
        /// `sub_refresh`.
        SubRefresh = "sub_refresh",
        /// `send` (asynchronous message, no reply).
        Send = "send",
    }
}

label! {
    /// The transport of a connection (`transport` label), as Centrifugo names it in proxy
    /// requests and metrics.
    Transport {
        /// Bidirectional WebSocket.
        Websocket = "websocket",
        /// HTTP-streaming (bidirectional emulation).
        HttpStream = "http_stream",
        /// Server-sent events (bidirectional emulation).
        Sse = "sse",
        /// Unidirectional WebSocket.
        UniWebsocket = "uni_websocket",
        /// Unidirectional HTTP-streaming.
        UniHttpStream = "uni_http_stream",
        /// Unidirectional SSE.
        UniSse = "uni_sse",
        /// Unidirectional gRPC.
        UniGrpc = "uni_grpc",
        /// A transport name not listed above.
        Other = "other",
    }
}

impl Transport {
    /// The transport a session's name stands for.
    pub fn from_name(name: &str) -> Self {
        Self::ALL
            .iter()
            .copied()
            .find(|t| t.name() == name)
            .unwrap_or(Self::Other)
    }
}

label! {
    /// What the registry delivers to subscribers (`type` label of
    /// `node_messages_sent_count` / `node_messages_received_count`).
    PushKind {
        /// A publication.
        Publication = "publication",
        /// A join.
        Join = "join",
        /// A leave.
        Leave = "leave",
    }
}

label! {
    /// A bounded queue of ARCHITECTURE.md invariant 3 (`queue` label of the overflow count).
    Queue {
        /// A connection's outbox: closed with 3008.
        ClientQueue = "client_queue",
        /// Publications buffered for a pending subscription: closed with 3008.
        PendingSubscription = "pending_subscription",
        /// A session's control queue: closed with 3011.
        ControlQueue = "control_queue",
        /// Emulated commands of a session (`/emulation`): closed with 3008, POST answered 503.
        EmulationInbox = "emulation_inbox",
        /// Bytes the socket does not take for `websocket.write_timeout`: closed with 3009.
        WriteBacklog = "write_backlog",
        /// Chunks of a streamed response (HTTP-streaming, SSE) refused for 1 s: closed with 3009.
        StreamResponse = "stream_response",
    }
}

label! {
    /// An engine call that is timed (`op` label of `broker_duration_seconds`).
    BrokerOp {
        /// `Broker::publish`.
        Publish = "publish",
        /// `Broker::history` (history commands, recovery, positions).
        History = "history",
    }
}
