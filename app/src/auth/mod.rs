//! Authentication: password hashing, access tokens, refresh-token crypto.

pub mod password;
pub mod refresh;
pub mod tokens;

pub use password::Passwords;
pub use tokens::{AccessClaims, ConnectionTokens, IssuedToken, TokenError, Tokens};
