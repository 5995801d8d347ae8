//! What a connection hands the client's messages to: the protocol [`Session`] on
//! `/connection/websocket`, the Pusher protocol's handler on `/app/<key>` (`pusher.rs`), or
//! (only in builds with the `autobahn` feature) an echo that lets the Autobahn|Testsuite drive
//! the very same connection future, decoder and writer.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use herald_hub::{Event, Flow, Hub, Outbox, Session, TransportKind};
use herald_proto::{ConnectRequest, DisconnectCode, Protocol};
use herald_ws::OutFrame;

/// A call in progress (a command, an event): it owns the handler until it is done, so the
/// connection holds no borrow across the wait.
pub(super) type Call<H> = Pin<Box<dyn Future<Output = (H, Flow)> + Send>>;

/// How a handler took a data message.
pub(super) enum Handled<H> {
    /// It is working on it; the connection polls the call and gets the handler back after.
    Call(Call<H>),
    /// It answers at once with one frame, written ahead of anything it queues later.
    #[cfg_attr(
        not(feature = "autobahn"),
        allow(
            dead_code,
            reason = "only the echo answers at once; the protocol handlers always call"
        )
    )]
    Reply(H, OutFrame, Bytes),
}

/// The other end of a connection's messages.
pub(super) trait Handler: Send + Unpin + Sized + 'static {
    /// Something other than a client message that the handler reacts to (timers, control).
    type Event: Send + 'static;

    /// What the endpoint learned from the upgrade request for this handler alone (the
    /// Pusher endpoint: the app the path names); `()` for the others.
    type Params: Send + Unpin + 'static;

    /// A new handler for a connection that speaks `protocol`; `proxy_headers` are the
    /// request headers proxies forward (`Session::set_proxy_headers`).
    fn open(
        hub: &Hub,
        protocol: Protocol,
        proxy_headers: Vec<(String, String)>,
        params: Self::Params,
    ) -> Self;

    /// The connection's id in logs.
    fn client_id(&self) -> &str;

    /// The user, once the client has authenticated.
    fn user(&self) -> Option<&str>;

    /// The queue the connection drains onto the socket; closing it ends the connection.
    fn outbox(&self) -> Arc<Outbox>;

    /// Takes one whole data message from the client.
    fn on_data(self, text: bool, payload: Bytes) -> Handled<Self>;

    /// The next event, or `cx` is woken when there is one.
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Self::Event>;

    /// Reacts to an event from [`Handler::poll_event`].
    fn on_event(self, event: Self::Event) -> Call<Self>;

    /// Ends the handler's side: leave channels, unregister, close the outbox.
    fn close(self) -> impl Future<Output = ()> + Send;
}

impl Handler for Session {
    type Event = Event;
    type Params = ();

    fn open(hub: &Hub, protocol: Protocol, proxy_headers: Vec<(String, String)>, (): ()) -> Self {
        let mut session = hub.session(protocol);
        session.set_proxy_headers(proxy_headers);
        session
    }

    fn client_id(&self) -> &str {
        Session::client_id(self)
    }

    fn user(&self) -> Option<&str> {
        self.is_connected().then(|| Session::user(self))
    }

    fn outbox(&self) -> Arc<Outbox> {
        Session::outbox(self)
    }

    fn on_data(mut self, _text: bool, payload: Bytes) -> Handled<Self> {
        Handled::Call(Box::pin(async move {
            let flow = self.handle_frame(&payload).await;
            (self, flow)
        }))
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Event> {
        Session::poll_event(self, cx)
    }

    fn on_event(mut self, event: Event) -> Call<Self> {
        Box::pin(async move {
            let flow = self.handle_event(event).await;
            (self, flow)
        })
    }

    fn close(self) -> impl Future<Output = ()> + Send {
        Session::close(self)
    }
}

/// A unidirectional client (`/connection/uni_websocket`): its first message (or the
/// `?cf_connect=` the connection hands on as one) is a `ConnectRequest`; the session answers
/// with bare JSON pushes. Later messages are read and ignored, as Centrifugo does.
#[derive(Debug)]
pub(super) struct Uni {
    session: Session,
    /// No message has arrived yet: the next one is the connect request.
    awaiting_connect: bool,
}

impl Handler for Uni {
    type Event = Event;
    type Params = ();

    fn open(hub: &Hub, _protocol: Protocol, proxy_headers: Vec<(String, String)>, (): ()) -> Self {
        let mut session = hub.session_for(Protocol::Json, TransportKind::Unidirectional);
        session.set_proxy_headers(proxy_headers);
        Self {
            session,
            awaiting_connect: true,
        }
    }

    fn client_id(&self) -> &str {
        self.session.client_id()
    }

    fn user(&self) -> Option<&str> {
        Handler::user(&self.session)
    }

    fn outbox(&self) -> Arc<Outbox> {
        self.session.outbox()
    }

    fn on_data(mut self, _text: bool, payload: Bytes) -> Handled<Self> {
        let first = std::mem::replace(&mut self.awaiting_connect, false);
        Handled::Call(Box::pin(async move {
            if !first {
                return (self, Flow::Continue);
            }
            let flow =
                match herald_proto::decode_message::<ConnectRequest>(Protocol::Json, &payload) {
                    Ok(request) => self.session.connect_unidirectional(request).await,
                    Err(err) => {
                        tracing::info!(%err, "malformed connect request");
                        self.session
                            .outbox()
                            .close(DisconnectCode::BAD_REQUEST.into());
                        Flow::Close
                    }
                };
            (self, flow)
        }))
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Event> {
        self.session.poll_event(cx)
    }

    fn on_event(mut self, event: Event) -> Call<Self> {
        Box::pin(async move {
            let flow = self.session.handle_event(event).await;
            (self, flow)
        })
    }

    fn close(self) -> impl Future<Output = ()> + Send {
        self.session.close()
    }
}

/// Sends every data message back as it came (text as text, binary as binary): the testee the
/// Autobahn|Testsuite's fuzzing client expects. Built only with the `autobahn` feature.
#[cfg(feature = "autobahn")]
#[derive(Debug)]
pub(super) struct Echo {
    outbox: Arc<Outbox>,
}

#[cfg(feature = "autobahn")]
impl Handler for Echo {
    type Event = std::convert::Infallible;
    type Params = ();

    fn open(_hub: &Hub, protocol: Protocol, _headers: Vec<(String, String)>, (): ()) -> Self {
        // Nothing is ever pushed: replies go straight to the writer. The outbox only carries
        // the close, as for a session.
        Self {
            outbox: Arc::new(Outbox::new(protocol, 0)),
        }
    }

    fn client_id(&self) -> &str {
        "echo"
    }

    fn user(&self) -> Option<&str> {
        None
    }

    fn outbox(&self) -> Arc<Outbox> {
        self.outbox.clone()
    }

    fn on_data(self, text: bool, payload: Bytes) -> Handled<Self> {
        let kind = if text {
            OutFrame::Text
        } else {
            OutFrame::Binary
        };
        Handled::Reply(self, kind, payload)
    }

    fn poll_event(&mut self, _cx: &mut Context<'_>) -> Poll<Self::Event> {
        Poll::Pending
    }

    fn on_event(self, event: Self::Event) -> Call<Self> {
        match event {}
    }

    fn close(self) -> impl Future<Output = ()> + Send {
        self.outbox
            .close(herald_proto::DisconnectCode::CONNECTION_CLOSED.into());
        std::future::ready(())
    }
}
