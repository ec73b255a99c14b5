# INTENTIONALLY INSECURE infrastructure for secai's scanner fixtures. Never apply.

resource "aws_kms_key" "batch" {
  description         = "batch runner data"
  enable_key_rotation = true
}

resource "aws_instance" "batch" {
  ami           = "ami-0fake0000batch000"
  instance_type = "c6i.large"
  subnet_id     = var.private_subnet_id
  monitoring    = true
  ebs_optimized = true

  metadata_options {
    http_tokens = "required"
  }

  root_block_device {
    volume_size = 40
    encrypted   = true
  }
}

resource "aws_ebs_volume" "batch_scratch" {
  availability_zone = "us-east-1a"
  size              = 200
  type              = "gp3"
  encrypted         = true
  kms_key_id        = aws_kms_key.batch.arn
}

resource "aws_sqs_queue" "batch_jobs" {
  name                       = "batch-jobs"
  visibility_timeout_seconds = 900
  kms_master_key_id          = aws_kms_key.batch.arn
}

resource "aws_cloudwatch_log_group" "batch" {
  name              = "/app/batch"
  retention_in_days = 731
  kms_key_id        = aws_kms_key.batch.arn
}

resource "aws_s3_bucket" "batch_results" {
  bucket = "vulnerable-app-batch-results-example"

  logging {
    target_bucket = var.access_log_bucket
    target_prefix = "batch-results/"
  }

  versioning {
    enabled = true
  }

  server_side_encryption_configuration {
    rule {
      apply_server_side_encryption_by_default {
        sse_algorithm     = "aws:kms"
        kms_master_key_id = aws_kms_key.batch.arn
      }
    }
  }
}

resource "aws_s3_bucket_public_access_block" "batch_results" {
  bucket                  = aws_s3_bucket.batch_results.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}
