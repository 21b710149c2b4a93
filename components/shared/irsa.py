"""IRSA (IAM roles for ServiceAccounts): who may assume a workload's IAM role, and how its pods present themselves.

A role trusts the cluster's IAM OIDC provider for exactly the named ServiceAccounts' tokens with the STS
audience (`web_identity_trust_policy`). Their pods get that token as a projected volume and the variables
the AWS SDKs read to exchange it for the role's credentials (`token_volume`, `token_mount`,
`web_identity_environment`); the ServiceAccount carries the role's ARN in the annotation the EKS pod
identity webhook reads. The platform sets all of it itself, so it works with or without that webhook, and
no pod ever holds a static AWS key. The backup pods, the media services and cert-manager's controller (DNS-01
through Route53, where its values take the pieces in Helm's spelling) use the same pieces.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

POLICY_VERSION = "2012-10-17"
"""The IAM policy language version of every document the platform writes."""
WEB_IDENTITY_AUDIENCE = "sts.amazonaws.com"
"""The `aud` of the projected ServiceAccount token the pods present to STS (and the EKS pod identity webhook mounts)."""
ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
"""The ServiceAccount annotation naming the role its pods assume (read by the EKS pod identity webhook)."""
TOKEN_DIR = "/var/run/secrets/eks.amazonaws.com/serviceaccount"
"""Where the EKS pod identity webhook would mount the token; set here explicitly so it works without it."""
TOKEN_FILE = f"{TOKEN_DIR}/token"
TOKEN_VOLUME = "aws-token"
TOKEN_EXPIRATION_SECONDS = 86400
"""The kubelet renews the token at 80 % of its life; the SDKs re-read the file when credentials expire."""

KUBERNETES_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
OIDC_PROVIDER_ARN = re.compile(r"^arn:(?P<partition>[a-z-]+):iam::(?P<account>\d{12}):oidc-provider/(?P<issuer>.+)$")


def oidc_problem(oidc_provider_arn: str, oidc_issuer: str) -> str | None:
    """Why the provider ARN and issuer cannot identify the cluster's ServiceAccounts to IAM, or None."""
    match = OIDC_PROVIDER_ARN.match(oidc_provider_arn)
    if match is None:
        return (
            f"oidc_provider_arn {oidc_provider_arn!r} is not an IAM OIDC provider ARN "
            "(arn:aws:iam::<account>:oidc-provider/<issuer>)"
        )
    if match["issuer"] != oidc_issuer:
        return (
            f"oidc_issuer {oidc_issuer!r} is not the issuer of oidc_provider_arn ({match['issuer']!r}); "
            "pass AwsSettings.oidc_issuer"
        )
    return None


def account_root(oidc_provider_arn: str) -> str:
    """The root principal of the account (and partition) the OIDC provider, and so the role, lives in."""
    match = OIDC_PROVIDER_ARN.match(oidc_provider_arn)
    if match is None:
        raise ValueError(f"{oidc_provider_arn!r} is not an IAM OIDC provider ARN")
    return f"arn:{match['partition']}:iam::{match['account']}:root"


def service_account_subjects(namespace: str, accounts: Sequence[str]) -> list[str]:
    """The `sub` claims of the ServiceAccounts' tokens, as the cluster's OIDC issuer writes them."""
    return [f"system:serviceaccount:{namespace}:{account}" for account in accounts]


def web_identity_trust_policy(
    sid: str, oidc_provider_arn: str, oidc_issuer: str, namespace: str, accounts: Sequence[str]
) -> dict[str, Any]:
    """Who may assume a role: exactly these ServiceAccounts' tokens for STS, through the cluster's OIDC provider."""
    subjects = service_account_subjects(namespace, accounts)
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": sid,
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


def token_volume() -> k8s.core.v1.VolumeArgsDict:
    """The projected ServiceAccount token for STS: the one token these pods carry (no API token is mounted)."""
    return {
        "name": TOKEN_VOLUME,
        "projected": {
            "sources": [
                {
                    "service_account_token": {
                        "audience": WEB_IDENTITY_AUDIENCE,
                        "expiration_seconds": TOKEN_EXPIRATION_SECONDS,
                        "path": "token",
                    }
                }
            ]
        },
    }


def token_mount() -> k8s.core.v1.VolumeMountArgsDict:
    return {"name": TOKEN_VOLUME, "mount_path": TOKEN_DIR, "read_only": True}


def web_identity_environment(role_arn: pulumi.Input[str], region: str) -> dict[str, pulumi.Input[str]]:
    """What the AWS SDKs (boto3, the aws CLI) read to assume `role_arn` with the projected token, against STS in
    `region` (not the global endpoint in us-east-1).

    All four names, because the EKS pod identity webhook leaves a container alone only when it already has the
    role, the token file, a region and AWS_STS_REGIONAL_ENDPOINTS; otherwise it adds its own token mount at the
    path of ours, and the API server refuses the pod for the duplicate mount path."""
    return {
        "AWS_ROLE_ARN": role_arn,
        "AWS_WEB_IDENTITY_TOKEN_FILE": TOKEN_FILE,
        "AWS_REGION": region,
        "AWS_STS_REGIONAL_ENDPOINTS": "regional",
    }


def workload_role(
    name: str,
    *,
    role_name: str,
    description: str,
    trust_policy: Mapping[str, Any],
    access_name: str,
    access_policy: pulumi.Input[str],
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.iam.Role:
    """The IAM role `role_name` that `trust_policy` lets assume, with one inline policy `access_name` holding what
    it may do: `<name>-role` and `<name>-role-access`, the shape of every workload role the platform makes."""
    role = aws.iam.Role(
        f"{name}-role",
        name=role_name,
        description=description,
        assume_role_policy=json.dumps(trust_policy, sort_keys=True),
        tags=dict(tags),
        opts=opts,
    )
    aws.iam.RolePolicy(f"{name}-role-access", role=role.id, name=access_name, policy=access_policy, opts=opts)
    return role
