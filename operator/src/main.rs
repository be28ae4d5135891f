//! `harmony-operator`: crd | render | bench-render | run.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use harmony_operator::children::{BuildError, GeneratedSecrets};
use harmony_operator::crd::HarmonyChat;
use harmony_operator::render;

#[derive(Parser)]
#[command(
    name = "harmony-operator",
    version,
    about = "The Kubernetes operator of Harmony: the HarmonyChat CRD and everything it deploys."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the HarmonyChat CustomResourceDefinition as YAML (crds/harmonychat.yaml).
    Crd,
    /// Print every child manifest of a HarmonyChat as multi-document YAML, without a cluster.
    Render {
        /// The HarmonyChat manifest (YAML or JSON); `-` reads standard input.
        #[arg(short = 'f', long = "file")]
        file: String,
        /// Namespace when the manifest sets none.
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
    },
    /// Time rendering COUNT HarmonyChats built from a sample (the operator benchmark).
    BenchRender {
        #[arg(long, default_value_t = 100)]
        count: usize,
        /// The HarmonyChat to vary; defaults to the built-in sample.
        #[arg(short = 'f', long = "file")]
        file: Option<String>,
    },
    /// Run the controller: leader election, then the watch loop; serves /healthz and /metrics.
    Run(RunArgs),
    /// Print the HarmonyChat sizes for a peak load (docs/capacity.md explains them).
    Plan {
        /// Messages sent per second at the peak.
        #[arg(long)]
        messages_per_second: f64,
        /// WebSocket connections open at the peak.
        #[arg(long)]
        connections: f64,
        /// Live deliveries per message (members online in the chat).
        #[arg(long, default_value_t = 5.0)]
        deliveries_per_message: f64,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// Watch HarmonyChats in this namespace only (all namespaces when unset).
    #[arg(long, env = "WATCH_NAMESPACE")]
    watch_namespace: Option<String>,
    /// Address of /healthz and /metrics.
    #[arg(long, env = "METRICS_BIND", default_value = "0.0.0.0:8080")]
    metrics_bind: std::net::SocketAddr,
    /// Namespace of the leader election Lease (the operator's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    #[arg(long, env = "LEASE_NAME", default_value = "harmony-operator")]
    lease_name: String,
    /// This replica's name in the Lease and in Events.
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Seconds a failing topic deletion is retried before the finalizer is released anyway.
    #[arg(long, env = "TOPIC_DELETION_GRACE_SECONDS", default_value_t = 300)]
    topic_deletion_grace_seconds: u64,
}

fn print_plan(messages_per_second: f64, connections: f64, deliveries: f64) -> anyhow::Result<()> {
    use harmony_operator::plan::{Load, plan};
    if !(messages_per_second >= 0.0 && connections >= 0.0 && deliveries >= 0.0) {
        anyhow::bail!("the rates must be numbers of at least 0");
    }
    let load = Load {
        deliveries_per_message: deliveries,
        ..Load::new(messages_per_second, connections)
    };
    let plan = plan(&load);
    let mut out = format!(
        "# {messages_per_second} messages/s, {connections} connections, {deliveries} deliveries per message\n\
         # DynamoDB about {:.0} writes/s and {:.0} strongly consistent reads/s (on-demand); Redis {:.0} % of one core\n",
        plan.dynamodb_writes_per_second,
        plan.dynamodb_reads_per_second,
        plan.redis_core_share * 100.0
    );
    for warning in &plan.warnings {
        out.push_str(&format!("# warning: {warning}\n"));
    }
    out.push_str(&serde_yaml::to_string(&plan.spec())?);
    // Written, not printed: a closed pipe is an error to report, not a panic.
    std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes())?;
    Ok(())
}

/// The sample every subcommand can fall back on, also `operator/examples/harmonychat.yaml`.
const SAMPLE: &str = include_str!("../examples/harmonychat.yaml");
/// Stands in for `metadata.uid` when rendering a manifest that was never stored:
/// owner references need one, and only the apiserver assigns it.
const PLACEHOLDER_UID: &str = "00000000-0000-0000-0000-000000000000";

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Crd => crd(),
        Command::Render { file, namespace } => render_file(&file, &namespace),
        Command::BenchRender { count, file } => bench_render(count, file.as_deref()),
        Command::Run(args) => run(args),
        Command::Plan {
            messages_per_second,
            connections,
            deliveries_per_message,
        } => print_plan(messages_per_second, connections, deliveries_per_message),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("harmony-operator: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: RunArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,kube=warn".into()),
        )
        .json()
        .init();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(run_controller(args))
}

async fn run_controller(args: RunArgs) -> anyhow::Result<()> {
    use harmony_operator::controller::{self, Context, Settings};
    use harmony_operator::leader::{self, LeaseConfig};
    use k8s_openapi::api::coordination::v1::Lease;
    use kube::runtime::events::{Recorder, Reporter};

    let metrics =
        harmony_operator::server::install_metrics().context("installing the metrics recorder")?;
    let resources = harmony_operator::server::Resources::default();
    let served = resources.clone();
    let listener = tokio::net::TcpListener::bind(args.metrics_bind)
        .await
        .with_context(|| format!("binding {}", args.metrics_bind))?;
    tokio::spawn(async move {
        let router = harmony_operator::server::router(metrics, served);
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "the /healthz and /metrics server stopped");
        }
    });

    let client = kube::Client::try_default()
        .await
        .context("connecting to the Kubernetes API")?;
    let identity = match args.identity {
        Some(identity) => identity,
        None => std::env::var("HOSTNAME").unwrap_or_else(|_| "harmony-operator".into()),
    };
    let lease = LeaseConfig {
        name: args.lease_name,
        namespace: args.lease_namespace,
        identity: identity.clone(),
        duration: std::time::Duration::from_secs(15),
        renew_every: std::time::Duration::from_secs(5),
    };
    let leases: kube::Api<Lease> = kube::Api::namespaced(client.clone(), &lease.namespace);
    tracing::info!(identity = %lease.identity, lease = %lease.name, "waiting for leadership");
    metrics::gauge!(harmony_operator::server::LEADER).set(0.0);
    tokio::select! {
        () = leader::acquire(&leases, &lease) => {}
        _ = tokio::signal::ctrl_c() => return Ok(()),
    }
    tracing::info!("leading: starting the controller");
    metrics::gauge!(harmony_operator::server::LEADER).set(1.0);

    let (lost_tx, lost_rx) = tokio::sync::oneshot::channel::<()>();
    let holder = tokio::spawn(async move {
        leader::hold(&leases, &lease).await;
        let _ = lost_tx.send(());
    });
    let lost = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let lost_flag = lost.clone();
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = lost_rx => lost_flag.store(true, std::sync::atomic::Ordering::SeqCst),
        }
    };
    let reporter = Reporter {
        controller: "harmony-operator".into(),
        instance: Some(identity),
    };
    let ctx = std::sync::Arc::new(Context {
        client: client.clone(),
        topics: harmony_operator::topics::KafkaTopics,
        recorder: Recorder::new(client, reporter),
        settings: Settings {
            deletion_grace: std::time::Duration::from_secs(args.topic_deletion_grace_seconds),
            ..Settings::default()
        },
    });
    controller::run(ctx, args.watch_namespace.as_deref(), &resources, shutdown).await;
    holder.abort();
    if lost.load(std::sync::atomic::Ordering::SeqCst) {
        // Exit so the pod restarts and contends again from a clean state.
        anyhow::bail!("lost the leader election Lease; stopped reconciling");
    }
    Ok(())
}

fn crd() -> anyhow::Result<()> {
    let yaml = render::crd_yaml()?;
    std::io::stdout().write_all(yaml.as_bytes())?;
    Ok(())
}

fn read_manifest(file: &str) -> anyhow::Result<HarmonyChat> {
    let text = if file == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading standard input")?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?
    };
    render::parse(&text).with_context(|| format!("in {file}"))
}

/// Fills what only a cluster would: the namespace (when absent) and a uid.
fn as_if_stored(hc: &mut HarmonyChat, namespace: &str) {
    if hc.metadata.namespace.is_none() {
        hc.metadata.namespace = Some(namespace.to_owned());
    }
    if hc.metadata.uid.is_none() {
        hc.metadata.uid = Some(PLACEHOLDER_UID.to_owned());
    }
}

fn render_file(file: &str, namespace: &str) -> anyhow::Result<()> {
    let mut hc = read_manifest(file)?;
    let placeholder_uid = hc.metadata.uid.is_none();
    as_if_stored(&mut hc, namespace);
    // Fresh values, as the controller would generate on first apply.
    let secrets = GeneratedSecrets::random()?;
    let yaml = match render::children_yaml(&hc, &secrets) {
        Err(render::RenderError::Build(BuildError::InvalidSpec(problems))) => {
            // What the apiserver would refuse, one violation per line.
            let list: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
            anyhow::bail!("{file} is not a valid HarmonyChat:\n{}", list.join("\n"));
        }
        rendered => rendered?,
    };
    std::io::stdout().write_all(yaml.as_bytes())?;
    if placeholder_uid {
        eprintln!(
            "harmony-operator: the manifest has no metadata.uid; owner references use {PLACEHOLDER_UID}"
        );
    }
    Ok(())
}

fn bench_render(count: usize, file: Option<&str>) -> anyhow::Result<()> {
    let base = match file {
        Some(file) => read_manifest(file)?,
        None => render::parse(SAMPLE).context("the built-in sample")?,
    };
    let secrets = GeneratedSecrets::random()?;
    let objects: Vec<HarmonyChat> = (0..count)
        .map(|i| {
            let mut hc = base.clone();
            hc.metadata.name = Some(format!("chat-{i:04}"));
            hc.spec.image = format!("{}-{i}", base.spec.image);
            as_if_stored(&mut hc, "bench");
            hc
        })
        .collect();
    let started = Instant::now();
    let mut bytes = 0usize;
    let mut documents = 0usize;
    for hc in &objects {
        let yaml = render::children_yaml(hc, &secrets)?;
        documents += yaml.matches("---\n").count();
        bytes += yaml.len();
    }
    let elapsed = started.elapsed();
    println!(
        "rendered {count} HarmonyChats ({documents} manifests, {bytes} bytes of YAML) in {:.1} ms ({:.3} ms each; {} build)",
        elapsed.as_secs_f64() * 1000.0,
        elapsed.as_secs_f64() * 1000.0 / count.max(1) as f64,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    );
    Ok(())
}
