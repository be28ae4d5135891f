//! The Harmony operator: the `HarmonyChat` CRD, the pure build of its
//! children, and the controller that applies them, manages the Kafka topics
//! and reports status.

pub mod apply;
pub mod children;
pub mod controller;
pub mod crd;
pub mod leader;
pub mod plan;
pub mod render;
pub mod secret_material;
pub mod server;
pub mod status;
pub mod topics;
