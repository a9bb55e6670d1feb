//! An in-memory harness: clients are `Session`s with memory outboxes, stepped by hand.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use switchboard_engine::{EngineConfig, Flow, KillReason, Outbox, Overflow, Router, Session};
use switchboard_proto::message::*;
use switchboard_proto::options::*;
use switchboard_proto::{Dict, Format, Id, Message, Payload, Value, decode, dict, encode};

/// A bounded in-memory outbox.
#[derive(Debug)]
pub struct MemOutbox {
    pub frames: Mutex<VecDeque<Bytes>>,
    pub capacity: usize,
    pub closed: Mutex<bool>,
    pub killed: Mutex<Option<KillReason>>,
}

impl MemOutbox {
    pub fn new(capacity: usize) -> Arc<MemOutbox> {
        Arc::new(MemOutbox {
            frames: Mutex::new(VecDeque::new()),
            capacity,
            closed: Mutex::new(false),
            killed: Mutex::new(None),
        })
    }
}

impl Outbox for MemOutbox {
    fn push(&self, frame: Bytes) -> Result<(), Overflow> {
        let mut q = self.frames.lock();
        if q.len() >= self.capacity {
            return Err(Overflow);
        }
        q.push_back(frame);
        Ok(())
    }
    fn close(&self) {
        *self.closed.lock() = true;
    }
    fn kill(&self, reason: KillReason) {
        *self.killed.lock() = Some(reason);
    }
}

/// A scripted client.
pub struct Client {
    pub session: Session,
    pub outbox: Arc<MemOutbox>,
    pub format: Format,
    next_request: u64,
    pub last_flow: Flow,
}

pub fn id(n: u64) -> Id {
    Id::new(n).unwrap()
}

/// HELLO roles announcing every client role, with the given callee features.
pub fn roles(callee_features: &[&str]) -> Dict {
    let features: Dict = callee_features
        .iter()
        .map(|f| (f.to_string(), Value::Bool(true)))
        .collect();
    dict! {
        "caller" => Dict::new(),
        "callee" => dict! { "features" => features },
        "publisher" => Dict::new(),
        "subscriber" => Dict::new(),
    }
}

impl Client {
    pub fn connect(router: &Arc<Router>, format: Format) -> Client {
        Client::with_capacity(router, format, 10_000)
    }

    pub fn with_capacity(router: &Arc<Router>, format: Format, capacity: usize) -> Client {
        let outbox = MemOutbox::new(capacity);
        let session = router.connect(outbox.clone(), format, 16 << 20);
        Client {
            session,
            outbox,
            format,
            next_request: 1,
            last_flow: Flow::Continue,
        }
    }

    /// Connects and joins `realm`; returns the client.
    pub fn joined(router: &Arc<Router>, format: Format, realm: &str) -> Client {
        Client::joined_with(router, format, realm, roles(&[]))
    }

    pub fn joined_with(router: &Arc<Router>, format: Format, realm: &str, roles: Dict) -> Client {
        let mut c = Client::connect(router, format);
        c.send(Hello {
            realm: realm.into(),
            details: HelloDetails::default().with("roles", roles),
        });
        match c.recv() {
            Some(Message::Welcome(_)) => c,
            other => panic!("expected WELCOME, got {other:?}"),
        }
    }

    pub fn session_id(&self) -> Id {
        self.session.id().unwrap()
    }

    /// Sends a message through the wire encoding (as a real peer would).
    pub fn send(&mut self, msg: impl Into<Message>) {
        let frame = encode(&msg.into(), self.format).unwrap();
        self.last_flow = self.session.handle_frame(&frame);
    }

    pub fn send_raw(&mut self, frame: &[u8]) {
        self.last_flow = self.session.handle_frame(&Bytes::copy_from_slice(frame));
    }

    pub fn request(&mut self) -> Id {
        let r = id(self.next_request);
        self.next_request += 1;
        r
    }

    pub fn recv_frame(&mut self) -> Option<Bytes> {
        self.outbox.frames.lock().pop_front()
    }

    pub fn recv(&mut self) -> Option<Message> {
        self.recv_frame().map(|f| decode(self.format, &f).unwrap())
    }

    pub fn recv_all(&mut self) -> Vec<Message> {
        std::iter::from_fn(|| self.recv()).collect()
    }

    pub fn expect_nothing(&mut self) {
        let left = self.recv_all();
        assert!(left.is_empty(), "unexpected messages: {left:?}");
    }

    pub fn subscribe(&mut self, topic: &str) -> Id {
        self.subscribe_with(topic, SubscribeOptions::default())
    }

    pub fn subscribe_with(&mut self, topic: &str, options: SubscribeOptions) -> Id {
        let request = self.request();
        self.send(Subscribe {
            request,
            options,
            topic: topic.into(),
        });
        match self.recv() {
            Some(Message::Subscribed(s)) if s.request == request => s.subscription,
            other => panic!("expected SUBSCRIBED, got {other:?}"),
        }
    }

    pub fn publish(&mut self, topic: &str, options: PublishOptions, payload: Payload) -> Id {
        let request = self.request();
        self.send(Publish {
            request,
            options,
            topic: topic.into(),
            payload,
        });
        request
    }

    pub fn register(&mut self, procedure: &str) -> Id {
        self.register_with(procedure, RegisterOptions::default())
    }

    pub fn register_with(&mut self, procedure: &str, options: RegisterOptions) -> Id {
        let request = self.request();
        self.send(Register {
            request,
            options,
            procedure: procedure.into(),
        });
        match self.recv() {
            Some(Message::Registered(r)) if r.request == request => r.registration,
            other => panic!("expected REGISTERED, got {other:?}"),
        }
    }

    pub fn call(&mut self, procedure: &str, payload: Payload) -> Id {
        let request = self.request();
        self.send(Call {
            request,
            options: CallOptions::default(),
            procedure: procedure.into(),
            payload,
        });
        request
    }

    pub fn expect_invocation(&mut self) -> Invocation {
        match self.recv() {
            Some(Message::Invocation(i)) => i,
            other => panic!("expected INVOCATION, got {other:?}"),
        }
    }

    pub fn expect_error(&mut self, request_type: u64, uri: &str) -> ErrorMessage {
        match self.recv() {
            Some(Message::Error(e)) if e.request_type.code() == request_type && e.error == uri => e,
            other => panic!("expected ERROR({request_type}) {uri}, got {other:?}"),
        }
    }

    pub fn expect_abort(&mut self, reason: &str) {
        match self.recv() {
            Some(Message::Abort(a)) if a.reason == reason => {}
            other => panic!("expected ABORT {reason}, got {other:?}"),
        }
        assert_eq!(self.last_flow, Flow::Close, "an ABORT ends the session");
        assert!(*self.outbox.closed.lock(), "an ABORT closes the transport");
    }
}

pub fn router() -> Arc<Router> {
    Router::new(EngineConfig::default())
}

pub fn args(values: Vec<Value>) -> Payload {
    Payload::args(values)
}
