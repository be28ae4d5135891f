//! Text in and out: the CRD YAML, and every child of a HarmonyChat file as
//! multi-document YAML, through the same build the controller uses.

use kube::CustomResourceExt;

use crate::children::{self, BuildError, GeneratedSecrets};
use crate::crd::HarmonyChat;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("not a HarmonyChat: {0}")]
    Parse(#[source] serde_yaml::Error),
    #[error(
        "expected apiVersion harmony.chat/v1alpha1 and kind HarmonyChat, got {api_version}/{kind}"
    )]
    WrongKind { api_version: String, kind: String },
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("cannot serialise: {0}")]
    Serialise(String),
}

/// The CRD as YAML, exactly as committed in `crds/harmonychat.yaml`.
pub fn crd_yaml() -> Result<String, RenderError> {
    serde_yaml::to_string(&HarmonyChat::crd()).map_err(|e| RenderError::Serialise(e.to_string()))
}

/// Reads one HarmonyChat from YAML (or JSON).
pub fn parse(text: &str) -> Result<HarmonyChat, RenderError> {
    let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(RenderError::Parse)?;
    let field = |name: &str| {
        value
            .get(name)
            .and_then(serde_yaml::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (api_version, kind) = (field("apiVersion"), field("kind"));
    if api_version != "harmony.chat/v1alpha1" || kind != "HarmonyChat" {
        return Err(RenderError::WrongKind { api_version, kind });
    }
    serde_yaml::from_value(value).map_err(RenderError::Parse)
}

/// Every child of `hc` as multi-document YAML, in apply order.
pub fn children_yaml(hc: &HarmonyChat, secrets: &GeneratedSecrets) -> Result<String, RenderError> {
    let children = children::build(hc, secrets)?;
    let manifests = children
        .manifests()
        .map_err(|e| RenderError::Serialise(e.to_string()))?;
    let mut out = String::new();
    for manifest in manifests {
        out.push_str("---\n");
        out.push_str(
            &serde_yaml::to_string(&manifest).map_err(|e| RenderError::Serialise(e.to_string()))?,
        );
    }
    Ok(out)
}
