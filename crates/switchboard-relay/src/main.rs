//! `switchboard-relay`: the bare relay baseline (see the library docs).
//!
//! ```text
//! switchboard-relay [--bind 127.0.0.1:8090] [--path /ws] [--queue 4096]
//! ```

use std::io::Write;
use std::net::SocketAddr;

use anyhow::Context;
use clap::Parser;
use switchboard_relay::{Relay, RelayConfig};

/// A bare frame relay on Switchboard's transport stack, with no WAMP logic: the reference
/// `switchboard bench --relay` measures the router against.
#[derive(Debug, Parser)]
#[command(name = "switchboard-relay", version)]
struct Args {
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8090")]
    bind: SocketAddr,
    /// HTTP path of the WebSocket endpoint.
    #[arg(long, default_value = "/ws")]
    path: String,
    /// Outbound queue length per connection, in frames.
    #[arg(long, default_value_t = 4096)]
    queue: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let relay = Relay::bind(
        args.bind,
        RelayConfig {
            ws_path: args.path.clone(),
            queue_messages: args.queue,
            ..RelayConfig::default()
        },
    )
    .await
    .with_context(|| format!("cannot listen on {}", args.bind))?;
    let addr = relay.local_addr();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "switchboard-relay\n  WebSocket  ws://{addr}{}\n  RawSocket  rs://{addr}",
        args.path
    )
    .and_then(|()| out.flush())
    .context("cannot write to standard output")?;
    drop(out);
    relay.run_until(shutdown_signal()).await;
    Ok(())
}

/// Waits for SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
