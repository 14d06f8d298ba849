//! Connections: reading, listing and deleting them (`records`), creating one
//! from supplied credentials (`generate`, with `credentials` parsing what the
//! caller supplies), parsing what a caller says a connection is for
//! (`target`), which the OAuth flows share, and changing one in place
//! (`update`).

pub mod credentials;
pub mod generate;
pub mod records;
pub mod target;
pub mod update;
