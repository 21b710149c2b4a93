"""Backup storage: the S3 bucket the backup jobs write to, its KMS key, and the jobs' IAM role.

Per stack: a bucket meeting every control of REFERENCE.md section 4, each as its own
resource (public access block, BucketOwnerEnforced, versioning, SSE-KMS with a bucket key,
a TLS- and KMS-enforcing bucket policy, lifecycle rules, Object Lock in production), a
dedicated KMS key with rotation unless the stack names one, and an IAM role that only the
backup ServiceAccount can assume (IRSA: through the cluster's OIDC provider), allowed to
write and read objects under one prefix and to list that prefix; nothing that deletes.

The policy documents are pure functions of plain strings, so tests and the policy pack
evaluate them directly (offline/iam.py); the component only fills in the ARNs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.data import backup_contract as contract
from components.shared.labels import with_component

POLICY_VERSION = "2012-10-17"
LIST_BUCKET = "s3:ListBucket"
WEB_IDENTITY_AUDIENCE = "sts.amazonaws.com"
"""The `aud` of the projected ServiceAccount token the EKS pod identity webhook mounts."""

# Object Lock mode. GOVERNANCE, not COMPLIANCE: the backup role (which may not bypass it,
# see `access_policy`) and every lifecycle rule are held to the retention either way, but
# only GOVERNANCE leaves a break-glass path (s3:BypassGovernanceRetention, held by account
# administrators alone) for a wrong retention setting or a legal erasure obligation on a
# CRM's personal data. Under COMPLIANCE nobody, root included, can shorten or remove a
# retention: a mistyped backupRetentionDays would bind the account for its whole length.
OBJECT_LOCK_MODE = "GOVERNANCE"
MULTIPART_ABORT_DAYS = 1
"""Days after which S3 discards the parts of an upload that never completed."""
KEY_DELETION_WINDOW_DAYS = 30
"""The longest window KMS allows: a scheduled key deletion can be cancelled for 30 days."""

# bucket_prefix is limited to 37 characters (the provider adds a 26-character suffix).
BUCKET_PREFIX_LIMIT = 37
_STACK_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_KUBERNETES_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
# S3's "safe characters" for keys; no wildcard, so the prefix means itself in every policy.
_KEY_PREFIX = re.compile(r"^[A-Za-z0-9!_.'()-]+(/[A-Za-z0-9!_.'()-]+)*$")
_OIDC_PROVIDER_ARN = re.compile(r"^arn:(?P<partition>[a-z-]+):iam::(?P<account>\d{12}):oidc-provider/(?P<issuer>.+)$")

# Actions the backup role must never get, whatever else is attached to it later: an explicit
# Deny in its own policy outlives a careless Allow elsewhere (IAM: explicit deny wins).
DESTRUCTIVE_S3_ACTIONS = (
    "s3:Delete*",
    "s3:BypassGovernanceRetention",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
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


@dataclass(frozen=True)
class BackupStorageArgs:
    stack: str
    """Stack name; names the bucket (crm-<stack>-backups-...), key alias and role."""
    namespace: str
    """Namespace of the backup ServiceAccount."""
    service_account: str
    """Name of the ServiceAccount the backup and restore-verification pods run as."""
    prefix: str
    """Key prefix the backups go under (no slashes at either end), e.g. "postgres"."""
    retention_days: int
    """Days a backup stays current, then as a noncurrent version; also the Object Lock retention."""
    object_lock: bool
    """Create the bucket with Object Lock and a default retention (production)."""
    kms_key_arn: str | None
    """A KMS key to encrypt with; None makes a dedicated key with rotation."""
    oidc_provider_arn: str
    """ARN of the cluster's IAM OIDC provider, the only principal the role trusts."""
    oidc_issuer: str
    """Issuer host/path as IAM condition keys spell it (AwsSettings.oidc_issuer)."""
    tags: Mapping[str, str]
    """Tags of the bucket, key and role, besides the provider's default tags."""
    other_service_accounts: tuple[str, ...] = ()
    """Further ServiceAccounts of the namespace trusted with the same role (the PostgreSQL
    instances' WAL archiver, which writes under the same prefix)."""

    def __post_init__(self) -> None:
        problems = args_problems(self)
        if problems:
            raise ValueError("BackupStorageArgs: " + "; ".join(problems))


def bucket_prefix(stack: str) -> str:
    """Prefix of the bucket's name; the provider appends a unique suffix."""
    return f"crm-{stack}-backups-"


def args_problems(args: BackupStorageArgs) -> list[str]:
    """What is wrong with `args`, each naming the field, the value and what is allowed."""
    problems: list[str] = []
    if not _STACK_NAME.match(args.stack) or len(bucket_prefix(args.stack)) > BUCKET_PREFIX_LIMIT:
        problems.append(
            f"stack {args.stack!r} cannot name a bucket; allowed: lowercase letters, digits and '-', "
            f"at most {BUCKET_PREFIX_LIMIT - len(bucket_prefix(''))} characters"
        )
    named = [("namespace", args.namespace), ("service_account", args.service_account)]
    named += [("other_service_accounts", account) for account in args.other_service_accounts]
    for field, value in named:
        if not _KUBERNETES_NAME.match(value):
            problems.append(f"{field} {value!r} is not a Kubernetes name (lowercase DNS-1123)")
    if not _KEY_PREFIX.match(args.prefix):
        problems.append(
            f"prefix {args.prefix!r} is not allowed; use letters, digits and !_.'()- in '/'-separated "
            "parts, without wildcards or a leading or trailing '/'"
        )
    if args.retention_days < 1:
        problems.append(f"retention_days {args.retention_days} must be at least 1")
    match = _OIDC_PROVIDER_ARN.match(args.oidc_provider_arn)
    if match is None:
        problems.append(
            f"oidc_provider_arn {args.oidc_provider_arn!r} is not an IAM OIDC provider ARN "
            "(arn:aws:iam::<account>:oidc-provider/<issuer>)"
        )
    elif match["issuer"] != args.oidc_issuer:
        problems.append(
            f"oidc_issuer {args.oidc_issuer!r} is not the issuer of oidc_provider_arn ({match['issuer']!r}); "
            "pass AwsSettings.oidc_issuer"
        )
    if args.kms_key_arn is not None and not re.match(r"^arn:[a-z-]+:kms:[a-z0-9-]+:\d{12}:key/.+$", args.kms_key_arn):
        problems.append(
            f"kms_key_arn {args.kms_key_arn!r} is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)"
        )
    return problems


def account_root(oidc_provider_arn: str) -> str:
    """The root principal of the account (and partition) the OIDC provider, and so the role, lives in."""
    match = _OIDC_PROVIDER_ARN.match(oidc_provider_arn)
    if match is None:
        raise ValueError(f"{oidc_provider_arn!r} is not an IAM OIDC provider ARN")
    return f"arn:{match['partition']}:iam::{match['account']}:root"


def bucket_arn_of(oidc_provider_arn: str, bucket_name: str) -> str:
    """ARN of a bucket in the partition of the OIDC provider (bucket ARNs carry no account or region)."""
    partition = account_root(oidc_provider_arn).split(":")[1]
    return f"arn:{partition}:s3:::{bucket_name}"


def trust_policy(
    oidc_provider_arn: str, oidc_issuer: str, namespace: str, service_account: str, *others: str
) -> dict[str, Any]:
    """Who may assume the backup role: the named ServiceAccounts' tokens, for STS, via the cluster's OIDC provider."""
    subjects = [f"system:serviceaccount:{namespace}:{account}" for account in (service_account, *others)]
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "BackupServiceAccount",
                "Effect": "Allow",
                "Principal": {"Federated": oidc_provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{oidc_issuer}:sub": subjects[0] if len(subjects) == 1 else subjects,
                        f"{oidc_issuer}:aud": WEB_IDENTITY_AUDIENCE,
                    }
                },
            }
        ],
    }


def access_policy(bucket_arn: str, prefix: str, kms_key_arn: str) -> dict[str, Any]:
    """What the backup role may do: write, read and list backups under `prefix`, with the bucket's key.

    s3:PutObject also covers the multipart calls (CreateMultipartUpload, UploadPart,
    CompleteMultipartUpload); multipart with SSE-KMS needs kms:GenerateDataKey and
    kms:Decrypt. s3:AbortMultipartUpload is left out on purpose: the lifecycle rule discards
    an abandoned upload's parts after a day, and the role keeps no way at all to make
    anything in the bucket disappear, not even an upload in progress of another backup run.

    The actions are exactly what the scripts call (components/data/backup_contract.py), so a
    script that starts calling something new fails against moto's IAM evaluation in the tests.
    """
    s3_actions = _unique(contract.BACKUP_S3_ACTIONS + contract.RESTORE_S3_ACTIONS)
    if LIST_BUCKET not in s3_actions:
        raise ValueError("the backup scripts list the prefix to find backups: the contract must name s3:ListBucket")
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "WriteAndReadBackups",
                "Effect": "Allow",
                "Action": [action for action in s3_actions if action != LIST_BUCKET],
                "Resource": f"{bucket_arn}/{prefix}/*",
            },
            {
                "Sid": "ListBackups",
                "Effect": "Allow",
                "Action": LIST_BUCKET,
                "Resource": bucket_arn,
                "Condition": {"StringLike": {"s3:prefix": f"{prefix}/*"}},
            },
            {
                "Sid": "UseBackupKey",
                "Effect": "Allow",
                "Action": _unique(contract.BACKUP_KMS_ACTIONS + contract.RESTORE_KMS_ACTIONS),
                "Resource": kms_key_arn,
            },
            {
                "Sid": "NeverDestroyBackups",
                "Effect": "Deny",
                "Action": list(DESTRUCTIVE_S3_ACTIONS),
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
            },
        ],
    }


def _unique(actions: tuple[str, ...]) -> list[str]:
    """The actions in their first order, each once."""
    return list(dict.fromkeys(actions))


def bucket_policy(bucket_arn: str, kms_key_arn: str) -> dict[str, Any]:
    """The bucket's own guard rails: TLS only (S3.5), and every upload SSE-KMS with the bucket's key.

    An upload must send `x-amz-server-side-encryption: aws:kms` and
    `x-amz-server-side-encryption-aws-kms-key-id: <kms_key_arn>` (the key's ARN): S3 encrypts
    a request naming aws:kms without a key with the account's aws/s3 key instead of this one,
    which would silently take the backups out of this key's policy and rotation.
    """
    everyone: dict[str, Any] = {"Effect": "Deny", "Principal": "*"}
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                **everyone,
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "DenyUploadsWithoutKms",
                **everyone,
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/*",
                "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}},
            },
            {
                "Sid": "DenyUploadsWithAnotherKey",
                **everyone,
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/*",
                "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": kms_key_arn}},
            },
        ],
    }


def key_policy(root_arn: str) -> dict[str, Any]:
    """The dedicated key's policy: the account administers it through IAM; it encrypts only through S3.

    The first statement is the policy KMS gives a key by default (access is granted by IAM
    policies, like the backup role's; the account can never lock itself out). The second
    keeps the key from being used directly: decrypting backup data takes S3 GetObject
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


def lifecycle_rules(prefix: str, retention_days: int) -> list[aws.s3.BucketLifecycleConfigurationRuleArgsDict]:
    """Expiry of backups and old versions, and cleanup of abandoned uploads (S3.13, S3.10).

    A backup under `prefix` stops being current after `retention_days` and is kept as a
    noncurrent version for as long again: if the backup job fails for the whole retention,
    the last backups are still there (REFERENCE.md section 4), for the backup-age alert.
    """
    return [
        {
            "id": "expire-backups",
            "status": "Enabled",
            "filter": {"prefix": f"{prefix}/"},
            "expiration": {"days": retention_days},
        },
        {
            "id": "expire-noncurrent-versions",
            "status": "Enabled",
            "filter": {},
            "noncurrent_version_expiration": {"noncurrent_days": retention_days},
        },
        {
            "id": "abort-incomplete-multipart-uploads",
            "status": "Enabled",
            "filter": {},
            "abort_incomplete_multipart_upload": {"days_after_initiation": MULTIPART_ABORT_DAYS},
        },
    ]


def encryption_rule(kms_key_arn: pulumi.Input[str]) -> aws.s3.BucketServerSideEncryptionConfigurationRuleArgsDict:
    """Default encryption: SSE-KMS with the key (S3.17), a bucket key to cut KMS calls, SSE-C refused."""
    return {
        "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": kms_key_arn},
        "bucket_key_enabled": True,
        # Objects encrypted with a customer-provided key are unreadable without that key: a
        # ransomware pattern, and never what the backup job does.
        "blocked_encryption_types": ["SSE-C"],
    }


def object_lock_rule(retention_days: int) -> aws.s3.BucketObjectLockConfigurationRuleArgsDict:
    """Default retention of every new object version in a locked bucket (S3.15)."""
    return {"default_retention": {"mode": OBJECT_LOCK_MODE, "days": retention_days}}


def _json(document: pulumi.Output[dict[str, Any]]) -> pulumi.Output[str]:
    return document.apply(lambda value: json.dumps(value, sort_keys=True))


class BackupStorage(pulumi.ComponentResource):
    """An S3 bucket for backups under every Security Hub control, its KMS key and the backup role."""

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    """Goes into the backup ServiceAccount's `eks.amazonaws.com/role-arn` annotation."""
    kms_key_arn: pulumi.Output[str]
    """Uploads must name it (`--sse aws:kms --sse-kms-key-id <arn>`): see `bucket_policy`."""

    def __init__(self, name: str, args: BackupStorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("crm:data:BackupStorage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = with_component(args.tags, "backups")

        if args.kms_key_arn is None:
            key = aws.kms.Key(
                f"{name}-key",
                description=f"Backups of crm-platform stack {args.stack}",
                key_usage="ENCRYPT_DECRYPT",
                customer_master_key_spec="SYMMETRIC_DEFAULT",
                enable_key_rotation=True,
                deletion_window_in_days=KEY_DELETION_WINDOW_DAYS,
                policy=json.dumps(key_policy(account_root(args.oidc_provider_arn)), sort_keys=True),
                tags=tags,
                opts=child,
            )
            aws.kms.Alias(f"{name}-key-alias", name=f"alias/crm-{args.stack}-backups", target_key_id=key.id, opts=child)
            kms_key_arn: pulumi.Output[str] = key.arn
        else:
            kms_key_arn = pulumi.Output.from_input(args.kms_key_arn)

        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket_prefix=bucket_prefix(args.stack),
            # A stack's backups must outlive a `pulumi destroy` (review stacks have no bucket).
            force_destroy=False,
            # Set when the bucket is made, so no object is ever written unlocked. Flipping it
            # later replaces the bucket (the provider marks it force-new); to lock an existing
            # versioned bucket in place, drop this and keep the BucketObjectLockConfiguration.
            object_lock_enabled=args.object_lock,
            tags=tags,
            opts=child,
        )
        bucket_name: pulumi.Output[str] = bucket.id
        bucket_arn = bucket_name.apply(lambda value: bucket_arn_of(args.oidc_provider_arn, value))

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
            policy=_json(pulumi.Output.all(bucket_arn, kms_key_arn).apply(lambda arns: bucket_policy(*arns))),
            # S3 rejects concurrent changes to one bucket's policy and public access block.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access_block]),
        )
        # Versioning first: the noncurrent-version rule and Object Lock both need it enabled.
        after_versioning = pulumi.ResourceOptions(parent=self, depends_on=[versioning])
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket_name,
            rules=lifecycle_rules(args.prefix, args.retention_days),
            opts=after_versioning,
        )
        if args.object_lock:
            aws.s3.BucketObjectLockConfiguration(
                f"{name}-object-lock",
                bucket=bucket_name,
                object_lock_enabled="Enabled",
                rule=object_lock_rule(args.retention_days),
                opts=after_versioning,
            )

        role = aws.iam.Role(
            f"{name}-role",
            name=f"crm-{args.stack}-backups",
            description=f"Backup jobs of crm-platform stack {args.stack} ({args.namespace}/{args.service_account})",
            assume_role_policy=json.dumps(
                trust_policy(
                    args.oidc_provider_arn,
                    args.oidc_issuer,
                    args.namespace,
                    args.service_account,
                    *args.other_service_accounts,
                ),
                sort_keys=True,
            ),
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-role-access",
            role=role.id,
            name="backup-access",
            policy=_json(
                pulumi.Output.all(bucket_arn, kms_key_arn).apply(
                    lambda arns: access_policy(arns[0], args.prefix, arns[1])
                )
            ),
            opts=child,
        )

        self.bucket_name = bucket_name
        self.bucket_arn = bucket_arn
        self.role_arn = role.arn
        self.kms_key_arn = kms_key_arn
        self.register_outputs(
            {
                "bucket_name": self.bucket_name,
                "bucket_arn": self.bucket_arn,
                "role_arn": self.role_arn,
                "kms_key_arn": self.kms_key_arn,
            }
        )
