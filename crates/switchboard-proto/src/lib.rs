//! Sans-IO WAMP protocol core shared by the Switchboard router and client.
//!
//! No sockets, no clock, no async runtime: everything here is pure data in, data out.

pub mod auth;
pub mod codec;
pub mod id;
pub mod ids;
pub mod message;
pub mod names;
pub mod options;
pub mod payload;
pub mod rawsocket;
pub mod uri;
pub mod value;
pub mod wire;

pub use codec::{CodecError, Format};
pub use id::Id;
pub use message::Message;
pub use names::{CloseReason, ErrorUri, Feature, MessageType, Role};
pub use payload::Payload;
pub use value::{Dict, Value};
pub use wire::{DecodeError, decode, encode};
