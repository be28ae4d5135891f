//! The embedded real-time gateway: Centrifugo's client protocol over
//! WebSocket (`/connection/websocket`), fed by the message and chat-event
//! topics, so the same browser code works against it and against Centrifugo.
//! See docs/realtime.md.

mod connection;
pub mod feed;
mod gateway;
pub mod hub;
pub mod presence;
pub mod protocol;

use std::sync::Arc;

use axum::{Router, routing::get};

pub use gateway::{Gateway, Identity, WEBSOCKET_PATH};

/// `GET /connection/websocket`, served by `gateway`.
pub fn router(gateway: &Arc<Gateway>) -> Router {
    Router::new()
        .route(WEBSOCKET_PATH, get(connection::upgrade))
        .with_state(gateway.clone())
}
