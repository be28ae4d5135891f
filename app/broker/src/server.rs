//! The wire: size-prefixed Kafka frames over TCP. Requests on one connection
//! are answered one at a time, in order, as Kafka brokers do.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::{
    messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind},
    protocol::{Encodable, decode_request_header_from_buffer},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};
use tokio_util::sync::CancellationToken;

use crate::{
    Limits,
    broker::Broker,
    handlers::{self, supported},
};

pub async fn serve(
    broker: Arc<Broker>,
    listener: TcpListener,
    limits: Limits,
    shutdown: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let broker = broker.clone();
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = shutdown.cancelled() => {}
                        result = connection(broker, stream, peer, limits) => {
                            if let Err(error) = result {
                                tracing::debug!(%peer, %error, "connection closed");
                            }
                        }
                    }
                });
            }
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(
    broker: Arc<Broker>,
    stream: TcpStream,
    peer: SocketAddr,
    limits: Limits,
) -> anyhow::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    loop {
        // Idle between requests for as long as the client likes; once a
        // request has begun, all of it must arrive within the timeout.
        let first = match read.read_u8().await {
            Ok(byte) => byte,
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(error) => return Err(error.into()),
        };
        let mut frame: Bytes = tokio::time::timeout(
            limits.request_timeout,
            read_frame(&mut read, first, limits.max_request_bytes),
        )
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "a request began but did not arrive whole within {:?}",
                limits.request_timeout
            )
        })??;
        let Some(reply) = request(&broker, &mut frame, peer).await? else {
            continue;
        };
        write.write_all(&reply).await?;
    }
}

/// The rest of a size-prefixed frame whose first byte was `first`.
async fn read_frame(
    read: &mut (impl AsyncReadExt + Unpin),
    first: u8,
    max_request_bytes: usize,
) -> anyhow::Result<Bytes> {
    let mut rest = [0u8; 3];
    read.read_exact(&mut rest).await?;
    let size = u32::from_be_bytes([first, rest[0], rest[1], rest[2]]) as usize;
    if size > max_request_bytes {
        anyhow::bail!("request of {size} bytes is over the {max_request_bytes}-byte limit");
    }
    // Memory grows with the bytes that arrive, not with the size claimed.
    let mut frame = Vec::with_capacity(size.min(64 * 1024));
    read.take(size as u64).read_to_end(&mut frame).await?;
    if frame.len() < size {
        anyhow::bail!("the connection closed inside a request");
    }
    Ok(Bytes::from(frame))
}

/// Largest request other than a produce. Decoded, a request can take tens
/// of times its wire size (an array of empty strings: 2 bytes each on the
/// wire, 72 in memory), so only produce requests, whose records stay bytes,
/// may use the whole `max_request_bytes`.
pub const MAX_NON_PRODUCE_REQUEST: usize = 10 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error(
        "{key:?} request of {size} bytes: only produce requests may exceed {MAX_NON_PRODUCE_REQUEST} bytes"
    )]
    TooLarge { key: ApiKey, size: usize },
    #[error("a request shorter than its header")]
    Short,
    #[error("unknown API key {0}")]
    UnknownApi(i16),
    #[error("{key:?} v{version} is not supported (client {client:?})")]
    Unsupported {
        key: ApiKey,
        version: i16,
        client: Option<String>,
    },
    #[error("malformed {key:?} v{version} request: {error}")]
    Malformed {
        key: ApiKey,
        version: i16,
        error: anyhow::Error,
    },
}

/// Decodes one request frame (without its size prefix): the header, then
/// the body of a supported API version. Any bytes give a value or an error,
/// never a panic or an abort (the fuzz target in `app/broker/fuzz` checks).
pub fn decode_request(frame: &mut Bytes) -> Result<(RequestHeader, RequestKind), DecodeError> {
    if frame.len() < 8 {
        return Err(DecodeError::Short);
    }
    let raw_key = (&frame[0..2]).get_i16();
    let key = ApiKey::try_from(raw_key).map_err(|_| DecodeError::UnknownApi(raw_key))?;
    let version = (&frame[2..4]).get_i16();
    let malformed = |error| DecodeError::Malformed {
        key,
        version,
        error,
    };
    if key != ApiKey::Produce && frame.len() > MAX_NON_PRODUCE_REQUEST {
        return Err(DecodeError::TooLarge {
            key,
            size: frame.len(),
        });
    }
    let header: RequestHeader = decode_request_header_from_buffer(frame).map_err(malformed)?;
    if !supported(key, version) {
        return Err(DecodeError::Unsupported {
            key,
            version,
            client: header.client_id.map(|c| c.to_string()),
        });
    }
    let body = RequestKind::decode(key, frame, version).map_err(malformed)?;
    Ok((header, body))
}

/// Decodes one request, runs it, and encodes the reply (`None`: the client
/// wants none, as for a produce with acks=0).
async fn request(
    broker: &Broker,
    frame: &mut Bytes,
    peer: SocketAddr,
) -> anyhow::Result<Option<Bytes>> {
    if frame.len() < 8 {
        anyhow::bail!("a request shorter than its header");
    }
    let key = ApiKey::try_from((&frame[0..2]).get_i16())
        .map_err(|_| anyhow::anyhow!("unknown API key"))?;
    let version = (&frame[2..4]).get_i16();
    if key == ApiKey::ApiVersions && !supported(key, version) {
        // KIP-511: answer in v0 with the error, so the client can pick a version.
        let correlation_id = (&frame[4..8]).get_i32();
        let response = handlers::api_versions(true);
        return Ok(Some(encode(
            correlation_id,
            key,
            0,
            &ResponseKind::ApiVersions(response),
        )?));
    }
    let (header, body) = decode_request(frame)?;
    tracing::trace!(%peer, ?key, version, "request");
    let Some(response) = handlers::handle(broker, &header, body).await else {
        return Ok(None);
    };
    Ok(Some(encode(
        header.correlation_id,
        key,
        version,
        &response,
    )?))
}

fn encode(
    correlation_id: i32,
    key: ApiKey,
    version: i16,
    response: &ResponseKind,
) -> anyhow::Result<Bytes> {
    let mut out = BytesMut::new();
    out.put_u32(0);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    header.encode(&mut out, key.response_header_version(version))?;
    response.encode(&mut out, version)?;
    let size = u32::try_from(out.len() - 4)?;
    out[0..4].copy_from_slice(&size.to_be_bytes());
    Ok(out.freeze())
}
