# The JWT signing key in Secrets Manager, rotated by a Lambda (rotation/jwt_keys.py: a new
# Ed25519 pair every rotation_days, the previous public key kept beside it). The database's
# master password is rotated by Secrets Manager itself (modules/documentdb); the Redis token
# lives in modules/redis. External Secrets (IRSA role in the root) syncs them into the
# cluster.
data "aws_partition" "this" {}
data "aws_region" "this" {}
data "aws_caller_identity" "this" {}

resource "aws_kms_key" "this" {
  description         = "${var.name}: platform secrets (JWT signing key)"
  enable_key_rotation = true
  tags                = var.tags
}

resource "aws_secretsmanager_secret" "jwt" {
  name                    = "${var.name}/jwt-signing-key"
  description             = "BobaKu JWT signing key (JSON: kid, private_pem, public_pem, previous_*)"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = 30
  tags                    = var.tags
}

# A placeholder until the first rotation (run right after creation) writes a real key.
resource "aws_secretsmanager_secret_version" "jwt_initial" {
  secret_id     = aws_secretsmanager_secret.jwt.id
  secret_string = "{}"

  lifecycle {
    ignore_changes = [secret_string, version_stages]
  }
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "rotation" {
  name               = "${var.name}-jwt-rotation"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
  tags               = var.tags
}

# Only this secret, only the calls the rotation protocol makes, and its own log group.
data "aws_iam_policy_document" "rotation" {
  statement {
    actions = [
      "secretsmanager:DescribeSecret",
      "secretsmanager:GetSecretValue",
      "secretsmanager:PutSecretValue",
      "secretsmanager:UpdateSecretVersionStage",
    ]
    resources = [aws_secretsmanager_secret.jwt.arn]
  }
  statement {
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]
  }
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.rotation.arn}:*"]
  }
}

resource "aws_iam_role_policy" "rotation" {
  name   = "${var.name}-jwt-rotation"
  role   = aws_iam_role.rotation.id
  policy = data.aws_iam_policy_document.rotation.json
}

resource "aws_cloudwatch_log_group" "rotation" {
  name              = "/aws/lambda/${var.name}-jwt-rotation"
  retention_in_days = 90
  tags              = var.tags
}

resource "aws_lambda_function" "rotation" {
  function_name    = "${var.name}-jwt-rotation"
  role             = aws_iam_role.rotation.arn
  runtime          = "python3.12"
  architectures    = ["arm64"]
  handler          = "jwt_keys.handler"
  filename         = var.rotation_package
  source_code_hash = filebase64sha256(var.rotation_package)
  timeout          = 30
  tags             = var.tags
  depends_on       = [aws_cloudwatch_log_group.rotation]
}

resource "aws_lambda_permission" "secretsmanager" {
  statement_id   = "secretsmanager-rotation"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.rotation.function_name
  principal      = "secretsmanager.amazonaws.com"
  source_account = data.aws_caller_identity.this.account_id
}

resource "aws_secretsmanager_secret_rotation" "jwt" {
  secret_id           = aws_secretsmanager_secret.jwt.id
  rotation_lambda_arn = aws_lambda_function.rotation.arn
  rotate_immediately  = true

  rotation_rules {
    automatically_after_days = var.rotation_days
  }

  depends_on = [aws_lambda_permission.secretsmanager, aws_secretsmanager_secret_version.jwt_initial]
}
