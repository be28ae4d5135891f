//! Adapters for the backing services, one folder or file per service:
//! `postgres/` (users, chats, sessions, the outbox), `redis/` (the cache, send
//! de-duplication, each chat's newest messages, the in-process copy),
//! `kafka/` (clients and the message log), `dynamodb` (history), `centrifugo`
//! (its server API); `cache_aside` reads through Redis to the store of record.

pub mod cache_aside;
pub mod centrifugo;
mod dependency;
pub mod dynamodb;
pub mod kafka;
pub mod postgres;
pub mod redis;

pub use dependency::{Cause, Dependency};
