use kairos_store::Store;
use kairos_store::sessions::SessionPolicy;
use std::sync::Arc;

/// Server settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub session: SessionPolicy,
    /// Mark the session cookie `Secure` (HTTPS only). On by default; off for
    /// plain-HTTP development on loopback.
    pub secure_cookies: bool,
    /// Failed sign-ins per account within `lockout_window` before further
    /// attempts are refused until the window passes.
    pub max_failed_logins: u32,
    pub lockout_window: jiff::SignedDuration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            session: SessionPolicy::default(),
            secure_cookies: true,
            max_failed_logins: 5,
            lockout_window: jiff::SignedDuration::from_mins(15),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub(crate) dummy_hash: Arc<String>,
}
