pub mod config;
pub mod embedded;
pub mod server;
