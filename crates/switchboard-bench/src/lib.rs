//! `switchboard bench`: a multi-connection load generator that speaks real WAMP to any router
//! (Switchboard, Crossbar.io, ...), or the same traffic to the bare relay
//! (`switchboard-relay`) that shows what the machine and the transport allow.
//!
//! Scenarios ([`Scenario`]):
//!
//! | scenario | load | measures |
//! |---|---|---|
//! | `rpc` | N callers × W calls in flight, M callees (shared registration when M > 1) | calls/s, call latency |
//! | `pubsub` | P publishers, S subscribers; burst (closed loop, bounded window) or paced | deliveries/s, loss, order, delivery latency |
//! | `connections` | open C sessions, hold them idle, close them | joins/s, join latency, router RSS per session |
//! | `latency` | paced calls (open loop) | call latency percentiles, schedule lag |
//!
//! Every run reports the generator's own CPU (so a saturated generator shows), and with
//! `--router-pid` the router's CPU and resident memory, read from `/proc`.
//!
//! The generator is written directly on `switchboard-proto` and `switchboard-transport`: one
//! task per connection, calls pipelined, everything queued written with one flush, everything
//! received drained before the next write. No task and no allocation-heavy client machinery
//! per message, so it stays lighter than the routers it measures.

pub mod cli;
mod connections;
mod fast;
mod monitor;
mod peer;
mod procfs;
mod pubsub;
pub mod report;
mod rpc;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, ensure};
use switchboard_transport::Endpoint;

pub use cli::{BenchArgs, ConnectionsArgs, LatencyArgs, PubsubArgs, RpcArgs, Scenario, parse_args};
pub use report::Report;

use monitor::{Measured, Plan};
use peer::Target;

/// Runs the scenario and prints the result (table, or JSON with `--json`) on stdout.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let report = match args.threads {
        None => execute(&args).await?,
        Some(threads) => execute_on_own_runtime(&args, threads).await?,
    };
    let text = if args.json {
        let mut json = serde_json::to_string_pretty(&report).context("serializing the report")?;
        json.push('\n');
        json
    } else {
        report.to_string()
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .context("cannot write to standard output")
}

/// Runs the scenario on a runtime of its own with `threads` workers, in a thread of its own
/// (a runtime cannot be started from inside another one).
async fn execute_on_own_runtime(args: &BenchArgs, threads: u16) -> anyhow::Result<Report> {
    let args = args.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("bench".into())
        .spawn(move || {
            let runtime = if threads <= 1 {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
            } else {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(usize::from(threads))
                    .enable_all()
                    .build()
            };
            let result = match runtime {
                Ok(runtime) => runtime.block_on(execute(&args)),
                Err(e) => {
                    Err(anyhow::Error::new(e).context("cannot start the generator's runtime"))
                }
            };
            let _ = tx.send(result);
        })
        .context("cannot start the generator's thread")?;
    rx.await
        .context("the generator's thread ended without a result")?
}

/// Runs the scenario and returns its report.
pub async fn execute(args: &BenchArgs) -> anyhow::Result<Report> {
    let endpoint =
        Endpoint::parse(&args.url).with_context(|| format!("invalid --url {}", args.url))?;
    if let Some(pid) = args.router_pid {
        ensure!(
            procfs::Proc::Pid(pid).sample().is_ok(),
            "--router-pid {pid}: cannot read /proc/{pid}/stat and /proc/{pid}/status"
        );
    }
    let ctx = Ctx {
        target: Target {
            endpoint,
            url: args.url.clone(),
            realm: args.realm.clone(),
            format: args.serializer,
            relay: args.relay,
        },
        payload: args.payload,
        duration: args.duration,
        warmup: args.warmup,
        router_pid: args.router_pid,
        progress: monitor::want_progress(args.no_progress),
        label: args.label.clone(),
    };
    match &args.scenario {
        Scenario::Rpc(a) => rpc::run(&ctx, a).await,
        Scenario::Latency(a) => rpc::run_latency(&ctx, a).await,
        Scenario::Pubsub(a) => pubsub::run(&ctx, a).await,
        Scenario::Connections(a) => connections::run(ctx, a).await,
    }
}

/// What every scenario needs.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub target: Target,
    pub payload: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub router_pid: Option<u32>,
    pub progress: bool,
    pub label: Option<String>,
}

impl Ctx {
    /// A timed measurement plan from the common options.
    fn plan(&self) -> Plan {
        Plan {
            warmup: self.warmup,
            duration: self.duration,
            counted: None,
            unit: "",
            router_pid: self.router_pid,
            progress: self.progress,
        }
    }

    /// A report with the common fields filled in.
    fn report(&self, scenario: &str, measured: &Measured, warnings: Vec<String>) -> Report {
        Report {
            scenario: scenario.to_owned(),
            label: self.label.clone(),
            target: self.target.url.clone(),
            relay: self.target.relay,
            serializer: self.target.format.name().to_owned(),
            payload_bytes: self.payload,
            parameters: Default::default(),
            measured_s: measured.elapsed.as_secs_f64(),
            rpc: None,
            pubsub: None,
            connections: None,
            latency: None,
            send_lag: None,
            generator: measured.generator.clone(),
            router: measured.router.clone(),
            warnings,
        }
    }
}

/// Counts the load tasks still running, so a run that stops by itself (count mode, or every
/// task failed) ends the measurement.
#[derive(Clone, Debug, Default)]
pub(crate) struct Running(Arc<AtomicUsize>);

impl Running {
    /// Counts one more task until the guard is dropped. Take it before spawning the task.
    pub fn enter(&self) -> RunningGuard {
        self.0.fetch_add(1, Ordering::AcqRel);
        RunningGuard(Arc::clone(&self.0))
    }

    /// Tasks still running.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

/// Keeps a task counted in [`Running`].
#[derive(Debug)]
pub(crate) struct RunningGuard(Arc<AtomicUsize>);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
