//! A bare relay: forwards frames between connections with no WAMP logic.
//!
//! It runs on exactly the stack the router uses — [`switchboard_transport::accept`] for the
//! WebSocket/RawSocket handshake, a reader loop per connection, and a writer task per
//! connection that drains a bounded queue with `recv_many` and writes each batch with one flush
//! (ARCHITECTURE.md decision 6) — but it never decodes a message. What it can forward is what
//! the machine and the transport allow; `switchboard bench --relay` drives it with the same
//! traffic shapes as a router, so the router's numbers can be read against it.
//!
//! The relay's whole "protocol", chosen so that the generator's traffic keeps the router's
//! shape (N callers → one callee → back to the right caller; one publisher → S subscribers):
//!
//! - A connection whose **first** frame is [`ROLE_CALLEE`] becomes a responder, one whose first
//!   frame is [`ROLE_SUBSCRIBER`] a subscriber; both get [`ROLE_OK`] back. Any other connection
//!   is a requester (its first frame is already traffic).
//! - A requester's frame goes, unchanged, to every subscriber (the same [`Bytes`], no copy), and
//!   to one responder (round robin) prefixed with the requester's tag: [`TAG_LEN`] lowercase hex
//!   digits naming the connection (ASCII, so JSON text frames stay valid UTF-8).
//! - A responder's frame starts with such a tag; the relay strips it and forwards the rest to
//!   that requester.
//!
//! A full queue makes the sending reader wait (back-pressure), so the relay never drops a
//! frame; a frame that has nowhere to go (no responder and no subscriber, or an unknown tag) is
//! counted in [`RelayStats::unroutable`] and dropped.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::{BufMut, Bytes, BytesMut};
use switchboard_transport::{AcceptConfig, Connection, FrameWriter};
use tokio::net::TcpListener;
use tokio::sync::mpsc::{self, Sender, error::TrySendError};
use tokio::task::JoinSet;

/// First frame of a connection that answers requests.
pub const ROLE_CALLEE: &[u8] = b"relay:callee";
/// First frame of a connection that receives every requester frame.
pub const ROLE_SUBSCRIBER: &[u8] = b"relay:subscriber";
/// The relay's answer to a role frame.
pub const ROLE_OK: &[u8] = b"relay:ok";
/// Length of the connection tag in front of frames to and from responders.
pub const TAG_LEN: usize = 8;

/// How many queued frames a writer takes per write (the router uses the same).
const WRITE_BATCH: usize = 256;
/// How long a new connection may take over its transport handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Prefixes `frame` with the tag of connection `conn`.
pub fn tag(conn: u32, frame: &[u8]) -> Bytes {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut buf = BytesMut::with_capacity(TAG_LEN + frame.len());
    for shift in (0..TAG_LEN).rev() {
        buf.put_u8(HEX[((conn >> (shift * 4)) & 0xf) as usize]);
    }
    buf.extend_from_slice(frame);
    buf.freeze()
}

/// Splits a tagged frame into the connection tag and the frame (no copy).
pub fn untag(frame: &Bytes) -> Option<(u32, Bytes)> {
    let digits = frame.get(..TAG_LEN)?;
    let mut conn = 0u32;
    for &d in digits {
        let nibble = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            _ => return None,
        };
        conn = (conn << 4) | u32::from(nibble);
    }
    Some((conn, frame.slice(TAG_LEN..)))
}

/// How the relay is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayConfig {
    /// HTTP path of the WebSocket endpoint.
    pub ws_path: String,
    /// The longest frame accepted, in bytes.
    pub max_message_size: usize,
    /// Outbound queue length per connection, in frames.
    pub queue_messages: usize,
}

impl Default for RelayConfig {
    /// `/ws`, 16 MiB frames, 4096 queued frames (the router's defaults).
    fn default() -> RelayConfig {
        RelayConfig {
            ws_path: "/ws".to_owned(),
            max_message_size: 16 * 1024 * 1024,
            queue_messages: 4096,
        }
    }
}

/// Counters of a running relay.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Connections accepted (transport handshake done).
    pub connections: AtomicU64,
    /// Frames that had nowhere to go.
    pub unroutable: AtomicU64,
}

/// A relay bound to its listener, not yet serving.
#[derive(Debug)]
pub struct Relay {
    listener: TcpListener,
    addr: SocketAddr,
    accept: Arc<AcceptConfig>,
    hub: Arc<Hub>,
    queue_messages: usize,
}

impl Relay {
    /// Binds the listener (port 0: the OS picks one).
    pub async fn bind(addr: SocketAddr, config: RelayConfig) -> io::Result<Relay> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        Ok(Relay {
            listener,
            addr,
            accept: Arc::new(AcceptConfig {
                ws_path: config.ws_path,
                max_message_size: config.max_message_size,
                ..AcceptConfig::default()
            }),
            hub: Arc::new(Hub::default()),
            queue_messages: config.queue_messages.max(1),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The relay's counters.
    pub fn stats(&self) -> Arc<RelayStats> {
        Arc::clone(&self.hub.stats)
    }

    /// Serves until `shutdown` completes, then drops every connection.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) {
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let hub = Arc::clone(&self.hub);
                        let accept = Arc::clone(&self.accept);
                        let queue = self.queue_messages;
                        connections.spawn(async move {
                            let handshake = tokio::time::timeout(
                                HANDSHAKE_TIMEOUT,
                                switchboard_transport::accept(stream, &accept),
                            );
                            if let Ok(Ok(conn)) = handshake.await {
                                hub.stats.connections.fetch_add(1, Ordering::Relaxed);
                                serve(conn, hub, queue).await;
                            }
                        });
                    }
                    // Out of file descriptors and the like: back off a little.
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                },
            }
        }
        connections.shutdown().await;
    }
}

type Peers = Vec<(u32, Sender<Bytes>)>;

/// Who is connected, and in which role.
#[derive(Debug, Default)]
struct Hub {
    next_id: AtomicU32,
    conns: papaya::HashMap<u32, Sender<Bytes>>,
    callees: ArcSwap<Peers>,
    next_callee: AtomicUsize,
    subscribers: ArcSwap<Peers>,
    stats: Arc<RelayStats>,
}

/// Sends without waiting; a frame for a full queue is set aside for a waiting send.
fn push(tx: &Sender<Bytes>, frame: Bytes, blocked: &mut Vec<(Sender<Bytes>, Bytes)>) {
    match tx.try_send(frame) {
        Ok(()) | Err(TrySendError::Closed(_)) => {}
        Err(TrySendError::Full(frame)) => blocked.push((tx.clone(), frame)),
    }
}

async fn send_blocked(blocked: Vec<(Sender<Bytes>, Bytes)>) {
    for (tx, frame) in blocked {
        let _ = tx.send(frame).await;
    }
}

impl Hub {
    /// A requester's frame: to every subscriber, and tagged to one responder.
    async fn request(&self, from: u32, frame: Bytes) {
        let mut blocked = Vec::new();
        {
            let subscribers = self.subscribers.load();
            for (_, tx) in subscribers.iter() {
                push(tx, frame.clone(), &mut blocked);
            }
            let callees = self.callees.load();
            if !callees.is_empty() {
                let i = self.next_callee.fetch_add(1, Ordering::Relaxed) % callees.len();
                push(&callees[i].1, tag(from, &frame), &mut blocked);
            } else if subscribers.is_empty() {
                self.stats.unroutable.fetch_add(1, Ordering::Relaxed);
            }
        }
        send_blocked(blocked).await;
    }

    /// A responder's frame: untagged, to the requester it names.
    async fn respond(&self, frame: &Bytes) {
        let mut blocked = Vec::new();
        match untag(frame) {
            Some((to, inner)) => match self.conns.pin().get(&to) {
                Some(tx) => push(tx, inner, &mut blocked),
                None => {
                    self.stats.unroutable.fetch_add(1, Ordering::Relaxed);
                }
            },
            None => {
                self.stats.unroutable.fetch_add(1, Ordering::Relaxed);
            }
        }
        send_blocked(blocked).await;
    }
}

fn add(list: &ArcSwap<Peers>, id: u32, tx: &Sender<Bytes>) {
    list.rcu(|peers| {
        let mut peers = Peers::clone(peers);
        peers.push((id, tx.clone()));
        peers
    });
}

fn remove(list: &ArcSwap<Peers>, id: u32) {
    if list.load().iter().any(|(i, _)| *i == id) {
        list.rcu(|peers| {
            let mut peers = Peers::clone(peers);
            peers.retain(|(i, _)| *i != id);
            peers
        });
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    New,
    Requester,
    Callee,
    Subscriber,
}

/// Runs one connection to its end.
async fn serve(conn: Connection, hub: Arc<Hub>, queue: usize) {
    let Connection {
        mut reader, writer, ..
    } = conn;
    let id = hub.next_id.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = mpsc::channel(queue);
    hub.conns.pin().insert(id, tx.clone());
    let write = tokio::spawn(write_loop(writer, rx));
    let mut role = Role::New;
    while let Some(Ok(frame)) = reader.next().await {
        match role {
            Role::New if frame[..] == *ROLE_CALLEE => {
                role = Role::Callee;
                add(&hub.callees, id, &tx);
                let _ = tx.send(Bytes::from_static(ROLE_OK)).await;
            }
            Role::New if frame[..] == *ROLE_SUBSCRIBER => {
                role = Role::Subscriber;
                add(&hub.subscribers, id, &tx);
                let _ = tx.send(Bytes::from_static(ROLE_OK)).await;
            }
            Role::New | Role::Requester => {
                role = Role::Requester;
                hub.request(id, frame).await;
            }
            Role::Callee => hub.respond(&frame).await,
            Role::Subscriber => {}
        }
    }
    hub.conns.pin().remove(&id);
    remove(&hub.callees, id);
    remove(&hub.subscribers, id);
    drop(tx);
    // The writer ends once every sender is gone and the queue is drained.
    let _ = write.await;
}

/// Drains the queue in batches: everything available, one flush.
async fn write_loop(mut writer: FrameWriter, mut rx: mpsc::Receiver<Bytes>) {
    // Starts empty: `recv_many` reserves a small block on first use, so an idle connection
    // does not hold WRITE_BATCH slots.
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, WRITE_BATCH).await > 0 {
        if writer.send_batch(&mut batch).await.is_err() {
            return;
        }
    }
    let _ = writer.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip() {
        for id in [0, 1, 0xabc, 0xdead_beef, u32::MAX] {
            let tagged = tag(id, b"[48,1]");
            assert_eq!(tagged.len(), TAG_LEN + 6);
            assert!(tagged[..TAG_LEN].iter().all(u8::is_ascii_hexdigit));
            let (back, inner) = untag(&tagged).unwrap();
            assert_eq!(back, id);
            assert_eq!(&inner[..], b"[48,1]");
        }
        assert_eq!(untag(&Bytes::from_static(b"0000001")), None);
        assert_eq!(untag(&Bytes::from_static(b"0000000g[]")), None);
    }
}
