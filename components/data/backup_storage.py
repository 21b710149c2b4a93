"""Backup storage: the S3 bucket the backup jobs write to, its KMS key, and the jobs' IAM role.

Per stack: a bucket meeting every control of REFERENCE.md section 4, each as its own
resource (public access block, BucketOwnerEnforced, versioning, SSE-KMS with a bucket key,
a TLS- and KMS-enforcing bucket policy, lifecycle rules, Object Lock in production), a
dedicated KMS key with rotation unless the stack names one, and an IAM role that only the
backup ServiceAccount can assume (IRSA: through the cluster's OIDC provider), allowed to
write and read objects under one prefix and to list that prefix; nothing that deletes.

The controls every bucket of the platform shares, the dedicated key and the IRSA trust come from
components/data/buckets.py (the media bucket has them too); what is the backups' own stays here: their
lifecycle (they expire), Object Lock, and a role that deletes nothing.

The policy documents are pure functions of plain strings, so tests and the policy pack
evaluate them directly (offline/iam.py); the component only fills in the ARNs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.data import backup_contract as contract
from components.data.buckets import (
    BUCKET_CONFIGURATION_ACTIONS,
    abort_incomplete_uploads_rule,
    bucket_arn_of,
    bucket_prefix_problem,
    declare_dedicated_key,
    declare_protected_bucket,
    deny_insecure_transport,
    encryption_rule,
    json_document,
    key_policy,
    key_prefix_problem,
    kms_key_problem,
    noncurrent_versions_rule,
)
from components.shared.irsa import (
    KUBERNETES_NAME,
    POLICY_VERSION,
    WEB_IDENTITY_AUDIENCE,
    account_root,
    oidc_problem,
    web_identity_trust_policy,
    workload_role,
)
from components.shared.labels import with_component

__all__ = [
    "BUCKET_ROLE_VALUE",
    "DESTRUCTIVE_S3_ACTIONS",
    "LIST_BUCKET",
    "OBJECT_LOCK_MODE",
    "POLICY_VERSION",
    "WEB_IDENTITY_AUDIENCE",
    "BackupStorage",
    "BackupStorageArgs",
    "access_policy",
    "account_root",
    "args_problems",
    "bucket_arn_of",
    "bucket_policy",
    "bucket_prefix",
    "encryption_rule",
    "key_policy",
    "lifecycle_rules",
    "object_lock_rule",
    "trust_policy",
]

LIST_BUCKET = "s3:ListBucket"
BUCKET_ROLE_VALUE = "backups"
"""The bucket's `crm-platform/bucket-role` tag."""

# Object Lock mode. GOVERNANCE, not COMPLIANCE: the backup role (which may not bypass it,
# see `access_policy`) and every lifecycle rule are held to the retention either way, but
# only GOVERNANCE leaves a break-glass path (s3:BypassGovernanceRetention, held by account
# administrators alone) for a wrong retention setting or a legal erasure obligation on a
# CRM's personal data. Under COMPLIANCE nobody, root included, can shorten or remove a
# retention: a mistyped backupRetentionDays would bind the account for its whole length.
OBJECT_LOCK_MODE = "GOVERNANCE"

# Actions the backup role must never get, whatever else is attached to it later: an explicit
# Deny in its own policy outlives a careless Allow elsewhere (IAM: explicit deny wins).
# Backups are never deleted by their writer at all, besides every bucket setting being fixed.
DESTRUCTIVE_S3_ACTIONS = (
    "s3:Delete*",
    "s3:BypassGovernanceRetention",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    *BUCKET_CONFIGURATION_ACTIONS,
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
    problems = [bucket_prefix_problem(args.stack, bucket_prefix(args.stack))]
    named = [("namespace", args.namespace), ("service_account", args.service_account)]
    named += [("other_service_accounts", account) for account in args.other_service_accounts]
    problems += [
        f"{field} {value!r} is not a Kubernetes name (lowercase DNS-1123)"
        for field, value in named
        if not KUBERNETES_NAME.match(value)
    ]
    problems.append(key_prefix_problem(args.prefix))
    if args.retention_days < 1:
        problems.append(f"retention_days {args.retention_days} must be at least 1")
    problems += [oidc_problem(args.oidc_provider_arn, args.oidc_issuer), kms_key_problem(args.kms_key_arn)]
    return [problem for problem in problems if problem is not None]


def trust_policy(
    oidc_provider_arn: str, oidc_issuer: str, namespace: str, service_account: str, *others: str
) -> dict[str, Any]:
    """Who may assume the backup role: the named ServiceAccounts' tokens, for STS, via the cluster's OIDC provider."""
    return web_identity_trust_policy(
        "BackupServiceAccount", oidc_provider_arn, oidc_issuer, namespace, (service_account, *others)
    )


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
            deny_insecure_transport(bucket_arn),
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
        noncurrent_versions_rule(retention_days),
        abort_incomplete_uploads_rule(),
    ]


def object_lock_rule(retention_days: int) -> aws.s3.BucketObjectLockConfigurationRuleArgsDict:
    """Default retention of every new object version in a locked bucket (S3.15)."""
    return {"default_retention": {"mode": OBJECT_LOCK_MODE, "days": retention_days}}


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
            kms_key_arn = declare_dedicated_key(
                self,
                name,
                description=f"Backups of crm-platform stack {args.stack}",
                alias=f"alias/crm-{args.stack}-backups",
                root_arn=account_root(args.oidc_provider_arn),
                tags=tags,
            )
        else:
            kms_key_arn = pulumi.Output.from_input(args.kms_key_arn)

        bucket = declare_protected_bucket(
            self,
            name,
            role=BUCKET_ROLE_VALUE,
            bucket_prefix=bucket_prefix(args.stack),
            oidc_provider_arn=args.oidc_provider_arn,
            kms_key_arn=kms_key_arn,
            policy=bucket_policy,
            lifecycle_rules=lifecycle_rules(args.prefix, args.retention_days),
            object_lock=args.object_lock,
            tags=tags,
        )
        if args.object_lock:
            aws.s3.BucketObjectLockConfiguration(
                f"{name}-object-lock",
                bucket=bucket.name,
                object_lock_enabled="Enabled",
                rule=object_lock_rule(args.retention_days),
                # Object Lock needs versioning enabled first.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[bucket.versioning]),
            )

        role = workload_role(
            name,
            role_name=f"crm-{args.stack}-backups",
            description=f"Backup jobs of crm-platform stack {args.stack} ({args.namespace}/{args.service_account})",
            trust_policy=trust_policy(
                args.oidc_provider_arn,
                args.oidc_issuer,
                args.namespace,
                args.service_account,
                *args.other_service_accounts,
            ),
            access_name="backup-access",
            access_policy=json_document(
                pulumi.Output.all(bucket.arn, kms_key_arn).apply(
                    lambda arns: access_policy(arns[0], args.prefix, arns[1])
                )
            ),
            tags=tags,
            opts=child,
        )

        self.bucket_name = bucket.name
        self.bucket_arn = bucket.arn
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
