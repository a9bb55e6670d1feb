//! A server-to-client call: a procedure served inside the router calls back a procedure that
//! a client registered for its own session.
//!
//! This example embeds the router (on 127.0.0.1, an OS-assigned port) so it runs by itself:
//!
//! ```sh
//! cargo run -p switchboard-client --example server_to_client
//! ```

use std::error::Error;

use switchboard_client::{
    ApplicationError, CallOptions, CallOutput, ConnectOptions, Invocation, Session,
};
use switchboard_router::config::Config;
use switchboard_router::server::Server;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut config = Config::dev_default();
    config.override_listen(None, Some(0));
    let server = Server::bind(&config).await?;
    let url = format!("ws://{}/ws", server.local_addrs()[0]);
    let handle = server.handle();
    let router = tokio::spawn(server.run_until(std::future::pending()));

    // Inside the router: `com.example.greet_me` asks the caller for its name.
    let inside = handle.session("realm1").await?;
    let back = inside.clone();
    inside
        .register("com.example.greet_me", move |inv: Invocation| {
            let back = back.clone();
            async move {
                let caller = inv
                    .caller()
                    .ok_or_else(|| ApplicationError::invalid_argument("call with disclose_me"))?;
                let name: String = back
                    .call(&format!("com.example.client.{caller}.name"), (), ())
                    .await
                    .map_err(ApplicationError::runtime_error)?;
                Ok(CallOutput::value(format!(
                    "Hello, {name}! (said the router)"
                )))
            }
        })
        .await?;

    // A client: registers a procedure for its own session, then calls the router's.
    let client = Session::connect(ConnectOptions {
        url,
        realm: "realm1".into(),
        ..ConnectOptions::default()
    })
    .await?;
    client
        .register(
            &format!("com.example.client.{}.name", client.id()),
            |_inv: Invocation| async { Ok(CallOutput::value("Ada")) },
        )
        .await?;
    let greeting = client
        .call_with(
            "com.example.greet_me",
            (),
            (),
            CallOptions::new().disclose_me(true),
        )
        .await?;
    println!("{}", greeting.decode::<String>()?);

    client.leave().await?;
    router.abort();
    Ok(())
}
