//! The Autobahn quick-start callee in Rust: registers `com.myapp.add2` and serves it until
//! Ctrl-C, reconnecting whenever the router goes away.
//!
//! ```text
//! switchboard start                                  # a router on ws://127.0.0.1:8080/ws
//! cargo run -p switchboard-client --example add2_callee
//! cargo run -p switchboard-client --example add2_caller
//! ```
//!
//! The router URL comes from `SWITCHBOARD_URL` (default `ws://127.0.0.1:8080/ws`; `rs://` and
//! `unix://` work too); the realm is `realm1`.

use switchboard_client::{ApplicationError, CallOutput, Component, ConnectOptions, Invocation};

async fn add2(inv: Invocation) -> Result<CallOutput, ApplicationError> {
    let (a, b): (i64, i64) = inv.args_as()?;
    let sum = a.checked_add(b).ok_or_else(|| {
        ApplicationError::new("com.myapp.error.overflow").with_arg("sum too large")
    })?;
    println!("add2({a}, {b}) = {sum}");
    Ok(CallOutput::value(sum))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("SWITCHBOARD_URL").unwrap_or_else(|_| "ws://127.0.0.1:8080/ws".into());
    let handle = Component::new(ConnectOptions::new(url, "realm1"))
        .register("com.myapp.add2", add2)
        .on_join(|session| async move {
            println!("session {} ready: com.myapp.add2 registered", session.id());
        })
        .on_leave(|info| println!("session ended: {}", info.reason))
        .on_connect_failure(|e| eprintln!("cannot connect ({e}); retrying"))
        .start();
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        r = handle.wait() => return Ok(r?),
    }
    Ok(())
}
