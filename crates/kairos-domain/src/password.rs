//! Password rules for staff accounts, applied wherever a password is set: a
//! new account (API, page, `kairos user add`), a password set by an
//! administrator or on the server, one's own change.
//!
//! NIST SP 800-63B asks for a minimum length and a check against passwords
//! known to be common or compromised, and against no composition rules. So:
//!
//! - at least [`MIN_CHARS`] characters, counted as Unicode scalar values (a
//!   passphrase in any script counts as typed), at most [`MAX_CHARS`];
//! - not only whitespace;
//! - not easy to guess, by the `zxcvbn` estimator (Dropbox's, which knows
//!   the common passwords, English words, names, keyboard walks, repeats,
//!   sequences and dates, and the person's own e-mail and name given as
//!   `user_inputs`): a score of at least [`MIN_SCORE`] of 4, that is more
//!   than about 10^8 guesses. `aaaaaaaaaaaa`, `password1234` and
//!   `qwertyuiop12` fail; four unrelated words pass.

use crate::DomainError;

/// The fewest characters a password may have (NIST SP 800-63B: at least 8;
/// Kairos asks for 12 because these accounts open clinical records).
pub const MIN_CHARS: usize = 12;
/// The most (long enough for any passphrase, short enough for the estimator).
pub const MAX_CHARS: usize = 256;
/// The least `zxcvbn` score accepted: 3, "safely unguessable: moderate
/// protection from an offline slow-hash scenario" (more than 10^8 guesses).
pub const MIN_SCORE: u8 = 3;

/// Checks a new password; the refusal names `field` and says why in plain
/// words. `user_inputs` are words a guesser would try first for this
/// person: their e-mail (and its local part), their name.
pub fn check(field: &str, password: &str, user_inputs: &[&str]) -> Result<(), DomainError> {
    let n = password.chars().count();
    if n < MIN_CHARS {
        return Err(DomainError::invalid(
            field,
            format!("must be at least {MIN_CHARS} characters (this one has {n}); a phrase of several words is easiest"),
        ));
    }
    if n > MAX_CHARS {
        return Err(DomainError::invalid(field, format!("must be at most {MAX_CHARS} characters")));
    }
    if password.chars().all(char::is_whitespace) {
        return Err(DomainError::invalid(field, "must not be only spaces"));
    }
    if contains_own_name(password, user_inputs) {
        return Err(DomainError::invalid(field, "must not contain your own name or e-mail address"));
    }
    let mut inputs: Vec<String> = Vec::new();
    for i in user_inputs {
        let i = i.trim().to_lowercase();
        if i.is_empty() {
            continue;
        }
        if let Some((local, domain)) = i.split_once('@') {
            inputs.push(local.to_string());
            inputs.extend(domain.split('.').filter(|p| p.len() > 2).map(str::to_string));
        }
        inputs.extend(i.split_whitespace().map(str::to_string));
        inputs.push(i);
    }
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let estimate = zxcvbn::zxcvbn(password, &inputs);
    if u8::from(estimate.score()) < MIN_SCORE {
        let why = estimate
            .feedback()
            .and_then(|f| f.warning())
            .map(|w| {
                let w = w.to_string();
                let w = w.trim_end_matches('.');
                let mut c = w.chars();
                c.next().map(|f| f.to_lowercase().chain(c).collect::<String>()).unwrap_or_default()
            })
            .filter(|w| !w.is_empty());
        let because = why.map(|w| format!(" ({w})")).unwrap_or_default();
        return Err(DomainError::invalid(
            field,
            format!(
                "is too easy to guess{because}: use a longer phrase of several unrelated words, \
                 not a common password, a repeat, a keyboard pattern or your own name or e-mail"
            ),
        ));
    }
    Ok(())
}

/// Letters and digits only, lower case: "Nadia.Haddad!" -> "nadiahaddad".
fn folded(s: &str) -> String {
    s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// Whether the password holds the person's whole name (its words in either
/// order) or their e-mail's local part, ignoring case, spaces and
/// punctuation (the estimator weighs these as words among many).
fn contains_own_name(password: &str, user_inputs: &[&str]) -> bool {
    let pw = folded(password);
    user_inputs.iter().any(|i| {
        let i = i.trim();
        let local = i.split('@').next().unwrap_or(i);
        let words: Vec<&str> = local.split(|c: char| c.is_whitespace() || ".-_+".contains(c)).collect();
        let forward = folded(local);
        let backward = folded(&words.iter().rev().copied().collect::<String>());
        [forward, backward].iter().any(|w| w.chars().count() >= 4 && pw.contains(w.as_str()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(pw: &str) -> Option<String> {
        check("password", pw, &["nadia.haddad@clinic.example", "Nadia Haddad"]).err().map(|e| {
            assert_eq!(e.field(), "password");
            e.to_string()
        })
    }

    #[test]
    fn the_trivial_and_the_common_are_refused_with_the_reason() {
        let twelve_a = refusal("aaaaaaaaaaaa").expect("twelve a's");
        assert!(twelve_a.contains("too easy to guess"), "{twelve_a}");
        let common = refusal("password1234").expect("password1234");
        assert!(common.contains("too easy to guess"), "{common}");
        let spaces = refusal("            ").expect("twelve spaces");
        assert!(spaces.contains("only spaces"), "{spaces}");
        for weak in ["qwertyuiop12", "123456789012", "abcdefghijkl", "Password1234!", "letmein12345", "ketamine2026"] {
            assert!(refusal(weak).is_some(), "{weak} was accepted");
        }
    }

    #[test]
    fn short_passwords_are_refused_by_their_length_counted_in_characters() {
        let short = refusal("Tr0ub4dor&3").expect("11 characters");
        assert!(short.contains("at least 12 characters (this one has 11)"), "{short}");
        // Twelve characters of four bytes each is twelve, not 48.
        assert!(refusal("🦊🌲🏔️").is_some_and(|m| m.contains("at least 12")));
        assert!(refusal(&"x".repeat(MAX_CHARS + 1)).is_some_and(|m| m.contains("at most 256")));
    }

    #[test]
    fn the_persons_own_name_and_email_do_not_make_a_password() {
        assert!(refusal("nadiahaddad1").is_some());
        assert!(refusal("Haddad.Nadia!").is_some());
        assert!(refusal("nadia.haddad@clinic.example").is_some());
    }

    #[test]
    fn a_passphrase_of_unrelated_words_is_accepted() {
        assert_eq!(refusal("correct horse battery staple"), None);
        assert_eq!(refusal("violet tugboat sings at noon"), None);
        assert_eq!(refusal("lantern 7 orbit cactus"), None);
        // Not only ASCII: a phrase in another script is counted as typed.
        assert_eq!(refusal("кедр фьорд ирис вереск"), None);
    }
}
