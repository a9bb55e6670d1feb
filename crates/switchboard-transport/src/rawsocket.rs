//! RawSocket connections (wamp-spec §8.3) over any byte stream: the opening handshake on both
//! sides, then a reader and a writer that can live in different tasks.
//!
//! The stream is split in two halves. The read half belongs to the [`RawReader`]; the write half
//! sits in a [`WriteSide`] shared by the reader (which must answer every PING with a PONG at
//! once) and the [`RawWriter`]. Both queue frames on one [`OutQueue`] and either may flush it.
//!
//! Waker rules, so neither side can sleep forever while the other holds the socket's single
//! write-readiness registration:
//! - the writer always polls the socket itself; when its flush completes (or its future is
//!   dropped mid-flush) it wakes the reader if the reader was waiting for that flush;
//! - the reader polls the socket only when the writer is not mid-flush; otherwise it leaves its
//!   waker and lets the writer's flush carry the PONGs out.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use switchboard_proto::Format;
use switchboard_proto::rawsocket::{
    FrameDecoder, FrameError, FrameKind, HEADER_LEN, Handshake, HandshakeError, MaxLength,
    SerializerId, encode_header,
};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::time::{Instant, Sleep};
use tokio_util::io::{poll_read_buf, poll_write_buf};

use crate::error::{ConnectError, TransportError};
use crate::io::BoxedIo;
use crate::{Connection, FrameReader, FrameWriter, TransportKind};

/// How long a failing connection may take to shut down before it is abandoned.
const FAIL_TIMEOUT: Duration = Duration::from_secs(5);

/// Read buffer growth step.
const READ_CHUNK: usize = 8 * 1024;

/// Unflushed PONG bytes above which the reader stops reading until they are flushed, so a peer
/// that sends PINGs but never reads cannot make us buffer without bound. Only PONGs count:
/// the writer's own backlog never stops the reader.
const PONG_BACKLOG_LIMIT: usize = 256 * 1024;

/// The RawSocket serializer id for a format.
pub(crate) const fn serializer_id(format: Format) -> SerializerId {
    match format {
        Format::Json => SerializerId::Json,
        Format::MessagePack => SerializerId::MessagePack,
        Format::Cbor => SerializerId::Cbor,
    }
}

/// The format for a RawSocket serializer id, if Switchboard speaks it.
pub(crate) const fn format_of(id: SerializerId) -> Option<Format> {
    match id {
        SerializerId::Json => Some(Format::Json),
        SerializerId::MessagePack => Some(Format::MessagePack),
        SerializerId::Cbor => Some(Format::Cbor),
        _ => None,
    }
}

/// The receive limit announced for a configured byte limit: the smallest power of two at
/// least as large, between 512 B and 16 MiB.
pub(crate) fn announced_limit(max_message_size: usize) -> MaxLength {
    MaxLength::covering(u64::try_from(max_message_size).unwrap_or(u64::MAX))
}

// ---------------------------------------------------------------------------------------------
// Handshakes
// ---------------------------------------------------------------------------------------------

/// What the router side decided about a handshake request.
pub(crate) enum ServerHandshake {
    /// Accepted: the reply to send and the connection's parameters.
    Accept {
        format: Format,
        reply: [u8; 4],
        recv_max: MaxLength,
        peer_max: MaxLength,
    },
    /// Refused: the error reply to send before closing.
    Refuse(HandshakeError),
}

/// Router side: decides the reply to a 4-octet handshake `request` (first octet `0x7F`).
pub(crate) fn answer_handshake(
    request: [u8; 4],
    formats: &[Format],
    max_message_size: usize,
    max_connections_reached: bool,
) -> ServerHandshake {
    if max_connections_reached {
        return ServerHandshake::Refuse(HandshakeError::MaxConnectionCountReached);
    }
    let client = match Handshake::decode(request) {
        Ok(client) => client,
        Err(error) => {
            return ServerHandshake::Refuse(
                error
                    .reply_code()
                    .unwrap_or(HandshakeError::ReservedBitsUsed),
            );
        }
    };
    match format_of(client.serializer).filter(|f| formats.contains(f)) {
        Some(format) => {
            let recv_max = announced_limit(max_message_size);
            ServerHandshake::Accept {
                format,
                reply: client.accept(recv_max).encode(),
                recv_max,
                peer_max: client.max_len_exp,
            }
        }
        None => ServerHandshake::Refuse(HandshakeError::SerializerUnsupported),
    }
}

/// Client side: sends the handshake on `stream`, checks the router's reply and returns the
/// connection.
pub(crate) async fn client_handshake(
    mut stream: BoxedIo,
    format: Format,
    max_message_size: usize,
    peer: Option<SocketAddr>,
) -> Result<Connection, ConnectError> {
    let recv_max = announced_limit(max_message_size);
    let request = Handshake::new(recv_max, serializer_id(format));
    stream.write_all(&request.encode()).await?;
    stream.flush().await?;
    let mut reply = [0u8; 4];
    stream.read_exact(&mut reply).await?;
    let accepted = request.check_reply(reply)?;
    Ok(connection(
        stream,
        format,
        recv_max,
        accepted.max_len_exp,
        peer,
    ))
}

/// Builds the connection once the handshake is done.
pub(crate) fn connection(
    stream: BoxedIo,
    format: Format,
    recv_max: MaxLength,
    peer_max: MaxLength,
    peer: Option<SocketAddr>,
) -> Connection {
    let (read, write) = tokio::io::split(stream);
    let shared = Arc::new(Mutex::new(WriteSide {
        io: write,
        queue: OutQueue::default(),
        writer_waker: None,
        reader_waker: None,
        closed: false,
        pong_backlog: 0,
    }));
    let reader = RawReader {
        io: read,
        buf: BytesMut::with_capacity(READ_CHUNK),
        decoder: FrameDecoder::with_max_length(recv_max),
        shared: Arc::clone(&shared),
        pongs_pending: false,
        received: 0,
        state: ReadState::Open,
    };
    let writer = RawWriter {
        shared,
        peer_max: peer_max.bytes(),
    };
    Connection {
        format,
        kind: TransportKind::RawSocket,
        peer,
        reader: FrameReader::raw(reader),
        writer: FrameWriter::raw(writer),
    }
}

// ---------------------------------------------------------------------------------------------
// Outgoing queue
// ---------------------------------------------------------------------------------------------

/// One frame waiting to be written: its header and its payload, never copied together.
struct OutFrame {
    header: [u8; HEADER_LEN],
    payload: Bytes,
}

impl OutFrame {
    fn len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }
}

/// Frames waiting to be written, as a [`Buf`] that hands out header and payload slices for
/// vectored writes.
#[derive(Default)]
struct OutQueue {
    frames: VecDeque<OutFrame>,
    /// Bytes of the front frame already written.
    written: usize,
    /// Bytes left to write in total.
    pending: usize,
}

impl OutQueue {
    fn push(&mut self, kind: FrameKind, payload: Bytes) -> Result<(), FrameError> {
        let len = u32::try_from(payload.len()).map_err(|_| FrameError::TooLong {
            len: payload.len() as u64,
            max: switchboard_proto::rawsocket::MAX_FRAME_LEN,
        })?;
        let frame = OutFrame {
            header: encode_header(kind, len)?,
            payload,
        };
        self.pending += frame.len();
        self.frames.push_back(frame);
        Ok(())
    }
}

impl Buf for OutQueue {
    fn remaining(&self) -> usize {
        self.pending
    }

    fn chunk(&self) -> &[u8] {
        let Some(front) = self.frames.front() else {
            return &[];
        };
        if self.written < HEADER_LEN {
            &front.header[self.written..]
        } else {
            front
                .payload
                .get(self.written - HEADER_LEN..)
                .unwrap_or(&[])
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (i, frame) in self.frames.iter().enumerate() {
            // Only the front frame can be partly written.
            let mut skip = if i == 0 { self.written } else { 0 };
            for part in [&frame.header[..], &frame.payload[..]] {
                let slice = part.get(skip.min(part.len())..).unwrap_or(&[]);
                skip = skip.saturating_sub(part.len());
                if slice.is_empty() {
                    continue;
                }
                let Some(slot) = dst.get_mut(n) else {
                    return n;
                };
                *slot = IoSlice::new(slice);
                n += 1;
            }
        }
        n
    }

    fn advance(&mut self, mut cnt: usize) {
        cnt = cnt.min(self.pending);
        self.pending -= cnt;
        while cnt > 0 {
            let Some(front) = self.frames.front() else {
                break;
            };
            let left = front.len() - self.written;
            if cnt >= left {
                cnt -= left;
                self.frames.pop_front();
                self.written = 0;
            } else {
                self.written += cnt;
                cnt = 0;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Shared write side
// ---------------------------------------------------------------------------------------------

/// The write half and everything queued on it, shared by reader (PONGs) and writer.
struct WriteSide {
    io: WriteHalf<BoxedIo>,
    queue: OutQueue,
    /// Set while the writer is waiting for a flush to make progress.
    writer_waker: Option<Waker>,
    /// Set while the reader waits for queued PONGs to be flushed.
    reader_waker: Option<Waker>,
    /// No more frames may be queued: closed by the writer or failed by the reader.
    closed: bool,
    /// PONG bytes queued since the queue was last empty.
    pong_backlog: usize,
}

impl WriteSide {
    /// Writes everything queued, then flushes the stream.
    fn poll_flush_queue(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.queue.has_remaining() {
            let n = ready!(poll_write_buf(Pin::new(&mut self.io), cx, &mut self.queue))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
        }
        self.pong_backlog = 0;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// Writer side: flush, recording or clearing the writer's waker, and waking a reader that
    /// waited for this flush.
    fn poll_writer_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = self.poll_flush_queue(cx);
        if result.is_pending() {
            self.writer_waker = Some(cx.waker().clone());
        } else {
            self.writer_waker = None;
            if let Some(reader) = self.reader_waker.take() {
                reader.wake();
            }
        }
        result
    }
}

type Shared = Arc<Mutex<WriteSide>>;

fn lock(shared: &Shared) -> MutexGuard<'_, WriteSide> {
    // A panic while holding this lock cannot leave the queue in a state that is unsafe to
    // keep using; the worst outcome is a garbled stream, which the peer will reject.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------------------------

enum ReadState {
    Open,
    /// A fatal error happened: shut the connection down (bounded by a deadline), then report.
    Failing {
        error: Option<TransportError>,
        deadline: Pin<Box<Sleep>>,
    },
    Done,
}

/// The receiving half of a RawSocket connection.
pub(crate) struct RawReader {
    io: ReadHalf<BoxedIo>,
    buf: BytesMut,
    decoder: FrameDecoder,
    shared: Shared,
    /// PONGs were queued and not yet seen flushed.
    pongs_pending: bool,
    /// Frames received, PING and PONG included (liveness for keepalive pings).
    received: u64,
    state: ReadState,
}

impl fmt::Debug for RawReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawReader")
            .field("buffered", &self.buf.len())
            .field("max_len", &self.decoder.max_len())
            .finish_non_exhaustive()
    }
}

impl RawReader {
    /// The receive limit in bytes (as announced in the handshake).
    pub(crate) fn max_len(&self) -> usize {
        self.decoder.max_len() as usize
    }

    pub(crate) fn received(&self) -> u64 {
        self.received
    }

    fn fail(&mut self, error: TransportError) {
        lock(&self.shared).closed = true;
        self.state = ReadState::Failing {
            error: Some(error),
            deadline: Box::pin(tokio::time::sleep_until(Instant::now() + FAIL_TIMEOUT)),
        };
    }

    /// Tries to get queued PONGs out. Returns `Pending` only when the backlog is so large that
    /// reading must pause.
    fn poll_pongs(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        if !self.pongs_pending {
            return Poll::Ready(Ok(()));
        }
        let mut side = lock(&self.shared);
        if !side.queue.has_remaining() {
            self.pongs_pending = false;
            side.reader_waker = None;
            return Poll::Ready(Ok(()));
        }
        if side.writer_waker.is_some() {
            // The writer is mid-flush and owns the socket's write wake-up; it carries our
            // PONGs out and wakes us when done.
            side.reader_waker = Some(cx.waker().clone());
        } else {
            match side.poll_flush_queue(cx) {
                Poll::Ready(Ok(())) => {
                    self.pongs_pending = false;
                    side.reader_waker = None;
                    return Poll::Ready(Ok(()));
                }
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error.into())),
                Poll::Pending => side.reader_waker = Some(cx.waker().clone()),
            }
        }
        if side.pong_backlog > PONG_BACKLOG_LIMIT {
            Poll::Pending
        } else {
            Poll::Ready(Ok(()))
        }
    }

    fn queue_pong(&mut self, payload: Bytes) {
        let mut side = lock(&self.shared);
        if side.closed {
            return;
        }
        // A PING payload is at most our receive limit, itself at most 2^24: it always fits.
        let len = HEADER_LEN + payload.len();
        if side.queue.push(FrameKind::Pong, payload).is_ok() {
            side.pong_backlog += len;
            self.pongs_pending = true;
        }
    }

    /// Shuts the write side down for a failing connection.
    fn poll_fail(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let ReadState::Failing { deadline, .. } = &mut self.state else {
            return Poll::Ready(());
        };
        let timed_out = deadline.as_mut().poll(cx).is_ready();
        let mut side = lock(&self.shared);
        let done = timed_out || {
            match side.poll_flush_queue(cx) {
                Poll::Ready(Ok(())) => Pin::new(&mut side.io).poll_shutdown(cx).is_ready(),
                Poll::Ready(Err(_)) => true,
                Poll::Pending => false,
            }
        };
        if !done {
            return Poll::Pending;
        }
        // Whoever waited on the write side must now see it closed.
        if let Some(writer) = side.writer_waker.take() {
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

            if let Err(error) = ready!(self.poll_pongs(cx)) {
                self.state = ReadState::Done;
                return Poll::Ready(Some(Err(error)));
            }

            match self.decoder.decode(&mut self.buf) {
                Ok(Some(frame)) => {
                    self.received += 1;
                    match frame.kind {
                        FrameKind::Message => return Poll::Ready(Some(Ok(frame.payload))),
                        FrameKind::Ping => {
                            tracing::trace!(len = frame.payload.len(), "RawSocket PING");
                            self.queue_pong(frame.payload);
                            continue;
                        }
                        FrameKind::Pong => continue,
                    }
                }
                Ok(None) => {}
                Err(FrameError::TooLong { len, max }) => {
                    self.fail(TransportError::TooLarge {
                        len: usize::try_from(len).unwrap_or(usize::MAX),
                        max: max as usize,
                    });
                    continue;
                }
                Err(error) => {
                    self.fail(TransportError::RawSocket(error));
                    continue;
                }
            }

            if self.buf.capacity() - self.buf.len() < READ_CHUNK / 2 {
                self.buf.reserve(READ_CHUNK);
            }
            match ready!(poll_read_buf(Pin::new(&mut self.io), cx, &mut self.buf)) {
                Ok(0) => {
                    self.state = ReadState::Done;
                    if self.buf.is_empty() {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Err(TransportError::UnexpectedEof)));
                }
                Ok(_) => {}
                Err(error) => {
                    self.state = ReadState::Done;
                    return Poll::Ready(Some(Err(error.into())));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------------

/// The sending half of a RawSocket connection.
pub(crate) struct RawWriter {
    shared: Shared,
    /// The peer's receive limit from its handshake.
    peer_max: u32,
}

impl fmt::Debug for RawWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawWriter")
            .field("peer_max", &self.peer_max)
            .finish_non_exhaustive()
    }
}

/// Clears the writer's waker if a flush future is dropped before completing, and hands the
/// socket's write wake-up back to a reader that was relying on this flush.
struct FlushGuard<'a> {
    shared: &'a Shared,
    armed: bool,
}

impl Drop for FlushGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let mut side = lock(self.shared);
            side.writer_waker = None;
            if let Some(reader) = side.reader_waker.take() {
                reader.wake();
            }
        }
    }
}

impl RawWriter {
    pub(crate) fn peer_max(&self) -> usize {
        self.peer_max as usize
    }

    pub(crate) async fn send_batch(
        &mut self,
        frames: &mut Vec<Bytes>,
    ) -> Result<(), TransportError> {
        self.check_len(frames.iter())?;
        self.enqueue(frames.drain(..))?;
        self.flush(false).await
    }

    pub(crate) async fn send(&mut self, frame: Bytes) -> Result<(), TransportError> {
        self.check_len(std::iter::once(&frame))?;
        self.enqueue(std::iter::once(frame))?;
        self.flush(false).await
    }

    /// Fails if any frame is over the peer's limit.
    fn check_len<'a>(
        &self,
        mut frames: impl Iterator<Item = &'a Bytes>,
    ) -> Result<(), TransportError> {
        let max = self.peer_max as usize;
        match frames.find(|f| f.len() > max) {
            Some(big) => Err(TransportError::OutgoingTooLarge {
                len: big.len(),
                max,
            }),
            None => Ok(()),
        }
    }

    /// Sends a PING frame with `payload` (at most the peer's limit) and flushes.
    pub(crate) async fn ping(&mut self, payload: Bytes) -> Result<(), TransportError> {
        self.check_len(std::iter::once(&payload))?;
        {
            let mut side = lock(&self.shared);
            if side.closed {
                return Err(TransportError::Closed);
            }
            let len = payload.len();
            side.queue.push(FrameKind::Ping, payload).map_err(|_| {
                TransportError::OutgoingTooLarge {
                    len,
                    max: self.peer_max as usize,
                }
            })?;
        }
        self.flush(false).await
    }

    /// Queues frames already checked against the peer's limit.
    fn enqueue(&mut self, frames: impl Iterator<Item = Bytes>) -> Result<(), TransportError> {
        let mut side = lock(&self.shared);
        if side.closed {
            return Err(TransportError::Closed);
        }
        for frame in frames {
            let len = frame.len();
            // Cannot fail: every frame is within the peer's limit, itself at most 2^24.
            side.queue.push(FrameKind::Message, frame).map_err(|_| {
                TransportError::OutgoingTooLarge {
                    len,
                    max: self.peer_max as usize,
                }
            })?;
        }
        Ok(())
    }

    /// Flushes the queue; with `shutdown`, then shuts the stream's write side down.
    async fn flush(&mut self, shutdown: bool) -> Result<(), TransportError> {
        let shared = &self.shared;
        let mut guard = FlushGuard {
            shared,
            armed: true,
        };
        let result = poll_fn(|cx| {
            let mut side = lock(shared);
            if side.closed && !shutdown {
                // Failed by the reader (or closed) while we waited.
                side.writer_waker = None;
                return Poll::Ready(Err(TransportError::Closed));
            }
            ready!(side.poll_writer_flush(cx))?;
            if shutdown {
                ready!(Pin::new(&mut side.io).poll_shutdown(cx))?;
            }
            Poll::Ready(Ok(()))
        })
        .await;
        guard.armed = false;
        result
    }

    pub(crate) async fn close(&mut self) -> Result<(), TransportError> {
        {
            let mut side = lock(&self.shared);
            if side.closed {
                return Ok(());
            }
            side.closed = true;
        }
        self.flush(true).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn queue_of(payloads: &[&'static [u8]]) -> OutQueue {
        let mut queue = OutQueue::default();
        for payload in payloads {
            queue
                .push(FrameKind::Message, Bytes::from_static(payload))
                .unwrap();
        }
        queue
    }

    fn expected(payloads: &[&[u8]]) -> Vec<u8> {
        let mut wire = BytesMut::new();
        for payload in payloads {
            switchboard_proto::rawsocket::encode_frame(FrameKind::Message, payload, &mut wire)
                .unwrap();
        }
        wire.to_vec()
    }

    /// Drains the queue `step` bytes at a time through `chunks_vectored`.
    fn drain_vectored(queue: &mut OutQueue, step: usize, slots: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while queue.has_remaining() {
            let mut dst = vec![IoSlice::new(&[]); slots];
            let n = queue.chunks_vectored(&mut dst);
            assert!(n > 0);
            let available: Vec<u8> = dst[..n].iter().flat_map(|s| s.iter().copied()).collect();
            let take = step.min(available.len());
            out.extend_from_slice(&available[..take]);
            queue.advance(take);
        }
        out
    }

    #[test]
    fn out_queue_writes_headers_and_payloads_in_order_whatever_the_write_sizes() {
        let payloads: &[&'static [u8]] = &[b"hello", b"", b"x", b"[1,\"realm1\",{}]"];
        for step in 1..12 {
            for slots in 1..5 {
                let mut queue = queue_of(payloads);
                assert_eq!(queue.remaining(), expected(payloads).len());
                assert_eq!(drain_vectored(&mut queue, step, slots), expected(payloads));
                assert_eq!(queue.remaining(), 0);
                assert!(queue.frames.is_empty());
            }
        }
    }

    #[test]
    fn out_queue_chunk_matches_vectored_view() {
        let mut queue = queue_of(&[b"abc", b"de"]);
        let mut out = Vec::new();
        while queue.has_remaining() {
            let chunk = queue.chunk().to_vec();
            assert!(!chunk.is_empty());
            out.push(chunk[0]);
            queue.advance(1);
        }
        assert_eq!(out, expected(&[b"abc", b"de"]));
        // Over-advancing is harmless.
        queue.advance(10);
        assert_eq!(queue.remaining(), 0);
    }

    #[test]
    fn server_handshake_answers() {
        let formats = Format::ALL;
        assert!(matches!(
            answer_handshake([0x7F, 0xF1, 0, 0], &formats, 1000, false),
            ServerHandshake::Accept {
                format: Format::Json,
                reply: [0x7F, 0x11, 0, 0],
                ..
            }
        ));
        assert!(matches!(
            answer_handshake([0x7F, 0xF1, 0, 0], &formats, 1000, true),
            ServerHandshake::Refuse(HandshakeError::MaxConnectionCountReached)
        ));
        assert!(matches!(
            answer_handshake([0x7F, 0xF5, 0, 0], &formats, 1000, false),
            ServerHandshake::Refuse(HandshakeError::SerializerUnsupported)
        ));
        assert!(matches!(
            answer_handshake([0x7F, 0xF2, 1, 0], &formats, 1000, false),
            ServerHandshake::Refuse(HandshakeError::ReservedBitsUsed)
        ));
        assert_eq!(announced_limit(0).bytes(), 512);
        assert_eq!(announced_limit(usize::MAX).bytes(), 1 << 24);
    }
}
