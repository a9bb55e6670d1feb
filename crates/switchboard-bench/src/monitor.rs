//! The measurement window: warm-up, then a measured interval (or, in count mode, until the
//! load has finished), with the progress bar and /proc samples of the generator and the router.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::procfs::{Proc, ProcUsage, Sample};

/// How often the window checks the clock, the counters and /proc.
const TICK: Duration = Duration::from_millis(50);

/// What to measure and for how long.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub warmup: Duration,
    pub duration: Duration,
    /// Count mode: measure from the start until `finished`; `Some(total)` sizes the bar.
    pub counted: Option<u64>,
    /// Unit of the counter, for the progress bar ("calls", "deliveries").
    pub unit: &'static str,
    pub router_pid: Option<u32>,
    pub progress: bool,
}

/// What the window saw.
#[derive(Clone, Debug)]
pub(crate) struct Measured {
    /// The measured interval.
    pub elapsed: Duration,
    /// Increase of the main counter over the interval.
    pub count: u64,
    /// Increase of the second counter over the interval.
    pub count2: u64,
    pub generator: Option<ProcUsage>,
    pub router: Option<ProcUsage>,
}

struct Snapshot {
    at: Instant,
    count: (u64, u64),
    own: Option<Sample>,
    router: Option<Sample>,
}

fn snapshot(router: Option<u32>, count: (u64, u64)) -> Snapshot {
    Snapshot {
        at: Instant::now(),
        count,
        own: Proc::Own.sample().ok(),
        router: router.and_then(|pid| Proc::Pid(pid).sample().ok()),
    }
}

/// Whether to draw a progress bar: asked for, and stderr is a terminal.
pub(crate) fn want_progress(disabled: bool) -> bool {
    !disabled && std::io::stderr().is_terminal()
}

/// A progress bar on stderr, or a hidden one.
pub(crate) fn bar(show: bool, len: u64, template: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Runs the window. `measuring` is raised while the interval is measured (tasks record
/// latencies only then); `count` reads the scenario's counters (the first one drives the
/// progress bar and count mode); `finished` tells when the load
/// has stopped by itself (count mode, or every task failed).
pub(crate) async fn measure(
    plan: &Plan,
    measuring: &AtomicBool,
    count: impl Fn() -> (u64, u64),
    finished: impl Fn() -> bool,
) -> Measured {
    let t0 = Instant::now();
    let total = plan.warmup + plan.duration;
    let bar = match plan.counted {
        Some(n) => bar(
            plan.progress,
            n,
            "{spinner} {elapsed:>4} [{bar:30}] {pos}/{len} {msg}",
        ),
        None => bar(
            plan.progress,
            u64::try_from(total.as_millis()).unwrap_or(u64::MAX),
            "{spinner} {elapsed:>4} [{bar:30}] {msg}",
        ),
    };
    let baseline = snapshot(plan.router_pid, count());
    let mut start = None;
    if plan.counted.is_some() {
        // A counted run measures every call from the start: the workers may already have
        // finished some (or all) of them before this snapshot.
        measuring.store(true, Ordering::Relaxed);
        start = Some(snapshot(plan.router_pid, (0, 0)));
    } else if plan.warmup.is_zero() {
        measuring.store(true, Ordering::Relaxed);
        start = Some(snapshot(plan.router_pid, count()));
    }
    let mut peak = 0;
    let mut last = (t0, count().0);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let now = Instant::now();
        let counts = count();
        let n = counts.0;
        if let Some(pid) = plan.router_pid
            && start.is_some()
            && let Some(rss) = Proc::Pid(pid).rss_kib()
        {
            peak = peak.max(rss);
        }
        if plan.progress {
            let dt = now.duration_since(last.0).as_secs_f64();
            if dt >= 0.25 {
                let rate = n.saturating_sub(last.1) as f64 / dt;
                let phase = if start.is_some() { "" } else { " (warm-up)" };
                bar.set_message(format!(
                    "{} {}/s{phase}",
                    crate::report::thousands(rate),
                    plan.unit
                ));
                last = (now, n);
            }
            match plan.counted {
                Some(_) => bar.set_position(n),
                None => bar.set_position(
                    u64::try_from(now.duration_since(t0).as_millis()).unwrap_or(u64::MAX),
                ),
            }
        }
        if start.is_none() && now.duration_since(t0) >= plan.warmup {
            measuring.store(true, Ordering::Relaxed);
            start = Some(snapshot(plan.router_pid, counts));
        }
        if plan.counted.is_none()
            && let Some(s) = &start
            && now.duration_since(s.at) >= plan.duration
        {
            break;
        }
        if finished() {
            break;
        }
    }
    let end = snapshot(plan.router_pid, count());
    bar.finish_and_clear();
    let start = start.unwrap_or(baseline);
    let usage = |a: Option<Sample>, b: Option<Sample>, pid: Option<u32>, peak: u64| {
        a.zip(b).map(|(a, b)| ProcUsage::between(pid, &a, &b, peak))
    };
    Measured {
        elapsed: end.at.duration_since(start.at),
        count: end.count.0.saturating_sub(start.count.0),
        count2: end.count.1.saturating_sub(start.count.1),
        generator: usage(start.own, end.own, None, 0),
        router: usage(start.router, end.router, plan.router_pid, peak),
    }
}
