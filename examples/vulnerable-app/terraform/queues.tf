# INTENTIONALLY INSECURE infrastructure for secai's scanner fixtures. Never apply.

resource "aws_sqs_queue" "reports" {
  name                       = "reports"
  visibility_timeout_seconds = 300
  sqs_managed_sse_enabled    = true
}

resource "aws_sqs_queue" "notifications" {
  name                      = "notifications"
  message_retention_seconds = 86400
  sqs_managed_sse_enabled   = true
}
