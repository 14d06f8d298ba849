//! Authenticated encryption of secrets at rest.
//!
//! XChaCha20-Poly1305 is used because its 192-bit nonces can be drawn at
//! random for every message without a counter, which keeps several grantd
//! instances sharing a key safe. Every ciphertext is stored beside the id of
//! the key that sealed it, so keys can rotate: the first key of the ring
//! seals, all keys of the ring open. The caller passes the row's identity as
//! associated data, so a ciphertext copied into another row fails to open.

use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use std::collections::HashMap;
use std::fmt;
use std::path::Path;

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;

/// A sealed secret: the id of the key that sealed it and `nonce || ciphertext`.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Sealed(key_id={}, {} bytes)",
            self.key_id,
            self.bytes.len()
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    #[error("no encryption key with id {0:?} is configured")]
    UnknownKey(String),
    #[error("ciphertext failed authentication (wrong key, wrong row, or tampered)")]
    Authentication,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("encryption key {index}: {reason}")]
    BadKey { index: usize, reason: String },
    #[error("no encryption key given")]
    Empty,
    /// Two keys under one id: which of them opens a row would depend on
    /// the order of the spec, so the spec is refused rather than guessed at.
    #[error("encryption key {index}: key id {id:?} is used twice in the keyring")]
    DuplicateKeyId { index: usize, id: String },
    #[error("key file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// The keyring. Cloning is cheap enough (a handful of ciphers) and the
/// server keeps one in an `Arc` anyway.
#[derive(Clone)]
pub struct Cipher {
    active: String,
    keys: HashMap<String, XChaCha20Poly1305>,
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cipher")
            .field("active_key_id", &self.active)
            .field("key_count", &self.keys.len())
            .finish()
    }
}

impl Cipher {
    /// Parses a keyring spec: keys separated by commas or newlines, each
    /// `base64` or `keyid:base64` (32 bytes). The first key seals.
    /// Without an explicit id, the id is a fingerprint of the key.
    pub fn from_spec(spec: &str) -> Result<Self, KeyringError> {
        let mut active = None;
        let mut keys = HashMap::new();
        let entries = spec
            .split([',', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty() && !e.starts_with('#'));
        for (index, entry) in entries.enumerate() {
            let bad = |reason: &str| KeyringError::BadKey {
                index,
                reason: reason.to_owned(),
            };
            let (id, encoded) = match entry.split_once(':') {
                Some((id, key)) => (Some(id.trim().to_owned()), key.trim()),
                None => (None, entry),
            };
            let raw = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(encoded))
                .map_err(|_| bad("not valid base64"))?;
            if raw.len() != KEY_LEN {
                return Err(bad("must decode to exactly 32 bytes"));
            }
            let id = match id {
                Some(id) if !id.is_empty() => id,
                _ => fingerprint(&raw),
            };
            if keys.contains_key(&id) {
                return Err(KeyringError::DuplicateKeyId { index, id });
            }
            let cipher = XChaCha20Poly1305::new_from_slice(&raw).map_err(|_| bad("bad length"))?;
            active.get_or_insert_with(|| id.clone());
            keys.insert(id, cipher);
        }
        let active = active.ok_or(KeyringError::Empty)?;
        Ok(Self { active, keys })
    }

    /// Loads a key file (a keyring spec).
    pub fn load_key_file(path: &Path) -> Result<Self, KeyringError> {
        let spec = std::fs::read_to_string(path).map_err(|source| KeyringError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_spec(&spec)
    }

    /// Creates a key file (mode 0600) holding a fresh random key and loads
    /// it. If another process created the file first, its key is loaded.
    pub fn create_key_file(path: &Path) -> Result<Self, KeyringError> {
        let line = format!("{}\n", Self::generate_spec());
        match write_private_file(path, line.as_bytes()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(KeyringError::Io {
                    path: path.display().to_string(),
                    source,
                })
            }
        }
        Self::load_key_file(path)
    }

    /// Generates a new key spec line (`keyid:base64`), for `grantd keygen`.
    pub fn generate_spec() -> String {
        let mut raw = [0u8; KEY_LEN];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
        format!(
            "{}:{}",
            fingerprint(&raw),
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    pub fn active_key_id(&self) -> &str {
        &self.active
    }

    /// Whether the keyring holds a key with this id (can open what it sealed).
    pub fn has_key(&self, key_id: &str) -> bool {
        self.keys.contains_key(key_id)
    }

    /// Seals `plaintext`, binding it to `associated_data` (the row's identity).
    pub fn seal(&self, plaintext: &[u8], associated_data: &str) -> Sealed {
        let cipher = &self.keys[&self.active];
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: associated_data.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
        let mut bytes = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&ciphertext);
        Sealed {
            key_id: self.active.clone(),
            bytes,
        }
    }

    /// Opens a sealed secret with the key it names, checking the associated data.
    pub fn open(&self, sealed: &Sealed, associated_data: &str) -> Result<Vec<u8>, CipherError> {
        let cipher = self
            .keys
            .get(&sealed.key_id)
            .ok_or_else(|| CipherError::UnknownKey(sealed.key_id.clone()))?;
        if sealed.bytes.len() < NONCE_LEN {
            return Err(CipherError::Authentication);
        }
        let (nonce, ciphertext) = sealed.bytes.split_at(NONCE_LEN);
        cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: associated_data.as_bytes(),
                },
            )
            .map_err(|_| CipherError::Authentication)
    }
}

impl Cipher {
    /// Opens `sealed` with the key it names and seals the plaintext again
    /// under the active key, with the same associated data: key rotation
    /// moves a ciphertext to the new key without knowing what it holds.
    pub fn reseal(&self, sealed: &Sealed, associated_data: &str) -> Result<Sealed, CipherError> {
        let plaintext = zeroize::Zeroizing::new(self.open(sealed, associated_data)?);
        Ok(self.seal(&plaintext, associated_data))
    }
}

/// Short public id of a key: the first 8 bytes of SHA-256 over it, in hex.
fn fingerprint(raw: &[u8]) -> String {
    super::sha256_hex(raw)[..16].to_owned()
}

fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(spec: &str) -> Cipher {
        Cipher::from_spec(spec).unwrap()
    }

    #[test]
    fn sealed_secret_opens_only_with_the_same_associated_data() {
        let cipher = ring(&Cipher::generate_spec());
        let sealed = cipher.seal(b"token", "connection:1:credentials");
        assert_eq!(
            cipher.open(&sealed, "connection:1:credentials").unwrap(),
            b"token"
        );
        assert!(matches!(
            cipher.open(&sealed, "connection:2:credentials"),
            Err(CipherError::Authentication)
        ));
    }

    #[test]
    fn rotated_keyring_still_opens_old_ciphertexts_and_seals_with_the_new_key() {
        let old = Cipher::generate_spec();
        let new = Cipher::generate_spec();
        let sealed_old = ring(&old).seal(b"a", "x");
        let rotated = ring(&format!("{new},{old}"));
        assert_eq!(rotated.open(&sealed_old, "x").unwrap(), b"a");
        assert_ne!(rotated.seal(b"b", "x").key_id, sealed_old.key_id);
    }

    #[test]
    fn malformed_keys_are_rejected() {
        assert!(Cipher::from_spec("").is_err());
        assert!(Cipher::from_spec("not base64!").is_err());
        assert!(Cipher::from_spec("c2hvcnQ=").is_err());
    }

    #[test]
    fn a_keyring_naming_one_key_id_twice_is_rejected() {
        let first = Cipher::generate_spec();
        let (id, _) = first.split_once(':').unwrap();
        let (_, other_key) = Cipher::generate_spec()
            .split_once(':')
            .map(|(i, k)| (i.to_owned(), k.to_owned()))
            .unwrap();
        let same_id = format!("{first},{id}:{other_key}");
        assert!(matches!(
            Cipher::from_spec(&same_id),
            Err(KeyringError::DuplicateKeyId { index: 1, id: dup }) if dup == id
        ));
        // The same key twice without ids gets the same fingerprint id.
        let (_, key) = first.split_once(':').unwrap();
        assert!(matches!(
            Cipher::from_spec(&format!("{key}\n{key}")),
            Err(KeyringError::DuplicateKeyId { index: 1, .. })
        ));
    }

    #[test]
    fn a_ciphertext_shorter_than_a_nonce_is_refused_without_panicking() {
        let cipher = ring(&Cipher::generate_spec());
        for len in [0, 1, NONCE_LEN - 1, NONCE_LEN] {
            let sealed = Sealed {
                key_id: cipher.active_key_id().to_owned(),
                bytes: vec![7; len],
            };
            assert!(
                matches!(cipher.open(&sealed, "x"), Err(CipherError::Authentication)),
                "{len} bytes"
            );
        }
    }

    #[test]
    fn key_ids_are_the_given_ones_or_fingerprints_and_comments_are_skipped() {
        let spec = Cipher::generate_spec();
        let (_, encoded) = spec.split_once(':').unwrap();
        let named = ring(&format!("# rotated 2026-11\nprimary:{encoded}"));
        assert_eq!(named.active_key_id(), "primary");
        // An empty id stands for none: the key's fingerprint names it.
        let unnamed = ring(&format!(":{encoded}"));
        assert_eq!(unnamed.active_key_id(), spec.split_once(':').unwrap().0);
        assert_eq!(ring(encoded).active_key_id(), unnamed.active_key_id());
        assert_eq!(unnamed.seal(b"a", "x").key_id, unnamed.active_key_id());
        assert!(Cipher::from_spec("# only a comment").is_err());
    }

    #[test]
    fn debug_output_names_the_key_but_shows_no_key_material() {
        let spec = Cipher::generate_spec();
        let cipher = ring(&spec);
        let debug = format!("{cipher:?}");
        assert!(debug.contains(cipher.active_key_id()), "{debug}");
        assert!(!debug.contains(spec.split_once(':').unwrap().1), "{debug}");
        let sealed = cipher.seal(b"token", "x");
        let debug = format!("{sealed:?}");
        assert!(debug.contains(&sealed.key_id), "{debug}");
        assert!(
            debug.contains(&format!("{} bytes", sealed.bytes.len())),
            "{debug}"
        );
    }

    #[test]
    fn creating_a_key_file_another_process_created_first_loads_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("encryption.key");
        let first = Cipher::create_key_file(&path).unwrap();
        let second = Cipher::create_key_file(&path).unwrap();
        assert_eq!(second.active_key_id(), first.active_key_id());
        // Any other failure is reported, not taken for a race.
        let missing = dir.path().join("no-such-dir").join("encryption.key");
        assert!(matches!(
            Cipher::create_key_file(&missing),
            Err(KeyringError::Io { .. })
        ));
    }

    #[test]
    fn resealing_moves_a_ciphertext_to_the_active_key_and_keeps_it_bound_to_its_row() {
        let old = Cipher::generate_spec();
        let new = Cipher::generate_spec();
        let sealed = ring(&old).seal(b"token", "row:1");
        let rotated = ring(&format!("{new},{old}"));
        let resealed = rotated.reseal(&sealed, "row:1").unwrap();
        assert_eq!(resealed.key_id, rotated.active_key_id());
        assert_eq!(ring(&new).open(&resealed, "row:1").unwrap(), b"token");
        assert!(ring(&new).open(&resealed, "row:2").is_err());
        assert!(matches!(
            rotated.reseal(&sealed, "row:2"),
            Err(CipherError::Authentication)
        ));
    }

    #[test]
    fn tampered_ciphertext_fails() {
        let cipher = ring(&Cipher::generate_spec());
        let mut sealed = cipher.seal(b"token", "x");
        let last = sealed.bytes.len() - 1;
        sealed.bytes[last] ^= 1;
        assert!(cipher.open(&sealed, "x").is_err());
    }
}
