"""Checks what a node drain or a zone's loss does to each Deployment that may
run more than one pod (replicas above 1, or an HPA or ScaledObject whose
maximum is): a PodDisruptionBudget in its namespace selects its pods and
lets at most one be unavailable, and its pods spread over zones and nodes
(topologySpreadConstraints on both keys, selecting its own pods).
Usage: disruption.py FILE... ; prints one line per Deployment checked.
"""
import sys
import yaml


def matches(selector, labels):
    """Whether a LabelSelector (matchLabels only, as ours are) selects labels."""
    if not selector or selector.get("matchExpressions"):
        return False
    wanted = selector.get("matchLabels") or {}
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def may_scale_out(deployment, objects):
    if (deployment["spec"].get("replicas") or 1) > 1:
        return True
    name = deployment["metadata"]["name"]
    for o in objects:
        if o["kind"] == "HorizontalPodAutoscaler" and o["spec"]["scaleTargetRef"]["name"] == name:
            return o["spec"]["maxReplicas"] > 1
        if o["kind"] == "ScaledObject" and o["spec"]["scaleTargetRef"]["name"] == name:
            return o["spec"].get("maxReplicaCount", 100) > 1
    return False


def problems(deployment, objects):
    namespace = deployment["metadata"].get("namespace")
    template = deployment["spec"]["template"]
    labels = template["metadata"].get("labels") or {}
    budgets = [
        o for o in objects
        if o["kind"] == "PodDisruptionBudget"
        and o["metadata"].get("namespace") == namespace
        and matches(o["spec"].get("selector"), labels)
    ]
    found = []
    if len(budgets) != 1:
        found.append(f"{len(budgets)} PodDisruptionBudgets select its pods (want 1)")
    elif budgets[0]["spec"].get("maxUnavailable") != 1:
        found.append("its PodDisruptionBudget does not say maxUnavailable: 1")
    spread = template["spec"].get("topologySpreadConstraints") or []
    for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname"):
        if not any(c["topologyKey"] == key and matches(c.get("labelSelector"), labels) for c in spread):
            found.append(f"its pods are not spread over {key}")
    return found


def main(paths):
    objects = [o for p in paths for o in yaml.safe_load_all(open(p)) if o]
    failed = False
    checked = 0
    for deployment in (o for o in objects if o["kind"] == "Deployment"):
        if not may_scale_out(deployment, objects):
            continue
        checked += 1
        name = f"Deployment {deployment['metadata'].get('namespace')}/{deployment['metadata']['name']}"
        for problem in problems(deployment, objects):
            print(f"{name}: {problem}", file=sys.stderr)
            failed = True
    print(f"{checked} Deployment(s) that may run several pods: each has one budget (at most one unavailable) and spreads over zones and nodes")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
