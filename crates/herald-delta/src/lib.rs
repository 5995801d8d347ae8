//! Fossil delta compression: the format of Fossil SCM's `delta.c`, which Centrifugo sends to
//! subscribers that negotiated `delta: "fossil"` and centrifuge-js decodes (`src/fossil.ts`).
//!
//! A delta turns a *source* (the channel's previous publication) into a *target* (the new one):
//!
//! ```text
//! delta   = int(target length) "\n" *command int(checksum) ";"
//! command = int(count) "@" int(offset) ","    copy count bytes of the source from offset
//!         / int(count) ":" count raw bytes    insert these bytes
//! int     = base-64 digits 0-9 A-Z _ a-z ~, most significant first
//! ```
//!
//! The checksum is the 32-bit sum of the target read as big-endian words (see
//! [`checksum`]). [`delta`] finds copies with Fossil's rolling hash over 16-byte blocks of
//! the source; [`apply`] checks every count, offset and the checksum, so it never panics on
//! any input. Sans-I/O and without dependencies.
//!
//! When the target is UTF-8 text, the delta is UTF-8 text too (copies start and end on
//! character boundaries of the target, so no inserted run splits a character): Herald sends a
//! JSON client its deltas as JSON strings.
//!
//! # Example
//!
//! ```
//! let source = br#"{"score":10,"players":["ann","bob","cy"],"note":"a long, unchanged text"}"#;
//! let target = br#"{"score":11,"players":["ann","bob","cy"],"note":"a long, unchanged text"}"#;
//! let patch = herald_delta::delta(source, target);
//! assert!(patch.len() < target.len());
//! assert_eq!(herald_delta::apply(source, &patch)?, target);
//! # Ok::<(), herald_delta::ApplyError>(())
//! ```

mod apply;
mod encode;
mod format;

pub use apply::{ApplyError, apply};
pub use encode::delta;
pub use format::checksum;
