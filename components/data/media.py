"""Media: where the application's user uploads live, and how the services that handle them reach them.

Staging and production: an S3 bucket per stack with the platform's bucket controls
(components/data/buckets.py: no public access, ACLs disabled, TLS only, SSE-KMS, versioning), whose
lifecycle keeps every overwritten or deleted upload recoverable for `noncurrent_days`
(docs/runbooks/media.md) and never expires a current one; no Object Lock (a user's upload must be
erasable). A dedicated KMS key with rotation unless the stack names one, and an IAM role that only the
media services' ServiceAccounts can assume (IRSA, components/shared/irsa.py), allowed to read, write and
delete objects under the prefix and to list that prefix: nothing else. django-storages reaches it with
web identity, never a static key.

Dev and review stacks: a PersistentVolumeClaim mounted at the media path in the media services, which a
ReadWriteOnce claim makes share a node.

Either way the component hands out a `MediaAttachment` (components/shared/references.py) for the workloads,
and `network_policy_specs` the one flow the bucket needs. The policy documents are pure functions of plain
strings, so tests evaluate them directly (offline/iam.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.data.buckets import (
    BUCKET_CONFIGURATION_ACTIONS,
    abort_incomplete_uploads_rule,
    bucket_prefix_problem,
    declare_dedicated_key,
    declare_protected_bucket,
    deny_insecure_transport,
    json_document,
    key_prefix_problem,
    kms_key_problem,
    noncurrent_versions_rule,
)
from components.shared.irsa import (
    KUBERNETES_NAME,
    POLICY_VERSION,
    ROLE_ARN_ANNOTATION,
    account_root,
    oidc_problem,
    token_mount,
    token_volume,
    web_identity_environment,
    web_identity_trust_policy,
    workload_role,
)
from components.shared.labels import INSTANCE, with_component
from components.shared.references import MediaAttachment
from kube.labels import HOSTNAME, MEDIA_ACCESS
from stacks.data import AwsSettings, MediaSettings

BUCKET_ROLE_VALUE = "media"
"""The bucket's `crm-platform/bucket-role` tag, by which the policy pack knows its uploads must never expire."""
CLAIM_NAME = "crm-media"
VOLUME_NAME = "media"
MEDIA_POD_LABELS = {MEDIA_ACCESS: "true"}
LIST_BUCKET = "s3:ListBucket"
OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")
"""What django-storages calls on uploads: open/url/size (GetObject, HeadObject), save (PutObject and the
multipart calls it authorizes), delete (DeleteObject: a delete marker on a versioned bucket)."""
KMS_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")
"""What SSE-KMS needs: a data key to write (and for multipart parts), Decrypt to read."""

# Never granted, and explicitly refused whatever is attached to the role later (IAM: explicit deny wins):
# anything that destroys the bucket or an old version (the only copy of an overwritten or deleted upload),
# or takes away a control. Deleting a current upload is the application's right; making it unrecoverable
# is nobody's through this role.
PROTECTED_ACTIONS = (
    "s3:DeleteBucket*",
    "s3:DeleteObjectVersion*",
    "s3:BypassGovernanceRetention",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    *BUCKET_CONFIGURATION_ACTIONS,
    "s3:PutObjectVersionAcl",
    "s3:PutReplicationConfiguration",
)

SSE_HEADER = "s3:x-amz-server-side-encryption"
SSE_KEY_HEADER = "s3:x-amz-server-side-encryption-aws-kms-key-id"


def bucket_prefix(stack: str) -> str:
    """Prefix of the bucket's name; the provider appends a unique suffix."""
    return f"crm-{stack}-media-"


def role_name(stack: str) -> str:
    return f"crm-{stack}-media"


def access_policy(bucket_arn: str, prefix: str, kms_key_arn: str) -> dict[str, Any]:
    """What the media role may do: read, write and delete uploads under `prefix`, list that prefix, use the key.

    ListBucket is what makes S3 answer 404 rather than 403 for a missing key, which django-storages' `exists`
    relies on, and what `listdir` calls; with the s3:prefix condition it lists nothing outside the uploads.
    """
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "ReadWriteAndDeleteUploads",
                "Effect": "Allow",
                "Action": list(OBJECT_ACTIONS),
                "Resource": f"{bucket_arn}/{prefix}/*",
            },
            {
                "Sid": "ListUploads",
                "Effect": "Allow",
                "Action": LIST_BUCKET,
                "Resource": bucket_arn,
                "Condition": {"StringLike": {"s3:prefix": f"{prefix}/*"}},
            },
            {
                "Sid": "UseMediaKey",
                "Effect": "Allow",
                "Action": list(KMS_ACTIONS),
                "Resource": kms_key_arn,
            },
            {
                "Sid": "NeverDestroyVersionsOrControls",
                "Effect": "Deny",
                "Action": list(PROTECTED_ACTIONS),
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
            },
        ],
    }


def bucket_policy(bucket_arn: str, kms_key_arn: str) -> dict[str, Any]:
    """The bucket's own guard rails: TLS only (S3.5), and no upload encrypted otherwise than with the bucket's key.

    An upload without encryption headers gets the bucket's default (SSE-KMS with its key), which is what
    django-storages sends unless told otherwise. One that names an encryption must name SSE-KMS with this
    key: `aws:kms` without a key would use the account's aws/s3 key instead, taking the upload out of this
    key's policy and rotation.
    """
    everyone: dict[str, Any] = {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject"}
    objects = f"{bucket_arn}/*"
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            deny_insecure_transport(bucket_arn),
            {
                "Sid": "DenyUploadsWithAnotherEncryption",
                **everyone,
                "Resource": objects,
                "Condition": {"Null": {SSE_HEADER: "false"}, "StringNotEquals": {SSE_HEADER: "aws:kms"}},
            },
            {
                "Sid": "DenyUploadsWithAnotherKey",
                **everyone,
                "Resource": objects,
                "Condition": {"Null": {SSE_KEY_HEADER: "false"}, "StringNotEquals": {SSE_KEY_HEADER: kms_key_arn}},
            },
            {
                "Sid": "DenyKmsUploadsWithoutTheKey",
                **everyone,
                "Resource": objects,
                "Condition": {"StringEquals": {SSE_HEADER: "aws:kms"}, "Null": {SSE_KEY_HEADER: "true"}},
            },
        ],
    }


def lifecycle_rules(noncurrent_days: int) -> list[aws.s3.BucketLifecycleConfigurationRuleArgsDict]:
    """Old versions go after `noncurrent_days`, then their delete markers; stray uploads after a day (S3.13, S3.10).

    No rule expires a current upload: a user's file stays until the application deletes it. What it deletes or
    overwrites stays recoverable as a noncurrent version for `noncurrent_days`.
    """
    return [
        noncurrent_versions_rule(noncurrent_days),
        {
            # A delete marker with no version left behind it hides nothing any more: S3 removes it.
            "id": "remove-expired-delete-markers",
            "status": "Enabled",
            "filter": {},
            "expiration": {"expired_object_delete_marker": True},
        },
        abort_incomplete_uploads_rule(),
    ]


def storage_config(bucket_name: pulumi.Input[str], region: str, prefix: str) -> dict[str, pulumi.Input[str]]:
    """What django-storages' S3 backend reads, by the names of its Django settings (the app maps them 1:1).

    No AWS_ACCESS_KEY_ID: boto3 finds the web identity (AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE) in the
    upload handlers' environment. No AWS_DEFAULT_ACL: the bucket has ACLs disabled, and an upload asking for
    one (public-read) is refused.
    """
    return {
        "MEDIA_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": bucket_name,
        "AWS_S3_REGION_NAME": region,
        "AWS_LOCATION": prefix,
        # Signature Version 4: the only one SSE-KMS objects accept, and the only one new regions have.
        "AWS_S3_SIGNATURE_VERSION": "s3v4",
    }


def volume_config(path: str) -> dict[str, pulumi.Input[str]]:
    """What the application reads where uploads are files on the media volume."""
    return {"MEDIA_STORAGE": "filesystem", "MEDIA_ROOT": path}


def bucket_attachment(
    settings: MediaSettings, bucket_name: pulumi.Input[str], region: str, role_arn: pulumi.Input[str]
) -> MediaAttachment:
    """The media services assume the role with their projected token; every service reads where the bucket is."""
    assert settings.bucket is not None
    return MediaAttachment(
        services=settings.services,
        config=storage_config(bucket_name, region, settings.bucket.prefix),
        environment=web_identity_environment(role_arn, region),
        service_account_annotations={ROLE_ARN_ANNOTATION: role_arn},
        pod_labels=dict(MEDIA_POD_LABELS),
        volumes=(token_volume(),),
        mounts=(token_mount(),),
        affinity=None,
    )


def volume_attachment(settings: MediaSettings, stack: str, claim: pulumi.Resource | None = None) -> MediaAttachment:
    """The media services mount the claim at the media path; a ReadWriteOnce claim brings them onto one node."""
    assert settings.volume is not None
    affinity: k8s.core.v1.AffinityArgsDict | None = None
    if not settings.volume.shared_across_nodes:
        # ReadWriteOnce attaches the volume to one node: every media pod must run there. The first pod may go
        # anywhere (a pod may match its own affinity); the others follow it, and the volume.
        affinity = {
            "pod_affinity": {
                "required_during_scheduling_ignored_during_execution": [
                    {
                        "label_selector": {"match_labels": {**MEDIA_POD_LABELS, INSTANCE: stack}},
                        "topology_key": HOSTNAME,
                    }
                ]
            }
        }
    return MediaAttachment(
        services=settings.services,
        config=volume_config(settings.path),
        environment={},
        service_account_annotations={},
        pod_labels=dict(MEDIA_POD_LABELS),
        volumes=({"name": VOLUME_NAME, "persistent_volume_claim": {"claim_name": CLAIM_NAME}},),
        mounts=({"name": VOLUME_NAME, "mount_path": settings.path},),
        affinity=affinity,
        waits_for=(claim,) if claim is not None else (),
    )


def network_policy_specs(settings: MediaSettings | None) -> dict[str, k8s.networking.v1.NetworkPolicySpecArgsDict]:
    """The media pods reach S3 and STS on 443 where uploads are in the bucket: at mediaEgressCidrs, or at any
    address (S3 has no fixed addresses), as the backup pods do. No other application pod gets the flow."""
    if settings is None or settings.bucket is None:
        return {}
    rule: k8s.networking.v1.NetworkPolicyEgressRuleArgsDict = {"ports": [{"protocol": "TCP", "port": 443}]}
    if settings.bucket.egress_cidrs:
        rule["to"] = [{"ip_block": {"cidr": cidr}} for cidr in settings.bucket.egress_cidrs]
    return {
        "allow-media-to-object-storage": {
            "pod_selector": {"match_labels": dict(MEDIA_POD_LABELS)},
            "policy_types": ["Egress"],
            "egress": [rule],
        }
    }


@dataclass(frozen=True)
class MediaArgs:
    namespace: pulumi.Input[str]
    """The app namespace."""
    namespace_name: str
    """Its name, which the role's trust names (system:serviceaccount:<namespace>:<account>)."""
    stack: str
    """Stack name; names the bucket (crm-<stack>-media-...), key alias and role."""
    settings: MediaSettings
    """Where uploads live, who handles them, how long a replaced one stays recoverable."""
    service_accounts: tuple[str, ...]
    """The ServiceAccounts of the media services: the only ones trusted with the role."""
    aws: AwsSettings | None
    """The account, region and OIDC provider; needed where uploads go to S3."""
    storage_class: str | None
    """StorageClass of the media volume; None uses the cluster's default."""
    labels: Mapping[str, str]
    """Common labels of the stack (Kubernetes objects)."""
    tags: Mapping[str, str]
    """Tags of the bucket, key and role, besides the provider's default tags."""

    def __post_init__(self) -> None:
        problems = args_problems(self)
        if problems:
            raise ValueError("MediaArgs: " + "; ".join(problems))


def args_problems(args: MediaArgs) -> list[str]:
    """What is wrong with `args`, each naming the field, the value and what is allowed."""
    problems: list[str | None] = []
    if not args.service_accounts:
        problems.append("service_accounts is empty; allowed: the ServiceAccounts of the media services")
    problems += [
        f"service_accounts {account!r} is not a Kubernetes name (lowercase DNS-1123)"
        for account in args.service_accounts
        if not KUBERNETES_NAME.match(account)
    ]
    bucket = args.settings.bucket
    if bucket is not None:
        problems += [bucket_prefix_problem(args.stack, bucket_prefix(args.stack)), key_prefix_problem(bucket.prefix)]
        problems.append(kms_key_problem(bucket.kms_key_arn))
        if args.aws is None:
            problems.append("aws is None, and the media bucket needs the account's region and OIDC provider")
        else:
            problems.append(oidc_problem(args.aws.oidc_provider_arn, args.aws.oidc_issuer))
    return [problem for problem in problems if problem is not None]


class Media(pulumi.ComponentResource):
    """The stack's media store (an S3 bucket with its key and IRSA role, or a PersistentVolumeClaim) and how the
    upload handlers reach it."""

    attachment: MediaAttachment
    """For the workloads: what the media services and the shared ConfigMap get."""
    bucket_name: pulumi.Output[str] | None
    role_arn: pulumi.Output[str] | None
    """Goes into the media ServiceAccounts' `eks.amazonaws.com/role-arn` annotation."""
    kms_key_arn: pulumi.Output[str] | None

    def __init__(self, name: str, args: MediaArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("crm:data:Media", name, None, opts)
        if args.settings.bucket is not None:
            assert args.aws is not None  # MediaArgs checks it
            self.bucket_name, self.role_arn, self.kms_key_arn = self._bucket(name, args, args.aws)
        else:
            self.bucket_name = self.role_arn = self.kms_key_arn = None
            self._volume(name, args)
        outputs: dict[str, Any] = {"services": [role.value for role in self.attachment.services]}
        if self.bucket_name is not None:
            outputs.update(bucket_name=self.bucket_name, role_arn=self.role_arn, kms_key_arn=self.kms_key_arn)
        self.register_outputs(outputs)

    def _bucket(
        self, name: str, args: MediaArgs, aws_settings: AwsSettings
    ) -> tuple[pulumi.Output[str], pulumi.Output[str], pulumi.Output[str]]:
        """The bucket, its key and the role; returns the bucket's name, the role's ARN and the key's ARN."""
        bucket_settings = args.settings.bucket
        assert bucket_settings is not None
        tags = with_component(args.tags, "media")
        if bucket_settings.kms_key_arn is None:
            kms_key_arn = declare_dedicated_key(
                self,
                name,
                description=f"User uploads of crm-platform stack {args.stack}",
                alias=f"alias/crm-{args.stack}-media",
                root_arn=account_root(aws_settings.oidc_provider_arn),
                tags=tags,
            )
        else:
            kms_key_arn = pulumi.Output.from_input(bucket_settings.kms_key_arn)

        bucket = declare_protected_bucket(
            self,
            name,
            role=BUCKET_ROLE_VALUE,
            bucket_prefix=bucket_prefix(args.stack),
            oidc_provider_arn=aws_settings.oidc_provider_arn,
            kms_key_arn=kms_key_arn,
            policy=bucket_policy,
            lifecycle_rules=lifecycle_rules(bucket_settings.noncurrent_days),
            # A user's upload (personal data) must be erasable for good: no retention may keep it.
            object_lock=False,
            tags=tags,
        )
        child = pulumi.ResourceOptions(parent=self)
        role = workload_role(
            name,
            role_name=role_name(args.stack),
            description=(
                f"Upload handlers of crm-platform stack {args.stack} "
                f"({args.namespace_name}/{', '.join(args.service_accounts)})"
            ),
            trust_policy=web_identity_trust_policy(
                "MediaServiceAccounts",
                aws_settings.oidc_provider_arn,
                aws_settings.oidc_issuer,
                args.namespace_name,
                args.service_accounts,
            ),
            access_name="media-access",
            access_policy=json_document(
                pulumi.Output.all(bucket.arn, kms_key_arn).apply(
                    lambda arns: access_policy(arns[0], bucket_settings.prefix, arns[1])
                )
            ),
            tags=tags,
            opts=child,
        )
        self.attachment = bucket_attachment(args.settings, bucket.name, aws_settings.region, role.arn)
        return bucket.name, role.arn, kms_key_arn

    def _volume(self, name: str, args: MediaArgs) -> None:
        volume = args.settings.volume
        assert volume is not None
        spec: k8s.core.v1.PersistentVolumeClaimSpecArgsDict = {
            "access_modes": [volume.access_mode],
            "resources": {"requests": {"storage": volume.size}},
        }
        if args.storage_class:
            spec["storage_class_name"] = args.storage_class
        claim = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-volume",
            metadata={"name": CLAIM_NAME, "namespace": args.namespace, "labels": with_component(args.labels, "media")},
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.attachment = volume_attachment(args.settings, args.stack, claim)
