//! Command-line arguments of `switchboard bench`.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use switchboard_proto::Format;

/// `switchboard bench [OPTIONS] <SCENARIO> [SCENARIO OPTIONS]`
///
/// Options before or after the scenario name apply alike.
#[derive(Clone, Debug, Args)]
pub struct BenchArgs {
    /// What to measure.
    #[command(subcommand)]
    pub scenario: Scenario,

    /// Router endpoint: ws://HOST:PORT/PATH or rs://HOST:PORT (RawSocket).
    #[arg(
        short,
        long,
        global = true,
        value_name = "URL",
        default_value = "ws://127.0.0.1:8080/ws",
        env = "SWITCHBOARD_BENCH_URL"
    )]
    pub url: String,

    /// Realm to join.
    #[arg(long, global = true, value_name = "NAME", default_value = "realm1")]
    pub realm: String,

    /// Serializer: msgpack, json or cbor.
    #[arg(short, long, global = true, value_name = "NAME", default_value = "msgpack", value_parser = parse_format)]
    pub serializer: Format,

    /// Application payload per call or event, in bytes (a string of this length).
    #[arg(short, long, global = true, value_name = "BYTES", default_value_t = 16)]
    pub payload: usize,

    /// How long to measure (e.g. 10s, 500ms, 2m), after the warm-up.
    #[arg(short, long, global = true, value_name = "TIME", default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Load applied before measuring starts (not counted).
    #[arg(long, global = true, value_name = "TIME", default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,

    /// Print the result as JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,

    /// Also measure this process (the router): CPU and resident memory, from /proc.
    #[arg(long, global = true, value_name = "PID")]
    pub router_pid: Option<u32>,

    /// The target is a bare relay (`switchboard-relay`), not a WAMP router: no HELLO, no
    /// REGISTER/SUBSCRIBE, same traffic.
    #[arg(long, global = true)]
    pub relay: bool,

    /// Never show the progress bar (it is shown only when stderr is a terminal anyway).
    #[arg(long, global = true)]
    pub no_progress: bool,

    /// Worker threads of the generator's own runtime (1: single-threaded, no wake-ups between
    /// threads). Default: run on the calling program's runtime (one worker per core).
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,

    /// A name for the target, copied into the report (e.g. "switchboard", "crossbar").
    #[arg(long, global = true, value_name = "TEXT")]
    pub label: Option<String>,
}

/// The load to apply.
#[derive(Clone, Debug, Subcommand)]
pub enum Scenario {
    /// Calls: N callers with W calls in flight each, answered by M callees (with M > 1, one
    /// shared registration, invoked round robin). Measures calls/s and call latency.
    Rpc(RpcArgs),
    /// Events: P publishers, S subscribers on one topic; as fast as the slowest subscriber
    /// keeps up (burst) or at a fixed rate. Checks that nothing is lost or reordered.
    Pubsub(PubsubArgs),
    /// Sessions: opens C sessions, holds them idle, closes them. Measures joins/s and the
    /// router's memory per idle session (with --router-pid).
    Connections(ConnectionsArgs),
    /// Call latency under a paced load (open loop: calls go out on schedule whether or not
    /// earlier ones were answered). Reports percentiles.
    Latency(LatencyArgs),
}

impl Scenario {
    /// The scenario's name, as on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Rpc(_) => "rpc",
            Scenario::Pubsub(_) => "pubsub",
            Scenario::Connections(_) => "connections",
            Scenario::Latency(_) => "latency",
        }
    }
}

/// Options of `bench rpc`.
#[derive(Clone, Debug, Args)]
pub struct RpcArgs {
    /// Caller sessions.
    #[arg(short = 'n', long, default_value_t = 16)]
    pub callers: usize,
    /// Calls in flight per caller.
    #[arg(short = 'w', long, default_value_t = 8)]
    pub in_flight: usize,
    /// Callee sessions.
    #[arg(short = 'm', long, default_value_t = 1)]
    pub callees: usize,
    /// Stop after this many calls in total instead of after --duration (no warm-up).
    #[arg(long, value_name = "N")]
    pub calls: Option<u64>,
}

/// Options of `bench pubsub`.
#[derive(Clone, Debug, Args)]
pub struct PubsubArgs {
    /// Publisher sessions.
    #[arg(short = 'P', long, default_value_t = 1)]
    pub publishers: usize,
    /// Subscriber sessions.
    #[arg(short = 'S', long, default_value_t = 10)]
    pub subscribers: usize,
    /// Events per second over all publishers; 0 = burst (as fast as the subscribers keep up).
    #[arg(short, long, value_name = "EVENTS/S", default_value_t = 0.0)]
    pub rate: f64,
    /// Burst only: events published but not yet received by every subscriber, at most; 0 =
    /// no limit (the router's slow-consumer policy then decides what happens).
    #[arg(long, value_name = "EVENTS", default_value_t = 1000)]
    pub window: u64,
    /// Stop after this many events per publisher instead of after --duration (no warm-up).
    #[arg(long, value_name = "N")]
    pub events: Option<u64>,
}

/// Options of `bench connections`.
#[derive(Clone, Debug, Args)]
pub struct ConnectionsArgs {
    /// Sessions to open.
    #[arg(short = 'c', long, default_value_t = 1000)]
    pub count: usize,
    /// Sessions being opened at the same time.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// How long to hold the sessions open (idle) before measuring memory and closing them.
    #[arg(long, value_name = "TIME", default_value = "2s", value_parser = parse_duration)]
    pub hold: Duration,
}

/// Options of `bench latency`.
#[derive(Clone, Debug, Args)]
pub struct LatencyArgs {
    /// Calls per second over all callers.
    #[arg(short, long, value_name = "CALLS/S", default_value_t = 2000.0)]
    pub rate: f64,
    /// Caller sessions (the rate is split between them).
    #[arg(short = 'n', long, default_value_t = 4)]
    pub callers: usize,
    /// Callee sessions.
    #[arg(short = 'm', long, default_value_t = 1)]
    pub callees: usize,
    /// Stop after this many calls in total instead of after --duration (no warm-up).
    #[arg(long, value_name = "N")]
    pub calls: Option<u64>,
}

/// Parses `msgpack`, `json` or `cbor`.
pub fn parse_format(s: &str) -> Result<Format, String> {
    match s.to_ascii_lowercase().as_str() {
        "msgpack" | "messagepack" => Ok(Format::MessagePack),
        "json" => Ok(Format::Json),
        "cbor" => Ok(Format::Cbor),
        _ => Err(format!(
            "unknown serializer {s:?}; use msgpack, json or cbor"
        )),
    }
}

/// Parses a duration: `10` or `10s` (seconds, fractions allowed), `500ms`, `2m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("invalid duration {s:?}; use e.g. 10s, 500ms or 2m"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("invalid duration {s:?}"));
    }
    Duration::try_from_secs_f64(value * scale).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

/// The arguments as a stand-alone command (for `parse_args`).
#[derive(Debug, Parser)]
#[command(name = "bench")]
struct Standalone {
    #[command(flatten)]
    args: BenchArgs,
}

/// Parses `bench`'s arguments from an argument list whose first item is the program name;
/// for tests and for programs that embed the load generator.
pub fn parse_args<I, T>(args: I) -> Result<BenchArgs, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    Standalone::try_parse_from(args).map(|s| s.args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Standalone::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2.5s"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn global_options_go_before_or_after_the_scenario() {
        let a = parse_args(["bench", "--json", "rpc", "-n", "4", "--serializer", "cbor"]).unwrap();
        assert!(a.json);
        assert_eq!(a.serializer, Format::Cbor);
        let Scenario::Rpc(rpc) = &a.scenario else {
            panic!("expected rpc");
        };
        assert_eq!((rpc.callers, rpc.in_flight, rpc.callees), (4, 8, 1));
        let b = parse_args(["bench", "pubsub", "--rate", "2000", "-d", "3s"]).unwrap();
        assert_eq!(b.duration, Duration::from_secs(3));
        assert!(parse_args(["bench", "rpc", "--serializer", "xml"]).is_err());
        assert!(parse_args(["bench"]).is_err());
    }
}
