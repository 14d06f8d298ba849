use serde::{Deserialize, Serialize};
use std::fmt;
use zeroize::Zeroize;

/// A string that must never reach a log line: `Debug` and `Display` print a
/// placeholder, and the memory is wiped on drop. Reading it takes an explicit
/// `expose()`, which makes every use of the clear text easy to find.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The clear text. Call sites are where secrets leave the process.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_contains_the_secret() {
        let secret = SecretString::new("hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert!(!format!("{:?}", Some(&secret)).contains("hunter2"));
        // It says what is hidden rather than printing nothing at all.
        assert_eq!(format!("{secret:?}"), "SecretString(<redacted>)");
    }

    #[test]
    fn a_secret_made_from_a_string_holds_that_string() {
        let secret = SecretString::from("hunter2".to_owned());
        assert_eq!(secret.expose(), "hunter2");
        assert!(!secret.is_empty());
        assert!(SecretString::default().is_empty());
    }
}
