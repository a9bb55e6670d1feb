//! The blocking API (no async code): registers `com.myapp.add2` and subscribes to
//! `com.myapp.oncounter` before `run()`, then calls and publishes from plain threads, and
//! shows the typed errors.
//!
//! ```text
//! cargo run -p switchboard-client --example blocking
//! ```
//!
//! The router URL comes from `SWITCHBOARD_URL` (default `ws://127.0.0.1:8080/ws`); the realm is
//! `realm1`.

use std::sync::mpsc;
use std::time::Duration;

use switchboard_client::blocking::{Client, Error};
use switchboard_client::{ApplicationError, CallOutput, ConnectOptions, PublishOptions};

fn main() -> Result<(), Error> {
    let url = std::env::var("SWITCHBOARD_URL").unwrap_or_else(|_| "ws://127.0.0.1:8080/ws".into());
    let client = Client::new(ConnectOptions::new(url.clone(), "realm1"))?;

    // Declared before run(): made on every (re)connection.
    client.register("com.myapp.add2", |inv| {
        let (a, b): (i64, i64) = inv.args_as()?;
        a.checked_add(b)
            .map(CallOutput::value)
            .ok_or_else(|| ApplicationError::new("com.myapp.error.overflow"))
    })?;
    let (tx, rx) = mpsc::channel();
    client.subscribe("com.myapp.oncounter", move |event| {
        if let Ok(n) = event.decode::<i64>() {
            let _ = tx.send(n);
        }
    })?;
    client.run()?;
    println!("joined; com.myapp.add2 registered, subscribed to com.myapp.oncounter");

    // Calls from several plain threads.
    let workers: Vec<_> = (0..3)
        .map(|t| {
            let client = client.clone();
            std::thread::spawn(move || client.call::<i64>("com.myapp.add2", (t, 10), ()))
        })
        .collect();
    for (t, worker) in workers.into_iter().enumerate() {
        let sum = worker
            .join()
            .map_err(|_| Error::Protocol("worker panicked".into()))??;
        println!("thread {t}: com.myapp.add2({t}, 10) = {sum}");
    }

    // Publish from a second client (a publisher does not receive its own events), acknowledged
    // so that the router has routed it when this returns.
    let publisher = Client::new(ConnectOptions::new(url, "realm1"))?;
    publisher.run()?;
    publisher.publish_with(
        "com.myapp.oncounter",
        (42,),
        (),
        PublishOptions::new().acknowledge(true),
    )?;
    publisher.stop()?;
    match rx.recv_timeout(Duration::from_secs(5)) {
        Ok(n) => println!("received oncounter {n}"),
        Err(_) => println!("no event within 5 s"),
    }

    // Typed errors.
    match client.call::<i64>("com.myapp.add2", (i64::MAX, 1), ()) {
        Err(Error::Application(e)) => println!("application error, as expected: {e}"),
        other => println!("unexpected: {other:?}"),
    }
    match client.call::<i64>("com.myapp.nobody", (), ()) {
        Err(Error::NoSuchProcedure(p)) => println!("no such procedure, as expected: {p}"),
        other => println!("unexpected: {other:?}"),
    }
    match client.call::<i64>("not a uri", (), ()) {
        Err(Error::InvalidUri(e)) => println!("invalid URI, as expected: {e}"),
        other => println!("unexpected: {other:?}"),
    }

    client.stop()?;
    Ok(())
}
