# The platform layer: the chart's releases and the franchises, on any cluster.
#
# - `bobaku` in bobaku-system: the operator, the CRDs and HQ's configuration (one operator
#   for the whole platform: it runs kopf standalone).
# - one release per colour in bobaku-<colour> (blue/green): gateway, hub and the shared
#   services at that colour's image tag, without an operator.
# - an Ingress per colour: the live colour carries the public hosts, the others preview
#   hosts; switching var.live moves the traffic (one ALB through the Ingress group).
# - the Franchise and Outlet resources from var.franchises; the operator does the rest.
locals {
  chart = coalesce(var.chart_path, "${path.module}/../../charts/bobaku")

  # Where every release finds NATS, Redis and MongoDB: the managed servers (var.servers),
  # or, with var.in_cluster_servers, the chart's single-node ones that the operator's
  # release runs in bobaku-system (a test cluster).
  in_cluster = "bobaku-system.svc"
  servers = var.in_cluster_servers ? {
    nats    = { enabled = false, url = "nats://nats.${local.in_cluster}:4222" }
    redis   = { enabled = false, url = "redis://redis.${local.in_cluster}:6379/0" }
    mongodb = { enabled = false, url = "mongodb://mongodb.${local.in_cluster}:27017/", existingSecret = "" }
    } : {
    nats    = { enabled = false, url = try(var.servers.nats_url, "") }
    redis   = { enabled = false, url = try(var.servers.redis_url, "") }
    mongodb = { enabled = false, url = "", existingSecret = try(var.servers.mongodb_secret_name, "") }
  }
  operator_servers = var.in_cluster_servers ? {
    nats    = { enabled = true, url = "" }
    redis   = { enabled = true, url = "" }
    mongodb = { enabled = true, url = "", existingSecret = "" }
  } : local.servers

  auth = { jwtSecret = var.jwt_secret_name, serviceTokenSecret = var.service_token_secret_name }

  operator_values = merge(local.operator_servers, {
    image    = { registry = var.image_registry, tag = var.operator_image_tag }
    platform = { environment = var.environment }
    auth     = local.auth
    # The silos call the live colour's hub and brand-wide services; the operator registers
    # outlets in its menu service.
    operator = { enabled = true, platformNamespace = "bobaku-${var.live}" }
    gateway  = { enabled = false }
    hub      = { enabled = false }
    services = { for name in ["customer", "order", "payment", "menu", "provider-sim", "supply", "notification", "analytics", "push-sim"] : name => { enabled = false } }
  })

  releases = {
    for colour, r in var.releases : colour => {
      image_tag = tostring(r.image_tag)
      values    = yamlencode(try(r.values, {}))
    }
  }

  colour_values = {
    for colour, r in local.releases : colour => merge(local.servers, {
      image    = { registry = var.image_registry, tag = r.image_tag }
      platform = { environment = var.environment }
      auth     = local.auth
      operator = { enabled = false }
    })
  }

  hosts = {
    for colour in keys(local.releases) : colour => {
      api = colour == var.live ? var.ingress.api_host : "${colour}-${var.ingress.api_host}"
      hub = colour == var.live ? var.ingress.hub_host : "${colour}-${var.ingress.hub_host}"
    }
  }

  franchises = {
    for id, f in var.franchises : id => {
      display_name = tostring(f.display_name)
      tier         = try(tostring(f.tier), "small")
      owner        = try(tostring(f.owner), null)
      retention    = try(tostring(f.retention), "Retain")
      config       = try(f.config, {})
    }
  }

  # Outlet id => its spec; the outlets of every franchise in one map.
  outlets = merge({}, [
    for fid, f in var.franchises : {
      for oid, o in try(f.outlets, {}) : oid => {
        spec = merge(
          {
            franchiseRef = fid
            displayName  = tostring(o.display_name)
            stations     = try(o.stations, 2)
            config       = try(o.config, {})
          },
          { for k in ["city", "address", "phone"] : k => tostring(o[k]) if try(o[k], null) != null },
        )
      }
    }
  ]...)
}

resource "helm_release" "operator" {
  name             = "bobaku"
  namespace        = "bobaku-system"
  create_namespace = true
  chart            = local.chart
  # The layer's values, then the caller's (var.operator_values).
  values      = [yamlencode(local.operator_values), yamlencode(var.operator_values)]
  wait        = var.wait
  atomic      = var.wait
  timeout     = 600
  max_history = 10

  lifecycle {
    precondition {
      condition     = contains(keys(var.releases), var.live)
      error_message = "live must name one of the releases."
    }
    precondition {
      condition     = var.in_cluster_servers || var.servers != null
      error_message = "servers is required unless in_cluster_servers is true."
    }
  }
}

resource "helm_release" "colour" {
  for_each         = local.releases
  name             = "bobaku-${each.key}"
  namespace        = "bobaku-${each.key}"
  create_namespace = true
  chart            = local.chart
  # Chart defaults, then the colour's (servers, image), then the caller's own values.
  values      = [yamlencode(local.colour_values[each.key]), each.value.values]
  wait        = var.wait
  atomic      = var.wait
  timeout     = 600
  max_history = 10

  # The CRDs and the operator's RBAC come with the operator's release.
  depends_on = [helm_release.operator]
}

resource "kubectl_manifest" "ingress" {
  for_each = var.ingress.enabled ? local.releases : {}

  yaml_body = yamlencode({
    apiVersion = "networking.k8s.io/v1"
    kind       = "Ingress"
    metadata = {
      name      = "bobaku"
      namespace = helm_release.colour[each.key].namespace
      labels    = { "bobaku.io/colour" = each.key, "bobaku.io/live" = tostring(each.key == var.live) }
      annotations = {
        "alb.ingress.kubernetes.io/scheme"           = "internet-facing"
        "alb.ingress.kubernetes.io/target-type"      = "ip"
        "alb.ingress.kubernetes.io/group.name"       = var.ingress.group_name
        "alb.ingress.kubernetes.io/listen-ports"     = jsonencode([{ HTTPS = 443 }, { HTTP = 80 }])
        "alb.ingress.kubernetes.io/ssl-redirect"     = "443"
        "alb.ingress.kubernetes.io/certificate-arn"  = var.ingress.certificate_arn
        "alb.ingress.kubernetes.io/healthcheck-path" = "/readyz"
        # Websockets: an idle hub connection (pings every 30 s) must outlive the ALB's timer.
        "alb.ingress.kubernetes.io/load-balancer-attributes" = "idle_timeout.timeout_seconds=3600"
        "alb.ingress.kubernetes.io/target-group-attributes"  = "stickiness.enabled=false,deregistration_delay.timeout_seconds=30"
      }
    }
    spec = {
      ingressClassName = var.ingress.class_name
      rules = [
        for svc in ["api", "hub"] : {
          host = local.hosts[each.key][svc]
          http = {
            paths = [{
              path     = "/"
              pathType = "Prefix"
              backend  = { service = { name = svc == "api" ? "gateway" : "hub", port = { number = 8080 } } }
            }]
          }
        }
      ]
    }
  })
}

resource "kubectl_manifest" "franchise" {
  for_each = local.franchises

  yaml_body = yamlencode({
    apiVersion = "bobaku.io/v1alpha1"
    kind       = "Franchise"
    metadata   = { name = each.key }
    spec = merge(
      {
        displayName = each.value.display_name
        tier        = each.value.tier
        retention   = each.value.retention
        config      = each.value.config
      },
      each.value.owner == null ? {} : { owner = each.value.owner },
    )
  })

  # The operator writes status; only spec is ours.
  ignore_fields = ["status"]
  # With var.wait a destroy waits for the operator's finalizer (the franchise's namespace,
  # silos, route and database retired) before the platform's releases go. Without it (a
  # control plane with no controllers) the delete is not awaited: the provider deletes in
  # the foreground, which only a garbage collector completes.
  wait       = var.wait
  depends_on = [helm_release.operator, helm_release.colour]
}

resource "kubectl_manifest" "outlet" {
  for_each = local.outlets

  yaml_body = yamlencode({
    apiVersion = "bobaku.io/v1alpha1"
    kind       = "Outlet"
    metadata   = { name = each.key }
    spec       = each.value.spec
  })

  ignore_fields = ["status"]
  # The operator registers an outlet in the live colour's menu service (and unregisters it
  # when the Outlet goes): an Outlet is created after and destroyed before the colours.
  wait       = var.wait
  depends_on = [kubectl_manifest.franchise]
}
