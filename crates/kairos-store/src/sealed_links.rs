//! One-time links in queued e-mail, sealed: the portal's sign-in,
//! invitation and change-of-address links carry a code that works once.
//! While such a message waits in the outbox (for a few seconds, or for as
//! long as no SMTP server is configured) its stored body holds a
//! placeholder where each code was, and the codes are kept apart, encrypted
//! (XChaCha20-Poly1305) under a key derived from the audit chain's key,
//! which lives outside the database. Someone who reads the database sees no
//! usable link; the send worker opens the codes just before sending, and
//! once the message is sent the codes are dropped.
//!
//! Without a key file (an in-memory database) the key is made afresh for the
//! process: a message queued before a restart then cannot be opened and is
//! marked expired, like one whose link ran out.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// Where a one-time code follows in a link.
const MARKS: [&str; 2] = ["/portal/auth/", "/portal/email-change/"];
/// What stands for the n-th code in a stored body.
fn placeholder(n: usize) -> String {
    format!("[sealed-link-{n}]")
}

/// The cipher that seals and opens links.
pub(crate) struct LinkSeal {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for LinkSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSeal(redacted)")
    }
}

impl LinkSeal {
    pub(crate) fn new(key: [u8; 32]) -> LinkSeal {
        LinkSeal { cipher: XChaCha20Poly1305::new(&key.into()) }
    }

    /// A key for this process only.
    pub(crate) fn ephemeral() -> LinkSeal {
        LinkSeal { cipher: XChaCha20Poly1305::new(&XChaCha20Poly1305::generate_key(&mut OsRng)) }
    }

    /// The body with each link's code replaced by a placeholder, and the
    /// codes sealed (a JSON list), or `None` when the body has no link.
    pub(crate) fn seal(&self, body: &str) -> (String, Option<String>) {
        let mut out = String::with_capacity(body.len());
        let mut sealed = Vec::new();
        let mut rest = body;
        while let Some((i, mark)) = MARKS.iter().filter_map(|m| rest.find(m).map(|i| (i, *m))).min_by_key(|(i, _)| *i) {
            out.push_str(&rest[..i + mark.len()]);
            rest = &rest[i + mark.len()..];
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')).unwrap_or(rest.len());
            let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
            let Ok(ciphertext) = self.cipher.encrypt(&nonce, &rest.as_bytes()[..end]) else {
                // Encryption of a short code does not fail; were it to, the
                // link is left out rather than stored in the clear.
                out.push_str("[link unavailable]");
                rest = &rest[end..];
                continue;
            };
            let mut both = nonce.to_vec();
            both.extend_from_slice(&ciphertext);
            out.push_str(&placeholder(sealed.len()));
            sealed.push(URL_SAFE_NO_PAD.encode(both));
            rest = &rest[end..];
        }
        out.push_str(rest);
        if sealed.is_empty() { (out, None) } else { (out, Some(serde_json::to_string(&sealed).unwrap_or_default())) }
    }

    /// The body with its codes back in place; `None` when they cannot be
    /// opened (sealed under another key, or altered).
    pub(crate) fn open(&self, body: &str, sealed: &str) -> Option<String> {
        let codes: Vec<String> = serde_json::from_str(sealed).ok()?;
        let mut out = body.to_string();
        for (n, c) in codes.iter().enumerate() {
            let both = URL_SAFE_NO_PAD.decode(c).ok()?;
            if both.len() < 24 {
                return None;
            }
            let (nonce, ciphertext) = both.split_at(24);
            let code = self.cipher.decrypt(XNonce::from_slice(nonce), ciphertext).ok()?;
            out = out.replacen(&placeholder(n), std::str::from_utf8(&code).ok()?, 1);
        }
        Some(out)
    }
}

/// The stored copy of a sent message: each placeholder marked sent.
pub(crate) fn sent_copy(body: &str) -> String {
    let mut out = body.to_string();
    let mut n = 0;
    while out.contains(&placeholder(n)) {
        out = out.replacen(&placeholder(n), "[sent]", 1);
        n += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_body_holds_no_code_and_opens_only_under_its_key() {
        let seal = LinkSeal::new([7; 32]);
        let body = "Sign in: https://k.example/portal/auth/AbC_12-xyz\nConfirm: https://k.example/portal/email-change/Q9z.\nBye";
        let (stored, sealed) = seal.seal(body);
        let sealed = sealed.expect("two links");
        assert_eq!(
            stored,
            "Sign in: https://k.example/portal/auth/[sealed-link-0]\nConfirm: https://k.example/portal/email-change/[sealed-link-1].\nBye"
        );
        assert!(!sealed.contains("AbC_12-xyz") && !sealed.contains("Q9z"), "{sealed}");
        assert_eq!(seal.open(&stored, &sealed).as_deref(), Some(body));
        assert_eq!(LinkSeal::new([8; 32]).open(&stored, &sealed), None, "another key opens nothing");
        assert_eq!(
            sent_copy(&stored),
            "Sign in: https://k.example/portal/auth/[sent]\nConfirm: https://k.example/portal/email-change/[sent].\nBye"
        );
        assert_eq!(seal.seal("A reminder without a link."), ("A reminder without a link.".to_string(), None));
    }
}
