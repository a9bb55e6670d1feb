//! A scripted router: a hand-written peer that accepts one connection and plays a script of
//! WAMP messages, checking what the client sends.

use switchboard_client::Dict;
use switchboard_proto::message::{Abort, Challenge, Goodbye, Hello, Message, Welcome};
use switchboard_proto::options::{CloseDetails, WelcomeDetails};
use switchboard_proto::{Id, Payload, decode, dict, encode};
use switchboard_transport::{AcceptConfig, Connection, accept};
use tokio::net::TcpListener;

use super::within;

/// One accepted connection, speaking WAMP messages.
pub struct Peer {
    pub conn: Connection,
}

impl Peer {
    pub async fn recv(&mut self) -> Option<Message> {
        let frame = within(self.conn.reader.next()).await?.ok()?;
        Some(decode(self.conn.format, &frame).unwrap())
    }

    pub async fn send(&mut self, msg: impl Into<Message>) {
        let frame = encode(&msg.into(), self.conn.format).unwrap();
        self.conn.writer.send(frame).await.unwrap();
    }

    /// The next message; fails the test if the connection ended.
    pub async fn next(&mut self) -> Message {
        self.recv().await.expect("the client closed the connection")
    }

    pub async fn hello(&mut self) -> Hello {
        match self.recv().await {
            Some(Message::Hello(h)) => h,
            other => panic!("expected HELLO, got {other:?}"),
        }
    }

    pub async fn authenticate(&mut self) -> (String, Dict) {
        match self.recv().await {
            Some(Message::Authenticate(a)) => (a.signature, a.extra),
            other => panic!("expected AUTHENTICATE, got {other:?}"),
        }
    }

    pub async fn challenge(&mut self, method: &str, extra: Dict) {
        self.send(Challenge {
            method: method.into(),
            extra,
        })
        .await;
    }

    pub async fn welcome(&mut self, authid: &str, authmethod: &str, authextra: Dict) {
        self.welcome_with_roles(
            authid,
            authmethod,
            authextra,
            dict! {"broker" => dict!{}, "dealer" => dict!{}},
        )
        .await;
    }

    /// WELCOME announcing `roles` (e.g. with features).
    pub async fn welcome_with_roles(
        &mut self,
        authid: &str,
        authmethod: &str,
        authextra: Dict,
        roles: Dict,
    ) {
        self.send(Welcome {
            session: Id::new(4242).unwrap(),
            details: WelcomeDetails::default()
                .with("roles", roles)
                .with("authid", authid)
                .with("authrole", "user")
                .with("authmethod", authmethod)
                .with("authprovider", "static")
                .with("authextra", authextra),
        })
        .await;
    }

    pub async fn abort(&mut self, reason: &str, message: &str) {
        self.send(Abort {
            details: CloseDetails::default().with("message", message),
            reason: reason.into(),
            payload: Payload::empty(),
        })
        .await;
    }

    /// Answers the client's GOODBYE (if it sends one) and waits for the connection to end.
    pub async fn serve_goodbye(&mut self) {
        while let Some(msg) = self.recv().await {
            if let Message::Goodbye(_) = msg {
                self.send(Goodbye {
                    details: CloseDetails::default(),
                    reason: "wamp.close.goodbye_and_out".into(),
                })
                .await;
            }
        }
    }
}

/// Starts a scripted router for one connection; returns its URL and the script's task.
pub async fn scripted<F, Fut>(script: F) -> (String, tokio::task::JoinHandle<()>)
where
    F: FnOnce(Peer) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let conn = accept(stream, &AcceptConfig::default()).await.unwrap();
        script(Peer { conn }).await;
    });
    (format!("rs://{addr}"), task)
}
