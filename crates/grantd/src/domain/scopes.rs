//! What a caller may do: the scopes of API keys and bearer JWTs.
//!
//! A credential holds a set of scopes; some scopes include others
//! (`credentials:read` includes `credentials:access-token`, and every scope
//! includes `connections:read`), so checks run on the expanded set. Nothing
//! here knows about HTTP: the HTTP layer asks [`Scopes::require`] and maps
//! [`crate::domain::DomainError::MissingScope`] to a 403 that names the scope.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A scope the caller lacks; the error layer turns it into a 403 naming it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingScope(pub Scope);

/// One permission a credential may hold.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
pub enum Scope {
    /// Read everything but secrets: the project, connections, groups,
    /// consumers, provider apps, webhooks, deliveries, events, sessions.
    #[serde(rename = "connections:read")]
    #[value(name = "connections:read")]
    ConnectionsRead,
    /// Connections with the credential a request to the provider carries
    /// (OAuth access token, API key, basic auth), never the material that
    /// mints new tokens (refresh tokens, client secrets, grant passwords).
    #[serde(rename = "credentials:access-token")]
    #[value(name = "credentials:access-token")]
    CredentialsAccessToken,
    /// Connections with every secret they hold.
    #[serde(rename = "credentials:read")]
    #[value(name = "credentials:read")]
    CredentialsRead,
    /// Create, change and delete connections, provider apps, webhooks,
    /// allowed origins and connect sessions. Writes secrets, reads none.
    #[serde(rename = "manage")]
    #[value(name = "manage")]
    Manage,
    /// List, create and revoke the project's API keys (never a key with a
    /// scope its creator lacks).
    #[serde(rename = "api-keys:manage")]
    #[value(name = "api-keys:manage")]
    ApiKeysManage,
    /// Read the project's audit trail: who read which credentials and who
    /// changed connections, apps, origins and keys, from where.
    #[serde(rename = "audit:read")]
    #[value(name = "audit:read")]
    AuditRead,
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Scope::ConnectionsRead,
        Scope::CredentialsAccessToken,
        Scope::CredentialsRead,
        Scope::Manage,
        Scope::ApiKeysManage,
        Scope::AuditRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ConnectionsRead => "connections:read",
            Scope::CredentialsAccessToken => "credentials:access-token",
            Scope::CredentialsRead => "credentials:read",
            Scope::Manage => "manage",
            Scope::ApiKeysManage => "api-keys:manage",
            Scope::AuditRead => "audit:read",
        }
    }

    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == name)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// The scopes this one includes, itself among them.
    fn expanded(self) -> u8 {
        let read = Scope::ConnectionsRead.bit();
        match self {
            Scope::ConnectionsRead => read,
            Scope::CredentialsAccessToken => self.bit() | read,
            Scope::CredentialsRead => self.bit() | Scope::CredentialsAccessToken.bit() | read,
            Scope::Manage | Scope::ApiKeysManage | Scope::AuditRead => self.bit() | read,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much of a connection's credentials a caller may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CredentialAccess {
    None,
    /// What a request to the provider carries; no refresh token, client
    /// secret or resource-owner password.
    AccessToken,
    All,
}

/// A set of scopes as granted (not expanded); checks expand it.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes(u8);

impl Scopes {
    pub fn all() -> Self {
        Self::from_iter(Scope::ALL)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Every scope this set grants, including the implied ones, as bits.
    fn effective(self) -> u8 {
        Scope::ALL
            .into_iter()
            .filter(|s| self.0 & s.bit() != 0)
            .fold(0, |acc, s| acc | s.expanded())
    }

    pub fn allows(self, scope: Scope) -> bool {
        self.effective() & scope.bit() != 0
    }

    /// `Ok` when this set allows `scope`, else the domain's 403.
    pub fn require(self, scope: Scope) -> Result<(), MissingScope> {
        if self.allows(scope) {
            Ok(())
        } else {
            Err(MissingScope(scope))
        }
    }

    /// The first scope `other` grants (directly or by implication) that
    /// this set does not: why a key holding `self` may not mint `other`.
    pub fn first_missing(self, other: Scopes) -> Option<Scope> {
        let lacking = other.effective() & !self.effective();
        Scope::ALL.into_iter().find(|s| lacking & s.bit() != 0)
    }

    pub fn credential_access(self) -> CredentialAccess {
        if self.allows(Scope::CredentialsRead) {
            CredentialAccess::All
        } else if self.allows(Scope::CredentialsAccessToken) {
            CredentialAccess::AccessToken
        } else {
            CredentialAccess::None
        }
    }

    /// The granted scopes, in a fixed order.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL
            .into_iter()
            .filter(move |s| self.0 & s.bit() != 0)
    }

    pub fn names(self) -> Vec<String> {
        self.iter().map(|s| s.as_str().to_owned()).collect()
    }

    /// The storage (and JWT `scope` claim) form: names separated by spaces.
    pub fn to_space_separated(self) -> String {
        self.names().join(" ")
    }

    /// Parses a space-separated list, ignoring names it does not know (a
    /// JWT may carry scopes meant for other services).
    pub fn parse_space_separated_lenient(text: &str) -> Self {
        text.split_ascii_whitespace()
            .filter_map(Scope::parse)
            .collect()
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Scopes(iter.into_iter().fold(0, |acc, s| acc | s.bit()))
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_read_includes_the_access_token_and_plain_reads() {
        let scopes = Scopes::from_iter([Scope::CredentialsRead]);
        assert!(scopes.allows(Scope::CredentialsAccessToken));
        assert!(scopes.allows(Scope::ConnectionsRead));
        assert!(!scopes.allows(Scope::Manage));
        assert_eq!(scopes.credential_access(), CredentialAccess::All);
    }

    #[test]
    fn manage_reads_no_secrets() {
        let scopes = Scopes::from_iter([Scope::Manage]);
        assert!(scopes.allows(Scope::ConnectionsRead));
        assert_eq!(scopes.credential_access(), CredentialAccess::None);
    }

    #[test]
    fn a_set_may_not_grant_what_it_lacks_even_by_implication() {
        let holder = Scopes::from_iter([Scope::CredentialsAccessToken, Scope::ApiKeysManage]);
        assert_eq!(
            holder.first_missing(Scopes::from_iter([Scope::CredentialsRead])),
            Some(Scope::CredentialsRead)
        );
        assert_eq!(
            holder.first_missing(Scopes::from_iter([Scope::ConnectionsRead])),
            None
        );
        assert_eq!(holder.first_missing(holder), None);
    }

    #[test]
    fn the_storage_form_round_trips_and_unknown_names_are_skipped() {
        let all = Scopes::all();
        assert_eq!(
            Scopes::parse_space_separated_lenient(&all.to_space_separated()),
            all
        );
        let parsed = Scopes::parse_space_separated_lenient("openid  manage\tother:thing");
        assert_eq!(parsed, Scopes::from_iter([Scope::Manage]));
    }
}
