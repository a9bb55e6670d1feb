//! Sans-IO WAMP router logic. No sockets, no tokio, time injected by the caller.

pub mod matching;
