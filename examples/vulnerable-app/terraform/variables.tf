# INTENTIONALLY INSECURE infrastructure for secai's scanner fixtures. Never apply.

variable "vpc_id" {
  type    = string
  default = "vpc-0fake0000example0"
}

variable "private_subnet_id" {
  type    = string
  default = "subnet-0fake0000example1"
}
