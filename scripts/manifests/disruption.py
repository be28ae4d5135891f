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
    """Whether a LabelSelector selects labels (an empty one selects all)."""
    if selector is None:
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if not {
            "In": key in labels and labels[key] in values,
            "NotIn": labels.get(key) not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]:
            return False
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def may_scale_out(deployment, objects):
    if (deployment["spec"].get("replicas") or 1) > 1:
        return True
    meta = deployment["metadata"]
    for o in objects:
        target = o.get("spec", {}).get("scaleTargetRef", {})
        if (o["kind"] not in ("HorizontalPodAutoscaler", "ScaledObject")
                or o["metadata"].get("namespace") != meta.get("namespace")
                or target.get("kind", "Deployment") != "Deployment"
                or target.get("name") != meta["name"]):
            continue
        # KEDA's default maximum is 100.
        return o["spec"].get("maxReplicas", o["spec"].get("maxReplicaCount", 100)) > 1
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
