//! The second factor of a staff sign-in: TOTP (RFC 6238: HMAC-SHA-1, six
//! digits, 30-second steps, one step either side for clock drift), each
//! step accepted once, or one of ten single-use recovery codes.
//!
//! Recovery codes are 16 characters of base32 (80 random bits); the
//! database keeps their SHA-256 only. At 80 bits a fast hash is enough: a
//! copy of the database gives no practical way back to a code (2^80
//! guesses), so a slow password hash would add cost at sign-in and nothing
//! against guessing; and a plain hash lets the code be found by lookup.

use crate::error::{AppError, AppResult};
use crate::state::AppState;
use kairos_domain::staff::Staff;
use kairos_store::{Action, Actor, AuditEntry};
use rand::RngCore;

/// Recovery codes issued at enrolment.
pub const RECOVERY_CODES: usize = 10;
/// How long the second step of a sign-in stays open after the password.
pub const CHALLENGE_MINUTES: i64 = 5;
/// The issuer shown in authenticator apps.
pub const ISSUER: &str = "Kairos";

/// A new random TOTP secret: 20 bytes (160 bits, RFC 4226's
/// recommendation), base32 as authenticator apps take it.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    totp_rs::Secret::from(bytes).to_base32()
}

fn totp(secret: &str, account: &str) -> AppResult<totp_rs::Totp> {
    let secret = totp_rs::Secret::try_from_base32(secret)
        .map_err(|_| AppError::Internal("a stored second-factor secret is not base32".into()))?;
    totp_rs::Builder::new()
        .with_secret(secret)
        .with_account_name(account.replace(':', ""))
        .with_issuer(Some(ISSUER))
        .build()
        .map_err(|e| AppError::Internal(format!("second-factor settings: {e}")))
}

/// The `otpauth://` URI an authenticator app reads (shown as text and as a
/// QR code at enrolment, never again).
pub fn otpauth_uri(secret: &str, account: &str) -> AppResult<String> {
    totp(secret, account)?.to_url().map_err(|e| AppError::Internal(format!("otpauth URI: {e}")))
}

/// The URI as a QR code, an SVG drawn on the server (no script).
pub fn qr_svg(uri: &str) -> AppResult<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|e| AppError::Internal(format!("QR code: {e}")))?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build())
}

/// The time step a six-digit code is valid for at `now` (±1 step), if any.
pub fn code_step(secret: &str, account: &str, code: &str, now: jiff::Timestamp) -> AppResult<Option<i64>> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let secs = u64::try_from(now.as_second()).unwrap_or(0);
    Ok(totp(secret, account)?.check(&code, secs).and_then(|s| i64::try_from(s).ok()))
}

/// Ten new recovery codes, as shown once: `XXXX-XXXX-XXXX-XXXX`.
pub fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; 10];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            let s = totp_rs::Secret::from(bytes.to_vec()).to_base32();
            s.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("-")
        })
        .collect()
}

/// What the database keeps of a recovery code: the SHA-256 (hex) of the
/// code in upper case without spaces or dashes, as typed either way.
pub fn recovery_hash(code: &str) -> String {
    let norm: String = code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect();
    kairos_store::sessions::token_hash(&norm)
}

/// A code looks like a recovery code (16 base32 characters).
fn is_recovery_shape(code: &str) -> bool {
    let norm: Vec<char> = code.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    norm.len() == 16
}

/// Whether the account's roles require a second factor here.
pub fn required(state: &AppState, staff: &Staff) -> bool {
    staff.roles.iter().any(|r| state.config.mfa_required.contains(&r))
}

/// Checks the second factor of a sign-in for an enrolled account, under the
/// same throttling as the password (failures count against the account
/// from this address, and against the address); a failure is audited as a
/// failed sign-in. Ok(()) when the code (or a recovery code) is accepted.
pub async fn verify(state: &AppState, staff: &Staff, code: &str, remote_addr: Option<String>) -> AppResult<()> {
    let login = staff.email.as_str().to_lowercase();
    let actor = Actor { staff_id: Some(staff.id), roles: staff.roles.to_list(), remote_addr: remote_addr.clone() };
    let policy = state.config.sign_in_throttle;
    let now = state.now();
    let since = now.checked_sub(policy.window).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let (account, address) = state.store.sign_in_failures(&login, remote_addr.as_deref(), since).await?;
    if let Some(wait) = kairos_domain::signin::wait(&policy, account, address, now) {
        let anon = Actor { staff_id: None, roles: "anonymous".into(), remote_addr };
        state
            .store
            .audit_event(&anon, AuditEntry::new(Action::LoginFailed, "staff_login", &login).detail("throttled"))
            .await?;
        return Err(AppError::Throttled { retry_after_secs: u64::try_from(wait.as_secs()).unwrap_or(1).max(1) });
    }
    let mfa = state.store.mfa_state(staff.id).await?;
    let accepted = match mfa.secret.as_deref() {
        Some(secret) if code.len() <= 64 => match code_step(secret, staff.email.as_str(), code, now)? {
            Some(step) => state.store.use_mfa_step(staff.id, step).await?,
            None if is_recovery_shape(code) => {
                state.store.use_mfa_recovery_code(&actor, staff.id, &recovery_hash(code)).await?
            }
            None => false,
        },
        _ => false,
    };
    if !accepted {
        state
            .store
            .audit_event(&actor, AuditEntry::new(Action::LoginFailed, "staff_login", &login).detail("second factor"))
            .await?;
        return Err(AppError::SecondFactor(
            "that code is wrong, expired or already used: type the current code from your authenticator app, \
             or an unused recovery code"
                .into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_valid_for_its_step_and_one_either_side_only() {
        let secret = new_secret();
        assert_eq!(secret.len(), 32, "160 bits in base32");
        let t = totp(&secret, "nadia@clinic.example").expect("totp");
        let now: jiff::Timestamp = "2026-12-05T10:00:15Z".parse().expect("ts");
        let step = now.as_second() / 30;
        let at = |s: i64| t.generate(u64::try_from(s * 30).expect("positive")).to_string();
        let check = |code: &str| code_step(&secret, "nadia@clinic.example", code, now).expect("check");
        assert_eq!(check(&at(step)), Some(step));
        assert_eq!(check(&at(step - 1)), Some(step - 1));
        assert_eq!(check(&at(step + 1)), Some(step + 1));
        assert_eq!(check(&at(step - 2)).filter(|s| *s == step - 2), None);
        assert_eq!(check("12345"), None);
        assert_eq!(check("abcdef"), None);
    }

    #[test]
    fn recovery_codes_are_distinct_high_entropy_and_hash_as_typed() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        assert!(codes.iter().all(|c| c.len() == 19 && is_recovery_shape(c)), "{codes:?}");
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), 10);
        let c = &codes[0];
        assert_eq!(recovery_hash(c), recovery_hash(&c.replace('-', " ").to_lowercase()));
        assert_ne!(recovery_hash(c), recovery_hash(&codes[1]));
    }

    #[test]
    fn the_otpauth_uri_names_the_issuer_and_account_and_draws_as_svg() {
        let uri = otpauth_uri("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "nadia@clinic.example").expect("uri");
        assert!(uri.starts_with("otpauth://totp/Kairos:nadia%40clinic.example?"), "{uri}");
        assert!(uri.contains("secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP") && uri.contains("issuer=Kairos"), "{uri}");
        assert!(qr_svg(&uri).expect("svg").contains("<svg"));
    }
}
