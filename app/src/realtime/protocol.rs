//! Centrifugo's client protocol v2, JSON encoding: the subset the official
//! `centrifuge` SDK uses. A frame holds one or more commands (or replies and
//! pushes), one JSON object per line.

use serde::Deserialize;
use serde_json::{Map, Value, json, value::RawValue};

/// One command from the client. Exactly one method field is set; `{}` with
/// no id is the client's pong.
#[derive(Debug, Default, Deserialize)]
pub struct Command {
    #[serde(default)]
    pub id: u32,
    #[serde(flatten)]
    pub methods: Map<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ConnectRequest {
    #[serde(default)]
    pub token: String,
    /// Server-side subscriptions to recover (the personal channel).
    #[serde(default)]
    pub subs: std::collections::HashMap<String, SubscribeRequest>,
}

#[derive(Debug, Default, Deserialize)]
pub struct SubscribeRequest {
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub recover: bool,
    #[serde(default)]
    pub offset: u64,
    #[serde(default)]
    pub epoch: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct ChannelRequest {
    #[serde(default)]
    pub channel: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct HistoryRequest {
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub limit: i64,
    #[serde(default)]
    pub since: Option<StreamPosition>,
    #[serde(default)]
    pub reverse: bool,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
pub struct StreamPosition {
    #[serde(default)]
    pub offset: u64,
    #[serde(default)]
    pub epoch: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct RefreshRequest {
    #[serde(default)]
    pub token: String,
}

/// A decoded command.
#[derive(Debug)]
pub enum Method {
    Connect(ConnectRequest),
    Subscribe(SubscribeRequest),
    Unsubscribe(ChannelRequest),
    History(HistoryRequest),
    Refresh(RefreshRequest),
    /// Known methods this server does not offer (presence, publish, rpc, ...).
    NotAvailable(&'static str),
    /// An asynchronous message; nothing to answer.
    Send,
    Pong,
}

/// Why a command could not be decoded.
#[derive(Debug, PartialEq, Eq)]
pub enum BadCommand {
    /// Not JSON, or a method's fields have the wrong types.
    Malformed(String),
    /// A well-formed command naming no method this protocol has.
    UnknownMethod(String),
}

const NOT_AVAILABLE: [&str; 6] = [
    "presence",
    "presence_stats",
    "publish",
    "rpc",
    "sub_refresh",
    "ping",
];

impl Command {
    pub fn parse(line: &str) -> Result<Self, BadCommand> {
        serde_json::from_str(line).map_err(|e| BadCommand::Malformed(e.to_string()))
    }

    pub fn method(self) -> Result<Method, BadCommand> {
        let mut fields = self.methods.into_iter();
        let Some((name, body)) = fields.next() else {
            return Ok(Method::Pong);
        };
        if let Some((other, _)) = fields.next() {
            return Err(BadCommand::Malformed(format!(
                "one method per command, got `{name}` and `{other}`"
            )));
        }
        fn decode<T: serde::de::DeserializeOwned>(body: Value) -> Result<T, BadCommand> {
            serde_json::from_value(body).map_err(|e| BadCommand::Malformed(e.to_string()))
        }
        Ok(match name.as_str() {
            "connect" => Method::Connect(decode(body)?),
            "subscribe" => Method::Subscribe(decode(body)?),
            "unsubscribe" => Method::Unsubscribe(decode(body)?),
            "history" => Method::History(decode(body)?),
            "refresh" => Method::Refresh(decode(body)?),
            "send" => Method::Send,
            other => match NOT_AVAILABLE.iter().find(|m| **m == other) {
                Some(known) => Method::NotAvailable(known),
                None => return Err(BadCommand::UnknownMethod(name)),
            },
        })
    }
}

/// Centrifugo's error codes (replies to one command; the connection stays).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    Internal = 100,
    Unauthorized = 101,
    UnknownChannel = 102,
    PermissionDenied = 103,
    MethodNotFound = 104,
    AlreadySubscribed = 105,
    BadRequest = 107,
    NotAvailable = 108,
    TokenExpired = 109,
    UnrecoverablePosition = 112,
}

impl ErrorCode {
    pub fn message(self) -> &'static str {
        match self {
            ErrorCode::Internal => "internal server error",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::UnknownChannel => "unknown channel",
            ErrorCode::PermissionDenied => "permission denied",
            ErrorCode::MethodNotFound => "method not found",
            ErrorCode::AlreadySubscribed => "already subscribed",
            ErrorCode::BadRequest => "bad request",
            ErrorCode::NotAvailable => "not available",
            ErrorCode::TokenExpired => "token expired",
            ErrorCode::UnrecoverablePosition => "unrecoverable position",
        }
    }

    /// Temporary errors make the SDK retry.
    fn temporary(self) -> bool {
        self == ErrorCode::Internal
    }
}

/// Centrifugo's disconnect codes (sent as the WebSocket close code and
/// reason): 3000–3499 advise reconnecting, 3500–3999 do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disconnect {
    Shutdown = 3001,
    ServerError = 3004,
    Expired = 3005,
    Slow = 3008,
    NoPong = 3012,
    InvalidToken = 3500,
    BadRequest = 3501,
    Stale = 3502,
    /// WebSocket's own "message too big": the SDK does not reconnect.
    MessageSizeLimit = 1009,
}

impl Disconnect {
    pub fn code(self) -> u16 {
        self as u16
    }

    pub fn reason(self) -> &'static str {
        match self {
            Disconnect::Shutdown => "shutdown",
            Disconnect::ServerError => "internal server error",
            Disconnect::Expired => "expired",
            Disconnect::Slow => "slow",
            Disconnect::NoPong => "no pong",
            Disconnect::InvalidToken => "invalid token",
            Disconnect::BadRequest => "bad request",
            Disconnect::Stale => "stale",
            Disconnect::MessageSizeLimit => "message size limit exceeded",
        }
    }
}

/// Unsubscribe code of a server-side unsubscribe: below 2500, so the client
/// does not try to subscribe again.
pub const SERVER_UNSUBSCRIBE: u32 = 2000;

pub fn error_reply(id: u32, code: ErrorCode) -> String {
    let mut error = json!({ "code": code as u32, "message": code.message() });
    if code.temporary() {
        error["temporary"] = true.into();
    }
    json!({ "id": id, "error": error }).to_string()
}

pub fn reply(id: u32, method: &str, result: Value) -> String {
    json!({ "id": id, method: result }).to_string()
}

/// One publication as it appears in pushes, history and recovery; `data` is
/// the record's JSON, unchanged.
pub fn publication(data: &RawValue, offset: u64) -> String {
    format!(r#"{{"data":{},"offset":{offset}}}"#, data.get())
}

pub fn publication_push(channel: &str, publication: &str) -> String {
    format!(
        r#"{{"push":{{"channel":{},"pub":{publication}}}}}"#,
        Value::from(channel)
    )
}

pub fn unsubscribe_push(channel: &str) -> String {
    json!({ "push": { "channel": channel, "unsubscribe": { "code": SERVER_UNSUBSCRIBE, "reason": "server unsubscribe" } } })
        .to_string()
}

/// What a server ping is: an empty object (the client answers the same).
pub const PING: &str = "{}";

#[cfg(test)]
mod tests {
    use super::*;

    fn method(line: &str) -> Result<Method, BadCommand> {
        Command::parse(line)?.method()
    }

    #[test]
    fn commands_decode_like_the_sdk_sends_them() {
        let connect = method(
            r#"{"id":1,"connect":{"token":"t","name":"js","subs":{"personal:#u":{"recover":true,"offset":4,"epoch":"e"}}}}"#,
        );
        let Ok(Method::Connect(connect)) = connect else {
            panic!("{connect:?}")
        };
        assert_eq!(connect.token, "t");
        assert_eq!(connect.subs["personal:#u"].offset, 4);
        let subscribe = method(r#"{"subscribe":{"channel":"chat:x","flag":1},"id":2}"#);
        assert!(matches!(subscribe, Ok(Method::Subscribe(s)) if s.channel == "chat:x"));
        assert!(matches!(method("{}"), Ok(Method::Pong)));
        assert!(matches!(
            method(r#"{"id":3,"presence":{"channel":"chat:x"}}"#),
            Ok(Method::NotAvailable("presence"))
        ));
    }

    #[test]
    fn bad_commands_are_told_apart() {
        assert!(matches!(
            method("{\"id\":1,"),
            Err(BadCommand::Malformed(_))
        ));
        assert!(matches!(method("[1]"), Err(BadCommand::Malformed(_))));
        assert!(matches!(
            method(r#"{"id":1,"subscribe":{"channel":5}}"#),
            Err(BadCommand::Malformed(_))
        ));
        assert_eq!(
            method(r#"{"id":1,"fly":{}}"#).unwrap_err(),
            BadCommand::UnknownMethod("fly".into())
        );
        assert!(matches!(
            method(r#"{"id":1,"connect":{},"subscribe":{}}"#),
            Err(BadCommand::Malformed(_))
        ));
    }

    #[test]
    fn a_publication_carries_the_record_unchanged() {
        let data = RawValue::from_string(r#"{"b":1,"a":"x"}"#.into()).unwrap();
        let push = publication_push("chat:1", &publication(&data, 7));
        assert_eq!(
            push,
            r#"{"push":{"channel":"chat:1","pub":{"data":{"b":1,"a":"x"},"offset":7}}}"#
        );
        let parsed: Value = serde_json::from_str(&push).unwrap();
        assert_eq!(parsed["push"]["pub"]["offset"], 7);
    }
}
