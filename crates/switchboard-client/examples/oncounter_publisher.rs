//! The Autobahn quick-start publisher in Rust: publishes an increasing counter to
//! `com.myapp.oncounter` once a second. With a number argument it publishes that many events
//! and leaves; without, it runs until Ctrl-C (reconnecting if the router goes away).
//!
//! ```text
//! cargo run -p switchboard-client --example oncounter_subscriber
//! cargo run -p switchboard-client --example oncounter_publisher -- 5
//! ```
//!
//! The router URL comes from `SWITCHBOARD_URL` (default `ws://127.0.0.1:8080/ws`); the realm is
//! `realm1`.

use std::time::Duration;

use switchboard_client::{Component, ConnectOptions, PublishOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("SWITCHBOARD_URL").unwrap_or_else(|_| "ws://127.0.0.1:8080/ws".into());
    let count: Option<u64> = std::env::args().nth(1).map(|n| n.parse()).transpose()?;
    let handle = Component::new(ConnectOptions::new(url, "realm1"))
        .on_join(move |session| async move {
            let mut counter = 0u64;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            while count.is_none_or(|c| counter < c) {
                tick.tick().await;
                // Acknowledged, so that an error (or a lost connection) shows here.
                match session
                    .publish(
                        "com.myapp.oncounter",
                        (counter,),
                        (),
                        PublishOptions::new().acknowledge(true),
                    )
                    .await
                {
                    Ok(_) => println!("published oncounter {counter}"),
                    Err(e) => {
                        eprintln!("publish failed: {e}");
                        return;
                    }
                }
                counter += 1;
            }
            let _ = session.leave().await;
        })
        .start();
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        r = handle.wait() => return Ok(r?),
    }
    Ok(())
}
