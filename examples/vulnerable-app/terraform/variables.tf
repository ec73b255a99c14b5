# INTENTIONALLY INSECURE infrastructure for secai's scanner fixtures. Never apply.

variable "vpc_id" {
  type    = string
  default = "vpc-0fake0000example0"
}

variable "private_subnet_id" {
  type    = string
  default = "subnet-0fake0000example1"
}

variable "ebs_kms_key_arn" {
  type = string
}

variable "access_log_bucket" {
  type    = string
  default = "vulnerable-app-access-logs-example"
}

variable "reports_kms_key_arn" {
  type = string
}
