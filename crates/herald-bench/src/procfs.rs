//! What `/proc` says about a process: CPU time, resident memory, liveness, fd limit, and the
//! machine description for reports. Parsers take text so they are tested without a process.

use std::fs;

use serde::{Deserialize, Serialize};

/// Clock ticks per second of the `utime`/`stime` fields of `/proc/<pid>/stat`. Linux reports
/// them in USER_HZ, which is 100 on every architecture Herald targets (the kernel converts from
/// its internal HZ), so no `sysconf` call is needed.
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds (user + system) a process has used so far, or `None` if it is gone.
pub fn cpu_seconds(pid: Pid) -> Option<f64> {
    let text = fs::read_to_string(format!("/proc/{}/stat", pid.path())).ok()?;
    parse_stat_cpu_seconds(&text)
}

/// Resident set size in bytes, or `None` if the process is gone.
pub fn rss_bytes(pid: Pid) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{}/status", pid.path())).ok()?;
    parse_status_rss_kib(&text).map(|kib| kib * 1024)
}

/// Whether the process still exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(text) => stat_state(&text).is_some_and(|state| state != 'Z' && state != 'X'),
        Err(_) => false,
    }
}

/// The soft limit on open files of this process.
pub fn open_files_limit() -> Option<u64> {
    let text = fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_files_limit(&text)
}

/// The machine-wide count of connections dropped because a listen queue was full
/// (`TcpExt: ListenOverflows` in /proc/net/netstat). Each drop costs the client a SYN
/// retransmit, one second later.
pub fn listen_overflows() -> Option<u64> {
    let text = fs::read_to_string("/proc/net/netstat").ok()?;
    parse_netstat(&text, "TcpExt:", "ListenOverflows")
}

/// A process to read: this one or another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pid {
    /// The calling process.
    Current,
    /// The calling thread.
    Thread,
    /// Another process.
    Other(u32),
}

impl Pid {
    fn path(self) -> String {
        match self {
            Pid::Current => "self".to_owned(),
            Pid::Thread => "thread-self".to_owned(),
            Pid::Other(pid) => pid.to_string(),
        }
    }
}

/// The machine a run happened on, for reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// Logical CPUs available to this process.
    pub cpus: usize,
    /// `model name` of the first CPU in /proc/cpuinfo.
    pub cpu_model: String,
    /// Total memory in bytes.
    pub memory_bytes: u64,
    /// Kernel release.
    pub kernel: String,
}

impl Machine {
    /// Reads the description of this machine; unknown parts are empty.
    pub fn current() -> Self {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model: parse_cpu_model(&cpuinfo).unwrap_or_default(),
            memory_bytes: parse_meminfo_total_kib(&meminfo).unwrap_or(0) * 1024,
            kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_default(),
        }
    }
}

/// `utime + stime` in seconds from the text of `/proc/<pid>/stat`. The second field (the
/// command name) is in parentheses and may itself hold spaces or parentheses, so fields are
/// counted from the last `)`.
pub(crate) fn parse_stat_cpu_seconds(text: &str) -> Option<f64> {
    let rest = &text[text.rfind(')')? + 1..];
    // After ")": state is field 3, so utime (field 14) and stime (15) are at 11 and 12 here.
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SECOND)
}

fn stat_state(text: &str) -> Option<char> {
    let rest = &text[text.rfind(')')? + 1..];
    rest.split_whitespace().next()?.chars().next()
}

/// `VmRSS` in KiB from the text of `/proc/<pid>/status`.
pub(crate) fn parse_status_rss_kib(text: &str) -> Option<u64> {
    kib_field(text, "VmRSS:")
}

fn parse_meminfo_total_kib(text: &str) -> Option<u64> {
    kib_field(text, "MemTotal:")
}

fn kib_field(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|line| line.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// The soft "Max open files" limit from the text of `/proc/<pid>/limits`.
pub(crate) fn parse_open_files_limit(text: &str) -> Option<u64> {
    let line = text
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A counter from /proc/net/netstat, where each group is a line of names followed by a line of
/// values, both starting with the group's prefix.
pub(crate) fn parse_netstat(text: &str, group: &str, name: &str) -> Option<u64> {
    let mut lines = text.lines().filter(|line| line.starts_with(group));
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        let position = names.split_whitespace().position(|n| n == name);
        if let Some(position) = position {
            return values.split_whitespace().nth(position)?.parse().ok();
        }
    }
    None
}

fn parse_cpu_model(text: &str) -> Option<String> {
    let line = text.lines().find(|line| line.starts_with("model name"))?;
    Some(line.split_once(':')?.1.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_cpu_counts_fields_after_the_last_parenthesis() {
        let text = "4242 (herald (x) y) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 \
                    3 0 1000 123456 789 18446744073709551615";
        assert_eq!(parse_stat_cpu_seconds(text), Some(3.0));
        assert_eq!(stat_state(text), Some('S'));
        assert_eq!(parse_stat_cpu_seconds("garbage"), None);
    }

    #[test]
    fn status_rss_and_limits() {
        let status = "Name:\therald\nVmPeak:\t  20000 kB\nVmRSS:\t   12345 kB\nThreads:\t3\n";
        assert_eq!(parse_status_rss_kib(status), Some(12345));
        assert_eq!(parse_status_rss_kib("Name: x\n"), None);

        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max cpu time              unlimited            unlimited            seconds   \n\
                      Max open files            20000                20000                files     \n";
        assert_eq!(parse_open_files_limit(limits), Some(20000));
    }

    #[test]
    fn netstat_counters() {
        let text = "TcpExt: SyncookiesSent ListenOverflows ListenDrops\n\
                    TcpExt: 0 325 325\n\
                    IpExt: InNoRoutes\n\
                    IpExt: 7\n";
        assert_eq!(parse_netstat(text, "TcpExt:", "ListenOverflows"), Some(325));
        assert_eq!(parse_netstat(text, "IpExt:", "InNoRoutes"), Some(7));
        assert_eq!(parse_netstat(text, "TcpExt:", "Missing"), None);
    }

    #[test]
    fn machine_fields() {
        assert_eq!(
            parse_cpu_model("processor\t: 0\nmodel name\t: AMD EPYC 7B13\n").as_deref(),
            Some("AMD EPYC 7B13")
        );
        assert_eq!(
            parse_meminfo_total_kib("MemTotal:       24683520 kB\n"),
            Some(24683520)
        );
    }

    #[test]
    fn this_process_is_readable() {
        assert!(cpu_seconds(Pid::Current).is_some());
        assert!(rss_bytes(Pid::Current).is_some_and(|rss| rss > 0));
        assert!(alive(std::process::id()));
    }
}
