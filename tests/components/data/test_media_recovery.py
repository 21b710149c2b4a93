"""The media bucket's controls against an S3 endpoint (moto): uploads, overwrites and deletes keep every version,
and the runbook's own commands (docs/runbooks/media.md) bring a deleted or overwritten upload back.

The bucket gets exactly the configuration the component declares (versioning, ownership, public access block,
SSE-KMS default with the stack's key, lifecycle), converted to the S3 API's shapes and checked by botocore against
the S3 model before moto stores it. The application's side is boto3 as django-storages calls it; the operator's
side is each marked step of the runbook, run as written by bash with the aws CLI.

Not the bucket policy: moto judges a bucket policy's conditions without the request's context (no
aws:SecureTransport, no encryption headers), so a condition-guarded Deny refuses every request there.
tests/components/data/test_media.py judges the TLS-only and encryption statements with the IAM evaluator instead.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from offline.program import PROJECT_DIR
from offline.render import normalized
from tests.components.data.test_media import declared
from tests.support.aws import ENCRYPTION, LIFECYCLE, OWNERSHIP, PUBLIC_ACCESS_BLOCK, VERSIONING
from tests.support.backup_harness import REGION, MotoS3
from tests.support.tools import unavailable

RUNBOOK = PROJECT_DIR / "docs" / "runbooks" / "media.md"
BUCKET = f"crm-production-media-{uuid.uuid4().hex[:26]}"
"""Unique: moto keeps its buckets per process, and other modules of the session make buckets of their own."""
KEY = "media/invoices/2026/08/invoice-1042.pdf"
ORIGINAL = b"%PDF-1.7 invoice 1042, as the customer uploaded it"
REPLACEMENT = b"%PDF-1.7 invoice 1042, overwritten by a faulty task"

pytestmark = pytest.mark.filterwarnings("ignore:.*has been deprecated in favor of.*:DeprecationWarning")


def runbook_steps() -> dict[str, str]:
    """Each `<!-- runbook-step: name -->` of the runbook and the shell block that follows it, as written."""
    text = RUNBOOK.read_text(encoding="utf-8")
    steps = {}
    for match in re.finditer(
        r"<!-- runbook-step: ([a-z-]+) -->\n(?P<indent> *)```sh\n(?P<body>.*?)\n(?P=indent)```", text, re.S
    ):
        steps[match[1]] = textwrap.dedent(match["body"])
    return steps


# --- the bucket, as declared --------------------------------------------------------------------------------


def s3_lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A declared lifecycle rule (the provider's camelCase inputs) in the S3 API's shape."""
    converted: dict[str, Any] = {"ID": rule["id"], "Status": rule["status"], "Filter": rule["filter"]}
    if "noncurrentVersionExpiration" in rule:
        converted["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": rule["noncurrentVersionExpiration"]["noncurrentDays"]
        }
    if "expiration" in rule:
        converted["Expiration"] = {"ExpiredObjectDeleteMarker": rule["expiration"]["expiredObjectDeleteMarker"]}
    if "abortIncompleteMultipartUpload" in rule:
        converted["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": rule["abortIncompleteMultipartUpload"]["daysAfterInitiation"]
        }
    unconverted = set(rule) - {"id", "status", "filter", "noncurrentVersionExpiration", "expiration"}
    assert unconverted <= {"abortIncompleteMultipartUpload"}, f"convert {unconverted} too"
    return converted


@pytest.fixture(scope="module")
def s3() -> Iterator[tuple[MotoS3, str]]:
    """moto's S3 and KMS with the media bucket configured as the component declares it; (moto, the key's ARN)."""
    if importlib.util.find_spec("moto") is None:
        unavailable("moto[server] is missing: pip install -r requirements-dev.txt")
    server = MotoS3()
    server.start()
    try:
        client = server.client("s3")
        key_arn = str(server.client("kms").describe_key(KeyId=server.kms_key_id)["KeyMetadata"]["Arn"])
        run = declared("bucket")

        def inputs(pulumi_type: str) -> dict[str, Any]:
            """The declared inputs as the render writes them (the wire sends every number as a float)."""
            document: dict[str, Any] = normalized(run.one(pulumi_type))
            return document

        server.create_bucket(BUCKET)
        block = inputs(PUBLIC_ACCESS_BLOCK)
        client.put_public_access_block(
            Bucket=BUCKET,
            PublicAccessBlockConfiguration={
                name[0].upper() + name[1:]: block[name]
                for name in ("blockPublicAcls", "ignorePublicAcls", "blockPublicPolicy", "restrictPublicBuckets")
            },
        )
        ownership = inputs(OWNERSHIP)["rule"]["objectOwnership"]
        client.put_bucket_ownership_controls(
            Bucket=BUCKET, OwnershipControls={"Rules": [{"ObjectOwnership": ownership}]}
        )
        status = inputs(VERSIONING)["versioningConfiguration"]["status"]
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": status})
        [rule] = inputs(ENCRYPTION)["rules"]
        client.put_bucket_encryption(
            Bucket=BUCKET,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        # moto's key stands in for the stack's: the declared rule names the mock's ARN.
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"],
                            "KMSMasterKeyID": key_arn,
                        },
                        "BucketKeyEnabled": rule["bucketKeyEnabled"],
                        "BlockedEncryptionTypes": {"EncryptionType": rule["blockedEncryptionTypes"]},
                    }
                ]
            },
        )
        client.put_bucket_lifecycle_configuration(
            Bucket=BUCKET,
            LifecycleConfiguration={"Rules": [s3_lifecycle_rule(rule) for rule in inputs(LIFECYCLE)["rules"]]},
        )
        yield server, key_arn
    finally:
        server.stop()


def aws_cli() -> Path:
    cli = Path(sys.executable).parent / "aws"
    if not cli.is_file():
        unavailable(f"the aws CLI is missing from {cli.parent}: pip install -r requirements-dev.txt")
    return cli


def run_step(moto: MotoS3, step: str, tmp_path: Path) -> str:
    """One runbook step, as written, in bash with the aws CLI pointed at moto and BUCKET and KEY set."""
    script = runbook_steps()[step]
    environment = {
        "PATH": f"{aws_cli().parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "BUCKET": BUCKET,
        "KEY": KEY,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": moto.url,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"runbook step {step} failed: {result.stderr}"
    return result.stdout


def versions(client: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(versions, delete markers) of KEY, newest first."""
    listing = client.list_object_versions(Bucket=BUCKET, Prefix=KEY)
    return listing.get("Versions", []), listing.get("DeleteMarkers", [])


def content(client: Any) -> bytes:
    body: bytes = client.get_object(Bucket=BUCKET, Key=KEY)["Body"].read()
    return body


# --- the tests ---------------------------------------------------------------------------------------------------


def test_the_runbook_marks_each_step_this_module_runs() -> None:
    """Every marked step exists, and no marked step goes untested."""
    assert set(runbook_steps()) == {"list", "restore-deleted", "restore-overwritten", "check"}


def test_s3_accepts_the_declared_configuration_and_keeps_it(s3: tuple[MotoS3, str]) -> None:
    """botocore validates each call against the S3 model; the bucket then reports versioning, SSE-KMS with the
    key and a bucket key, every lifecycle rule, the public access block and owner-enforced ownership."""
    moto, key_arn = s3
    client = moto.client("s3")
    assert client.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    [rule] = client.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}
    assert rule["BucketKeyEnabled"] is True
    rules = client.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert [(rule["ID"], rule["Status"]) for rule in rules] == [
        ("expire-noncurrent-versions", "Enabled"),
        ("remove-expired-delete-markers", "Enabled"),
        ("abort-incomplete-multipart-uploads", "Enabled"),
    ]
    assert not any("Days" in rule.get("Expiration", {}) or "Date" in rule.get("Expiration", {}) for rule in rules)
    block = client.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    ownership = client.get_bucket_ownership_controls(Bucket=BUCKET)["OwnershipControls"]["Rules"]
    assert ownership == [{"ObjectOwnership": "BucketOwnerEnforced"}]


def test_an_overwritten_then_deleted_upload_comes_back_by_the_runbook(s3: tuple[MotoS3, str], tmp_path: Path) -> None:
    """Upload (encrypted with the bucket's key by default), overwrite, and the previous content is a noncurrent
    version the runbook copies back; delete, and the runbook's removal of the delete marker brings it back."""
    moto, key_arn = s3
    client = moto.client("s3")

    # The application, as django-storages saves a file: no encryption headers, the bucket's default applies.
    client.put_object(Bucket=BUCKET, Key=KEY, Body=ORIGINAL, ContentType="application/pdf")
    head = client.head_object(Bucket=BUCKET, Key=KEY)
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", key_arn)
    original_version = head["VersionId"]

    client.put_object(Bucket=BUCKET, Key=KEY, Body=REPLACEMENT, ContentType="application/pdf")
    assert content(client) == REPLACEMENT
    kept, _markers = versions(client)
    assert [version["VersionId"] for version in kept][1] == original_version

    listed = json.loads(run_step(moto, "list", tmp_path))
    assert [row[0] for row in listed["versions"]] == [version["VersionId"] for version in kept]
    assert not listed["deleteMarkers"]  # null: S3 leaves DeleteMarkers out when there is none

    run_step(moto, "restore-overwritten", tmp_path)
    assert content(client) == ORIGINAL
    restored, _markers = versions(client)
    assert len(restored) == 3 and restored[0]["IsLatest"]

    # The application deletes the upload: a delete marker hides it, nothing is destroyed.
    client.delete_object(Bucket=BUCKET, Key=KEY)
    with pytest.raises(client.exceptions.NoSuchKey):
        client.get_object(Bucket=BUCKET, Key=KEY)
    _kept, markers = versions(client)
    assert len(markers) == 1 and markers[0]["IsLatest"]
    assert [row[0] for row in json.loads(run_step(moto, "list", tmp_path))["deleteMarkers"]] == [
        markers[0]["VersionId"]
    ]

    run_step(moto, "restore-deleted", tmp_path)
    assert content(client) == ORIGINAL
    _kept, markers = versions(client)
    assert markers == []

    checked = json.loads(run_step(moto, "check", tmp_path))
    assert checked["size"] == len(ORIGINAL)
    assert (checked["encryption"], checked["key"]) == ("aws:kms", key_arn)
    assert checked["version"] == restored[0]["VersionId"]


def test_overwrites_and_deletes_leave_every_version_in_place(s3: tuple[MotoS3, str]) -> None:
    """What the lifecycle rule later expires is kept until then: each write is a version, a delete only a marker."""
    moto, _key_arn = s3
    client = moto.client("s3")
    key = "media/avatars/42.png"
    for body in (b"first", b"second", b"third"):
        client.put_object(Bucket=BUCKET, Key=key, Body=body)
    client.delete_object(Bucket=BUCKET, Key=key)
    listing = client.list_object_versions(Bucket=BUCKET, Prefix=key)
    bodies = [
        client.get_object(Bucket=BUCKET, Key=key, VersionId=version["VersionId"])["Body"].read()
        for version in listing["Versions"]
    ]
    assert bodies == [b"third", b"second", b"first"]
    assert [marker["IsLatest"] for marker in listing["DeleteMarkers"]] == [True]


def test_the_steps_need_no_shell_features_beyond_bash(tmp_path: Path) -> None:
    """The marked steps parse in bash -n (a runbook edit that breaks the quoting fails here, before an incident)."""
    for name, script in runbook_steps().items():
        result = subprocess.run(
            ["bash", "-n", "-c", script], capture_output=True, text=True, timeout=30, check=False, env=dict(os.environ)
        )
        assert result.returncode == 0, (name, result.stderr)
