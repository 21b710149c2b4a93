"""Media: the S3 media bucket's controls, its least-privilege IRSA role, the volume of dev and review stacks, and
what the upload handlers get.

The component is built on its own under recording mocks (with the names and ARNs AWS would return), once per
kind of store; its policies are judged by the IAM evaluator (offline/iam.py) and the policy pack. The bucket's
behaviour with versions is exercised in tests/components/data/test_media_recovery.py against moto.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, replace
from typing import Any

import pytest

from components.data.media import (
    CLAIM_NAME,
    Media,
    MediaArgs,
    access_policy,
    bucket_policy,
    lifecycle_rules,
    network_policy_specs,
)
from components.platform.providers import aws_options, aws_provider
from components.shared.irsa import token_volume
from components.shared.references import MediaAttachment
from offline.iam import evaluate
from policies.registry import POLICIES_BY_NAME
from stacks.data import AwsSettings, MediaBucket, MediaSettings, MediaVolume
from stacks.services import Role
from tests.support.aws import (
    ACCOUNT,
    ALIAS,
    AUD,
    BUCKET,
    BUCKET_POLICY,
    BUCKET_TYPES,
    ENCRYPTION,
    KEY,
    LIFECYCLE,
    OIDC_PROVIDER_ARN,
    OWNERSHIP,
    PUBLIC_ACCESS_BLOCK,
    REGION,
    ROLE,
    ROLE_POLICY,
    S3_ACTIONS,
    SHARED_KEY_ARN,
    SUB,
    VERSIONING,
    AwsMocks,
    stack_resources,
)
from tests.support.components import Declared, declare

pytestmark = pytest.mark.filterwarnings("ignore:.*has been deprecated in favor of.*:DeprecationWarning")

PVC = "kubernetes:core/v1:PersistentVolumeClaim"
AWS = AwsSettings(region=REGION, oidc_provider_arn=OIDC_PROVIDER_ARN, kms_key_arn=None)
SERVICES = (Role.WEB, Role.WORKER)
ACCOUNTS = ("crm-web", "crm-worker")
BUCKET_SETTINGS = MediaSettings(SERVICES, "/app/media", MediaBucket("media", 30, None, ()), None)

KINDS: dict[str, MediaSettings] = {
    "bucket": BUCKET_SETTINGS,
    "shared-key": replace(BUCKET_SETTINGS, bucket=MediaBucket("uploads/crm", 7, SHARED_KEY_ARN, ("10.0.0.0/16",))),
    "volume": MediaSettings(SERVICES, "/app/media", None, MediaVolume("5Gi", "ReadWriteOnce")),
    "shared-volume": MediaSettings((Role.WEB,), "/srv/uploads", None, MediaVolume("20Gi", "ReadWriteMany")),
}


def media_args(kind: str, stack: str = "production") -> MediaArgs:
    """Arguments as __main__ passes them, for one kind of store."""
    settings = KINDS[kind]
    return MediaArgs(
        namespace=f"crm-{stack}",
        namespace_name=f"crm-{stack}",
        stack=stack,
        settings=settings,
        service_accounts=tuple(f"crm-{role.value}" for role in settings.services),
        aws=AWS if settings.bucket is not None else None,
        storage_class="gp3" if kind == "shared-volume" else None,
        labels={"app.kubernetes.io/part-of": "crm-platform"},
        tags={"environment": "production"},
    )


@dataclass(frozen=True)
class MediaRun:
    """What one Media component declared, and its resolved outputs."""

    args: MediaArgs
    declared: Declared[Media]
    outputs: dict[str, Any]

    def one(self, pulumi_type: str) -> dict[str, Any]:
        return self.declared.one(pulumi_type)

    def policy(self, pulumi_type: str, field: str = "policy") -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.one(pulumi_type)[field])
        return document

    @property
    def bucket_arn(self) -> str:
        return f"arn:aws:s3:::{self.outputs['bucket_name']}"

    def object_arn(self, key: str) -> str:
        return f"{self.bucket_arn}/{key}"

    @property
    def attachment(self) -> MediaAttachment:
        return self.declared.component.attachment

    def resolved(self, value: Any) -> Any:
        return value if isinstance(value, str) else self.declared.output(value)


@functools.cache
def declared(kind: str) -> MediaRun:
    """Build Media for one kind of store through the stack's explicit providers, under recording mocks."""
    args = media_args(kind)

    def build() -> Media:
        # The provider is made inside the program, as __main__ makes it, so the run records it.
        options = aws_options(aws_provider(REGION, args.stack)) if args.aws is not None else None
        return Media("media", args, options)

    run = declare(build, stack=args.stack, mocks=AwsMocks())
    component = run.component
    outputs = {}
    if component.bucket_name is not None:
        outputs = {name: run.output(getattr(component, name)) for name in ("bucket_name", "role_arn", "kms_key_arn")}
    return MediaRun(args=args, declared=run, outputs=outputs)


# --- what each kind of store declares --------------------------------------------------------------

EXPECTED_TYPES = {
    "bucket": BUCKET_TYPES | {KEY, ALIAS, ROLE, ROLE_POLICY},
    "shared-key": BUCKET_TYPES | {ROLE, ROLE_POLICY},
    "volume": {PVC},
    "shared-volume": {PVC},
}


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_of_store_declares_exactly_its_resources(kind: str) -> None:
    """A bucket with each control, the role and its policy, a key unless given one, and no Object Lock; or a claim."""
    run = declared(kind)
    [component] = run.declared.of_type("crm:data:Media")
    children = [resource.type for resource in run.declared.resources if resource.parent == component.urn]
    assert sorted(children) == sorted(EXPECTED_TYPES[kind])


@pytest.mark.parametrize("kind", ["bucket", "shared-key"])
def test_every_aws_resource_goes_through_the_explicit_provider(kind: str) -> None:
    """No child of the media bucket uses a default provider (Pulumi.yaml disables them)."""
    run = declared(kind)
    [provider] = run.declared.of_type("pulumi:providers:aws")
    for resource in run.declared.resources:
        if resource.type.startswith("aws:"):
            assert resource.provider == provider.urn, resource.name


# --- the bucket's controls -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["bucket", "shared-key"])
def test_the_bucket_is_private_owner_enforced_versioned_and_encrypted_with_its_key(kind: str) -> None:
    """S3.1/S3.8 all four public access blocks, S3.12 no ACLs, S3.14 versioning, S3.17 SSE-KMS with the stack's
    key (a bucket key, SSE-C refused): the backup bucket's controls, on the media bucket."""
    run = declared(kind)
    bucket = run.outputs["bucket_name"]
    block = run.one(PUBLIC_ACCESS_BLOCK)
    assert block == {
        "bucket": bucket,
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }
    assert run.one(OWNERSHIP) == {"bucket": bucket, "rule": {"objectOwnership": "BucketOwnerEnforced"}}
    assert run.one(VERSIONING) == {"bucket": bucket, "versioningConfiguration": {"status": "Enabled"}}
    [rule] = run.one(ENCRYPTION)["rules"]
    assert rule == {
        "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": run.outputs["kms_key_arn"]},
        "bucketKeyEnabled": True,
        "blockedEncryptionTypes": ["SSE-C"],
    }


def test_the_bucket_is_named_after_the_stack_unlocked_kept_on_destroy_and_tagged_media() -> None:
    """crm-<stack>-media-<suffix>; no Object Lock (an upload must be erasable); `pulumi destroy` keeps it; its
    bucket-role tag tells the policy pack it holds media."""
    bucket = declared("bucket").one(BUCKET)
    assert bucket["bucketPrefix"] == "crm-production-media-"
    assert bucket["objectLockEnabled"] is False
    assert bucket["forceDestroy"] is False
    assert bucket["tags"] == {
        "environment": "production",
        "app.kubernetes.io/component": "media",
        "crm-platform/bucket-role": "media",
    }


@pytest.mark.parametrize(("kind", "days"), [("bucket", 30), ("shared-key", 7)])
def test_lifecycle_keeps_replaced_uploads_for_the_days_set_and_never_expires_a_current_one(
    kind: str, days: int
) -> None:
    """S3.13/S3.10: noncurrent versions go after mediaNoncurrentDays, then their spent delete markers, stray
    multipart uploads after a day; no rule expires a current object, whatever its prefix."""
    rules = declared(kind).one(LIFECYCLE)["rules"]
    assert rules == [
        {
            "id": "expire-noncurrent-versions",
            "status": "Enabled",
            "filter": {},
            "noncurrentVersionExpiration": {"noncurrentDays": days},
        },
        {
            "id": "remove-expired-delete-markers",
            "status": "Enabled",
            "filter": {},
            "expiration": {"expiredObjectDeleteMarker": True},
        },
        {
            "id": "abort-incomplete-multipart-uploads",
            "status": "Enabled",
            "filter": {},
            "abortIncompleteMultipartUpload": {"daysAfterInitiation": 1},
        },
    ]


def test_lifecycle_waits_for_versioning_and_the_policy_for_the_public_access_block() -> None:
    """The ordering S3 needs: versioning before the noncurrent-version rule, the public access block before the
    policy (S3 refuses concurrent changes of the two)."""
    resources = declared("bucket").declared.resources
    urn = {resource.type: resource.urn for resource in resources}
    dependencies = {resource.type: resource.dependencies for resource in resources}
    assert urn[VERSIONING] in dependencies[LIFECYCLE]
    assert urn[PUBLIC_ACCESS_BLOCK] in dependencies[BUCKET_POLICY]


def test_the_dedicated_key_rotates_is_used_through_s3_only_and_has_an_alias() -> None:
    """Without mediaKmsKeyArn the stack makes a key like the backups' (rotation, 30-day deletion window, usable
    only through S3) under alias/crm-<stack>-media."""
    run = declared("bucket")
    key = run.one(KEY)
    assert key["enableKeyRotation"] is True and key["deletionWindowInDays"] == 30
    statements = {statement["Sid"]: statement for statement in json.loads(key["policy"])["Statement"]}
    assert statements["AccountAdministersKeyThroughIam"]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert statements["DenyUseOutsideS3"]["Condition"] == {"StringNotLike": {"kms:ViaService": "s3.*.amazonaws.com"}}
    assert run.one(ALIAS)["name"] == "alias/crm-production-media"


@pytest.mark.parametrize("kind", ["bucket", "shared-key"])
def test_declared_policies_are_the_documents_the_pure_functions_build(kind: str) -> None:
    """The bucket policy and the role's policy on the wire are what the tested functions return, for its prefix."""
    run = declared(kind)
    assert run.args.settings.bucket is not None
    key = run.outputs["kms_key_arn"]
    assert run.policy(BUCKET_POLICY) == bucket_policy(run.bucket_arn, key)
    assert run.policy(ROLE_POLICY) == access_policy(run.bucket_arn, run.args.settings.bucket.prefix, key)
    assert run.one(ROLE)["name"] == "crm-production-media"


@pytest.mark.parametrize("kind", ["bucket", "shared-key"])
def test_the_policy_pack_passes_the_bucket_and_fails_it_once_an_upload_could_expire(kind: str) -> None:
    """S4 passes the declared media bucket (also with production's objectLockRoles: it holds no backups), and
    reports it once a lifecycle rule would expire current uploads."""
    resources = stack_resources(declared(kind).declared.resources)
    policy = POLICIES_BY_NAME["s3-bucket-controls"]
    assert policy.evaluate_stack(resources, {"objectLockRoles": ["backups"]}) == []
    expiring = [
        replace(
            resource, props={**resource.props, "rules": [{"id": "x", "status": "Enabled", "expiration": {"days": 365}}]}
        )
        if resource.type == LIFECYCLE
        else resource
        for resource in resources
    ]
    [finding] = policy.evaluate_stack(expiring)
    assert finding.violation.path == "BucketLifecycleConfiguration"
    assert "holds media" in finding.violation.message


# --- the media role's permissions --------------------------------------------------------------------

UPLOAD = "media/invoices/2026/08/invoice-1042.pdf"
PROTECTED = [
    "s3:DeleteObjectVersion",
    "s3:DeleteObjectVersionTagging",
    "s3:DeleteBucket",
    "s3:DeleteBucketPolicy",
    "s3:DeleteBucketOwnershipControls",
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
    "s3:PutObjectVersionAcl",
    "s3:PutReplicationConfiguration",
]


def role_policy() -> tuple[MediaRun, dict[str, Any]]:
    run = declared("bucket")
    return run, run.policy(ROLE_POLICY)


def test_the_role_may_do_exactly_get_put_delete_and_a_prefixed_list() -> None:
    """Of every S3 action on the bucket and on an upload, only GetObject, PutObject, DeleteObject on the upload
    and ListBucket of the prefix are allowed."""
    run, policy = role_policy()
    allowed = set()
    for action in (f"s3:{name}" for name in S3_ACTIONS):
        if evaluate(policy, action, run.object_arn(UPLOAD), {}) == "allow":
            allowed.add((action, "upload"))
        if evaluate(policy, action, run.bucket_arn, {"s3:prefix": "media/"}) == "allow":
            allowed.add((action, "bucket"))
    assert allowed == {
        ("s3:GetObject", "upload"),
        ("s3:PutObject", "upload"),
        ("s3:DeleteObject", "upload"),
        ("s3:ListBucket", "bucket"),
    }


@pytest.mark.parametrize(
    "key", ["backups/logical/x.dump", "media", "mediafiles/a.png", "Media/a.png", "a.png", "static/app.css"]
)
def test_the_role_may_not_touch_a_key_outside_its_prefix(key: str) -> None:
    """Get, Put and Delete are refused for every key not under `<prefix>/` (a prefix lookalike included)."""
    run, policy = role_policy()
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        assert evaluate(policy, action, run.object_arn(key), {}) != "allow", (action, key)


@pytest.mark.parametrize(
    "bucket", ["crm-production-backups-20260801000000000000000001", "crm-staging-media-20260801000000000000000001"]
)
def test_the_role_may_not_touch_another_bucket(bucket: str) -> None:
    """Another bucket (the stack's backups, another stack's media) is out of reach, under the same prefix too."""
    _run, policy = role_policy()
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        assert evaluate(policy, action, f"arn:aws:s3:::{bucket}/{UPLOAD}", {}) == "implicit-deny", action
    assert evaluate(policy, "s3:ListBucket", f"arn:aws:s3:::{bucket}", {"s3:prefix": "media/"}) == "implicit-deny"


@pytest.mark.parametrize(
    ("context", "decision"),
    [
        ({"s3:prefix": "media/"}, "allow"),
        ({"s3:prefix": "media/invoices/"}, "allow"),
        ({}, "implicit-deny"),
        ({"s3:prefix": ""}, "implicit-deny"),
        ({"s3:prefix": "media"}, "implicit-deny"),
        ({"s3:prefix": "backups/"}, "implicit-deny"),
    ],
)
def test_the_role_may_list_only_under_its_prefix(context: dict[str, str], decision: str) -> None:
    """ListBucket (django-storages' listdir, and exists' 404) only with an s3:prefix under `<prefix>/`."""
    run, policy = role_policy()
    assert evaluate(policy, "s3:ListBucket", run.bucket_arn, context) == decision


@pytest.mark.parametrize("action", PROTECTED)
def test_the_role_is_explicitly_denied_what_would_make_an_upload_unrecoverable(action: str) -> None:
    """Destroying an old version or the bucket, and changing any control, are explicitly denied on bucket and
    uploads: deleting an upload leaves a version the runbook restores."""
    run, policy = role_policy()
    for resource in (run.bucket_arn, run.object_arn(UPLOAD)):
        assert evaluate(policy, action, resource, {}) == "deny", (action, resource)
    assert evaluate(policy, "s3:DeleteObject", run.object_arn(UPLOAD), {}) == "allow"


def test_the_role_cannot_read_or_list_old_versions() -> None:
    """Restoring a version is an operator's job (docs/runbooks/media.md): the application sees current uploads only."""
    run, policy = role_policy()
    assert evaluate(policy, "s3:GetObjectVersion", run.object_arn(UPLOAD), {}) == "implicit-deny"
    assert evaluate(policy, "s3:ListBucketVersions", run.bucket_arn, {"s3:prefix": "media/"}) == "implicit-deny"


def test_the_role_uses_only_the_bucket_key_for_data_keys_and_decryption() -> None:
    """kms:GenerateDataKey and kms:Decrypt on the bucket's key, nothing on another key, no kms:Encrypt or key
    administration."""
    run, policy = role_policy()
    key = run.outputs["kms_key_arn"]
    other = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/99999999-9999-9999-9999-999999999999"
    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        assert evaluate(policy, action, key, {}) == "allow", action
        assert evaluate(policy, action, other, {}) == "implicit-deny", action
    for action in ("kms:Encrypt", "kms:ScheduleKeyDeletion", "kms:PutKeyPolicy", "kms:CreateGrant"):
        assert evaluate(policy, action, key, {}) == "implicit-deny", action


@pytest.mark.parametrize("action", ["iam:PassRole", "iam:CreateAccessKey", "sts:AssumeRole", "s3:ListAllMyBuckets"])
def test_the_role_gets_nothing_outside_its_bucket_and_key(action: str) -> None:
    _run, policy = role_policy()
    assert evaluate(policy, action, "*", {}) == "implicit-deny"


# --- who may assume the role --------------------------------------------------------------------------


def trust() -> dict[str, Any]:
    return declared("bucket").policy(ROLE, "assumeRolePolicy")


def token(account: str, namespace: str = "crm-production", audience: str = "sts.amazonaws.com") -> dict[str, str]:
    return {SUB: f"system:serviceaccount:{namespace}:{account}", AUD: audience}


@pytest.mark.parametrize("account", ACCOUNTS)
def test_the_media_services_tokens_may_assume_the_role(account: str) -> None:
    """Web's and worker's ServiceAccount tokens for STS, through the cluster's OIDC provider."""
    assert evaluate(trust(), "sts:AssumeRoleWithWebIdentity", "*", token(account), OIDC_PROVIDER_ARN) == "allow"


@pytest.mark.parametrize(
    "context",
    [
        token("crm-beat"),
        token("crm-frontend"),
        token("crm-backup"),
        token("default"),
        token("crm-web", namespace="crm-staging"),
        token("crm-web", namespace="crm-pr-7"),
        token("*"),
        token("crm-web", audience="https://kubernetes.default.svc"),
        {SUB: "system:serviceaccount:crm-production:crm-web"},
        {AUD: "sts.amazonaws.com"},
    ],
    ids=[
        "beat",
        "frontend",
        "backup",
        "default",
        "other-namespace",
        "review-namespace",
        "wildcard",
        "api-audience",
        "no-audience",
        "no-subject",
    ],
)
def test_any_other_token_may_not_assume_the_role(context: dict[str, str]) -> None:
    """Another service's account, the same account in another namespace, another audience, or a token lacking a
    claim: refused."""
    assert evaluate(trust(), "sts:AssumeRoleWithWebIdentity", "*", context, OIDC_PROVIDER_ARN) != "allow"


def test_only_the_clusters_provider_and_only_web_identity_are_trusted() -> None:
    other = f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.{REGION}.amazonaws.com/id/OTHER"
    assert evaluate(trust(), "sts:AssumeRoleWithWebIdentity", "*", token("crm-web"), other) != "allow"
    assert evaluate(trust(), "sts:AssumeRole", "*", token("crm-web"), f"arn:aws:iam::{ACCOUNT}:root") != "allow"


# --- the bucket's own policy --------------------------------------------------------------------------


def guard() -> tuple[MediaRun, dict[str, Any], str]:
    run = declared("bucket")
    return run, run.policy(BUCKET_POLICY), run.outputs["kms_key_arn"]


@pytest.mark.parametrize("action", ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"])
def test_every_request_without_tls_is_denied(action: str) -> None:
    """S3.5 (moto ignores the Bool condition, so the document is judged here): aws:SecureTransport false is
    explicitly denied for anyone, on bucket and uploads; with TLS the same request is not denied by the policy."""
    run, policy, _key = guard()
    for resource in (run.bucket_arn, run.object_arn(UPLOAD)):
        assert evaluate(policy, action, resource, {"aws:SecureTransport": False}, principal="*") == "deny"
        assert evaluate(policy, action, resource, {"aws:SecureTransport": True}, principal="*") != "deny"


@pytest.mark.parametrize(
    ("headers", "denied"),
    [
        ({}, False),
        (
            {"s3:x-amz-server-side-encryption": "aws:kms", "s3:x-amz-server-side-encryption-aws-kms-key-id": "KEY"},
            False,
        ),
        ({"s3:x-amz-server-side-encryption": "aws:kms"}, True),
        ({"s3:x-amz-server-side-encryption": "AES256"}, True),
        ({"s3:x-amz-server-side-encryption": "aws:kms:dsse"}, True),
        (
            {
                "s3:x-amz-server-side-encryption": "aws:kms",
                "s3:x-amz-server-side-encryption-aws-kms-key-id": SHARED_KEY_ARN,
            },
            True,
        ),
        ({"s3:x-amz-server-side-encryption-aws-kms-key-id": SHARED_KEY_ARN}, True),
    ],
    ids=["no-headers", "the-bucket-key", "kms-without-key", "sse-s3", "dsse", "another-key", "another-key-alone"],
)
def test_uploads_are_encrypted_with_the_bucket_key_or_refused(headers: dict[str, str], denied: bool) -> None:
    """An upload without encryption headers takes the bucket's default (its key); one naming SSE-KMS with the
    bucket's key passes; any other encryption, or SSE-KMS without the key (aws/s3), is explicitly denied."""
    run, policy, key = guard()
    context: dict[str, str | bool] = {"aws:SecureTransport": True}
    context.update({name: key if value == "KEY" else value for name, value in headers.items()})
    decision = evaluate(policy, "s3:PutObject", run.object_arn(UPLOAD), context, principal="*")
    assert (decision == "deny") is denied


# --- what the upload handlers get -----------------------------------------------------------------------


def test_the_bucket_attachment_gives_django_storages_its_settings_and_the_handlers_a_web_identity() -> None:
    """The ConfigMap gets bucket, region, prefix, SigV4 and the backend choice, no credential and no ACL; web and
    worker get the role's ARN, the token file, the region, an annotated ServiceAccount, the projected token and
    the label the network policy selects."""
    run = declared("bucket")
    attachment = run.attachment
    role_arn = run.outputs["role_arn"]
    assert attachment.services == SERVICES
    assert {key: run.resolved(value) for key, value in attachment.config.items()} == {
        "MEDIA_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": run.outputs["bucket_name"],
        "AWS_S3_REGION_NAME": REGION,
        "AWS_LOCATION": "media",
        "AWS_S3_SIGNATURE_VERSION": "s3v4",
    }
    assert {key: run.resolved(value) for key, value in attachment.environment.items()} == {
        "AWS_ROLE_ARN": role_arn,
        "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
        "AWS_REGION": REGION,
        "AWS_STS_REGIONAL_ENDPOINTS": "regional",
    }
    assert {key: run.resolved(value) for key, value in attachment.service_account_annotations.items()} == {
        "eks.amazonaws.com/role-arn": role_arn
    }
    assert attachment.pod_labels == {"crm-platform/media-access": "true"}
    assert attachment.volumes == (token_volume(),)
    # The token the pods present is one the role trusts: its audience is the trust policy's.
    projected: dict[str, Any] = json.loads(json.dumps(token_volume()))
    [source] = projected["projected"]["sources"]
    assert trust()["Statement"][0]["Condition"]["StringEquals"][AUD] == source["service_account_token"]["audience"]
    assert attachment.mounts == (
        {"name": "aws-token", "mount_path": "/var/run/secrets/eks.amazonaws.com/serviceaccount", "read_only": True},
    )
    assert attachment.affinity is None


def test_a_read_write_once_volume_is_mounted_at_the_media_path_and_keeps_its_users_on_one_node() -> None:
    """Dev: a 5Gi ReadWriteOnce claim, mounted at /app/media with MEDIA_ROOT there; the media pods of the stack
    must share a node (required pod affinity), since the volume attaches to one."""
    run = declared("volume")
    claim = run.declared.named("PersistentVolumeClaim", CLAIM_NAME)
    assert claim["spec"] == {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}
    attachment = run.attachment
    assert dict(attachment.config) == {"MEDIA_STORAGE": "filesystem", "MEDIA_ROOT": "/app/media"}
    assert attachment.volumes == ({"name": "media", "persistent_volume_claim": {"claim_name": CLAIM_NAME}},)
    assert attachment.mounts == ({"name": "media", "mount_path": "/app/media"},)
    assert not attachment.environment and not attachment.service_account_annotations
    assert attachment.affinity == {
        "pod_affinity": {
            "required_during_scheduling_ignored_during_execution": [
                {
                    "label_selector": {
                        "match_labels": {
                            "crm-platform/media-access": "true",
                            "app.kubernetes.io/instance": "production",
                        }
                    },
                    "topology_key": "kubernetes.io/hostname",
                }
            ]
        }
    }
    [pvc] = run.declared.of_type(PVC)
    assert attachment.waits_for and attachment.waits_for[0] is not None
    assert pvc.urn.endswith("::media-volume")


def test_a_read_write_many_volume_lets_its_users_run_anywhere_in_its_storage_class() -> None:
    """ReadWriteMany: no affinity; the claim asks the stack's storageClass and the size set."""
    run = declared("shared-volume")
    claim = run.declared.named("PersistentVolumeClaim", CLAIM_NAME)
    assert claim["spec"] == {
        "accessModes": ["ReadWriteMany"],
        "resources": {"requests": {"storage": "20Gi"}},
        "storageClassName": "gp3",
    }
    assert run.attachment.affinity is None
    assert run.attachment.mounts == ({"name": "media", "mount_path": "/srv/uploads"},)


# --- the network flow -------------------------------------------------------------------------------------


def test_only_a_bucket_needs_a_flow_and_it_selects_the_media_pods() -> None:
    """443 to any address for pods labelled media-access (S3 and STS have no fixed addresses), or to
    mediaEgressCidrs; none for a volume or without media."""
    assert network_policy_specs(None) == {}
    assert network_policy_specs(KINDS["volume"]) == {}
    assert network_policy_specs(KINDS["bucket"]) == {
        "allow-media-to-object-storage": {
            "pod_selector": {"match_labels": {"crm-platform/media-access": "true"}},
            "policy_types": ["Egress"],
            "egress": [{"ports": [{"protocol": "TCP", "port": 443}]}],
        }
    }
    [spec] = network_policy_specs(KINDS["shared-key"]).values()
    assert spec["egress"] == [
        {"ports": [{"protocol": "TCP", "port": 443}], "to": [{"ip_block": {"cidr": "10.0.0.0/16"}}]}
    ]


# --- arguments ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"aws": None}, "aws is None, and the media bucket needs the account's region and OIDC provider"),
        ({"service_accounts": ()}, "service_accounts is empty; allowed: the ServiceAccounts of the media services"),
        (
            {"service_accounts": ("crm_web",)},
            "service_accounts 'crm_web' is not a Kubernetes name (lowercase DNS-1123)",
        ),
        (
            {"stack": "a-stack-name-far-too-long-for-a-bucket"},
            "stack 'a-stack-name-far-too-long-for-a-bucket' cannot name a bucket; allowed: lowercase letters, digits "
            "and '-', at most 26 characters",
        ),
    ],
    ids=["no-aws", "no-accounts", "bad-account", "long-stack"],
)
def test_arguments_that_cannot_make_the_store_are_refused_before_anything_is_declared(
    changes: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValueError) as raised:
        replace(media_args("bucket"), **changes)
    assert str(raised.value) == f"MediaArgs: {problem}"


def test_lifecycle_rules_follow_the_days_given() -> None:
    assert lifecycle_rules(90)[0]["noncurrent_version_expiration"] == {"noncurrent_days": 90}
