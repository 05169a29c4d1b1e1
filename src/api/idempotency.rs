//! `Idempotency-Key`: a client that retries a submission after a timeout gets the same run back
//! instead of a duplicate; the same key with a different request is a 409. A key belongs to the
//! caller (the token's subject, with auth on): the same key from another caller is another key, so
//! a tenant can neither learn that another used a key nor take a key from them.

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use super::{Error, Result};

/// The header clients send.
pub const HEADER: &str = "idempotency-key";
/// Longest accepted key.
pub const KEY_MAX_LEN: usize = 255;

/// The key of a request, if it carries one; a 400 for an empty, too long or non-printable key.
pub fn key(headers: &HeaderMap) -> Result<Option<String>> {
    let Some(value) = headers.get(HEADER) else { return Ok(None) };
    let key = value.to_str().ok().map(str::trim).unwrap_or_default();
    if key.is_empty() || key.len() > KEY_MAX_LEN || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Error::bad_request(
            "invalid_idempotency_key",
            format!("Idempotency-Key must be 1 to {KEY_MAX_LEN} printable ASCII characters"),
        ));
    }
    Ok(Some(key.to_string()))
}

/// The key as stored: `key` within the caller `subject`'s own keys (`None`: auth off, one space
/// for every caller, as before tokens). Length-prefixed, so no subject and key pair can spell
/// another's.
pub fn scoped(key: String, subject: Option<&str>) -> String {
    match subject {
        None => key,
        Some(subject) => format!("{}:{subject}:{key}", subject.len()),
    }
}

/// A fingerprint of a request's meaningful parts: labelled, length-prefixed, hashed with SHA-256.
pub fn fingerprint<'a>(parts: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut hash = Sha256::new();
    for (label, bytes) in parts {
        for piece in [label.as_bytes(), bytes] {
            hash.update((piece.len() as u64).to_le_bytes());
            hash.update(piece);
        }
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_the_callers_own() {
        assert_eq!(scoped("k1".into(), None), "k1", "auth off: the key as sent");
        assert_ne!(scoped("k1".into(), Some("alice")), scoped("k1".into(), Some("bob")));
        assert_eq!(scoped("k1".into(), Some("alice")), scoped("k1".into(), Some("alice")));
        // No subject and key pair spells another's.
        assert_ne!(scoped("b:k".into(), Some("a")), scoped("k".into(), Some("a:b")));
    }

    #[test]
    fn fingerprints_tell_requests_apart() {
        let a = fingerprint([("user_id", &b"1"[..]), ("file:run.sh", b"echo hi")]);
        assert_eq!(a, fingerprint([("user_id", &b"1"[..]), ("file:run.sh", b"echo hi")]));
        assert_ne!(a, fingerprint([("user_id", &b"2"[..]), ("file:run.sh", b"echo hi")]));
        // Length prefixes: moving bytes between parts changes the fingerprint.
        assert_ne!(fingerprint([("a", &b"bc"[..])]), fingerprint([("ab", &b"c"[..])]));
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn keys_are_validated() {
        let mut h = HeaderMap::new();
        assert_eq!(key(&h).unwrap(), None);
        h.insert(HEADER, "abc-123".parse().unwrap());
        assert_eq!(key(&h).unwrap().as_deref(), Some("abc-123"));
        h.insert(HEADER, "has space".parse().unwrap());
        assert!(key(&h).is_err());
        h.insert(HEADER, "x".repeat(256).parse().unwrap());
        assert!(key(&h).is_err());
    }
}
