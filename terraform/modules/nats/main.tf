# NATS JetStream on EKS from the NATS Helm chart: a three-node cluster (one pod per zone),
# JetStream file storage on encrypted gp3 volumes (Retain: a deleted release keeps its
# streams' data), the Prometheus exporter with a PodMonitor, and a PodDisruptionBudget so a
# node drain never takes two of the three (JetStream's R3 streams keep quorum).
resource "kubectl_manifest" "storage_class" {
  yaml_body = yamlencode({
    apiVersion  = "storage.k8s.io/v1"
    kind        = "StorageClass"
    metadata    = { name = var.storage_class }
    provisioner = "ebs.csi.aws.com"
    parameters = merge(
      { type = "gp3", encrypted = "true", fsType = "ext4" },
      var.kms_key_arn == null ? {} : { kmsKeyId = var.kms_key_arn },
    )
    reclaimPolicy        = "Retain"
    volumeBindingMode    = "WaitForFirstConsumer"
    allowVolumeExpansion = true
  })
}

locals {
  values = {
    config = {
      cluster = {
        enabled  = true
        replicas = var.replicas
      }
      jetstream = {
        enabled = true
        fileStore = {
          enabled = true
          pvc = {
            enabled          = true
            size             = var.storage_size
            storageClassName = var.storage_class
          }
        }
        memoryStore = { enabled = false }
      }
      monitor = { enabled = true }
    }
    container = {
      merge = {
        resources = {
          requests = { cpu = var.cpu, memory = var.memory }
          limits   = { memory = var.memory }
        }
      }
    }
    podTemplate = {
      topologySpreadConstraints = {
        "topology.kubernetes.io/zone" = {
          maxSkew           = 1
          whenUnsatisfiable = "DoNotSchedule"
        }
      }
      merge = {
        spec = { nodeSelector = var.node_selector }
      }
    }
    podDisruptionBudget = { enabled = true, maxUnavailable = 1 }
    promExporter = {
      enabled    = true
      podMonitor = { enabled = var.pod_monitor }
    }
    natsBox = { enabled = true }
  }
}

resource "helm_release" "nats" {
  name             = "nats"
  namespace        = var.namespace
  create_namespace = true
  repository       = var.chart_repository
  chart            = "nats"
  version          = var.chart_version
  values           = [yamlencode(local.values)]
  atomic           = true
  timeout          = 900
  max_history      = 10

  depends_on = [kubectl_manifest.storage_class]
}
