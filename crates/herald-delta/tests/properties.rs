//! `apply(source, delta(source, target)) == target` for any inputs, and the delta of a text is
//! a text.

use proptest::prelude::*;

/// Targets that share material with their source: pieces of it, shifted and edited.
fn related() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    (
        proptest::collection::vec(any::<u8>(), 0..600),
        proptest::collection::vec(
            (
                0usize..600,
                0usize..80,
                proptest::collection::vec(any::<u8>(), 0..20),
            ),
            0..12,
        ),
    )
        .prop_map(|(source, edits)| {
            let mut target = Vec::new();
            for (at, len, fresh) in edits {
                let start = at.min(source.len());
                let end = (start + len).min(source.len());
                target.extend_from_slice(&source[start..end]);
                target.extend_from_slice(&fresh);
            }
            (source, target)
        })
}

/// Texts and edits of them; `alphabet` is a regex class, mostly multi-byte characters so that
/// matches often start and end inside one.
fn texts(alphabet: &'static str) -> impl Strategy<Value = (String, String)> {
    (
        proptest::string::string_regex(&format!("{alphabet}{{0,300}}")).expect("a valid regex"),
        proptest::collection::vec(
            (
                0usize..300,
                0usize..60,
                proptest::string::string_regex("[a-cè😀]{0,5}").expect("a valid regex"),
            ),
            0..10,
        ),
    )
        .prop_map(|(source, edits)| {
            let chars: Vec<char> = source.chars().collect();
            let mut target = String::new();
            for (at, len, fresh) in edits {
                let start = at.min(chars.len());
                let end = (start + len).min(chars.len());
                target.extend(&chars[start..end]);
                target.push_str(&fresh);
            }
            (source, target)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_pairs_round_trip(source in proptest::collection::vec(any::<u8>(), 0..300),
                               target in proptest::collection::vec(any::<u8>(), 0..300)) {
        let patch = herald_delta::delta(&source, &target);
        prop_assert_eq!(herald_delta::apply(&source, &patch), Ok(target));
    }

    #[test]
    fn related_pairs_round_trip((source, target) in related()) {
        let patch = herald_delta::delta(&source, &target);
        prop_assert_eq!(herald_delta::apply(&source, &patch), Ok(target));
    }

    #[test]
    fn the_delta_of_a_text_is_a_text((source, target) in prop_oneof![texts("[a-cé€😀 ]"), texts("[é€😀]")]) {
        let patch = herald_delta::delta(source.as_bytes(), target.as_bytes());
        prop_assert!(std::str::from_utf8(&patch).is_ok());
        prop_assert_eq!(herald_delta::apply(source.as_bytes(), &patch), Ok(target.into_bytes()));
    }

    #[test]
    fn apply_never_panics(source in proptest::collection::vec(any::<u8>(), 0..64),
                          delta in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = herald_delta::apply(&source, &delta);
    }
}
