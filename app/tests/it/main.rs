//! Integration tests against the real local services (scripts/services.sh).
//! One binary; each test gets its own database, topics and table.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod admission;
mod api_auth;
mod api_bff;
mod api_changes;
mod api_chats;
mod api_contract;
mod api_fuzz;
mod api_messages;
mod api_session;
mod api_users;
mod api_ws;
mod attention;
mod changes;
mod cli;
mod client;
mod costs;
mod events;
mod fault;
mod iam;
mod local_copy;
mod ops;
mod platform;
mod presence;
mod realtime;
mod recent;
mod restore;
mod services;
mod support;
mod tls;
mod upgrade;
mod web;
