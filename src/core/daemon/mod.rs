pub mod client;
pub mod conn;
pub mod ident;
pub mod lease;
pub mod namespace;
