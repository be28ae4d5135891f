"""Applies one environment to an empty cluster on paper, in the order
docs/deploy.md gives, and checks that every object's namespace (and, for a
custom resource, its CRD; for a chart whose values name a Secret, that
Secret) exists before it is applied.

Usage: apply_order.py --root DIR --env ENV --helmfile BIN --helm BIN --kubectl BIN [--doc FILE]

The walk: docs/deploy.md's ```sh blocks in document order. A `##` section
whose heading names `dev` is the dev walk; the other sections are the walk
of staging and prod (written for staging: `staging` is read as the
environment). If the dev section runs no `helmfile`, it only adds to the
main walk: dev then runs the main walk's blocks that need no cloud (no
terraform, no aws) with the dev blocks just before GitOps. Each block starts
at the repository root. A command this script does not know fails the check,
so the document cannot drift from it silently.

What each command creates:
- `terraform apply` in terraform/environments/<env>: the cluster, and what
  terraform's kubernetes provider writes (gitops-bridge: the argocd
  namespace unless create_namespace = false, the cluster Secret);
- kubectl create/apply/label/annotate: what they say;
- `helmfile -e ENV apply|sync`: its releases in `needs` order (releases with
  no path between them install at the same time, so neither may rely on the
  other); a release creates its namespace (helmfile's createNamespace,
  default true), its chart's CRDs, and objects in its namespace and, where
  apply_order_charts.yaml says so, in others; local charts are rendered;
  a Secret its values name (`existingSecret`) must exist first;
- `kubectl apply -f gitops/bootstrap/`: the Applications it creates are
  synced as Argo CD syncs them (CreateNamespace=true creates the
  destination namespace first; objects by phase, sync wave, kind, name; a
  wave starts once the earlier ones are healthy), ApplicationSets generate
  their Applications from git directories and the cluster Secrets present;
  kustomize sources are built with the buildOptions from Argo CD's values.
A failed step is reported and its objects counted as created, so that each
cause is reported once.
"""
import argparse
import atexit
import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import yaml

BUILTIN_NAMESPACES = {"default", "kube-system", "kube-public", "kube-node-lease"}
# API groups served by Kubernetes itself (no CRD needed).
BUILTIN_GROUPS = {"", "apps", "batch", "autoscaling", "policy", "rbac.authorization.k8s.io",
                  "networking.k8s.io", "storage.k8s.io", "apiextensions.k8s.io",
                  "admissionregistration.k8s.io", "coordination.k8s.io", "scheduling.k8s.io",
                  "discovery.k8s.io", "node.k8s.io", "certificates.k8s.io",
                  "apiregistration.k8s.io", "flowcontrol.apiserver.k8s.io", "events.k8s.io",
                  "resource.k8s.io"}
CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
                  "StorageClass", "PersistentVolume", "PriorityClass", "IngressClass",
                  "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
                  "APIService", "RuntimeClass", "CSIDriver", "VolumeAttachment"}
# gitops-engine's and Helm's kind order within one wave.
KIND_ORDER = ["Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
              "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap",
              "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
              "CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
              "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList",
              "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
              "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass",
              "Ingress", "APIService"]
HARMLESS = {("terraform", "init"), ("terraform", "fmt"), ("terraform", "validate"),
            ("terraform", "plan"), ("terraform", "output"), ("aws", "eks"),
            ("helmfile", "deps"), ("helmfile", "repos"), ("helmfile", "lint"),
            ("helmfile", "diff"), ("helmfile", "template"), ("helmfile", "build"),
            ("helmfile", "list"), ("helm", "repo"),
            # Reads an image's signature from the registry; nothing in the cluster.
            ("cosign", "verify"),
            # Account-level IAM (e.g. the EC2 Spot service-linked role): nothing in the cluster.
            ("aws", "iam")}
READ_ONLY_KUBECTL = {"get", "describe", "logs", "wait", "rollout", "port-forward", "config",
                     "version", "cluster-info", "diff"}


def group_of(api_version):
    return api_version.split("/")[0] if "/" in api_version else ""


def dig(values, dotted, default=None):
    for key in dotted.split("."):
        if not isinstance(values, dict) or key not in values:
            return default
        values = values[key]
    return values


class Failure(Exception):
    pass


class Cluster:
    """What exists so far."""

    def __init__(self, exists):
        self.exists = exists
        self.namespaces = set(BUILTIN_NAMESPACES)
        self.crds = {}  # (group, kind) -> scope
        self.objects = {}  # (kind, namespace, name) -> object

    def copy(self):
        other = Cluster(self.exists)
        other.namespaces = set(self.namespaces)
        other.crds = dict(self.crds)
        other.objects = dict(self.objects)
        return other

    def merge(self, other):
        self.namespaces |= other.namespaces
        self.crds.update(other.crds)
        self.objects.update(other.objects)

    def namespaced(self, o):
        kind = o["kind"]
        group = group_of(o.get("apiVersion", ""))
        if group in BUILTIN_GROUPS:
            return kind not in CLUSTER_SCOPED
        return self.crds.get((group, kind), "Namespaced") == "Namespaced"

    def check(self, o, default_namespace, problems, crds_later=()):
        """Checks one object against what exists; returns its namespace."""
        kind, name = o["kind"], o["metadata"]["name"]
        group = group_of(o.get("apiVersion", ""))
        if group not in BUILTIN_GROUPS and (group, kind) not in self.crds:
            where = " (its CRD comes later in the same step)" if (group, kind) in crds_later else ""
            problems.append(f"{kind}.{group} {name}: no CRD for {kind}.{group} yet{where}")
        namespace = None
        if self.namespaced(o):
            namespace = o["metadata"].get("namespace") or default_namespace
            if namespace not in self.namespaces:
                problems.append(f"{kind} {namespace}/{name}: namespace {namespace} does not exist yet")
        return namespace

    def add(self, o, namespace):
        kind, name = o["kind"], o["metadata"]["name"]
        if kind == "Namespace":
            self.namespaces.add(name)
        if kind == "CustomResourceDefinition":
            spec = o["spec"]
            self.crds[(spec["group"], spec["names"]["kind"])] = spec.get("scope", "Namespaced")
        self.objects[(kind, namespace, name)] = o


def describe(objects):
    """A short list of what a step created."""
    names = []
    for kind, namespace, name in objects:
        names.append(f"{kind} {namespace + '/' if namespace else ''}{name}")
    if len(names) > 6:
        return ", ".join(names[:5]) + f" and {len(names) - 5} more"
    return ", ".join(names) or "nothing in the cluster"


def yaml_documents(text):
    return [d for d in yaml.safe_load_all(text) if isinstance(d, dict) and d.get("kind")]


class Walk:
    def __init__(self, args, env):
        self.args, self.env, self.root = args, env, args.root
        self.cluster = Cluster(exists=(env == "dev"))  # dev: any cluster you have
        self.failed = 0
        self.step = 0
        self.charts = yaml.safe_load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "apply_order_charts.yaml")))["charts"]
        self.argocd_values = {}
        self.pending_appsets = []
        self.synced_apps = set()
        self.work = tempfile.mkdtemp(prefix="apply-order-")
        self.carry = []  # problems reported with the next step
        self.variables = {}
        self.helmfile_v0 = False
        self.substitutions = []

    # -- reporting
    def report(self, what, created, problems):
        self.step += 1
        label = f"[{self.env}] step {self.step}: {what}"
        problems, self.carry = self.carry + problems, []
        if problems:
            self.failed += 1
            print(f"FAIL: {label}:")
            for problem in problems:
                print(f"    {problem}")
            if created:
                print(f"    (then counted as created: {describe(created)})")
        else:
            print(f"ok: {label}: {describe(created)}")

    def run(self, command, cwd=None):
        # helmfile 0.166 in v1 mode behaves as helmfile v1, what a new user installs.
        env = dict(os.environ, HELMFILE_V1MODE="false" if self.helmfile_v0 else "true")
        result = subprocess.run(command, cwd=cwd or self.root, capture_output=True, text=True, env=env)
        return result.returncode, result.stdout, result.stderr

    # -- the document
    def walk_commands(self, doc_path):
        sections, heading = [], None
        text = open(doc_path).read()
        for match in re.finditer(r"^(#{1,6}) ([^\n]*)$|^```sh\n(.*?)^```", text, re.M | re.S):
            if match.group(1):
                if len(match.group(1)) <= 2:
                    heading = match.group(2)
                    sections.append((heading, []))
            elif sections:
                sections[-1][1].append(match.group(3))
        dev = [b for h, blocks in sections if re.search(r"\bdev\b", h, re.I) for b in blocks]
        main = [b for h, blocks in sections if not re.search(r"\bdev\b", h, re.I) for b in blocks]
        if self.env != "dev":
            return [self.for_env(b) for b in main]
        if not dev:
            raise Failure(f"{doc_path}: no `## ... dev ...` section with sh blocks (the dev walk)")
        if any(re.search(r"^\s*(cd \S+ && )?helmfile\b", b, re.M) for b in dev):
            return [self.for_env(b) for b in dev]
        # The dev section only adds to the main walk: its cloud-free blocks,
        # with the dev blocks before GitOps.
        cloud_free = [b for b in main if not re.search(r"^\s*terraform\b|terraform/", b, re.M)]
        at = next((i for i, b in enumerate(cloud_free) if "gitops/bootstrap" in b), len(cloud_free))
        print(f"note: [dev] the dev section runs no helmfile: walking the main walk's cloud-free blocks with the dev blocks before GitOps")
        return [self.for_env(b) for b in cloud_free[:at] + dev + cloud_free[at:]]

    def for_env(self, block):
        block = re.sub(r"\\\n", " ", block)
        for placeholder in ("<env>", "${ENV}", "$ENV", "${env}", "$env"):
            block = block.replace(placeholder, self.env)
        return re.sub(r"\bstaging\b", self.env, block)

    def execute(self, blocks):
        for block in blocks:
            cwd = ""
            for line in block.splitlines():
                # Command substitutions: evaluated where their command runs.
                self.substitutions = re.findall(r"\$\(([^()]*)\)", line)
                for n, inner in enumerate(self.substitutions):
                    line = line.replace(f"$({inner})", f"__SUBST{n}__", 1)
                lexer = shlex.shlex(line, posix=True, punctuation_chars="&;|()")
                lexer.whitespace_split = True
                command, piped = [], None
                for token in list(lexer) + [";"]:
                    if token in ("(", ")"):
                        continue
                    if token in ("&&", ";", "||", "|", "&"):
                        if token == "|" and command[:1] == ["kubectl"] and "create" in command and \
                                any(a.startswith("--dry-run") for a in command):
                            # `kubectl create ... --dry-run=client -o yaml | kubectl apply -f -`
                            piped = [a for a in command if not a.startswith("--dry-run")]
                            piped = [a for n, a in enumerate(piped) if a not in ("-o", "yaml") or
                                     (a == "yaml" and piped[n - 1] != "-o")]
                            command = []
                            continue
                        if token == "||" and tuple(command[:2]) in HARMLESS and piped is None:
                            # `check || create`: the check creates nothing in
                            # the cluster; the right side is walked as usual.
                            cwd = self.command(command, cwd)
                            command = []
                            continue
                        if token in ("|", "&", "||"):
                            self.report(line.strip(), [], [f"`{token}` is not understood by the order check"])
                            command = []
                            break
                        if piped is not None:
                            if command[:1] != ["kubectl"] or "apply" not in command or command[-2:] != ["-f", "-"]:
                                self.report(line.strip(), [], ["a pipe the order check does not know"])
                            command, piped = piped, None
                        if command:
                            cwd = self.command(command, cwd)
                        command = []
                    else:
                        command.append(token)
        # Argo CD keeps trying: an ApplicationSet whose cluster Secret came later.
        self.sync_appsets()
        if self.pending_appsets and not self.synced_apps:
            self.report("Argo CD", [], ["no Application was generated for this environment (no matching cluster Secret)"])

    def substitute(self, word, cwd):
        def value(match):
            inner = shlex.split(self.substitutions[int(match.group(1))])
            if inner[:2] == ["openssl", "rand"]:
                return "generated"
            if inner[:1] == ["terraform"] and "output" in inner:
                directory = next((a.split("=", 1)[1] for a in inner if a.startswith("-chdir=")), "")
                directory = os.path.normpath(os.path.join(cwd, directory))
                name = inner[-1]
                outputs = os.path.join(self.root, directory, "outputs.tf")
                if not os.path.exists(outputs):
                    self.carry.append(f"`{shlex.join(inner)}` runs in {directory}, which has no terraform outputs")
                elif not re.search(rf'^output "{re.escape(name)}"', open(outputs).read(), re.M):
                    self.carry.append(f"`{shlex.join(inner)}`: {directory} has no output {name}")
                return f"output-{name}"
            self.carry.append(f"`$({shlex.join(inner)})` is not a command the order check knows")
            return "unknown"
        word = re.sub(r"__SUBST(\d+)__", value, word)
        for name, val in self.variables.items():
            word = word.replace("${" + name + "}", val).replace("$" + name, val)
        return word

    def command(self, argv, cwd):
        argv = [self.substitute(a, cwd) for a in argv]
        if argv[0] == "export" or re.fullmatch(r"[A-Za-z_]\w*=.*", argv[0]):
            for assignment in argv[1:] if argv[0] == "export" else argv:
                if "=" in assignment:
                    name, val = assignment.split("=", 1)
                    self.variables[name] = val
            return cwd
        text = shlex.join(argv)
        tool = argv[0]
        if tool == "cd":
            target = os.path.normpath(os.path.join(cwd, argv[1]))
            if not os.path.isdir(os.path.join(self.root, target)):
                self.report(text, [], [f"directory {target} does not exist in the repository"])
            return target
        if tool in ("echo", "true"):
            return cwd
        sub = argv[1] if len(argv) > 1 else ""
        if tool == "terraform" and sub == "apply":
            self.terraform_apply(text, cwd)
        elif tool == "kubectl":
            self.kubectl(text, argv[1:], cwd)
        elif tool == "helmfile":
            self.helmfile(text, argv[1:], cwd)
        elif (tool, sub) in HARMLESS:
            if (tool, sub) == ("aws", "eks") and not self.cluster.exists:
                self.report(text, [], ["the cluster does not exist yet"])
        else:
            self.report(text, [], [f"`{tool} {sub}` is not a command the order check knows (scripts/manifests/apply_order.py)"])
        return cwd

    # -- terraform
    def terraform_apply(self, text, cwd):
        if cwd == "terraform/bootstrap":
            self.report(f"{text} (in {cwd}: the state bucket)", [], [])
            return
        if cwd != f"terraform/environments/{self.env}":
            self.report(text, [], [f"terraform apply in {cwd or 'the repository root'}: not an environment of this walk"])
            return
        modules = os.path.join(self.root, "terraform")
        kinds = set()
        for directory, _, files in os.walk(modules):
            for f in files:
                if f.endswith(".tf"):
                    kinds |= set(re.findall(r'^resource\s+"((?:kubernetes|helm|kubectl)_\w+)"', open(os.path.join(directory, f)).read(), re.M))
        problems = [f"terraform writes {k}, which the order check does not model"
                    for k in sorted(kinds - {"kubernetes_namespace_v1", "kubernetes_secret_v1"})]
        bridge = os.path.join(modules, "modules/gitops-bridge")
        variables = open(os.path.join(bridge, "variables.tf")).read()
        callers = "".join(open(os.path.join(d, f)).read() for d, _, fs in os.walk(modules) for f in fs
                          if f.endswith(".tf") and "gitops-bridge" in open(os.path.join(d, f)).read() and "modules/gitops-bridge" not in d)
        create = not re.search(r"\bcreate_namespace\s*=\s*false", callers)
        create = create and bool(re.search(r'variable "create_namespace"[^}]*default\s*=\s*true', variables, re.S))
        namespace = re.search(r'variable "namespace"[^}]*default\s*=\s*"([^"]+)"', variables, re.S).group(1)
        override = re.search(r'^\s*namespace\s*=\s*"([^"]+)"', callers, re.M)
        namespace = override.group(1) if override else namespace
        self.cluster.exists = True
        created = []
        if create:
            self.cluster.namespaces.add(namespace)
            created.append(("Namespace", None, namespace))
        secret = {"kind": "Secret", "apiVersion": "v1",
                  "metadata": {"name": f"harmony-{self.env}", "namespace": namespace,
                               "labels": {"argocd.argoproj.io/secret-type": "cluster",
                                          "harmony.chat/environment": self.env}},
                  "stringData": {"server": "https://kubernetes.default.svc"}}
        self.cluster.check(secret, namespace, problems)
        self.cluster.add(secret, namespace)
        created.append(("Secret", namespace, secret["metadata"]["name"]))
        self.report(f"{text} (in {cwd}: the cluster; gitops-bridge)", created, problems)
        self.sync_appsets()

    # -- kubectl
    def kubectl(self, text, argv, cwd):
        namespace, files, rest = "default", [], []
        i = 0
        while i < len(argv):
            a = argv[i]
            if a in ("-n", "--namespace"):
                namespace, i = argv[i + 1], i + 2
                continue
            if a.startswith("--namespace="):
                namespace = a.split("=", 1)[1]
            elif a in ("-f", "--filename", "-k", "--kustomize"):
                files.append((a, argv[i + 1]))
                i += 2
                continue
            else:
                rest.append(a)
            i += 1
        verb = rest[0] if rest else ""
        problems, created = [], []
        if verb in READ_ONLY_KUBECTL:
            return
        if not self.cluster.exists:
            self.carry.append("the cluster does not exist yet (no terraform apply before it)")
            self.cluster.exists = True
        if verb == "create" and len(rest) >= 3 and rest[1] in ("namespace", "ns"):
            o = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": rest[2]}}
        elif verb == "create" and len(rest) >= 4 and rest[1] == "secret":
            o = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": rest[3], "namespace": namespace}}
        elif verb == "create" and len(rest) >= 3 and rest[1] in ("configmap", "cm"):
            o = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": rest[2], "namespace": namespace}}
        elif verb in ("label", "annotate") and len(rest) >= 3:
            kind = {"secret": "Secret", "secrets": "Secret", "namespace": "Namespace", "ns": "Namespace",
                    "configmap": "ConfigMap", "cm": "ConfigMap"}.get(rest[1].lower())
            key = (kind, None if kind == "Namespace" else namespace, rest[2])
            if kind is None:
                problems.append(f"kubectl {verb} {rest[1]}: a kind the order check does not know")
            elif kind == "Namespace" and rest[2] not in self.cluster.namespaces or kind != "Namespace" and key not in self.cluster.objects:
                problems.append(f"{kind} {namespace + '/' if kind != 'Namespace' else ''}{rest[2]} does not exist yet")
            else:
                target = self.cluster.objects.setdefault(key, {"kind": kind, "metadata": {"name": rest[2]}})
                field = "labels" if verb == "label" else "annotations"
                for pair in rest[3:]:
                    if "=" in pair and not pair.startswith("-"):
                        k, v = pair.split("=", 1)
                        target["metadata"].setdefault(field, {})[k] = v
            self.report(text, [], problems)
            self.sync_appsets()
            return
        elif verb == "apply" and files:
            objects = []
            for flag, path in files:
                full = os.path.join(self.root, cwd, path)
                if flag in ("-k", "--kustomize"):
                    code, out, err = self.run([self.args.kubectl, "kustomize", full])
                    if code:
                        self.report(text, [], [f"kustomize build {path}: {err.strip()}"])
                        return
                    objects += yaml_documents(out)
                elif os.path.isdir(full):
                    for f in sorted(os.listdir(full)):
                        if f.endswith((".yaml", ".yml", ".json")):
                            objects += yaml_documents(open(os.path.join(full, f)).read())
                elif os.path.isfile(full):
                    objects += yaml_documents(open(full).read())
                else:
                    self.report(text, [], [f"{path} does not exist in the repository"])
                    return
            for o in objects:
                ns = self.cluster.check(o, namespace, problems)
                self.cluster.add(o, ns)
                created.append((o["kind"], ns, o["metadata"]["name"]))
            self.report(text, created, problems)
            self.argo_cd(objects)
            return
        else:
            self.report(text, [], [f"`kubectl {verb}` as written here is not a command the order check knows"])
            return
        ns = self.cluster.check(o, namespace, problems)
        if o["kind"] == "Namespace" and o["metadata"]["name"] in self.cluster.namespaces or \
                (o["kind"], ns, o["metadata"]["name"]) in self.cluster.objects:
            problems.append(f"{o['kind']} {(ns + '/') if ns else ''}{o['metadata']['name']} exists already: `kubectl create` fails")
        self.cluster.add(o, ns)
        self.report(text, [(o["kind"], ns, o["metadata"]["name"])], problems)
        self.sync_appsets()

    # -- helmfile
    def helmfile(self, text, argv, cwd):
        flags, sub, i = [], None, 0
        env = None
        while i < len(argv):
            a = argv[i]
            if a in ("-e", "--environment", "-l", "--selector", "--state-values-set", "-f", "--file"):
                flags += [a, argv[i + 1]]
                if a in ("-e", "--environment"):
                    env = argv[i + 1]
                i += 2
                continue
            if not a.startswith("-") and sub is None:
                sub = a
            elif a.startswith("-"):
                flags.append(a)
            i += 1
        if ("helmfile", sub) in HARMLESS:
            return
        if sub not in ("apply", "sync"):
            self.report(text, [], [f"`helmfile {sub}` is not a command the order check knows"])
            return
        if env != self.env:
            self.report(text, [], [f"helmfile runs environment {env}, not {self.env}"])
            return
        if not self.cluster.exists:
            self.carry.append("the cluster does not exist yet (no terraform apply before it)")
            self.cluster.exists = True
        directory = os.path.join(self.root, cwd)
        selectors = [flags[j + 1] for j in range(len(flags) - 1) if flags[j] in ("-l", "--selector")]
        base = [self.args.helmfile, "--helm-binary", self.offline_helm()] + [f for j, f in enumerate(flags)
                                                                      if not (f in ("-l", "--selector") or j and flags[j - 1] in ("-l", "--selector"))]
        self.helmfile_v0 = False
        code, out, err = self.run(base + ["build"], cwd=directory)
        if code:
            # Reported; the walk goes on as helmfile 0.x would run it.
            self.carry.append("helmfile v1 refuses the state file: " + " ".join(l.strip() for l in err.strip().splitlines() if not l.startswith("WARN"))[:240])
            self.helmfile_v0 = True
            code, out, err = self.run(base + ["build"], cwd=directory)
        if code:
            self.report(text, [], [f"helmfile build: {err.strip()[-400:] if err.strip() else code}"])
            return
        state = [d for d in yaml.safe_load_all(out) if d and "releases" in d]
        releases = [r for d in state for r in d["releases"] if r.get("installed", True) is not False]
        default_create = all(dig(d, "helmDefaults.createNamespace", True) for d in state)
        chosen = []
        for r in releases:
            selector = ",".join([f"name={r['name']}"] + selectors[:1])
            out_dir = os.path.join(self.work, f"values-{self.env}-{self.step}")
            code, _, err = self.run(base + ["-l", selector, "write-values", "--skip-deps",
                                            "--output-file-template", out_dir + "/{{ .Release.Name }}.yaml"], cwd=directory)
            path = os.path.join(out_dir, f"{r['name']}.yaml")
            if selectors and not os.path.exists(path) and (code == 0 or "no releases found that matches" in err):
                continue  # not selected
            r["_values"] = yaml.safe_load(open(path)) or {} if os.path.exists(path) else {}
            r["_problems"] = [f"helmfile write-values fails: {err.strip()[-300:]}"] if code else []
            chosen.append(r)
        by_name = {r["name"]: r for r in chosen}
        level = {}

        def depth(r, seen=()):
            if r["name"] in level:
                return level[r["name"]]
            needs = [n.split("/")[-1] for n in r.get("needs") or []]
            if r["name"] in seen:
                raise Failure(f"helmfile: a `needs` cycle through {r['name']}")
            level[r["name"]] = 1 + max([depth(by_name[n], seen + (r["name"],)) for n in needs if n in by_name] or [-1])
            return level[r["name"]]

        for r in chosen:
            depth(r)
        for batch in sorted(set(level.values())):
            start = self.cluster.copy()
            after = self.cluster.copy()
            together = [r["name"] for r in chosen if level[r["name"]] == batch]
            for r in [r for r in chosen if level[r["name"]] == batch]:
                view = start.copy()
                created, problems = self.release(r, view, directory, default_create)
                others = [n for n in together if n != r["name"]]
                note = f" (at the same time as {', '.join(others)})" if others else ""
                self.report(f"helmfile -e {self.env} {sub}: release {r['namespace']}/{r['name']} "
                            f"({r['chart']}{' ' + str(r['version']) if r.get('version') else ''}){note}",
                            created, problems)
                after.merge(view)
            self.cluster = after
        self.argocd_values = next((r["_values"] for r in chosen if "argo-cd" in r["chart"]), self.argocd_values)
        self.sync_appsets()

    def offline_helm(self):
        """helm, except that `helm pull` of an OCI chart (which helmfile runs
        even to print its state or write values, and which cannot reach a
        registry here) leaves an empty chart of that name."""
        wrapper = os.path.join(self.work, "helm")
        with open(wrapper, "w") as f:
            f.write(f"""#!/bin/sh
if [ "$1" = pull ]; then
  name=$(basename "$2"); while [ $# -gt 0 ]; do [ "$1" = --destination ] && dest=$2; shift; done
  mkdir -p "$dest/$name" && printf 'apiVersion: v2\\nname: %s\\nversion: 0.0.0\\n' "$name" >"$dest/$name/Chart.yaml"
  exit 0
fi
exec {shlex.quote(self.args.helm)} "$@"
""")
        os.chmod(wrapper, 0o755)
        return wrapper

    def release(self, r, view, directory, default_create):
        problems, created = list(r["_problems"]), []
        namespace = r["namespace"]
        values = r["_values"]
        create = r.get("createNamespace", default_create)
        if create and namespace not in view.namespaces:
            view.namespaces.add(namespace)
            created.append(("Namespace", None, namespace))
        elif namespace not in view.namespaces:
            problems.append(f"namespace {namespace} does not exist and createNamespace is false")
        for secret in existing_secrets(values):
            if ("Secret", namespace, secret) not in view.objects:
                problems.append(f"its values name Secret {namespace}/{secret} (existingSecret), which does not exist yet")
        chart = r["chart"]
        if chart.startswith(".") or chart.startswith("/"):
            path = os.path.normpath(os.path.join(directory, chart))
            values_file = os.path.join(self.work, f"{r['name']}-values.yaml")
            yaml.safe_dump(values, open(values_file, "w"))
            code, out, err = self.run([self.args.helm, "template", r["name"], path, "-n", namespace,
                                       "--include-crds", "-f", values_file])
            if code:
                return created, problems + [f"helm template: {err.strip()}"]
            objects = yaml_documents(out)
            crds_dir = {(d["spec"]["group"], d["spec"]["names"]["kind"]) for d in yaml_documents(out)
                        if d["kind"] == "CustomResourceDefinition"}
            templated = set()
            if os.path.isdir(os.path.join(path, "crds")):
                for f in os.listdir(os.path.join(path, "crds")):
                    for d in yaml_documents(open(os.path.join(path, "crds", f)).read()):
                        view.add(d, None)
                        created.append(("CustomResourceDefinition", None, d["metadata"]["name"]))
                templated = crds_dir - set(view.crds)
            else:
                templated = crds_dir
            objects.sort(key=lambda o: kind_rank(o["kind"]))
            for o in objects:
                if o["kind"] == "CustomResourceDefinition" and (o["spec"]["group"], o["spec"]["names"]["kind"]) in view.crds:
                    continue
                ns = view.check(o, namespace, problems, crds_later=templated)
                view.add(o, ns)
                created.append((o["kind"], ns, o["metadata"]["name"]))
            return created, problems
        name, version = chart.split("/")[-1], str(r.get("version"))
        known = self.charts.get(name, {}).get(version)
        if known is None:
            return created, problems + [f"scripts/manifests/apply_order_charts.yaml has no entry for chart {name} {version}"]
        if namespace not in view.namespaces:
            problems.append(f"namespace {namespace} does not exist yet")
        for crd in known.get("crds") or []:
            if not crd.get("when") or dig(values, crd["when"], crd.get("default", True)):
                for kind in crd["kinds"]:
                    view.crds[(crd["group"], kind)] = crd["scope"]
                created.append(("CRDs", None, f"{crd['group']} ({len(crd['kinds'])})"))
        for write in known.get("writes") or []:
            if write.get("unless") and dig(values, write["unless"], False):
                continue
            for target in dig(values, write["into_each"], []) or []:
                o = {"apiVersion": "rbac.authorization.k8s.io/v1" if "Role" in write["kind"] else "v1",
                     "kind": write["kind"], "metadata": {"name": r["name"], "namespace": target}}
                ns = view.check(o, target, problems)
                view.add(o, ns)
                created.append((write["kind"], target, f"({r['name']})"))
        created.append(("objects", namespace, "(chart)"))
        return created, problems

    # -- Argo CD
    def argo_cd(self, objects):
        for o in objects:
            if o["kind"] == "Application" and group_of(o["apiVersion"]) == "argoproj.io":
                self.sync_application(o)
            if o["kind"] == "ApplicationSet" and group_of(o["apiVersion"]) == "argoproj.io":
                self.pending_appsets.append(o)
        self.sync_appsets()

    def sync_appsets(self):
        for appset in list(self.pending_appsets):
            for app in self.generate(appset):
                if app["metadata"]["name"] not in self.synced_apps:
                    self.sync_application(app)

    def generate(self, appset):
        """Applications of a matrix of a git directories and a clusters generator."""
        def params_of(generator):
            if "matrix" in generator:
                combos = [{}]
                for g in generator["matrix"]["generators"]:
                    combos = [dict(c, **p) for c in combos for p in params_of_with(g, c)]
                return combos
            return params_of_with(generator, {})

        def params_of_with(generator, context):
            if "git" in generator:
                found = []
                for entry in generator["git"].get("directories", []):
                    for d in sorted(os.listdir(self.root + "/" + os.path.dirname(entry["path"]))):
                        path = os.path.join(os.path.dirname(entry["path"]), d)
                        if os.path.isdir(os.path.join(self.root, path)) and fnmatch.fnmatch(path, entry["path"]):
                            found.append({"path": {"path": path, "basename": d}})
                return found
            if "clusters" in generator:
                selector = (generator["clusters"].get("selector") or {}).get("matchLabels") or {}
                selector = {k: template(v, context) for k, v in selector.items()}
                found = []
                for (kind, ns, name), o in self.cluster.objects.items():
                    labels = o["metadata"].get("labels") or {}
                    if kind == "Secret" and labels.get("argocd.argoproj.io/secret-type") == "cluster" and \
                            all(labels.get(k) == v for k, v in selector.items()):
                        found.append({"name": name, "server": "https://kubernetes.default.svc",
                                      "metadata": {"labels": labels, "annotations": o["metadata"].get("annotations") or {}}})
                return found
            raise Failure(f"ApplicationSet {appset['metadata']['name']}: a generator the order check does not know")

        apps = []
        for generator in appset["spec"]["generators"]:
            for params in params_of(generator):
                app = json.loads(template(json.dumps(appset["spec"]["template"]), params))
                app = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                       "metadata": dict(app["metadata"], namespace=appset["metadata"]["namespace"]),
                       "spec": app["spec"]}
                apps.append(app)
        return apps

    def sync_application(self, app):
        name = app["metadata"]["name"]
        self.synced_apps.add(name)
        problems = []
        ns = self.cluster.check(app, "argocd", problems)
        project = app["spec"].get("project", "default")
        if project != "default" and ("AppProject", ns, project) not in self.cluster.objects:
            problems.append(f"Application {name}: AppProject {project} does not exist yet")
        self.cluster.add(app, ns)
        source = app["spec"]["source"]
        destination = app["spec"]["destination"].get("namespace")
        options = (app["spec"].get("syncPolicy") or {}).get("syncOptions") or []
        path = os.path.join(self.root, source["path"])
        if os.path.exists(os.path.join(path, "kustomization.yaml")):
            build_options = shlex.split(dig(self.argocd_values, "configs.cm", {}).get("kustomize.buildOptions", ""))
            command = [self.args.kubectl, "kustomize"] + build_options + ["--helm-command", self.args.helm, path]
            code, out, err = self.run(command)
            if code:
                self.report(f"Argo CD syncs Application {name} ({source['path']})", [],
                            problems + [f"kustomize build with Argo CD's buildOptions {build_options} fails: {err.strip()[:300]}"])
                return
            objects = yaml_documents(out)
        else:
            objects = [d for f in sorted(os.listdir(path)) if f.endswith((".yaml", ".yml"))
                       for d in yaml_documents(open(os.path.join(path, f)).read())]
        created = []
        if "CreateNamespace=true" in options and destination and destination not in self.cluster.namespaces:
            self.cluster.namespaces.add(destination)
            created.append(("Namespace", None, destination))
        self.report(f"Argo CD syncs Application {name} ({source['path']}): before the first wave"
                    f"{' (CreateNamespace=true)' if created else ''}", created, problems)
        present = set(self.cluster.crds)
        skip_dry_run = "SkipDryRunOnMissingResource=true" in options
        waves = {}
        for o in objects:
            annotations = o["metadata"].get("annotations") or {}
            hook = annotations.get("argocd.argoproj.io/hook") or annotations.get("helm.sh/hook") or ""
            phase = 0 if "pre" in hook.lower() else 2 if "post" in hook.lower() else 1
            waves.setdefault((phase, int(annotations.get("argocd.argoproj.io/sync-wave", "0"))), []).append(o)
        later_crds = {(o["spec"]["group"], o["spec"]["names"]["kind"]) for o in objects if o["kind"] == "CustomResourceDefinition"}
        for (phase, wave) in sorted(waves):
            problems, created = [], []
            for o in sorted(waves[(phase, wave)], key=lambda o: (kind_rank(o["kind"]), o["metadata"]["name"])):
                key = (group_of(o["apiVersion"]), o["kind"])
                if key in self.cluster.crds and key not in present and not skip_dry_run and \
                        "SkipDryRunOnMissingResource=true" not in (o["metadata"].get("annotations") or {}).get("argocd.argoproj.io/sync-options", ""):
                    problems.append(f"{o['kind']} {o['metadata']['name']}: its CRD is created by the same sync, "
                                    "so Argo CD's dry run refuses it without SkipDryRunOnMissingResource=true")
                if o["kind"] == "CustomResourceDefinition":
                    later_crds.discard(key)
                wave_crds = {(x["spec"]["group"], x["spec"]["names"]["kind"]) for x in waves[(phase, wave)] if x["kind"] == "CustomResourceDefinition"}
                if key in wave_crds and o["kind"] != "CustomResourceDefinition":
                    problems.append(f"{o['kind']} {o['metadata']['name']}: its CRD is in the same wave (not yet established)")
                ns = self.cluster.check(o, destination, problems, crds_later=later_crds)
                self.cluster.add(o, ns)
                created.append((o["kind"], ns, o["metadata"]["name"]))
            phase_name = ["PreSync", "Sync", "PostSync"][phase]
            self.report(f"Argo CD syncs Application {name}: {phase_name} wave {wave}", created, problems)
        self.argo_cd([o for o in objects if o["kind"] in ("Application", "ApplicationSet")])


def kind_rank(kind):
    return KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)


def template(text, params):
    """ApplicationSet Go templates of the form {{ .a.b }} and {{ index .a "k" }}."""
    def value(match):
        expression = match.group(1).strip()
        index = re.fullmatch(r'index \.([\w.]+) "([^"]+)"', expression)
        if index:
            found = dig(params, index.group(1), {}).get(index.group(2))
        else:
            found = dig(params, expression.lstrip("."))
        return match.group(0) if found is None else str(found)
    return re.sub(r"\{\{(.*?)\}\}", value, text)


def existing_secrets(values, enabled=True):
    """Secrets a chart's values name as `existingSecret` (under no `enabled: false`)."""
    found = []
    if isinstance(values, dict):
        enabled = enabled and values.get("enabled", True) is not False
        for key, value in values.items():
            if key == "existingSecret" and isinstance(value, str) and value and enabled:
                found.append(value)
            else:
                found += existing_secrets(value, enabled)
    elif isinstance(values, list):
        for item in values:
            found += existing_secrets(item, enabled)
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True)
    parser.add_argument("--env", required=True)
    parser.add_argument("--doc", help="the deploy document (default docs/deploy.md)")
    parser.add_argument("--helmfile", required=True)
    parser.add_argument("--helm", required=True, help="helm 3 (helmfile's and kustomize's)")
    parser.add_argument("--kubectl", required=True)
    args = parser.parse_args()
    args.root = os.path.abspath(args.root)
    walk = Walk(args, args.env)
    atexit.register(shutil.rmtree, walk.work, True)
    doc = args.doc or os.path.join(args.root, "docs/deploy.md")
    try:
        walk.execute(walk.walk_commands(doc))
    except Failure as failure:
        print(f"FAIL: [{args.env}] {failure}")
        sys.exit(1)
    if walk.failed:
        print(f"FAIL: [{args.env}] {walk.failed} step(s) failed: {os.path.relpath(doc, args.root)} cannot be followed to the letter on an empty cluster")
        sys.exit(1)
    print(f"ok: [{args.env}] {os.path.relpath(doc, args.root)}: every object's namespace, CRD and Secret exists before it is applied ({walk.step} steps)")


if __name__ == "__main__":
    main()
