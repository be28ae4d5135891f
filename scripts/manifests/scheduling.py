#!/usr/bin/env python3
"""Scheduling: every pod an environment runs fits at least one node source
that environment declares, and no node it may land on has a CPU architecture
its images lack.

Node sources:
  - staging/prod: the EKS managed node groups in terraform
    (terraform/environments/<env> and the modules it calls, read with
    python-hcl2: taints, labels, instance types and AMI type -> architecture),
    and every Karpenter NodePool the environment's local Helm charts render
    with helmfile's values for it (taints, requirements, template labels);
  - an environment without terraform (dev): scheduling-dev-nodes.yaml.
Pods: every pod template of the given manifests (the environment's kustomize
build, the operator's children of its HarmonyChat), the pods Strimzi and
CloudNativePG create from their CRs, the remote charts helmfile installs
(scheduling-addons.yaml with the releases' values) and terraform's EKS
add-ons. Images: ours (ghcr.io/harmony-chat/*) have the platforms
.github/workflows/release.yml builds; others scheduling-images.yaml.

Fit (as kube-scheduler and Karpenter decide): every NoSchedule/NoExecute
taint tolerated; nodeSelector and one required node-affinity term satisfiable
together with the source's labels (a NodePool's requirements: its
well-known labels take any value it allows, a label it does not define is
absent); the architectures left possible are all among the images'. A DaemonSet
must fit every node source, and every node of each (the node agents run on
all nodes): every label requirement holds for any node the source may start,
and its images cover all of that source's architectures.

Usage: scheduling.py --root ROOT --env ENV --helmfile-state STATE.yaml
                     --helm HELM MANIFEST.yaml...
       scheduling.py --self-test
Exits 1 when a pod fits no node source, a DaemonSet misses one, or a pod
may land on a node whose architecture one of its images lacks.
"""
import argparse
import copy
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

import yaml

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import pod_templates  # noqa: E402
from pod_security import release  # noqa: E402

ARCH = "kubernetes.io/arch"
ANY = None  # a label that may carry any value


# --- Label domains --------------------------------------------------------------

class Domain:
    """The values one node label may take on a node source: `values` (a set,
    or ANY), minus `excluded`; `present`/`absent`: whether a node may carry
    the label / lack it."""

    def __init__(self, values=ANY, present=True, absent=False, excluded=frozenset()):
        self.values = None if values is ANY else frozenset(values)
        self.excluded = frozenset(excluded)
        self.present = present
        self.absent = absent

    def copy(self):
        return copy.copy(self)

    def narrow(self, operator, values):
        values = [str(v) for v in values or []]
        d = self.copy()
        if operator == "In":
            d.values = (frozenset(values) - d.excluded) if d.values is None else d.values & frozenset(values)
            d.absent = False
        elif operator == "NotIn":
            if d.values is None:
                d.excluded = d.excluded | frozenset(values)
            else:
                d.values = d.values - frozenset(values)
        elif operator == "Exists":
            d.absent = False
        elif operator == "DoesNotExist":
            d.present = False
        elif operator in ("Gt", "Lt"):
            d.absent = False
            bound = int(values[0])
            if d.values is not None:
                d.values = frozenset(v for v in d.values if re.fullmatch(r"-?\d+", v)
                                     and (int(v) > bound if operator == "Gt" else int(v) < bound))
        else:
            raise ValueError(f"unknown operator {operator}")
        return d

    def always(self, operator, values):
        """Whether every node with this domain meets the requirement."""
        values = frozenset(str(v) for v in values or [])
        if operator == "In":
            return not self.absent and self.values is not None and self.values <= values
        if operator == "NotIn":  # an absent label meets NotIn
            if not self.present:
                return True
            return (not (self.values & values)) if self.values is not None else values <= self.excluded
        if operator == "Exists":
            return not self.absent
        if operator == "DoesNotExist":
            return not self.present
        if operator in ("Gt", "Lt"):
            bound = int(next(iter(values)))
            return (not self.absent and self.values is not None and all(
                re.fullmatch(r"-?\d+", v) and (int(v) > bound if operator == "Gt" else int(v) < bound)
                for v in self.values))
        raise ValueError(f"unknown operator {operator}")

    def possible(self):
        return self.absent or (self.present and (self.values is None or bool(self.values)))

    def describe(self):
        if not self.present:
            return "absent"
        text = "any value" if self.values is None else "one of " + ", ".join(sorted(self.values)) if self.values else "no value"
        if self.excluded:
            text += " except " + ", ".join(sorted(self.excluded))
        return text + (" or absent" if self.absent else "")


class NodeSource:
    """Nodes of one kind: fixed taints, a Domain per label; labels not in
    `labels` are absent."""

    def __init__(self, name, taints, labels):
        self.name = name
        self.taints = taints
        self.labels = labels

    def domain(self, key):
        return self.labels.get(key) or Domain(present=False, absent=True)


def source_from_data(entry):
    labels = {}
    for key, values in (entry.get("labels") or {}).items():
        labels[key] = Domain(ANY if values == "any" else [str(v) for v in values])
    return NodeSource(entry["name"], entry.get("taints") or [], labels)


# --- Terraform: managed node groups --------------------------------------------

class Unresolved(Exception):
    pass


def hcl_load_dir(directory):
    import hcl2  # python-hcl2, installed into the validate venv by scripts/lib/tools.sh

    merged = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.tf"))):
        with open(path) as handle:
            for key, value in hcl2.load(handle).items():
                if isinstance(value, list):
                    merged.setdefault(key, []).extend(value)
    return merged


def unquote(text):
    if isinstance(text, str) and len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text[1:-1]
    return text


def blocks(module, kind):
    """{(label, ...): body} of every `kind` block (resource, module, variable)."""
    found = {}
    for entry in module.get(kind) or []:
        for label, body in entry.items():
            if kind == "resource":
                for name, resource in body.items():
                    found[(unquote(label), unquote(name))] = resource
            else:
                found[unquote(label)] = body
    return found


def evaluate(expr, scope):
    """A literal, or a reference to var.*; anything else is Unresolved."""
    if isinstance(expr, list):
        return [evaluate(e, scope) for e in expr]
    if isinstance(expr, dict):
        return {unquote(k): evaluate(v, scope) for k, v in expr.items() if not k.startswith("__")}
    if isinstance(expr, str):
        if expr.startswith('"') and expr.endswith('"') and "${" not in expr:
            return expr[1:-1]
        match = re.fullmatch(r"\$\{var\.([\w.\[\]0-9]+)\}", expr)
        if match:
            value = scope
            for part in match.group(1).split("."):
                if isinstance(value, Unresolved):
                    raise value
                if not isinstance(value, dict) or part not in value:
                    raise Unresolved(f"var.{match.group(1)}")
                value = value[part]
            if isinstance(value, Unresolved):
                raise value
            return value
        raise Unresolved(expr)
    return expr


def split_top(text, separator=","):
    parts, depth, current, quoted = [], 0, "", False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if not quoted:
            depth += ch in "([{"
            depth -= ch in ")]}"
            if ch == separator and depth == 0:
                parts.append(current.strip())
                current = ""
                continue
        current += ch
    if current.strip():
        parts.append(current.strip())
    return parts


def optional_defaults(type_expr):
    """{attribute: default} of an object({...}) type's optional(T, default)
    attributes (None: optional without a default)."""
    match = re.fullmatch(r"\$\{object\(\{(.*)\}\)\}", (type_expr or "").strip(), re.S)
    if not match:
        return {}
    defaults = {}
    for attribute in split_top(match.group(1)):
        name, _, type_text = attribute.partition("=")
        type_text = type_text.strip()
        if type_text.startswith("optional(") and type_text.endswith(")"):
            arguments = split_top(type_text[len("optional("):-1])
            defaults[name.strip()] = json.loads(arguments[1]) if len(arguments) > 1 else None
    return defaults


def variables(module, arguments):
    """The module's var.* scope: the caller's arguments over the defaults,
    object attributes left null filled from optional() defaults."""
    scope = {}
    for name, body in blocks(module, "variable").items():
        if name in arguments:
            value = arguments[name]
        elif "default" in body:
            value = evaluate(body["default"], {})
        else:
            value = Unresolved(f"var.{name} (no value)")
        if isinstance(value, dict):
            value = dict(value)
            for attribute, default in optional_defaults(body.get("type")).items():
                if value.get(attribute) is None:
                    value[attribute] = default
        scope[name] = value
    return scope


def tfvars(directory):
    import hcl2

    values = {}
    path = os.path.join(directory, "terraform.tfvars")
    if os.path.exists(path):
        with open(path) as handle:
            for key, value in hcl2.load(handle).items():
                if not key.startswith("__"):
                    values[key] = evaluate(value, {})
    return values


def walk_modules(directory, arguments, found):
    """Every (module directory, var scope, module) reachable from the root
    through module calls with a local source."""
    module = hcl_load_dir(directory)
    scope = variables(module, arguments)
    found.append((directory, scope, module))
    for name, call in blocks(module, "module").items():
        source = unquote(call.get("source", ""))
        if not source.startswith("."):
            continue
        child_arguments = {}
        for key, expr in call.items():
            if key in ("source", "version", "providers", "depends_on", "count", "for_each") or key.startswith("__"):
                continue
            try:
                child_arguments[key] = evaluate(expr, scope)
            except Unresolved as unresolved:
                child_arguments[key] = unresolved
        walk_modules(os.path.normpath(os.path.join(directory, source)), child_arguments, found)
    return found


def instance_arch(instance_type):
    # Graviton families carry a 'g' right after the generation digit
    # (m7g, c7gn, r8g, t4g, x2gd, im4gn).
    return "arm64" if re.match(r"^[a-z]+[0-9]+g", instance_type) else "amd64"


TAINT_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}


def terraform_sources(root_dir):
    """NodeSources of the managed node groups, and the EKS add-on names."""
    modules = walk_modules(root_dir, tfvars(root_dir), [])
    sources, addons = [], []
    for directory, scope, module in modules:
        for (kind, name), body in blocks(module, "resource").items():
            where = f"{os.path.relpath(directory, os.path.dirname(os.path.dirname(root_dir)))}: {kind}.{name}"
            if kind == "aws_eks_addon":
                addon = evaluate(body.get("addon_name"), scope)
                configuration = str(body.get("configuration_values", ""))
                if re.search(r"tolerations|nodeSelector|affinity", configuration):
                    raise SystemExit(f"{where}: configuration_values sets scheduling; model it in scheduling-addons.yaml")
                addons.append(addon)
            if kind != "aws_eks_node_group":
                continue
            if "for_each" in body or "count" in body:
                raise SystemExit(f"{where}: count/for_each on a node group is not modelled by scheduling.py")
            try:
                group = evaluate(body.get("node_group_name", f'"{name}"'), scope)
                ami_type = evaluate(body.get("ami_type", '"AL2023_x86_64_STANDARD"'), scope)
                instance_types = evaluate(body.get("instance_types", '["t3.medium"]'), scope)
                capacity = evaluate(body.get("capacity_type", '"ON_DEMAND"'), scope)
                labels = evaluate(body.get("labels", {}), scope) or {}
                taints = [evaluate(t, scope) for t in body.get("taint") or []]
            except Unresolved as unresolved:
                raise SystemExit(f"{where}: cannot resolve {unresolved} offline")
            instance_archs = {instance_arch(t) for t in instance_types}
            ami_arch = "arm64" if "ARM" in ami_type.upper() else "amd64"
            if instance_archs != {ami_arch}:
                raise SystemExit(f"{where}: ami_type {ami_type} ({ami_arch}) does not match instance types {instance_types}")
            domains = {key: Domain([str(value)]) for key, value in labels.items()}
            domains.update({
                "kubernetes.io/os": Domain(["linux"]),
                ARCH: Domain([ami_arch]),
                "node.kubernetes.io/instance-type": Domain(instance_types),
                "eks.amazonaws.com/nodegroup": Domain([group]),
                "eks.amazonaws.com/capacityType": Domain([capacity]),
                "kubernetes.io/hostname": Domain(),
                "topology.kubernetes.io/zone": Domain(),
                "topology.kubernetes.io/region": Domain(),
            })
            sources.append(NodeSource(
                f"node group {group} ({', '.join(instance_types)}, {ami_arch})",
                [{"key": t["key"], "value": t.get("value"), "effect": TAINT_EFFECTS[t["effect"]]} for t in taints],
                domains))
    return sources, addons


# --- Karpenter NodePools ------------------------------------------------------------

# Well-known labels Karpenter sets on the nodes it launches, with the values it
# may choose when a NodePool does not constrain them (AWS provider, v1).
KARPENTER_WELL_KNOWN = {
    ARCH: ["amd64", "arm64"],
    # The EC2NodeClasses here are Linux (AL2023/Bottlerocket); a Windows node
    # needs a Windows AMI family.
    "kubernetes.io/os": ["linux"],
    "karpenter.sh/capacity-type": ["on-demand", "spot", "reserved"],
    "kubernetes.io/hostname": ANY,
    "topology.kubernetes.io/zone": ANY,
    "topology.kubernetes.io/region": ANY,
    "node.kubernetes.io/instance-type": ANY,
}
KARPENTER_AWS_PREFIX = "karpenter.k8s.aws/"


def nodepool_source(nodepool):
    spec = nodepool["spec"]["template"].get("spec") or {}
    labels = {key: Domain(values) for key, values in KARPENTER_WELL_KNOWN.items()}
    labels["karpenter.sh/nodepool"] = Domain([nodepool["metadata"]["name"]])
    for key, value in ((nodepool["spec"]["template"].get("metadata") or {}).get("labels") or {}).items():
        labels[key] = Domain([str(value)])
    for requirement in spec.get("requirements") or []:
        key = requirement["key"]
        base = labels.get(key) or Domain(ANY)  # a label it defines by requirement
        labels[key] = base.narrow(requirement["operator"], requirement.get("values"))
    return NodeSource(f"NodePool {nodepool['metadata']['name']}", spec.get("taints") or [], labels)


def karpenter_domain(source, key):
    # Karpenter's provider labels (instance family, CPU, ...) take any value
    # unless the NodePool constrains them.
    if key.startswith(KARPENTER_AWS_PREFIX) and key not in source.labels and source.name.startswith("NodePool "):
        return Domain(ANY)
    return source.domain(key)


# --- Fit ------------------------------------------------------------------------

def tolerates(tolerations, taint):
    for t in tolerations or []:
        if t.get("effect") and t["effect"] != taint["effect"]:
            continue
        operator = t.get("operator", "Equal")
        if not t.get("key"):
            if operator == "Exists":
                return True
            continue
        if t["key"] != taint["key"]:
            continue
        if operator == "Exists" or str(t.get("value", "")) == str(taint.get("value") or ""):
            return True
    return False


def taint_text(taint):
    value = f"={taint['value']}" if taint.get("value") not in (None, "") else ""
    return f"{taint['key']}{value}:{taint['effect']}"


def node_terms(spec):
    """The pod's requirements on node labels: one list per required
    node-affinity term (ORed), nodeSelector added to each."""
    selector = [{"key": k, "operator": "In", "values": [v]} for k, v in (spec.get("nodeSelector") or {}).items()]
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = [t.get("matchExpressions") or [] for t in required.get("nodeSelectorTerms") or []] or [[]]
    return [selector + term for term in terms]


def fit(spec, source):
    """(None, possible archs) if the pod may land on SOURCE, else (why, None)."""
    blocking = [t for t in source.taints if t["effect"] in ("NoSchedule", "NoExecute")]
    untolerated = [taint_text(t) for t in blocking if not tolerates(spec.get("tolerations"), t)]
    if untolerated:
        return f"taint {', '.join(untolerated)} not tolerated", None
    reasons = []
    archs = set()
    passed = False
    for term in node_terms(spec):
        domains = {}
        failed = None
        for requirement in term:
            key = requirement["key"]
            domain = domains.get(key) or karpenter_domain(source, key)
            domains[key] = domain.narrow(requirement["operator"], requirement.get("values"))
            if not domains[key].possible():
                values = ",".join(requirement.get("values") or [])
                failed = (f"requires {key} {requirement['operator']} {values}".rstrip()
                          + f"; the source's nodes have {domain.describe()}")
                break
        if failed:
            reasons.append(failed)
            continue
        passed = True
        arch = domains.get(ARCH) or source.domain(ARCH)
        archs |= set(arch.values or [])
    if not passed:
        return " / ".join(reasons), None
    return None, archs


def fit_every_node(spec, source):
    """As fit, for a DaemonSet: (None, archs) only if the pod may run on every
    node SOURCE may start, else (why, None). One required node-affinity term
    must hold on all of them (nodes that need different terms are not
    modelled: such a DaemonSet is refused)."""
    blocking = [t for t in source.taints if t["effect"] in ("NoSchedule", "NoExecute")]
    untolerated = [taint_text(t) for t in blocking if not tolerates(spec.get("tolerations"), t)]
    if untolerated:
        return f"taint {', '.join(untolerated)} not tolerated", None
    reasons = []
    for term in node_terms(spec):
        unmet = [r for r in term
                 if not karpenter_domain(source, r["key"]).always(r["operator"], r.get("values"))]
        if not unmet:
            return None, set(source.domain(ARCH).values or [])
        r = unmet[0]
        reasons.append(f"requires {r['key']} {r['operator']} {','.join(r.get('values') or [])}".rstrip()
                       + f"; some of the source's nodes have {karpenter_domain(source, r['key']).describe()}")
    return " / ".join(reasons), None


# --- Images -----------------------------------------------------------------------

def image_repository(image):
    image = image.split("@")[0]
    name, _, tag = image.rpartition(":")
    if name and "/" not in tag:
        image = name
    first = image.split("/")[0]
    if "/" not in image:
        image = "docker.io/library/" + image
    elif "." not in first and ":" not in first and first != "localhost" and first != "eks-addon":
        image = "docker.io/" + image
    return image


def release_platforms(root):
    """Architectures .github/workflows/release.yml builds our images for: the
    `platforms` of its docker/build-push-action steps, expressions over the
    job's matrix or the workflow's env resolved, all legs of a matrix merged
    (they are pushed into one index); without `platforms` the action builds
    for the runner's (linux/amd64)."""
    with open(os.path.join(root, ".github/workflows/release.yml")) as handle:
        workflow = yaml.safe_load(handle)
    env = workflow.get("env") or {}
    archs = set()

    def resolve(text, job):
        match = re.fullmatch(r"\$\{\{\s*([\w.]+)\s*\}\}", text.strip())
        if not match:
            return [text]
        path = match.group(1).split(".")
        if path[0] == "env" and len(path) == 2 and path[1] in {**env, **(job.get("env") or {})}:
            return [{**env, **(job.get("env") or {})}[path[1]]]
        if path[0] == "matrix":
            values = ((job.get("strategy") or {}).get("matrix") or {}).get(path[1]) or []
            return [value_at(v, ".".join(path[2:])) if len(path) > 2 else v for v in values]
        raise SystemExit(f"release.yml: cannot resolve platforms {text}")

    for job in (workflow.get("jobs") or {}).values():
        for step in job.get("steps") or []:
            if not str(step.get("uses", "")).startswith("docker/build-push-action"):
                continue
            platforms = (step.get("with") or {}).get("platforms")
            for value in resolve(str(platforms), job) if platforms else ["linux/amd64"]:
                archs |= {p.strip().split("/")[1] for p in str(value).split(",") if "/" in p}
    return archs or {"amd64"}


def image_archs(image, ours, table):
    repository = image_repository(image)
    if repository.startswith("ghcr.io/harmony-chat/"):
        return set(ours), None
    if repository in table:
        return set(table[repository]), None
    return None, f"image {repository} is not in scripts/manifests/scheduling-images.yaml"


# --- Add-on pods from helmfile's state -------------------------------------------

def value_at(values, path):
    node = values
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def merged_values(release_entry):
    def merge(a, b):
        if isinstance(a, dict) and isinstance(b, dict):
            out = dict(a)
            for k, v in b.items():
                out[k] = merge(a.get(k), v) if k in a else v
            return out
        return b

    merged = {}
    for values in release_entry.get("values") or []:
        if isinstance(values, dict):
            merged = merge(merged, values)
    return merged


def addon_pods(state, addons_table, environment):
    pods, errors = [], []
    for r in (state or {}).get("releases") or []:
        if r.get("installed", True) is False:
            continue
        chart = r["chart"]
        if chart.startswith("./") or chart.startswith("../"):
            continue  # local charts are rendered
        entry = addons_table["charts"].get(chart)
        if entry is None:
            errors.append(f"{environment}: helmfile release {r['name']} ({chart}): its pods are not in scripts/manifests/scheduling-addons.yaml")
            continue
        if str(entry["version"]) != str(r.get("version")):
            errors.append(f"{environment}: helmfile release {r['name']} installs {chart} {r.get('version')}, "
                          f"scheduling-addons.yaml describes {entry['version']}: review its defaults")
            continue
        values = merged_values(r)
        defaults = entry.get("defaults") or {}

        def lookup(path):
            value = value_at(values, path)
            if value is None:
                value = defaults.get(path)
            return value

        for pod in entry["pods"]:
            if pod.get("when") and not lookup(pod["when"]):
                continue
            spec = {"containers": [{"name": f"c{i}", "image": image} for i, image in enumerate(pod["images"])]}
            for field in ("tolerations", "nodeSelector", "affinity"):
                for path in pod.get(field) or []:
                    value = lookup(path)
                    if value:
                        spec[field] = value
                        break
            for field, value in (pod.get("fixed") or {}).items():
                spec[field] = value
            pods.append({"name": f"{r['namespace']}/{r['name']}/{pod['name']}", "namespace": r["namespace"],
                         "metadata": {}, "spec": spec, "source": f"helmfile {chart} {r.get('version')}",
                         "daemonset": pod.get("kind") == "DaemonSet"})
    return pods, errors


def eks_addon_pods(addon_names, addons_table):
    pods, errors = [], []
    for name in addon_names:
        entry = addons_table["eksAddons"].get(name)
        if entry is None:
            errors.append(f"terraform's EKS add-on {name}: its pods are not in scripts/manifests/scheduling-addons.yaml")
            continue
        for pod in entry["pods"]:
            spec = {"containers": [{"name": f"c{i}", "image": image} for i, image in enumerate(pod["images"])]}
            spec.update(copy.deepcopy(pod.get("fixed") or {}))
            pods.append({"name": f"kube-system/{name}/{pod['name']}", "namespace": "kube-system", "metadata": {},
                         "spec": spec, "source": "terraform aws_eks_addon", "daemonset": pod.get("kind") == "DaemonSet"})
    return pods, errors


def render_local_charts(root, state, helm):
    """Objects of the local charts helmfile installs (NodePools among them)."""
    objects = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in (state or {}).get("releases") or []:
            chart = r["chart"]
            if r.get("installed", True) is False or not chart.startswith("."):
                continue
            files = []
            for i, values in enumerate(r.get("values") or []):
                path = os.path.join(tmp, f"{r['name']}-{i}.yaml")
                with open(path, "w") as handle:
                    yaml.safe_dump(values, handle)
                files += ["-f", path]
            result = subprocess.run(
                [helm, "template", r["name"], os.path.join(root, "helmfile", chart), "--namespace", r["namespace"], *files],
                capture_output=True, text=True)
            if result.returncode != 0:
                raise SystemExit(f"helm template of helmfile release {r['name']} failed:\n{result.stderr}")
            objects += [o for o in yaml.safe_load_all(result.stdout) if o]
    return objects


# --- The check ---------------------------------------------------------------------

def check_pods(label, pods, sources, ours, table):
    failures = 0
    for pod in pods:
        spec = pod["spec"]
        images = [c.get("image", "") for _, c in _containers(spec)]
        archs_needed, problems = None, []
        for image in images:
            archs, error = image_archs(image, ours, table)
            if error:
                problems.append(error)
                continue
            archs_needed = archs if archs_needed is None else archs_needed & archs
        daemonset = pod.get("daemonset", False)
        fits, refusals = [], []
        for source in sources:
            why, archs = (fit_every_node if daemonset else fit)(spec, source)
            if why:
                refusals.append(f"{source.name} ({why})")
                continue
            if archs_needed is not None and not archs <= archs_needed:
                missing = sorted(archs - archs_needed)
                lacking = [image_repository(i) for i in images
                           if not set(missing) <= (image_archs(i, ours, table)[0] or set())]
                problems.append(f"may land on {source.name}'s {', '.join(missing)} nodes, "
                                f"but {', '.join(sorted(set(lacking)))} has no {', '.join(missing)} image")
                continue
            fits.append(source.name)
        if not sources:
            problems.insert(0, "no node source at all")
        elif daemonset and refusals:
            # Node agents (CNI, kube-proxy, pod identity, CSI, node-exporter)
            # are needed on every node, whichever source started it.
            problems.insert(0, "a DaemonSet must run on every node source, but not on: " + "; ".join(refusals))
        elif not fits and refusals:
            problems.insert(0, "no node source fits: " + "; ".join(refusals))
        if problems:
            failures += 1
            print(f"FAIL: {label}: {pod['name']} ({pod['source']}): " + "; ".join(problems), file=sys.stderr)
        else:
            every = "every node of " if daemonset else ""
            print(f"ok: {label}: {pod['name']} fits {every}{', '.join(fits)}")
    return failures


def _containers(spec):
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(field) or []:
            yield field, c


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--self-test", action="store_true")
    parser.add_argument("--root")
    parser.add_argument("--env")
    parser.add_argument("--helmfile-state")
    parser.add_argument("--helm")
    parser.add_argument("manifests", nargs="*")
    args = parser.parse_args()
    if args.self_test:
        result = unittest.TextTestRunner(verbosity=1).run(unittest.defaultTestLoader.loadTestsFromTestCase(Fit))
        return 0 if result.wasSuccessful() else 1
    if not (args.root and args.env and args.helmfile_state and args.helm):
        parser.error("--root, --env, --helmfile-state and --helm are required")
    label = args.env
    with open(os.path.join(here, "scheduling-images.yaml")) as handle:
        table = yaml.safe_load(handle)["images"]
    with open(os.path.join(here, "scheduling-addons.yaml")) as handle:
        addons_table = yaml.safe_load(handle)
    states = [d for d in pod_templates.load_all(args.helmfile_state) if "releases" in d]
    state = states[0] if states else {"releases": []}
    ours = release_platforms(args.root)
    print(f"{label}: our images (ghcr.io/harmony-chat/*) are built for {', '.join(sorted(ours))} (.github/workflows/release.yml)")

    errors = []
    terraform_dir = os.path.join(args.root, "terraform/environments", args.env)
    if os.path.isdir(terraform_dir):
        sources, eks_addons = terraform_sources(terraform_dir)
    else:
        with open(os.path.join(here, "scheduling-dev-nodes.yaml")) as handle:
            sources = [source_from_data(e) for e in yaml.safe_load(handle)["nodeSources"]]
        eks_addons = []
    local_objects = render_local_charts(args.root, state, args.helm)
    sources += [nodepool_source(o) for o in local_objects
                if o.get("kind") == "NodePool" and o.get("apiVersion", "").startswith("karpenter.sh/")]
    for source in sources:
        taints = ", ".join(taint_text(t) for t in source.taints) or "no taint"
        print(f"{label}: node source {source.name}: {taints}; {ARCH} {source.domain(ARCH).describe()}")

    objects = [o for path in args.manifests for o in pod_templates.load_all(path)]
    pods = pod_templates.pods_of_objects(objects, "manifests") + pod_templates.pods_of_objects(local_objects, "helmfile local chart")
    if release(state, "strimzi-kafka-operator"):
        pods += pod_templates.strimzi_pods(objects, "baseline")
    if release(state, "cloudnative-pg"):
        pods += pod_templates.cnpg_pods(objects)
    more, problems = addon_pods(state, addons_table, label)
    pods += more
    errors += problems
    more, problems = eks_addon_pods(eks_addons, addons_table)
    pods += more
    errors += problems

    failures = check_pods(label, pods, sources, ours, table)
    for error in errors:
        print(f"FAIL: {error}", file=sys.stderr)
    failures += len(errors)
    print(f"{label}: {len(pods) - failures} of {len(pods)} pods fit a node source ({len(sources)} node sources)")
    return 1 if failures else 0


# --- Self-test -------------------------------------------------------------------------

class Fit(unittest.TestCase):
    system = NodeSource("system", [{"key": "CriticalAddonsOnly", "value": "true", "effect": "NoSchedule"}],
                        {ARCH: Domain(["amd64"]), "kubernetes.io/os": Domain(["linux"])})
    pool = nodepool_source({"metadata": {"name": "default"}, "spec": {"template": {"spec": {"requirements": [
        {"key": ARCH, "operator": "In", "values": ["amd64", "arm64"]},
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
        {"key": "karpenter.k8s.aws/instance-generation", "operator": "Gt", "values": ["4"]}]}}}})

    def test_taints(self):
        self.assertIn("CriticalAddonsOnly=true:NoSchedule", fit({}, self.system)[0])
        self.assertIsNone(fit({"tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}]}, self.system)[0])
        self.assertIsNone(fit({"tolerations": [{"operator": "Exists"}]}, self.system)[0])
        self.assertIsNotNone(fit({"tolerations": [{"key": "CriticalAddonsOnly", "value": "false"}]}, self.system)[0])
        self.assertIsNotNone(fit({"tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists",
                                                   "effect": "NoExecute"}]}, self.system)[0])

    def test_labels(self):
        nodepool_absent = {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "karpenter.sh/nodepool", "operator": "DoesNotExist"}]}]}}}}
        self.assertIsNotNone(fit(nodepool_absent, self.pool)[0])
        self.assertEqual(fit({"nodeSelector": {ARCH: "arm64"}}, self.pool), (None, {"arm64"}))
        self.assertIsNotNone(fit({"nodeSelector": {ARCH: "s390x"}}, self.pool)[0])
        self.assertIsNotNone(fit({"nodeSelector": {"karpenter.sh/capacity-type": "spot"}}, self.pool)[0])
        self.assertIsNone(fit({"nodeSelector": {"topology.kubernetes.io/zone": "eu-west-1a"}}, self.pool)[0])
        self.assertIsNotNone(fit({"nodeSelector": {"team": "a"}}, self.pool)[0])  # a label the pool never sets
        self.assertIsNone(fit({"nodeSelector": {"karpenter.k8s.aws/instance-family": "m7g"}}, self.pool)[0])

    def test_operators(self):
        d = Domain(["1", "5"])
        self.assertEqual(d.narrow("Gt", ["2"]).values, {"5"})
        self.assertEqual(d.narrow("Lt", ["2"]).values, {"1"})
        self.assertFalse(d.narrow("NotIn", ["1", "5"]).possible())
        self.assertFalse(d.narrow("DoesNotExist", []).possible())
        self.assertTrue(Domain(present=False, absent=True).narrow("NotIn", ["x"]).possible())
        self.assertFalse(Domain(present=False, absent=True).narrow("Exists", []).possible())
        terms = {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": ARCH, "operator": "In", "values": ["s390x"]}]},
            {"matchExpressions": [{"key": ARCH, "operator": "NotIn", "values": ["arm64"]}]}]}}}}
        self.assertEqual(fit(terms, self.pool), (None, {"amd64"}))  # the second term fits

    def test_architectures(self):
        table = {"docker.io/library/redis": ["amd64", "arm64"]}
        pod = {"name": "p", "source": "t", "spec": {"containers": [{"image": "ghcr.io/harmony-chat/harmony:1"}]}}
        self.assertEqual(check_pods("t", [pod], [self.pool], {"amd64"}, table), 1)
        self.assertEqual(check_pods("t", [pod], [self.pool], {"amd64", "arm64"}, table), 0)
        pinned = copy.deepcopy(pod)
        pinned["spec"]["nodeSelector"] = {ARCH: "amd64"}
        self.assertEqual(check_pods("t", [pinned], [self.pool], {"amd64"}, table), 0)
        unknown = {"name": "u", "source": "t", "spec": {"containers": [{"image": "example.com/x:1"}]}}
        self.assertEqual(check_pods("t", [unknown], [self.pool], {"amd64"}, table), 1)
        self.assertEqual(image_repository("redis:7.4.2-alpine"), "docker.io/library/redis")
        self.assertEqual(image_repository("amazon/dynamodb-local:2.6.1"), "docker.io/amazon/dynamodb-local")
        self.assertEqual(image_repository("localhost:5000/x@sha256:ab"), "localhost:5000/x")

    def test_daemonset_every_source(self):
        # A DaemonSet that fits the NodePool but not the tainted system nodes
        # is refused (a regular pod with the same spec passes: one source is
        # enough for it); tolerating the taint makes it pass.
        agent = {"name": "a", "source": "t", "daemonset": True, "spec": {
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "containers": [{"image": "ghcr.io/harmony-chat/agent:1"}]}}
        both = {"amd64", "arm64"}
        self.assertEqual(check_pods("t", [agent], [self.system, self.pool], both, {}), 1)
        self.assertEqual(check_pods("t", [dict(agent, daemonset=False)], [self.system, self.pool], both, {}), 0)
        tolerant = copy.deepcopy(agent)
        tolerant["spec"]["tolerations"] = [{"operator": "Exists"}]
        self.assertEqual(check_pods("t", [tolerant], [self.system, self.pool], both, {}), 0)
        # On every node: an amd64-only selector leaves the pool's arm64 nodes
        # without it, and an image without arm64 is refused on the pool.
        amd64_only = copy.deepcopy(tolerant)
        amd64_only["spec"]["nodeSelector"][ARCH] = "amd64"
        self.assertEqual(check_pods("t", [amd64_only], [self.system, self.pool], both, {}), 1)
        self.assertEqual(check_pods("t", [tolerant], [self.system, self.pool], {"amd64"}, {}), 1)
        self.assertIsNone(fit_every_node({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "eks.amazonaws.com/compute-type", "operator": "NotIn", "values": ["fargate"]},
                {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand", "spot"]}]}]}}}},
            self.pool)[0])
        self.assertIsNotNone(fit_every_node({"nodeSelector": {"karpenter.k8s.aws/instance-generation": "5"}}, self.pool)[0])

    def test_instance_arch(self):
        self.assertEqual([instance_arch(t) for t in ["m7g.large", "c7gn.xlarge", "t4g.small", "x2gd.large",
                                                      "m7i.large", "t3.large", "g5.xlarge", "g5g.xlarge"]],
                         ["arm64"] * 4 + ["amd64"] * 3 + ["arm64"])

    def test_optional_defaults(self):
        self.assertEqual(optional_defaults('${object({a = optional(list(string), ["x", "y"]), b = number, '
                                           'c = optional(string)})}'), {"a": ["x", "y"], "c": None})


if __name__ == "__main__":
    sys.exit(main())
