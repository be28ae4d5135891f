//! `TestEnv`: an isolated slice of the local services for one test, removed on drop.

use std::{process::Stdio, time::Duration};

use harmony::{
    config::{Config, Secret},
    store::{dynamodb::ChatHistoryTable, kafka::Admin, postgres, redis},
};
use sqlx::{Connection, PgConnection, PgPool};

pub struct TestEnv {
    pub id: String,
    pub config: Config,
    pub pool: PgPool,
    pub cache: ::redis::aio::ConnectionManager,
    pub admin: Admin,
    pub table: ChatHistoryTable,
    server_url: String,
    database: String,
}

impl TestEnv {
    /// A fresh database (migrated), unique topic names (created) and a unique table (created).
    pub async fn new() -> Self {
        let mut config = Config::load().expect("configuration from the environment");
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let server_url = config.postgres.url.expose().to_owned();
        let database = format!("test_{id}");
        let mut admin_conn = PgConnection::connect(&server_url)
            .await
            .expect("postgres reachable: run scripts/services.sh start");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
            .execute(&mut admin_conn)
            .await
            .expect("create test database");
        config.postgres.url = Secret::new(with_database(&server_url, &database));
        config.postgres.max_connections = 5;
        for topic in [
            &mut config.topics.messages,
            &mut config.topics.chat_events,
            &mut config.topics.user_events,
        ] {
            // Swept by `scripts/services.sh sweep-tests` before the next run, not on drop.
            topic.name = format!("t_{id}_{}", topic.name);
        }
        config.dynamodb.chat_history_table_name = format!("ChatHistory_{id}");

        let pool = postgres::connect(&config.postgres)
            .await
            .expect("connect test database");
        postgres::migrate(&pool).await.expect("migrations apply");
        let cache = redis::connect(&config.redis)
            .await
            .expect("redis reachable");
        let admin = Admin::new(&config.kafka).expect("kafka admin client");
        let topics = config.topics.with_dead_letters();
        admin
            .ensure_topics(&topics.iter().collect::<Vec<_>>())
            .await
            .expect("create topics");
        let table = ChatHistoryTable::new(&config.dynamodb).await;
        table.ensure().await.expect("create table");
        Self {
            id,
            config,
            pool,
            cache,
            admin,
            table,
            server_url,
            database,
        }
    }
}

impl TestEnv {
    /// The settings that point a `harmony` process at this environment's
    /// services, database, table and topics (on top of the test's own
    /// environment, which the process inherits).
    pub fn process_env(&self) -> Vec<(String, String)> {
        let c = &self.config;
        [
            ("POSTGRES__URL", c.postgres.url.expose().to_owned()),
            ("REDIS__URL", c.redis.url.expose().to_owned()),
            (
                "KAFKA__BOOTSTRAP_SERVERS",
                c.kafka.bootstrap_servers.clone(),
            ),
            ("KAFKA__IDEMPOTENCE", c.kafka.idempotence.to_string()),
            ("DYNAMODB__URL", c.dynamodb.url.clone()),
            (
                "DYNAMODB__CHAT_HISTORY_TABLE_NAME",
                c.dynamodb.chat_history_table_name.clone(),
            ),
            ("TOPICS__MESSAGES__NAME", c.topics.messages.name.clone()),
            (
                "TOPICS__CHAT_EVENTS__NAME",
                c.topics.chat_events.name.clone(),
            ),
            (
                "TOPICS__USER_EVENTS__NAME",
                c.topics.user_events.name.clone(),
            ),
            ("HTTP__BIND", "127.0.0.1:0".into()),
            ("RUST_LOG", "warn".into()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
    }
}

/// Replaces the database name of a Postgres URL.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = base.rsplit_once('/').map_or(base, |(prefix, _)| prefix);
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        // Cleanup needs async clients but Drop is sync: run it on its own thread and
        // runtime, with its own connections (the test's are tied to the test runtime).
        // DROP DATABASE ... WITH (FORCE) ends the test pool's sessions.
        let server_url = self.server_url.clone();
        let database = self.database.clone();
        // A fresh client: the test's one pools connections driven by the (now blocked) test runtime.
        let dynamodb = self.config.dynamodb.clone();
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                // Every step is bounded: cleanup must never hang a test run.
                let limit = Duration::from_secs(10);
                let _ = tokio::time::timeout(limit, drop_database(&server_url, &database)).await;
                let table = ChatHistoryTable::new(&dynamodb).await;
                let _ = tokio::time::timeout(limit, table.delete()).await;
            });
        });
        let _ = cleanup.join();
    }
}

async fn drop_database(server_url: &str, database: &str) {
    if let Ok(mut conn) = PgConnection::connect(server_url).await {
        let statement = format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)");
        let _ = sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&mut conn)
            .await;
    }
}

/// Drops a Kafka consumer off the runtime: closing one with unread data can block (see docs/testing.md).
pub fn drop_detached<T: Send + 'static>(value: T) {
    std::thread::spawn(move || drop(value));
}

/// One record read back from a topic.
#[derive(Debug, Clone)]
pub struct Record {
    pub key: String,
    pub value: serde_json::Value,
    pub headers: Vec<(String, String)>,
}

impl Record {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// Reads `count` records of `topic` from the beginning (a fresh group), in
/// partition order; fails the test after 30 s.
pub async fn read_topic(
    kafka: &harmony::config::KafkaConfig,
    topic: &str,
    count: usize,
) -> Vec<Record> {
    use futures::StreamExt;
    use rdkafka::{Message, message::Headers};
    let consumer = harmony::store::kafka::group_consumer(
        kafka,
        &format!("reader-{}", uuid::Uuid::new_v4()),
        &[topic],
        10,
    )
    .unwrap();
    let mut out = Vec::new();
    while out.len() < count {
        let message = tokio::time::timeout(Duration::from_secs(30), consumer.stream().next())
            .await
            .unwrap_or_else(|_| panic!("{count} records on {topic} within 30 s; got {}", out.len()))
            .unwrap()
            .unwrap();
        let headers = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| {
                        (
                            h.key.to_owned(),
                            String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(Record {
            key: String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
            value: serde_json::from_slice(message.payload().unwrap_or_default())
                .unwrap_or(serde_json::Value::Null),
            headers,
        });
    }
    drop_detached(consumer);
    out
}

/// A `redis-server` of a test's own, on a free port, without persistence.
pub struct PrivateRedis {
    child: tokio::process::Child,
    pub url: String,
}

impl PrivateRedis {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = tokio::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server runs (scripts/services.sh installs it)");
        let url = format!("redis://127.0.0.1:{port}/0");
        let client = ::redis::Client::open(url.as_str()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), async {
            while client.get_multiplexed_async_connection().await.is_err() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the private redis answers");
        Self { child, url }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Whether `group` has records of the message topic it has not committed yet.
pub async fn uncommitted(config: &harmony::config::Config, group: &str) -> bool {
    use rdkafka::{
        Offset, TopicPartitionList,
        consumer::{BaseConsumer, Consumer},
    };
    let topic = config.topics.messages.name.clone();
    let brokers = config.kafka.bootstrap_servers.clone();
    let group = group.to_owned();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", &group)
            .create()
            .unwrap();
        let timeout = std::time::Duration::from_secs(5);
        let partitions = consumer
            .fetch_metadata(Some(&topic), timeout)
            .unwrap()
            .topics()[0]
            .partitions()
            .len() as i32;
        let mut list = TopicPartitionList::new();
        for p in 0..partitions {
            list.add_partition(&topic, p);
        }
        let committed = consumer.committed_offsets(list, timeout).unwrap();
        (0..partitions).any(|p| {
            let high = consumer.fetch_watermarks(&topic, p, timeout).unwrap().1;
            let done = match committed.find_partition(&topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(offset)) => offset,
                _ => 0,
            };
            high > done
        })
    })
    .await
    .unwrap()
}
