# INTENTIONALLY INSECURE infrastructure for secai's scanner fixtures. Never apply.

resource "aws_s3_bucket" "reports" {
  bucket = "vulnerable-app-reports-example"

  server_side_encryption_configuration {
    rule {
      apply_server_side_encryption_by_default {
        sse_algorithm     = "aws:kms"
        kms_master_key_id = var.reports_kms_key_arn
      }
    }
  }

  versioning {
    enabled = true
  }

  logging {
    target_bucket = var.access_log_bucket
    target_prefix = "reports/"
  }
}

resource "aws_s3_bucket_public_access_block" "reports" {
  bucket                  = aws_s3_bucket.reports.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket" "backups" {
  #checkov:skip=CKV_AWS_144:copied to the DR region by AWS Backup, not S3 replication
  bucket = "vulnerable-app-backups-example"

  versioning {
    enabled = true
  }

  logging {
    target_bucket = var.access_log_bucket
    target_prefix = "backups/"
  }

  server_side_encryption_configuration {
    rule {
      apply_server_side_encryption_by_default {
        sse_algorithm     = "aws:kms"
        kms_master_key_id = aws_kms_key.backups.arn
      }
    }
  }
}

resource "aws_kms_key" "backups" {
  description             = "backup bucket encryption"
  deletion_window_in_days = 14
  enable_key_rotation     = true
}

resource "aws_s3_bucket_public_access_block" "backups" {
  bucket                  = aws_s3_bucket.backups.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

#trivy:ignore:AVD-AWS-0089 access logs not needed for a static site
resource "aws_s3_bucket" "site" {
  #checkov:skip=CKV_AWS_20:public website bucket by design
  bucket = "vulnerable-app-site-example"
  #trivy:ignore:AVD-AWS-0092 public website bucket by design
  acl    = "public-read"

  website {
    index_document = "index.html"
  }
}
