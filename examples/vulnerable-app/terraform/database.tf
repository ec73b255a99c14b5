# INTENTIONALLY INSECURE infrastructure for secai's scanner fixtures. Never apply.

variable "reports_db_password" {
  type      = string
  sensitive = true
}

resource "aws_db_instance" "reports" {
  identifier              = "reports-db"
  engine                  = "postgres"
  engine_version          = "15.4"
  instance_class          = "db.t3.small"
  allocated_storage       = 50
  username                = "reports"
  password                = var.reports_db_password
  publicly_accessible     = false
  storage_encrypted       = true
  backup_retention_period = 7
  skip_final_snapshot     = true
}

variable "audit_db_password" {
  type      = string
  sensitive = true
}

resource "aws_db_instance" "audit" {
  identifier          = "audit-db"
  engine              = "mysql"
  engine_version      = "8.0"
  instance_class      = "db.t3.micro"
  allocated_storage   = 20
  username            = "audit"
  password            = var.audit_db_password
  publicly_accessible = false
  storage_encrypted   = true
  skip_final_snapshot = true
}

resource "aws_db_instance" "billing" {
  identifier                  = "billing-db"
  engine                      = "postgres"
  engine_version              = "16.2"
  instance_class              = "db.t3.medium"
  allocated_storage           = 100
  username                    = "billing"
  manage_master_user_password = true
  publicly_accessible         = false
  storage_encrypted           = true
  deletion_protection         = true
}
