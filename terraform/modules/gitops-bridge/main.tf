# Registers the environment's own cluster with its Argo CD, gitops-bridge
# style: a cluster Secret whose labels select it in the ApplicationSet
# (gitops/apps/environments.yaml) and whose annotations carry the Terraform
# outputs the ApplicationSet patches into the HarmonyChat, the SecretStore
# and the Ingress. Nothing is copied by hand from Terraform to git.

locals {
  name = var.naming.name_prefix # harmony-<env>

  labels = {
    "argocd.argoproj.io/secret-type" = "cluster"
    "harmony.chat/environment"       = var.naming.environment
    "app.kubernetes.io/managed-by"   = "terraform"
  }

  # Read by the ApplicationSet as .metadata.annotations; none is secret.
  annotations = {
    "harmony.chat/kafka-bootstrap-servers" = var.kafka_bootstrap_servers
    "harmony.chat/dynamodb-table"          = var.dynamodb_table
    "harmony.chat/aws-region"              = var.naming.region
    # The SecretStore's region above, and the names external-secrets reads:
    # <secrets-prefix>/postgres, <secrets-prefix>/redis and the MSK secret.
    "harmony.chat/secrets-prefix"    = var.naming.secrets_prefix
    "harmony.chat/kafka-secret-name" = var.kafka_secret_name
    # The Ingress `harmony`: its host and the issued certificate of that host.
    "harmony.chat/public-host"     = var.public_host
    "harmony.chat/certificate-arn" = var.certificate_arn
  }
}

# Terraform runs before helmfile installs Argo CD (docs/deploy.md), so the
# namespace may not exist yet; Helm's createNamespace accepts it existing.
resource "kubernetes_namespace_v1" "argocd" {
  count = var.create_namespace ? 1 : 0

  metadata {
    name   = var.namespace
    labels = { "app.kubernetes.io/managed-by" = "terraform" }
  }

  lifecycle {
    # Argo CD's chart and other tools may label the namespace too.
    ignore_changes = [metadata[0].labels, metadata[0].annotations]
  }
}

resource "kubernetes_secret_v1" "cluster" {
  metadata {
    name        = local.name
    namespace   = var.create_namespace ? kubernetes_namespace_v1.argocd[0].metadata[0].name : var.namespace
    labels      = local.labels
    annotations = local.annotations
  }

  type = "Opaque"

  # Argo CD runs inside this cluster: it reaches the API through the
  # in-cluster address with its own service account, so the Secret holds no
  # credentials, only "verify the server's certificate".
  data = {
    name   = local.name
    server = var.server
    config = jsonencode({ tlsClientConfig = { insecure = false } })
  }
}
