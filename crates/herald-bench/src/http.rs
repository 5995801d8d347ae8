//! The little HTTP/1.1 the publisher needs, sans-I/O: build a POST, and cut complete responses
//! out of a read buffer. Requests are pipelined on one connection (written without waiting for
//! answers), which keeps publish order and open-loop timing; a client that waits for each
//! answer would turn server stalls into a lower send rate.

use bytes::{Buf, Bytes, BytesMut};

/// Most headers a response may have.
const MAX_HEADERS: usize = 32;

/// Appends a `POST` with a JSON body to `out`.
pub(crate) fn write_post(
    out: &mut Vec<u8>,
    host: &str,
    path: &str,
    api_key: Option<&str>,
    body: &[u8],
) {
    use std::io::Write as _;
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
    );
    if let Some(key) = api_key {
        let _ = write!(out, "X-API-Key: {key}\r\n");
    }
    let _ = write!(out, "Content-Length: {}\r\n\r\n", body.len());
    out.extend_from_slice(body);
}

/// One response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    /// Status code.
    pub status: u16,
    /// Body, de-chunked.
    pub body: Bytes,
}

/// Takes the first complete response off the front of `buf`; `Ok(None)` if more bytes are
/// needed. `1xx` responses are skipped.
pub(crate) fn take_response(buf: &mut BytesMut) -> Result<Option<Response>, String> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let head_len = match response.parse(buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(format!("malformed HTTP response: {e}")),
        };
        let status = response.code.unwrap_or(0);
        let mut content_length = None;
        let mut chunked = false;
        for header in response.headers.iter() {
            if header.name.eq_ignore_ascii_case("content-length") {
                let value = std::str::from_utf8(header.value)
                    .ok()
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .ok_or("malformed Content-Length")?;
                content_length = Some(value);
            } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = header
                    .value
                    .split(|&b| b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            }
        }
        if (100..200).contains(&status) {
            buf.advance(head_len);
            continue;
        }
        let body = if chunked {
            match dechunk(&buf[head_len..])? {
                Some((body, used)) => {
                    buf.advance(head_len + used);
                    Bytes::from(body)
                }
                None => return Ok(None),
            }
        } else {
            let len = content_length.unwrap_or(0);
            if buf.len() < head_len + len {
                return Ok(None);
            }
            buf.advance(head_len);
            buf.split_to(len).freeze()
        };
        return Ok(Some(Response { status, body }));
    }
}

/// Decodes a chunked body at the start of `data`: the body and the bytes it took, or `None`
/// if incomplete. Trailers are not supported (nobody sends them to this client).
fn dechunk(data: &[u8]) -> Result<Option<(Vec<u8>, usize)>, String> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let Some(line_end) = find_crlf(&data[at..]) else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&data[at..at + line_end])
            .map_err(|_| "malformed chunk size".to_owned())?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("malformed chunk size {size_text:?}"))?;
        at += line_end + 2;
        if size == 0 {
            return Ok(if data.len() >= at + 2 {
                Some((body, at + 2))
            } else {
                None
            });
        }
        if data.len() < at + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&data[at..at + size]);
        at += size + 2;
    }
}

fn find_crlf(data: &[u8]) -> Option<usize> {
    data.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_post() {
        let mut out = Vec::new();
        write_post(&mut out, "127.0.0.1:8000", "/api/publish", Some("k"), b"{}");
        assert_eq!(
            String::from_utf8(out).expect("ascii"),
            "POST /api/publish HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nContent-Type: application/json\r\n\
             X-API-Key: k\r\nContent-Length: 2\r\n\r\n{}"
        );
    }

    #[test]
    fn cuts_pipelined_responses() {
        let mut buf = BytesMut::from(
            &b"HTTP/1.1 200 OK\r\ncontent-length: 13\r\n\r\n{\"result\":{}}\
               HTTP/1.1 100 Continue\r\n\r\n\
               HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nbad\r\n2;x=y\r\n!!\r\n0\r\n\r\n\
               HTTP/1.1 200 OK\r\nContent-Le"[..],
        );
        let first = take_response(&mut buf).expect("valid").expect("complete");
        assert_eq!(first.status, 200);
        assert_eq!(&first.body[..], b"{\"result\":{}}");
        let second = take_response(&mut buf).expect("valid").expect("complete");
        assert_eq!(second.status, 400);
        assert_eq!(&second.body[..], b"bad!!");
        assert_eq!(take_response(&mut buf), Ok(None));
        buf.extend_from_slice(b"ngth: 2\r\n\r\n{");
        assert_eq!(take_response(&mut buf), Ok(None));
        buf.extend_from_slice(b"}");
        let third = take_response(&mut buf).expect("valid").expect("complete");
        assert_eq!(&third.body[..], b"{}");
        assert!(buf.is_empty());
    }

    #[test]
    fn rejects_garbage() {
        let mut buf = BytesMut::from(&b"SSH-2.0-OpenSSH\r\n\r\n"[..]);
        assert!(take_response(&mut buf).is_err());
    }
}
