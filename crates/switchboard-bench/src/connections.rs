//! The `connections` scenario: open C sessions (several at a time), hold them idle, measure
//! the router's memory, close them.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::ensure;
use hdrhistogram::Histogram;
use tokio::task::JoinSet;

use crate::Ctx;
use crate::cli::ConnectionsArgs;
use crate::monitor::{self, Measured};
use crate::peer::Peer;
use crate::procfs::{Proc, ProcUsage, Sample};
use crate::report::{ConnectionsResult, Latency, Report, histogram};

/// How often the router's RSS is sampled while sessions are held.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

#[derive(Debug, Default)]
struct Opening {
    next: AtomicUsize,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
    held: Mutex<Vec<Peer>>,
}

async fn opener(
    ctx: Arc<Ctx>,
    state: Arc<Opening>,
    count: usize,
    bar: indicatif::ProgressBar,
) -> anyhow::Result<Histogram<u64>> {
    let mut joins = histogram()?;
    while state.next.fetch_add(1, Ordering::Relaxed) < count {
        let t = Instant::now();
        match Peer::open(&ctx.target).await {
            Ok(peer) => {
                joins.saturating_record(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
                state
                    .held
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(peer);
            }
            Err(e) => {
                state.failed.fetch_add(1, Ordering::Relaxed);
                state
                    .first_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get_or_insert_with(|| format!("{e:#}"));
            }
        }
        bar.inc(1);
    }
    Ok(joins)
}

async fn closer(held: Arc<Mutex<Vec<Peer>>>) {
    loop {
        let peer = held.lock().unwrap_or_else(PoisonError::into_inner).pop();
        match peer {
            Some(peer) => peer.leave().await,
            None => return,
        }
    }
}

/// `bench connections`.
pub(crate) async fn run(ctx: Ctx, args: &ConnectionsArgs) -> anyhow::Result<Report> {
    ensure!(args.count >= 1, "--count must be at least 1");
    ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
    let ctx = Arc::new(ctx);
    let router = ctx.router_pid.map(Proc::Pid);
    let own_start = Proc::Own.sample().ok();
    let router_start = router.and_then(|r| r.sample().ok());
    let workers = args.concurrency.min(args.count);

    let state = Arc::new(Opening::default());
    let bar = monitor::bar(
        ctx.progress,
        args.count as u64,
        "{spinner} {elapsed:>4} [{bar:30}] {pos}/{len} sessions",
    );
    let t0 = Instant::now();
    let mut openers = JoinSet::new();
    for _ in 0..workers {
        openers.spawn(opener(
            Arc::clone(&ctx),
            Arc::clone(&state),
            args.count,
            bar.clone(),
        ));
    }
    let mut joins = histogram()?;
    let mut warnings = Vec::new();
    while let Some(done) = openers.join_next().await {
        match done {
            Ok(Ok(h)) => {
                let _ = joins.add(&h);
            }
            Ok(Err(e)) => warnings.push(format!("{e:#}")),
            Err(e) => warnings.push(format!("opening task failed: {e}")),
        }
    }
    let open_s = t0.elapsed().as_secs_f64();
    // CPU is reported for the opening phase (what joins/s measures), memory after the hold.
    let own_opened = Proc::Own.sample().ok();
    let router_opened = router.and_then(|r| r.sample().ok());
    bar.finish_and_clear();
    let held = std::mem::take(&mut *state.held.lock().unwrap_or_else(PoisonError::into_inner));
    let opened = held.len() as u64;
    let failed = state.failed.load(Ordering::Relaxed);
    if let Some(e) = state
        .first_error
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
    {
        warnings.push(format!("{failed} sessions failed to open, e.g.: {e}"));
    }

    // Hold them idle; the router's memory settles.
    let mut peak = router_start.map_or(0, |s| s.rss_kib);
    let hold_until = Instant::now() + args.hold;
    while Instant::now() < hold_until {
        tokio::time::sleep(SAMPLE_EVERY.min(hold_until.saturating_duration_since(Instant::now())))
            .await;
        if let Some(rss) = router.and_then(Proc::rss_kib) {
            peak = peak.max(rss);
        }
    }
    let router_held = router.and_then(Proc::rss_kib);
    let own_held = Proc::Own.rss_kib();

    let t1 = Instant::now();
    let held = Arc::new(Mutex::new(held));
    let mut closers = JoinSet::new();
    for _ in 0..workers {
        closers.spawn(closer(Arc::clone(&held)));
    }
    while closers.join_next().await.is_some() {}
    let close_s = t1.elapsed().as_secs_f64();

    let per_session = |before: Option<u64>, after: Option<u64>| {
        before
            .zip(after)
            .filter(|_| opened > 0)
            .map(|(b, a)| (a as f64 - b as f64) / opened as f64)
    };
    let usage = |pid, start: Option<Sample>, opened: Option<Sample>, held: Option<u64>, peak| {
        start.zip(opened).map(|(a, b)| {
            let mut usage = ProcUsage::between(pid, &a, &b, peak);
            if let Some(held) = held {
                usage.rss_end_kib = held;
                usage.rss_peak_kib = usage.rss_peak_kib.max(held);
            }
            usage
        })
    };
    let measured = Measured {
        elapsed: Duration::from_secs_f64(open_s),
        count: opened,
        count2: 0,
        generator: usage(None, own_start, own_opened, own_held, 0),
        router: usage(
            ctx.router_pid,
            router_start,
            router_opened,
            router_held,
            peak,
        ),
    };
    let mut report = ctx.report("connections", &measured, warnings);
    report.parameters.insert("count".into(), args.count.into());
    report
        .parameters
        .insert("concurrency".into(), args.concurrency.into());
    report
        .parameters
        .insert("hold_s".into(), serde_json::json!(args.hold.as_secs_f64()));
    let router_before = router_start.map(|s| s.rss_kib);
    report.connections = Some(ConnectionsResult {
        requested: args.count as u64,
        opened,
        failed,
        open_s,
        joins_per_s: if open_s > 0.0 {
            opened as f64 / open_s
        } else {
            0.0
        },
        close_s,
        router_rss_before_kib: router_before,
        router_rss_held_kib: router_held,
        router_rss_per_session_kib: per_session(router_before, router_held),
        generator_rss_per_session_kib: per_session(own_start.map(|s| s.rss_kib), own_held),
    });
    report.latency = Latency::from_histogram(&joins);
    Ok(report)
}
