"""Checks what Argo CD's AppProject lets an environment's Application sync:
every object of the environment's build is of a kind the project
whitelists (cluster-scoped or namespaced) and, if namespaced, in one of its
destination namespaces. Argo CD refuses the whole sync otherwise.
Usage: project_kinds.py PROJECT_FILE BUILD_FILE
"""
import fnmatch
import sys
import yaml

# Cluster-scoped kinds an environment can hold (everything else is namespaced).
CLUSTER_SCOPED = {
    ("", "Namespace"), ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("rbac.authorization.k8s.io", "ClusterRole"), ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("storage.k8s.io", "StorageClass"), ("scheduling.k8s.io", "PriorityClass"),
    ("karpenter.sh", "NodePool"), ("karpenter.k8s.aws", "EC2NodeClass"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
}


def allowed(entries, group, kind):
    return any(fnmatch.fnmatchcase(group, e.get("group", "")) and fnmatch.fnmatchcase(kind, e["kind"])
               for e in entries or [])


def main(project_file, build_file):
    project = next(d for d in yaml.safe_load_all(open(project_file)) if d and d["kind"] == "AppProject")
    spec = project["spec"]
    namespaces = {d.get("namespace") for d in spec["destinations"]}
    problems = []
    objects = [o for o in yaml.safe_load_all(open(build_file)) if o]
    for o in objects:
        group = o["apiVersion"].rpartition("/")[0]
        kind = o["kind"]
        name = f"{kind} {o['metadata'].get('namespace', '')}/{o['metadata']['name']}"
        if (group, kind) in CLUSTER_SCOPED:
            if not allowed(spec.get("clusterResourceWhitelist"), group, kind):
                problems.append(f"{name}: cluster-scoped {group or 'core'}/{kind} is not in clusterResourceWhitelist")
            continue
        if not allowed(spec.get("namespaceResourceWhitelist"), group, kind):
            problems.append(f"{name}: {group or 'core'}/{kind} is not in namespaceResourceWhitelist")
        if o["metadata"].get("namespace") not in namespaces:
            problems.append(f"{name}: its namespace is not a destination of the project")
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(objects)} objects, each of a kind and in a namespace AppProject {project['metadata']['name']} allows")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
