pub mod config;
pub mod embedded;
pub mod security;
pub mod server;
