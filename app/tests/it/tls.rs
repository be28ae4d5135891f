//! TLS to every managed service, as real connections. In the cloud the
//! platform reaches RDS with `?sslmode=require`, ElastiCache with a
//! `rediss://` URL (TLS required, an auth token) and MSK over TLS, from the
//! URLs terraform writes; here the same settings reach the shared Postgres
//! (TLS on, scripts/services.sh), a TLS-only redis-server and the local
//! broker behind a TLS terminator, with certificates of a local CA.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::PathBuf,
    process::Stdio,
    sync::Arc,
    time::Duration,
};

use axum::http::StatusCode;
use harmony::{
    config::{KafkaConfig, RedisConfig, Secret},
    store::{kafka::Admin, redis},
};
use sqlx::{Connection, PgConnection};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        self,
        pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    },
};

use crate::{client::TestApp, support::TestEnv};

/// The local CA and the certificate it signed for 127.0.0.1 and localhost.
struct LocalCa {
    dir: PathBuf,
}

impl LocalCa {
    fn new() -> Self {
        let dir = std::env::var("HARMONY_TLS_DIR").map_or_else(
            |_| {
                let data =
                    std::env::var("HARMONY_DATA_DIR").unwrap_or_else(|_| "/var/lib/harmony".into());
                PathBuf::from(data).join("tls")
            },
            PathBuf::from,
        );
        assert!(
            dir.join("ca.pem").exists(),
            "no local CA in {}: run scripts/services.sh start",
            dir.display()
        );
        Self { dir }
    }

    fn file(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }
}

/// A redis-server that speaks only TLS and wants a password: ElastiCache
/// with transit encryption required and an auth token.
struct TlsRedis {
    child: tokio::process::Child,
    url: String,
}

impl TlsRedis {
    async fn start(ca: &LocalCa) -> Self {
        let port = free_port(Ipv4Addr::LOCALHOST);
        let token = uuid::Uuid::new_v4().simple().to_string();
        let child = tokio::process::Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .args(["--tls-cert-file", &ca.file("server.pem")])
            .args(["--tls-key-file", &ca.file("server.key")])
            .args(["--tls-ca-cert-file", &ca.file("ca.pem")])
            .args(["--tls-auth-clients", "no", "--requirepass", &token])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server runs (scripts/services.sh installs it)");
        let url = format!("rediss://:{token}@127.0.0.1:{port}/0");
        let trusting = RedisConfig {
            url: Secret::new(url.clone()),
            ca_file: Some(ca.file("ca.pem")),
            ..RedisConfig::default()
        };
        tokio::time::timeout(Duration::from_secs(10), async {
            while redis::connect(&trusting).await.is_err() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the TLS redis answers");
        Self { child, url }
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// The local broker as MSK's TLS listener: clients reach it only through TLS
/// on the address it advertises (127.0.0.1:P); the broker itself listens in
/// plaintext on 127.0.0.2:P, which only the terminator uses.
struct TlsKafka {
    address: SocketAddr,
    _broker: harmony_broker::Running,
    _data: tempfile::TempDir,
    terminator: tokio::task::JoinHandle<()>,
}

impl TlsKafka {
    async fn start(ca: &LocalCa) -> Self {
        let data = tempfile::tempdir().unwrap();
        let behind = Ipv4Addr::new(127, 0, 0, 2);
        let broker = harmony_broker::start(harmony_broker::Config {
            listen: SocketAddr::new(IpAddr::V4(behind), free_port(behind)),
            advertised_host: Some("127.0.0.1".into()),
            data_dir: data.path().to_owned(),
            segment_bytes: 1 << 20,
            retention: harmony_broker::log::Retention { ms: -1, bytes: -1 },
            auto_create_topics: false,
        })
        .await
        .expect("a private broker starts");
        let address = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), broker.address.port());
        let listener = TcpListener::bind(address)
            .await
            .expect("the broker's port is free on 127.0.0.1 too");
        let acceptor = acceptor(ca);
        let plain = broker.address;
        let terminator = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut client) = acceptor.accept(client).await else {
                        return; // a client that does not trust the CA
                    };
                    if let Ok(mut broker) = TcpStream::connect(plain).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut broker).await;
                    }
                });
            }
        });
        Self {
            address,
            _broker: broker,
            _data: data,
            terminator,
        }
    }

    fn config(&self, ca_location: Option<String>) -> KafkaConfig {
        KafkaConfig {
            bootstrap_servers: self.address.to_string(),
            security_protocol: "ssl".into(),
            ssl_ca_location: ca_location,
            ..KafkaConfig::default()
        }
    }
}

impl Drop for TlsKafka {
    fn drop(&mut self) {
        self.terminator.abort();
    }
}

fn acceptor(ca: &LocalCa) -> TlsAcceptor {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let chain = CertificateDer::pem_file_iter(ca.file("server.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(ca.file("server.key")).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

fn free_port(ip: Ipv4Addr) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The shared Postgres must have TLS on (scripts/services.sh starts it so).
async fn require_tls(url: &str) -> String {
    let url = format!("{url}?sslmode=require");
    if let Err(error) = PgConnection::connect(&url).await {
        panic!(
            "postgres refuses sslmode=require ({error}): restart it with TLS on \
             (scripts/services.sh stop postgres && scripts/services.sh start)"
        );
    }
    url
}

/// The API and the sink, with every managed service reached over TLS with
/// the settings the cloud uses, sign up, create a chat, acknowledge a
/// message (Postgres, Redis, Kafka produce) and write it to history (Kafka
/// consumer group). Without the redis crate's TLS feature the client
/// refuses `rediss://` ("can't connect with TLS, the feature is not
/// enabled"; the code no longer builds without it); a Postgres without TLS
/// fails `require_tls`.
#[tokio::test]
async fn the_platform_reaches_every_managed_service_over_tls() {
    let ca = LocalCa::new();
    let redis = TlsRedis::start(&ca).await;
    let kafka = TlsKafka::start(&ca).await;

    let mut env = TestEnv::new().await;
    env.config.postgres.url = Secret::new(require_tls(env.config.postgres.url.expose()).await);
    env.config.redis = RedisConfig {
        url: Secret::new(redis.url.clone()),
        ca_file: Some(ca.file("ca.pem")),
        ..env.config.redis.clone()
    };
    env.config.kafka = KafkaConfig {
        idempotence: env.config.kafka.idempotence,
        ..kafka.config(Some(ca.file("ca.pem")))
    };
    let topics = env.config.topics.with_dead_letters();
    Admin::new(&env.config.kafka)
        .unwrap()
        .ensure_topics(&topics.iter().collect::<Vec<_>>())
        .await
        .expect("topics created over TLS");

    let t = TestApp::over(env, true).await;
    let ready = t.get("/readyz").send().await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    let ann = t.user("ann").await;
    let bob = t.user("bob").await;
    let chat = t.chat(&ann, &[&bob]).await;
    let sent = t.send(&ann, chat, "over TLS").await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);

    let written = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let page = t.env.table.page(chat, 10, None).await.unwrap();
            if !page.messages.is_empty() {
                return page.messages;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the sink, consuming over TLS, writes the message");
    let contents: Vec<&str> = written.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(contents, ["over TLS"]);
}

/// Verification is on: a client that does not trust the server's CA is
/// refused by Redis and Kafka (librdkafka's "probe" of the system's CAs
/// finds no local CA). Seen failing with librdkafka's verification turned
/// off (`enable.ssl.certificate.verification=false` added to the client
/// properties); the redis half differs from the test above only in not
/// naming the CA (`ca_file`), with which that one connects.
#[tokio::test]
async fn an_untrusted_certificate_is_refused() {
    let ca = LocalCa::new();
    let redis = TlsRedis::start(&ca).await;
    let kafka = TlsKafka::start(&ca).await;

    let system_cas = RedisConfig {
        url: Secret::new(redis.url.clone()),
        ..RedisConfig::default()
    };
    let error = redis::connect(&system_cas).await.unwrap_err().to_string();
    assert!(error.contains("certificate"), "{error}");

    let admin = Admin::new(&kafka.config(None)).unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(30), admin.ping())
        .await
        .expect("the failed handshake is reported, not waited on");
    assert!(
        refused.is_err(),
        "a broker with an untrusted certificate answered"
    );
}
