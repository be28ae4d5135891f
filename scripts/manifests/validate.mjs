// Validates custom resources against their projects' own schemas, offline
// (the @kubernetes-models packages: Argo CD, Strimzi, CloudNativePG,
// external-secrets, Prometheus operator, Karpenter, KEDA), and sorts the rest for the other
// validators: Kubernetes' own kinds go to --core (kubernetes-validate, the
// 1.33 schemas) and HarmonyChats to --harmonychat (the CRD's schema).
// A kind nobody can validate is an error: nothing passes unchecked.
//
// Usage: node validate.mjs --core core.yaml --harmonychat hc.yaml FILE...
import { readFileSync, writeFileSync } from 'node:fs';
import { parseAllDocuments, stringify } from 'yaml';

const models = {
  'argoproj.io/v1alpha1': ['@kubernetes-models/argo-cd/argoproj.io/v1alpha1', ['Application', 'ApplicationSet', 'AppProject']],
  'kafka.strimzi.io/v1': ['@kubernetes-models/strimzi-kafka-operator/kafka.strimzi.io/v1', ['Kafka', 'KafkaNodePool']],
  'postgresql.cnpg.io/v1': ['@kubernetes-models/cloudnative-pg/postgresql.cnpg.io/v1', ['Cluster', 'ScheduledBackup']],
  'external-secrets.io/v1': ['@kubernetes-models/external-secrets/external-secrets.io/v1', ['ExternalSecret', 'SecretStore']],
  'monitoring.coreos.com/v1': ['@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1', ['PodMonitor', 'PrometheusRule', 'ServiceMonitor']],
  'karpenter.sh/v1': ['@kubernetes-models/karpenter/karpenter.sh/v1', ['NodePool']],
  'karpenter.k8s.aws/v1': ['@kubernetes-models/karpenter/karpenter.k8s.aws/v1', ['EC2NodeClass']],
  'keda.sh/v1alpha1': ['@kubernetes-models/keda/keda.sh/v1alpha1', ['ScaledObject', 'TriggerAuthentication']],
};
// Groups kubernetes-validate has schemas for.
const core = new Set(['v1', 'apps/v1', 'batch/v1', 'rbac.authorization.k8s.io/v1', 'autoscaling/v2', 'policy/v1',
  'networking.k8s.io/v1', 'apiextensions.k8s.io/v1', 'coordination.k8s.io/v1', 'storage.k8s.io/v1']);

const args = process.argv.slice(2);
const option = (name) => {
  const at = args.indexOf(name);
  return at < 0 ? undefined : args.splice(at, 2)[1];
};
const coreOut = option('--core');
const harmonyOut = option('--harmonychat');
const sorted = { core: [], harmonychat: [] };
const failures = [];
let checked = 0;

for (const file of args) {
  for (const document of parseAllDocuments(readFileSync(file, 'utf8'))) {
    if (document.errors.length) {
      failures.push(`${file}: ${document.errors.map((e) => e.message).join('; ')}`);
      continue;
    }
    const object = document.toJS();
    if (!object) continue;
    const where = `${file}: ${object.kind}/${object.metadata?.name}`;
    if (core.has(object.apiVersion)) {
      sorted.core.push(object);
    } else if (object.apiVersion === 'harmony.chat/v1alpha1' && object.kind === 'HarmonyChat') {
      sorted.harmonychat.push(object);
    } else if (models[object.apiVersion]?.[1].includes(object.kind)) {
      const module = await import(`${models[object.apiVersion][0]}/${object.kind}`);
      try {
        new module[object.kind](object).validate();
        checked += 1;
      } catch (error) {
        failures.push(`${where}: ${error.message}`);
      }
    } else {
      failures.push(`${where}: no offline schema for ${object.apiVersion} ${object.kind}`);
    }
  }
}

// YAML 1.1 quoting: kubernetes-validate reads `no` as a boolean.
const write = (path, objects) => path && writeFileSync(path, objects.map((o) => stringify(o, { version: '1.1' })).join('---\n'));
write(coreOut, sorted.core);
write(harmonyOut, sorted.harmonychat);
for (const failure of failures) console.error(`FAIL: ${failure}`);
console.log(`${checked} custom resources valid, ${sorted.core.length} Kubernetes objects and ${sorted.harmonychat.length} HarmonyChats passed on`);
process.exit(failures.length ? 1 : 0);
