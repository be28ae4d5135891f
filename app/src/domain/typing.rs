//! Typing: the one publication a client may make on a chat channel. The
//! embedded gateway and the API's publish proxy (Centrifugo) apply this same
//! rule: the exact shape, and how often a connection may say it.

/// Publications one connection may make at once...
pub const BURST: u32 = 5;
/// ...and how many more each second after that.
pub const PER_SECOND: u32 = 1;

/// The shape: `{"type": "typing", "active": <bool>}` and nothing else.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Typing {
    #[serde(rename = "type")]
    kind: Kind,
    #[allow(dead_code)] // checked to be a boolean, delivered as sent
    active: bool,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Typing,
}

/// True when `data` is exactly `{"type": "typing", "active": <bool>}`.
pub fn is_typing(data: &[u8]) -> bool {
    serde_json::from_slice::<Typing>(data).is_ok_and(|typing| matches!(typing.kind, Kind::Typing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_shape_is_typing() {
        assert!(is_typing(br#"{"type":"typing","active":true}"#));
        assert!(is_typing(br#" {"active": false, "type": "typing"} "#));
        for other in [
            &br#"{"type":"typing"}"#[..],
            br#"{"type":"typing","active":"yes"}"#,
            br#"{"type":"typing","active":true,"text":"hi"}"#,
            br#"{"type":"message","active":true}"#,
            br#"{"type":"typing","active":true,"type":"typing"}"#,
            br#"[]"#,
            b"typing",
            b"",
        ] {
            assert!(!is_typing(other), "{}", String::from_utf8_lossy(other));
        }
    }
}
