//! The conformance suite every engine runs: written once against [`Broker`](crate::Broker) and
//! [`PresenceManager`](crate::PresenceManager), so the memory engine and the Redis engine are held
//! to the very same behaviour.
//!
//! For engine crates' tests only, so it is behind the cargo feature `conformance`, which they
//! enable on their dev-dependency:
//! `herald-engine = { workspace = true, features = ["conformance"] }`.
//!
//! Each case is a public async function in [`broker`], [`version`], [`no_history`],
//! [`presence`] or [`lifecycle`] that
//! panics when the engine misbehaves. The two macros expand to one `#[tokio::test]` per case, so every case shows up
//! on its own in the test output:
//!
//! ```ignore
//! // tests/it/conformance.rs of an engine crate
//! mod broker {
//!     herald_engine::broker_conformance_tests!(
//!         time = real,
//!         broker = async { std::sync::Arc::new(my_engine().await) },
//!     );
//! }
//! mod presence {
//!     herald_engine::presence_conformance_tests!(
//!         time = real,
//!         presence = async { std::sync::Arc::new(my_engine().await) },
//!     );
//! }
//! ```
//!
//! - `broker = ` / `presence = ` is an expression evaluating to a future of `Arc<E>`, evaluated
//!   once per test; each test gets a fresh engine and calls `run` itself.
//! - `time = paused` runs the cases with tokio's clock paused (`start_paused = true`, which needs
//!   tokio's `test-util` feature in the calling crate), so TTL cases take no real time: right for
//!   an engine that reads `tokio::time::Instant`. `time = real` runs them on the real clock: a
//!   backend with its own clock (Redis) must use it, and its TTL cases then take a few seconds.
//!   TTLs in the suite are whole seconds with at least half a second of margin, because Redis
//!   counts TTLs in seconds.
//! - `history = false` (after `time`, optional, default `true`) is for a broker without
//!   history or idempotency (at-most-once PUB/SUB, like the NATS broker): the [`broker`] cases
//!   that read streams, count offsets or expect suppressed publishes are skipped, and the
//!   [`no_history`] cases run instead.
//! - The calling crate needs `tokio` (with `macros` and `rt-multi-thread`) as a dependency.
//! - Every case uses its own random channel names, so cases may share one backend, run in
//!   parallel, and be run again against a backend that kept old data.

mod handler;

pub mod broker;
pub mod lifecycle;
pub mod no_history;
pub mod presence;
pub mod version;

pub use handler::{DELIVERY_TIMEOUT, Event, RecordingHandler};

use rand::distr::{Alphanumeric, SampleString};

/// A channel name no other case (or earlier run) uses.
pub fn unique_channel(case: &str) -> String {
    format!(
        "herald-conformance:{case}:{}",
        Alphanumeric.sample_string(&mut rand::rng(), 12)
    )
}

/// Expands to one `#[tokio::test]` per [`broker`] case (with `history = false`: per
/// [`no_history`] case, plus the [`broker`] cases that need no history). See the
/// [module docs](self).
#[macro_export]
macro_rules! broker_conformance_tests {
    (time = $time:tt, broker = $make:expr $(,)?) => {
        $crate::broker_conformance_tests!(time = $time, history = true, broker = $make);
    };
    (time = $time:tt, history = false, broker = $make:expr $(,)?) => {
        $crate::__conformance_tests!($time, broker, $make;
            join_and_leave_reach_handler,
            publish_before_run_is_not_running,
        );
        $crate::__conformance_tests!($time, no_history, $make;
            publications_reach_handler_in_order_without_positions,
            publication_fields_survive_delivery,
            history_is_not_supported,
        );
        $crate::__conformance_tests!($time, version, $make;
            version_is_ignored_without_history,
        );
        $crate::__conformance_tests!(multi_thread, no_history, $make;
            concurrent_publishes_arrive_in_publisher_order,
        );
    };
    (time = $time:tt, history = true, broker = $make:expr $(,)?) => {
        $crate::__conformance_tests!($time, broker, $make;
            offsets_start_at_one_and_increase_by_one,
            epoch_is_eight_letters_and_stable,
            handler_receives_publications_in_order_with_positions,
            publication_fields_survive_delivery_and_history,
            publish_without_history_delivers_offset_zero_and_keeps_nothing,
            history_of_new_channel_creates_a_stable_position,
            history_is_trimmed_to_history_size,
            history_limit_zero_returns_position_only,
            history_limit_all_returns_everything_oldest_first,
            history_limit_n_returns_oldest_n,
            history_reverse_returns_newest_first,
            history_since_returns_publications_after_position,
            history_since_reverse_returns_older_publications_newest_first,
            history_since_top_is_empty,
            history_since_other_epoch_is_unrecoverable,
            history_since_trimmed_offset_is_unrecoverable,
            history_expires_after_ttl_from_last_publish,
            position_expiry_starts_a_new_epoch,
            remove_history_keeps_position,
            idempotency_key_suppresses_second_publish,
            idempotency_key_expires,
            join_and_leave_reach_handler,
            publish_before_run_is_not_running,
        );
        $crate::__conformance_tests!($time, version, $make;
            stale_version_is_dropped,
            version_epoch_decides_what_is_compared,
            unversioned_publish_keeps_last_version,
            version_is_ignored_without_history,
        );
        $crate::__conformance_tests!(multi_thread, broker, $make;
            concurrent_publishes_get_consecutive_offsets_in_order,
        );
    };
    ($($other:tt)*) => {
        ::core::compile_error!(
            "usage: broker_conformance_tests!(time = paused | real, [history = true | false,] broker = <future of Arc<impl Broker>>)"
        );
    };
}

/// Expands to one `#[tokio::test]` per [`presence`] case. See the [module docs](self).
#[macro_export]
macro_rules! presence_conformance_tests {
    (time = $time:tt, presence = $make:expr $(,)?) => {
        $crate::__conformance_tests!($time, presence, $make;
            presence_of_unknown_channel_is_empty,
            presence_add_and_get,
            presence_is_per_channel,
            presence_remove,
            presence_add_again_updates_info,
            presence_expires_after_ttl,
            presence_refresh_extends_ttl,
            presence_stats_counts_distinct_users_with_anonymous,
            presence_stats_skip_expired,
        );
    };
    ($($other:tt)*) => {
        ::core::compile_error!(
            "usage: presence_conformance_tests!(time = paused | real, presence = <future of Arc<impl PresenceManager>>)"
        );
    };
}

/// Expands to one `#[tokio::test]` per [`lifecycle`] case. See the [module docs](self).
#[macro_export]
macro_rules! lifecycle_conformance_tests {
    (time = $time:tt, store = $make:expr $(,)?) => {
        $crate::__conformance_tests!($time, lifecycle, $make;
            occupancy_period_is_emitted_once,
            occupy_before_check_continues_the_period,
            periods_increase,
            dead_node_cleanup_is_claimed_once,
        );
        $crate::__conformance_tests!(multi_thread, lifecycle, $make;
            concurrent_holders_open_and_close_each_period_once,
        );
    };
    ($($other:tt)*) => {
        ::core::compile_error!(
            "usage: lifecycle_conformance_tests!(time = paused | real, store = <future of Arc<impl LifecycleStore>>)"
        );
    };
}

/// One test per case, with the runtime the time mode asks for.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    (paused, $suite:ident, $make:expr; $($case:ident),+ $(,)?) => {$(
        #[tokio::test(start_paused = true)]
        async fn $case() {
            $crate::conformance::$suite::$case($make.await).await;
        }
    )+};
    (real, $suite:ident, $make:expr; $($case:ident),+ $(,)?) => {$(
        #[tokio::test]
        async fn $case() {
            $crate::conformance::$suite::$case($make.await).await;
        }
    )+};
    // Cases about parallel callers need real threads, hence real time whatever the mode.
    (multi_thread, $suite:ident, $make:expr; $($case:ident),+ $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $case() {
            $crate::conformance::$suite::$case($make.await).await;
        }
    )+};
    ($time:tt, $($rest:tt)*) => {
        ::core::compile_error!("conformance tests: `time` must be `paused` or `real`");
    };
}
