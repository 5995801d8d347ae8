//! Fossil deltas (`herald-delta`): applying any bytes as a delta to any source never panics,
//! and a delta the encoder makes between two inputs always applies back to the target, and is
//! UTF-8 when the target is. The input is split in two at a position its first byte chooses:
//! the source and the target (also tried as a delta against the source).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let split = usize::from(control) * rest.len() / 255;
    let (source, target) = rest.split_at(split);
    let _ = herald_delta::apply(source, target);
    let patch = herald_delta::delta(source, target);
    assert_eq!(herald_delta::apply(source, &patch).as_deref(), Ok(target));
    if std::str::from_utf8(target).is_ok() {
        assert!(std::str::from_utf8(&patch).is_ok(), "the delta of a text is a text");
    }
});
