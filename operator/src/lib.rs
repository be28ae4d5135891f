//! The Harmony operator: the `HarmonyChat` CRD, the pure build of its
//! children, and (not yet complete) the controller that applies them.

pub mod build;
pub mod crd;
pub mod reconcile;
pub mod render;
pub mod secret_material;
