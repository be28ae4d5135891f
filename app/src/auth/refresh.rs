//! The refresh-token family policy (a fix of the original: docs/api.md), as a pure decision: what a
//! presented refresh token is worth, given what is stored about it. The
//! handler only carries the decision out.

use chrono::{DateTime, Duration, Utc};

/// What is stored about a presented refresh token.
#[derive(Debug, Clone, Copy)]
pub struct StoredRefresh {
    pub expires_at: DateTime<Utc>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub revoked: bool,
    /// The account was closed.
    pub tombstone: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshDecision {
    /// Unknown, revoked or expired: refuse and change nothing.
    Refuse,
    /// The account is closed: revoke the whole family, then refuse.
    RevokeClosedAccount,
    /// First use: issue the successor (valid until `expires_at`), store it
    /// and mark the presented token rotated.
    Rotate { expires_at: DateTime<Utc> },
    /// Used again inside the grace window (parallel refreshes): the same
    /// successor again, with the expiry it was given.
    RepeatSuccessor { expires_at: DateTime<Utc> },
    /// Used again after the grace window: the token leaked; revoke the family.
    RevokeReused,
}

pub fn decide(
    stored: Option<&StoredRefresh>,
    now: DateTime<Utc>,
    grace: Duration,
    lifetime: Duration,
) -> RefreshDecision {
    let Some(stored) = stored else {
        return RefreshDecision::Refuse;
    };
    if stored.revoked || stored.expires_at <= now {
        return RefreshDecision::Refuse;
    }
    if stored.tombstone {
        return RefreshDecision::RevokeClosedAccount;
    }
    match stored.rotated_at {
        None => RefreshDecision::Rotate {
            expires_at: now + lifetime,
        },
        Some(rotated_at) if now - rotated_at <= grace => RefreshDecision::RepeatSuccessor {
            expires_at: rotated_at + lifetime,
        },
        Some(_) => RefreshDecision::RevokeReused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::seconds(10);
    const LIFETIME: Duration = Duration::days(7);

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::seconds(1_000_000 + seconds)
    }

    fn fresh() -> StoredRefresh {
        StoredRefresh {
            expires_at: at(3600),
            rotated_at: None,
            revoked: false,
            tombstone: false,
        }
    }

    fn decide_at(stored: Option<StoredRefresh>, now: i64) -> RefreshDecision {
        decide(stored.as_ref(), at(now), GRACE, LIFETIME)
    }

    #[test]
    fn an_unknown_token_is_refused() {
        assert_eq!(decide_at(None, 0), RefreshDecision::Refuse);
    }

    #[test]
    fn revoked_and_expired_tokens_are_refused() {
        let revoked = StoredRefresh {
            revoked: true,
            ..fresh()
        };
        assert_eq!(decide_at(Some(revoked), 0), RefreshDecision::Refuse);
        assert_eq!(
            decide_at(Some(fresh()), 3600),
            RefreshDecision::Refuse,
            "expiry is exclusive"
        );
    }

    #[test]
    fn a_closed_account_revokes_the_family() {
        let closed = StoredRefresh {
            tombstone: true,
            ..fresh()
        };
        assert_eq!(
            decide_at(Some(closed), 0),
            RefreshDecision::RevokeClosedAccount
        );
    }

    #[test]
    fn first_use_rotates_with_a_full_lifetime() {
        assert_eq!(
            decide_at(Some(fresh()), 5),
            RefreshDecision::Rotate {
                expires_at: at(5) + LIFETIME
            }
        );
    }

    #[test]
    fn reuse_inside_the_grace_window_repeats_the_successor() {
        let rotated = StoredRefresh {
            rotated_at: Some(at(0)),
            ..fresh()
        };
        let repeat = RefreshDecision::RepeatSuccessor {
            expires_at: at(0) + LIFETIME,
        };
        assert_eq!(decide_at(Some(rotated), 3), repeat);
        assert_eq!(
            decide_at(Some(rotated), 10),
            repeat,
            "the window includes its end"
        );
    }

    #[test]
    fn reuse_after_the_grace_window_revokes_the_family() {
        let rotated = StoredRefresh {
            rotated_at: Some(at(0)),
            ..fresh()
        };
        assert_eq!(decide_at(Some(rotated), 11), RefreshDecision::RevokeReused);
    }
}
