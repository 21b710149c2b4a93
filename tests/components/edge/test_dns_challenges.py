"""cert-manager's Route53 role for DNS-01: it may write challenge TXT records under the tenant domain in one hosted
zone, read that zone's records and follow its changes, nothing else; only cert-manager's controller may assume it.

The component is built on its own under recording mocks (with the ARNs AWS would return); its documents are judged
by the IAM evaluator (offline/iam.py), with Route53's record set condition keys as a change batch carries them
(every change's type and normalized name).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import pytest

from components.edge.dns_challenges import (
    RECORD_NAMES_KEY,
    RECORD_TYPES_KEY,
    DnsChallengeRole,
    DnsChallengeRoleArgs,
    access_policy,
    trust_policy,
)
from components.platform.providers import aws_options, aws_provider
from offline.iam import ContextValue, evaluate
from stacks.model import DnsChallengeSettings
from tests.support.aws import (
    ACCOUNT,
    AUD,
    ISSUER,
    OIDC_PROVIDER_ARN,
    REGION,
    ROLE,
    ROLE_POLICY,
    ROUTE53_ACTIONS,
    SUB,
    AwsMocks,
)
from tests.support.components import Declared, declare

pytestmark = pytest.mark.filterwarnings("ignore:.*has been deprecated in favor of.*:DeprecationWarning")

ZONE_ID = "Z0123456789ABCDEFGHIJ"
TENANTS = "tenants.example.com"
SETTINGS = DnsChallengeSettings(hosted_zone_id=ZONE_ID, zone=TENANTS, region=REGION)
ZONE = f"arn:aws:route53:::hostedzone/{ZONE_ID}"
OTHER_ZONE = "arn:aws:route53:::hostedzone/Z9999999999OTHERZONE"
CHANGE = "arn:aws:route53:::change/C2682N5HXP0BZ4"


def arguments(**changes: Any) -> DnsChallengeRoleArgs:
    fields: dict[str, Any] = {
        "stack": "staging",
        "settings": SETTINGS,
        "oidc_provider_arn": OIDC_PROVIDER_ARN,
        "oidc_issuer": ISSUER,
        "tags": {"environment": "staging"},
    }
    return DnsChallengeRoleArgs(**{**fields, **changes})


@functools.cache
def declared() -> Declared[DnsChallengeRole]:
    """The role built through the stack's explicit AWS provider, as __main__ builds it."""
    return declare(
        lambda: DnsChallengeRole("cert-manager-dns01", arguments(), aws_options(aws_provider(REGION, "staging"))),
        stack="staging",
        mocks=AwsMocks(),
    )


def document(pulumi_type: str, field: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(declared().one(pulumi_type)[field])
    return parsed


def change(types: list[str], names: list[str]) -> dict[str, ContextValue]:
    """The record set keys of a ChangeResourceRecordSets batch: each change's type and normalized name."""
    return {RECORD_TYPES_KEY: types, RECORD_NAMES_KEY: names}


CHALLENGE = change(["TXT"], [f"_acme-challenge.{TENANTS}"])


def test_the_role_and_its_policy_are_all_it_declares_through_the_explicit_provider() -> None:
    """One role named after the stack, one inline policy; both through the stack's AWS provider; the role's ARN
    is the component's output."""
    run = declared()
    [component] = run.of_type("crm:edge:DnsChallengeRole")
    children = [resource for resource in run.resources if resource.parent == component.urn]
    assert sorted(resource.type for resource in children) == sorted([ROLE, ROLE_POLICY])
    [provider] = run.of_type("pulumi:providers:aws")
    assert all(resource.provider == provider.urn for resource in children)
    assert run.one(ROLE)["name"] == "crm-staging-cert-manager-dns01"
    assert run.output(run.component.role_arn) == f"arn:aws:iam::{ACCOUNT}:role/crm-staging-cert-manager-dns01"


def test_the_declared_documents_are_the_ones_the_pure_functions_build() -> None:
    assert document(ROLE_POLICY, "policy") == access_policy(ZONE_ID, TENANTS)
    assert document(ROLE, "assumeRolePolicy") == trust_policy(OIDC_PROVIDER_ARN, ISSUER)


# --- what the role may do -------------------------------------------------------------------------------------


def test_of_every_route53_action_only_the_challenge_write_the_zone_read_and_the_change_poll_are_allowed() -> None:
    """Every action of Route 53 on the zone, another zone, a change and `*`, with a challenge batch's keys: exactly
    ChangeResourceRecordSets and ListResourceRecordSets on the zone and GetChange on a change. No
    ListHostedZonesByName: the issuers name the zone, so cert-manager never looks it up."""
    policy = document(ROLE_POLICY, "policy")
    allowed = {
        (action, resource)
        for action in (f"route53:{name}" for name in ROUTE53_ACTIONS)
        for resource in (ZONE, OTHER_ZONE, CHANGE, "*")
        if evaluate(policy, action, resource, CHALLENGE) == "allow"
    }
    assert allowed == {
        ("route53:ChangeResourceRecordSets", ZONE),
        ("route53:ListResourceRecordSets", ZONE),
        ("route53:GetChange", CHANGE),
    }


@pytest.mark.parametrize(
    "context",
    [
        CHALLENGE,
        change(["TXT"], [f"_acme-challenge.pr-7.{TENANTS}"]),
        change(["TXT", "TXT"], [f"_acme-challenge.{TENANTS}", f"_acme-challenge.pr-12.{TENANTS}"]),
    ],
    ids=["tenant-domain", "review-stack", "batch-of-two"],
)
def test_challenge_txt_records_under_the_tenant_domain_may_be_written(context: dict[str, ContextValue]) -> None:
    """The tenant wildcard's and a review stack's challenge records (UPSERT and DELETE alike: the keys are the same)."""
    assert evaluate(document(ROLE_POLICY, "policy"), "route53:ChangeResourceRecordSets", ZONE, context) == "allow"


@pytest.mark.parametrize(
    "context",
    [
        change(["A"], [f"acme.{TENANTS}"]),
        change(["A"], [f"_acme-challenge.{TENANTS}"]),
        change(["CNAME"], [f"_acme-challenge.{TENANTS}"]),
        change(["TXT"], [f"www.{TENANTS}"]),
        change(["TXT"], [TENANTS]),
        change(["TXT"], ["_acme-challenge.www.example.com"]),
        change(["TXT"], ["_acme-challenge.example.com"]),
        change(["TXT"], [f"_acme-challenge.x.{TENANTS}.evil.org"]),
        change(["TXT"], [f"_acme-challengex.{TENANTS}"]),
        change(["TXT", "A"], [f"_acme-challenge.{TENANTS}", f"acme.{TENANTS}"]),
        change(["TXT", "TXT"], [f"_acme-challenge.{TENANTS}", "_dmarc.example.com"]),
        {},
        {RECORD_TYPES_KEY: ["TXT"]},
        {RECORD_NAMES_KEY: [f"_acme-challenge.{TENANTS}"]},
    ],
    ids=[
        "a-record",
        "a-record-under-the-challenge-name",
        "cname-under-the-challenge-name",
        "txt-not-a-challenge",
        "txt-at-the-tenant-domain",
        "challenge-of-another-domain",
        "challenge-of-the-parent-domain",
        "challenge-under-a-lookalike-suffix",
        "challenge-lookalike-label",
        "batch-with-an-a-record",
        "batch-with-another-name",
        "no-record-keys",
        "no-record-names",
        "no-record-types",
    ],
)
def test_any_other_record_change_is_refused(context: dict[str, ContextValue]) -> None:
    """Another type, another name (a lookalike, a parent domain, another domain), a batch with one change outside
    the challenges, or a request without the record set keys."""
    decision = evaluate(document(ROLE_POLICY, "policy"), "route53:ChangeResourceRecordSets", ZONE, context)
    assert decision == "implicit-deny"


def test_challenges_may_not_be_written_or_read_in_another_zone() -> None:
    policy = document(ROLE_POLICY, "policy")
    for action in ("route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"):
        assert evaluate(policy, action, OTHER_ZONE, CHALLENGE) == "implicit-deny", action


@pytest.mark.parametrize(
    "action", ["iam:PassRole", "iam:CreateAccessKey", "sts:AssumeRole", "s3:GetObject", "kms:Decrypt", "ec2:*"]
)
def test_the_role_gets_nothing_outside_route53(action: str) -> None:
    assert evaluate(document(ROLE_POLICY, "policy"), action, "*", CHALLENGE) == "implicit-deny"


# --- who may assume it ----------------------------------------------------------------------------------------


def token(
    account: str = "cert-manager", namespace: str = "cert-manager", audience: str = "sts.amazonaws.com"
) -> dict[str, ContextValue]:
    return {SUB: f"system:serviceaccount:{namespace}:{account}", AUD: audience}


def test_cert_managers_controller_may_assume_the_role() -> None:
    """The chart's controller ServiceAccount (cert-manager/cert-manager), its token for STS, through the cluster's
    OIDC provider."""
    trust = document(ROLE, "assumeRolePolicy")
    assert evaluate(trust, "sts:AssumeRoleWithWebIdentity", "*", token(), OIDC_PROVIDER_ARN) == "allow"


@pytest.mark.parametrize(
    "context",
    [
        token("cert-manager-cainjector"),
        token("cert-manager-webhook"),
        token("cert-manager-api-check"),
        token("default"),
        token(namespace="crm-staging"),
        token("crm-web", namespace="crm-staging"),
        token("*"),
        token(audience="https://kubernetes.default.svc"),
        {SUB: "system:serviceaccount:cert-manager:cert-manager"},
        {AUD: "sts.amazonaws.com"},
    ],
    ids=[
        "cainjector",
        "webhook",
        "api-check",
        "default",
        "same-name-in-an-app-namespace",
        "web",
        "wildcard",
        "api-audience",
        "no-audience",
        "no-subject",
    ],
)
def test_no_other_token_may_assume_the_role(context: dict[str, ContextValue]) -> None:
    """cert-manager's other components, its check, any app account, the same name elsewhere, another audience, a
    token lacking a claim: refused."""
    trust = document(ROLE, "assumeRolePolicy")
    assert evaluate(trust, "sts:AssumeRoleWithWebIdentity", "*", context, OIDC_PROVIDER_ARN) != "allow"


def test_only_the_clusters_provider_and_only_web_identity_are_trusted() -> None:
    trust = document(ROLE, "assumeRolePolicy")
    other = f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.{REGION}.amazonaws.com/id/OTHER"
    assert evaluate(trust, "sts:AssumeRoleWithWebIdentity", "*", token(), other) != "allow"
    assert evaluate(trust, "sts:AssumeRole", "*", token(), f"arn:aws:iam::{ACCOUNT}:root") != "allow"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"settings": DnsChallengeSettings("/hostedzone/Z01", TENANTS, REGION)},
            "settings.hosted_zone_id '/hostedzone/Z01' is not a Route53 hosted zone ID (Z...)",
        ),
        ({"oidc_provider_arn": "arn:aws:iam::1:role/x"}, "oidc_provider_arn 'arn:aws:iam::1:role/x' is not"),
        ({"oidc_issuer": "oidc.example.com/id/OTHER"}, "oidc_issuer 'oidc.example.com/id/OTHER' is not the issuer"),
    ],
)
def test_arguments_that_cannot_make_the_role_are_refused_naming_the_field(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match="^DnsChallengeRoleArgs: .*" + re.escape(message)):
        arguments(**changes)
