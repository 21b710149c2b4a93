"""AWS as the component tests see it: the account, region and OIDC provider of the tests, the resource type
tokens, mocks that answer with the names and ARNs AWS would return, and the S3 and Route 53 actions IAM knows.

Shared by the backup storage, media and cert-manager DNS-01 role tests, whose policies the IAM evaluator
(offline/iam.py) judges.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pulumi.runtime.mocks import MockResourceArgs

from offline.mocks import RecordedResource, RecordingMocks
from offline.render import masked, normalized
from policies.common import StackResource

ACCOUNT = "444455556666"
REGION = "eu-west-1"
ISSUER = f"oidc.eks.{REGION}.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
OIDC_PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER}"
SHARED_KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"
SUB = f"{ISSUER}:sub"
AUD = f"{ISSUER}:aud"

BUCKET = "aws:s3/bucket:Bucket"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
OBJECT_LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
KEY = "aws:kms/key:Key"
ALIAS = "aws:kms/alias:Alias"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
BUCKET_TYPES = {BUCKET, PUBLIC_ACCESS_BLOCK, OWNERSHIP, VERSIONING, ENCRYPTION, BUCKET_POLICY, LIFECYCLE}


class AwsMocks(RecordingMocks):
    """RecordingMocks plus what AWS returns and the policies need: bucket names, key and role ARNs."""

    def _outputs(self, args: MockResourceArgs) -> dict[str, Any]:
        outputs = super()._outputs(args)
        if args.typ == BUCKET:
            outputs["bucket"] = outputs["bucketPrefix"] + "20260801000000000000000001"
            outputs["arn"] = f"arn:aws:s3:::{outputs['bucket']}"
        elif args.typ == KEY:
            outputs["keyId"] = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
            outputs["arn"] = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{outputs['keyId']}"
        elif args.typ == ROLE:
            outputs["arn"] = f"arn:aws:iam::{ACCOUNT}:role/{outputs['name']}"
        return outputs

    @staticmethod
    def _resource_id(args: MockResourceArgs, outputs: dict[str, Any]) -> str:
        if args.typ == BUCKET:
            return str(outputs["bucket"])
        if args.typ == KEY:
            return str(outputs["keyId"])
        return f"{args.name}-id"


# Actions of the S3 service authorization reference (object- and bucket-level).
S3_ACTIONS = [
    "AbortMultipartUpload",
    "BypassGovernanceRetention",
    "CreateBucket",
    "DeleteBucket",
    "DeleteBucketOwnershipControls",
    "DeleteBucketPolicy",
    "DeleteBucketWebsite",
    "DeleteObject",
    "DeleteObjectTagging",
    "DeleteObjectVersion",
    "DeleteObjectVersionTagging",
    "GetBucketAcl",
    "GetBucketLocation",
    "GetBucketPolicy",
    "GetBucketVersioning",
    "GetEncryptionConfiguration",
    "GetLifecycleConfiguration",
    "GetObject",
    "GetObjectAcl",
    "GetObjectAttributes",
    "GetObjectLegalHold",
    "GetObjectRetention",
    "GetObjectTagging",
    "GetObjectVersion",
    "GetObjectVersionAcl",
    "GetObjectVersionTagging",
    "InitiateReplication",
    "ListBucket",
    "ListBucketMultipartUploads",
    "ListBucketVersions",
    "ListMultipartUploadParts",
    "ObjectOwnerOverrideToBucketOwner",
    "PutBucketAcl",
    "PutBucketCORS",
    "PutBucketLogging",
    "PutBucketNotification",
    "PutBucketObjectLockConfiguration",
    "PutBucketOwnershipControls",
    "PutBucketPolicy",
    "PutBucketPublicAccessBlock",
    "PutBucketTagging",
    "PutBucketVersioning",
    "PutBucketWebsite",
    "PutEncryptionConfiguration",
    "PutLifecycleConfiguration",
    "PutObject",
    "PutObjectAcl",
    "PutObjectLegalHold",
    "PutObjectRetention",
    "PutObjectTagging",
    "PutObjectVersionAcl",
    "PutObjectVersionTagging",
    "PutReplicationConfiguration",
    "ReplicateDelete",
    "ReplicateObject",
    "ReplicateTags",
    "RestoreObject",
]


def stack_resources(resources: Iterable[RecordedResource]) -> list[StackResource]:
    """Declared AWS resources as a stack policy sees them (offline/check.py hands the pack the same)."""
    return [
        StackResource(
            type=resource.type,
            name=resource.name,
            urn=resource.urn,
            props=normalized(masked(resource.inputs)),
            dependencies=frozenset(resource.dependencies),
        )
        for resource in resources
        if resource.type.startswith("aws:")
    ]


# Actions of the Route 53 service authorization reference (hosted zones, records, health checks, traffic policies,
# DNSSEC, CIDR collections, query logging, delegation sets).
ROUTE53_ACTIONS = [
    "ActivateKeySigningKey",
    "AssociateVPCWithHostedZone",
    "ChangeCidrCollection",
    "ChangeResourceRecordSets",
    "ChangeTagsForResource",
    "CreateCidrCollection",
    "CreateHealthCheck",
    "CreateHostedZone",
    "CreateKeySigningKey",
    "CreateQueryLoggingConfig",
    "CreateReusableDelegationSet",
    "CreateTrafficPolicy",
    "CreateTrafficPolicyInstance",
    "CreateTrafficPolicyVersion",
    "CreateVPCAssociationAuthorization",
    "DeactivateKeySigningKey",
    "DeleteCidrCollection",
    "DeleteHealthCheck",
    "DeleteHostedZone",
    "DeleteKeySigningKey",
    "DeleteQueryLoggingConfig",
    "DeleteReusableDelegationSet",
    "DeleteTrafficPolicy",
    "DeleteTrafficPolicyInstance",
    "DeleteVPCAssociationAuthorization",
    "DisableHostedZoneDNSSEC",
    "DisassociateVPCFromHostedZone",
    "EnableHostedZoneDNSSEC",
    "GetAccountLimit",
    "GetChange",
    "GetCheckerIpRanges",
    "GetDNSSEC",
    "GetGeoLocation",
    "GetHealthCheck",
    "GetHealthCheckCount",
    "GetHealthCheckLastFailureReason",
    "GetHealthCheckStatus",
    "GetHostedZone",
    "GetHostedZoneCount",
    "GetHostedZoneLimit",
    "GetQueryLoggingConfig",
    "GetReusableDelegationSet",
    "GetReusableDelegationSetLimit",
    "GetTrafficPolicy",
    "GetTrafficPolicyInstance",
    "GetTrafficPolicyInstanceCount",
    "ListCidrBlocks",
    "ListCidrCollections",
    "ListCidrLocations",
    "ListGeoLocations",
    "ListHealthChecks",
    "ListHostedZones",
    "ListHostedZonesByName",
    "ListHostedZonesByVPC",
    "ListQueryLoggingConfigs",
    "ListResourceRecordSets",
    "ListReusableDelegationSets",
    "ListTagsForResource",
    "ListTagsForResources",
    "ListTrafficPolicies",
    "ListTrafficPolicyInstances",
    "ListTrafficPolicyInstancesByHostedZone",
    "ListTrafficPolicyInstancesByPolicy",
    "ListTrafficPolicyVersions",
    "ListVPCAssociationAuthorizations",
    "TestDNSAnswer",
    "UpdateHealthCheck",
    "UpdateHostedZoneComment",
    "UpdateTrafficPolicyComment",
    "UpdateTrafficPolicyInstance",
]
