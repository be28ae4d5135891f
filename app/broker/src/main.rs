//! `harmony-broker serve|probe|topics`: see the library's documentation.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use clap::{Args, Parser, Subcommand};
use harmony_broker::{Config, Limits, client::Client, log::Retention};

#[derive(Parser)]
#[command(about = "A single-node Kafka-compatible broker for one-machine Harmony setups")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Kafka protocol until SIGTERM or Ctrl-C.
    Serve(Serve),
    /// Exit 0 when the broker at BROKER answers a metadata request within the timeout.
    Probe {
        #[arg(long, default_value = "127.0.0.1:9092")]
        broker: String,
        #[arg(long, default_value_t = 5)]
        timeout_secs: u64,
    },
    /// List topics, one per line.
    Topics {
        #[arg(long, default_value = "127.0.0.1:9092")]
        broker: String,
    },
    /// Delete the named topics.
    DeleteTopics {
        #[arg(long, default_value = "127.0.0.1:9092")]
        broker: String,
        names: Vec<String>,
    },
}

#[derive(Args)]
struct Serve {
    #[arg(long, default_value = "127.0.0.1:9092")]
    listen: SocketAddr,
    /// The host clients are told to connect to (default: the listen address).
    #[arg(long)]
    advertised_host: Option<String>,
    #[arg(long)]
    data_dir: PathBuf,
    /// Size at which a partition starts a new segment file.
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    segment_bytes: u64,
    /// Default retention per partition, by age (topics may override: retention.ms).
    #[arg(long, default_value_t = 7 * 24)]
    retention_hours: i64,
    /// Default retention per partition, by size (-1: none; topics may override: retention.bytes).
    #[arg(long, default_value_t = 1024 * 1024 * 1024)]
    retention_bytes: i64,
    /// Create a topic when a client asks for one that does not exist.
    #[arg(long)]
    auto_create_topics: bool,
    /// Largest request accepted, in bytes (Kafka's socket.request.max.bytes).
    #[arg(long, default_value_t = Limits::default().max_request_bytes)]
    max_request_bytes: usize,
    /// Seconds a request that has begun may take to arrive whole; a
    /// client that sends half a frame and stops is disconnected after it.
    #[arg(long, default_value_t = Limits::default().request_timeout.as_secs())]
    request_timeout_secs: u64,
}

impl Serve {
    fn config(self) -> (Config, Limits) {
        let config = Config {
            listen: self.listen,
            advertised_host: self.advertised_host,
            data_dir: self.data_dir,
            segment_bytes: self.segment_bytes,
            retention: Retention {
                ms: self.retention_hours.saturating_mul(3_600_000),
                bytes: self.retention_bytes,
            },
            auto_create_topics: self.auto_create_topics,
        };
        let limits = Limits {
            max_request_bytes: self.max_request_bytes,
            request_timeout: Duration::from_secs(self.request_timeout_secs),
        };
        (config, limits)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse().command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("harmony-broker: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve(args).await,
        Command::Probe {
            broker,
            timeout_secs,
        } => probe(&broker, Duration::from_secs(timeout_secs)).await,
        Command::Topics { broker } => list_topics(&broker).await,
        Command::DeleteTopics { broker, names } => delete_topics(&broker, &names).await,
    }
}

/// How long the topic commands wait to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

async fn serve(args: Serve) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let (config, limits) = args.config();
    let running = harmony_broker::start_with(config, limits).await?;
    tracing::info!(address = %running.address, ready_in = ?started.elapsed(), "harmony-broker serving");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    running.shutdown.cancel();
    let _ = running.done.await;
    tracing::info!("harmony-broker stopped");
    Ok(())
}

async fn probe(broker: &str, timeout: Duration) -> anyhow::Result<()> {
    let probe = async {
        let mut client = Client::connect(broker, timeout).await?;
        client.metadata().await
    };
    tokio::time::timeout(timeout, probe).await.map_err(|_| {
        anyhow::anyhow!(
            "{broker} accepted a connection but did not answer metadata within {timeout:?}"
        )
    })??;
    Ok(())
}

async fn list_topics(broker: &str) -> anyhow::Result<()> {
    for topic in Client::connect(broker, CONNECT_TIMEOUT)
        .await?
        .topics()
        .await?
    {
        println!("{topic}");
    }
    Ok(())
}

async fn delete_topics(broker: &str, names: &[String]) -> anyhow::Result<()> {
    let response = Client::connect(broker, CONNECT_TIMEOUT)
        .await?
        .delete_topics(names)
        .await?;
    let failed: Vec<String> = response
        .responses
        .into_iter()
        .filter(|r| r.error_code != 0)
        .map(|r| {
            format!(
                "{:?}: error {}",
                r.name.map(|n| n.as_str().to_owned()),
                r.error_code
            )
        })
        .collect();
    anyhow::ensure!(failed.is_empty(), "could not delete: {}", failed.join(", "));
    Ok(())
}
