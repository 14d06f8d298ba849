//! Everything that touches secret material: redacted wrappers, the AEAD keyring
//! that seals credentials at rest, and API key generation and hashing.
//!
//! Kept apart from the domain so that the rules for secrets (never logged,
//! compared in constant time, bound to their row) live in one place.

mod api_key;
mod cipher;
mod secret;

pub use api_key::{ApiKey, ApiKeyHash};
pub use cipher::{Cipher, CipherError, KeyringError, Sealed};
pub use secret::SecretString;

/// 256 random bits, URL-safe base64 without padding: state tokens, API keys.
pub fn random_token() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Hex SHA-256, used to look up bearer secrets (API keys, OAuth state) without storing them.
pub fn sha256_hex(input: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(input);
    let mut out = String::with_capacity(64);
    for byte in digest {
        use std::fmt::Write;
        let _ = write!(out, "{byte:02x}");
    }
    out
}
