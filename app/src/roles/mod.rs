//! One module per role: wiring only. `harmony <role>` runs one of them.

pub mod api;
pub mod cdc;
pub mod dev;
pub mod migrate;
pub mod relay;
pub mod sink;

/// Roles whose work is not built yet refuse to start instead of pretending.
#[derive(Debug, thiserror::Error)]
#[error("the `{role}` role is not built yet ({tracking}); nothing was started")]
pub struct NotBuilt {
    pub role: &'static str,
    pub tracking: &'static str,
}
