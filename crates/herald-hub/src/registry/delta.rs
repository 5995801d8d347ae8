//! Delta compression in fan-out: what a channel keeps while it has subscribers that negotiated
//! fossil deltas, and the variants of one publication they receive, each built at most once
//! and shared by all of them (encode once, send many).
//!
//! A delta subscriber gets, for a stream publication that continues what it was last sent, a
//! patch against the channel's previous publication (`delta: true`); otherwise, or when the
//! patch would not be smaller, the full payload. On a JSON connection both travel as JSON
//! strings, since the SDK parses every publication of such a subscription from a string.
//! Subscribers that did not negotiate delta never reach this module.

use std::sync::Arc;

use bytes::Bytes;
use herald_engine::Publication;
use herald_proto::{Protocol, Push};

use super::EncodeOnce;
use crate::convert::proto_publication;

/// Kept per channel while it has at least one delta subscriber, dropped with the last one (a
/// channel nobody asked deltas for pays nothing).
#[derive(Debug, Default)]
pub(super) struct DeltaChain {
    /// Local subscribers that negotiated delta.
    pub(super) subscribers: usize,
    /// The last stream publication delivered in the channel: what a patch for the next one is
    /// computed against.
    previous: Option<Previous>,
}

#[derive(Debug)]
struct Previous {
    offset: u64,
    epoch: Arc<str>,
    /// Shared with the publication, not copied.
    data: Bytes,
}

impl DeltaChain {
    /// The payload a patch for the publication at `offset` of `epoch` would be computed
    /// against: the previous publication's, if it is the one right before.
    pub(super) fn base_for(&self, offset: u64, epoch: &str) -> Option<Bytes> {
        let previous = self.previous.as_ref()?;
        (offset > 0 && previous.offset + 1 == offset && *previous.epoch == *epoch)
            .then(|| previous.data.clone())
    }

    /// Remembers a stream publication as the base for the next one.
    pub(super) fn record(&mut self, offset: u64, epoch: &str, data: &Bytes) {
        let epoch = match self.previous.take() {
            Some(previous) if *previous.epoch == *epoch => previous.epoch,
            _ => Arc::from(epoch),
        };
        self.previous = Some(Previous {
            offset,
            epoch,
            data: data.clone(),
        });
    }
}

/// The messages one publication goes out as to delta subscribers, each encoded on first use.
pub(super) struct DeltaVariants<'a> {
    channel: &'a str,
    publication: &'a Publication,
    /// What a patch is computed against; `None` when no patch can be sent (the publication
    /// does not ask for one, or the previous publication is not the one right before).
    base: Option<Bytes>,
    /// The fossil patch, `None` inside when it would not be smaller than the payload.
    patch: Option<Option<Bytes>>,
    full_json: Option<Option<Bytes>>,
    patch_json: Option<Option<Bytes>>,
    patch_protobuf: Option<Option<Bytes>>,
}

impl<'a> DeltaVariants<'a> {
    pub(super) fn new(channel: &'a str, publication: &'a Publication, base: Option<Bytes>) -> Self {
        Self {
            channel,
            publication,
            base: base.filter(|_| publication.delta),
            patch: None,
            full_json: None,
            patch_json: None,
            patch_protobuf: None,
        }
    }

    /// The message for a delta subscriber on `protocol`: a patch when `continues` (its client
    /// holds the previous publication) and one is worth sending, the full payload otherwise.
    /// `None`: it cannot be encoded for the protocol (binary data for JSON).
    pub(super) fn get<F: Fn() -> Push>(
        &mut self,
        plain: &mut EncodeOnce<F>,
        protocol: Protocol,
        continues: bool,
    ) -> Option<Bytes> {
        if continues && let Some(patched) = self.patched(protocol) {
            return Some(patched);
        }
        match protocol {
            // Raw bytes and `delta` omitted: the plain encoding is the full variant.
            Protocol::Protobuf => plain.get(protocol),
            Protocol::Json => {
                let (channel, publication) = (self.channel, self.publication);
                self.full_json
                    .get_or_insert_with(|| {
                        let text = herald_proto::json_string(&publication.data)?;
                        encode(channel, publication, protocol, text, false)
                    })
                    .clone()
            }
        }
    }

    /// The patch variant for `protocol`, if a patch is worth sending and can be encoded.
    fn patched(&mut self, protocol: Protocol) -> Option<Bytes> {
        let patch = self.patch()?;
        let (channel, publication) = (self.channel, self.publication);
        let slot = match protocol {
            Protocol::Json => &mut self.patch_json,
            Protocol::Protobuf => &mut self.patch_protobuf,
        };
        slot.get_or_insert_with(|| {
            let data = match protocol {
                // The encoder keeps a delta of UTF-8 text UTF-8; anything else falls back to
                // the full payload.
                Protocol::Json => herald_proto::json_string(&patch)?,
                Protocol::Protobuf => patch,
            };
            encode(channel, publication, protocol, data, true)
        })
        .clone()
    }

    /// The fossil patch from the base to this publication, computed once; `None` without a
    /// base or when it would not be smaller than the payload (then the full one goes out).
    fn patch(&mut self) -> Option<Bytes> {
        let (base, data) = (&self.base, &self.publication.data);
        self.patch
            .get_or_insert_with(|| {
                let patch = herald_delta::delta(base.as_ref()?, data);
                (patch.len() < data.len()).then(|| Bytes::from(patch))
            })
            .clone()
    }
}

/// The push of `publication` with `data` in place of its payload.
fn encode(
    channel: &str,
    publication: &Publication,
    protocol: Protocol,
    data: Bytes,
    delta: bool,
) -> Option<Bytes> {
    let mut r#pub = proto_publication(publication);
    r#pub.data = data;
    r#pub.delta = delta;
    let push = Push {
        channel: channel.to_owned(),
        r#pub: Some(r#pub),
        ..Default::default()
    };
    match herald_proto::encode_push(protocol, &push) {
        Ok(bytes) => Some(bytes),
        Err(err) => {
            tracing::debug!(%err, %channel, "delta push cannot be encoded");
            None
        }
    }
}
