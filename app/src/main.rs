//! The `harmony` command line: one subcommand per role.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use harmony::{
    config::{Config, markdown_table},
    roles::{self, migrate, reclaim},
    telemetry,
};

// glibc's malloc was a tenth to a sixth of the API's CPU per send, much of
// it freeing across threads (bench/profiles/api-send.txt).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "harmony",
    version,
    about = "Harmony: the event-driven chat platform. One binary, one role per subcommand."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// REST API under /api/v1, browser sessions, Centrifugo proxy endpoints, OpenAPI, web UI.
    Api,
    /// Moves outbox events from Postgres to Kafka (one active instance).
    Relay,
    /// Consumes outbox topics: idempotent handlers, cache invalidation, history purge.
    Cdc,
    /// Writes the message topic to DynamoDB in idempotent batches.
    Sink,
    /// Embedded real-time gateway speaking Centrifugo's client protocol.
    Gateway,
    /// Applies Postgres migrations, creates the DynamoDB table and Kafka topics.
    Migrate {
        /// Limit the run to these stores (default: all).
        #[arg(long, value_enum, value_delimiter = ',')]
        only: Vec<migrate::Target>,
    },
    /// Deletes what `migrate` created in Postgres and DynamoDB (the operator's
    /// Job for `reclaimPolicy: Delete`); a table `migrate` did not create is kept.
    Reclaim {
        /// The stores to reclaim.
        #[arg(long, value_enum, value_delimiter = ',', required = true)]
        only: Vec<reclaim::Store>,
    },
    /// Everything in one process against local services (see scripts/dev.sh).
    Dev,
    /// Print the OpenAPI document of the REST API (docs/openapi.json).
    Openapi,
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration as JSON, secrets redacted.
    Show,
    /// Print the markdown table of every setting (docs/configuration.md).
    Docs,
}

/// Where Kubernetes reads a container's termination message.
const TERMINATION_LOG: &str = "/dev/termination-log";

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Config(ConfigCommand::Docs) => {
            print!("{}", markdown_table());
            return ExitCode::SUCCESS;
        }
        Command::Openapi => {
            println!("{}", harmony::http::openapi::committed_document());
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    // Serves and signs nothing: runs after the auth Secret was deleted with its HarmonyChat.
    let loaded = match cli.command {
        Command::Reclaim { .. } => Config::load_unvalidated(),
        _ => Config::load(),
    };
    let config = match loaded {
        Ok(config) => config,
        Err(error) => {
            eprintln!("harmony: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init_logging(&config.app);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("harmony: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("harmony: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Api => roles::api::run(&config).await,
        Command::Relay => roles::relay::run(&config).await,
        Command::Cdc => roles::cdc::run(&config).await,
        Command::Sink => roles::sink::run(&config).await,
        Command::Gateway => roles::gateway::run(&config).await,
        Command::Migrate { only } => {
            let targets = if only.is_empty() {
                migrate::ALL.to_vec()
            } else {
                only
            };
            migrate::run(&config, &targets).await
        }
        Command::Reclaim { only } => {
            // Said as each is done: a failed pod's termination message is its log's tail.
            let outcome = reclaim::run(&config, &only, |line| println!("{line}"))
                .await?
                .join("\n");
            // In a Kubernetes container: the operator reads it from the pod's status.
            if std::path::Path::new(TERMINATION_LOG).exists() {
                std::fs::write(TERMINATION_LOG, &outcome)?;
            }
            Ok(())
        }
        Command::Dev => roles::dev::run(&config).await,
        Command::Config(ConfigCommand::Show) => {
            println!("{}", serde_json::to_string_pretty(&config)?);
            Ok(())
        }
        Command::Config(ConfigCommand::Docs) | Command::Openapi => Ok(()),
    }
}
