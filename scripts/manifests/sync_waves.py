"""Checks the Argo CD sync waves of one environment as built by kustomize:
every object in an explicit wave: namespaces, then CRDs, then the operator, then the platform dependencies,
then the HarmonyChat, then the public entry (Ingresses: their load balancer needs the HarmonyChat's
Services), each part in one wave. Usage: sync_waves.py FILE
"""
import sys
import yaml

def wave(o):
    """The object's wave; every object must say it (a missing annotation
    would silently mean wave 0)."""
    annotations = o["metadata"].get("annotations") or {}
    if "argocd.argoproj.io/sync-wave" not in annotations:
        sys.exit(f"{o['kind']}/{o['metadata']['name']} has no sync-wave annotation")
    return int(annotations["argocd.argoproj.io/sync-wave"])

def part(o):
    labels = o["metadata"].get("labels") or {}
    if o["kind"] == "Namespace":
        return "namespaces"
    if o["kind"] == "CustomResourceDefinition":
        return "CRDs"
    if o["kind"] == "HarmonyChat":
        return "HarmonyChat"
    if o["kind"] == "Ingress":
        return "public entry"
    return {"harmony-operator": "operator", "harmony-platform": "platform dependencies"}.get(labels.get("app.kubernetes.io/name"))

order = ["namespaces", "CRDs", "operator", "platform dependencies", "HarmonyChat", "public entry"]
waves = {}
for o in yaml.safe_load_all(open(sys.argv[1])):
    p = part(o)
    if p is None:
        sys.exit(f"{o['kind']}/{o['metadata']['name']} belongs to no wave")
    waves.setdefault(p, set()).add(wave(o))
if any(len(w) != 1 for w in waves.values()):
    sys.exit(f"a part spans several waves: {waves}")
present = [p for p in order if p in waves]
if [min(waves[p]) for p in present] != sorted(min(waves[p]) for p in present) or len({min(waves[p]) for p in present}) != len(present):
    sys.exit(f"waves not strictly in the order {order}: {waves}")
print("ok: sync waves " + " < ".join(f"{p} ({min(waves[p])})" for p in present))
