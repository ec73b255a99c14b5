# INTENTIONALLY INSECURE infrastructure for secai's scanner fixtures. Never apply.

variable "reports_db_password" {
  type      = string
  sensitive = true
}

variable "rds_monitoring_role_arn" {
  type = string
}

variable "rds_kms_key_arn" {
  type = string
}

resource "aws_db_instance" "reports" {
  identifier                      = "reports-db"
  engine                          = "postgres"
  engine_version                  = "15.4"
  instance_class                  = "db.t3.small"
  allocated_storage               = 50
  username                        = "reports"
  password                        = var.reports_db_password
  multi_az                        = true
  auto_minor_version_upgrade      = true
  backup_retention_period         = 7
  copy_tags_to_snapshot           = true
  enabled_cloudwatch_logs_exports = ["postgresql", "upgrade"]
  monitoring_interval             = 60
  monitoring_role_arn             = var.rds_monitoring_role_arn
  performance_insights_enabled    = true
  performance_insights_kms_key_id = var.rds_kms_key_arn
  skip_final_snapshot             = true

  publicly_accessible                 = false
  storage_encrypted                   = true
  deletion_protection                 = true
  iam_database_authentication_enabled = true
}

variable "audit_db_password" {
  type      = string
  sensitive = true
}

resource "aws_db_instance" "audit" {
  identifier                      = "audit-db"
  engine                          = "mysql"
  engine_version                  = "8.0"
  instance_class                  = "db.t3.medium"
  allocated_storage               = 20
  username                        = "audit"
  password                        = var.audit_db_password
  multi_az                        = true
  auto_minor_version_upgrade      = true
  backup_retention_period         = 14
  copy_tags_to_snapshot           = true
  enabled_cloudwatch_logs_exports = ["audit", "error", "slowquery"]
  monitoring_interval             = 30
  monitoring_role_arn             = var.rds_monitoring_role_arn
  performance_insights_enabled    = true
  performance_insights_kms_key_id = var.rds_kms_key_arn
  skip_final_snapshot             = true

  publicly_accessible                 = false
  storage_encrypted                   = true
  deletion_protection                 = true
  iam_database_authentication_enabled = true
}

resource "aws_db_instance" "billing" {
  identifier                      = "billing-db"
  engine                          = "postgres"
  engine_version                  = "16.2"
  instance_class                  = "db.t3.medium"
  allocated_storage               = 100
  username                        = "billing"
  manage_master_user_password     = true
  multi_az                        = true
  auto_minor_version_upgrade      = true
  backup_retention_period         = 30
  copy_tags_to_snapshot           = true
  enabled_cloudwatch_logs_exports = ["postgresql"]
  monitoring_interval             = 60
  monitoring_role_arn             = var.rds_monitoring_role_arn
  performance_insights_enabled    = true
  performance_insights_kms_key_id = var.rds_kms_key_arn

  publicly_accessible                 = false
  storage_encrypted                   = true
  deletion_protection                 = true
  iam_database_authentication_enabled = true
}
