//! Integration tests against the real local services (scripts/services.sh).
//! One binary; each test gets its own database, topics and table.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod cli;
mod ops;
mod services;
mod support;
