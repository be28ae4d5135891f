"""Runs Argo CD's health check for HarmonyChat (harmonychat-health.lua) in a
real Lua (lupa) against HarmonyChat objects whose status the operator's own
code wrote (health-fixtures/, operator/tests/health_fixtures.rs), and checks
the exact health and message of each.

Usage: python health_test.py [path/to/health.lua]  (exit 1 on any mismatch)
"""
import pathlib
import sys

import lupa.lua51 as lua  # Argo CD runs gopher-lua, a Lua 5.1
import yaml

HERE = pathlib.Path(__file__).parent
EXPECTED = {
    "ready": ("Healthy", "every component is available"),
    "progressing": (
        "Progressing",
        "waiting for api 1/2, relay 1/2, cdc 1/2, sink 1/2, centrifugo 1/2",
    ),
    "rolling": ("Progressing", "waiting for api 2/2 rolling to 1.1.0"),
    "degraded": (
        "Degraded",
        "topic prod_messages: has 24 partitions, the spec asks for 12: Kafka cannot remove partitions",
    ),
    "invalid-spec": (
        "Degraded",
        "spec.kafka.topics: two roles share the topic name prod_messages",
    ),
    "migrating": (
        "Progressing",
        "running the migrations of 1.1.0 before rolling; 1.0.0 keeps serving",
    ),
    "migration-failed": (
        "Degraded",
        "migration Job harmony-dev-migrate-5f1d2c3b failed: BackoffLimitExceeded: Job has reached"
        " the specified backoff limit (migrating to 1.1.0); 1.0.0 keeps serving",
    ),
    "stale-generation": (
        "Progressing",
        "Waiting for the operator to reconcile generation 3 (status is of generation 2)",
    ),
    "no-status": ("Progressing", "Waiting for the operator to report a status"),
}


def to_lua(runtime, value):
    """A YAML value as Argo CD hands it to Lua: maps and lists as tables,
    every number a float."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, dict):
        return runtime.table_from({k: to_lua(runtime, v) for k, v in value.items()})
    if isinstance(value, list):
        return runtime.table_from([to_lua(runtime, v) for v in value])
    return value


def health(script, obj):
    runtime = lua.LuaRuntime(unpack_returned_tuples=True)
    runtime.globals().obj = to_lua(runtime, obj)
    result = runtime.execute(script)
    return result["status"], result["message"]


def main():
    lua = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "harmonychat-health.lua"
    script = lua.read_text()
    fixtures = sorted((HERE / "health-fixtures").glob("*.yaml"))
    failures = []
    if {f.stem for f in fixtures} != set(EXPECTED):
        failures.append(f"fixtures {sorted(f.stem for f in fixtures)} differ from the cases {sorted(EXPECTED)}")
    for fixture in fixtures:
        want = EXPECTED.get(fixture.stem)
        got = health(script, yaml.safe_load(fixture.read_text()))
        if got != want:
            failures.append(f"{fixture.stem}: got {got}, want {want}")
        else:
            print(f"ok: HarmonyChat health, {fixture.stem}: {got[0]}")
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
