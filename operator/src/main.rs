//! `harmony-operator`: crd | render | bench-render | run.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use harmony_operator::build::GeneratedSecrets;
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
    /// Run the controller (not complete yet: exits non-zero).
    Run,
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
        Command::Run => {
            eprintln!(
                "harmony-operator run: the controller is not complete yet (apply, status, orphan sweep, topics and leader election are tracked in docs/operator.md); nothing was done. Use `render` to preview children."
            );
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("harmony-operator: {error:#}");
            ExitCode::FAILURE
        }
    }
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
    let yaml = render::children_yaml(&hc, &secrets)?;
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
