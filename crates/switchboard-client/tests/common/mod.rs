//! A router on an OS-assigned port for client tests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod scripted;

use std::net::SocketAddr;
use std::time::Duration;

use switchboard_client::{ConnectOptions, Format, Session};
use switchboard_router::config::Config;
use switchboard_router::server::Server;
use tokio::sync::oneshot;

/// How long any single wait in a test may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// A router bound to 127.0.0.1; stopped by `stop` (or when dropped).
pub struct TestRouter {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestRouter {
    /// A router on a free port.
    pub async fn start() -> TestRouter {
        TestRouter::start_on(0).await
    }

    /// A router on `port` (0 for any), retrying briefly while a previous router's socket is
    /// released.
    pub async fn start_on(port: u16) -> TestRouter {
        let toml = format!(
            "[router]\nauto_realms = true\n[[listen]]\nbind = \"127.0.0.1:{port}\"\n[[realm]]\nname = \"realm1\"\n"
        );
        let config = Config::from_toml_str(&toml).unwrap();
        let mut attempts = 0;
        let server = loop {
            match Server::bind(&config).await {
                Ok(s) => break s,
                Err(e) if attempts < 100 => {
                    attempts += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot bind the test router: {e}"),
            }
        };
        let addr = server.local_addrs()[0];
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(server.run_until(async {
            let _ = rx.await;
        }));
        TestRouter {
            addr,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub fn rs_url(&self) -> String {
        format!("rs://{}", self.addr)
    }

    pub fn options(&self) -> ConnectOptions {
        ConnectOptions::new(self.ws_url(), "realm1")
    }

    pub async fn session(&self) -> Session {
        tokio::time::timeout(TIMEOUT, Session::connect(self.options()))
            .await
            .expect("connect timed out")
            .expect("connect failed")
    }

    pub async fn session_with(&self, url: &str, serializer: Format) -> Session {
        let options = ConnectOptions::new(url, "realm1").serializer(serializer);
        tokio::time::timeout(TIMEOUT, Session::connect(options))
            .await
            .expect("connect timed out")
            .expect("connect failed")
    }

    /// Stops the router (GOODBYE to every session) and waits until it has.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(TIMEOUT, task).await.unwrap().unwrap();
        }
    }
}

impl Drop for TestRouter {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Awaits `fut`, failing the test after [`TIMEOUT`].
pub async fn within<F: std::future::Future>(fut: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, fut)
        .await
        .expect("timed out waiting")
}

/// A router with `auto_realms = false` serving only `realm1`.
pub async fn strict_realms_router() -> TestRouter {
    TestRouter::start_toml(
        "[router]\nauto_realms = false\n[[listen]]\nbind = \"127.0.0.1:0\"\n[[realm]]\nname = \"realm1\"\n",
    )
    .await
}

impl TestRouter {
    /// A router from a whole TOML config.
    pub async fn start_toml(toml: &str) -> TestRouter {
        let config = Config::from_toml_str(toml).unwrap();
        let server = Server::bind(&config).await.unwrap();
        let addr = server.local_addrs()[0];
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(server.run_until(async {
            let _ = rx.await;
        }));
        TestRouter {
            addr,
            stop: Some(tx),
            task: Some(task),
        }
    }
}

/// A TCP port on 127.0.0.1 with nothing listening (bound, then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
