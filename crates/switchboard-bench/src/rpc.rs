//! The `rpc` scenario (closed loop: N callers × W calls in flight) and the `latency` scenario
//! (open loop: calls sent on a fixed schedule), both answered by M callees.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use bytes::Bytes;
use hdrhistogram::Histogram;
use switchboard_proto::message::{Call, CallResult, Message, Yield};
use switchboard_proto::names::MessageType;
use switchboard_proto::options::{CallOptions, ResultDetails, YieldOptions};
use switchboard_proto::{Format, Id, Payload, Value, decode, encode};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::cli::{LatencyArgs, RpcArgs};
use crate::fast::{self, Peek};
use crate::monitor::{self, Plan};
use crate::peer::Peer;
use crate::report::{Latency, Report, RpcResult, histogram};
use crate::{Ctx, Running, RunningGuard};

/// How long a caller waits for any answer while it has calls in flight.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the end of a run waits for callers to finish their last calls.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

/// State shared by the callers of one run.
#[derive(Debug)]
struct Shared {
    /// No new calls.
    stop: AtomicBool,
    /// Calls left to issue (count mode).
    budget: Option<AtomicU64>,
    /// Latencies are recorded while this is set.
    measuring: AtomicBool,
    /// Calls answered with RESULT.
    done: AtomicU64,
    /// Calls answered with ERROR.
    errors: AtomicU64,
    running: Running,
}

impl Shared {
    fn new(budget: Option<u64>) -> Arc<Shared> {
        Arc::new(Shared {
            stop: AtomicBool::new(false),
            budget: budget.map(AtomicU64::new),
            measuring: AtomicBool::new(false),
            done: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            running: Running::default(),
        })
    }

    /// Takes one call from the budget; `false` once the run stops issuing calls.
    fn take_call(&self) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            return false;
        }
        match &self.budget {
            None => true,
            Some(b) => b
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok(),
        }
    }
}

/// Builds CALL frames: the payload is encoded once and copied as bytes into every call.
#[derive(Clone, Debug)]
struct CallTemplate {
    format: Format,
    procedure: String,
    payload: Payload,
}

impl CallTemplate {
    fn new(format: Format, procedure: &str, payload_len: usize) -> anyhow::Result<CallTemplate> {
        let mut template = CallTemplate {
            format,
            procedure: procedure.to_owned(),
            payload: payload(payload_len, Vec::new()),
        };
        // Round trip once so the payload is held as encoded bytes (no per-call encoding).
        let probe = template.frame(Id::MIN)?;
        if let Message::Call(call) = decode(format, &probe).context("decoding our own CALL")? {
            template.payload = call.payload;
        }
        Ok(template)
    }

    fn frame(&self, request: Id) -> anyhow::Result<Bytes> {
        let call = Message::Call(Call {
            request,
            options: CallOptions::default(),
            procedure: self.procedure.clone(),
            payload: self.payload.clone(),
        });
        encode(&call, self.format).context("encoding CALL")
    }
}

/// `args`: the given values, then a string of `len` bytes (if `len > 0`).
pub(crate) fn payload(len: usize, mut args: Vec<Value>) -> Payload {
    if len > 0 {
        args.push(Value::Str("x".repeat(len)));
    }
    Payload::args(args)
}

/// What a caller got back.
enum Answer {
    Result(Id),
    Error(Id, String),
    Other,
}

fn classify(format: Format, frame: &Bytes) -> anyhow::Result<Answer> {
    match fast::peek(format, frame) {
        Ok(Peek::Result(request)) => Id::new(request)
            .map(Answer::Result)
            .ok_or_else(|| anyhow!("RESULT with an invalid request id {request}")),
        // Rare: read them properly.
        Ok(Peek::Other(_)) | Err(_) => {
            match decode(format, frame).context("undecodable message from the router")? {
                Message::Result(r) => Ok(Answer::Result(r.request)),
                Message::Error(e) if e.request_type == MessageType::Call => {
                    Ok(Answer::Error(e.request, e.error))
                }
                Message::Goodbye(g) => bail!("the router ended the session: GOODBYE {}", g.reason),
                Message::Abort(a) => bail!("the router ended the session: ABORT {}", a.reason),
                _ => Ok(Answer::Other),
            }
        }
        Ok(Peek::Event(_)) => Ok(Answer::Other),
    }
}

/// One caller's bookkeeping.
struct Caller {
    format: Format,
    pending: HashMap<Id, Instant>,
    latency: Histogram<u64>,
    first_error: Option<String>,
}

/// What a caller task hands back.
#[derive(Debug)]
struct CallerOutcome {
    latency: Histogram<u64>,
    send_lag: Option<Histogram<u64>>,
    first_error: Option<String>,
}

impl Caller {
    fn new(format: Format, in_flight: usize) -> anyhow::Result<Caller> {
        Ok(Caller {
            format,
            pending: HashMap::with_capacity(in_flight.max(16) * 2),
            latency: histogram()?,
            first_error: None,
        })
    }

    /// Settles the call a frame answers; returns (results, errors) counted.
    fn settle(&mut self, frame: &Bytes, measuring: bool) -> anyhow::Result<(u64, u64)> {
        match classify(self.format, frame)? {
            Answer::Result(id) => match self.pending.remove(&id) {
                Some(sent) => {
                    if measuring {
                        let ns = u64::try_from(sent.elapsed().as_nanos()).unwrap_or(u64::MAX);
                        self.latency.saturating_record(ns);
                    }
                    Ok((1, 0))
                }
                None => bail!("RESULT for a call we did not make (request {id})"),
            },
            Answer::Error(id, uri) => {
                self.pending.remove(&id);
                self.first_error.get_or_insert(uri);
                Ok((0, 1))
            }
            Answer::Other => Ok((0, 0)),
        }
    }

    /// Settles `first` and every frame already received after it.
    async fn settle_all(
        &mut self,
        peer: &mut Peer,
        first: &Bytes,
        shared: &Shared,
    ) -> anyhow::Result<()> {
        let measuring = shared.measuring.load(Ordering::Relaxed);
        let (mut results, mut errors) = self.settle(first, measuring)?;
        while let Some(frame) = peer.try_recv_frame().await? {
            let (r, e) = self.settle(&frame, measuring)?;
            results += r;
            errors += e;
        }
        if results > 0 {
            shared.done.fetch_add(results, Ordering::Relaxed);
        }
        if errors > 0 {
            shared.errors.fetch_add(errors, Ordering::Relaxed);
        }
        Ok(())
    }

    fn outcome(self, send_lag: Option<Histogram<u64>>) -> CallerOutcome {
        CallerOutcome {
            latency: self.latency,
            send_lag,
            first_error: self.first_error,
        }
    }
}

async fn next_answer(peer: &mut Peer, in_flight: usize) -> anyhow::Result<Bytes> {
    match tokio::time::timeout(RESPONSE_TIMEOUT, peer.recv_frame()).await {
        Err(_) => bail!("no answer within {RESPONSE_TIMEOUT:?} with {in_flight} calls in flight"),
        Ok(Err(e)) => Err(e),
        Ok(Ok(None)) => bail!("the router closed the connection with {in_flight} calls in flight"),
        Ok(Ok(Some(frame))) => Ok(frame),
    }
}

/// Keeps `in_flight` calls outstanding until the run stops.
async fn closed_loop(
    mut peer: Peer,
    template: CallTemplate,
    in_flight: usize,
    shared: Arc<Shared>,
    _running: RunningGuard,
) -> anyhow::Result<CallerOutcome> {
    let mut caller = Caller::new(peer.format, in_flight)?;
    loop {
        let now = Instant::now();
        while caller.pending.len() < in_flight && shared.take_call() {
            let id = peer.next_id();
            peer.queue_frame(template.frame(id)?);
            caller.pending.insert(id, now);
        }
        peer.flush().await?;
        if caller.pending.is_empty() {
            break;
        }
        let frame = next_answer(&mut peer, caller.pending.len()).await?;
        caller.settle_all(&mut peer, &frame, &shared).await?;
    }
    peer.leave().await;
    Ok(caller.outcome(None))
}

/// Sends one call every `interval` from `start` (catching up at once when late), whatever is
/// still in flight; records how late each send was against its schedule.
async fn paced_loop(
    mut peer: Peer,
    template: CallTemplate,
    interval: Duration,
    start: Instant,
    shared: Arc<Shared>,
    _running: RunningGuard,
) -> anyhow::Result<CallerOutcome> {
    let mut caller = Caller::new(peer.format, 64)?;
    let mut lag = histogram()?;
    let mut next = start;
    let mut sending = true;
    loop {
        if !sending && caller.pending.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            frame = peer.recv_frame() => {
                let frame = frame?.ok_or_else(|| anyhow!("the router closed the connection"))?;
                caller.settle_all(&mut peer, &frame, &shared).await?;
            }
            () = tokio::time::sleep_until(next.into()), if sending => {
                let now = Instant::now();
                let measuring = shared.measuring.load(Ordering::Relaxed);
                while next <= now {
                    if !shared.take_call() {
                        sending = false;
                        break;
                    }
                    let id = peer.next_id();
                    peer.queue_frame(template.frame(id)?);
                    caller.pending.insert(id, now);
                    if measuring {
                        let late = u64::try_from(now.duration_since(next).as_nanos()).unwrap_or(u64::MAX);
                        lag.saturating_record(late);
                    }
                    next += interval;
                }
                peer.flush().await?;
            }
            () = tokio::time::sleep(RESPONSE_TIMEOUT), if !sending => {
                bail!("no answer within {RESPONSE_TIMEOUT:?} with {} calls in flight", caller.pending.len());
            }
        }
    }
    peer.leave().await;
    Ok(caller.outcome(Some(lag)))
}

/// Answers every INVOCATION with a YIELD carrying the same payload (relay: every tagged CALL
/// with a tagged RESULT), batching the answers to everything already received.
async fn callee_loop(mut peer: Peer, stop: CancellationToken) -> anyhow::Result<u64> {
    let mut answered = 0;
    loop {
        let frame = tokio::select! {
            biased;
            frame = peer.recv_frame() => frame?,
            () = stop.cancelled() => break,
        };
        let Some(frame) = frame else {
            return Ok(answered);
        };
        let mut open = answer(&mut peer, &frame, &mut answered)?;
        while open && let Some(frame) = peer.try_recv_frame().await? {
            open = answer(&mut peer, &frame, &mut answered)?;
        }
        peer.flush().await?;
        if !open {
            return Ok(answered);
        }
    }
    peer.leave().await;
    Ok(answered)
}

/// Queues the answer to one frame; `false` when the router ended the session.
fn answer(peer: &mut Peer, frame: &Bytes, answered: &mut u64) -> anyhow::Result<bool> {
    let format = peer.format;
    if peer.is_relay() {
        let (conn, inner) = switchboard_relay::untag(frame)
            .ok_or_else(|| anyhow!("relay: a frame without a connection tag"))?;
        if let Message::Call(call) = decode(format, &inner).context("relay: undecodable CALL")? {
            let result = Message::Result(CallResult {
                request: call.request,
                details: ResultDetails::default(),
                payload: call.payload,
            });
            let encoded = encode(&result, format).context("encoding RESULT")?;
            peer.queue_frame(switchboard_relay::tag(conn, &encoded));
            *answered += 1;
        }
        return Ok(true);
    }
    match decode(format, frame).context("undecodable message from the router")? {
        Message::Invocation(inv) => {
            peer.queue(&Message::Yield(Yield {
                request: inv.request,
                options: YieldOptions::default(),
                payload: inv.payload,
            }))?;
            *answered += 1;
            Ok(true)
        }
        Message::Goodbye(_) | Message::Abort(_) => Ok(false),
        _ => Ok(true),
    }
}

/// Opens and registers `count` callees and starts answering.
async fn start_callees(
    ctx: &Ctx,
    count: usize,
    procedure: &str,
    stop: &CancellationToken,
) -> anyhow::Result<JoinSet<anyhow::Result<u64>>> {
    let mut callees = JoinSet::new();
    for _ in 0..count {
        let mut peer = Peer::open(&ctx.target).await.context("opening a callee")?;
        peer.register(procedure, count > 1)
            .await
            .with_context(|| format!("registering {procedure}"))?;
        callees.spawn(callee_loop(peer, stop.clone()));
    }
    Ok(callees)
}

async fn open_callers(ctx: &Ctx, count: usize) -> anyhow::Result<Vec<Peer>> {
    let mut opening = JoinSet::new();
    for _ in 0..count {
        let target = ctx.target.clone();
        opening.spawn(async move { Peer::open(&target).await });
    }
    let mut peers = Vec::with_capacity(count);
    while let Some(peer) = opening.join_next().await {
        peers.push(peer.context("opening a caller")??);
    }
    Ok(peers)
}

/// Waits for the callers, merging their histograms; failures become warnings.
async fn collect_callers(
    mut callers: JoinSet<anyhow::Result<CallerOutcome>>,
    warnings: &mut Vec<String>,
) -> anyhow::Result<(Histogram<u64>, Histogram<u64>)> {
    let mut latency = histogram()?;
    let mut lag = histogram()?;
    let mut first_error = None;
    let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
    loop {
        match tokio::time::timeout_at(deadline, callers.join_next()).await {
            Err(_) => {
                warnings.push(format!(
                    "{} callers still busy {DRAIN_TIMEOUT:?} after the end; abandoned",
                    callers.len()
                ));
                callers.abort_all();
                break;
            }
            Ok(None) => break,
            Ok(Some(Ok(Ok(outcome)))) => {
                let _ = latency.add(&outcome.latency);
                if let Some(l) = &outcome.send_lag {
                    let _ = lag.add(l);
                }
                if first_error.is_none() {
                    first_error = outcome.first_error;
                }
            }
            Ok(Some(Ok(Err(e)))) => warnings.push(format!("caller failed: {e:#}")),
            Ok(Some(Err(e))) => warnings.push(format!("caller task failed: {e}")),
        }
    }
    if let Some(uri) = first_error {
        warnings.push(format!("calls failed, e.g. with {uri}"));
    }
    Ok((latency, lag))
}

async fn stop_callees(
    stop: CancellationToken,
    mut callees: JoinSet<anyhow::Result<u64>>,
    warnings: &mut Vec<String>,
) {
    stop.cancel();
    while let Ok(Some(result)) = tokio::time::timeout(DRAIN_TIMEOUT, callees.join_next()).await {
        match result {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => warnings.push(format!("callee failed: {e:#}")),
            Err(e) => warnings.push(format!("callee task failed: {e}")),
        }
    }
    callees.abort_all();
}

fn procedure() -> String {
    format!("bench.rpc.p{}.echo", std::process::id())
}

fn rpc_result(shared: &Shared, calls: u64, elapsed: Duration) -> RpcResult {
    let secs = elapsed.as_secs_f64();
    let calls_per_s = if secs > 0.0 { calls as f64 / secs } else { 0.0 };
    RpcResult {
        calls,
        calls_total: shared.done.load(Ordering::Relaxed),
        errors: shared.errors.load(Ordering::Relaxed),
        calls_per_s,
        messages_per_s: calls_per_s * 4.0,
    }
}

/// `bench rpc`.
pub(crate) async fn run(ctx: &Ctx, args: &RpcArgs) -> anyhow::Result<Report> {
    ensure!(args.callers >= 1, "--callers must be at least 1");
    ensure!(args.in_flight >= 1, "--in-flight must be at least 1");
    ensure!(args.callees >= 1, "--callees must be at least 1");
    let procedure = procedure();
    let template = CallTemplate::new(ctx.target.format, &procedure, ctx.payload)?;
    let stop = CancellationToken::new();
    let callees = start_callees(ctx, args.callees, &procedure, &stop).await?;
    let peers = open_callers(ctx, args.callers).await?;
    let shared = Shared::new(args.calls);
    let mut callers = JoinSet::new();
    for peer in peers {
        callers.spawn(closed_loop(
            peer,
            template.clone(),
            args.in_flight,
            Arc::clone(&shared),
            shared.running.enter(),
        ));
    }
    let plan = Plan {
        counted: args.calls,
        unit: "calls",
        ..ctx.plan()
    };
    let measured = monitor::measure(
        &plan,
        &shared.measuring,
        || (shared.done.load(Ordering::Relaxed), 0),
        || shared.running.count() == 0,
    )
    .await;
    shared.stop.store(true, Ordering::Relaxed);
    shared.measuring.store(false, Ordering::Relaxed);
    let mut warnings = Vec::new();
    let (latency, _) = collect_callers(callers, &mut warnings).await?;
    stop_callees(stop, callees, &mut warnings).await;
    let mut report = ctx.report("rpc", &measured, warnings);
    report.parameters = [
        ("callers", args.callers as u64),
        ("in_flight", args.in_flight as u64),
        ("callees", args.callees as u64),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.into()))
    .collect();
    report.rpc = Some(rpc_result(&shared, measured.count, measured.elapsed));
    report.latency = Latency::from_histogram(&latency);
    Ok(report)
}

/// `bench latency`.
pub(crate) async fn run_latency(ctx: &Ctx, args: &LatencyArgs) -> anyhow::Result<Report> {
    ensure!(args.callers >= 1, "--callers must be at least 1");
    ensure!(args.callees >= 1, "--callees must be at least 1");
    ensure!(
        args.rate.is_finite() && args.rate > 0.0,
        "--rate must be a positive number of calls per second"
    );
    let interval = Duration::try_from_secs_f64(args.callers as f64 / args.rate)
        .context("--rate is out of range")?;
    let procedure = procedure();
    let template = CallTemplate::new(ctx.target.format, &procedure, ctx.payload)?;
    let stop = CancellationToken::new();
    let callees = start_callees(ctx, args.callees, &procedure, &stop).await?;
    let peers = open_callers(ctx, args.callers).await?;
    let shared = Shared::new(args.calls);
    let mut callers = JoinSet::new();
    let start = Instant::now() + Duration::from_millis(10);
    let n = u32::try_from(peers.len()).unwrap_or(u32::MAX);
    for (i, peer) in (0u32..).zip(peers) {
        // Spread the callers' schedules over one interval.
        let offset = interval / n * i;
        callers.spawn(paced_loop(
            peer,
            template.clone(),
            interval,
            start + offset,
            Arc::clone(&shared),
            shared.running.enter(),
        ));
    }
    let plan = Plan {
        counted: args.calls,
        unit: "calls",
        ..ctx.plan()
    };
    let measured = monitor::measure(
        &plan,
        &shared.measuring,
        || (shared.done.load(Ordering::Relaxed), 0),
        || shared.running.count() == 0,
    )
    .await;
    shared.stop.store(true, Ordering::Relaxed);
    shared.measuring.store(false, Ordering::Relaxed);
    let mut warnings = Vec::new();
    let (latency, lag) = collect_callers(callers, &mut warnings).await?;
    stop_callees(stop, callees, &mut warnings).await;
    let mut report = ctx.report("latency", &measured, warnings);
    report
        .parameters
        .insert("rate".to_owned(), serde_json::json!(args.rate));
    report
        .parameters
        .insert("callers".to_owned(), args.callers.into());
    report
        .parameters
        .insert("callees".to_owned(), args.callees.into());
    report.rpc = Some(rpc_result(&shared, measured.count, measured.elapsed));
    report.latency = Latency::from_histogram(&latency);
    report.send_lag = Latency::from_histogram(&lag);
    Ok(report)
}
