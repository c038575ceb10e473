# TLS at the edge: an ACM certificate for the API (gateway) and the hub's websockets,
# validated through Route 53, and the AWS Load Balancer Controller (IRSA), which turns the
# platform layer's Ingress (terraform/platform) into one ALB: HTTPS only, HTTP redirected,
# idle timeout long enough for quiet websockets.
data "aws_partition" "this" {}

resource "aws_acm_certificate" "this" {
  domain_name               = var.domain
  subject_alternative_names = var.alternative_names
  validation_method         = "DNS"
  tags                      = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_route53_record" "validation" {
  for_each = {
    for o in aws_acm_certificate.this.domain_validation_options : o.domain_name => o
  }
  zone_id         = var.zone_id
  name            = each.value.resource_record_name
  type            = each.value.resource_record_type
  records         = [each.value.resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "this" {
  certificate_arn         = aws_acm_certificate.this.arn
  validation_record_fqdns = [for r in aws_route53_record.validation : r.fqdn]
}

# What the controller does: read the VPC, manage load balancers, target groups, listeners
# and their security groups, and read certificates. Changes are limited to resources it
# tagged for this cluster.
data "aws_iam_policy_document" "controller" {
  statement {
    sid = "Read"
    actions = [
      "ec2:DescribeAccountAttributes", "ec2:DescribeAddresses", "ec2:DescribeAvailabilityZones",
      "ec2:DescribeInternetGateways", "ec2:DescribeVpcs", "ec2:DescribeVpcPeeringConnections",
      "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeInstances",
      "ec2:DescribeNetworkInterfaces", "ec2:DescribeTags", "ec2:DescribeCoipPools",
      "ec2:GetCoipPoolUsage", "ec2:DescribeRouteTables", "ec2:GetSecurityGroupsForVpc",
      "elasticloadbalancing:Describe*", "acm:ListCertificates", "acm:DescribeCertificate",
      "iam:ListServerCertificates", "iam:GetServerCertificate", "cognito-idp:DescribeUserPoolClient",
      "wafv2:GetWebACLForResource", "shield:GetSubscriptionState",
    ]
    resources = ["*"]
  }
  statement {
    sid       = "ServiceLinkedRole"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "iam:AWSServiceName"
      values   = ["elasticloadbalancing.amazonaws.com"]
    }
  }
  statement {
    sid       = "CreateTagged"
    actions   = ["ec2:CreateSecurityGroup", "elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/elbv2.k8s.aws/cluster"
      values   = [var.cluster_name]
    }
  }
  statement {
    sid       = "TagOnCreate"
    actions   = ["ec2:CreateTags", "elasticloadbalancing:AddTags"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/elbv2.k8s.aws/cluster"
      values   = [var.cluster_name]
    }
  }
  statement {
    sid = "ChangeOwn"
    actions = [
      "ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:DeleteSecurityGroup",
      "ec2:CreateTags", "ec2:DeleteTags",
      "elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:SetIpAddressType",
      "elasticloadbalancing:SetSecurityGroups", "elasticloadbalancing:SetSubnets",
      "elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:ModifyTargetGroup",
      "elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:DeleteTargetGroup",
      "elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags",
      "elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets",
    ]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/elbv2.k8s.aws/cluster"
      values   = [var.cluster_name]
    }
  }
  statement {
    sid = "Listeners"
    actions = [
      "elasticloadbalancing:CreateListener", "elasticloadbalancing:DeleteListener",
      "elasticloadbalancing:CreateRule", "elasticloadbalancing:DeleteRule",
      "elasticloadbalancing:ModifyListener", "elasticloadbalancing:ModifyRule",
      "elasticloadbalancing:AddListenerCertificates", "elasticloadbalancing:RemoveListenerCertificates",
    ]
    resources = ["*"]
  }
}

module "controller_role" {
  source            = "../irsa"
  name              = "${var.cluster_name}-alb-controller"
  oidc_provider_arn = var.oidc_provider_arn
  oidc_issuer       = var.oidc_issuer
  namespace         = "kube-system"
  service_account   = "aws-load-balancer-controller"
  policy_json       = data.aws_iam_policy_document.controller.json
  tags              = var.tags
}

resource "helm_release" "controller" {
  name        = "aws-load-balancer-controller"
  namespace   = "kube-system"
  repository  = var.chart_repository
  chart       = "aws-load-balancer-controller"
  version     = var.chart_version
  atomic      = true
  max_history = 10
  values = [yamlencode({
    clusterName  = var.cluster_name
    region       = var.region
    vpcId        = var.vpc_id
    replicaCount = 2
    serviceAccount = {
      name        = "aws-load-balancer-controller"
      annotations = { "eks.amazonaws.com/role-arn" = module.controller_role.arn }
    }
  })]
}
