"""Pod templates of Kubernetes objects, and the pods two operators create at
run time from their custom resources: shared by scheduling.py and
pod_security.py.

A pod is a dict {"name": "<namespace>/<owner kind>/<name>", "namespace",
"metadata": {...}, "spec": PodSpec, "source": where it came from,
"daemonset": whether a DaemonSet owns it}.
"""
import yaml

WORKLOADS = {
    "Pod": lambda o: {"metadata": o.get("metadata") or {}, "spec": o.get("spec") or {}},
    "Deployment": lambda o: o["spec"]["template"],
    "StatefulSet": lambda o: o["spec"]["template"],
    "DaemonSet": lambda o: o["spec"]["template"],
    "ReplicaSet": lambda o: o["spec"]["template"],
    "Job": lambda o: o["spec"]["template"],
    "CronJob": lambda o: o["spec"]["jobTemplate"]["spec"]["template"],
}


def load_all(path):
    with open(path) as handle:
        return [o for o in yaml.safe_load_all(handle) if o]


def pods_of_objects(objects, source, default_namespace=None):
    """Every pod template in OBJECTS (workload kinds only)."""
    pods = []
    for o in objects:
        kind = o.get("kind")
        if kind not in WORKLOADS:
            continue
        template = WORKLOADS[kind](o) or {}
        namespace = o["metadata"].get("namespace") or default_namespace or "default"
        pods.append({
            "name": f"{namespace}/{kind}/{o['metadata']['name']}",
            "namespace": namespace,
            "metadata": template.get("metadata") or {},
            "spec": template.get("spec") or {},
            "source": source,
            # A DaemonSet runs a pod on every node it selects: it must fit them all.
            "daemonset": kind == "DaemonSet",
        })
    return pods


# --- Strimzi ------------------------------------------------------------------
# The pods Strimzi's cluster operator creates for a Kafka (KRaft, node pools):
# one per KafkaNodePool (container "kafka"), and the entity operator (its
# user/topic operator containers). Images: the operator's defaults
# (quay.io/strimzi/kafka and quay.io/strimzi/operator). Scheduling and security
# come from each CR's `template` (pod, and the container templates), over the
# cluster operator's pod security provider for what the template leaves unset.

# What Strimzi's two built-in providers set on every container (Strimzi
# documentation, "Applying security context to Strimzi pods and containers":
# the baseline provider sets nothing beyond the Kubernetes defaults; the
# restricted provider sets these four on every container).
STRIMZI_RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
STRIMZI_PROVIDERS = {
    "baseline": {},
    "io.strimzi.plugin.security.profiles.impl.BaselinePodSecurityProvider": {},
    "restricted": STRIMZI_RESTRICTED_CONTAINER,
    "io.strimzi.plugin.security.profiles.impl.RestrictedPodSecurityProvider": STRIMZI_RESTRICTED_CONTAINER,
}


def strimzi_provider(strimzi_values):
    """The pod security provider the cluster operator runs with, from the
    strimzi release's values (extraEnvs STRIMZI_POD_SECURITY_PROVIDER_CLASS;
    Strimzi's default is the baseline provider)."""
    for env in (strimzi_values or {}).get("extraEnvs") or []:
        if env.get("name") == "STRIMZI_POD_SECURITY_PROVIDER_CLASS":
            value = env.get("value", "")
            if value not in STRIMZI_PROVIDERS:
                raise ValueError(f"unknown Strimzi pod security provider {value!r}")
            return value
    return "baseline"


def _strimzi_pod(name, namespace, pod_template, containers, provider):
    pod_template = pod_template or {}
    spec = {
        "securityContext": pod_template.get("securityContext") or {},
        "tolerations": pod_template.get("tolerations") or [],
        "affinity": pod_template.get("affinity") or {},
        "containers": [],
        # Strimzi's pods mount only these kinds of volumes (Secrets with
        # certificates, ConfigMaps, emptyDir, PVCs for persistent storage).
        "volumes": [{"name": "strimzi-tmp", "emptyDir": {}}],
    }
    if pod_template.get("topologySpreadConstraints"):
        spec["topologySpreadConstraints"] = pod_template["topologySpreadConstraints"]
    for container_name, image, container_template in containers:
        security = dict(STRIMZI_PROVIDERS[provider])
        if (container_template or {}).get("securityContext") is not None:
            # A container template's securityContext replaces the provider's.
            security = container_template["securityContext"]
        spec["containers"].append({"name": container_name, "image": image, "securityContext": security})
    return {
        "name": f"{namespace}/{name}",
        "namespace": namespace,
        "metadata": (pod_template.get("metadata") or {}),
        "spec": spec,
        "source": f"Strimzi ({provider} pod security provider)",
    }


def strimzi_pods(objects, provider, kafka_image="quay.io/strimzi/kafka", operator_image="quay.io/strimzi/operator"):
    pods = []
    kafkas = {(o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in objects if o.get("kind") == "Kafka"}
    for o in objects:
        if o.get("kind") != "KafkaNodePool":
            continue
        namespace = o["metadata"].get("namespace")
        cluster = (o["metadata"].get("labels") or {}).get("strimzi.io/cluster")
        kafka = kafkas.get((namespace, cluster), {})
        # The node pool's template overrides the Kafka's (Strimzi merges them).
        kafka_template = ((kafka.get("spec") or {}).get("kafka") or {}).get("template") or {}
        template = {**kafka_template, **((o.get("spec") or {}).get("template") or {})}
        pods.append(_strimzi_pod(
            f"KafkaNodePool/{o['metadata']['name']}", namespace, template.get("pod"),
            [("kafka", kafka_image, template.get("kafkaContainer"))], provider))
    for (namespace, name), kafka in kafkas.items():
        entity = (kafka.get("spec") or {}).get("entityOperator")
        if entity is None:
            continue
        template = entity.get("template") or {}
        containers = []
        if "topicOperator" in entity:
            containers.append(("topic-operator", operator_image, template.get("topicOperatorContainer")))
        if "userOperator" in entity:
            containers.append(("user-operator", operator_image, template.get("userOperatorContainer")))
        if containers:
            pods.append(_strimzi_pod(f"Kafka/{name} (entity operator)", namespace, template.get("pod"), containers, provider))
    return pods


# --- CloudNativePG -------------------------------------------------------------
# An instance pod of a postgresql.cnpg.io Cluster. CloudNativePG sets a
# restricted-compliant security context on every instance pod by default
# (runAsNonRoot with the postgres UID 26, seccomp RuntimeDefault, no privilege
# escalation, every capability dropped); the Cluster can only change the
# seccomp profile (spec.seccompProfile), which is read here. Modelled, not
# rendered: the operator builds these pods at run time.
def cnpg_pods(objects, image="ghcr.io/cloudnative-pg/postgresql"):
    pods = []
    for o in objects:
        if o.get("kind") != "Cluster" or not o.get("apiVersion", "").startswith("postgresql.cnpg.io/"):
            continue
        spec = o.get("spec") or {}
        affinity = spec.get("affinity") or {}
        seccomp = spec.get("seccompProfile") or {"type": "RuntimeDefault"}
        container_security = {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
            "seccompProfile": seccomp,
        }
        pod_spec = {
            "securityContext": {"runAsNonRoot": True, "runAsUser": 26, "fsGroup": 26, "seccompProfile": seccomp},
            "tolerations": affinity.get("tolerations") or [],
            "nodeSelector": affinity.get("nodeSelector") or {},
            "affinity": {"nodeAffinity": affinity["nodeAffinity"]} if affinity.get("nodeAffinity") else {},
            "initContainers": [{"name": "bootstrap-controller", "image": "ghcr.io/cloudnative-pg/cloudnative-pg",
                                "securityContext": container_security}],
            "containers": [{"name": "postgres", "image": spec.get("imageName") or image,
                            "securityContext": container_security}],
            "volumes": [{"name": "pgdata", "persistentVolumeClaim": {"claimName": o["metadata"]["name"] + "-1"}},
                        {"name": "scratch-data", "emptyDir": {}}, {"name": "shm", "emptyDir": {"medium": "Memory"}}],
        }
        namespace = o["metadata"].get("namespace")
        pods.append({
            "name": f"{namespace}/Cluster/{o['metadata']['name']}",
            "namespace": namespace,
            "metadata": {},
            "spec": pod_spec,
            "source": "CloudNativePG instance (modelled from the operator's defaults)",
        })
    return pods
