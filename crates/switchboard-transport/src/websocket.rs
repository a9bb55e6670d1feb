//! WebSocket connections (wamp-spec §8.1) on top of tokio-websockets, with a reader and a
//! writer that can live in different tasks.
//!
//! Both halves share the [`WebSocketStream`] behind a mutex that is held only for the
//! duration of one synchronous `poll_*` call, never across an `.await`. tokio-websockets
//! answers PINGs and close frames itself: the replies are queued by the reading side and
//! flushed by whichever side polls next (it reuses the writer's waker while the writer is
//! mid-flush, so neither side loses a wake-up).

use std::fmt;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Sink, Stream};
use switchboard_proto::Format;
use tokio::io::AsyncWrite;
use tokio::time::{Instant, Sleep};
use tokio_websockets::{CloseCode, Config, Error as WsError, Limits, Message, WebSocketStream};

use crate::error::TransportError;
use crate::io::BoxedIo;
use crate::{Connection, FrameReader, FrameWriter, TransportKind};

/// How long a failing connection may take to send its close frame before it is abandoned.
const FAIL_TIMEOUT: Duration = Duration::from_secs(5);

/// Bytes queued in the WebSocket sink before `send_batch` flushes mid-batch.
const FLUSH_THRESHOLD: usize = 64 * 1024;

/// The stream configuration used on both sides.
pub(crate) fn config() -> Config {
    Config::default().flush_threshold(FLUSH_THRESHOLD)
}

/// Receive limits: at most `max_message_size` bytes per message.
pub(crate) fn limits(max_message_size: usize) -> Limits {
    Limits::default().max_payload_len(Some(max_message_size))
}

/// Builds the connection once the upgrade is done; `max_len` is the receive limit set in the
/// stream's [`limits`].
pub(crate) fn connection(
    ws: WebSocketStream<BoxedIo>,
    format: Format,
    max_len: usize,
    peer: Option<SocketAddr>,
) -> Connection {
    let shared = Arc::new(Mutex::new(WsShared {
        ws,
        writer_waker: None,
        close_sent: false,
    }));
    Connection {
        format,
        kind: TransportKind::WebSocket,
        peer,
        reader: FrameReader::ws(WsReader {
            shared: Arc::clone(&shared),
            format,
            max_len,
            close_seen: false,
            received: 0,
            state: ReadState::Open,
        }),
        writer: FrameWriter::ws(WsWriter { shared, format }),
    }
}

struct WsShared {
    ws: WebSocketStream<BoxedIo>,
    /// Set while the writer waits for a flush to make progress.
    writer_waker: Option<Waker>,
    /// The writer sent a close frame: the connection may now end without an echo.
    close_sent: bool,
}

type Shared = Arc<Mutex<WsShared>>;

fn lock(shared: &Shared) -> MutexGuard<'_, WsShared> {
    // The stream's state stays consistent across a panic in another poll (tokio-websockets
    // updates it before returning); keep going rather than propagate the poison.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Maps a tokio-websockets error on an established connection.
fn map_error(error: WsError) -> TransportError {
    match error {
        WsError::Io(error) => TransportError::Io(error),
        WsError::AlreadyClosed => TransportError::Closed,
        WsError::PayloadTooLong { len, max_len } => TransportError::TooLarge { len, max: max_len },
        other => TransportError::WebSocket(Box::new(other)),
    }
}

// ---------------------------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------------------------

enum ReadState {
    Open,
    /// A fatal error or an abnormal close: flush the close frame (bounded by a deadline), shut
    /// the stream down, then report.
    Failing {
        error: Option<TransportError>,
        deadline: Pin<Box<Sleep>>,
    },
    Done,
}

/// The receiving half of a WebSocket connection.
pub(crate) struct WsReader {
    shared: Shared,
    format: Format,
    max_len: usize,
    /// A close frame arrived: the end of the stream is clean.
    close_seen: bool,
    /// WebSocket messages received, control frames included (liveness for keepalive pings).
    received: u64,
    state: ReadState,
}

impl fmt::Debug for WsReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsReader")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

const fn kind_name(binary: bool) -> &'static str {
    if binary { "binary" } else { "text" }
}

impl WsReader {
    pub(crate) fn max_len(&self) -> usize {
        self.max_len
    }

    pub(crate) fn received(&self) -> u64 {
        self.received
    }

    fn fail(&mut self, error: TransportError) {
        self.state = ReadState::Failing {
            error: Some(error),
            deadline: Box::pin(tokio::time::sleep_until(Instant::now() + FAIL_TIMEOUT)),
        };
    }

    /// Fails the connection ourselves with `code`: queues the close frame.
    fn fail_with_close(&mut self, code: CloseCode, reason: &'static str, error: TransportError) {
        {
            let mut shared = lock(&self.shared);
            // Errors only if a close frame was already sent or received; nothing to add then.
            let _ = Pin::new(&mut shared.ws).start_send(Message::close(Some(code), reason));
        }
        self.fail(error);
    }

    /// Flushes whatever close frame is queued, then shuts the stream down.
    fn poll_fail(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let ReadState::Failing { deadline, .. } = &mut self.state else {
            return Poll::Ready(());
        };
        let timed_out = deadline.as_mut().poll(cx).is_ready();
        let mut shared = lock(&self.shared);
        let done = timed_out || {
            match Pin::new(&mut shared.ws).poll_flush(cx) {
                Poll::Ready(Ok(())) => Pin::new(shared.ws.get_mut()).poll_shutdown(cx).is_ready(),
                Poll::Ready(Err(_)) => true,
                Poll::Pending => false,
            }
        };
        if !done {
            return Poll::Pending;
        }
        // We may have taken the socket's write wake-up from a writer mid-flush.
        if let Some(writer) = shared.writer_waker.take() {
            writer.wake();
        }
        Poll::Ready(())
    }

    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, TransportError>>> {
        loop {
            match &mut self.state {
                ReadState::Open => {}
                ReadState::Done => return Poll::Ready(None),
                ReadState::Failing { .. } => {
                    ready!(self.poll_fail(cx));
                    let error = match std::mem::replace(&mut self.state, ReadState::Done) {
                        ReadState::Failing { error, .. } => error,
                        _ => None,
                    };
                    return Poll::Ready(error.map(Err));
                }
            }

            let (polled, close_sent) = {
                let mut shared = lock(&self.shared);
                (Pin::new(&mut shared.ws).poll_next(cx), shared.close_sent)
            };
            let message = match ready!(polled) {
                None if self.close_seen || close_sent => {
                    self.state = ReadState::Done;
                    return Poll::Ready(None);
                }
                None => {
                    self.state = ReadState::Done;
                    return Poll::Ready(Some(Err(TransportError::UnexpectedEof)));
                }
                Some(Ok(message)) => {
                    self.received += 1;
                    message
                }
                Some(Err(WsError::Io(error))) => {
                    self.state = ReadState::Done;
                    return Poll::Ready(Some(Err(TransportError::Io(error))));
                }
                Some(Err(WsError::AlreadyClosed)) => {
                    self.state = ReadState::Done;
                    return Poll::Ready(None);
                }
                // Too long or a protocol violation: tokio-websockets has queued the close frame
                // (1009, 1002, 1007, ...); get it out and report.
                Some(Err(error)) => {
                    self.fail(map_error(error));
                    continue;
                }
            };

            if message.is_text() || message.is_binary() {
                let binary = message.is_binary();
                if binary == self.format.is_binary() {
                    return Poll::Ready(Some(Ok(Bytes::from(message.into_payload()))));
                }
                let error = TransportError::WrongFrameType {
                    format: self.format,
                    got: kind_name(binary),
                    expected: kind_name(self.format.is_binary()),
                };
                let reason = if binary {
                    "wamp.2.json requires text messages"
                } else {
                    "binary serializer requires binary messages"
                };
                self.fail_with_close(CloseCode::UNSUPPORTED_DATA, reason, error);
                continue;
            }

            if let Some((code, reason)) = message.as_close() {
                self.close_seen = true;
                let normal = [
                    CloseCode::NORMAL_CLOSURE,
                    CloseCode::GOING_AWAY,
                    CloseCode::NO_STATUS_RECEIVED,
                ];
                if !normal.contains(&code) {
                    // tokio-websockets queued the echo; flush it, then report.
                    self.fail(TransportError::ClosedByPeer {
                        code: code.into(),
                        reason: reason.to_owned(),
                    });
                }
                // Otherwise the next poll flushes the echo and ends the stream.
                continue;
            }
            // PING (answered by tokio-websockets) or PONG.
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------------

/// The sending half of a WebSocket connection.
pub(crate) struct WsWriter {
    shared: Shared,
    format: Format,
}

impl fmt::Debug for WsWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsWriter")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// Clears the writer's waker if a flush future is dropped before completing.
struct WakerGuard<'a> {
    shared: &'a Shared,
    armed: bool,
}

impl Drop for WakerGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            lock(self.shared).writer_waker = None;
        }
    }
}

impl WsWriter {
    pub(crate) async fn send_batch(
        &mut self,
        frames: &mut Vec<Bytes>,
    ) -> Result<(), TransportError> {
        let binary = self.format.is_binary();
        let shared = &self.shared;
        let mut guard = WakerGuard {
            shared,
            armed: true,
        };
        let mut next = 0;
        let result = poll_fn(|cx| {
            let mut guard = lock(shared);
            let side = &mut *guard;
            let mut ws = Pin::new(&mut side.ws);
            let polled = (|| {
                while let Some(frame) = frames.get_mut(next) {
                    ready!(ws.as_mut().poll_ready(cx))?;
                    let payload = std::mem::take(frame);
                    let message = if binary {
                        Message::binary(payload)
                    } else {
                        Message::text(payload)
                    };
                    ws.as_mut().start_send(message)?;
                    next += 1;
                }
                ws.as_mut().poll_flush(cx)
            })();
            side.writer_waker = polled.is_pending().then(|| cx.waker().clone());
            polled
        })
        .await;
        guard.armed = false;
        frames.clear();
        result.map_err(map_error)
    }

    pub(crate) async fn send(&mut self, frame: Bytes) -> Result<(), TransportError> {
        let mut frames = vec![frame];
        self.send_batch(&mut frames).await
    }

    /// Sends a PING with `payload` and flushes.
    pub(crate) async fn ping(&mut self, payload: Bytes) -> Result<(), TransportError> {
        let shared = &self.shared;
        let mut guard = WakerGuard {
            shared,
            armed: true,
        };
        let mut message = Some(Message::ping(payload));
        let result = poll_fn(|cx| {
            let mut guard = lock(shared);
            let side = &mut *guard;
            let mut ws = Pin::new(&mut side.ws);
            let polled = (|| {
                if let Some(m) = message.take() {
                    ready!(ws.as_mut().poll_ready(cx))?;
                    ws.as_mut().start_send(m)?;
                }
                ws.as_mut().poll_flush(cx)
            })();
            side.writer_waker = polled.is_pending().then(|| cx.waker().clone());
            polled
        })
        .await;
        guard.armed = false;
        result.map_err(map_error)
    }

    pub(crate) async fn close(&mut self) -> Result<(), TransportError> {
        let shared = &self.shared;
        let mut guard = WakerGuard {
            shared,
            armed: true,
        };
        let result = poll_fn(|cx| {
            let mut guard = lock(shared);
            let side = &mut *guard;
            if !side.close_sent {
                side.close_sent = true;
                // Fails only when a close frame was already sent or received: then just flush.
                let _ = Pin::new(&mut side.ws)
                    .start_send(Message::close(Some(CloseCode::NORMAL_CLOSURE), ""));
            }
            let polled = (|| {
                ready!(Pin::new(&mut side.ws).poll_flush(cx))?;
                Pin::new(side.ws.get_mut())
                    .poll_shutdown(cx)
                    .map_err(WsError::Io)
            })();
            side.writer_waker = polled.is_pending().then(|| cx.waker().clone());
            polled
        })
        .await;
        guard.armed = false;
        match result {
            // The peer may already have gone; a close is done either way.
            Err(WsError::Io(error)) if error.kind() == std::io::ErrorKind::NotConnected => Ok(()),
            other => other.map_err(map_error),
        }
    }
}
