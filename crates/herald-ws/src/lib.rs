//! RFC 6455 framing for the server side of a WebSocket, sans-I/O: bytes in, messages out.
//!
//! - [`Decoder`] turns the bytes a client sent into whole [`Incoming`] messages (fragments
//!   joined, UTF-8 of text checked, control frames passed through), or a [`FrameError`] that
//!   names the close code to answer with.
//! - [`header`] builds the header of a frame the server sends; [`close_payload`] the payload of
//!   a close frame.
//! - [`deflate`]: permessage-deflate (RFC 7692) without context takeover: the negotiation, and
//!   a compressor and decompressor shared by every connection of a thread. The decoder
//!   inflates compressed messages itself ([`Decoder::with_deflate`]).
//!
//! No socket and no async runtime here: `herald-server`'s connection future does the I/O, and
//! `fuzz/` drives the decoder directly.
//!
//! ```
//! use herald_ws::{Decoder, Incoming};
//!
//! // RFC 6455 section 5.7: a masked text frame carrying "Hello".
//! let mut bytes = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
//! let mut decoder = Decoder::new(64 * 1024);
//! let mut messages = Vec::new();
//! decoder.feed(&mut bytes, &mut messages).expect("a valid frame");
//! assert_eq!(messages, vec![Incoming::Data { text: true, payload: "Hello".into() }]);
//! ```

pub mod deflate;
mod frame;

pub use frame::{
    Decoder, FrameError, Incoming, MAX_HEADER, OutFrame, close_code, close_payload, header,
};
