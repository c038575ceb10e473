# The NATS release's planned values with the providers mocked: three clustered servers, one
# per zone, JetStream on persistent, encrypted, retained volumes.
mock_provider "helm" {}
mock_provider "kubectl" {}

run "three_replicas_on_persistent_volumes" {
  command = plan

  assert {
    condition     = yamldecode(helm_release.nats.values[0]).config.cluster == { enabled = true, replicas = 3 }
    error_message = "NATS runs as a three-server cluster."
  }
  assert {
    condition     = yamldecode(helm_release.nats.values[0]).config.jetstream.fileStore.pvc == { enabled = true, size = "50Gi", storageClassName = "bobaku-gp3" }
    error_message = "JetStream stores on a persistent volume of the encrypted class."
  }
  assert {
    condition     = !yamldecode(helm_release.nats.values[0]).config.jetstream.memoryStore.enabled
    error_message = "No memory-only JetStream storage."
  }
  assert {
    condition     = yamldecode(helm_release.nats.values[0]).podTemplate.topologySpreadConstraints["topology.kubernetes.io/zone"].whenUnsatisfiable == "DoNotSchedule"
    error_message = "The servers are spread over the zones."
  }
  assert {
    condition     = yamldecode(nonsensitive(kubectl_manifest.storage_class.yaml_body)).parameters.encrypted == "true" && yamldecode(nonsensitive(kubectl_manifest.storage_class.yaml_body)).reclaimPolicy == "Retain"
    error_message = "The volumes are encrypted and outlive the release."
  }
}

run "kms_key_goes_to_the_storage_class" {
  command = plan

  variables {
    kms_key_arn  = "arn:aws:kms:ap-southeast-1:123456789012:key/1234"
    storage_size = "200Gi"
  }

  assert {
    condition     = yamldecode(nonsensitive(kubectl_manifest.storage_class.yaml_body)).parameters.kmsKeyId == "arn:aws:kms:ap-southeast-1:123456789012:key/1234"
    error_message = "The storage class encrypts with the key given."
  }
  assert {
    condition     = yamldecode(helm_release.nats.values[0]).config.jetstream.fileStore.pvc.size == "200Gi"
    error_message = "storage_size sizes the volumes."
  }
}

run "even_cluster_is_refused" {
  command = plan

  variables {
    replicas = 2
  }

  expect_failures = [var.replicas]
}
