//! One load-generator connection, written directly on `switchboard-proto` and
//! `switchboard-transport`: frames are encoded into a local batch and written with one flush,
//! and everything already received is drained before the next write. No task per message.

use std::future::poll_fn;
use std::task::Poll;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use switchboard_proto::message::{Goodbye, Hello, Message, Register, Subscribe};
use switchboard_proto::options::{CloseDetails, HelloDetails, RegisterOptions, SubscribeOptions};
use switchboard_proto::{Format, Id, dict, encode};
use switchboard_relay::{ROLE_CALLEE, ROLE_OK, ROLE_SUBSCRIBER};
use switchboard_transport::{Endpoint, FrameReader, FrameWriter, connect};

/// The longest message the generator accepts.
const MAX_MESSAGE: usize = 16 * 1024 * 1024;
/// How long a handshake step (connect, HELLO, REGISTER, SUBSCRIBE) may take.
pub(crate) const STEP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long to wait for the router's GOODBYE answer.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(3);

/// Where and how to connect.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub endpoint: Endpoint,
    pub url: String,
    pub realm: String,
    pub format: Format,
    /// A bare relay rather than a WAMP router.
    pub relay: bool,
}

/// A connected (and, for WAMP, joined) session.
#[derive(Debug)]
pub(crate) struct Peer {
    pub format: Format,
    relay: bool,
    reader: FrameReader,
    writer: FrameWriter,
    out: Vec<Bytes>,
    next_request: Id,
}

impl Peer {
    /// Connects and, for a WAMP router, joins the realm.
    pub async fn open(target: &Target) -> anyhow::Result<Peer> {
        let conn = tokio::time::timeout(
            STEP_TIMEOUT,
            connect(&target.endpoint, target.format, MAX_MESSAGE),
        )
        .await
        .map_err(|_| anyhow!("connecting to {} timed out", target.url))?
        .with_context(|| format!("cannot connect to {}", target.url))?;
        let mut peer = Peer {
            format: conn.format,
            relay: target.relay,
            reader: conn.reader,
            writer: conn.writer,
            out: Vec::new(),
            next_request: Id::MIN,
        };
        if !target.relay {
            peer.join(&target.realm).await?;
        }
        Ok(peer)
    }

    async fn join(&mut self, realm: &str) -> anyhow::Result<Id> {
        let roles = dict! {
            "caller" => dict!{}, "callee" => dict!{},
            "publisher" => dict!{}, "subscriber" => dict!{},
        };
        self.send(&Message::Hello(Hello {
            realm: realm.to_owned(),
            details: HelloDetails::default()
                .with("roles", roles)
                .with("agent", "switchboard-bench"),
        }))
        .await?;
        self.expect("WELCOME", |m| match m {
            Message::Welcome(w) => Some(w.session),
            _ => None,
        })
        .await
    }

    /// Registers `procedure` (shared, round robin, when `shared`); relay: becomes a responder.
    pub async fn register(&mut self, procedure: &str, shared: bool) -> anyhow::Result<()> {
        if self.relay {
            return self.relay_role(ROLE_CALLEE).await;
        }
        let request = self.next_id();
        let mut options = RegisterOptions::default();
        if shared {
            options = options.with("invoke", "roundrobin");
        }
        self.send(&Message::Register(Register {
            request,
            options,
            procedure: procedure.to_owned(),
        }))
        .await?;
        self.expect("REGISTERED", |m| match m {
            Message::Registered(r) if r.request == request => Some(()),
            _ => None,
        })
        .await
    }

    /// Subscribes to `topic`; relay: becomes a subscriber.
    pub async fn subscribe(&mut self, topic: &str) -> anyhow::Result<()> {
        if self.relay {
            return self.relay_role(ROLE_SUBSCRIBER).await;
        }
        let request = self.next_id();
        self.send(&Message::Subscribe(Subscribe {
            request,
            options: SubscribeOptions::default(),
            topic: topic.to_owned(),
        }))
        .await?;
        self.expect("SUBSCRIBED", |m| match m {
            Message::Subscribed(s) if s.request == request => Some(()),
            _ => None,
        })
        .await
    }

    async fn relay_role(&mut self, role: &'static [u8]) -> anyhow::Result<()> {
        self.writer
            .send(Bytes::from_static(role))
            .await
            .context("relay: sending the role")?;
        let answer = tokio::time::timeout(STEP_TIMEOUT, self.reader.next())
            .await
            .map_err(|_| anyhow!("relay: no answer to the role frame"))?;
        match answer {
            Some(Ok(frame)) if frame[..] == *ROLE_OK => Ok(()),
            Some(Ok(frame)) => bail!(
                "relay: unexpected answer {:?}",
                String::from_utf8_lossy(&frame)
            ),
            Some(Err(e)) => Err(e).context("relay: connection failed"),
            None => bail!("relay: connection closed"),
        }
    }

    /// Whether the target is a bare relay.
    pub fn is_relay(&self) -> bool {
        self.relay
    }

    /// The next request id of this session.
    pub fn next_id(&mut self) -> Id {
        let id = self.next_request;
        self.next_request = id.next();
        id
    }

    /// Adds an encoded frame to the batch.
    pub fn queue_frame(&mut self, frame: Bytes) {
        self.out.push(frame);
    }

    /// Encodes a message into the batch.
    pub fn queue(&mut self, msg: &Message) -> anyhow::Result<()> {
        let frame = encode(msg, self.format).context("encoding a message")?;
        self.out.push(frame);
        Ok(())
    }

    /// Writes the batch with one flush.
    pub async fn flush(&mut self) -> anyhow::Result<()> {
        if !self.out.is_empty() {
            self.writer
                .send_batch(&mut self.out)
                .await
                .context("sending to the router")?;
        }
        Ok(())
    }

    async fn send(&mut self, msg: &Message) -> anyhow::Result<()> {
        self.queue(msg)?;
        self.flush().await
    }

    /// The next frame; `None` when the router closed the connection cleanly.
    pub async fn recv_frame(&mut self) -> anyhow::Result<Option<Bytes>> {
        self.reader
            .next()
            .await
            .transpose()
            .context("receiving from the router")
    }

    /// A frame that is already available, without waiting.
    pub async fn try_recv_frame(&mut self) -> anyhow::Result<Option<Bytes>> {
        let reader = &mut self.reader;
        let polled = poll_fn(|cx| {
            Poll::Ready(match reader.poll_next_message(cx) {
                Poll::Ready(item) => Some(item),
                Poll::Pending => None,
            })
        })
        .await;
        match polled {
            None | Some(None) => Ok(None),
            Some(Some(Ok(frame))) => Ok(Some(frame)),
            Some(Some(Err(e))) => Err(e).context("receiving from the router"),
        }
    }

    /// Reads until `pick` accepts a message (others are skipped); ABORT, GOODBYE, a closed
    /// connection or the step timeout are errors.
    async fn expect<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(Message) -> Option<T>,
    ) -> anyhow::Result<T> {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.reader.next())
                .await
                .map_err(|_| anyhow!("no {what} within {STEP_TIMEOUT:?}"))?;
            let frame = match frame {
                Some(Ok(frame)) => frame,
                Some(Err(e)) => return Err(e).context(format!("waiting for {what}")),
                None => bail!("the router closed the connection while we waited for {what}"),
            };
            let msg = switchboard_proto::decode(self.format, &frame)
                .with_context(|| format!("undecodable message while waiting for {what}"))?;
            match msg {
                Message::Abort(a) => {
                    bail!("router sent ABORT {} while we waited for {what}", a.reason)
                }
                Message::Goodbye(g) => {
                    bail!(
                        "router sent GOODBYE {} while we waited for {what}",
                        g.reason
                    )
                }
                Message::Error(e) => {
                    bail!("router answered with ERROR {} instead of {what}", e.error)
                }
                other => {
                    if let Some(v) = pick(other) {
                        return Ok(v);
                    }
                }
            }
        }
    }

    /// Leaves: GOODBYE and its answer (WAMP), then closes the connection. Best effort.
    pub async fn leave(mut self) {
        if !self.relay {
            let bye = Message::Goodbye(Goodbye {
                details: CloseDetails::default(),
                reason: "wamp.close.close_realm".to_owned(),
            });
            if self.queue(&bye).is_ok() && self.flush().await.is_ok() {
                let format = self.format;
                let _ = tokio::time::timeout(GOODBYE_TIMEOUT, async {
                    while let Some(Ok(frame)) = self.reader.next().await {
                        if matches!(
                            switchboard_proto::decode(format, &frame),
                            Ok(Message::Goodbye(_) | Message::Abort(_))
                        ) {
                            break;
                        }
                    }
                })
                .await;
            }
        }
        let _ = tokio::time::timeout(GOODBYE_TIMEOUT, self.writer.close()).await;
    }
}
