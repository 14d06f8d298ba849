use super::{random_token, sha256_hex, SecretString};

/// Prefix that makes grantd keys recognisable to secret scanners and humans.
const PREFIX: &str = "gdk_";

/// A freshly minted API key. Only its hash is stored; the clear key is shown once.
#[derive(Debug)]
pub struct ApiKey {
    pub key: SecretString,
    pub hash: ApiKeyHash,
    /// The first characters, stored so users can tell their keys apart.
    pub display_prefix: String,
}

impl ApiKey {
    pub fn generate() -> Self {
        let key = format!("{PREFIX}{}", random_token());
        let display_prefix = key[..PREFIX.len() + 6].to_owned();
        Self {
            hash: ApiKeyHash::of(&key),
            key: SecretString::new(key),
            display_prefix,
        }
    }
}

/// SHA-256 of an API key. The keys carry 256 random bits, so a fast hash is
/// enough (no password stretching needed), and lookups go through an index on
/// the hash rather than comparing secrets, which leaks no timing about the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyHash(pub String);

impl ApiKeyHash {
    pub fn of(key: &str) -> Self {
        Self(sha256_hex(key.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_unique_and_hash_stably() {
        let a = ApiKey::generate();
        let b = ApiKey::generate();
        assert_ne!(a.key.expose(), b.key.expose());
        assert_eq!(a.hash, ApiKeyHash::of(a.key.expose()));
        assert!(a.key.expose().starts_with(PREFIX));
        assert!(a.key.expose().starts_with(&a.display_prefix));
        assert_eq!(a.display_prefix.len(), PREFIX.len() + 6);
    }
}
