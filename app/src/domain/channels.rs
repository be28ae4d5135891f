//! Real-time channels, named as Centrifugo names them, so the embedded
//! gateway and a Centrifugo cluster serve the same channels to the same client.

use uuid::Uuid;

pub use harmony_config::wire::{CHANNELS_HEADER, PERSONAL_NAMESPACE};

/// The channel of a chat's messages.
pub fn chat(chat_id: Uuid) -> String {
    format!("chat:{chat_id}")
}

/// A user's personal channel: user-limited (`#` boundary), so only that user
/// may be on it; it carries the changes of their chat list.
pub fn personal(user_id: Uuid) -> String {
    format!("{PERSONAL_NAMESPACE}:#{user_id}")
}

/// What a channel name means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Chat(Uuid),
    Personal(Uuid),
}

impl Channel {
    pub fn parse(name: &str) -> Option<Self> {
        if let Some(id) = name.strip_prefix("chat:") {
            return Uuid::parse_str(id).ok().map(Channel::Chat);
        }
        let user = name.strip_prefix(PERSONAL_NAMESPACE)?.strip_prefix(":#")?;
        Uuid::parse_str(user).ok().map(Channel::Personal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_round_trip() {
        let id = Uuid::new_v4();
        assert_eq!(Channel::parse(&chat(id)), Some(Channel::Chat(id)));
        assert_eq!(Channel::parse(&personal(id)), Some(Channel::Personal(id)));
        assert_eq!(Channel::parse(&format!("personal:{id}")), None);
        assert_eq!(Channel::parse("chat:nope"), None);
        assert_eq!(Channel::parse("news"), None);
    }
}
