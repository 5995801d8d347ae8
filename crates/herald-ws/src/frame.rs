//! RFC 6455 framing for the server side, sans-I/O: [`Decoder`] turns bytes read from a client
//! into whole messages, [`header`] builds the header of a frame we send.
//!
//! The decoder keeps no buffer while idle: bytes are parsed straight out of the caller's (stack)
//! read buffer, and only the tail of a frame that has not fully arrived is copied to the heap,
//! released again once the frame is complete. That is what keeps an idle connection small.
//!
//! With permessage-deflate negotiated ([`Decoder::with_deflate`]), RSV1 on the first frame of a
//! data message marks it compressed; the decoder inflates the whole message (bounded by the
//! message limit) before it checks UTF-8 and hands it on, so the caller sees plain messages
//! either way.

use bytes::Bytes;

use crate::deflate::{self, InflateError};

/// Close codes this module sends (RFC 6455 section 7.4.1).
pub mod close_code {
    /// The peer broke the framing rules.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A text message (or close reason) was not UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// A message larger than the configured limit.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
}

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

const RSV1: u8 = 0x40;
const RSV2: u8 = 0x20;
const RSV3: u8 = 0x10;

/// Largest payload of a control frame.
const MAX_CONTROL_PAYLOAD: usize = 125;

/// What a client sent, one whole message at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A complete message (fragments already joined): text (UTF-8 checked) or binary.
    Data { text: bool, payload: Bytes },
    /// A ping; answer with a pong carrying the same payload.
    Ping(Bytes),
    /// A pong (ignored: the protocol's own ping/pong runs in data frames).
    Pong,
    /// The client closes, with its status code when it sent one.
    Close(Option<u16>),
}

/// The client broke the protocol; close the connection with [`FrameError::close_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Reserved bits set, an unknown opcode, an unmasked frame, a fragmented or oversized
    /// control frame, a continuation without a start or a new message inside a fragmented one.
    #[error("websocket protocol error: {0}")]
    Protocol(&'static str),
    /// A text message or close reason that is not UTF-8.
    #[error("websocket text is not UTF-8")]
    InvalidUtf8,
    /// A message over the size limit (for a compressed message: once inflated).
    #[error("websocket message over the size limit")]
    TooBig,
    /// A compressed message that is not valid deflate data.
    #[error("websocket message is not valid deflate data")]
    BadDeflate,
}

impl FrameError {
    /// The close code that tells the client what it did wrong.
    pub fn close_code(self) -> u16 {
        match self {
            Self::Protocol(_) => close_code::PROTOCOL_ERROR,
            Self::InvalidUtf8 | Self::BadDeflate => close_code::INVALID_PAYLOAD,
            Self::TooBig => close_code::MESSAGE_TOO_BIG,
        }
    }
}

/// Parses client frames into [`Incoming`] messages.
#[derive(Debug)]
pub struct Decoder {
    max_message: usize,
    /// The start of a frame that has not fully arrived; unallocated between frames.
    partial: Vec<u8>,
    /// A fragmented data message being assembled. Boxed: rare, and the decoder lives in every
    /// idle connection.
    fragments: Option<Box<Fragments>>,
    /// permessage-deflate was negotiated: RSV1 may mark a data message compressed.
    deflate: bool,
}

/// The frames of a fragmented data message so far.
#[derive(Debug)]
struct Fragments {
    text: bool,
    /// RSV1 was set on its first frame: `bytes` are deflate data.
    compressed: bool,
    bytes: Vec<u8>,
}

impl Decoder {
    /// A decoder refusing messages larger than `max_message` bytes, for a connection without
    /// extensions (any RSV bit is a protocol error).
    pub fn new(max_message: usize) -> Self {
        Self {
            max_message,
            partial: Vec::new(),
            fragments: None,
            deflate: false,
        }
    }

    /// A decoder for a connection that negotiated permessage-deflate: RSV1 on the first frame
    /// of a data message (never on a continuation or control frame) marks it compressed, and
    /// it must inflate to at most `max_message` bytes (1009 otherwise; 1007 for bad data).
    pub fn with_deflate(max_message: usize) -> Self {
        Self {
            deflate: true,
            ..Self::new(max_message)
        }
    }

    /// Parses every complete frame in what was buffered plus `input`, appending finished
    /// messages to `out`. `input` is unmasked in place.
    pub fn feed(&mut self, input: &mut [u8], out: &mut Vec<Incoming>) -> Result<(), FrameError> {
        if self.partial.is_empty() {
            let used = self.parse_all(input, out)?;
            if used < input.len() {
                self.partial.extend_from_slice(&input[used..]);
            }
        } else {
            let mut buffered = std::mem::take(&mut self.partial);
            buffered.extend_from_slice(input);
            let used = self.parse_all(&mut buffered, out)?;
            if used < buffered.len() {
                buffered.drain(..used);
                self.partial = buffered;
            }
            // Otherwise `buffered` is dropped here: nothing stays allocated between frames.
        }
        Ok(())
    }

    /// Whether a frame or a fragmented message is only partly received.
    #[cfg(test)]
    fn is_mid_message(&self) -> bool {
        !self.partial.is_empty() || self.fragments.is_some()
    }

    /// Parses complete frames from the start of `bytes`; returns how many bytes they used.
    fn parse_all(
        &mut self,
        bytes: &mut [u8],
        out: &mut Vec<Incoming>,
    ) -> Result<usize, FrameError> {
        let mut used = 0;
        while let Some(frame) = parse_header(&bytes[used..], self.max_message, self.deflate)? {
            let start = used + frame.header_len;
            let Some(end) = start.checked_add(frame.payload_len) else {
                return Err(FrameError::TooBig);
            };
            if end > bytes.len() {
                break;
            }
            let payload = &mut bytes[start..end];
            unmask(payload, frame.mask);
            self.on_frame(&frame, payload, out)?;
            used = end;
        }
        Ok(used)
    }

    fn on_frame(
        &mut self,
        frame: &FrameHeader,
        payload: &[u8],
        out: &mut Vec<Incoming>,
    ) -> Result<(), FrameError> {
        let fin = frame.fin;
        match frame.opcode {
            OP_TEXT | OP_BINARY => {
                if self.fragments.is_some() {
                    return Err(FrameError::Protocol("new message inside a fragmented one"));
                }
                let text = frame.opcode == OP_TEXT;
                if fin {
                    let payload = self.message_bytes(frame.compressed, payload)?;
                    out.push(Incoming::Data {
                        text,
                        payload: data_message(text, payload)?,
                    });
                } else {
                    self.fragments = Some(Box::new(Fragments {
                        text,
                        compressed: frame.compressed,
                        bytes: payload.to_vec(),
                    }));
                }
            }
            OP_CONTINUATION => {
                let Some(mut fragments) = self.fragments.take() else {
                    return Err(FrameError::Protocol("continuation without a message"));
                };
                // For a compressed message this bounds the deflate data; inflating bounds
                // the result.
                if fragments.bytes.len() + payload.len() > self.max_message {
                    return Err(FrameError::TooBig);
                }
                fragments.bytes.extend_from_slice(payload);
                if fin {
                    let Fragments {
                        text,
                        compressed,
                        bytes,
                    } = *fragments;
                    let payload = match compressed {
                        true => self.message_bytes(true, &bytes)?,
                        false => bytes,
                    };
                    out.push(Incoming::Data {
                        text,
                        payload: data_message(text, payload)?,
                    });
                } else {
                    self.fragments = Some(fragments);
                }
            }
            OP_PING => out.push(Incoming::Ping(Bytes::copy_from_slice(payload))),
            OP_PONG => out.push(Incoming::Pong),
            OP_CLOSE => out.push(Incoming::Close(close_status(payload)?)),
            _ => return Err(FrameError::Protocol("unknown opcode")),
        }
        Ok(())
    }

    /// The bytes of a whole message: inflated when it came compressed.
    fn message_bytes(&self, compressed: bool, payload: &[u8]) -> Result<Vec<u8>, FrameError> {
        if !compressed {
            return Ok(payload.to_vec());
        }
        deflate::decompress(payload, self.max_message).map_err(|err| match err {
            InflateError::TooBig => FrameError::TooBig,
            InflateError::Corrupt => FrameError::BadDeflate,
        })
    }
}

struct FrameHeader {
    fin: bool,
    /// RSV1 on a data frame of a connection with permessage-deflate.
    compressed: bool,
    opcode: u8,
    mask: [u8; 4],
    header_len: usize,
    payload_len: usize,
}

/// Reads a frame header; `None` while it has not fully arrived. RSV1 is allowed, with
/// `deflate`, on the first frame of a data message only (RFC 7692 section 6: not on
/// continuation frames, and control frames are never compressed).
fn parse_header(
    bytes: &[u8],
    max_message: usize,
    deflate: bool,
) -> Result<Option<FrameHeader>, FrameError> {
    let [first, second, rest @ ..] = bytes else {
        return Ok(None);
    };
    let fin = first & 0x80 != 0;
    let opcode = first & 0x0F;
    let compressed = first & RSV1 != 0;
    if first & (RSV2 | RSV3) != 0
        || (compressed && !(deflate && matches!(opcode, OP_TEXT | OP_BINARY)))
    {
        return Err(FrameError::Protocol("reserved bits set"));
    }
    if second & 0x80 == 0 {
        return Err(FrameError::Protocol("client frame not masked"));
    }
    let (length, length_bytes) = match second & 0x7F {
        126 => match rest {
            [a, b, ..] => (u64::from(u16::from_be_bytes([*a, *b])), 2),
            _ => return Ok(None),
        },
        127 => match rest.get(..8) {
            Some(raw) => {
                let mut be = [0u8; 8];
                be.copy_from_slice(raw);
                (u64::from_be_bytes(be), 8)
            }
            None => return Ok(None),
        },
        short => (u64::from(short), 0),
    };
    let is_control = opcode & 0x08 != 0;
    if is_control && (!fin || length > MAX_CONTROL_PAYLOAD as u64) {
        return Err(FrameError::Protocol(
            "fragmented or oversized control frame",
        ));
    }
    let payload_len = usize::try_from(length).map_err(|_| FrameError::TooBig)?;
    if payload_len > max_message {
        return Err(FrameError::TooBig);
    }
    let Some(raw_mask) = rest.get(length_bytes..length_bytes + 4) else {
        return Ok(None);
    };
    let mut mask = [0u8; 4];
    mask.copy_from_slice(raw_mask);
    Ok(Some(FrameHeader {
        fin,
        compressed,
        opcode,
        mask,
        header_len: 2 + length_bytes + 4,
        payload_len,
    }))
}

/// A whole (inflated) data message, its UTF-8 checked when it is text.
fn data_message(text: bool, payload: Vec<u8>) -> Result<Bytes, FrameError> {
    if text && std::str::from_utf8(&payload).is_err() {
        return Err(FrameError::InvalidUtf8);
    }
    Ok(Bytes::from(payload))
}

/// The status code of a close frame, checked as RFC 6455 section 7.4 asks.
fn close_status(payload: &[u8]) -> Result<Option<u16>, FrameError> {
    match payload {
        [] => Ok(None),
        [_] => Err(FrameError::Protocol("one-byte close payload")),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            let valid = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            if !valid {
                return Err(FrameError::Protocol("invalid close code"));
            }
            if std::str::from_utf8(reason).is_err() {
                return Err(FrameError::InvalidUtf8);
            }
            Ok(Some(code))
        }
    }
}

fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let word = u32::from_ne_bytes(mask);
    let mut chunks = payload.chunks_exact_mut(4);
    for chunk in &mut chunks {
        let mut value = [0u8; 4];
        value.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u32::from_ne_bytes(value) ^ word).to_ne_bytes());
    }
    for (byte, key) in chunks.into_remainder().iter_mut().zip(mask) {
        *byte ^= key;
    }
}

/// The kind of frame the server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutFrame {
    /// A JSON message.
    Text,
    /// A Protobuf message.
    Binary,
    /// The answer to a ping.
    Pong,
    /// The closing handshake.
    Close,
}

/// The most bytes a server frame header takes.
pub const MAX_HEADER: usize = 10;

/// Builds the header of an unmasked, final server frame with a payload of `len` bytes;
/// returns the buffer and how many of its bytes are the header. `compressed` sets RSV1: the
/// payload is a permessage-deflate message (data frames only).
pub fn header(kind: OutFrame, len: usize, compressed: bool) -> ([u8; MAX_HEADER], usize) {
    let opcode = match kind {
        OutFrame::Text => OP_TEXT,
        OutFrame::Binary => OP_BINARY,
        OutFrame::Pong => OP_PONG,
        OutFrame::Close => OP_CLOSE,
    };
    let mut buf = [0u8; MAX_HEADER];
    buf[0] = 0x80 | opcode;
    if compressed && matches!(kind, OutFrame::Text | OutFrame::Binary) {
        buf[0] |= RSV1;
    }
    let used = if len < 126 {
        buf[1] = len as u8;
        2
    } else if let Ok(short) = u16::try_from(len) {
        buf[1] = 126;
        buf[2..4].copy_from_slice(&short.to_be_bytes());
        4
    } else {
        buf[1] = 127;
        buf[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    (buf, used)
}

/// The payload of a close frame: the code, then the reason cut to fit a control frame
/// (at a character boundary).
pub fn close_payload(code: u16, reason: &str) -> Bytes {
    let mut end = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    Bytes::from(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame, as a browser would send it.
    fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut frame = vec![first];
        match payload.len() {
            len @ 0..=125 => frame.push(0x80 | len as u8),
            len @ 126..=65535 => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
        frame
    }

    fn text(payload: &'static [u8]) -> Incoming {
        Incoming::Data {
            text: true,
            payload: Bytes::from_static(payload),
        }
    }

    fn decode(decoder: &mut Decoder, bytes: &[u8]) -> Result<Vec<Incoming>, FrameError> {
        let mut out = Vec::new();
        decoder.feed(&mut bytes.to_vec(), &mut out)?;
        Ok(out)
    }

    #[test]
    fn rfc_6455_masked_hello() {
        // Section 5.7: a single-frame masked text message containing "Hello".
        let bytes = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let mut decoder = Decoder::new(1024);
        assert_eq!(decode(&mut decoder, &bytes), Ok(vec![text(b"Hello")]));
        assert!(!decoder.is_mid_message());
    }

    #[test]
    fn frames_split_at_every_byte_reassemble() {
        let mut stream = client_frame(0x81, b"{\"id\":1}");
        stream.extend(client_frame(0x82, &[7u8; 300]));
        stream.extend(client_frame(0x89, b"ping"));
        for split in 0..stream.len() {
            let mut decoder = Decoder::new(1024);
            let mut out = decode(&mut decoder, &stream[..split]).expect("first half");
            out.extend(decode(&mut decoder, &stream[split..]).expect("second half"));
            assert_eq!(
                out,
                vec![
                    text(b"{\"id\":1}"),
                    Incoming::Data {
                        text: false,
                        payload: Bytes::from(vec![7u8; 300]),
                    },
                    Incoming::Ping(Bytes::from_static(b"ping")),
                ],
                "split at {split}"
            );
            assert!(!decoder.is_mid_message());
            assert_eq!(decoder.partial.capacity(), 0, "nothing kept between frames");
        }
    }

    #[test]
    fn fragments_join_with_control_frames_between() {
        let mut stream = client_frame(0x01, b"He");
        stream.extend(client_frame(0x89, b""));
        stream.extend(client_frame(0x00, b"ll"));
        stream.extend(client_frame(0x80, b"o"));
        let mut decoder = Decoder::new(1024);
        assert_eq!(
            decode(&mut decoder, &stream),
            Ok(vec![Incoming::Ping(Bytes::new()), text(b"Hello")])
        );
    }

    #[test]
    fn sixty_four_bit_length() {
        let payload = vec![1u8; 70_000];
        let mut decoder = Decoder::new(100_000);
        assert_eq!(
            decode(&mut decoder, &client_frame(0x82, &payload)),
            Ok(vec![Incoming::Data {
                text: false,
                payload: Bytes::from(payload),
            }])
        );
    }

    #[test]
    fn violations_map_to_close_codes() {
        let cases: Vec<(Vec<u8>, u16)> = vec![
            (vec![0x81, 0x05, b'h', b'e', b'l', b'l', b'o'], 1002), // unmasked
            (client_frame(0xC1, b"x"), 1002),                       // RSV1
            (client_frame(0x83, b"x"), 1002),                       // opcode 3
            (client_frame(0x80, b"x"), 1002),                       // continuation first
            (client_frame(0x09, b"x"), 1002),                       // fragmented ping
            (client_frame(0x89, &[0u8; 126]), 1002),                // oversized ping
            (client_frame(0x88, &[3]), 1002),                       // one-byte close
            (client_frame(0x88, &1005u16.to_be_bytes()), 1002),     // reserved close code
            (client_frame(0x81, &[0xff, 0xfe]), 1007),              // text not UTF-8
            (client_frame(0x82, &[0u8; 2000]), 1009),               // too big
        ];
        for (bytes, code) in cases {
            let err = decode(&mut Decoder::new(1024), &bytes).expect_err("violation");
            assert_eq!(err.close_code(), code, "{err} for {bytes:02x?}");
        }
    }

    /// `message` compressed as a client would send it (no context takeover).
    fn deflated(message: &[u8]) -> Vec<u8> {
        crate::deflate::compress(message, 6, 15)
            .expect("the test messages shrink")
            .to_vec()
    }

    #[test]
    fn compressed_messages_inflate_whole_or_fragmented() {
        let message = b"{\"id\":1,\"publish\":{\"data\":\"hello hello hello hello\"}}";
        let compressed = deflated(message);
        let (head, tail) = compressed.split_at(compressed.len() / 2);
        let mut stream = client_frame(0xC1, &compressed);
        // Fragmented: RSV1 on the first frame only, a ping between the fragments.
        stream.extend(client_frame(0x41, head));
        stream.extend(client_frame(0x89, b""));
        stream.extend(client_frame(0x80, tail));
        // Uncompressed messages still pass on a deflate connection.
        stream.extend(client_frame(0x82, b"raw"));
        for split in 0..stream.len() {
            let mut decoder = Decoder::with_deflate(1024);
            let mut out = decode(&mut decoder, &stream[..split]).expect("first half");
            out.extend(decode(&mut decoder, &stream[split..]).expect("second half"));
            assert_eq!(
                out,
                vec![
                    text(message),
                    Incoming::Ping(Bytes::new()),
                    text(message),
                    Incoming::Data {
                        text: false,
                        payload: Bytes::from_static(b"raw"),
                    },
                ],
                "split at {split}"
            );
        }
    }

    #[test]
    fn rsv1_is_a_protocol_error_except_on_the_first_frame_of_a_deflate_message() {
        let compressed = deflated(b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        let mut continuation_with_rsv1 = client_frame(0x01, b"a");
        continuation_with_rsv1.extend(client_frame(0xC0, &compressed));
        let cases: Vec<(bool, Vec<u8>)> = vec![
            (false, client_frame(0xC1, &compressed)), // not negotiated
            (false, client_frame(0xC2, &compressed)),
            (true, continuation_with_rsv1),  // RSV1 on a continuation
            (true, client_frame(0xC9, b"")), // ... on a ping
            (true, client_frame(0xC8, &[3, 232])), // ... on a close
            (true, client_frame(0xA1, b"a")), // RSV2
            (true, client_frame(0x91, b"a")), // RSV3
            (true, client_frame(0xE1, &compressed)), // RSV1 and RSV2
        ];
        for (deflate, bytes) in cases {
            let mut decoder = match deflate {
                true => Decoder::with_deflate(1024),
                false => Decoder::new(1024),
            };
            let err = decode(&mut decoder, &bytes).expect_err("violation");
            assert_eq!(err.close_code(), 1002, "{err} for {bytes:02x?}");
        }
    }

    #[test]
    fn inflated_size_and_content_are_checked() {
        // A decompression bomb: 256 KiB of zeros in a few hundred bytes, well under the limit.
        let bomb = deflated(&vec![0u8; 256 << 10]);
        assert!(bomb.len() < 512, "{}", bomb.len());
        let cases: Vec<(Vec<u8>, u16)> = vec![
            (client_frame(0xC2, &bomb), 1009),
            (client_frame(0xC1, &[0xff, 0xff, 0xff]), 1007), // not deflate data
            (client_frame(0xC1, &deflated(&[0xff; 64])), 1007), // text not UTF-8
        ];
        for (bytes, code) in cases {
            let err = decode(&mut Decoder::with_deflate(1024), &bytes).expect_err("violation");
            assert_eq!(err.close_code(), code, "{err}");
        }
    }

    #[test]
    fn oversized_header_is_refused_before_the_payload_arrives() {
        let mut frame = client_frame(0x82, &[0u8; 5000]);
        frame.truncate(20);
        let err = decode(&mut Decoder::new(1024), &frame).expect_err("too big");
        assert_eq!(err, FrameError::TooBig);
    }

    #[test]
    fn fragmented_message_over_the_limit() {
        let mut stream = client_frame(0x02, &[0u8; 600]);
        stream.extend(client_frame(0x80, &[0u8; 600]));
        let err = decode(&mut Decoder::new(1024), &stream).expect_err("too big");
        assert_eq!(err, FrameError::TooBig);
    }

    #[test]
    fn close_with_and_without_status() {
        let mut decoder = Decoder::new(1024);
        assert_eq!(
            decode(&mut decoder, &client_frame(0x88, b"")),
            Ok(vec![Incoming::Close(None)])
        );
        let mut payload = 1000u16.to_be_bytes().to_vec();
        payload.extend_from_slice(b"bye");
        assert_eq!(
            decode(&mut decoder, &client_frame(0x88, &payload)),
            Ok(vec![Incoming::Close(Some(1000))])
        );
    }

    #[test]
    fn server_headers_use_the_shortest_length() {
        assert_eq!(
            header(OutFrame::Text, 5, false),
            ([0x81, 5, 0, 0, 0, 0, 0, 0, 0, 0], 2)
        );
        assert_eq!(header(OutFrame::Binary, 300, false).1, 4);
        assert_eq!(
            &header(OutFrame::Binary, 300, false).0[..4],
            &[0x82, 126, 1, 44]
        );
        assert_eq!(header(OutFrame::Close, 70_000, false).1, 10);
        assert_eq!(header(OutFrame::Pong, 0, false).0[0], 0x8A);
        assert_eq!(header(OutFrame::Text, 5, true).0[0], 0xC1);
        assert_eq!(header(OutFrame::Binary, 5, true).0[0], 0xC2);
        // Control frames are never compressed.
        assert_eq!(header(OutFrame::Close, 2, true).0[0], 0x88);
    }

    #[test]
    fn close_reason_is_cut_at_a_character_boundary() {
        let reason = "é".repeat(100);
        let payload = close_payload(3001, &reason);
        assert!(payload.len() <= MAX_CONTROL_PAYLOAD);
        assert!(std::str::from_utf8(&payload[2..]).is_ok());
        assert_eq!(&payload[..2], &3001u16.to_be_bytes());
    }

    mod properties {
        use super::*;
        use proptest::collection::vec;
        use proptest::prelude::*;

        /// Frames with any opcode (valid or not), fin bit and small payload, masked.
        fn frames() -> impl Strategy<Value = Vec<u8>> {
            vec((0u8..16, any::<bool>(), vec(any::<u8>(), 0..300)), 0..6).prop_map(|frames| {
                frames
                    .into_iter()
                    .flat_map(|(opcode, fin, payload)| {
                        client_frame(if fin { 0x80 } else { 0 } | opcode, &payload)
                    })
                    .collect()
            })
        }

        fn decode_in_chunks(bytes: &[u8], chunk: usize) -> Result<Vec<Incoming>, FrameError> {
            let mut decoder = Decoder::new(1024);
            let mut out = Vec::new();
            for piece in bytes.chunks(chunk.max(1)) {
                decoder.feed(&mut piece.to_vec(), &mut out)?;
            }
            Ok(out)
        }

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..2048), chunk in 1usize..64) {
                let _ = decode_in_chunks(&bytes, chunk);
            }

            #[test]
            fn chunking_never_changes_the_result(bytes in frames(), chunk in 1usize..200) {
                let whole = decode_in_chunks(&bytes, bytes.len());
                let chunked = decode_in_chunks(&bytes, chunk);
                match whole {
                    Ok(messages) => prop_assert_eq!(Ok(messages), chunked),
                    Err(err) => prop_assert_eq!(Some(err), chunked.err()),
                }
            }
        }
    }
}
