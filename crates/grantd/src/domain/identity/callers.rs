//! Who is calling: what an API key or a JWT resolves to, and the keys JWTs
//! are checked with. Kept apart from the operations so the handle can cache
//! them.

use crate::domain::model::Project;
use crate::domain::scopes::Scopes;
use jsonwebtoken::{Algorithm, DecodingKey};

/// An authenticated caller: the one project its credential belongs to and
/// what it may do there.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub project: Project,
    pub scopes: Scopes,
    /// Which credential it was, for the audit trail.
    pub identity: CallerIdentity,
}

/// The credential a caller authenticated with, by id: never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerIdentity {
    /// An API key, by its id (not its prefix or hash).
    ApiKey { id: String },
    /// A bearer JWT: the registered key that verified it and its `sub`.
    Jwt {
        kid: String,
        subject: Option<String>,
    },
}

/// A registered JWT public key, parsed, with the project it authenticates.
#[derive(Clone)]
pub struct VerifyingKey {
    pub(super) algorithm: JwtAlgorithm,
    pub(super) decoding_key: std::sync::Arc<DecodingKey>,
    pub(super) project: Project,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("algorithm", &self.algorithm)
            .field("project", &self.project.id)
            .finish_non_exhaustive()
    }
}

/// Signature algorithms accepted for bearer JWTs: asymmetric only, so
/// grantd holds no secret that could mint tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JwtAlgorithm {
    #[value(name = "RS256")]
    Rs256,
    #[value(name = "ES256")]
    Es256,
    #[value(name = "EdDSA")]
    EdDsa,
}

impl JwtAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            JwtAlgorithm::Rs256 => "RS256",
            JwtAlgorithm::Es256 => "ES256",
            JwtAlgorithm::EdDsa => "EdDSA",
        }
    }

    pub(super) fn parse(value: &str) -> Option<Self> {
        match value {
            "RS256" => Some(JwtAlgorithm::Rs256),
            "ES256" => Some(JwtAlgorithm::Es256),
            "EdDSA" => Some(JwtAlgorithm::EdDsa),
            _ => None,
        }
    }

    pub(super) fn decoding_key(
        self,
        pem: &str,
    ) -> Result<DecodingKey, jsonwebtoken::errors::Error> {
        match self {
            JwtAlgorithm::Rs256 => DecodingKey::from_rsa_pem(pem.as_bytes()),
            JwtAlgorithm::Es256 => DecodingKey::from_ec_pem(pem.as_bytes()),
            JwtAlgorithm::EdDsa => DecodingKey::from_ed_pem(pem.as_bytes()),
        }
    }

    pub(super) fn jsonwebtoken(self) -> Algorithm {
        match self {
            JwtAlgorithm::Rs256 => Algorithm::RS256,
            JwtAlgorithm::Es256 => Algorithm::ES256,
            JwtAlgorithm::EdDsa => Algorithm::EdDSA,
        }
    }
}
