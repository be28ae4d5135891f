//! `harmony-operator`: run | crd | render. Not built yet (issue #5): every
//! subcommand says so and exits non-zero rather than pretending.

use std::process::ExitCode;

fn main() -> ExitCode {
    let command = std::env::args().nth(1).unwrap_or_default();
    match command.as_str() {
        "run" | "crd" | "render" => {
            eprintln!(
                "harmony-operator: `{command}` is not built yet (issue #5); nothing was done"
            );
            ExitCode::from(2)
        }
        _ => {
            eprintln!(
                "usage: harmony-operator <run|crd|render -f FILE>\n  run     reconcile HarmonyChat resources (leader-elected)\n  crd     print the HarmonyChat CRD YAML\n  render  print every child manifest of a HarmonyChat without a cluster"
            );
            ExitCode::from(2)
        }
    }
}
