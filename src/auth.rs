//! Bearer tokens and permissions, as values: a token's secret and its hash, and the permissions a
//! caller can hold. The API checks them (`api::auth`), the store keeps them (`store::tokens`,
//! `store::grants`); `docs/security.md` tells the model.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What every token's secret starts with, so it is recognised in logs and by secret scanners.
pub const TOKEN_PREFIX: &str = "berth_";

/// Random bytes in a secret: 256 bits.
pub const TOKEN_BYTES: usize = 32;

/// A new secret: [`TOKEN_PREFIX`] and 32 random bytes (the thread's CSPRNG) in lowercase hex.
pub fn token_generate() -> String {
    let bytes: [u8; TOKEN_BYTES] = rand::random();
    let mut out = String::with_capacity(TOKEN_PREFIX.len() + 2 * TOKEN_BYTES);
    out.push_str(TOKEN_PREFIX);
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// What is stored of a secret: its SHA-256. A fast hash is right here: the secret has 256 random
/// bits, so there is nothing to guess, and the hash is looked up on every request.
pub fn token_hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// A user, or a service account (a portal, a pipeline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// A person.
    User,
    /// A program; only these may act for other users.
    Service,
}

/// Permissions on a job (and on its runs, which inherit them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobPermission {
    /// Read the job, its runs, their logs and results (any other permission includes it).
    View,
    /// Start, cancel and abort its runs.
    Run,
    /// Change the job and its schedule.
    Update,
    /// Delete the job.
    Delete,
}

/// Permissions on a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NamespacePermission {
    /// Create jobs there (and upload to it).
    Create,
    /// See every job and run of the namespace.
    View,
}

/// To whom a permission is granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GranteeKind {
    /// A token subject.
    User,
    /// A group a token carries (`*`: every valid token).
    Group,
}

macro_rules! text_enum {
    ($t:ty, $($v:ident => $s:literal),+) => {
        impl $t {
            /// The name stored and shown.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),+ }
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($s => Ok(Self::$v),)+
                    _ => Err(format!("expected one of {}, got {s:?}", [$($s),+].join(", "))),
                }
            }
        }
    };
}

text_enum!(TokenKind, User => "user", Service => "service");
text_enum!(JobPermission, View => "view", Run => "run", Update => "update", Delete => "delete");
text_enum!(NamespacePermission, Create => "create", View => "view");
text_enum!(GranteeKind, User => "user", Group => "group");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_hashed_apart() {
        let (a, b) = (token_generate(), token_generate());
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 64);
        assert_eq!(token_hash(&a).len(), 32);
        assert_ne!(token_hash(&a), token_hash(&b));
        assert_eq!(token_hash(&a), token_hash(&a));
    }

    #[test]
    fn names_read_back() {
        for p in [JobPermission::View, JobPermission::Run, JobPermission::Update, JobPermission::Delete] {
            assert_eq!(p.as_str().parse::<JobPermission>().unwrap(), p);
        }
        assert!("admin".parse::<JobPermission>().is_err());
    }
}
