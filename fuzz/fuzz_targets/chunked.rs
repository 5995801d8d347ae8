//! The input layout shared by the targets that feed a stream decoder: which bytes are the
//! stream, in which chunk sizes to feed it, and which size limit to decode with.
//!
//! ```text
//! byte 0         control: bits 0-2 = n - 1, the number of chunk-size bytes (1 to 8);
//!                bit 7 = decode with a small limit, 16 + 64 * bits 3-6 (16 to 976 bytes),
//!                instead of the decoder's real default, so the too-big paths are reachable
//! bytes 1..=n    chunk sizes, used in turn and cycled; 0 feeds an empty chunk, then 1 byte
//! the rest       the stream of peer bytes
//! ```

/// One fuzz input, split into its parts.
pub struct Input<'a> {
    /// The bytes the peer sent.
    pub stream: &'a [u8],
    /// The small limit picked by the control byte, if any.
    pub small_limit: Option<usize>,
    sizes: &'a [u8],
}

impl<'a> Input<'a> {
    /// Splits `data`; `None` when it is too short to hold a control byte and one size.
    pub fn parse(data: &'a [u8]) -> Option<Self> {
        let (&control, rest) = data.split_first()?;
        let n = usize::from(control & 0x07) + 1;
        if rest.len() < n {
            return None;
        }
        let (sizes, stream) = rest.split_at(n);
        let small_limit =
            (control & 0x80 != 0).then(|| 16 + 64 * usize::from((control >> 3) & 0x0f));
        Some(Self {
            stream,
            small_limit,
            sizes,
        })
    }

    /// The stream cut into the chunk sizes of the input (empty chunks included).
    pub fn chunks(&self) -> Vec<&'a [u8]> {
        let mut chunks = Vec::new();
        let mut rest = self.stream;
        let mut sizes = self.sizes.iter().cycle();
        while !rest.is_empty() {
            let size = *sizes.next().expect("at least one chunk size");
            if size == 0 {
                chunks.push(&rest[..0]);
            }
            let (chunk, tail) = rest.split_at(usize::from(size).clamp(1, rest.len()));
            chunks.push(chunk);
            rest = tail;
        }
        chunks
    }
}
