//! Sans-IO WAMP protocol core shared by the Switchboard router and client.
//!
//! No sockets, no clock, no async runtime: everything here is pure data in, data out.

pub mod id;

pub use id::Id;
