//! Results: one [`Report`] per run, printed as a table or as JSON.

use std::collections::BTreeMap;
use std::fmt;

use hdrhistogram::Histogram;
use serde::Serialize;

pub use crate::procfs::ProcUsage;

/// The result of one `switchboard bench` run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// `rpc`, `pubsub`, `connections` or `latency`.
    pub scenario: String,
    /// The `--label` given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The URL measured.
    pub target: String,
    /// Whether the target was a bare relay rather than a WAMP router.
    pub relay: bool,
    /// Serializer name.
    pub serializer: String,
    /// Payload bytes per call or event.
    pub payload_bytes: usize,
    /// The scenario's own settings (callers, in_flight, rate, ...).
    pub parameters: BTreeMap<String, serde_json::Value>,
    /// Length of the measured interval, seconds.
    pub measured_s: f64,
    /// RPC throughput (rpc and latency scenarios).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpc: Option<RpcResult>,
    /// PubSub throughput and delivery checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pubsub: Option<PubsubResult>,
    /// Session opening and memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections: Option<ConnectionsResult>,
    /// Latency percentiles: per call (rpc, latency), per delivery (paced pubsub), per join
    /// (connections).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    /// Paced scenarios: how late the generator sent against its schedule. When this is large,
    /// the generator, not the router, is the bottleneck.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_lag: Option<Latency>,
    /// The generator's own CPU and memory over the measured interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generator: Option<ProcUsage>,
    /// The router's (`--router-pid`) CPU and memory over the measured interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub router: Option<ProcUsage>,
    /// Anything that went wrong without stopping the run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// RPC counts and rates.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RpcResult {
    /// Calls answered with RESULT in the measured interval.
    pub calls: u64,
    /// Calls answered with RESULT over the whole run (warm-up and drain included).
    pub calls_total: u64,
    /// Calls answered with ERROR over the whole run.
    pub errors: u64,
    /// `calls` per second.
    pub calls_per_s: f64,
    /// Messages the router handled per second: 4 per call (CALL, INVOCATION, YIELD, RESULT).
    pub messages_per_s: f64,
}

/// PubSub counts, rates and delivery checks.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PubsubResult {
    /// Events published (whole run).
    pub published: u64,
    /// Deliveries expected: published × subscribers.
    pub expected: u64,
    /// Deliveries received (whole run).
    pub delivered: u64,
    /// `expected - delivered`.
    pub lost: u64,
    /// Events received after a later event of the same publisher.
    pub out_of_order: u64,
    /// Subscribers whose session the router ended during the run.
    pub subscribers_closed: u64,
    /// Events published per second in the measured interval.
    pub publishes_per_s: f64,
    /// Deliveries per second in the measured interval.
    pub deliveries_per_s: f64,
}

/// Session opening, holding and memory.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ConnectionsResult {
    /// Sessions asked for.
    pub requested: u64,
    /// Sessions opened (joined).
    pub opened: u64,
    /// Sessions that failed to open.
    pub failed: u64,
    /// Seconds to open them all.
    pub open_s: f64,
    /// `opened / open_s`.
    pub joins_per_s: f64,
    /// Seconds to close them all.
    pub close_s: f64,
    /// Router RSS before the first session, KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub router_rss_before_kib: Option<u64>,
    /// Router RSS while every session was held, KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub router_rss_held_kib: Option<u64>,
    /// `(held - before) / opened`, KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub router_rss_per_session_kib: Option<f64>,
    /// The generator's own RSS growth per session, KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generator_rss_per_session_kib: Option<f64>,
}

/// Latency percentiles, microseconds.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Latency {
    /// Samples recorded.
    pub samples: u64,
    /// Smallest.
    pub min_us: f64,
    /// Mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest.
    pub max_us: f64,
}

/// A histogram of nanoseconds, 3 significant digits, 1 µs to 10 minutes.
pub(crate) fn histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1_000, 600_000_000_000, 3)
        .map_err(|e| anyhow::anyhow!("cannot create a histogram: {e:?}"))
}

impl Latency {
    /// The percentiles of a histogram of nanoseconds; `None` when it is empty.
    pub(crate) fn from_histogram(h: &Histogram<u64>) -> Option<Latency> {
        if h.is_empty() {
            return None;
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        Some(Latency {
            samples: h.len(),
            min_us: us(h.min()),
            mean_us: h.mean() / 1000.0,
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
        })
    }
}

/// `1234567.8` → `1,234,568`.
pub fn thousands(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    let n = x.round().abs() as u64;
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if x.round() < 0.0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration in µs, with a sensible unit.
fn micros(us: f64) -> String {
    if us >= 10_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn latency_line(l: &Latency) -> String {
    format!(
        "p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  ({} samples)",
        micros(l.p50_us),
        micros(l.p90_us),
        micros(l.p99_us),
        micros(l.p999_us),
        micros(l.max_us),
        thousands(l.samples as f64)
    )
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.relay { "bare relay" } else { "WAMP" };
        let label = self
            .label
            .as_deref()
            .map(|l| format!("{l} at "))
            .unwrap_or_default();
        writeln!(
            f,
            "switchboard bench {}: {label}{} ({kind}, {}, {}-byte payload)",
            self.scenario, self.target, self.serializer, self.payload_bytes
        )?;
        let params: Vec<String> = self
            .parameters
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        writeln!(
            f,
            "  {}; measured {:.2} s",
            params.join(" "),
            self.measured_s
        )?;
        let mut rows: Vec<(String, String)> = Vec::new();
        if let Some(r) = &self.rpc {
            rows.push(("calls/s".into(), thousands(r.calls_per_s)));
            rows.push((
                "router messages/s".into(),
                format!("{} (4 per call)", thousands(r.messages_per_s)),
            ));
            rows.push((
                "calls".into(),
                format!(
                    "{} measured, {} in all, {} errors",
                    thousands(r.calls as f64),
                    thousands(r.calls_total as f64),
                    thousands(r.errors as f64)
                ),
            ));
        }
        if let Some(p) = &self.pubsub {
            rows.push(("deliveries/s".into(), thousands(p.deliveries_per_s)));
            rows.push(("publishes/s".into(), thousands(p.publishes_per_s)));
            rows.push((
                "delivered".into(),
                format!(
                    "{} of {} expected ({} published)",
                    thousands(p.delivered as f64),
                    thousands(p.expected as f64),
                    thousands(p.published as f64)
                ),
            ));
            rows.push((
                "lost / out of order".into(),
                format!(
                    "{} / {}{}",
                    p.lost,
                    p.out_of_order,
                    if p.subscribers_closed > 0 {
                        format!(
                            " ({} subscribers closed by the router)",
                            p.subscribers_closed
                        )
                    } else {
                        String::new()
                    }
                ),
            ));
        }
        if let Some(c) = &self.connections {
            rows.push(("joins/s".into(), thousands(c.joins_per_s)));
            rows.push((
                "sessions".into(),
                format!(
                    "{} opened in {:.2} s, {} failed, closed in {:.2} s",
                    thousands(c.opened as f64),
                    c.open_s,
                    c.failed,
                    c.close_s
                ),
            ));
            if let Some(per) = c.router_rss_per_session_kib {
                rows.push((
                    "router RSS/session".into(),
                    format!(
                        "{per:.1} KiB ({} before, {} held)",
                        c.router_rss_before_kib.map(mib).unwrap_or_default(),
                        c.router_rss_held_kib.map(mib).unwrap_or_default()
                    ),
                ));
            }
            if let Some(per) = c.generator_rss_per_session_kib {
                rows.push(("generator RSS/session".into(), format!("{per:.1} KiB")));
            }
        }
        if let Some(l) = &self.latency {
            rows.push(("latency".into(), latency_line(l)));
        }
        if let Some(l) = &self.send_lag {
            rows.push(("send lag".into(), latency_line(l)));
        }
        if let Some(g) = &self.generator {
            rows.push((
                "generator CPU".into(),
                format!(
                    "{:.0} % of a core (RSS {})",
                    g.cpu_percent,
                    mib(g.rss_end_kib)
                ),
            ));
        }
        if let Some(r) = &self.router {
            rows.push((
                format!("router CPU (pid {})", r.pid.unwrap_or_default()),
                format!(
                    "{:.0} % of a core, RSS {} → {} (peak {})",
                    r.cpu_percent,
                    mib(r.rss_start_kib),
                    mib(r.rss_end_kib),
                    mib(r.rss_peak_kib)
                ),
            ));
        }
        let width = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        for (k, v) in rows {
            writeln!(f, "  {k:<width$}  {v}")?;
        }
        for w in &self.warnings {
            writeln!(f, "  warning: {w}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1234.0), "1,234");
        assert_eq!(thousands(1_234_567.8), "1,234,568");
        assert_eq!(thousands(-1500.0), "-1,500");
    }

    #[test]
    fn latency_from_histogram() {
        let mut h = histogram().unwrap();
        assert_eq!(Latency::from_histogram(&h), None);
        for us in 1..=100u64 {
            h.record(us * 1000).unwrap();
        }
        let l = Latency::from_histogram(&h).unwrap();
        assert_eq!(l.samples, 100);
        assert!((l.p50_us - 50.0).abs() < 0.5, "{l:?}");
        assert!((l.p99_us - 99.0).abs() < 0.5, "{l:?}");
        assert!((l.max_us - 100.0).abs() < 0.5, "{l:?}");
    }
}
