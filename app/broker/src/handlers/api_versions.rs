//! ApiVersions: the versions of [`SUPPORTED`], as advertised.

use kafka_protocol::{
    error::ResponseError,
    messages::api_versions_response::{ApiVersion, ApiVersionsResponse},
};

use super::{
    SUPPORTED,
    answer::{NONE, code},
};

/// The advertised versions; `unsupported` when the client asked in a version
/// this broker does not speak (KIP-511: it then picks one from the list).
pub fn api_versions(unsupported: bool) -> ApiVersionsResponse {
    let api_keys = SUPPORTED
        .iter()
        .map(|(key, min, max)| {
            ApiVersion::default()
                .with_api_key(*key as i16)
                .with_min_version(*min)
                .with_max_version(*max)
        })
        .collect();
    ApiVersionsResponse::default()
        .with_error_code(if unsupported {
            code(ResponseError::UnsupportedVersion)
        } else {
            NONE
        })
        .with_api_keys(api_keys)
}
