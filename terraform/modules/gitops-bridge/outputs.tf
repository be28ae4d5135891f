output "secret_name" {
  description = "Name of the Argo CD cluster Secret."
  value       = kubernetes_secret_v1.cluster.metadata[0].name
}

output "namespace" {
  description = "Namespace of the Argo CD cluster Secret."
  value       = kubernetes_secret_v1.cluster.metadata[0].namespace
}

output "annotations" {
  description = "Values published to GitOps as annotations of the cluster Secret (none is secret)."
  value       = local.annotations
}
