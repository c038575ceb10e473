# Plans of the platform layer with the helm and kubectl providers mocked (no cluster): what
# the releases, the Ingresses and the franchises' resources would be.
# tests/terraform/test_platform.py applies the same layer for real.
mock_provider "helm" {}
mock_provider "kubectl" {}

variables {
  kubeconfig         = "/nonexistent/kubeconfig"
  chart_path         = "../../charts/bobaku"
  image_registry     = "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/bobaku"
  operator_image_tag = "1.4.0"
  releases = {
    blue  = { image_tag = "1.4.0" }
    green = { image_tag = "1.5.0", values = { gateway = { replicas = 3 } } }
  }
  live = "blue"
  servers = {
    nats_url            = "nats://nats.nats.svc.cluster.local:4222"
    redis_url           = "rediss://redis.example:6379/0"
    mongodb_secret_name = "bobaku-mongodb"
  }
  ingress = {
    enabled         = true
    api_host        = "api.bobaku.example"
    hub_host        = "hub.bobaku.example"
    certificate_arn = "arn:aws:acm:ap-southeast-1:123456789012:certificate/abc"
  }
  franchises = {
    jakarta = {
      display_name = "BobaKu Jakarta"
      tier         = "medium"
      owner        = "owner@jakarta.example"
      config       = { pricing = { taxRateBp = 1000 } }
      outlets = {
        jkt-kemang  = { display_name = "Kemang", city = "Jakarta", stations = 3 }
        jkt-senayan = { display_name = "Senayan" }
      }
    }
    bandung = {
      display_name = "BobaKu Bandung"
      outlets      = { bdg-dago = { display_name = "Dago", phone = "+62 22 555 0101" } }
    }
  }
}

run "blue_is_live" {
  command = plan

  assert {
    condition     = yamldecode(helm_release.operator.values[0]).operator.enabled && !yamldecode(helm_release.operator.values[0]).gateway.enabled
    error_message = "The bobaku release runs the operator and no gateway."
  }
  assert {
    condition     = alltrue([for c, r in helm_release.colour : !yamldecode(r.values[0]).operator.enabled])
    error_message = "No colour runs a second operator."
  }
  assert {
    condition     = helm_release.colour["blue"].namespace == "bobaku-blue" && helm_release.colour["green"].namespace == "bobaku-green"
    error_message = "Each colour has its own namespace."
  }
  assert {
    condition     = yamldecode(helm_release.colour["green"].values[0]).image.tag == "1.5.0" && yamldecode(helm_release.colour["green"].values[1]).gateway.replicas == 3
    error_message = "A colour runs its own tag and its own values."
  }
  assert {
    condition     = yamldecode(helm_release.colour["blue"].values[0]).mongodb.existingSecret == "bobaku-mongodb" && !yamldecode(helm_release.colour["blue"].values[0]).nats.enabled
    error_message = "The releases use the managed servers, not in-cluster ones."
  }
  assert {
    condition     = [for r in yamldecode(nonsensitive(kubectl_manifest.ingress["blue"].yaml_body)).spec.rules : r.host] == ["api.bobaku.example", "hub.bobaku.example"]
    error_message = "The live colour's Ingress carries the public hosts."
  }
  assert {
    condition     = [for r in yamldecode(nonsensitive(kubectl_manifest.ingress["green"].yaml_body)).spec.rules : r.host] == ["green-api.bobaku.example", "green-hub.bobaku.example"]
    error_message = "The other colour gets preview hosts."
  }
  assert {
    condition     = yamldecode(nonsensitive(kubectl_manifest.ingress["blue"].yaml_body)).metadata.annotations["alb.ingress.kubernetes.io/load-balancer-attributes"] == "idle_timeout.timeout_seconds=3600"
    error_message = "The ALB keeps idle websockets for an hour."
  }
  assert {
    condition     = yamldecode(nonsensitive(kubectl_manifest.franchise["jakarta"].yaml_body)).spec == { displayName = "BobaKu Jakarta", tier = "medium", retention = "Retain", owner = "owner@jakarta.example", config = { pricing = { taxRateBp = 1000 } } }
    error_message = "The Franchise's spec comes from the variables."
  }
  assert {
    condition     = length(kubectl_manifest.outlet) == 3 && yamldecode(nonsensitive(kubectl_manifest.outlet["bdg-dago"].yaml_body)).spec.franchiseRef == "bandung"
    error_message = "Every outlet of every franchise, each pointing at its franchise."
  }
  assert {
    condition     = yamldecode(nonsensitive(kubectl_manifest.outlet["jkt-senayan"].yaml_body)).spec == { franchiseRef = "jakarta", displayName = "Senayan", stations = 2, config = {} }
    error_message = "Unset outlet fields are left out and stations defaults to 2."
  }
}

run "switch_to_green" {
  command = plan

  variables {
    live = "green"
  }

  assert {
    condition     = output.hosts["green"].api == "api.bobaku.example" && output.hosts["blue"].api == "blue-api.bobaku.example"
    error_message = "Switching live moves the public hosts to green."
  }
}

run "live_must_be_a_release" {
  command = plan

  variables {
    live = "purple"
  }

  expect_failures = [helm_release.operator]
}

run "bad_tier_is_refused" {
  command = plan

  variables {
    franchises = {
      solo = { display_name = "Solo", tier = "huge" }
    }
  }

  expect_failures = [var.franchises]
}

run "no_ingress" {
  command = plan

  variables {
    ingress = { enabled = false, api_host = "", hub_host = "" }
  }

  assert {
    condition     = length(kubectl_manifest.ingress) == 0
    error_message = "ingress.enabled false creates no Ingress."
  }
}

run "in_cluster_servers" {
  command = plan

  variables {
    in_cluster_servers = true
    servers            = null
    operator_values    = { nats = { hostPath = "/var/lib/bobaku/nats" } }
  }

  assert {
    condition     = yamldecode(helm_release.operator.values[0]).nats.enabled && yamldecode(helm_release.operator.values[0]).redis.enabled && yamldecode(helm_release.operator.values[0]).mongodb.enabled
    error_message = "The operator's release runs the single-node servers."
  }
  assert {
    condition     = yamldecode(helm_release.operator.values[1]).nats.hostPath == "/var/lib/bobaku/nats"
    error_message = "The caller's operator values come after the layer's."
  }
  assert {
    condition = alltrue([for c, r in helm_release.colour : !yamldecode(r.values[0]).nats.enabled && yamldecode(r.values[0]).nats.url == "nats://nats.bobaku-system.svc:4222" &&
    yamldecode(r.values[0]).redis.url == "redis://redis.bobaku-system.svc:6379/0" && yamldecode(r.values[0]).mongodb.url == "mongodb://mongodb.bobaku-system.svc:27017/"])
    error_message = "Every colour uses the operator release's servers."
  }
}

run "the_silos_follow_the_live_colour" {
  command = plan

  variables {
    live = "green"
  }

  assert {
    condition     = yamldecode(helm_release.operator.values[0]).operator.platformNamespace == "bobaku-green"
    error_message = "The operator hands the silos the live colour's hub and services."
  }
}

run "servers_needed_without_in_cluster_ones" {
  command = plan

  variables {
    servers = null
  }

  expect_failures = [helm_release.operator]
}
