"""DnsChallengeRole: cert-manager's IAM role for DNS-01 challenges in one Route53 hosted zone.

A wildcard certificate can only be proved by DNS-01 (HTTP-01 cannot prove a wildcard): the ACME server asks for
a TXT record at `_acme-challenge.<domain>`. The stack that installs the cluster add-ons makes, where its settings
name a tenant domain and its hosted zone, one IAM role that only cert-manager's controller ServiceAccount can
assume (IRSA: through the cluster's OIDC provider, components/shared/irsa.py), allowed exactly:

- route53:ChangeResourceRecordSets on that zone, for TXT records named `_acme-challenge.<tenant domain>` or
  `_acme-challenge.<anything>.<tenant domain>` (a review stack's pr-<n>.<tenant domain>) only, by the record
  set permissions Route53 evaluates on every change batch;
- route53:ListResourceRecordSets on that zone (reads its records; in cert-manager's documented policy);
- route53:GetChange on changes, which cert-manager polls until its record is in sync.

Nothing else: route53:ListHostedZonesByName, the last action of cert-manager's documented policy, is what its
Route53 solver calls to find the zone of a name, only when the issuer names no hostedZoneID
(pkg/issuer/acme/dns/route53/route53.go `getHostedZoneID`, v1.21.1; the docs: "can be removed if you specify
the hostedZoneID"); the platform's issuers always name it. The documents are pure functions of plain strings, so
tests evaluate them directly (offline/iam.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from components.edge.charts import CERT_MANAGER_NAMESPACE, CERT_MANAGER_SERVICE_ACCOUNT
from components.shared.irsa import POLICY_VERSION, oidc_problem, web_identity_trust_policy, workload_role
from components.shared.labels import with_component
from stacks.model import DnsChallengeSettings

CHALLENGE_LABEL = "_acme-challenge"
"""The label ACME's DNS-01 puts its TXT record under (RFC 8555 section 8.4)."""
CHALLENGE_RECORD_TYPE = "TXT"
RECORD_TYPES_KEY = "route53:ChangeResourceRecordSetsRecordTypes"
RECORD_NAMES_KEY = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
"""Route53's record set permissions: every change's type and name (lower case, no trailing dot) in a batch."""
CHANGE_ARN = "arn:aws:route53:::change/*"
_ZONE_ID = re.compile(r"Z[A-Z0-9]{1,31}")


def hosted_zone_arn(hosted_zone_id: str) -> str:
    return f"arn:aws:route53:::hostedzone/{hosted_zone_id}"


def challenge_record_names(zone: str) -> list[str]:
    """The names cert-manager writes challenges under in `zone`, as StringLike patterns: the zone's own (its
    wildcard and itself) and one more label or more down (review stacks' pr-<n>.<zone>)."""
    return [f"{CHALLENGE_LABEL}.{zone}", f"{CHALLENGE_LABEL}.*.{zone}"]


def role_name(stack: str) -> str:
    return f"crm-{stack}-cert-manager-dns01"


def trust_policy(oidc_provider_arn: str, oidc_issuer: str) -> dict[str, Any]:
    """Who may assume the role: cert-manager's controller ServiceAccount's tokens for STS, and nothing else."""
    return web_identity_trust_policy(
        "CertManagerController", oidc_provider_arn, oidc_issuer, CERT_MANAGER_NAMESPACE, (CERT_MANAGER_SERVICE_ACCOUNT,)
    )


def access_policy(hosted_zone_id: str, zone: str) -> dict[str, Any]:
    """What the role may do: write challenge TXT records under `zone` in the hosted zone, read its records, and
    follow its changes.

    The record set conditions are ForAllValues (every change of a batch must match), which also hold for a
    request that carries no such key: the Null conditions require both keys, so a change the conditions cannot
    see is refused (IAM User Guide, "Multivalued context keys")."""
    zone_arn = hosted_zone_arn(hosted_zone_id)
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "WriteChallengeRecords",
                "Effect": "Allow",
                "Action": "route53:ChangeResourceRecordSets",
                "Resource": zone_arn,
                "Condition": {
                    "ForAllValues:StringEquals": {RECORD_TYPES_KEY: [CHALLENGE_RECORD_TYPE]},
                    "ForAllValues:StringLike": {RECORD_NAMES_KEY: challenge_record_names(zone)},
                    "Null": {RECORD_TYPES_KEY: "false", RECORD_NAMES_KEY: "false"},
                },
            },
            {
                "Sid": "ReadZoneRecords",
                "Effect": "Allow",
                "Action": "route53:ListResourceRecordSets",
                "Resource": zone_arn,
            },
            {
                "Sid": "FollowChanges",
                "Effect": "Allow",
                "Action": "route53:GetChange",
                "Resource": CHANGE_ARN,
            },
        ],
    }


@dataclass(frozen=True)
class DnsChallengeRoleArgs:
    stack: str
    """Stack name; names the role."""
    settings: DnsChallengeSettings
    """The hosted zone and the tenant domain its challenges are for."""
    oidc_provider_arn: str
    """ARN of the cluster's IAM OIDC provider, the only principal the role trusts."""
    oidc_issuer: str
    """Issuer host/path as IAM condition keys spell it (AwsSettings.oidc_issuer)."""
    tags: Mapping[str, str]
    """Tags of the role, besides the provider's default tags."""

    def __post_init__(self) -> None:
        problems = [oidc_problem(self.oidc_provider_arn, self.oidc_issuer)]
        if not _ZONE_ID.fullmatch(self.settings.hosted_zone_id):
            problems.append(
                f"settings.hosted_zone_id {self.settings.hosted_zone_id!r} is not a Route53 hosted zone ID (Z...)"
            )
        found = [problem for problem in problems if problem is not None]
        if found:
            raise ValueError("DnsChallengeRoleArgs: " + "; ".join(found))


class DnsChallengeRole(pulumi.ComponentResource):
    """The IAM role cert-manager's controller assumes to answer DNS-01 challenges in one hosted zone."""

    role_arn: pulumi.Output[str]
    """Goes into cert-manager's ServiceAccount annotation and the controller's AWS_ROLE_ARN."""

    def __init__(self, name: str, args: DnsChallengeRoleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("crm:edge:DnsChallengeRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = with_component(args.tags, "edge")
        settings = args.settings
        role = workload_role(
            name,
            role_name=role_name(args.stack),
            description=(
                f"cert-manager's DNS-01 challenges for {settings.zone} in Route53 zone {settings.hosted_zone_id} "
                f"(crm-platform stack {args.stack})"
            ),
            trust_policy=trust_policy(args.oidc_provider_arn, args.oidc_issuer),
            access_name="route53-dns01-challenges",
            access_policy=json.dumps(access_policy(settings.hosted_zone_id, settings.zone), sort_keys=True),
            tags=tags,
            opts=child,
        )
        self.role_arn = role.arn
        self.register_outputs({"role_arn": self.role_arn})
