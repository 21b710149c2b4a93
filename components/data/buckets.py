"""Protected S3 buckets: the controls every bucket of the platform has, the KMS key and the IRSA trust they share.

One place for what the backup bucket (components/data/backup_storage.py) and the media bucket
(components/data/media.py) have in common, REFERENCE.md section 4 where it applies to both: public access
blocked by all four flags (S3.1/S3.8), ACLs disabled (S3.12), versioning (S3.14), default SSE-KMS with a
bucket key and SSE-C refused (S3.17), a bucket policy that refuses plain HTTP (S3.5), lifecycle rules
(S3.13) with noncurrent-version expiry (S3.10) and cleanup of abandoned multipart uploads; and a dedicated
KMS key with rotation unless the stack names one. Who may use a bucket (IRSA) is components/shared/irsa.py.

What differs stays with each bucket: its lifecycle (backups expire, uploads never do), Object Lock
(production backups only), what its role may do. `declare_protected_bucket` declares the controls as
children of the calling component, with the names `<name>-bucket`, `<name>-public-access-block`, ... the
backup bucket has always had, so its resources keep their URNs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.shared.irsa import POLICY_VERSION, account_root
from kube.labels import BUCKET_ROLE

MULTIPART_ABORT_DAYS = 1
"""Days after which S3 discards the parts of an upload that never completed."""
KEY_DELETION_WINDOW_DAYS = 30
"""The longest window KMS allows: a scheduled key deletion can be cancelled for 30 days."""
BUCKET_PREFIX_LIMIT = 37
"""bucket_prefix is limited to 37 characters (the provider adds a 26-character suffix)."""

STACK_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
# S3's "safe characters" for keys; no wildcard, so the prefix means itself in every policy.
KEY_PREFIX = re.compile(r"^[A-Za-z0-9!_.'()-]+(/[A-Za-z0-9!_.'()-]+)*$")
KMS_KEY_ARN = re.compile(r"^arn:[a-z-]+:kms:[a-z0-9-]+:\d{12}:key/.+$")

# Bucket settings no workload role may change, whatever else is attached to it later: an explicit Deny in the
# role's own policy outlives a careless Allow elsewhere (IAM: explicit deny wins). Each takes away a control
# of this module (lifecycle, policy, versioning, encryption, public access, ownership) or Object Lock.
BUCKET_CONFIGURATION_ACTIONS = (
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketPolicy",
    "s3:PutBucketVersioning",
    "s3:PutEncryptionConfiguration",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutBucketOwnershipControls",
    "s3:PutBucketAcl",
    "s3:PutObjectAcl",
)


def bucket_prefix_problem(stack: str, prefix: str) -> str | None:
    """Why `stack` cannot name a bucket whose name starts with `prefix`, or None."""
    if STACK_NAME.match(stack) and len(prefix) <= BUCKET_PREFIX_LIMIT:
        return None
    spare = BUCKET_PREFIX_LIMIT - len(prefix) + len(stack)
    return (
        f"stack {stack!r} cannot name a bucket; allowed: lowercase letters, digits and '-', at most {spare} characters"
    )


def key_prefix_problem(prefix: str) -> str | None:
    if KEY_PREFIX.match(prefix):
        return None
    return (
        f"prefix {prefix!r} is not allowed; use letters, digits and !_.'()- in '/'-separated "
        "parts, without wildcards or a leading or trailing '/'"
    )


def kms_key_problem(kms_key_arn: str | None) -> str | None:
    if kms_key_arn is None or KMS_KEY_ARN.match(kms_key_arn):
        return None
    return f"kms_key_arn {kms_key_arn!r} is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)"


def bucket_arn_of(oidc_provider_arn: str, bucket_name: str) -> str:
    """ARN of a bucket in the partition of the OIDC provider (bucket ARNs carry no account or region)."""
    partition = account_root(oidc_provider_arn).split(":")[1]
    return f"arn:{partition}:s3:::{bucket_name}"


def deny_insecure_transport(bucket_arn: str) -> dict[str, Any]:
    """The bucket policy statement that refuses every request without TLS (S3.5), whoever makes it."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def key_policy(root_arn: str) -> dict[str, Any]:
    """A dedicated key's policy: the account administers it through IAM; it encrypts only through S3.

    The first statement is the policy KMS gives a key by default (access is granted by IAM
    policies, like the workload roles'; the account can never lock itself out). The second
    keeps the key from being used directly: decrypting the bucket's data takes S3 GetObject
    permission as well, not just a broad kms:Decrypt.
    """
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "AccountAdministersKeyThroughIam",
                "Effect": "Allow",
                "Principal": {"AWS": root_arn},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "DenyUseOutsideS3",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {"StringNotLike": {"kms:ViaService": "s3.*.amazonaws.com"}},
            },
        ],
    }


def encryption_rule(kms_key_arn: pulumi.Input[str]) -> aws.s3.BucketServerSideEncryptionConfigurationRuleArgsDict:
    """Default encryption: SSE-KMS with the key (S3.17), a bucket key to cut KMS calls, SSE-C refused."""
    return {
        "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": kms_key_arn},
        "bucket_key_enabled": True,
        # Objects encrypted with a customer-provided key are unreadable without that key: a
        # ransomware pattern, and never what the platform's workloads do.
        "blocked_encryption_types": ["SSE-C"],
    }


def noncurrent_versions_rule(days: int) -> aws.s3.BucketLifecycleConfigurationRuleArgsDict:
    """Old versions (overwritten or deleted objects) are kept `days`, then go (S3.10)."""
    return {
        "id": "expire-noncurrent-versions",
        "status": "Enabled",
        "filter": {},
        "noncurrent_version_expiration": {"noncurrent_days": days},
    }


def abort_incomplete_uploads_rule() -> aws.s3.BucketLifecycleConfigurationRuleArgsDict:
    """The parts of a multipart upload that never completed are discarded after a day."""
    return {
        "id": "abort-incomplete-multipart-uploads",
        "status": "Enabled",
        "filter": {},
        "abort_incomplete_multipart_upload": {"days_after_initiation": MULTIPART_ABORT_DAYS},
    }


def json_document(document: pulumi.Output[dict[str, Any]]) -> pulumi.Output[str]:
    """A policy document as the API takes it: JSON with sorted keys, so an unchanged document never shows as a diff."""
    return document.apply(lambda value: json.dumps(value, sort_keys=True))


def declare_dedicated_key(
    component: pulumi.Resource, name: str, *, description: str, alias: str, root_arn: str, tags: Mapping[str, str]
) -> pulumi.Output[str]:
    """A symmetric KMS key with yearly rotation and the longest deletion window, and its alias; returns its ARN."""
    child = pulumi.ResourceOptions(parent=component)
    key = aws.kms.Key(
        f"{name}-key",
        description=description,
        key_usage="ENCRYPT_DECRYPT",
        customer_master_key_spec="SYMMETRIC_DEFAULT",
        enable_key_rotation=True,
        deletion_window_in_days=KEY_DELETION_WINDOW_DAYS,
        policy=json.dumps(key_policy(root_arn), sort_keys=True),
        tags=dict(tags),
        opts=child,
    )
    aws.kms.Alias(f"{name}-key-alias", name=alias, target_key_id=key.id, opts=child)
    arn: pulumi.Output[str] = key.arn
    return arn


@dataclass(frozen=True)
class ProtectedBucket:
    """What `declare_protected_bucket` made, for what the caller adds (Object Lock, roles, outputs)."""

    name: pulumi.Output[str]
    """The bucket's name, known once S3 has completed the prefix."""
    arn: pulumi.Output[str]
    """The bucket's ARN, in the partition of the OIDC provider."""
    versioning: aws.s3.BucketVersioning
    """Object Lock and noncurrent-version rules need versioning enabled first: depend on it."""


def declare_protected_bucket(
    component: pulumi.Resource,
    name: str,
    *,
    role: str,
    bucket_prefix: str,
    oidc_provider_arn: str,
    kms_key_arn: pulumi.Output[str],
    policy: Callable[[str, str], dict[str, Any]],
    lifecycle_rules: Sequence[aws.s3.BucketLifecycleConfigurationRuleArgsDict],
    object_lock: bool,
    tags: Mapping[str, str],
) -> ProtectedBucket:
    """A bucket with every shared control, each its own resource, as children of `component`.

    role: what the bucket holds (backups, media), its `crm-platform/bucket-role` tag, by which the policy pack
    holds it to the controls of its kind. policy(bucket_arn, kms_key_arn): the bucket policy, which must refuse
    plain HTTP (`deny_insecure_transport`). object_lock: create the bucket with Object Lock (it cannot be
    switched on later without replacing the bucket); its configuration is the caller's.
    """
    child = pulumi.ResourceOptions(parent=component)
    bucket = aws.s3.Bucket(
        f"{name}-bucket",
        bucket_prefix=bucket_prefix,
        # What a bucket holds must outlive a `pulumi destroy` (review stacks have no bucket).
        force_destroy=False,
        # Set when the bucket is made, so no object is ever written unlocked. Flipping it
        # later replaces the bucket (the provider marks it force-new); to lock an existing
        # versioned bucket in place, drop this and keep the BucketObjectLockConfiguration.
        object_lock_enabled=object_lock,
        tags={**tags, BUCKET_ROLE: role},
        opts=child,
    )
    bucket_name: pulumi.Output[str] = bucket.id
    bucket_arn = bucket_name.apply(lambda value: bucket_arn_of(oidc_provider_arn, value))

    public_access_block = aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access-block",
        bucket=bucket_name,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=child,
    )
    aws.s3.BucketOwnershipControls(
        f"{name}-ownership",
        bucket=bucket_name,
        # ACLs disabled: the bucket owner owns every object, and only policies grant access (S3.12).
        rule={"object_ownership": "BucketOwnerEnforced"},
        opts=child,
    )
    versioning = aws.s3.BucketVersioning(
        f"{name}-versioning",
        bucket=bucket_name,
        versioning_configuration={"status": "Enabled"},
        opts=child,
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption",
        bucket=bucket_name,
        rules=[encryption_rule(kms_key_arn)],
        opts=child,
    )
    aws.s3.BucketPolicy(
        f"{name}-policy",
        bucket=bucket_name,
        policy=json_document(pulumi.Output.all(bucket_arn, kms_key_arn).apply(lambda arns: policy(*arns))),
        # S3 rejects concurrent changes to one bucket's policy and public access block.
        opts=pulumi.ResourceOptions(parent=component, depends_on=[public_access_block]),
    )
    # Versioning first: the noncurrent-version rule (and Object Lock) need it enabled.
    aws.s3.BucketLifecycleConfiguration(
        f"{name}-lifecycle",
        bucket=bucket_name,
        rules=list(lifecycle_rules),
        opts=pulumi.ResourceOptions(parent=component, depends_on=[versioning]),
    )
    return ProtectedBucket(name=bucket_name, arn=bucket_arn, versioning=versioning)
