# INTENTIONALLY INSECURE infrastructure for secai's scanner fixtures. Never apply.

variable "analytics_db_password" {
  type      = string
  sensitive = true
}

resource "aws_kms_key" "analytics" {
  description             = "analytics data"
  deletion_window_in_days = 7
  enable_key_rotation     = true
}

resource "aws_security_group" "analytics" {
  name        = "analytics"
  description = "analytics workers"
  vpc_id      = var.vpc_id

  ingress {
    description = "SSH from the bastion subnet"
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = ["10.0.0.0/24"]
  }
}

resource "aws_instance" "analytics" {
  ami                    = "ami-0fake0000analytic"
  instance_type          = "r6i.large"
  subnet_id              = var.private_subnet_id
  vpc_security_group_ids = [aws_security_group.analytics.id]
  monitoring             = true
  ebs_optimized          = true

  metadata_options {
    http_tokens = "required"
  }

  root_block_device {
    volume_size = 100
    encrypted   = true
  }
}

resource "aws_ebs_volume" "analytics_scratch" {
  availability_zone = "us-east-1c"
  size              = 500
  encrypted         = true
  kms_key_id        = aws_kms_key.analytics.arn
}

resource "aws_db_instance" "analytics" {
  identifier                      = "analytics-db"
  engine                          = "postgres"
  instance_class                  = "db.r6g.large"
  allocated_storage               = 200
  username                        = "analytics"
  password                        = var.analytics_db_password
  multi_az                        = true
  auto_minor_version_upgrade      = true
  backup_retention_period         = 7
  copy_tags_to_snapshot           = true
  enabled_cloudwatch_logs_exports = ["postgresql"]
  monitoring_interval             = 60
  monitoring_role_arn             = var.rds_monitoring_role_arn
  performance_insights_enabled    = true
  performance_insights_kms_key_id = aws_kms_key.analytics.arn

  publicly_accessible                 = false
  storage_encrypted                   = true
  deletion_protection                 = true
  iam_database_authentication_enabled = true
}

resource "aws_sqs_queue" "analytics_events" {
  name                    = "analytics-events"
  sqs_managed_sse_enabled = true
}

resource "aws_cloudwatch_log_group" "analytics" {
  name              = "/app/analytics"
  retention_in_days = 365
  kms_key_id        = aws_kms_key.analytics.arn
}

resource "aws_s3_bucket" "analytics_exports" {
  bucket = "vulnerable-app-analytics-exports-example"

  logging {
    target_bucket = var.access_log_bucket
    target_prefix = "analytics-exports/"
  }

  versioning {
    enabled = true
  }

  server_side_encryption_configuration {
    rule {
      apply_server_side_encryption_by_default {
        sse_algorithm     = "aws:kms"
        kms_master_key_id = aws_kms_key.analytics.arn
      }
    }
  }
}

resource "aws_s3_bucket_public_access_block" "analytics_exports" {
  bucket                  = aws_s3_bucket.analytics_exports.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}
