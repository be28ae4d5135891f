//! The embedded real-time gateway: Centrifugo's client protocol over
//! WebSocket (`/connection/websocket`), fed by the message and chat-event
//! topics, so the same browser code works against it and against Centrifugo.
//! See docs/realtime.md.

mod connection;
pub mod feed;
mod gateway;
pub mod hub;
pub mod protocol;

pub use gateway::{Gateway, Identity, WEBSOCKET_PATH};
