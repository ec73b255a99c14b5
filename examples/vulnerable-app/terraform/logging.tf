# INTENTIONALLY INSECURE infrastructure for secai's scanner fixtures. Never apply.

resource "aws_kms_key" "logs" {
  description             = "CloudWatch Logs encryption"
  deletion_window_in_days = 30
  enable_key_rotation     = true
}

resource "aws_cloudwatch_log_group" "worker" {
  name              = "/app/worker"
  retention_in_days = 365
  kms_key_id        = aws_kms_key.logs.arn
}

resource "aws_cloudwatch_log_group" "admin" {
  name              = "/app/admin"
  retention_in_days = 365
  kms_key_id        = aws_kms_key.logs.arn
}

resource "aws_cloudwatch_log_group" "reports" {
  name              = "/app/reports"
  kms_key_id        = aws_kms_key.logs.arn
  retention_in_days = 365
}
