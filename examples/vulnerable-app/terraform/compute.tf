# INTENTIONALLY INSECURE infrastructure for secai's scanner fixtures. Never apply.

resource "aws_instance" "worker" {
  ami           = "ami-0fake0000worker00"
  instance_type = "t3.small"
  subnet_id     = var.private_subnet_id
  monitoring    = true
  ebs_optimized = true

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required"
  }

  root_block_device {
    volume_size = 30
    volume_type = "gp3"
    encrypted   = true
  }

  tags = {
    Name = "worker"
  }
}

resource "aws_ebs_volume" "worker_data" {
  availability_zone = "us-east-1a"
  size              = 50
  type              = "gp3"
  encrypted         = true
  kms_key_id        = var.ebs_kms_key_arn

  tags = {
    Name = "worker-data"
  }
}

resource "aws_instance" "bastion" {
  ami                         = "ami-0fake0000bastion0"
  instance_type               = "t3.micro"
  associate_public_ip_address = true
  vpc_security_group_ids      = [aws_security_group.bastion.id]
  monitoring                  = true
  ebs_optimized               = true

  metadata_options {
    http_tokens = "required"
  }

  root_block_device {
    encrypted = true
  }

  tags = {
    Name  = "bastion"
    Owner = "platform"
  }
}

resource "aws_ebs_volume" "bastion_home" {
  availability_zone = "us-east-1b"
  size              = 10
  encrypted         = true
  kms_key_id        = var.ebs_kms_key_arn
}
