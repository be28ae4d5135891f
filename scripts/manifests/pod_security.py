#!/usr/bin/env python3
"""Pod Security: every pod that lands in a namespace labelled
pod-security.kubernetes.io/enforce=restricted meets the Kubernetes Pod Security
Standards' restricted profile (which includes the baseline profile), as the
PodSecurity admission controller of Kubernetes 1.33 would judge it.

Pods: every pod template in the given manifests (an environment's kustomize
build, the operator's children rendered from its HarmonyChat), and the pods
two operators create at run time, where their settings decide it: Strimzi's
Kafka pods (its pod security provider, from the strimzi release's values in
helmfile's state, and the CRs' templates) and CloudNativePG's instance pods
(restricted by the operator's defaults; modelled, see pod_templates.py).
Namespaces and their labels come from the Namespace objects in the manifests.

Usage:
  pod_security.py --label NAME --helmfile-state STATE.yaml MANIFEST.yaml...
  pod_security.py --self-test      # each rule seen failing on a pod built to break it
Prints one line per checked pod; exits 1 if any pod breaks a rule.
"""
import argparse
import copy
import sys
import unittest

import yaml

sys.path.insert(0, __import__("os").path.dirname(__file__))
import pod_templates  # noqa: E402

# --- The rules, from the Pod Security Standards ------------------------------
# Each rule takes a PodSpec (and the pod's metadata) and returns the list of
# what breaks it. "Containers" means containers, initContainers and
# ephemeralContainers throughout, as in the standard.

BASELINE_CAPABILITIES = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
RESTRICTED_VOLUME_TYPES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
}


def containers(spec):
    for field in ("containers", "initContainers", "ephemeralContainers"):
        for container in spec.get(field) or []:
            yield f"{field}[{container.get('name')}]", container


def security(container):
    return container.get("securityContext") or {}


def pod_security(spec):
    return spec.get("securityContext") or {}


def is_windows(spec):
    return ((spec.get("os") or {}).get("name")) == "windows"


def host_process(spec, metadata):
    found = []
    if (pod_security(spec).get("windowsOptions") or {}).get("hostProcess") is True:
        found.append("securityContext.windowsOptions.hostProcess=true")
    for where, c in containers(spec):
        if (security(c).get("windowsOptions") or {}).get("hostProcess") is True:
            found.append(f"{where}: windowsOptions.hostProcess=true")
    return found


def host_namespaces(spec, metadata):
    return [f"{field}=true" for field in ("hostNetwork", "hostPID", "hostIPC") if spec.get(field) is True]


def privileged(spec, metadata):
    return [f"{where}: privileged=true" for where, c in containers(spec) if security(c).get("privileged") is True]


def baseline_capabilities(spec, metadata):
    found = []
    for where, c in containers(spec):
        extra = set((security(c).get("capabilities") or {}).get("add") or []) - BASELINE_CAPABILITIES
        if extra:
            found.append(f"{where}: capabilities.add {sorted(extra)} beyond the baseline set")
    return found


def host_path_volumes(spec, metadata):
    return [f"volume {v.get('name')}: hostPath" for v in spec.get("volumes") or [] if "hostPath" in v]


def host_ports(spec, metadata):
    found = []
    for where, c in containers(spec):
        for port in c.get("ports") or []:
            if port.get("hostPort") not in (None, 0):
                found.append(f"{where}: hostPort {port['hostPort']}")
    return found


def app_armor(spec, metadata):
    found = []
    allowed = (None, "RuntimeDefault", "Localhost")
    kind = (pod_security(spec).get("appArmorProfile") or {}).get("type")
    if kind not in allowed:
        found.append(f"securityContext.appArmorProfile.type={kind}")
    for where, c in containers(spec):
        kind = (security(c).get("appArmorProfile") or {}).get("type")
        if kind not in allowed:
            found.append(f"{where}: appArmorProfile.type={kind}")
    for key, value in ((metadata or {}).get("annotations") or {}).items():
        if key.startswith("container.apparmor.security.beta.kubernetes.io/"):
            if value != "runtime/default" and not value.startswith("localhost/"):
                found.append(f"annotation {key}={value}")
    return found


def se_linux(spec, metadata):
    found = []

    def check(options, where):
        options = options or {}
        if options.get("type") not in (None, *SELINUX_TYPES):
            found.append(f"{where}seLinuxOptions.type={options['type']}")
        for field in ("user", "role"):
            if options.get(field) not in (None, ""):
                found.append(f"{where}seLinuxOptions.{field}={options[field]}")

    check(pod_security(spec).get("seLinuxOptions"), "securityContext.")
    for where, c in containers(spec):
        check(security(c).get("seLinuxOptions"), f"{where}: ")
    return found


def proc_mount(spec, metadata):
    return [f"{where}: procMount={security(c)['procMount']}" for where, c in containers(spec)
            if security(c).get("procMount") not in (None, "Default")]


def baseline_seccomp(spec, metadata):
    found = []
    if (pod_security(spec).get("seccompProfile") or {}).get("type") == "Unconfined":
        found.append("securityContext.seccompProfile.type=Unconfined")
    for where, c in containers(spec):
        if (security(c).get("seccompProfile") or {}).get("type") == "Unconfined":
            found.append(f"{where}: seccompProfile.type=Unconfined")
    return found


def sysctls(spec, metadata):
    return [f"sysctl {s.get('name')} is not a safe sysctl" for s in pod_security(spec).get("sysctls") or []
            if s.get("name") not in SAFE_SYSCTLS]


def volume_types(spec, metadata):
    found = []
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            found.append(f"volume {volume.get('name')}: type {sorted(kinds - RESTRICTED_VOLUME_TYPES)} not allowed")
    return found


def privilege_escalation(spec, metadata):
    if is_windows(spec):  # The standard exempts Windows pods.
        return []
    return [f"{where}: allowPrivilegeEscalation is not false" for where, c in containers(spec)
            if security(c).get("allowPrivilegeEscalation") is not False]


def run_as_non_root(spec, metadata):
    # Pod level true, and no container false; or every container true.
    pod_level = pod_security(spec).get("runAsNonRoot")
    found = []
    if pod_level is False:
        found.append("securityContext.runAsNonRoot=false")
    for where, c in containers(spec):
        value = security(c).get("runAsNonRoot")
        if value is False:
            found.append(f"{where}: runAsNonRoot=false")
        elif value is None and pod_level is not True:
            found.append(f"{where}: runAsNonRoot unset and not true at pod level")
    return found


def run_as_user(spec, metadata):
    found = []
    if pod_security(spec).get("runAsUser") == 0:
        found.append("securityContext.runAsUser=0")
    for where, c in containers(spec):
        if security(c).get("runAsUser") == 0:
            found.append(f"{where}: runAsUser=0")
    return found


def restricted_seccomp(spec, metadata):
    if is_windows(spec):
        return []
    allowed = ("RuntimeDefault", "Localhost")
    pod_level = (pod_security(spec).get("seccompProfile") or {}).get("type")
    found = []
    if pod_level is not None and pod_level not in allowed:
        found.append(f"securityContext.seccompProfile.type={pod_level}")
    for where, c in containers(spec):
        value = (security(c).get("seccompProfile") or {}).get("type")
        if value is None:
            if pod_level is None:
                found.append(f"{where}: seccompProfile unset and unset at pod level")
        elif value not in allowed:
            found.append(f"{where}: seccompProfile.type={value}")
    return found


def restricted_capabilities(spec, metadata):
    if is_windows(spec):
        return []
    found = []
    for where, c in containers(spec):
        capabilities = security(c).get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            found.append(f"{where}: capabilities.drop does not include ALL")
        extra = set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}
        if extra:
            found.append(f"{where}: capabilities.add {sorted(extra)} (only NET_BIND_SERVICE allowed)")
    return found


# (Kubernetes 1.34 adds a baseline rule on probes' and hooks' `host`; this
# checks against 1.33, the version the rest of validate-manifests targets.)
RULES = {
    "baseline/HostProcess": host_process,
    "baseline/Host Namespaces": host_namespaces,
    "baseline/Privileged Containers": privileged,
    "baseline/Capabilities": baseline_capabilities,
    "baseline/HostPath Volumes": host_path_volumes,
    "baseline/Host Ports": host_ports,
    "baseline/AppArmor": app_armor,
    "baseline/SELinux": se_linux,
    "baseline/proc Mount Type": proc_mount,
    "baseline/Seccomp": baseline_seccomp,
    "baseline/Sysctls": sysctls,
    "restricted/Volume Types": volume_types,
    "restricted/Privilege Escalation": privilege_escalation,
    "restricted/Running as Non-root": run_as_non_root,
    "restricted/Running as Non-root user": run_as_user,
    "restricted/Seccomp": restricted_seccomp,
    "restricted/Capabilities": restricted_capabilities,
}


def violations(spec, metadata=None):
    """[(rule, what)] for a PodSpec against the restricted profile."""
    return [(rule, what) for rule, check in RULES.items() for what in check(spec, metadata or {})]


# --- Which pods, in which namespaces -----------------------------------------

def restricted_namespaces(objects):
    return {
        o["metadata"]["name"]
        for o in objects
        if o.get("kind") == "Namespace"
        and ((o["metadata"].get("labels") or {}).get("pod-security.kubernetes.io/enforce")) == "restricted"
    }


def deep_merge(base, override):
    """Helm's merge of values files: maps merge, anything else is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base.get(key), value) if key in base else value
        return merged
    return override


def release(state, chart):
    """The helmfile release of CHART (its name without the repository) in
    `helmfile build --embed-values` output, its values merged in order; None
    when absent or not installed."""
    for r in (state or {}).get("releases") or []:
        if r.get("chart", "").split("/")[-1] == chart and r.get("installed", True) is not False:
            merged = {}
            for values in r.get("values") or []:
                if isinstance(values, dict):
                    merged = deep_merge(merged, values)
            return {**r, "merged_values": merged}
    return None


def check(label, manifests, state):
    objects = [o for path in manifests for o in pod_templates.load_all(path)]
    restricted = restricted_namespaces(objects)
    pods = pod_templates.pods_of_objects(objects, "manifests")
    strimzi = release(state, "strimzi-kafka-operator")
    if strimzi:
        provider = pod_templates.strimzi_provider(strimzi["merged_values"])
        pods += pod_templates.strimzi_pods(objects, provider)
    if release(state, "cloudnative-pg"):
        pods += pod_templates.cnpg_pods(objects)
    failed = 0
    checked = 0
    for pod in pods:
        if pod["namespace"] not in restricted:
            continue
        checked += 1
        found = violations(pod["spec"], pod["metadata"])
        if found:
            failed += 1
            print(f"FAIL: {label}: {pod['name']} ({pod['source']}) breaks Pod Security restricted:", file=sys.stderr)
            for rule, what in found:
                print(f"    {rule}: {what}", file=sys.stderr)
        else:
            print(f"ok: {label}: {pod['name']} ({pod['source']}) meets Pod Security restricted")
    if checked == 0 and restricted:
        print(f"FAIL: {label}: no pod found in the restricted namespaces {sorted(restricted)}", file=sys.stderr)
        return 1
    print(f"{label}: {checked - failed} of {checked} pods in restricted namespaces {sorted(restricted)} meet the profile")
    return 1 if failed else 0


# --- Each rule seen failing ----------------------------------------------------

COMPLIANT = {
    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [{
        "name": "app", "image": "example/app:1",
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        "ports": [{"containerPort": 8080}],
    }],
    "initContainers": [{
        "name": "init", "image": "example/app:1",
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}},
    }],
    "volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "config", "configMap": {"name": "c"}}],
}


class Rules(unittest.TestCase):
    def broken(self, mutate, metadata=None):
        spec = copy.deepcopy(COMPLIANT)
        mutate(spec)
        return {rule for rule, _ in violations(spec, metadata)}

    def test_compliant_pod_passes(self):
        self.assertEqual(violations(copy.deepcopy(COMPLIANT)), [])

    def test_each_rule_fails(self):
        c0 = lambda s: s["containers"][0]["securityContext"]  # noqa: E731
        cases = {
            "baseline/HostProcess": lambda s: s["securityContext"].update(windowsOptions={"hostProcess": True}),
            "baseline/Host Namespaces": lambda s: s.update(hostPID=True),
            "baseline/Privileged Containers": lambda s: c0(s).update(privileged=True),
            "baseline/Capabilities": lambda s: c0(s)["capabilities"].update(add=["SYS_ADMIN"]),
            "baseline/HostPath Volumes": lambda s: s["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
            "baseline/Host Ports": lambda s: s["containers"][0]["ports"][0].update(hostPort=80),
            "baseline/AppArmor": lambda s: c0(s).update(appArmorProfile={"type": "Unconfined"}),
            "baseline/SELinux": lambda s: s["securityContext"].update(seLinuxOptions={"type": "spc_t"}),
            "baseline/proc Mount Type": lambda s: c0(s).update(procMount="Unmasked"),
            "baseline/Seccomp": lambda s: c0(s).update(seccompProfile={"type": "Unconfined"}),
            "baseline/Sysctls": lambda s: s["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}]),
            "restricted/Volume Types": lambda s: s["volumes"].append({"name": "n", "nfs": {"server": "x", "path": "/"}}),
            "restricted/Privilege Escalation": lambda s: c0(s).pop("allowPrivilegeEscalation"),
            "restricted/Running as Non-root": lambda s: s["securityContext"].pop("runAsNonRoot"),
            "restricted/Running as Non-root user": lambda s: c0(s).update(runAsUser=0),
            "restricted/Seccomp": lambda s: s["securityContext"].pop("seccompProfile"),
            "restricted/Capabilities": lambda s: c0(s)["capabilities"].update(drop=["NET_RAW"]),
        }
        self.assertEqual(set(cases), set(RULES), "every rule has a failing case")
        for rule, mutate in cases.items():
            with self.subTest(rule=rule):
                spec = copy.deepcopy(COMPLIANT)
                mutate(spec)
                found = [what for r, what in violations(spec) if r == rule]
                self.assertTrue(found, rule)
                print(f"refused as it should be: {rule}: {found[0]}")

    def test_app_armor_annotation(self):
        self.assertIn("baseline/AppArmor", self.broken(lambda s: None, {
            "annotations": {"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}}))

    def test_inheritance(self):
        # Container-level fields may be left unset when the pod sets them...
        self.assertNotIn("restricted/Running as Non-root", self.broken(lambda s: None))
        self.assertNotIn("restricted/Seccomp", self.broken(lambda s: None))
        # ...or set on every container instead of the pod...
        def per_container(s):
            del s["securityContext"]["runAsNonRoot"], s["securityContext"]["seccompProfile"]
            for _, c in containers(s):
                c["securityContext"].update(runAsNonRoot=True, seccompProfile={"type": "Localhost", "localhostProfile": "p"})
        self.assertEqual(self.broken(per_container), set())
        # ...but a container may not turn them off under a compliant pod.
        self.assertIn("restricted/Running as Non-root",
                      self.broken(lambda s: s["initContainers"][0]["securityContext"].update(runAsNonRoot=False)))
        self.assertIn("restricted/Seccomp", self.broken(
            lambda s: s["initContainers"][0]["securityContext"].update(seccompProfile={"type": "Unconfined"})))
        # An ephemeral container counts like any other.
        self.assertIn("restricted/Privilege Escalation", self.broken(
            lambda s: s.update(ephemeralContainers=[{"name": "debug", "image": "busybox", "securityContext": {
                "capabilities": {"drop": ["ALL"]}}}])))

    def test_strimzi_providers(self):
        objects = yaml.safe_load_all("""
apiVersion: kafka.strimzi.io/v1
kind: Kafka
metadata: {name: k, namespace: harmony}
spec: {kafka: {}, entityOperator: {userOperator: {}}}
---
apiVersion: kafka.strimzi.io/v1
kind: KafkaNodePool
metadata: {name: dual, namespace: harmony, labels: {strimzi.io/cluster: k}}
spec: {replicas: 1, roles: [broker]}
""")
        objects = list(objects)
        baseline = pod_templates.strimzi_pods(objects, pod_templates.strimzi_provider({}))
        restricted = pod_templates.strimzi_pods(objects, pod_templates.strimzi_provider(
            {"extraEnvs": [{"name": "STRIMZI_POD_SECURITY_PROVIDER_CLASS", "value": "restricted"}]}))
        self.assertEqual(len(baseline), 2)
        self.assertTrue(all(violations(p["spec"]) for p in baseline))
        self.assertEqual([violations(p["spec"]) for p in restricted], [[], []])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--self-test", action="store_true")
    parser.add_argument("--label", default="manifests")
    parser.add_argument("--helmfile-state", help="helmfile -e ENV build --embed-values output")
    parser.add_argument("manifests", nargs="*")
    args = parser.parse_args()
    if args.self_test:
        result = unittest.TextTestRunner(verbosity=1).run(unittest.defaultTestLoader.loadTestsFromTestCase(Rules))
        return 0 if result.wasSuccessful() else 1
    if not args.manifests:
        parser.error("no manifests")
    state = None
    if args.helmfile_state:
        documents = [d for d in pod_templates.load_all(args.helmfile_state) if d.get("releases")]
        state = documents[0] if documents else {}
    return check(args.label, args.manifests, state)


if __name__ == "__main__":
    sys.exit(main())
