//! BENCHMARKS.md from result files: per workload a table with one column per server, the
//! Herald / peer ratio, the exact commands and the machine.

use std::fmt::Write as _;

use crate::adapter::Flavor;
use crate::report::{ConnectReport, FanoutReport, Report, StepReport, kib, ms, opt, percent};

/// Renders `reports` (in order) as a Markdown document. `quick` adds the quick-mode warning;
/// `notes` are extra lines for the header (versions, date).
pub fn render(reports: &[Report], quick: bool, notes: &[String]) -> String {
    let mut out = String::from("# Benchmarks\n\n");
    if quick {
        out.push_str(
            "> **Quick mode** (`bench/run --quick`): small sizes and short runs. These numbers \
             come from a 2-core machine with the load generator running on the same machine as \
             the server, so the generator takes CPU from the server; read them as a \
             side-by-side comparison on equal terms, not as absolute capacity.\n\n",
        );
    }
    out.push_str(
        "Produced by `bench/run`, which builds release binaries, starts each server on a free \
         port, runs `herald-bench` against it and writes this file. Servers: **Herald** \
         (Centrifugo protocol v2, JSON and Protobuf clients, JWT connect + subscribe) and \
         the reference **Socket.IO \
         4** server in `bench/peers/socketio` (no authentication, `subscribe` event joins a \
         room). Latency is end-to-end from each message's *scheduled* send time (open loop), so \
         stalls are not hidden. Ratios are Herald (JSON) / Socket.IO.\n\n",
    );
    for note in notes {
        let _ = writeln!(out, "- {note}");
    }
    if !notes.is_empty() {
        out.push('\n');
    }
    if let Some(first) = reports.first() {
        let machine = &run_of(first).machine;
        let _ = writeln!(
            out,
            "**Machine:** {} CPUs ({}), {:.1} GiB memory, Linux {}.\n",
            machine.cpus,
            machine.cpu_model,
            machine.memory_bytes as f64 / (1024.0 * 1024.0 * 1024.0),
            machine.kernel
        );
    }

    let connects: Vec<&ConnectReport> = reports
        .iter()
        .filter_map(|r| match r {
            Report::Connect(c) => Some(c),
            _ => None,
        })
        .collect();
    if !connects.is_empty() {
        connect_section(&mut out, &connects);
    }
    for (stepped, group) in fanout_groups(reports) {
        if stepped {
            step_section(&mut out, &group);
        } else {
            fixed_section(&mut out, &group);
        }
    }
    for report in reports {
        let title = match report {
            Report::Storm(_) => "Reconnect storm",
            Report::Rooms(_) => "Rooms",
            _ => continue,
        };
        let _ = write!(
            out,
            "\n## {title}\n\n```\n{}```\n\nCommand: `{}`\n",
            report.to_table(),
            run_of(report).command
        );
    }
    out
}

fn run_of(report: &Report) -> &crate::report::RunInfo {
    match report {
        Report::Connect(r) => &r.run,
        Report::Fanout(r) => &r.run,
        Report::Storm(r) => &r.run,
        Report::Rooms(r) => &r.run,
    }
}

/// Stepped, subscribers, payload bytes, fixed rate (0 when stepped).
type FanoutKey = (bool, u64, usize, u64);

/// Fanout reports grouped by configuration (stepped or not, subscribers, payload, and the
/// rate of a fixed run), in order of first appearance: each group becomes one section.
fn fanout_groups(reports: &[Report]) -> Vec<(bool, Vec<&FanoutReport>)> {
    let mut groups: Vec<(FanoutKey, Vec<&FanoutReport>)> = Vec::new();
    for report in reports {
        let Report::Fanout(f) = report else { continue };
        let rate = if f.stepped {
            0
        } else {
            f.steps.first().map_or(0, |s| s.rate.round() as u64)
        };
        let key = (f.stepped, f.open.wanted, f.payload_bytes, rate);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, group)) => group.push(f),
            None => groups.push((key, vec![f])),
        }
    }
    groups
        .into_iter()
        .map(|((stepped, ..), group)| (stepped, group))
        .collect()
}

/// One row: a label, one value per server, and how to compare them.
struct Row {
    label: String,
    values: Vec<Option<f64>>,
    format: fn(f64) -> String,
}

/// A table with one column per server and, when there is a Herald and a Socket.IO column,
/// their ratio.
fn comparison(out: &mut String, flavors: &[Flavor], rows: &[Row]) {
    let herald = flavors.iter().position(|f| f.is_herald());
    let peer = flavors.iter().position(|f| *f == Flavor::Socketio);
    let ratio = herald.zip(peer);
    let mut header = String::from("| |");
    let mut rule = String::from("|---|");
    for flavor in flavors {
        let _ = write!(header, " {} |", display_name(*flavor));
        rule.push_str("---:|");
    }
    if ratio.is_some() {
        header.push_str(" Herald / Socket.IO |");
        rule.push_str("---:|");
    }
    let _ = writeln!(out, "{header}\n{rule}");
    for row in rows {
        let _ = write!(out, "| {} |", row.label);
        for value in &row.values {
            let _ = write!(
                out,
                " {} |",
                value.map_or_else(|| "n/a".to_owned(), row.format)
            );
        }
        if let Some((h, p)) = ratio {
            let text = match (row.values[h], row.values[p]) {
                (Some(h), Some(p)) if p != 0.0 => format!("{:.2}x", h / p),
                _ => "–".to_owned(),
            };
            let _ = write!(out, " {text} |");
        }
        out.push('\n');
    }
    out.push('\n');
}

fn display_name(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::HeraldJson => "Herald (JSON)",
        Flavor::HeraldProtobuf => "Herald (Protobuf)",
        Flavor::Socketio => "Socket.IO 4",
        Flavor::HeraldHttpStream => "Herald (HTTP-streaming)",
        Flavor::HeraldSse => "Herald (SSE)",
        Flavor::Pusher => "Herald (Pusher)",
    }
}

fn row<T>(
    label: &str,
    items: &[&T],
    value: impl Fn(&T) -> Option<f64>,
    format: fn(f64) -> String,
) -> Row {
    Row {
        label: label.to_owned(),
        values: items.iter().map(|item| value(item)).collect(),
        format,
    }
}

fn int(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.abs().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if n < 0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}

fn millis(v: f64) -> String {
    format!("{v:.2} ms")
}

fn share(v: f64) -> String {
    percent(v)
}

fn kibibytes(v: f64) -> String {
    kib(v)
}

fn seconds(v: f64) -> String {
    format!("{v:.2} s")
}

fn commands(out: &mut String, runs: impl Iterator<Item = String>) {
    out.push_str("Commands:\n\n```sh\n");
    for command in runs {
        let _ = writeln!(out, "{command}");
    }
    out.push_str("```\n\n");
}

fn connect_section(out: &mut String, reports: &[&ConnectReport]) {
    let first = reports[0];
    let _ = writeln!(
        out,
        "## connect: {} connections, connect + subscribe, held {:.0} s\n",
        int(first.open.wanted as f64),
        first.hold_seconds
    );
    let flavors: Vec<Flavor> = reports.iter().map(|r| r.run.flavor).collect();
    let rows = [
        row(
            "connects/s (higher is better)",
            reports,
            |r| Some(r.open.per_second),
            int,
        ),
        row(
            "connect + subscribe p50",
            reports,
            |r| Some(ms(r.open.latency.p50_us)),
            millis,
        ),
        row(
            "connect + subscribe p99",
            reports,
            |r| Some(ms(r.open.latency.p99_us)),
            millis,
        ),
        row(
            "failed connections",
            reports,
            |r| Some(r.open.failed as f64),
            int,
        ),
        row(
            "listen queue overflows (each a 1 s SYN retransmit)",
            reports,
            |r| r.listen_overflows.map(|n| n as f64),
            int,
        ),
        row(
            "server RSS per idle connection (lower is better)",
            reports,
            |r| r.rss_per_connection,
            kibibytes,
        ),
        row(
            "server CPU while connecting",
            reports,
            |r| r.open_server_cpu_seconds,
            seconds,
        ),
        row(
            "generator CPU share while connecting",
            reports,
            |r| Some(r.open_bench_cpu_share),
            share,
        ),
        row(
            "alive after the hold",
            reports,
            |r| Some(r.alive_verified as f64),
            int,
        ),
    ];
    comparison(out, &flavors, &rows);
    commands(out, reports.iter().map(|r| r.run.command.clone()));
}

fn headline(report: &FanoutReport) -> Option<&StepReport> {
    report.headline()
}

fn fanout_rows(reports: &[&FanoutReport]) -> Vec<Row> {
    let h = |r: &FanoutReport, f: &dyn Fn(&StepReport) -> Option<f64>| headline(r).and_then(f);
    vec![
        row("rate (msg/s)", reports, |r| h(r, &|s| Some(s.rate)), int),
        row(
            "deliveries/s (higher is better)",
            reports,
            |r| h(r, &|s| Some(s.deliveries_per_second)),
            int,
        ),
        row("lost", reports, |r| h(r, &|s| Some(s.lost as f64)), int),
        row(
            "duplicated",
            reports,
            |r| h(r, &|s| Some(s.duplicates as f64)),
            int,
        ),
        row(
            "out of order",
            reports,
            |r| h(r, &|s| Some(s.out_of_order as f64)),
            int,
        ),
        row(
            "latency p50",
            reports,
            |r| h(r, &|s| Some(ms(s.latency.p50_us))),
            millis,
        ),
        row(
            "latency p90",
            reports,
            |r| h(r, &|s| Some(ms(s.latency.p90_us))),
            millis,
        ),
        row(
            "latency p99 (lower is better)",
            reports,
            |r| h(r, &|s| Some(ms(s.latency.p99_us))),
            millis,
        ),
        row(
            "latency p99.9",
            reports,
            |r| h(r, &|s| Some(ms(s.latency.p999_us))),
            millis,
        ),
        row(
            "latency max",
            reports,
            |r| h(r, &|s| Some(ms(s.latency.max_us))),
            millis,
        ),
        row(
            "server CPU",
            reports,
            |r| h(r, &|s| s.server_cpu_seconds),
            seconds,
        ),
        row(
            "server CPU share of the machine",
            reports,
            |r| h(r, &|s| s.server_cpu_share),
            share,
        ),
        row(
            "deliveries per server CPU-second (higher is better)",
            reports,
            |r| h(r, &|s| s.deliveries_per_server_cpu_second),
            int,
        ),
        row(
            "generator CPU share of the machine",
            reports,
            |r| h(r, &|s| Some(s.bench_cpu_share)),
            share,
        ),
        row(
            "generator ceiling: deliveries per generator CPU-second",
            reports,
            |r| h(r, &|s| Some(s.deliveries_per_bench_cpu_second)),
            int,
        ),
    ]
}

fn fixed_section(out: &mut String, reports: &[&FanoutReport]) {
    let first = reports[0];
    let rate = first.steps.first().map_or(0.0, |s| s.rate);
    let duration = first.steps.first().map_or(0.0, |s| s.duration_seconds);
    let _ = writeln!(
        out,
        "## fanout: {} subscribers, {} msg/s for {:.0} s, {} B payload\n",
        int(first.open.wanted as f64),
        int(rate),
        duration,
        first.payload_bytes
    );
    let flavors: Vec<Flavor> = reports.iter().map(|r| r.run.flavor).collect();
    comparison(out, &flavors, &fanout_rows(reports));
    commands(out, reports.iter().map(|r| r.run.command.clone()));
}

fn step_section(out: &mut String, reports: &[&FanoutReport]) {
    let first = reports[0];
    let _ = writeln!(
        out,
        "## fanout --step: highest sustainable rate, {} subscribers, {} B payload\n\n\
         The rate grows by the step factor while a round loses nothing, closes no subscriber \
         and keeps p99 at or below {} ms. The columns show the last sustainable round. The \
         generator shares the machine, so this ceiling is the server's and the generator's \
         together; the generator-ceiling row says how many deliveries one generator core \
         absorbs.\n",
        int(first.open.wanted as f64),
        first.payload_bytes,
        first.p99_bound_ms
    );
    let flavors: Vec<Flavor> = reports.iter().map(|r| r.run.flavor).collect();
    comparison(out, &flavors, &fanout_rows(reports));
    for report in reports {
        let _ = writeln!(out, "Steps, {}:\n", display_name(report.run.flavor));
        out.push_str("| rate | deliveries/s | lost | p50 | p99 | max | server CPU | deliveries/server CPU-s | generator CPU | verdict |\n");
        out.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
        for s in &report.steps {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                int(s.rate),
                int(s.deliveries_per_second),
                s.lost,
                millis(ms(s.latency.p50_us)),
                millis(ms(s.latency.p99_us)),
                millis(ms(s.latency.max_us)),
                opt(s.server_cpu_share, percent),
                opt(s.deliveries_per_server_cpu_second, int),
                percent(s.bench_cpu_share),
                s.verdict
            );
        }
        out.push('\n');
    }
    commands(out, reports.iter().map(|r| r.run.command.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(int(0.0), "0");
        assert_eq!(int(999.4), "999");
        assert_eq!(int(1234567.0), "1,234,567");
        assert_eq!(int(-1000.0), "-1,000");
    }

    #[test]
    fn comparison_has_a_ratio_column() {
        let mut out = String::new();
        let rows = [Row {
            label: "deliveries/s".into(),
            values: vec![Some(300.0), Some(100.0)],
            format: int,
        }];
        comparison(&mut out, &[Flavor::HeraldJson, Flavor::Socketio], &rows);
        assert!(
            out.contains("| deliveries/s | 300 | 100 | 3.00x |"),
            "{out}"
        );
        assert!(out.starts_with("| | Herald (JSON) | Socket.IO 4 | Herald / Socket.IO |"));
    }
}
