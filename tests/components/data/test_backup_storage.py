"""Backup storage: every S3 control of REFERENCE.md section 4, a least-privilege IRSA role, and the IAM evaluator.

The component is built on its own under recording mocks (with ARNs the engine would
return), once per stack kind; its policies are then judged by offline/iam.py, whose own
behaviour is pinned down at the end of this module.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, replace
from typing import Any

import pytest

from components.data import backup_contract as contract
from components.data.backup_storage import (
    BackupStorage,
    BackupStorageArgs,
    access_policy,
    bucket_policy,
    key_policy,
    trust_policy,
)
from components.platform.providers import aws_options, aws_provider
from offline.iam import UnsupportedPolicyError, arn_match, evaluate, wildcard_match
from offline.mocks import RecordedResource
from policies.registry import POLICIES_BY_NAME
from tests.support.aws import (
    ACCOUNT,
    ALIAS,
    AUD,
    BUCKET,
    BUCKET_POLICY,
    BUCKET_TYPES,
    ENCRYPTION,
    ISSUER,
    KEY,
    LIFECYCLE,
    OBJECT_LOCK,
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

# Importing pulumi_aws.s3 loads its deprecated *V2 modules, each warning at import time; this
# module uses none of them (the type tokens asserted below are the current ones).
pytestmark = pytest.mark.filterwarnings("ignore:.*has been deprecated in favor of.*:DeprecationWarning")

TAGS = {"app.kubernetes.io/part-of": "crm-platform", "crm-platform/stack": "production"}


def storage_args(stack: str, **changes: Any) -> BackupStorageArgs:
    """Arguments as __main__ passes them for `stack`, with `changes` applied."""
    args = BackupStorageArgs(
        stack=stack,
        namespace=f"crm-{stack}",
        service_account="crm-backup",
        prefix="postgres",
        retention_days=30,
        object_lock=False,
        kms_key_arn=None,
        oidc_provider_arn=OIDC_PROVIDER_ARN,
        oidc_issuer=ISSUER,
        tags=TAGS,
    )
    return replace(args, **changes)


KINDS = {
    "production": storage_args("production", object_lock=True, retention_days=35),
    "staging": storage_args("staging"),
    "shared-key": storage_args("qa", retention_days=3, kms_key_arn=SHARED_KEY_ARN),
}


@dataclass(frozen=True)
class StorageRun:
    """What one BackupStorage declared (built the one way components are, tests/support/components.py),
    and its resolved outputs."""

    args: BackupStorageArgs
    declared: Declared[BackupStorage]
    outputs: dict[str, Any]

    @property
    def resources(self) -> tuple[RecordedResource, ...]:
        return self.declared.resources

    @property
    def component_urn(self) -> str:
        return self.declared.of_type("crm:data:BackupStorage")[0].urn

    @property
    def provider_urn(self) -> str:
        return self.declared.of_type("pulumi:providers:aws")[0].urn

    def of_type(self, pulumi_type: str) -> list[RecordedResource]:
        return self.declared.of_type(pulumi_type)

    def one(self, pulumi_type: str) -> dict[str, Any]:
        return self.declared.one(pulumi_type)

    def policy(self, pulumi_type: str, field: str = "policy") -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.one(pulumi_type)[field])
        return document

    @property
    def bucket_arn(self) -> str:
        return str(self.outputs["bucket_arn"])

    @property
    def kms_key_arn(self) -> str:
        return str(self.outputs["kms_key_arn"])

    def object_arn(self, key: str) -> str:
        return f"{self.bucket_arn}/{key}"


@functools.cache
def declared(kind: str) -> StorageRun:
    """Build BackupStorage for one stack kind through the explicit AWS provider, under recording mocks."""
    args = KINDS[kind]
    run = declare(
        lambda: BackupStorage("backups", args, aws_options(aws_provider(REGION, args.stack))),
        stack=args.stack,
        mocks=AwsMocks(),
    )
    outputs = {
        name: run.output(getattr(run.component, name))
        for name in ("bucket_name", "bucket_arn", "role_arn", "kms_key_arn")
    }
    return StorageRun(args=args, declared=run, outputs=outputs)


# --- what each stack kind declares ---------------------------------------------------------------

EXPECTED_TYPES = {
    "production": BUCKET_TYPES | {OBJECT_LOCK, KEY, ALIAS, ROLE, ROLE_POLICY},
    "staging": BUCKET_TYPES | {KEY, ALIAS, ROLE, ROLE_POLICY},
    "shared-key": BUCKET_TYPES | {ROLE, ROLE_POLICY},
}


@pytest.mark.parametrize("kind", KINDS)
def test_each_stack_kind_declares_exactly_its_resources(kind: str) -> None:
    """One of each bucket control, the role and its policy; a key unless given one; Object Lock only when asked."""
    run = declared(kind)
    children = [resource for resource in run.resources if resource.parent == run.component_urn]
    assert sorted(resource.type for resource in children) == sorted(EXPECTED_TYPES[kind])


@pytest.mark.parametrize("kind", KINDS)
def test_every_aws_resource_goes_through_the_explicit_provider(kind: str) -> None:
    """Each child is parented to the component and uses the stack's AWS provider, never the default one."""
    run = declared(kind)
    for resource in run.resources:
        if resource.type.startswith("aws:"):
            assert resource.parent == run.component_urn, resource.name
            assert resource.provider == run.provider_urn, resource.name


def test_aws_provider_pins_the_region_and_tags_and_skips_no_check() -> None:
    """The provider has an explicit region, the stack's default tags, and every validation on."""
    [provider] = declared("staging").of_type("pulumi:providers:aws")
    inputs = provider.inputs
    assert inputs["region"] == REGION
    assert json.loads(inputs["defaultTags"]) == {
        "tags": {"crm-platform/stack": "staging", "managed-by": "pulumi", "app": "crm-platform"}
    }
    for check in ("skipCredentialsValidation", "skipRegionValidation", "skipRequestingAccountId", "insecure"):
        assert inputs[check] == "false", check


# --- S3 controls ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_public_access_is_blocked_by_all_four_flags(kind: str) -> None:
    """S3.1/S3.8: the bucket's public access block sets all four flags."""
    run = declared(kind)
    block = run.one(PUBLIC_ACCESS_BLOCK)
    assert block["bucket"] == run.outputs["bucket_name"]
    for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
        assert block[flag] is True, flag


@pytest.mark.parametrize("kind", KINDS)
def test_acls_are_disabled_and_versioning_is_enabled(kind: str) -> None:
    """S3.12 and S3.14: BucketOwnerEnforced ownership and versioning Enabled, on the bucket itself."""
    run = declared(kind)
    assert run.one(OWNERSHIP) == {
        "bucket": run.outputs["bucket_name"],
        "rule": {"objectOwnership": "BucketOwnerEnforced"},
    }
    assert run.one(VERSIONING) == {
        "bucket": run.outputs["bucket_name"],
        "versioningConfiguration": {"status": "Enabled"},
    }


@pytest.mark.parametrize("kind", KINDS)
def test_default_encryption_is_sse_kms_with_a_bucket_key(kind: str) -> None:
    """S3.17: objects are encrypted with the stack's KMS key (a bucket key cuts KMS calls); SSE-C is refused."""
    run = declared(kind)
    [rule] = run.one(ENCRYPTION)["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": run.kms_key_arn}
    assert rule["bucketKeyEnabled"] is True
    assert rule["blockedEncryptionTypes"] == ["SSE-C"]


def test_dedicated_key_rotates_and_can_be_recovered_for_thirty_days() -> None:
    """Without a given key the stack makes one with rotation, a 30-day deletion window and an alias."""
    run = declared("staging")
    key = run.one(KEY)
    assert key["enableKeyRotation"] is True
    assert key["deletionWindowInDays"] == 30
    assert key["keyUsage"] == "ENCRYPT_DECRYPT"
    assert json.loads(key["policy"]) == key_policy(f"arn:aws:iam::{ACCOUNT}:root")
    assert run.one(ALIAS) == {
        "name": "alias/crm-staging-backups",
        "targetKeyId": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
    }
    assert run.kms_key_arn.startswith(f"arn:aws:kms:{REGION}:{ACCOUNT}:key/")


def test_a_given_key_is_used_everywhere_and_no_key_is_made() -> None:
    """With kms_key_arn the encryption, bucket policy and role policy all name that key."""
    run = declared("shared-key")
    assert run.kms_key_arn == SHARED_KEY_ARN
    assert not run.of_type(KEY) and not run.of_type(ALIAS)
    assert run.policy(BUCKET_POLICY) == bucket_policy(run.bucket_arn, SHARED_KEY_ARN)
    assert run.policy(ROLE_POLICY) == access_policy(run.bucket_arn, "postgres", SHARED_KEY_ARN)


@pytest.mark.parametrize("kind", KINDS)
def test_lifecycle_expires_backups_then_old_versions_and_aborts_abandoned_uploads(kind: str) -> None:
    """S3.13/S3.10: backups expire after the retention, noncurrent versions as long again, stray uploads after a day."""
    run = declared(kind)
    days = run.args.retention_days
    rules = {rule["id"]: rule for rule in run.one(LIFECYCLE)["rules"]}
    assert all(rule["status"] == "Enabled" for rule in rules.values())
    assert rules["expire-backups"]["filter"] == {"prefix": "postgres/"}
    assert rules["expire-backups"]["expiration"] == {"days": days}
    assert rules["expire-noncurrent-versions"]["filter"] == {}
    assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"] == {"noncurrentDays": days}
    assert rules["abort-incomplete-multipart-uploads"]["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 1}


def test_lifecycle_and_object_lock_wait_for_versioning_and_the_policy_for_the_public_access_block() -> None:
    """Ordering S3 needs: versioning before lifecycle and Object Lock, the public access block before the policy."""
    run = declared("production")
    urn = {resource.type: resource.urn for resource in run.resources}
    dependencies = {resource.type: resource.dependencies for resource in run.resources}
    assert urn[VERSIONING] in dependencies[LIFECYCLE]
    assert urn[VERSIONING] in dependencies[OBJECT_LOCK]
    assert urn[PUBLIC_ACCESS_BLOCK] in dependencies[BUCKET_POLICY]


def test_production_bucket_is_locked_in_governance_mode_for_the_retention() -> None:
    """S3.15: production's bucket is created with Object Lock and a GOVERNANCE default retention of retention_days."""
    run = declared("production")
    assert run.one(BUCKET)["objectLockEnabled"] is True
    lock = run.one(OBJECT_LOCK)
    assert lock["objectLockEnabled"] == "Enabled"
    assert lock["rule"] == {"defaultRetention": {"mode": "GOVERNANCE", "days": 35}}


@pytest.mark.parametrize("kind", ["staging", "shared-key"])
def test_object_lock_is_off_unless_asked_for(kind: str) -> None:
    """A stack without object_lock gets neither a locked bucket nor a lock configuration."""
    run = declared(kind)
    assert run.one(BUCKET)["objectLockEnabled"] is False
    assert not run.of_type(OBJECT_LOCK)


@pytest.mark.parametrize(
    ("kind", "prefix"), [("production", "crm-production-backups-"), ("shared-key", "crm-qa-backups-")]
)
def test_bucket_is_named_after_the_stack_and_never_destroyed_full(kind: str, prefix: str) -> None:
    """The bucket name starts crm-<stack>-backups-; `pulumi destroy` never deletes a bucket that holds backups."""
    bucket = declared(kind).one(BUCKET)
    assert bucket["bucketPrefix"] == prefix
    assert bucket["forceDestroy"] is False


def test_bucket_key_and_role_carry_the_stack_tags() -> None:
    """Every taggable resource carries the stack's tags and names the component."""
    run = declared("production")
    for pulumi_type in (BUCKET, KEY, ROLE):
        tags = run.one(pulumi_type)["tags"]
        assert TAGS.items() <= tags.items(), pulumi_type
        assert tags["app.kubernetes.io/component"] == "backups"
    assert run.one(BUCKET)["tags"]["crm-platform/bucket-role"] == "backups"


@pytest.mark.parametrize(("kind", "locked"), [("production", True), ("staging", False)])
def test_the_policy_pack_holds_a_backups_bucket_to_object_lock_where_configured(kind: str, locked: bool) -> None:
    """S4 passes every declared bucket; with objectLockRoles [backups] (production's config), only a locked one."""
    resources = stack_resources(declared(kind).resources)
    assert POLICIES_BY_NAME["s3-bucket-controls"].evaluate_stack(resources) == []
    locking = POLICIES_BY_NAME["s3-bucket-controls"].evaluate_stack(resources, {"objectLockRoles": ["backups"]})
    assert [(finding.violation.path, finding.resource and finding.resource.type) for finding in locking] == (
        [] if locked else [("BucketObjectLockConfiguration", BUCKET)]
    )


@pytest.mark.parametrize("kind", KINDS)
def test_declared_policies_are_the_documents_the_pure_functions_build(kind: str) -> None:
    """The bucket policy, role policy and trust policy on the wire are exactly what the tested functions return."""
    run = declared(kind)
    args = run.args
    assert run.policy(BUCKET_POLICY) == bucket_policy(run.bucket_arn, run.kms_key_arn)
    assert run.policy(ROLE_POLICY) == access_policy(run.bucket_arn, args.prefix, run.kms_key_arn)
    assert run.policy(ROLE, "assumeRolePolicy") == trust_policy(
        OIDC_PROVIDER_ARN, ISSUER, args.namespace, args.service_account
    )


def test_outputs_name_the_bucket_role_and_key() -> None:
    """The component exports the bucket's name and ARN, the role's ARN and the key's ARN."""
    outputs = declared("staging").outputs
    assert outputs["bucket_name"] == "crm-staging-backups-20260801000000000000000001"
    assert outputs["bucket_arn"] == f"arn:aws:s3:::{outputs['bucket_name']}"
    assert outputs["role_arn"] == f"arn:aws:iam::{ACCOUNT}:role/crm-staging-backups"
    assert outputs["kms_key_arn"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


# --- the backup role's permissions ----------------------------------------------------------------

DELETE_ACTIONS = [f"s3:{action}" for action in S3_ACTIONS if action.startswith("Delete")]
NEVER_ALLOWED = [
    *DELETE_ACTIONS,
    "s3:BypassGovernanceRetention",
    "s3:PutBucketPolicy",
    "s3:PutLifecycleConfiguration",
    "s3:PutObjectRetention",
    "s3:PutBucketVersioning",
    "s3:PutBucketObjectLockConfiguration",
]


def role_policy() -> tuple[StorageRun, dict[str, Any]]:
    run = declared("production")
    return run, run.policy(ROLE_POLICY)


def test_backup_role_may_do_exactly_put_get_and_list_under_its_prefix() -> None:
    """Of every S3 action on bucket and backup, only PutObject, GetObject and a prefixed ListBucket are allowed."""
    run, policy = role_policy()
    backup = run.object_arn("postgres/2026-08-01T02:00:00Z.dump")
    allowed = set()
    for action in (f"s3:{name}" for name in S3_ACTIONS):
        if evaluate(policy, action, backup, {}) == "allow":
            allowed.add((action, "backup"))
        if evaluate(policy, action, run.bucket_arn, {"s3:prefix": "postgres/"}) == "allow":
            allowed.add((action, "bucket"))
    assert allowed == {("s3:PutObject", "backup"), ("s3:GetObject", "backup"), ("s3:ListBucket", "bucket")}


@pytest.mark.parametrize(
    "key", ["other/2026-08-01.dump", "postgres", "postgresql/2026-08-01.dump", "2026-08-01.dump", "Postgres/x.dump"]
)
def test_backup_role_may_not_write_or_read_outside_its_prefix(key: str) -> None:
    """Put and Get are denied for any object not under `<prefix>/`."""
    run, policy = role_policy()
    for action in ("s3:PutObject", "s3:GetObject"):
        assert evaluate(policy, action, run.object_arn(key), {}) != "allow", (action, key)


@pytest.mark.parametrize(
    ("context", "decision"),
    [
        ({"s3:prefix": "postgres/"}, "allow"),
        ({"s3:prefix": "postgres/2026-08"}, "allow"),
        ({}, "implicit-deny"),
        ({"s3:prefix": ""}, "implicit-deny"),
        ({"s3:prefix": "postgres"}, "implicit-deny"),
        ({"s3:prefix": "other/"}, "implicit-deny"),
    ],
)
def test_backup_role_may_list_only_under_its_prefix(context: dict[str, str], decision: str) -> None:
    """ListBucket is allowed only with an s3:prefix under `<prefix>/`; without one it would list the whole bucket."""
    run, policy = role_policy()
    assert evaluate(policy, "s3:ListBucket", run.bucket_arn, context) == decision


@pytest.mark.parametrize("action", NEVER_ALLOWED)
def test_backup_role_is_explicitly_denied_everything_that_destroys_backups(action: str) -> None:
    """Deletes, governance bypass and bucket-configuration changes are explicitly denied, on bucket and objects."""
    run, policy = role_policy()
    for resource in (run.bucket_arn, run.object_arn("postgres/2026-08-01.dump")):
        assert evaluate(policy, action, resource, {}) == "deny", (action, resource)


def test_backup_role_cannot_abort_uploads_or_read_old_versions() -> None:
    """AbortMultipartUpload and GetObjectVersion are not granted: lifecycle cleans uploads, restores read the latest."""
    run, policy = role_policy()
    backup = run.object_arn("postgres/2026-08-01.dump")
    assert evaluate(policy, "s3:AbortMultipartUpload", backup, {}) == "implicit-deny"
    assert evaluate(policy, "s3:GetObjectVersion", backup, {}) == "implicit-deny"


@pytest.mark.parametrize(
    "action", ["iam:PassRole", "iam:CreateAccessKey", "iam:PutRolePolicy", "sts:AssumeRole", "kms:ScheduleKeyDeletion"]
)
def test_backup_role_gets_no_iam_sts_or_key_administration(action: str) -> None:
    """Nothing outside S3 object access and three KMS data-key actions is allowed, on any resource."""
    run, policy = role_policy()
    for resource in ("*", run.kms_key_arn, f"arn:aws:iam::{ACCOUNT}:role/crm-production-backups"):
        assert evaluate(policy, action, resource, {}) != "allow", (action, resource)


def test_backup_role_uses_only_the_bucket_key() -> None:
    """kms:GenerateDataKey and Decrypt (what SSE-KMS uploads and downloads need) are allowed on the bucket's key
    and no other; kms:Encrypt, which no script calls, is not allowed at all."""
    run, policy = role_policy()
    other_key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/99999999-9999-9999-9999-999999999999"
    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        assert evaluate(policy, action, run.kms_key_arn, {}) == "allow", action
        assert evaluate(policy, action, other_key, {}) == "implicit-deny", action
    assert evaluate(policy, "kms:Encrypt", run.kms_key_arn, {}) == "implicit-deny"


def test_backup_role_allows_exactly_what_the_scripts_call() -> None:
    """Every S3 and KMS action the backup contract says a script calls is allowed where the scripts use it, and
    the role's Allow statements name nothing else: a script that starts calling something new must change the
    contract, and the role follows."""
    _run, policy = role_policy()
    called = set(contract.BACKUP_S3_ACTIONS + contract.RESTORE_S3_ACTIONS + contract.BACKUP_KMS_ACTIONS)
    called |= set(contract.RESTORE_KMS_ACTIONS)
    allowed: set[str] = set()
    for statement in policy["Statement"]:
        if statement["Effect"] == "Allow":
            actions = statement["Action"]
            allowed |= {actions} if isinstance(actions, str) else set(actions)
    assert allowed == called


# --- who may assume the role ----------------------------------------------------------------------

TRUST = trust_policy(OIDC_PROVIDER_ARN, ISSUER, "crm-production", "crm-backup")
EXACT = {SUB: "system:serviceaccount:crm-production:crm-backup", AUD: "sts.amazonaws.com"}


def test_further_service_accounts_are_trusted_by_exact_name_only() -> None:
    """With the WAL archiver's ServiceAccount added, both exact subjects may assume the role, no other."""
    trust = trust_policy(OIDC_PROVIDER_ARN, ISSUER, "crm-production", "crm-backup", "crm-postgres")
    for account, decision in (("crm-backup", "allow"), ("crm-postgres", "allow"), ("default", "implicit-deny")):
        context = {**EXACT, SUB: f"system:serviceaccount:crm-production:{account}"}
        assert evaluate(trust, "sts:AssumeRoleWithWebIdentity", "*", context, principal=OIDC_PROVIDER_ARN) == decision


def test_the_backup_service_account_token_for_sts_may_assume_the_role() -> None:
    """AssumeRoleWithWebIdentity through the cluster's OIDC provider with the exact sub and aud is allowed."""
    assert evaluate(TRUST, "sts:AssumeRoleWithWebIdentity", "*", EXACT, principal=OIDC_PROVIDER_ARN) == "allow"


@pytest.mark.parametrize(
    "context",
    [
        {**EXACT, SUB: "system:serviceaccount:crm-production:default"},
        {**EXACT, SUB: "system:serviceaccount:crm-staging:crm-backup"},
        {**EXACT, SUB: "system:serviceaccount:crm-production:*"},
        {**EXACT, AUD: "https://kubernetes.default.svc"},
        {SUB: EXACT[SUB]},
        {AUD: EXACT[AUD]},
    ],
    ids=["other-account", "other-namespace", "wildcard-sub", "other-audience", "no-audience", "no-subject"],
)
def test_any_other_token_may_not_assume_the_role(context: dict[str, str]) -> None:
    """A different ServiceAccount, namespace or audience, or a token lacking sub or aud, is refused."""
    assert evaluate(TRUST, "sts:AssumeRoleWithWebIdentity", "*", context, principal=OIDC_PROVIDER_ARN) != "allow"


def test_only_the_clusters_provider_and_only_web_identity_are_trusted() -> None:
    """Another OIDC provider, an AWS principal or plain sts:AssumeRole is refused even with the right claims."""
    other_provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.{REGION}.amazonaws.com/id/OTHER"
    assert evaluate(TRUST, "sts:AssumeRoleWithWebIdentity", "*", EXACT, principal=other_provider) != "allow"
    assert evaluate(TRUST, "sts:AssumeRole", "*", EXACT, principal=f"arn:aws:iam::{ACCOUNT}:root") != "allow"
    assert evaluate(TRUST, "sts:AssumeRole", "*", EXACT, principal=OIDC_PROVIDER_ARN) != "allow"


# --- the bucket's own policy ----------------------------------------------------------------------


def bucket_guard() -> tuple[StorageRun, dict[str, Any], dict[str, str | bool]]:
    run = declared("production")
    good_upload: dict[str, str | bool] = {
        "aws:SecureTransport": True,
        "s3:x-amz-server-side-encryption": "aws:kms",
        "s3:x-amz-server-side-encryption-aws-kms-key-id": run.kms_key_arn,
    }
    return run, run.policy(BUCKET_POLICY), good_upload


@pytest.mark.parametrize("action", ["s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:DeleteObject"])
def test_bucket_policy_denies_any_request_without_tls(action: str) -> None:
    """S3.5: with aws:SecureTransport false every request is explicitly denied, whatever else it carries."""
    run, policy, good_upload = bucket_guard()
    for resource in (run.bucket_arn, run.object_arn("postgres/x.dump")):
        assert evaluate(policy, action, resource, {**good_upload, "aws:SecureTransport": False}) == "deny"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"s3:x-amz-server-side-encryption": "AES256"},
        {"s3:x-amz-server-side-encryption": "aws:kms"},
        {
            "s3:x-amz-server-side-encryption": "aws:kms",
            "s3:x-amz-server-side-encryption-aws-kms-key-id": SHARED_KEY_ARN,
        },
        {"s3:x-amz-server-side-encryption": "aws:kms:dsse"},
    ],
    ids=["no-header", "sse-s3", "kms-without-key", "kms-other-key", "dsse"],
)
def test_bucket_policy_denies_uploads_not_encrypted_with_the_bucket_key(headers: dict[str, str]) -> None:
    """PutObject without SSE-KMS, or with a key other than the bucket's, is explicitly denied."""
    run, policy, _ = bucket_guard()
    context: dict[str, str | bool] = {"aws:SecureTransport": True, **headers}
    assert evaluate(policy, "s3:PutObject", run.object_arn("postgres/x.dump"), context) == "deny"


def test_bucket_policy_lets_a_correct_upload_and_a_tls_read_through() -> None:
    """A TLS upload naming aws:kms and the bucket's key, and a TLS read, are not denied (the role's policy decides)."""
    run, policy, good_upload = bucket_guard()
    backup = run.object_arn("postgres/x.dump")
    assert evaluate(policy, "s3:PutObject", backup, good_upload) == "implicit-deny"
    assert evaluate(policy, "s3:GetObject", backup, {"aws:SecureTransport": True}) == "implicit-deny"


def test_key_can_only_be_used_through_s3_and_the_account_keeps_control() -> None:
    """The key policy delegates to IAM (no lockout) and denies data-key use that does not come via S3."""
    policy = key_policy(f"arn:aws:iam::{ACCOUNT}:root")
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k"
    root = f"arn:aws:iam::{ACCOUNT}:root"
    via_s3 = {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    assert evaluate(policy, "kms:PutKeyPolicy", key, {}, principal=root) == "allow"
    assert evaluate(policy, "kms:Decrypt", key, via_s3, principal=root) == "allow"
    assert evaluate(policy, "kms:Decrypt", key, {}, principal=root) == "deny"
    assert evaluate(policy, "kms:GenerateDataKeyWithoutPlaintext", key, {"kms:ViaService": "ec2.x"}) == "deny"
    assert evaluate(policy, "kms:Decrypt", key, via_s3, principal="arn:aws:iam::999988887777:root") == "implicit-deny"


# --- arguments ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"stack": "a-review-stack-name-too-long"}, "stack"),
        ({"stack": "Production"}, "stack"),
        ({"prefix": "postgres/*"}, "prefix"),
        ({"prefix": "/postgres"}, "prefix"),
        ({"prefix": ""}, "prefix"),
        ({"retention_days": 0}, "retention_days"),
        ({"namespace": "crm_production"}, "namespace"),
        ({"oidc_issuer": "https://" + ISSUER}, "oidc_issuer"),
        ({"oidc_provider_arn": "arn:aws:iam::1:role/x"}, "oidc_provider_arn"),
        ({"kms_key_arn": "alias/crm"}, "kms_key_arn"),
    ],
)
def test_invalid_arguments_are_refused_naming_the_field(changes: dict[str, Any], message: str) -> None:
    """Arguments that would make a wrong bucket, policy or role raise ValueError naming the field."""
    with pytest.raises(ValueError, match=message):
        replace(storage_args("production"), **changes)


# --- offline/iam.py itself ------------------------------------------------------------------------


def allow(**statement: Any) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **statement}]}


def test_action_wildcards_match_case_insensitively() -> None:
    """`*` and `?` match in actions, and action names ignore case."""
    policy = allow(Action=["s3:Get*", "s3:?utObject"], Resource="*")
    assert evaluate(policy, "s3:GetObjectVersion", "x", {}) == "allow"
    assert evaluate(policy, "S3:getobject", "x", {}) == "allow"
    assert evaluate(policy, "s3:PutObject", "x", {}) == "allow"
    assert evaluate(policy, "s3:PutObjectAcl", "x", {}) == "implicit-deny"
    assert evaluate(policy, "s3:ListBucket", "x", {}) == "implicit-deny"


def test_not_action_applies_to_every_other_action() -> None:
    """NotAction matches the actions it does not name."""
    policy = allow(NotAction="iam:*", Resource="*")
    assert evaluate(policy, "s3:GetObject", "x", {}) == "allow"
    assert evaluate(policy, "IAM:PassRole", "x", {}) == "implicit-deny"


def test_resource_wildcards_are_case_sensitive_and_stay_within_an_arn_component() -> None:
    """`*` in a Resource spans slashes within the resource part but not colons between ARN components."""
    policy = allow(Action="*", Resource="arn:aws:s3:::bucket/backups/*")
    assert evaluate(policy, "s3:GetObject", "arn:aws:s3:::bucket/backups/a/b.dump", {}) == "allow"
    assert evaluate(policy, "s3:GetObject", "arn:aws:s3:::bucket/Backups/a.dump", {}) == "implicit-deny"
    assert evaluate(policy, "s3:GetObject", "arn:aws:s3:::bucket", {}) == "implicit-deny"
    assert arn_match("arn:aws:*:::bucket", "arn:aws:s3:::bucket")
    assert not arn_match("arn:aws:s3:::bucket*", "arn:aws:s3:us-east-1::bucket")
    assert not arn_match("arn:aws:s3:::*", "bucket")
    with pytest.raises(UnsupportedPolicyError):
        arn_match("arn:aws:s3*", "arn:aws:s3:::bucket")
    assert arn_match("arn:aws:kms:eu-west-?:*:key/*", "arn:aws:kms:eu-west-1:1:key/k")
    assert wildcard_match("a?c", "abc") and not wildcard_match("a?c", "ac")


def test_not_resource_applies_to_every_other_resource() -> None:
    """NotResource matches resources it does not name."""
    policy = allow(Action="s3:*", NotResource="arn:aws:s3:::secret/*")
    assert evaluate(policy, "s3:GetObject", "arn:aws:s3:::open/x", {}) == "allow"
    assert evaluate(policy, "s3:GetObject", "arn:aws:s3:::secret/x", {}) == "implicit-deny"


def test_an_explicit_deny_wins_over_any_allow() -> None:
    """A matching Deny statement beats a matching Allow, wherever it stands."""
    policy = {
        "Statement": [
            {"Effect": "Deny", "Action": "s3:Delete*", "Resource": "*"},
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        ]
    }
    assert evaluate(policy, "s3:DeleteObject", "arn:aws:s3:::b/k", {}) == "deny"
    assert evaluate(policy, "s3:GetObject", "arn:aws:s3:::b/k", {}) == "allow"
    assert evaluate({"Statement": []}, "s3:GetObject", "arn:aws:s3:::b/k", {}) == "implicit-deny"


def test_a_missing_condition_key_fails_positive_operators_and_passes_negated_ones() -> None:
    """Absent keys: StringEquals/StringLike/Bool/ArnLike false, StringNotEquals true, IfExists true, Null true."""
    for operator in ("StringEquals", "StringLike", "Bool", "ArnEquals", "ArnLike"):
        assert evaluate(allow(Action="*", Resource="*", Condition={operator: {"k": "v"}}), "a:b", "r", {}) == (
            "implicit-deny"
        ), operator
    for operator in ("StringNotEquals", "StringNotLike", "ArnNotLike", "StringEqualsIfExists", "BoolIfExists"):
        assert evaluate(allow(Action="*", Resource="*", Condition={operator: {"k": "v"}}), "a:b", "r", {}) == (
            "allow"
        ), operator
    null_true = allow(Action="*", Resource="*", Condition={"Null": {"k": "true"}})
    assert evaluate(null_true, "a:b", "r", {}) == "allow"
    assert evaluate(null_true, "a:b", "r", {"k": "v"}) == "implicit-deny"


def test_condition_values_are_ored_and_keys_and_operators_anded() -> None:
    """One value of a key must match; every key and every operator block must hold; key names ignore case."""
    policy = allow(
        Action="*",
        Resource="*",
        Condition={"StringEquals": {"a": ["1", "2"], "b": "x"}, "StringLike": {"c": "pre/*"}},
    )
    assert evaluate(policy, "s:a", "r", {"A": "2", "b": "x", "c": "pre/z"}) == "allow"
    assert evaluate(policy, "s:a", "r", {"a": "3", "b": "x", "c": "pre/z"}) == "implicit-deny"
    assert evaluate(policy, "s:a", "r", {"a": "1", "b": "x", "c": "other"}) == "implicit-deny"
    assert evaluate(policy, "s:a", "r", {"a": "1", "b": "X", "c": "pre/z"}) == "implicit-deny"


def test_bool_and_arn_operators_compare_as_iam_does() -> None:
    """Bool accepts Python booleans or "true"/"false"; ArnLike compares ARNs component by component."""
    secure = allow(Action="*", Resource="*", Condition={"Bool": {"aws:SecureTransport": "true"}})
    assert evaluate(secure, "s:a", "r", {"aws:SecureTransport": True}) == "allow"
    assert evaluate(secure, "s:a", "r", {"aws:SecureTransport": "false"}) == "implicit-deny"
    source = allow(Action="*", Resource="*", Condition={"ArnLike": {"aws:SourceArn": "arn:aws:s3:::logs-*"}})
    assert evaluate(source, "s:a", "r", {"aws:SourceArn": "arn:aws:s3:::logs-prod"}) == "allow"
    assert evaluate(source, "s:a", "r", {"aws:SourceArn": "arn:aws:s3:::data"}) == "implicit-deny"


def test_principal_is_checked_when_the_caller_is_given() -> None:
    """A Principal element matches its listed identifiers or "*"; without a caller it is not checked."""
    policy = allow(Principal={"AWS": ["arn:aws:iam::1:root"]}, Action="*", Resource="*")
    assert evaluate(policy, "s:a", "r", {}, principal="arn:aws:iam::1:root") == "allow"
    assert evaluate(policy, "s:a", "r", {}, principal="arn:aws:iam::2:root") == "implicit-deny"
    assert evaluate(policy, "s:a", "r", {}) == "allow"
    assert evaluate(allow(Principal="*", Action="*", Resource="*"), "s:a", "r", {}, principal="anyone") == "allow"


@pytest.mark.parametrize(
    "statement",
    [
        {"Action": "*", "Resource": "*", "Condition": {"NumericLessThan": {"k": "1"}}},
        {"Action": "*", "Resource": "*", "Condition": {"ForAnyValue:NumericLessThan": {"k": "1"}}},
        {"Action": "*", "Resource": "*", "Condition": {"ForAllValues:StringNotEquals": {"k": "1"}}},
        {"Action": "*", "Resource": "*", "Condition": {"ForAllValues:StringEqualsIfExists": {"k": "1"}}},
        {"Action": "*", "Resource": "*", "Condition": {"ForEveryValue:StringEquals": {"k": "1"}}},
        {"Action": "*", "Resource": "*", "Condition": {"StringEquals": {"multi": "1"}}},
        {"Action": "*", "Resource": "arn:aws:s3:::b/${aws:username}/*"},
        {"Resource": "*"},
    ],
    ids=[
        "numeric",
        "set-numeric",
        "set-negated",
        "set-if-exists",
        "unknown-qualifier",
        "multivalued-key-single-operator",
        "policy-variable",
        "no-action",
    ],
)
def test_what_the_evaluator_cannot_judge_exactly_is_refused(statement: dict[str, Any]) -> None:
    """Unsupported operators, policy variables and malformed statements raise instead of guessing."""
    with pytest.raises(UnsupportedPolicyError):
        evaluate(allow(**statement), "s3:GetObject", "arn:aws:s3:::b/k", {"k": "1", "multi": ["1"]})


def test_for_all_values_needs_every_value_of_the_request_to_match() -> None:
    """ForAllValues: each value of a multivalued key matches one of the policy's values (StringLike wildcards
    included); a missing or empty key holds vacuously, which a Null condition closes."""
    policy = allow(Action="*", Resource="*", Condition={"ForAllValues:StringLike": {"names": ["a.*", "b"]}})
    assert evaluate(policy, "s:a", "r", {"names": ["a.x", "b"]}) == "allow"
    assert evaluate(policy, "s:a", "r", {"Names": ("a.y",)}) == "allow"
    assert evaluate(policy, "s:a", "r", {"names": ["a.x", "c"]}) == "implicit-deny"
    assert evaluate(policy, "s:a", "r", {"names": "c"}) == "implicit-deny"
    assert evaluate(policy, "s:a", "r", {}) == "allow"
    assert evaluate(policy, "s:a", "r", {"names": []}) == "allow"
    guarded = allow(
        Action="*",
        Resource="*",
        Condition={"ForAllValues:StringLike": {"names": ["a.*"]}, "Null": {"names": "false"}},
    )
    assert evaluate(guarded, "s:a", "r", {"names": ["a.x"]}) == "allow"
    assert evaluate(guarded, "s:a", "r", {}) == "implicit-deny"
    assert evaluate(guarded, "s:a", "r", {"names": []}) == "implicit-deny"


def test_for_any_value_needs_one_value_of_the_request_to_match() -> None:
    """ForAnyValue: one value of the key matches; a missing key does not."""
    policy = allow(Action="*", Resource="*", Condition={"ForAnyValue:StringEquals": {"types": "TXT"}})
    assert evaluate(policy, "s:a", "r", {"types": ["A", "TXT"]}) == "allow"
    assert evaluate(policy, "s:a", "r", {"types": ["A", "CNAME"]}) == "implicit-deny"
    assert evaluate(policy, "s:a", "r", {}) == "implicit-deny"
