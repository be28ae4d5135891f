//! The broker against librdkafka, the client every Harmony role uses:
//! produce, consume in a group, rebalance, and a restart on the same data.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{collections::BTreeSet, time::Duration};

use harmony_broker::{Config, Running, log::Retention};
use rdkafka::{
    ClientConfig, Message, Offset, TopicPartitionList,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{CommitMode, Consumer, StreamConsumer},
    producer::{FutureProducer, FutureRecord},
};

async fn start(dir: &std::path::Path, listen: &str) -> Running {
    harmony_broker::start(Config {
        listen: listen.parse().unwrap(),
        advertised_host: None,
        data_dir: dir.to_owned(),
        segment_bytes: 64 * 1024,
        retention: Retention { ms: -1, bytes: -1 },
        auto_create_topics: false,
    })
    .await
    .unwrap()
}

async fn create_topic(address: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", address)
        .create()
        .unwrap();
    let results = admin
        .create_topics(
            &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    // Creating it again is refused, as Kafka does.
    let again = admin
        .create_topics(
            &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    assert!(again[0].is_err(), "{again:?}");
}

/// The app's producer settings: idempotent, acks=all.
async fn produce(address: &str, topic: &str, values: impl Iterator<Item = u32>) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", address)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "2")
        .create()
        .unwrap();
    let sends = values.map(|v| {
        let producer = producer.clone();
        async move {
            let (key, payload) = ((v % 7).to_string(), v.to_string());
            producer
                .send(
                    FutureRecord::to(topic).key(&key).payload(&payload),
                    Duration::from_secs(10),
                )
                .await
                .map_err(|(e, _)| e)
                .unwrap();
        }
    });
    futures::future::join_all(sends).await;
}

fn member(address: &str, group: &str, topic: &str) -> StreamConsumer {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", address)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("fetch.wait.max.ms", "100")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    consumer
}

/// Receives `count` records, committing each one's offset as processed.
async fn consume(consumer: &StreamConsumer, count: usize) -> Vec<u32> {
    let mut values = Vec::new();
    while values.len() < count {
        let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .expect("no record in 30 s")
            .unwrap();
        values.push(
            std::str::from_utf8(message.payload().unwrap())
                .unwrap()
                .parse()
                .unwrap(),
        );
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset(
                message.topic(),
                message.partition(),
                Offset::Offset(message.offset() + 1),
            )
            .unwrap();
        consumer.commit(&offsets, CommitMode::Sync).unwrap();
    }
    values
}

/// Closing a consumer can block (librdkafka); never on the runtime.
fn drop_detached(consumer: StreamConsumer) {
    std::thread::spawn(move || drop(consumer));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_resumes_at_its_committed_offsets_after_a_broker_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), "127.0.0.1:0").await;
    let address = broker.address.to_string();
    create_topic(&address, "messages", 3).await;
    produce(&address, "messages", 0..600).await;

    let first = member(&address, "sink", "messages");
    let mut seen = consume(&first, 250).await;
    drop_detached(first);
    broker.shutdown.cancel();
    broker.done.await.unwrap();

    // Same port, same data: clients reconnect to where they were.
    let broker = start(dir.path(), &address).await;
    produce(&address, "messages", 600..700).await;
    let second = member(&address, "sink", "messages");
    seen.extend(consume(&second, 450).await);
    let unique: BTreeSet<u32> = seen.iter().copied().collect();
    assert_eq!(seen.len(), 700, "a record came twice");
    assert_eq!(unique, (0..700).collect());
    drop_detached(second);
    broker.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_member_takes_over_half_of_the_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), "127.0.0.1:0").await;
    let address = broker.address.to_string();
    create_topic(&address, "events", 4).await;
    produce(&address, "events", 0..40).await;

    let first = member(&address, "cdc", "events");
    consume(&first, 40).await;
    assert_eq!(first.assignment().unwrap().count(), 4);
    let second = member(&address, "cdc", "events");
    // The first member learns of the rebalance on a heartbeat and rejoins;
    // both must keep polling for the join round to complete.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while second.assignment().unwrap().count() != 2 || first.assignment().unwrap().count() != 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "partitions were never split 2/2"
        );
        tokio::select! {
            _ = first.recv() => {}
            _ = second.recv() => {}
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
    drop_detached(first);
    drop_detached(second);
    broker.shutdown.cancel();
}

/// librdkafka retries UNSUPPORTED_VERSION on InitProducerId, so
/// `init_transactions()` blocked for its whole timeout (forever by default).
/// TRANSACTIONAL_ID_AUTHORIZATION_FAILED is fatal to it: the call fails at
/// once. Answering UNSUPPORTED_VERSION again in `init_producer_id` makes this
/// fail (the call times out after 20 s instead).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_transactions_fails_at_once_with_a_fatal_error() {
    use rdkafka::{
        error::{KafkaError, RDKafkaErrorCode},
        producer::{BaseProducer, Producer},
    };
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), "127.0.0.1:0").await;
    let address = broker.address.to_string();
    let started = std::time::Instant::now();
    let result = tokio::task::spawn_blocking(move || {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &address)
            .set("transactional.id", "refused")
            .create()
            .unwrap();
        producer.init_transactions(Duration::from_secs(20))
    })
    .await
    .unwrap();
    let Err(KafkaError::Transaction(error)) = result else {
        panic!("init_transactions did not fail as a transaction error: {result:?}");
    };
    assert!(error.is_fatal(), "{error:?}");
    assert_eq!(
        error.code(),
        RDKafkaErrorCode::TransactionalIdAuthorizationFailed
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    broker.shutdown.cancel();
}
