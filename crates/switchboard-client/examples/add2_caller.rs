//! The Autobahn quick-start caller in Rust: calls `com.myapp.add2(2, 3)` once, prints the
//! result and leaves. Start `add2_callee` first.
//!
//! ```text
//! cargo run -p switchboard-client --example add2_caller
//! ```
//!
//! The router URL comes from `SWITCHBOARD_URL` (default `ws://127.0.0.1:8080/ws`); the realm is
//! `realm1`.

use switchboard_client::{CallError, ConnectOptions, Session};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("SWITCHBOARD_URL").unwrap_or_else(|_| "ws://127.0.0.1:8080/ws".into());
    let session = Session::connect(ConnectOptions::new(url, "realm1")).await?;
    let result = session.call::<i64>("com.myapp.add2", (2, 3), ()).await;
    session.leave().await?;
    match result {
        Ok(sum) => {
            println!("com.myapp.add2(2, 3) = {sum}");
            Ok(())
        }
        Err(CallError::NoSuchProcedure { procedure }) => Err(format!(
            "{procedure} is not registered: start the add2_callee example first"
        )
        .into()),
        Err(e) => Err(e.into()),
    }
}
