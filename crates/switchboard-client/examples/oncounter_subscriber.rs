//! The Autobahn quick-start subscriber in Rust: prints every event published to
//! `com.myapp.oncounter`. With a number argument it leaves after that many events; without,
//! it runs until Ctrl-C.
//!
//! ```text
//! cargo run -p switchboard-client --example oncounter_subscriber -- 5
//! cargo run -p switchboard-client --example oncounter_publisher -- 5
//! ```
//!
//! The router URL comes from `SWITCHBOARD_URL` (default `ws://127.0.0.1:8080/ws`); the realm is
//! `realm1`.

use futures_util::StreamExt as _;
use switchboard_client::{ConnectOptions, Session, SubscribeOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("SWITCHBOARD_URL").unwrap_or_else(|_| "ws://127.0.0.1:8080/ws".into());
    let count: Option<u64> = std::env::args().nth(1).map(|n| n.parse()).transpose()?;
    let session = Session::connect(ConnectOptions::new(url, "realm1")).await?;
    let mut events = session
        .subscribe_stream("com.myapp.oncounter", SubscribeOptions::new())
        .await?;
    println!("subscribed to com.myapp.oncounter");
    let mut received = 0;
    while count.is_none_or(|c| received < c) {
        let event = tokio::select! {
            event = events.next() => event,
            r = tokio::signal::ctrl_c() => { r?; None }
        };
        let Some(event) = event else { break };
        match event.decode::<i64>() {
            Ok(counter) => println!("event for oncounter received: {counter}"),
            Err(e) => println!("event with an unexpected payload ({e}): {:?}", event.args),
        }
        received += 1;
    }
    drop(events);
    session.leave().await?;
    Ok(())
}
