//! The HTTP/1.1 of Herald's streaming transports, sans-I/O: the requests (opening a stream,
//! posting a command to `/emulation`), the response head, and a [`BodyDecoder`] that
//! de-chunks the body as it arrives and cuts it into messages: lines (HTTP-streaming) or
//! Server-Sent Events (SSE). Every buffer is bounded by [`MAX_MESSAGE`].

use std::io::Write as _;

use bytes::{Buf, Bytes, BytesMut};

/// Longest message (a line, an event's data) and longest chunk-size line accepted; anything
/// longer ends the connection rather than growing a buffer without bound.
pub(super) const MAX_MESSAGE: usize = 1 << 20;

/// Longest response head accepted.
pub(super) const MAX_HEAD: usize = 16 * 1024;

/// Most headers a response head may have.
const MAX_HEADERS: usize = 32;

/// How the stream's messages are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    /// One JSON reply per line (`POST /connection/http_stream`).
    Lines,
    /// One reply per Server-Sent Event, its lines as `data:` fields (`GET /connection/sse`).
    Events,
}

/// The request that opens a stream with `frame` (connect and subscribe commands, JSON lines).
pub(super) fn open_request(layout: Layout, host: &str, path: &str, frame: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + frame.len() * 3);
    // Writing into a Vec cannot fail.
    match layout {
        Layout::Lines => {
            let _ = write!(
                out,
                "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n",
                frame.len()
            );
            out.extend_from_slice(frame);
        }
        Layout::Events => {
            let _ = write!(out, "GET {path}?cf_connect=");
            percent_encode(&mut out, frame);
            let _ = write!(
                out,
                " HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n"
            );
        }
    }
    out
}

/// `POST {path}` of an emulated command frame for `session` on `node`, asking the server to
/// close the connection after answering: the server then keeps the TIME_WAIT, and the client's
/// port is free at once for the next request from the same source address.
pub(super) fn emulation_request(
    host: &str,
    path: &str,
    session: &str,
    node: &str,
    frame: &str,
) -> Vec<u8> {
    let body = serde_json::json!({"session": session, "node": node, "data": frame}).to_string();
    let mut out = Vec::with_capacity(160 + body.len());
    let _ = write!(
        out,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    out
}

/// What the response head says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Head {
    /// Status code.
    pub(super) status: u16,
    /// Bytes the head took.
    pub(super) len: usize,
    /// Whether the body is chunked (else it runs until the connection closes).
    pub(super) chunked: bool,
}

/// Parses the response head at the start of `buf`: `Ok(None)` if more bytes are needed.
/// Interim (`1xx`) responses are not expected from a streaming endpoint and are refused.
pub(super) fn parse_head(buf: &[u8]) -> Result<Option<Head>, String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            return Err(format!("response head over {MAX_HEAD} bytes"));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("malformed HTTP response: {e}")),
    };
    let chunked = response.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("transfer-encoding")
            && h.value
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"))
    });
    Ok(Some(Head {
        status: response.code.unwrap_or(0),
        len,
        chunked,
    }))
}

/// Where the de-chunker is in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Before a chunk-size line.
    Size,
    /// Inside a chunk, with this many data bytes to go.
    Data(usize),
    /// After a chunk's data, before its CRLF.
    DataEnd,
    /// After the last (empty) chunk, in the trailer section.
    Trailers,
    /// The body is complete.
    Done,
}

/// Turns the bytes of a streaming response body, as they arrive, into messages.
#[derive(Debug)]
pub(super) struct BodyDecoder {
    layout: Layout,
    /// De-chunking state; `None` for a body delimited by the end of the connection.
    chunk: Option<Chunk>,
    /// De-chunked bytes not yet cut into messages.
    text: BytesMut,
    /// How far `text` is known to hold no line end.
    scanned: usize,
    /// Data of the event being read (SSE), its lines joined by `\n`.
    event: Vec<u8>,
}

impl BodyDecoder {
    /// A decoder for a body laid out as `layout`, chunked or not.
    pub(super) fn new(layout: Layout, chunked: bool) -> Self {
        Self {
            layout,
            chunk: chunked.then_some(Chunk::Size),
            text: BytesMut::new(),
            scanned: 0,
            event: Vec::new(),
        }
    }

    /// Whether the body has ended (the last chunk was read).
    pub(super) fn ended(&self) -> bool {
        self.chunk == Some(Chunk::Done)
    }

    /// Consumes what it can of `raw` (bytes read from the socket) and appends the messages it
    /// completes to `out`. A partial message stays buffered until the rest arrives.
    pub(super) fn feed(&mut self, raw: &mut BytesMut, out: &mut Vec<Bytes>) -> Result<(), String> {
        match self.chunk {
            None => {
                self.text.extend_from_slice(raw);
                raw.clear();
            }
            Some(_) => self.dechunk(raw)?,
        }
        self.split(out)
    }

    fn dechunk(&mut self, raw: &mut BytesMut) -> Result<(), String> {
        while let Some(state) = self.chunk {
            match state {
                Chunk::Size | Chunk::Trailers => {
                    let Some(end) = find(raw, b'\n') else {
                        if raw.len() > MAX_HEAD {
                            return Err("chunk-size line too long".to_owned());
                        }
                        return Ok(());
                    };
                    let line = raw.split_to(end + 1);
                    let line = line.strip_suffix(b"\n").unwrap_or(&line);
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    self.chunk = Some(if state == Chunk::Trailers {
                        if line.is_empty() {
                            Chunk::Done
                        } else {
                            Chunk::Trailers
                        }
                    } else {
                        match chunk_size(line)? {
                            0 => Chunk::Trailers,
                            size => Chunk::Data(size),
                        }
                    });
                }
                Chunk::Data(left) => {
                    if raw.is_empty() {
                        return Ok(());
                    }
                    let take = left.min(raw.len());
                    self.text.extend_from_slice(&raw[..take]);
                    raw.advance(take);
                    self.chunk = Some(if take == left {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(left - take)
                    });
                }
                Chunk::DataEnd => {
                    if raw.len() < 2 {
                        return Ok(());
                    }
                    if &raw[..2] != b"\r\n" {
                        return Err("chunk data not followed by CRLF".to_owned());
                    }
                    raw.advance(2);
                    self.chunk = Some(Chunk::Size);
                }
                Chunk::Done => {
                    raw.clear();
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Cuts complete lines off `text` and turns them into messages.
    fn split(&mut self, out: &mut Vec<Bytes>) -> Result<(), String> {
        while let Some(at) = find(&self.text[self.scanned..], b'\n') {
            let mut line = self.text.split_to(self.scanned + at + 1);
            self.scanned = 0;
            line.truncate(line.len() - 1);
            if line.last() == Some(&b'\r') {
                line.truncate(line.len() - 1);
            }
            match self.layout {
                Layout::Lines if line.is_empty() => {}
                Layout::Lines => out.push(line.freeze()),
                Layout::Events => self.event_line(&line, out)?,
            }
        }
        self.scanned = self.text.len();
        if self.text.len() > MAX_MESSAGE {
            return Err(format!("a message over {MAX_MESSAGE} bytes"));
        }
        if self.text.is_empty() && self.text.capacity() > 0 {
            // An idle connection keeps no buffer: most of them wait here between messages.
            self.text = BytesMut::new();
        }
        Ok(())
    }

    /// One line of an event stream (the WHATWG rules, less `event:`, `id:` and `retry:`,
    /// which Herald does not send).
    fn event_line(&mut self, line: &[u8], out: &mut Vec<Bytes>) -> Result<(), String> {
        if line.is_empty() {
            // A blank line dispatches the event; one without data (the opening `\r\n`) is none.
            if !self.event.is_empty() {
                self.event.pop(); // the `\n` after the last data line
                out.push(Bytes::from(std::mem::take(&mut self.event)));
            }
            return Ok(());
        }
        let (field, value) = match find(line, b':') {
            Some(0) => return Ok(()), // a comment
            Some(at) => {
                let value = &line[at + 1..];
                (&line[..at], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        if field == b"data" {
            if self.event.len() + value.len() >= MAX_MESSAGE {
                return Err(format!("an event over {MAX_MESSAGE} bytes"));
            }
            self.event.extend_from_slice(value);
            self.event.push(b'\n');
        }
        Ok(())
    }
}

/// The size of a chunk-size line (hex, extensions after `;` ignored).
fn chunk_size(line: &[u8]) -> Result<usize, String> {
    let text = std::str::from_utf8(line).map_err(|_| "malformed chunk size".to_owned())?;
    let digits = text.split(';').next().unwrap_or("").trim();
    let size = usize::from_str_radix(digits, 16)
        .map_err(|_| format!("malformed chunk size {digits:?}"))?;
    if size > MAX_MESSAGE {
        return Err(format!("a chunk of {size} bytes, over {MAX_MESSAGE}"));
    }
    Ok(size)
}

fn find(haystack: &[u8], needle: u8) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

/// Appends `data` percent-encoded for a query value (everything but RFC 3986's unreserved
/// characters is escaped).
fn percent_encode(out: &mut Vec<u8>, data: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in data {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(decoder: &mut BodyDecoder, pieces: &[&[u8]]) -> Result<Vec<Bytes>, String> {
        let mut out = Vec::new();
        let mut raw = BytesMut::new();
        for piece in pieces {
            raw.extend_from_slice(piece);
            decoder.feed(&mut raw, &mut out)?;
        }
        Ok(out)
    }

    #[test]
    fn lines_across_chunks_and_reads() {
        let mut decoder = BodyDecoder::new(Layout::Lines, true);
        let body: &[u8] = b"e\r\n{\"id\":1}\n{\"id\"\r\n5\r\n:2}\n\n\r\n3\r\n{}\n\r\n0\r\n\r\n";
        // Every split point of the body gives the same messages.
        for cut in 0..body.len() {
            let mut decoder = BodyDecoder::new(Layout::Lines, true);
            let out = feed_all(&mut decoder, &[&body[..cut], &body[cut..]]).expect("valid");
            assert_eq!(
                out,
                [&b"{\"id\":1}"[..], b"{\"id\":2}", b"{}"],
                "cut at {cut}"
            );
            assert!(decoder.ended());
        }
        let out = feed_all(&mut decoder, &[body]).expect("valid");
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn events_join_data_lines_and_skip_the_preamble_and_comments() {
        let body: &[u8] =
            b"\r\ndata: {\"id\":1}\n\n: keep-alive\ndata: {\"a\":\ndata:1}\r\n\r\ndata: {}\n\n";
        let mut decoder = BodyDecoder::new(Layout::Events, false);
        let out = feed_all(&mut decoder, &[&body[..20], &body[20..]]).expect("valid");
        assert_eq!(out, [&b"{\"id\":1}"[..], b"{\"a\":\n1}", b"{}"]);
        assert!(!decoder.ended());
    }

    #[test]
    fn oversized_and_malformed_bodies_are_errors() {
        let mut decoder = BodyDecoder::new(Layout::Lines, false);
        let long = vec![b'x'; MAX_MESSAGE + 1];
        assert!(feed_all(&mut decoder, &[&long]).is_err());
        let mut decoder = BodyDecoder::new(Layout::Lines, true);
        assert!(feed_all(&mut decoder, &[b"zz\r\n"]).is_err());
        let mut decoder = BodyDecoder::new(Layout::Lines, true);
        assert!(feed_all(&mut decoder, &[b"2\r\n{}xx"]).is_err());
    }

    #[test]
    fn heads_and_requests() {
        let head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                     transfer-encoding: chunked\r\n\r\n2\r\n";
        let parsed = parse_head(head).expect("valid").expect("complete");
        assert_eq!((parsed.status, parsed.chunked), (200, true));
        assert_eq!(&head[parsed.len..], b"2\r\n");
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\n"), Ok(None));
        assert!(parse_head(b"garbage\r\n\r\n").is_err());

        let get = open_request(Layout::Events, "h:1", "/connection/sse", b"{\"id\":1}\n{}");
        assert_eq!(
            String::from_utf8(get).expect("ascii"),
            "GET /connection/sse?cf_connect=%7B%22id%22%3A1%7D%0A%7B%7D HTTP/1.1\r\nHost: h:1\r\n\
             Accept: text/event-stream\r\n\r\n"
        );
        let post = emulation_request("h:1", "/emulation", "s\"1", "n", "{}");
        let post = String::from_utf8(post).expect("ascii");
        assert!(post.starts_with("POST /emulation HTTP/1.1\r\n"), "{post}");
        assert!(post.contains("Connection: close\r\n"), "{post}");
        let body = post.split("\r\n\r\n").nth(1).expect("a body");
        let json: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(json["session"], "s\"1");
        assert_eq!(json["data"], "{}");
    }
}
