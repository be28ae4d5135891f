//! Harmony: the event-driven chat platform.
//!
//! One binary, many roles (`harmony <role>`). Each role is wiring over the
//! adapters in [`store`] and the ops endpoints of [`ops`].

pub mod auth;
pub mod domain;
pub mod http;
pub mod ops;
pub mod realtime;
pub mod roles;
pub mod store;
pub mod telemetry;

pub use harmony_config as config;
