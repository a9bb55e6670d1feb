//! The `pubsub` scenario: P publishers and S subscribers on one topic. Every event carries its
//! publisher, its sequence number and its send time, so subscribers check that nothing is lost
//! or reordered and measure delivery latency.
//!
//! Burst mode is closed loop: a publisher sends only while fewer than `window` events are
//! published but not yet received by every subscriber, so the run measures what the router
//! sustains without any subscriber queue overflowing. Paced mode sends on a fixed schedule.

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use bytes::Bytes;
use hdrhistogram::Histogram;
use switchboard_proto::message::{Message, Publish};
use switchboard_proto::options::PublishOptions;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::cli::PubsubArgs;
use crate::fast::{self, EventMeta, Peek};
use crate::monitor::{self, Plan};
use crate::peer::Peer;
use crate::report::{Latency, PubsubResult, Report, histogram};
use crate::rpc::payload;
use crate::{Ctx, Running, RunningGuard};

/// GOODBYE and ABORT type codes.
const GOODBYE: u64 = 6;
const ABORT: u64 = 3;
/// Events a burst publisher writes per flush, at most.
const BATCH: u64 = 64;
/// How long the end of a run waits without progress for the last deliveries.
const DRAIN_IDLE: Duration = Duration::from_secs(2);
/// How long to wait for tasks at the end.
const JOIN_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Default)]
struct Subscriber {
    delivered: AtomicU64,
    alive: AtomicBool,
}

#[derive(Debug)]
struct Shared {
    stop: AtomicBool,
    measuring: AtomicBool,
    published: AtomicU64,
    subscribers: Vec<Subscriber>,
    /// Raised by subscribers after each batch of deliveries (wakes windowed publishers).
    progress: Notify,
    running: Running,
    /// Time origin of the send times carried in events.
    epoch: Instant,
}

impl Shared {
    fn delivered(&self) -> u64 {
        self.subscribers
            .iter()
            .map(|s| s.delivered.load(Ordering::Relaxed))
            .sum()
    }

    /// How many more events may be published under `window`.
    fn allowance(&self, window: u64) -> u64 {
        let published = self.published.load(Ordering::Relaxed);
        let slowest = self
            .subscribers
            .iter()
            .filter(|s| s.alive.load(Ordering::Relaxed))
            .map(|s| s.delivered.load(Ordering::Relaxed))
            .min()
            .unwrap_or(published);
        window.saturating_sub(published.saturating_sub(slowest))
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Builds the PUBLISH messages of one publisher.
struct Events {
    index: u64,
    topic: String,
    payload_len: usize,
}

impl Events {
    fn queue(&self, peer: &mut Peer, seq: u64, sent_ns: u64) -> anyhow::Result<()> {
        let request = peer.next_id();
        let args = vec![self.index.into(), seq.into(), sent_ns.into()];
        peer.queue(&Message::Publish(Publish {
            request,
            options: PublishOptions::default(),
            topic: self.topic.clone(),
            payload: payload(self.payload_len, args),
        }))
    }
}

struct Schedule {
    /// `None`: burst.
    interval: Option<Duration>,
    start: Instant,
    window: u64,
    limit: Option<u64>,
}

/// Publishes until the run stops or `limit` events are out; returns the events published and
/// the schedule lag (paced mode).
async fn publisher_loop(
    mut peer: Peer,
    events: Events,
    schedule: Schedule,
    shared: Arc<Shared>,
    _running: RunningGuard,
) -> anyhow::Result<(u64, Histogram<u64>)> {
    let mut seq = 0u64;
    let mut lag = histogram()?;
    let more = |seq: u64| schedule.limit.is_none_or(|l| seq < l);
    match schedule.interval {
        None => {
            while more(seq) && !shared.stop.load(Ordering::Relaxed) {
                let mut allowed = if schedule.window == 0 {
                    BATCH
                } else {
                    shared.allowance(schedule.window)
                };
                if allowed == 0 {
                    let mut wake = pin!(shared.progress.notified());
                    wake.as_mut().enable();
                    allowed = shared.allowance(schedule.window);
                    if allowed == 0 {
                        let _ = tokio::time::timeout(Duration::from_millis(20), wake).await;
                        continue;
                    }
                }
                let sent_ns = shared.now_ns();
                let mut queued = 0;
                while queued < allowed.min(BATCH) && more(seq) {
                    events.queue(&mut peer, seq, sent_ns)?;
                    seq += 1;
                    queued += 1;
                }
                shared.published.fetch_add(queued, Ordering::Relaxed);
                peer.flush().await?;
            }
        }
        Some(interval) => {
            let mut next = schedule.start;
            while more(seq) {
                tokio::time::sleep_until(next.into()).await;
                if shared.stop.load(Ordering::Relaxed) {
                    break;
                }
                let now = Instant::now();
                let sent_ns = shared.now_ns();
                let measuring = shared.measuring.load(Ordering::Relaxed);
                let mut queued = 0;
                while next <= now && more(seq) {
                    events.queue(&mut peer, seq, sent_ns)?;
                    if measuring {
                        let late = now.duration_since(next).as_nanos();
                        lag.saturating_record(u64::try_from(late).unwrap_or(u64::MAX));
                    }
                    seq += 1;
                    queued += 1;
                    next += interval;
                }
                shared.published.fetch_add(queued, Ordering::Relaxed);
                peer.flush().await?;
            }
        }
    }
    peer.leave().await;
    Ok((seq, lag))
}

#[derive(Debug)]
struct SubscriberOutcome {
    out_of_order: u64,
    closed_by_router: bool,
    latency: Histogram<u64>,
}

/// One subscriber's order check.
struct Receiver {
    next_seq: Vec<u64>,
    out_of_order: u64,
    latency: Histogram<u64>,
}

impl Receiver {
    /// Takes one frame; `Ok(None)` when the router ended the session, `Ok(Some(n))` with the
    /// number of events it was (0 or 1).
    fn take(
        &mut self,
        frame: &Bytes,
        peer: &Peer,
        shared: &Shared,
        measuring: bool,
    ) -> anyhow::Result<Option<u64>> {
        let meta = match fast::peek(peer.format, frame) {
            Ok(Peek::Event(meta)) => meta,
            Ok(Peek::Other(GOODBYE | ABORT)) => return Ok(None),
            Ok(_) => return Ok(Some(0)),
            Err(e) => bail!("undecodable message: {e}"),
        };
        let EventMeta {
            publisher,
            seq,
            sent_ns,
        } = meta;
        let slot = usize::try_from(publisher)
            .ok()
            .and_then(|p| self.next_seq.get_mut(p))
            .ok_or_else(|| anyhow!("an event from unknown publisher {publisher}"))?;
        if seq >= *slot {
            *slot = seq + 1;
        } else {
            self.out_of_order += 1;
        }
        if measuring {
            self.latency
                .saturating_record(shared.now_ns().saturating_sub(sent_ns));
        }
        Ok(Some(1))
    }
}

async fn subscriber_loop(
    mut peer: Peer,
    index: usize,
    publishers: usize,
    shared: Arc<Shared>,
    stop: CancellationToken,
) -> anyhow::Result<SubscriberOutcome> {
    let mut rx = Receiver {
        next_seq: vec![0; publishers],
        out_of_order: 0,
        latency: histogram()?,
    };
    let me = shared
        .subscribers
        .get(index)
        .ok_or_else(|| anyhow!("no subscriber slot {index}"))?;
    let ended = async {
        loop {
            let frame = tokio::select! {
                biased;
                frame = peer.recv_frame() => frame?,
                () = stop.cancelled() => return Ok::<bool, anyhow::Error>(false),
            };
            let Some(frame) = frame else {
                return Ok(true);
            };
            let measuring = shared.measuring.load(Ordering::Relaxed);
            let Some(mut n) = rx.take(&frame, &peer, &shared, measuring)? else {
                return Ok(true);
            };
            while let Some(frame) = peer.try_recv_frame().await? {
                match rx.take(&frame, &peer, &shared, measuring)? {
                    Some(k) => n += k,
                    None => {
                        me.delivered.fetch_add(n, Ordering::Relaxed);
                        return Ok(true);
                    }
                }
            }
            me.delivered.fetch_add(n, Ordering::Relaxed);
            shared.progress.notify_waiters();
        }
    }
    .await;
    me.alive.store(false, Ordering::Relaxed);
    shared.progress.notify_waiters();
    let closed_by_router = ended?;
    if !closed_by_router {
        peer.leave().await;
    }
    Ok(SubscriberOutcome {
        out_of_order: rx.out_of_order,
        closed_by_router,
        latency: rx.latency,
    })
}

/// `bench pubsub`.
pub(crate) async fn run(ctx: &Ctx, args: &PubsubArgs) -> anyhow::Result<Report> {
    ensure!(args.publishers >= 1, "--publishers must be at least 1");
    ensure!(args.subscribers >= 1, "--subscribers must be at least 1");
    ensure!(
        args.rate.is_finite() && args.rate >= 0.0,
        "--rate must be a number of events per second (0: burst)"
    );
    let interval = if args.rate > 0.0 {
        Some(
            Duration::try_from_secs_f64(args.publishers as f64 / args.rate)
                .context("--rate is out of range")?,
        )
    } else {
        None
    };
    let topic = format!("bench.pubsub.p{}.topic", std::process::id());
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        measuring: AtomicBool::new(false),
        published: AtomicU64::new(0),
        subscribers: (0..args.subscribers)
            .map(|_| Subscriber {
                delivered: AtomicU64::new(0),
                alive: AtomicBool::new(true),
            })
            .collect(),
        progress: Notify::new(),
        running: Running::default(),
        epoch: Instant::now(),
    });

    let stop = CancellationToken::new();
    let mut subscribers = JoinSet::new();
    for index in 0..args.subscribers {
        let mut peer = Peer::open(&ctx.target)
            .await
            .context("opening a subscriber")?;
        peer.subscribe(&topic)
            .await
            .with_context(|| format!("subscribing to {topic}"))?;
        subscribers.spawn(subscriber_loop(
            peer,
            index,
            args.publishers,
            Arc::clone(&shared),
            stop.clone(),
        ));
    }
    let mut peers = Vec::with_capacity(args.publishers);
    for _ in 0..args.publishers {
        peers.push(
            Peer::open(&ctx.target)
                .await
                .context("opening a publisher")?,
        );
    }
    let start = Instant::now() + Duration::from_millis(10);
    let n = u32::try_from(args.publishers).unwrap_or(u32::MAX);
    let mut publishers = JoinSet::new();
    for (index, peer) in (0u32..).zip(peers) {
        let schedule = Schedule {
            interval,
            start: start + interval.map_or(Duration::ZERO, |i| i / n * index),
            window: args.window,
            limit: args.events,
        };
        let events = Events {
            index: u64::from(index),
            topic: topic.clone(),
            payload_len: ctx.payload,
        };
        publishers.spawn(publisher_loop(
            peer,
            events,
            schedule,
            Arc::clone(&shared),
            shared.running.enter(),
        ));
    }

    let plan = Plan {
        counted: args
            .events
            .map(|e| e * args.publishers as u64 * args.subscribers as u64),
        unit: "deliveries",
        ..ctx.plan()
    };
    let measured = monitor::measure(
        &plan,
        &shared.measuring,
        || (shared.delivered(), shared.published.load(Ordering::Relaxed)),
        || shared.running.count() == 0,
    )
    .await;
    shared.stop.store(true, Ordering::Relaxed);
    let mut warnings = Vec::new();
    let mut send_lag = histogram()?;
    while let Ok(Some(done)) = tokio::time::timeout(JOIN_TIMEOUT, publishers.join_next()).await {
        match done {
            Ok(Ok((_, lag))) => {
                let _ = send_lag.add(&lag);
            }
            Ok(Err(e)) => warnings.push(format!("publisher failed: {e:#}")),
            Err(e) => warnings.push(format!("publisher task failed: {e}")),
        }
    }
    publishers.abort_all();

    // Let the subscribers catch up with everything published.
    let published = shared.published.load(Ordering::Relaxed);
    let mut last = (Instant::now(), shared.delivered());
    loop {
        let behind = shared.subscribers.iter().any(|s| {
            s.alive.load(Ordering::Relaxed) && s.delivered.load(Ordering::Relaxed) < published
        });
        if !behind {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        let delivered = shared.delivered();
        if delivered != last.1 {
            last = (Instant::now(), delivered);
        } else if last.0.elapsed() >= DRAIN_IDLE {
            break;
        }
    }
    shared.measuring.store(false, Ordering::Relaxed);
    stop.cancel();
    let mut latency = histogram()?;
    let mut out_of_order = 0;
    let mut closed = 0;
    while let Ok(Some(done)) = tokio::time::timeout(JOIN_TIMEOUT, subscribers.join_next()).await {
        match done {
            Ok(Ok(outcome)) => {
                out_of_order += outcome.out_of_order;
                closed += u64::from(outcome.closed_by_router);
                let _ = latency.add(&outcome.latency);
            }
            Ok(Err(e)) => warnings.push(format!("subscriber failed: {e:#}")),
            Err(e) => warnings.push(format!("subscriber task failed: {e}")),
        }
    }
    subscribers.abort_all();

    let delivered = shared.delivered();
    let expected = published * args.subscribers as u64;
    let secs = measured.elapsed.as_secs_f64();
    let per_s = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
    if closed > 0 {
        warnings.push(format!("the router closed {closed} subscriber sessions"));
    }
    let mut report = ctx.report("pubsub", &measured, warnings);
    report
        .parameters
        .insert("publishers".into(), args.publishers.into());
    report
        .parameters
        .insert("subscribers".into(), args.subscribers.into());
    report
        .parameters
        .insert("rate".into(), serde_json::json!(args.rate));
    if interval.is_none() {
        report
            .parameters
            .insert("window".into(), args.window.into());
    }
    report.pubsub = Some(PubsubResult {
        published,
        expected,
        delivered,
        lost: expected.saturating_sub(delivered),
        out_of_order,
        subscribers_closed: closed,
        publishes_per_s: per_s(measured.count2),
        deliveries_per_s: per_s(measured.count),
    });
    report.latency = Latency::from_histogram(&latency);
    if interval.is_some() {
        report.send_lag = Latency::from_histogram(&send_lag);
    }
    Ok(report)
}
