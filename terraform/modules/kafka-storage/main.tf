# Object storage of AutoMQ (Kafka on S3): "data" holds the stream objects,
# "ops" its metrics, logs and diagnostics.

locals {
  buckets = {
    data = var.naming.bucket_names.automq_data
    ops  = var.naming.bucket_names.automq_ops
  }
  arns = { for k, name in local.buckets : k => "arn:${var.naming.partition}:s3:::${name}" }
}

module "kms" {
  source = "../kms-key"

  naming      = var.naming
  purpose     = "automq"
  description = "AutoMQ buckets of ${var.naming.name_prefix}"
}

resource "aws_s3_bucket" "this" {
  for_each = local.buckets

  bucket        = each.value
  force_destroy = var.force_destroy

  tags = { Name = each.value }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each = aws_s3_bucket.this

  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# ACLs off: access is decided by IAM and the bucket policy alone.
resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = module.kms.key_arn
    }
    # S3 bucket keys cut KMS requests (and their cost) by orders of
    # magnitude for AutoMQ's many small objects.
    bucket_key_enabled = true
  }
}

# Versioning on both: a mistaken delete stays recoverable for a few days.
# Noncurrent versions expire quickly (see the lifecycle) so AutoMQ's
# compaction does not pay for storage twice.
resource "aws_s3_bucket_versioning" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  versioning_configuration {
    status = "Enabled"
  }
}

# data: AutoMQ deletes compacted objects itself, so only old versions and
# abandoned uploads need cleaning. ops: diagnostics expire after a while.
locals {
  lifecycle = {
    data = { expire_days = null, noncurrent_days = var.data_noncurrent_days }
    ops  = { expire_days = var.ops_retention_days, noncurrent_days = 7 }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  rule {
    id     = "cleanup"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }

    noncurrent_version_expiration {
      noncurrent_days = local.lifecycle[each.key].noncurrent_days
    }

    # Either expire current objects after a while (ops) or only remove the
    # delete markers left once their old versions are gone (data).
    expiration {
      days                         = local.lifecycle[each.key].expire_days
      expired_object_delete_marker = local.lifecycle[each.key].expire_days == null ? true : null
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_policy" "this" {
  for_each = aws_s3_bucket.this

  bucket = each.value.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyPlaintextTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [local.arns[each.key], "${local.arns[each.key]}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })

  depends_on = [aws_s3_bucket_public_access_block.this]
}

# What AutoMQ's brokers (and controllers) need: object I/O on both buckets and
# the key. Terraform owns the lifecycle rules above, so the brokers may read
# but not replace them.
locals {
  automq_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ListAndInspectBuckets"
        Effect   = "Allow"
        Action   = ["s3:ListBucket", "s3:GetLifecycleConfiguration"]
        Resource = values(local.arns)
      },
      {
        Sid    = "ReadWriteObjects"
        Effect = "Allow"
        Action = [
          "s3:GetObject",
          "s3:PutObject",
          "s3:DeleteObject",
          "s3:AbortMultipartUpload",
          "s3:PutObjectTagging",
        ]
        Resource = [for arn in values(local.arns) : "${arn}/*"]
      },
      {
        Sid      = "UseBucketKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = module.kms.key_arn
        Condition = {
          StringEquals = { "kms:ViaService" = "s3.${var.naming.region}.amazonaws.com" }
        }
      },
    ]
  })
}
