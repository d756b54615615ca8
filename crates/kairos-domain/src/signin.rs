//! Sign-in throttling: growing delays after repeated failures, by account
//! and address together and by address alone, so that guessing is slow and
//! nobody can lock a clinician out from elsewhere.
//!
//! A failed password from an address counts against that account from that
//! address (and against the address); a successful sign-in from the address
//! clears its account count. Past the free failures, the next attempt must
//! wait a delay that doubles with each further failure, up to a cap; an
//! attempt refused for waiting is not a failure and does not lengthen the
//! wait. An attacker guessing a clinician's password from their own address
//! therefore slows only themselves: the clinician, signing in from the
//! clinic, has no failures counted there.

use jiff::{SignedDuration, Timestamp};

/// The clinic's limits (`Config` in the server).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures older than this are forgotten.
    pub window: SignedDuration,
    /// Failures of one account from one address before delays begin.
    pub account_free: u32,
    /// Failures from one address (any accounts) before delays begin.
    pub address_free: u32,
    /// The first delay; each further failure doubles it.
    pub base: SignedDuration,
    /// The longest delay.
    pub cap: SignedDuration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            window: SignedDuration::from_mins(15),
            account_free: 5,
            address_free: 20,
            base: SignedDuration::from_secs(30),
            cap: SignedDuration::from_mins(15),
        }
    }
}

/// Failures counted within the window, and when the latest was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Failures {
    pub count: u32,
    pub last: Option<Timestamp>,
}

/// The delay after `count` failures when `free` are allowed: none up to
/// `free`, then `base`, doubling with each further failure, at most `cap`.
pub fn delay(count: u32, free: u32, base: SignedDuration, cap: SignedDuration) -> Option<SignedDuration> {
    let excess = count.checked_sub(free).filter(|e| *e > 0)? - 1;
    let factor = 1_i32.checked_shl(excess.min(30)).unwrap_or(i32::MAX);
    Some(base.checked_mul(factor).map_or(cap, |d| d.min(cap)))
}

/// How long the next attempt must wait, if at all: the longer of the
/// account-and-address wait and the address wait, counted from each one's
/// latest failure.
pub fn wait(policy: &ThrottlePolicy, account: Failures, address: Failures, now: Timestamp) -> Option<SignedDuration> {
    let one = |f: Failures, free: u32| {
        let d = delay(f.count, free, policy.base, policy.cap)?;
        let until = f.last?.checked_add(d).ok()?;
        (now < until).then(|| until.duration_since(now))
    };
    match (one(account, policy.account_free), one(address, policy.address_free)) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("ts")
    }

    #[test]
    fn delays_begin_after_the_free_failures_and_double_up_to_the_cap() {
        let p = ThrottlePolicy::default();
        let d = |n| delay(n, p.account_free, p.base, p.cap).map(|d| d.as_secs());
        // 5 free; the 6th failure waits 30 s, then 60, 120, ... up to 15 min.
        assert_eq!((d(0), d(5)), (None, None));
        assert_eq!((d(6), d(7), d(8), d(9)), (Some(30), Some(60), Some(120), Some(240)));
        assert_eq!((d(10), d(11), d(40), d(u32::MAX)), (Some(480), Some(900), Some(900), Some(900)));
    }

    #[test]
    fn the_wait_counts_from_the_latest_failure_and_takes_the_longer_of_account_and_address() {
        let p = ThrottlePolicy::default();
        let now = ts("2026-12-05T09:00:30Z");
        let last = Some(ts("2026-12-05T09:00:00Z"));
        // Six failures of this account from this address, the last 30 s ago: just free again.
        let six = Failures { count: 6, last };
        assert_eq!(wait(&p, six, Failures::default(), now), None);
        // Seven: 60 s from the last, 30 s left.
        let seven = Failures { count: 7, last };
        assert_eq!(wait(&p, seven, Failures::default(), now), Some(SignedDuration::from_secs(30)));
        // The address has 23 failures across accounts: 120 s from its last, 90 s left.
        let address = Failures { count: 23, last };
        assert_eq!(wait(&p, seven, address, now), Some(SignedDuration::from_secs(90)));
        // Five failures and a busy address below its limit: no wait.
        assert_eq!(wait(&p, Failures { count: 5, last }, Failures { count: 20, last }, now), None);
    }
}
