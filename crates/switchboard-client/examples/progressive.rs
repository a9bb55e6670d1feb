//! Progressive call results: registers `com.myapp.countdown`, which reports each step as a
//! progressive result before its final one, and calls it, printing results as they arrive.
//!
//! ```text
//! cargo run -p switchboard-client --example progressive -- 5
//! ```
//!
//! Progressive results need a router that announces `progressive_call_results` (Switchboard's
//! router does). Against a router that does not, the call still works but the stream yields
//! only the final result: the example says so and exits normally.
//!
//! The router URL comes from `SWITCHBOARD_URL` (default `ws://127.0.0.1:8080/ws`); the realm is
//! `realm1`.

use std::time::Duration;

use futures_util::StreamExt as _;
use switchboard_client::{
    ApplicationError, CallOptions, CallOutput, ConnectOptions, Feature, Invocation, Session,
};

async fn countdown(inv: Invocation) -> Result<CallOutput, ApplicationError> {
    let from: u32 = inv.arg(0)?;
    for n in (1..=from).rev() {
        if inv.wants_progress() {
            inv.progress((n,), ())
                .map_err(ApplicationError::runtime_error)?;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(CallOutput::value("liftoff"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("SWITCHBOARD_URL").unwrap_or_else(|_| "ws://127.0.0.1:8080/ws".into());
    let from: u32 = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(5);
    let options = ConnectOptions::new(url, "realm1");

    let callee = Session::connect(options.clone()).await?;
    callee.register("com.myapp.countdown", countdown).await?;

    let caller = Session::connect(options).await?;
    if !caller.details().dealer_has(Feature::ProgressiveCallResults) {
        println!(
            "note: the router does not announce progressive_call_results; only the final result will arrive"
        );
    }
    let mut results = caller.call_progressive(
        "com.myapp.countdown",
        (from,),
        (),
        CallOptions::new().timeout(Duration::from_secs(5)),
    );
    while let Some(result) = results.next().await {
        let result = result?;
        if result.is_progress() {
            println!("progress: {}", result.arg::<u32>(0)?);
        } else {
            println!("final: {}", result.decode::<String>()?);
        }
    }
    caller.leave().await?;
    callee.leave().await?;
    Ok(())
}
