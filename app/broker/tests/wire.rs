//! The broker answering raw Kafka frames, as a client nobody here wrote
//! would send them: each test is the exact reproduction of one refusal or
//! answer Apache Kafka 3.x gives for the same request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use common::Served;
use harmony_broker::{Config, Limits, Running, log::Retention};
use kafka_protocol::{
    messages::{
        DescribeGroupsRequest, FindCoordinatorRequest, GroupId, ListGroupsRequest,
        ListOffsetsRequest, MetadataRequest, OffsetCommitRequest, ProduceRequest, RequestHeader,
        ResponseHeader, TopicName,
        list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic},
        metadata_request::MetadataRequestTopic,
        offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic},
        produce_request::{PartitionProduceData, TopicProduceData},
    },
    protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes},
    records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

fn config(dir: &std::path::Path, listen: &str) -> Config {
    Config {
        listen: listen.parse().unwrap(),
        advertised_host: None,
        data_dir: dir.to_owned(),
        segment_bytes: 64 * 1024,
        retention: Retention { ms: -1, bytes: -1 },
        auto_create_topics: false,
    }
}

async fn start(dir: &std::path::Path) -> Running {
    harmony_broker::start(config(dir, "127.0.0.1:0"))
        .await
        .unwrap()
}

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_owned())
}

/// Sends one request and returns the decoded reply (an error when the broker
/// closes the connection instead of answering).
async fn call<R: Request>(
    stream: &mut TcpStream,
    request: &R,
    version: i16,
) -> anyhow::Result<R::Response> {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(s("wire-test")));
    let mut out = BytesMut::new();
    out.put_u32(0);
    header.encode(&mut out, R::header_version(version))?;
    request.encode(&mut out, version)?;
    let size = u32::try_from(out.len() - 4)?;
    out[0..4].copy_from_slice(&size.to_be_bytes());
    stream.write_all(&out).await?;
    let size = stream.read_u32().await? as usize;
    let mut reply = BytesMut::zeroed(size);
    stream.read_exact(&mut reply).await?;
    let mut reply: Bytes = reply.freeze();
    let header = ResponseHeader::decode(&mut reply, R::Response::header_version(version))?;
    anyhow::ensure!(header.correlation_id == 7, "reply to another request");
    R::Response::decode(&mut reply, version)
}

async fn connect(running: &Running) -> TcpStream {
    TcpStream::connect(running.address).await.unwrap()
}

async fn create_topic(stream: &mut TcpStream, name: &str, partitions: i32) {
    use kafka_protocol::messages::{CreateTopicsRequest, create_topics_request::CreatableTopic};
    let response = call(
        stream,
        &CreateTopicsRequest::default()
            .with_topics(vec![
                CreatableTopic::default()
                    .with_name(TopicName(s(name)))
                    .with_num_partitions(partitions)
                    .with_replication_factor(1),
            ])
            .with_timeout_ms(5000),
        5,
    )
    .await
    .unwrap();
    assert_eq!(response.topics[0].error_code, 0, "{response:?}");
}

/// Reads until the peer closes; panics if it has not within `within`.
async fn assert_closed(stream: &mut TcpStream, within: Duration) {
    let mut rest = Vec::new();
    let read = tokio::time::timeout(within, stream.read_to_end(&mut rest)).await;
    assert!(
        read.is_ok(),
        "the broker kept the connection open for {within:?}"
    );
}

/// Without the v4 branch in `find_coordinator` (setting the v0-3 fields on a
/// v4 answer, as before), the encoder refuses the reply and the connection
/// drops: this test fails with "early eof".
#[tokio::test]
async fn find_coordinator_v4_answers_every_batched_key() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let mut stream = connect(&broker).await;
    let response = call(
        &mut stream,
        &FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(vec![s("group-a"), s("group-b")]),
        4,
    )
    .await
    .unwrap();
    let keys: Vec<&str> = response
        .coordinators
        .iter()
        .map(|c| c.key.as_str())
        .collect();
    assert_eq!(keys, ["group-a", "group-b"]);
    for coordinator in &response.coordinators {
        assert_eq!(coordinator.error_code, 0);
        assert_eq!(coordinator.node_id.0, 1);
        assert_eq!(coordinator.host.as_str(), "127.0.0.1");
        assert_eq!(coordinator.port, i32::from(broker.address.port()));
    }
    // v3 still answers in the single-key fields.
    let response = call(
        &mut stream,
        &FindCoordinatorRequest::default().with_key(s("group-a")),
        3,
    )
    .await
    .unwrap();
    assert_eq!(
        (response.error_code, response.node_id.0, response.port),
        (0, 1, i32::from(broker.address.port()))
    );
    broker.shutdown.cancel();
}

/// 20 bytes that made kafka-protocol 0.18.0 pre-allocate an array of 2^31-1
/// topics (154 GB): the process aborted. With the unpatched crate (remove the
/// `[patch.crates-io]` entry of the workspace) the broker dies and this fails.
#[tokio::test]
async fn a_request_claiming_two_billion_entries_is_refused_and_the_broker_lives() {
    let dir = tempfile::tempdir().unwrap();
    let mut served = Served::start(dir.path(), &[]);
    // Metadata v1: header (key 3, version 1, correlation 1, null client id),
    // then a topics array claiming i32::MAX entries and nothing after it.
    let mut v1 = vec![0, 0, 0, 14, 0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xff];
    v1.extend_from_slice(&i32::MAX.to_be_bytes());
    // Metadata v9 (flexible): a compact array whose varint length is u32::MAX.
    let mut v9 = vec![0, 3, 0, 9, 0, 0, 0, 1, 0xff, 0xff, 0];
    v9.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    let mut v9_frame = (v9.len() as u32).to_be_bytes().to_vec();
    v9_frame.extend(v9);
    for frame in [v1, v9_frame] {
        let mut stream = TcpStream::connect(&served.address).await.unwrap();
        stream.write_all(&frame).await.unwrap();
        assert_closed(&mut stream, Duration::from_secs(5)).await;
        assert!(served.alive(), "the broker died on {frame:?}");
        // And it still answers.
        let mut stream = TcpStream::connect(&served.address).await.unwrap();
        let metadata = call(
            &mut stream,
            &MetadataRequest::default().with_topics(None),
            4,
        )
        .await
        .unwrap();
        assert_eq!(metadata.brokers.len(), 1);
    }
}

/// A size prefix over `--max-request-bytes` closes the connection without
/// reading (or allocating) the frame. Removing the size check in `connection`
/// makes the broker wait for the 2 MiB that never come: this fails.
#[tokio::test]
async fn a_frame_over_the_size_limit_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let broker = harmony_broker::start_with(
        config(dir.path(), "127.0.0.1:0"),
        Limits {
            max_request_bytes: 1024 * 1024,
            ..Limits::default()
        },
    )
    .await
    .unwrap();
    let mut stream = connect(&broker).await;
    stream
        .write_all(&(2 * 1024 * 1024u32).to_be_bytes())
        .await
        .unwrap();
    assert_closed(&mut stream, Duration::from_secs(2)).await;
    broker.shutdown.cancel();
}

/// Half a frame and then silence: closed after the request timeout. Without
/// the timeout around reading the frame in `connection` this fails: the
/// connection stays open for as long as the client likes.
#[tokio::test]
async fn a_half_sent_frame_is_closed_after_the_request_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let broker = harmony_broker::start_with(
        config(dir.path(), "127.0.0.1:0"),
        Limits {
            request_timeout: Duration::from_millis(300),
            ..Limits::default()
        },
    )
    .await
    .unwrap();
    let mut stream = connect(&broker).await;
    stream.write_all(&[0, 0, 0, 100, 0, 3, 0, 4]).await.unwrap();
    let started = std::time::Instant::now();
    assert_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(started.elapsed() >= Duration::from_millis(250));
    // An idle connection (no frame begun) is not a half-sent frame: it stays.
    let mut idle = connect(&broker).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let metadata = call(&mut idle, &MetadataRequest::default().with_topics(None), 4)
        .await
        .unwrap();
    assert_eq!(metadata.brokers.len(), 1);
    broker.shutdown.cancel();
}

/// Kafka's AclOperation codes, as bits of the authorized-operations field.
const fn bits(operations: &[u8]) -> i32 {
    let mut set = 0i32;
    let mut i = 0;
    while i < operations.len() {
        set |= 1 << operations[i];
        i += 1;
    }
    set
}

/// Without the `authorized_operations` answers in `metadata` and
/// `describe_groups`, a client that asks gets INT32_MIN, read as bit 31 (no
/// operation has that code): kafka-python's admin crashed on it.
#[tokio::test]
async fn authorized_operations_are_answered_when_asked_and_int32_min_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let mut stream = connect(&broker).await;
    create_topic(&mut stream, "ops", 1).await;
    let wanted = Some(vec![
        MetadataRequestTopic::default().with_name(Some(TopicName(s("ops")))),
    ]);
    let asked = call(
        &mut stream,
        &MetadataRequest::default()
            .with_topics(wanted.clone())
            .with_include_cluster_authorized_operations(true)
            .with_include_topic_authorized_operations(true),
        8,
    )
    .await
    .unwrap();
    // READ WRITE CREATE DELETE ALTER DESCRIBE DESCRIBE_CONFIGS ALTER_CONFIGS
    assert_eq!(
        asked.topics[0].topic_authorized_operations,
        bits(&[3, 4, 5, 6, 7, 8, 10, 11])
    );
    // CREATE ALTER DESCRIBE CLUSTER_ACTION DESCRIBE_CONFIGS ALTER_CONFIGS IDEMPOTENT_WRITE
    assert_eq!(
        asked.cluster_authorized_operations,
        bits(&[5, 7, 8, 9, 10, 11, 12])
    );
    let not_asked = call(
        &mut stream,
        &MetadataRequest::default().with_topics(wanted),
        8,
    )
    .await
    .unwrap();
    assert_eq!(not_asked.topics[0].topic_authorized_operations, i32::MIN);
    assert_eq!(not_asked.cluster_authorized_operations, i32::MIN);

    let groups = |include| {
        DescribeGroupsRequest::default()
            .with_groups(vec![GroupId(s("nobody"))])
            .with_include_authorized_operations(include)
    };
    let asked = call(&mut stream, &groups(true), 3).await.unwrap();
    // READ DELETE DESCRIBE
    assert_eq!(asked.groups[0].authorized_operations, bits(&[3, 6, 8]));
    let not_asked = call(&mut stream, &groups(false), 3).await.unwrap();
    assert_eq!(not_asked.groups[0].authorized_operations, i32::MIN);
    broker.shutdown.cancel();
}

/// One v2 batch whose records carry `timestamps`.
fn batch(timestamps: &[i64]) -> Bytes {
    let records: Vec<Record> = timestamps
        .iter()
        .enumerate()
        .map(|(i, timestamp)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: -1,
            timestamp: *timestamp,
            key: None,
            value: Some(Bytes::from_static(b"v")),
            headers: Default::default(),
        })
        .collect();
    let mut out = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut out,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    out.freeze()
}

/// One batch of producer `producer_id` (epoch 0), sequences from `sequence`.
fn idempotent_batch(producer_id: i64, sequence: i32, count: usize) -> Bytes {
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch: 0,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: sequence + i as i32,
            timestamp: 1,
            key: None,
            value: Some(Bytes::from_static(b"v")),
            headers: Default::default(),
        })
        .collect();
    let mut out = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut out,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    out.freeze()
}

async fn produce(stream: &mut TcpStream, topic: &str, records: Bytes) -> i64 {
    let (error, offset) = produce_answer(stream, topic, records).await;
    assert_eq!(error, 0);
    offset
}

/// (error code, base offset) of a produce to partition 0.
async fn produce_answer(stream: &mut TcpStream, topic: &str, records: Bytes) -> (i16, i64) {
    let response = call(
        stream,
        &ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(TopicName(s(topic)))
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(records)),
                    ]),
            ]),
        7,
    )
    .await
    .unwrap();
    let partition = &response.responses[0].partition_responses[0];
    (partition.error_code, partition.base_offset)
}

/// (error, offset, timestamp) for one timestamp spec.
async fn offset_for(stream: &mut TcpStream, topic: &str, at: i64, version: i16) -> (i16, i64, i64) {
    let response = call(
        stream,
        &ListOffsetsRequest::default()
            .with_replica_id(kafka_protocol::messages::BrokerId(-1))
            .with_topics(vec![
                ListOffsetsTopic::default()
                    .with_name(TopicName(s(topic)))
                    .with_partitions(vec![
                        ListOffsetsPartition::default()
                            .with_partition_index(0)
                            .with_timestamp(at),
                    ]),
            ]),
        version,
    )
    .await
    .unwrap();
    let p = &response.topics[0].partitions[0];
    (p.error_code, p.offset, p.timestamp)
}

/// Removing the record scan in `PartitionLog::offset_for_time` (back to
/// segment write times) makes this fail: every time inside the segment
/// answered offset 0, a time past the end a real-looking offset, and -3 the
/// end of the log.
#[tokio::test]
async fn list_offsets_by_timestamp_answers_as_kafka_does() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let mut stream = connect(&broker).await;
    create_topic(&mut stream, "times", 1).await;
    // Offsets 0-2 at 1000, 1100, 1200; 3-4 at 2000, 5000; 5 at 3000.
    assert_eq!(
        produce(&mut stream, "times", batch(&[1000, 1100, 1200])).await,
        0
    );
    assert_eq!(produce(&mut stream, "times", batch(&[2000, 5000])).await, 3);
    assert_eq!(produce(&mut stream, "times", batch(&[3000])).await, 5);
    macro_rules! at {
        ($time:expr, $version:expr) => {
            offset_for(&mut stream, "times", $time, $version)
        };
    }
    assert_eq!(at!(0, 7).await, (0, 0, 1000));
    assert_eq!(at!(1100, 7).await, (0, 1, 1100));
    assert_eq!(at!(1150, 7).await, (0, 2, 1200));
    assert_eq!(at!(1500, 7).await, (0, 3, 2000));
    assert_eq!(at!(2500, 7).await, (0, 4, 5000));
    // Past every record: no offset, as Kafka answers.
    assert_eq!(at!(6000, 7).await, (0, -1, -1));
    // -1 latest, -2 earliest, -3 the record with the largest timestamp.
    assert_eq!(at!(-1, 7).await, (0, 6, -1));
    assert_eq!(at!(-2, 7).await, (0, 0, -1));
    assert_eq!(at!(-3, 7).await, (0, 4, 5000));
    // -3 needs v7 (KIP-734): older versions are refused, not guessed.
    assert_eq!(at!(-3, 6).await.0, 35, "UNSUPPORTED_VERSION");
    broker.shutdown.cancel();
}

/// Without the committed-offsets fallback in `describe_groups`, a group known
/// only by its offsets (after a restart) was "Dead" in DescribeGroups while
/// ListGroups listed it "Empty".
#[tokio::test]
async fn a_group_with_committed_offsets_is_empty_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let address = broker.address.to_string();
    let mut stream = connect(&broker).await;
    create_topic(&mut stream, "kept", 1).await;
    let commit = call(
        &mut stream,
        &OffsetCommitRequest::default()
            .with_group_id(GroupId(s("resumer")))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s("kept")))
                    .with_partitions(vec![
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(0),
                    ]),
            ]),
        8,
    )
    .await
    .unwrap();
    assert_eq!(commit.topics[0].partitions[0].error_code, 0);
    drop(stream);
    broker.shutdown.cancel();
    broker.done.await.unwrap();

    let broker = harmony_broker::start(config(dir.path(), &address))
        .await
        .unwrap();
    let mut stream = connect(&broker).await;
    let listed = call(&mut stream, &ListGroupsRequest::default(), 4)
        .await
        .unwrap();
    let listed: Vec<(&str, &str)> = listed
        .groups
        .iter()
        .map(|g| (g.group_id.as_str(), g.group_state.as_str()))
        .collect();
    assert_eq!(listed, [("resumer", "Empty")]);
    let described = call(
        &mut stream,
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("resumer"))]),
        5,
    )
    .await
    .unwrap();
    let group = &described.groups[0];
    assert_eq!(group.error_code, 0);
    assert_eq!(group.group_state.as_str(), "Empty");
    assert_eq!(group.protocol_type.as_str(), "consumer");
    assert!(group.members.is_empty());
    // A group that never existed is Dead, as Kafka answers.
    let described = call(
        &mut stream,
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("never"))]),
        5,
    )
    .await
    .unwrap();
    assert_eq!(described.groups[0].group_state.as_str(), "Dead");
    broker.shutdown.cancel();
}

/// Kafka closes the connection on a request it cannot parse: an unknown API
/// key or an unsupported version; ApiVersions alone answers (KIP-511), in v0
/// with UNSUPPORTED_VERSION and the versions it speaks. Removing that branch
/// in `request` makes the last part fail (the connection closes instead).
#[tokio::test]
async fn unknown_apis_and_versions_close_the_connection_but_api_versions_answers() {
    use kafka_protocol::messages::ApiVersionsResponse;
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    // Metadata v13 (not advertised), then API key 999.
    for header in [[0u8, 3, 0, 13], [0x03, 0xe7, 0, 0]] {
        let mut stream = connect(&broker).await;
        let mut frame = vec![0, 0, 0, 10];
        frame.extend_from_slice(&header);
        frame.extend_from_slice(&[0, 0, 0, 1, 0xff, 0xff]);
        stream.write_all(&frame).await.unwrap();
        assert_closed(&mut stream, Duration::from_secs(2)).await;
    }
    let mut stream = connect(&broker).await;
    // ApiVersions v99, correlation id 9.
    stream
        .write_all(&[0, 0, 0, 11, 0, 18, 0, 99, 0, 0, 0, 9, 0xff, 0xff, 0])
        .await
        .unwrap();
    let size = stream.read_u32().await.unwrap() as usize;
    let mut reply = BytesMut::zeroed(size);
    stream.read_exact(&mut reply).await.unwrap();
    let mut reply = reply.freeze();
    let header = ResponseHeader::decode(&mut reply, 0).unwrap();
    assert_eq!(header.correlation_id, 9);
    let versions = ApiVersionsResponse::decode(&mut reply, 0).unwrap();
    assert_eq!(versions.error_code, 35, "UNSUPPORTED_VERSION");
    let find_coordinator = versions.api_keys.iter().find(|k| k.api_key == 10).unwrap();
    assert_eq!(
        (find_coordinator.min_version, find_coordinator.max_version),
        (0, 4)
    );
    broker.shutdown.cancel();
}

/// An 11 MiB Metadata request of 5.5 million empty topic names would decode
/// into 400 MB: requests other than produce are refused past 10 MiB.
/// Removing the `TooLarge` check in `decode_request` makes this fail: the
/// broker decodes it and answers.
#[tokio::test]
async fn a_request_other_than_produce_over_10_mib_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let mut stream = connect(&broker).await;
    let count: i32 = 5_500_000;
    let mut frame = BytesMut::new();
    frame.put_u32(0);
    frame.put_slice(&[0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xff]);
    frame.put_i32(count);
    frame.put_bytes(0, count as usize * 2);
    let size = (frame.len() - 4) as u32;
    frame[0..4].copy_from_slice(&size.to_be_bytes());
    // The broker may close before reading all of it.
    let _ = stream.write_all(&frame).await;
    let mut first = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut first))
        .await
        .expect("no answer and no close within 20 s");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "the broker answered instead of closing"
    );
    broker.shutdown.cancel();
}

/// The produce answers Kafka gives an idempotent producer. Mapping the
/// sequence errors of `append` to UNKNOWN_SERVER_ERROR (or removing the
/// check) makes this fail.
#[tokio::test]
async fn idempotent_produce_answers_sequence_errors_as_kafka_does() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let mut stream = connect(&broker).await;
    create_topic(&mut stream, "seq", 1).await;
    macro_rules! send {
        ($sequence:expr, $count:expr) => {
            produce_answer(&mut stream, "seq", idempotent_batch(5, $sequence, $count))
        };
    }
    assert_eq!(send!(0, 2).await, (0, 0));
    assert_eq!(send!(0, 2).await, (0, 0), "a retry: its original offset");
    assert_eq!(send!(5, 1).await.0, 45, "OUT_OF_ORDER_SEQUENCE_NUMBER");
    for sequence in (2..12).step_by(2) {
        assert_eq!(send!(sequence, 2).await.0, 0);
    }
    assert_eq!(send!(0, 2).await.0, 46, "DUPLICATE_SEQUENCE_NUMBER");
    assert_eq!(send!(12, 1).await, (0, 12));
    broker.shutdown.cancel();
}
