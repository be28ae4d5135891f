//! Users: e-mail normalisation, password policy, usernames, the public profile.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Invalid, check_length};

pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;
pub const USERNAME_MAX: usize = 64;

/// The shape of an e-mail address accepted at sign-up (HTML's rule, with a
/// dot in the domain); the OpenAPI document carries the same pattern.
pub const EMAIL_PATTERN: &str = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$";
pub const EMAIL_MAX: usize = 254;

/// An e-mail address, lower-cased whole: sign-up and login normalise the
/// same way, so `Ann@Example.COM` is one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        static SHAPE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
            regex::Regex::new(EMAIL_PATTERN).unwrap_or_else(|e| panic!("EMAIL_PATTERN: {e}"))
        });
        let invalid = |reason: &str| {
            Invalid::body(
                "email",
                "value_error",
                format!("value is not a valid email address: {reason}"),
                raw.chars().take(64).collect::<String>(),
            )
        };
        if raw.chars().count() > EMAIL_MAX {
            return Err(invalid("it is too long"));
        }
        if !SHAPE.is_match(raw) {
            return Err(invalid(
                "it must look like name@example.com (no spaces, a dot in the domain)",
            ));
        }
        Ok(Self(raw.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub fn check_password(password: &str) -> Result<(), Invalid> {
    check_length("password", password, PASSWORD_MIN, PASSWORD_MAX).map_err(|mut e| {
        e.input = serde_json::Value::String("<hidden>".into());
        e
    })
}

/// Trims the username; an empty one falls back to the e-mail, as the original did.
pub fn username_or_email(username: &str, email: &Email) -> Result<String, Invalid> {
    check_length("username", username, 0, USERNAME_MAX)?;
    let trimmed = username.trim();
    Ok(if trimmed.is_empty() {
        email.as_str().to_owned()
    } else {
        trimmed.to_owned()
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserMeta {
    pub username: String,
}

/// The original's `UserResponse`; also the cached value of `user:<id>`.
/// `UserResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = UserResponse)]
pub struct UserProfile {
    pub user_id: Uuid,
    pub email: String,
    pub tombstone: bool,
    #[sqlx(json)]
    pub meta: UserMeta,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_normalise_whole_and_need_a_dotted_domain() {
        assert_eq!(
            Email::parse("Bob@Example.COM").unwrap().as_str(),
            "bob@example.com"
        );
        assert!(Email::parse("bob@localhost").is_err());
        assert!(Email::parse(" bob@example.com").is_err());
        assert!(Email::parse("bob@[127.0.0.1]").is_err());
        assert!(Email::parse("not-an-email").is_err());
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn passwords_have_bounds_and_are_never_echoed() {
        let short = check_password("short").unwrap_err();
        assert_eq!(short.kind, "string_too_short");
        assert_eq!(short.input, "<hidden>");
        assert!(check_password(&"x".repeat(PASSWORD_MAX + 1)).is_err());
        assert!(check_password("correct horse").is_ok());
    }

    #[test]
    fn empty_usernames_fall_back_to_the_email() {
        let email = Email::parse("ann@example.com").unwrap();
        assert_eq!(username_or_email("  ", &email).unwrap(), "ann@example.com");
        assert_eq!(username_or_email(" Ann ", &email).unwrap(), "Ann");
        assert!(username_or_email(&"x".repeat(USERNAME_MAX + 1), &email).is_err());
    }
}
