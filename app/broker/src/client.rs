//! A minimal Kafka client for the broker's own command line: the readiness
//! probe and the topic commands the scripts use (no Kafka CLI runs here).

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::{
    messages::{
        DeleteTopicsRequest, MetadataRequest, MetadataResponse, RequestHeader, ResponseHeader,
        TopicName, delete_topics_response::DeleteTopicsResponse,
    },
    protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

pub struct Client {
    stream: TcpStream,
    correlation_id: i32,
}

impl Client {
    pub async fn connect(address: &str, timeout: Duration) -> anyhow::Result<Self> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(address))
            .await
            .map_err(|_| anyhow::anyhow!("no connection to {address} within {timeout:?}"))??;
        Ok(Self {
            stream,
            correlation_id: 0,
        })
    }

    async fn call<R: Request>(&mut self, request: &R, version: i16) -> anyhow::Result<R::Response> {
        self.correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("harmony-broker-cli")));
        let mut out = BytesMut::new();
        out.put_u32(0);
        header.encode(&mut out, R::header_version(version))?;
        request.encode(&mut out, version)?;
        let size = u32::try_from(out.len() - 4)?;
        out[0..4].copy_from_slice(&size.to_be_bytes());
        self.stream.write_all(&out).await?;
        let size = self.stream.read_u32().await? as usize;
        let mut reply = BytesMut::zeroed(size);
        self.stream.read_exact(&mut reply).await?;
        let mut reply: Bytes = reply.freeze();
        let header = ResponseHeader::decode(&mut reply, R::Response::header_version(version))?;
        anyhow::ensure!(
            header.correlation_id == self.correlation_id,
            "reply to another request"
        );
        R::Response::decode(&mut reply, version)
    }

    pub async fn metadata(&mut self) -> anyhow::Result<MetadataResponse> {
        self.call(&MetadataRequest::default().with_topics(None), 4)
            .await
    }

    pub async fn topics(&mut self) -> anyhow::Result<Vec<String>> {
        let metadata = self.metadata().await?;
        Ok(metadata
            .topics
            .into_iter()
            .filter_map(|t| t.name.map(|n| n.as_str().to_owned()))
            .collect())
    }

    pub async fn delete_topics(
        &mut self,
        names: &[String],
    ) -> anyhow::Result<DeleteTopicsResponse> {
        let names = names
            .iter()
            .map(|n| TopicName(StrBytes::from_string(n.clone())))
            .collect();
        self.call(
            &DeleteTopicsRequest::default()
                .with_topic_names(names)
                .with_timeout_ms(10_000),
            4,
        )
        .await
    }
}
