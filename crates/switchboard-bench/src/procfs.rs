//! CPU time and resident memory of a process, from `/proc/PID/stat` and `/proc/PID/status`
//! (Linux). Elsewhere the samples are simply missing.

use std::fs;
use std::io;
use std::sync::OnceLock;
use std::time::Instant;

use serde::Serialize;

/// One reading of a process's counters.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    pub at: Instant,
    /// User CPU time, in clock ticks.
    pub user: u64,
    /// System CPU time, in clock ticks.
    pub system: u64,
    /// Resident set size, KiB.
    pub rss_kib: u64,
}

/// Which process: this one, or another by pid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Proc {
    Own,
    Pid(u32),
}

impl Proc {
    fn path(self, file: &str) -> String {
        match self {
            Proc::Own => format!("/proc/self/{file}"),
            Proc::Pid(pid) => format!("/proc/{pid}/{file}"),
        }
    }

    /// Reads the counters now.
    pub fn sample(self) -> io::Result<Sample> {
        let at = Instant::now();
        let stat = fs::read_to_string(self.path("stat"))?;
        let (user, system) = parse_stat(&stat)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unexpected stat format"))?;
        let status = fs::read_to_string(self.path("status"))?;
        let rss_kib = parse_status_kib(&status, "VmRSS:").unwrap_or(0);
        Ok(Sample {
            at,
            user,
            system,
            rss_kib,
        })
    }

    /// Resident memory now, KiB.
    pub fn rss_kib(self) -> Option<u64> {
        let status = fs::read_to_string(self.path("status")).ok()?;
        parse_status_kib(&status, "VmRSS:")
    }
}

/// `utime` and `stime` (fields 14 and 15) of a `/proc/PID/stat` line. The command name (field
/// 2) may contain spaces and parentheses, so fields are counted from the last `)`.
pub(crate) fn parse_stat(stat: &str) -> Option<(u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    // rest starts at field 3 (state); utime is field 14.
    let user = fields.nth(11)?.parse().ok()?;
    let system = fields.next()?.parse().ok()?;
    Some((user, system))
}

/// A `Key:   1234 kB` line of `/proc/PID/status`, in KiB.
pub(crate) fn parse_status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..]
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 if that cannot be asked).
pub(crate) fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// A process's use of the machine over a measured interval.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ProcUsage {
    /// The process id (absent for the generator itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// CPU time over wall time, in percent of one core (200 = two cores busy).
    pub cpu_percent: f64,
    /// User CPU seconds in the interval.
    pub user_s: f64,
    /// System CPU seconds in the interval.
    pub system_s: f64,
    /// Resident memory at the start, KiB.
    pub rss_start_kib: u64,
    /// Resident memory at the end, KiB.
    pub rss_end_kib: u64,
    /// Highest resident memory seen while sampling, KiB.
    pub rss_peak_kib: u64,
}

impl ProcUsage {
    /// Usage between two samples; `peak_kib` is the highest RSS sampled in between.
    pub(crate) fn between(pid: Option<u32>, a: &Sample, b: &Sample, peak_kib: u64) -> ProcUsage {
        let ticks = clock_ticks() as f64;
        let wall = b.at.duration_since(a.at).as_secs_f64();
        let user_s = b.user.saturating_sub(a.user) as f64 / ticks;
        let system_s = b.system.saturating_sub(a.system) as f64 / ticks;
        ProcUsage {
            pid,
            cpu_percent: if wall > 0.0 {
                (user_s + system_s) / wall * 100.0
            } else {
                0.0
            },
            user_s,
            system_s,
            rss_start_kib: a.rss_kib,
            rss_end_kib: b.rss_kib,
            rss_peak_kib: peak_kib.max(a.rss_kib).max(b.rss_kib),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let line = "4242 (crossbar-worker [RouterController] (x)) S 1 4242 4242 0 -1 4194560 \
                    1000 0 0 0 731 93 0 0 20 0 3 0 12345 1000000 500 18446744073709551615";
        assert_eq!(parse_stat(line), Some((731, 93)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn status_values_in_kib() {
        let status = "Name:\tswitchboard\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(parse_status_kib(status, "VmRSS:"), Some(10240));
        assert_eq!(parse_status_kib(status, "VmHWM:"), Some(20480));
        assert_eq!(parse_status_kib(status, "VmSwap:"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn own_process_can_be_sampled() {
        let s = Proc::Own.sample().unwrap();
        assert!(s.rss_kib > 0);
        assert!(clock_ticks() > 0);
    }
}
