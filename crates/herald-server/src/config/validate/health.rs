//! Validation of the health keys, and of `shutdown.drain_period`. Herald's additions
//! (`health.readiness_handler_prefix`, `health.probe_interval`, `health.probe_timeout`,
//! `shutdown.drain_period`; none is in Centrifugo) are fields of `HealthConfig` and
//! `ShutdownConfig` in `raw.rs`, whose sections Centrifugo has.

use std::time::Duration;

use herald_hub::ProbeOptions;

use super::super::duration::GoDuration;
use super::super::raw::{Config, HealthConfig, ShutdownConfig};
use super::super::settings::HealthSettings;
use super::Checker;

impl Config {
    pub(super) fn health_settings(&self, c: &mut Checker) -> HealthSettings {
        let health = &self.health;
        let handler_prefix = c.prefix("health.handler_prefix", &health.handler_prefix, "/");
        let readiness_handler_prefix = c.prefix(
            "health.readiness_handler_prefix",
            &health.readiness_handler_prefix,
            "/",
        );
        if readiness_handler_prefix == handler_prefix {
            c.fail(
                "health.readiness_handler_prefix",
                format!("must differ from health.handler_prefix ({handler_prefix:?})"),
            );
        }
        HealthSettings {
            enabled: health.enabled,
            handler_prefix,
            readiness_handler_prefix,
        }
    }
}

/// The probe's options: a negative duration, or a zero timeout with the probe on, is an error
/// naming the key.
pub(super) fn probe_options(raw: &HealthConfig, c: &mut Checker) -> ProbeOptions {
    let defaults = ProbeOptions::default();
    let mut read = |key: &str, value: GoDuration, default: Duration| {
        value.to_std().unwrap_or_else(|| {
            c.fail(key, format!("must not be negative, got {value}"));
            default
        })
    };
    let interval = read(
        "health.probe_interval",
        raw.probe_interval,
        defaults.interval,
    );
    let timeout = read("health.probe_timeout", raw.probe_timeout, defaults.timeout);
    if !interval.is_zero() && timeout.is_zero() {
        c.fail(
            "health.probe_timeout",
            "must be positive while health.probe_interval is (0s turns the probe off)",
        );
    }
    ProbeOptions { interval, timeout }
}

/// `shutdown.drain_period`: zero or more, and less than `shutdown.timeout` (the process still
/// waits for the last connections after the drain).
pub(super) fn drain_period(raw: &ShutdownConfig, timeout: Duration, c: &mut Checker) -> Duration {
    let Some(period) = raw.drain_period.to_std() else {
        c.fail(
            "shutdown.drain_period",
            format!("must not be negative, got {}", raw.drain_period),
        );
        return Duration::ZERO;
    };
    if !period.is_zero() && period >= timeout {
        c.fail(
            "shutdown.drain_period",
            format!(
                "must be less than shutdown.timeout ({}), got {}",
                raw.timeout, raw.drain_period
            ),
        );
        return Duration::ZERO;
    }
    period
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(c: Checker) -> Vec<String> {
        c.errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn probe_defaults_and_errors_name_the_key() {
        let mut c = Checker::default();
        assert_eq!(
            probe_options(&HealthConfig::default(), &mut c),
            ProbeOptions::default()
        );
        assert!(errors(c).is_empty());

        let mut c = Checker::default();
        let raw = HealthConfig {
            probe_interval: GoDuration::from_secs(-1),
            probe_timeout: GoDuration::ZERO,
            ..HealthConfig::default()
        };
        probe_options(&raw, &mut c);
        let errs = errors(c);
        assert!(
            errs[0].starts_with("health.probe_interval: must not be negative"),
            "{errs:?}"
        );
        assert!(
            errs[1].starts_with("health.probe_timeout: must be positive"),
            "{errs:?}"
        );

        let mut c = Checker::default();
        let off = HealthConfig {
            probe_interval: GoDuration::ZERO,
            probe_timeout: GoDuration::ZERO,
            ..HealthConfig::default()
        };
        assert!(probe_options(&off, &mut c).interval.is_zero());
        assert!(errors(c).is_empty());
    }

    #[test]
    fn the_readiness_path_defaults_to_ready_and_must_differ_from_the_liveness_path() {
        let mut c = Checker::default();
        let settings = Config::default().health_settings(&mut c);
        assert_eq!(settings.readiness_handler_prefix, "/ready");
        assert!(errors(c).is_empty());

        let mut config = Config::default();
        config.health.readiness_handler_prefix = "/health/".to_owned();
        let mut c = Checker::default();
        config.health_settings(&mut c);
        let errs = errors(c);
        assert!(
            errs[0].starts_with("health.readiness_handler_prefix: must differ"),
            "{errs:?}"
        );
    }

    #[test]
    fn the_drain_period_must_be_less_than_the_shutdown_timeout() {
        let timeout = Duration::from_secs(10);
        let raw = |drain| ShutdownConfig {
            drain_period: drain,
            ..ShutdownConfig::default()
        };
        let check = |drain| {
            let mut c = Checker::default();
            let period = drain_period(&raw(drain), timeout, &mut c);
            (period, errors(c))
        };
        assert_eq!(check(GoDuration::ZERO), (Duration::ZERO, vec![]));
        assert_eq!(
            check(GoDuration::from_secs(2)),
            (Duration::from_secs(2), vec![])
        );
        let (_, errs) = check(GoDuration::from_secs(10));
        assert!(
            errs[0].starts_with("shutdown.drain_period: must be less than shutdown.timeout"),
            "{errs:?}"
        );
        let (_, errs) = check(GoDuration::from_secs(-1));
        assert!(
            errs[0].starts_with("shutdown.drain_period: must not be negative"),
            "{errs:?}"
        );
    }
}
