//! Integration tests of herald-proto through its public API only: property-based round trips
//! for both protocols, and decoders fed arbitrary bytes.

mod no_panic;
mod round_trip;
mod strategies;
