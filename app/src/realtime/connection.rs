//! One WebSocket connection: authenticate, then answer commands in order
//! while a writer task drains the connection's bounded queue. Every way a
//! connection ends is a Centrifugo disconnect code in the close frame.

use std::{collections::HashSet, sync::Arc, time::Duration};

use axum::{
    extract::{
        State, WebSocketUpgrade,
        ws::{CloseFrame, Message, Utf8Bytes, WebSocket},
    },
    http::{HeaderMap, Uri},
    response::Response,
};
use axum_extra::extract::CookieJar;
use futures::{SinkExt, StreamExt, stream::SplitSink};
use tokio::{sync::mpsc, time::Instant};

use super::{
    gateway::{Gateway, Identity, Refusal},
    hub::{ClientHandle, Closer},
    protocol::{
        self, BadCommand, ChannelRequest, ClientInfo, ConnectRequest, ConnectResult, Disconnect,
        Empty, ErrorCode, Format, HistoryRequest, HistoryResult, Method, Outgoing, PresenceResult,
        PresenceStatsResult, PublishRequest, RefreshRequest, RefreshResult, Reply, StreamPosition,
        SubscribeRequest,
    },
};
use crate::{
    auth::TokenError,
    domain::{
        channels::{self, Channel},
        typing::{self, is_typing},
    },
};

/// A client that has not sent `connect` by then is closed as stale.
const CONNECT_WITHIN: Duration = Duration::from_secs(10);
/// Frames joined into one WebSocket message, at most this many bytes.
/// Small, because the WebSocket writer keeps a buffer as large as the
/// largest message it ever sent: after a burst (10,000 joins on a busy
/// channel) 64 KiB batches left every idle connection holding 64 KiB.
const BATCH_BYTES: usize = 4 * 1024;
/// The writer's time to send the close frame before the socket is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

async fn serve(gateway: Arc<Gateway>, socket: WebSocket, format: Format, cookie: Option<String>) {
    let (sink, mut stream) = socket.split();
    let (queue, outgoing) = mpsc::channel(gateway.config.send_queue.max(1));
    let closer = Arc::new(Closer::default());
    let mut writer = tokio::spawn(write(sink, format, outgoing, closer.clone()));
    let mut connection = Connection {
        gateway: gateway.clone(),
        format,
        cookie,
        queue,
        closer: closer.clone(),
        client: None,
        subscribed: HashSet::new(),
        deadline: Instant::now() + CONNECT_WITHIN,
        awaiting_pong: false,
        publications: Bucket::full(),
    };
    let mut ping = tokio::time::interval(gateway.ping_interval());
    ping.reset();
    loop {
        tokio::select! {
            _ = closer.closed() => break,
            _ = gateway.shutdown.cancelled() => closer.close(Disconnect::Shutdown),
            _ = tokio::time::sleep_until(connection.deadline) => closer.close(match connection.client {
                None => Disconnect::Stale,
                Some(_) => Disconnect::Expired,
            }),
            _ = ping.tick(), if connection.client.is_some() => connection.ping(),
            message = stream.next() => match message {
                // Either frame type, decoded in the connection's format, as Centrifugo does.
                Some(Ok(Message::Text(text))) => connection.frame(text.as_bytes()).await,
                Some(Ok(Message::Binary(bytes))) => connection.frame(&bytes).await,
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | None => break,
                Some(Err(error)) => {
                    // tungstenite refuses frames over the size limit before we see them.
                    let why = if error.to_string().contains("too long") {
                        Disconnect::MessageSizeLimit
                    } else {
                        Disconnect::BadRequest
                    };
                    closer.close(why);
                }
            },
        }
    }
    connection.leave();
    drop(connection);
    if tokio::time::timeout(CLOSE_GRACE, &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
}

/// Sends queued replies in batches (JSON: newline-joined in a text frame;
/// Protobuf: length-delimited messages in a binary frame) until the
/// connection is closed; then the close frame with the disconnect code.
async fn write(
    mut sink: SplitSink<WebSocket, Message>,
    format: Format,
    mut outgoing: mpsc::Receiver<Arc<Outgoing>>,
    closer: Arc<Closer>,
) {
    loop {
        tokio::select! {
            biased;
            _ = closer.closed() => break,
            frame = outgoing.recv() => {
                let Some(first) = frame else { break };
                let mut batch = Vec::new();
                let mut next = Some(first);
                while let Some(reply) = next.take() {
                    let Some(encoded) = reply.encoded(format) else {
                        closer.close(Disconnect::InappropriateProtocol);
                        break;
                    };
                    if format == Format::Json && !batch.is_empty() {
                        batch.push(b'\n');
                    }
                    batch.extend_from_slice(encoded);
                    if batch.len() < BATCH_BYTES {
                        next = outgoing.try_recv().ok();
                    }
                }
                if closer.reason().is_some() {
                    break;
                }
                let message = match format {
                    Format::Protobuf => Message::Binary(batch.into()),
                    // serde_json writes UTF-8.
                    Format::Json => match Utf8Bytes::try_from(batch) {
                        Ok(text) => Message::Text(text),
                        Err(_) => {
                            closer.close(Disconnect::InappropriateProtocol);
                            break;
                        }
                    },
                };
                if sink.send(message).await.is_err() {
                    closer.close(Disconnect::ServerError);
                    return;
                }
            }
        }
    }
    if let Some(why) = closer.reason() {
        let frame = CloseFrame {
            code: why.code(),
            reason: Utf8Bytes::from_static(why.reason()),
        };
        let _ = sink.send(Message::Close(Some(frame))).await;
    }
    let _ = sink.close().await;
}

struct Connection {
    gateway: Arc<Gateway>,
    format: Format,
    cookie: Option<String>,
    queue: mpsc::Sender<Arc<Outgoing>>,
    closer: Arc<Closer>,
    client: Option<ClientHandle>,
    /// Channels this connection subscribed to (for clean-up; the hub may
    /// have removed some server-side already).
    subscribed: HashSet<String>,
    /// Stale before connect; credentials' expiry plus the grace after.
    deadline: Instant,
    awaiting_pong: bool,
    /// What this connection may still publish (typing) before it must wait.
    publications: Bucket,
}

/// The typing rule's rate (`domain::typing`), as a token bucket's numbers.
const PUBLISH_BURST: f64 = typing::BURST as f64;
const PUBLISH_PER_SECOND: f64 = typing::PER_SECOND as f64;

/// A token bucket: `PUBLISH_BURST` at once, then `PUBLISH_PER_SECOND`.
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full() -> Self {
        Self {
            tokens: PUBLISH_BURST,
            at: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * PUBLISH_PER_SECOND;
        self.tokens = (self.tokens + refill).min(PUBLISH_BURST);
        self.at = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

impl Connection {
    fn ping(&mut self) {
        if self.awaiting_pong {
            self.closer.close(Disconnect::NoPong);
        } else {
            self.awaiting_pong = true;
            // The empty reply.
            self.send(Reply::default());
        }
    }

    fn send(&self, reply: Reply) {
        let frame = Outgoing::new(reply);
        match &self.client {
            Some(client) => {
                client.deliver(frame);
            }
            // Before connect nothing else writes; a full queue means a client
            // flooding commands without reading.
            None => {
                if self.queue.try_send(frame).is_err() {
                    self.closer.close(Disconnect::Slow);
                }
            }
        }
    }

    fn error(&self, id: u32, code: ErrorCode) {
        self.send(protocol::error_reply(id, code));
    }

    /// Handles every command of one frame, in order; a frame without any
    /// is a bad request, as in Centrifugo.
    async fn frame(&mut self, frame: &[u8]) {
        let mut handled = 0;
        for command in protocol::commands(self.format, frame) {
            if self.closer.reason().is_some() {
                return;
            }
            let Ok(command) = command else {
                return self.closer.close(Disconnect::BadRequest);
            };
            handled += 1;
            let id = command.id;
            match command.method() {
                Ok(method) => self.handle(id, method).await,
                Err(BadCommand::UnknownMethod) => self.error(id, ErrorCode::MethodNotFound),
                Err(BadCommand::Malformed(_)) => self.closer.close(Disconnect::BadRequest),
            }
        }
        if handled == 0 {
            self.closer.close(Disconnect::BadRequest);
        }
    }

    async fn handle(&mut self, id: u32, method: Method) {
        let connected = self.client.is_some();
        match method {
            Method::Connect(request) if !connected => self.connect(id, request).await,
            Method::Pong => self.awaiting_pong = false,
            // Nothing but connect is allowed before connect, and connect only once.
            _ if !connected => self.closer.close(Disconnect::BadRequest),
            Method::Connect(_) => self.closer.close(Disconnect::BadRequest),
            Method::Subscribe(request) => self.subscribe(id, request).await,
            Method::Unsubscribe(request) => self.unsubscribe(id, request),
            Method::History(request) => self.history(id, request),
            Method::Refresh(request) => self.refresh(id, request).await,
            Method::Publish(request) => self.publish(id, request),
            Method::Presence(request) => self.presence(id, request, false).await,
            Method::PresenceStats(request) => self.presence(id, request, true).await,
            Method::NotAvailable(_) => self.error(id, ErrorCode::NotAvailable),
            Method::Send => {}
        }
    }

    /// Who the credentials name, or the reply that refuses them.
    async fn identify(&self, id: u32, token: &str) -> Option<Identity> {
        let token = match (token.is_empty(), &self.cookie) {
            (false, _) => token,
            (true, Some(cookie)) => cookie.as_str(),
            (true, None) => {
                self.error(id, ErrorCode::Unauthorized);
                return None;
            }
        };
        match self.gateway.identify(token).await {
            Ok(identity) => Some(identity),
            Err(Refusal::Token(TokenError::Expired)) => {
                self.error(id, ErrorCode::TokenExpired);
                None
            }
            Err(Refusal::Token(TokenError::Invalid)) => {
                self.closer.close(Disconnect::InvalidToken);
                None
            }
            Err(Refusal::AccountClosed) => {
                self.error(id, ErrorCode::Unauthorized);
                None
            }
            Err(Refusal::Unavailable) => {
                self.error(id, ErrorCode::Internal);
                None
            }
        }
    }

    async fn connect(&mut self, id: u32, mut request: ConnectRequest) {
        let Some(identity) = self.identify(id, &request.token).await else {
            return;
        };
        let client = ClientHandle::new(
            self.gateway.next_client_id(),
            identity.user,
            self.queue.clone(),
            self.closer.clone(),
        );
        self.deadline = self.gateway.close_at(identity.expires);
        let personal = channels::personal(identity.user);
        let recover = request
            .subs
            .remove(&personal)
            .filter(|s| s.recover)
            .map(|s| StreamPosition {
                offset: s.offset,
                epoch: s.epoch,
            });
        let result = ConnectResult {
            client: self.gateway.client_uuid(client.id),
            version: env!("CARGO_PKG_VERSION").into(),
            expires: true,
            ttl: self.gateway.ttl(identity.expires),
            subs: Default::default(),
            ping: u32::try_from(self.gateway.config.ping_interval_seconds).unwrap_or(u32::MAX),
            pong: true,
            node: self.gateway.node.clone(),
        };
        // The personal channel is subscribed server-side, its state inside the reply.
        let subscribed = self
            .gateway
            .hub
            .subscribe(&personal, &client, recover.as_ref(), |sub| {
                let mut result = result;
                result.subs.insert(personal.clone(), sub.result());
                Reply {
                    id,
                    connect: Some(result),
                    ..Reply::default()
                }
            });
        if subscribed.is_ok() {
            self.subscribed.insert(personal);
        }
        self.client = Some(client);
        metrics::gauge!("harmony_gateway_connections").increment(1.0);
    }

    async fn subscribe(&mut self, id: u32, request: SubscribeRequest) {
        let Some(client) = self.client.clone() else {
            return;
        };
        let allowed = match Channel::parse(&request.channel) {
            None => return self.error(id, ErrorCode::UnknownChannel),
            Some(Channel::Personal(user)) => Ok(user == client.user),
            Some(Channel::Chat(chat)) => self.gateway.is_member(chat, client.user).await,
        };
        match allowed {
            Ok(true) => {}
            Ok(false) => return self.error(id, ErrorCode::PermissionDenied),
            Err(()) => return self.error(id, ErrorCode::Internal),
        }
        let recover = request.recover.then(|| StreamPosition {
            offset: request.offset,
            epoch: request.epoch.clone(),
        });
        let subscribed =
            self.gateway
                .hub
                .subscribe(&request.channel, &client, recover.as_ref(), |sub| Reply {
                    id,
                    subscribe: Some(sub.result()),
                    ..Reply::default()
                });
        match subscribed {
            Ok(()) => {
                if let Some(Channel::Chat(_)) = Channel::parse(&request.channel) {
                    let present = self.gateway.present(&client);
                    self.gateway.presence.joined(&request.channel, present);
                }
                self.subscribed.insert(request.channel);
            }
            Err(code) => self.error(id, code),
        }
    }

    fn unsubscribe(&mut self, id: u32, request: ChannelRequest) {
        if let Some(client) = &self.client {
            if self.gateway.hub.unsubscribe(&request.channel, client.id) {
                let id = self.gateway.client_uuid(client.id);
                self.gateway.presence.left(&request.channel, &id);
            }
            self.subscribed.remove(&request.channel);
        }
        self.send(Reply {
            id,
            unsubscribe: Some(Empty {}),
            ..Reply::default()
        });
    }

    /// Whether the connection is subscribed to `channel`, a chat channel
    /// (only those have presence and client publications); else the error.
    fn on_chat(&self, channel: &str) -> Result<&ClientHandle, ErrorCode> {
        let client = self.client.as_ref().ok_or(ErrorCode::PermissionDenied)?;
        match Channel::parse(channel) {
            Some(Channel::Chat(_)) if self.gateway.hub.is_subscribed(channel, client.id) => {
                Ok(client)
            }
            Some(Channel::Chat(_)) => Err(ErrorCode::PermissionDenied),
            Some(Channel::Personal(_)) => Err(ErrorCode::NotAvailable),
            None => Err(ErrorCode::UnknownChannel),
        }
    }

    /// A subscriber says whether they are typing: to every subscriber, not
    /// kept. Anything else is refused; over the rate nothing is sent.
    fn publish(&mut self, id: u32, request: PublishRequest) {
        let client = match self.on_chat(&request.channel) {
            Ok(client) => client.clone(),
            Err(code) => return self.error(id, code),
        };
        if !is_typing(&request.data) {
            return self.error(id, ErrorCode::BadRequest);
        }
        if !self.publications.take() {
            return self.error(id, ErrorCode::TooManyRequests);
        }
        let present = self.gateway.present(&client);
        self.gateway
            .presence
            .publish(&request.channel, present, request.data);
        self.send(Reply {
            id,
            publish: Some(Empty {}),
            ..Reply::default()
        });
    }

    /// Who is on a chat channel now, on every instance (or how many).
    async fn presence(&self, id: u32, request: ChannelRequest, stats: bool) {
        if let Err(code) = self.on_chat(&request.channel) {
            return self.error(id, code);
        }
        let present = match self.gateway.presence.list(&request.channel).await {
            Ok(present) => present,
            Err(error) => {
                tracing::warn!(%error, "gateway: cannot read presence");
                return self.error(id, ErrorCode::Internal);
            }
        };
        let reply = if stats {
            let users: HashSet<&str> = present.iter().map(|p| p.user.as_str()).collect();
            Reply {
                id,
                presence_stats: Some(PresenceStatsResult {
                    num_clients: u32::try_from(present.len()).unwrap_or(u32::MAX),
                    num_users: u32::try_from(users.len()).unwrap_or(u32::MAX),
                }),
                ..Reply::default()
            }
        } else {
            let presence = present
                .into_iter()
                .map(|p| {
                    let info = ClientInfo {
                        user: p.user,
                        client: p.client.clone(),
                    };
                    (p.client, info)
                })
                .collect();
            Reply {
                id,
                presence: Some(PresenceResult { presence }),
                ..Reply::default()
            }
        };
        self.send(reply);
    }

    fn history(&self, id: u32, request: HistoryRequest) {
        let Some(client) = &self.client else { return };
        let found = self.gateway.hub.history(
            &request.channel,
            client.id,
            request.limit,
            request.since.as_ref(),
            request.reverse,
        );
        match found {
            Ok((publications, position)) => self.send(Reply {
                id,
                history: Some(HistoryResult {
                    publications,
                    epoch: position.epoch,
                    offset: position.offset,
                }),
                ..Reply::default()
            }),
            Err(code) => self.error(id, code),
        }
    }

    /// A fresh token for the same user extends the connection.
    async fn refresh(&mut self, id: u32, request: RefreshRequest) {
        let Some(user) = self.client.as_ref().map(|c| c.user) else {
            return;
        };
        if request.token.is_empty() {
            return self.error(id, ErrorCode::BadRequest);
        }
        let Some(identity) = self.identify(id, &request.token).await else {
            return;
        };
        if identity.user != user {
            return self.closer.close(Disconnect::InvalidToken);
        }
        self.deadline = self.gateway.close_at(identity.expires);
        let client = self
            .client
            .as_ref()
            .map(|c| self.gateway.client_uuid(c.id))
            .unwrap_or_default();
        self.send(Reply {
            id,
            refresh: Some(RefreshResult {
                client,
                version: env!("CARGO_PKG_VERSION").into(),
                expires: true,
                ttl: self.gateway.ttl(identity.expires),
            }),
            ..Reply::default()
        });
    }

    fn leave(&mut self) {
        if let Some(client) = self.client.take() {
            let id = self.gateway.client_uuid(client.id);
            for channel in self.gateway.hub.remove_client(client.id, &self.subscribed) {
                self.gateway.presence.left(channel, &id);
            }
            metrics::gauge!("harmony_gateway_connections").decrement(1.0);
        }
    }
}

/// `GET /connection/websocket`: the upgrade that starts a connection.
pub async fn upgrade(
    State(gateway): State<Arc<Gateway>>,
    uri: Uri,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let upgrade = upgrade.protocols(protocol::SUBPROTOCOLS);
    let subprotocol = upgrade.selected_protocol().and_then(|p| p.to_str().ok());
    let format = Format::choose(uri.query(), subprotocol);
    let cookie = CookieJar::from_headers(&headers)
        .get(&gateway.access_cookie)
        .map(|c| c.value().to_owned());
    let limit = gateway.config.max_frame_bytes;
    let tracker = gateway.connections.clone();
    upgrade
        .max_frame_size(limit)
        .max_message_size(limit)
        // Small buffers keep an idle connection cheap; they grow when needed.
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .on_upgrade(move |socket| tracker.track_future(serve(gateway, socket, format, cookie)))
}
