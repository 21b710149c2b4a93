"""Tenant settings: tenantDomain and dnsHostedZoneId give each environment its tenant hosts, their issuer and (for
the add-on owner) the DNS-01 issuers' zone; every bad value or missing partner stops the stack with one message
naming the key, the value and what is allowed."""

from __future__ import annotations

import pytest

from stacks.model import DnsChallengeSettings
from stacks.schema import PROJECT
from tests.stacks.test_settings import (
    environment_problems,
    environment_settings,
)

ZONE = "Z0123456789ABCDEFGHIJ"
STAGING_TENANTS = "tenants.staging.crm.example.com"


TENANTS = {"tenantDomain": STAGING_TENANTS, "dnsHostedZoneId": ZONE}


# --- what each environment gets --------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "staging", "production", "pr-7"])
def test_without_a_tenant_domain_there_are_no_tenant_hosts(stack: str) -> None:
    edge = environment_settings(stack).edge
    assert (edge.tenant_domain, edge.tenant_issuer, edge.dns_challenges, edge.tenant_hosts) == (None, None, None, ())
    described = environment_settings(stack).describe()
    assert (described["tenantHosts"], described["dnsChallenges"]) == ("(none)", "(none)")


@pytest.mark.parametrize(
    ("stack", "changes", "domain", "issuer", "challenges"),
    [
        (
            "staging",
            TENANTS,
            STAGING_TENANTS,
            "letsencrypt-staging-dns01",
            DnsChallengeSettings(ZONE, STAGING_TENANTS, "eu-west-1"),
        ),
        (
            "production",
            {"tenantDomain": "tenants.crm.example.com", "dnsHostedZoneId": ZONE},
            "tenants.crm.example.com",
            "letsencrypt-production-dns01",
            DnsChallengeSettings(ZONE, "tenants.crm.example.com", "eu-west-1"),
        ),
        ("pr-7", TENANTS, f"pr-7.{STAGING_TENANTS}", "letsencrypt-staging-dns01", None),
        ("dev", {"tenantDomain": "tenants.crm.localhost"}, "tenants.crm.localhost", "selfsigned", None),
        (
            "staging",
            {"tenantDomain": STAGING_TENANTS, "clusterAddons": "false"},
            STAGING_TENANTS,
            "letsencrypt-staging-dns01",
            None,
        ),
        (
            "staging",
            {**TENANTS, "tlsIssuer": "selfsigned"},
            STAGING_TENANTS,
            "selfsigned",
            DnsChallengeSettings(ZONE, STAGING_TENANTS, "eu-west-1"),
        ),
    ],
    ids=["staging", "production", "review", "dev", "staging-sharing-a-cluster", "staging-self-signed"],
)
def test_each_environment_gets_its_tenant_domain_issuer_and_challenges(
    stack: str, changes: dict[str, str], domain: str, issuer: str, challenges: DnsChallengeSettings | None
) -> None:
    """The add-on owner of an AWS environment makes the DNS-01 issuers for its tenant domain in the named zone (in
    its region) and takes its wildcard from the DNS-01 twin of its issuer; a review stack gets pr-<n>.<tenantDomain>
    from the cluster's issuer and makes none (the copied zone is unused), as a stack sharing another's cluster does;
    dev's wildcard is self-signed; an owner on the self-signed issuer takes its wildcard from it too, and still makes
    the cluster's DNS-01 issuers for the other stacks' tenants."""
    edge = environment_settings(stack, changes).edge
    assert (edge.tenant_domain, edge.tenant_issuer) == (domain, issuer)
    assert edge.tenant_hosts == (f"*.{domain}", domain)
    assert edge.dns_challenges == challenges


def test_the_settings_output_shows_the_tenant_hosts_and_the_zone() -> None:
    described = environment_settings("staging", TENANTS).describe()
    assert described["tenantHosts"] == (f"*.{STAGING_TENANTS}, {STAGING_TENANTS} from letsencrypt-staging-dns01")
    assert described["dnsChallenges"] == f"Route53 zone {ZONE} for {STAGING_TENANTS} (eu-west-1)"


def test_the_route53_role_needs_the_aws_account_even_without_backups_or_media() -> None:
    """Staging without PostgreSQL and uploads still needs awsRegion and the OIDC provider for cert-manager's role;
    without tenants it needs neither."""
    bare = {"postgres": "false", "media": "false", "migrationCommand": "none", "awsRegion": "", "oidcProviderArn": ""}
    assert environment_settings("staging", bare).data.aws is None
    keys = [problem.split(" ", 1)[0] for problem in environment_problems("staging", {**bare, **TENANTS})]
    assert keys == [f"{PROJECT}:awsRegion", f"{PROJECT}:oidcProviderArn"]


# --- bad values, each named with what is allowed ---------------------------------------------------------------

HOST_ALLOWED = (
    "allowed: a lower-case DNS name such as api.example.com (labels of letters, digits and '-', at most 253 "
    "characters, no scheme or port)"
)
ZONE_ALLOWED = "allowed: the zone's ID, Z and upper-case letters and digits (`aws route53 list-hosted-zones-by-name`)"


@pytest.mark.parametrize(
    ("stack", "changes", "problem"),
    [
        (
            "staging",
            {"tenantDomain": "Tenants.example.com", "dnsHostedZoneId": ZONE},
            f'{PROJECT}:tenantDomain = "Tenants.example.com": not a valid host name; {HOST_ALLOWED}',
        ),
        (
            "staging",
            {"tenantDomain": "https://tenants.example.com", "dnsHostedZoneId": ZONE},
            f'{PROJECT}:tenantDomain = "https://tenants.example.com": has a URL scheme; {HOST_ALLOWED}',
        ),
        (
            "staging",
            {"tenantDomain": "*.tenants.example.com", "dnsHostedZoneId": ZONE},
            f'{PROJECT}:tenantDomain = "*.tenants.example.com": not a valid host name; {HOST_ALLOWED}',
        ),
        (
            "staging",
            {"tenantDomain": "api.staging.crm.example.com", "dnsHostedZoneId": ZONE},
            f'{PROJECT}:tenantDomain = "api.staging.crm.example.com": is apiHost (api.staging.crm.example.com), which '
            "would then be routed and certified twice, as a tenant and as itself; allowed: a domain of the tenants' "
            "own that is not, and does not contain, apiHost, e.g. tenants.staging.crm.example.com",
        ),
        (
            "staging",
            {"tenantDomain": "staging.crm.example.com", "dnsHostedZoneId": ZONE},
            f'{PROJECT}:tenantDomain = "staging.crm.example.com": contains apiHost (api.staging.crm.example.com), '
            "which would then be routed and certified twice, as a tenant and as itself; allowed: a domain of the "
            "tenants' own that is not, and does not contain, apiHost, e.g. tenants.staging.crm.example.com",
        ),
        (
            "staging",
            {
                "tenantDomain": "crm.example.com",
                "apiHost": "api.example.org",
                "frontendImage": "ghcr.io/acme/crm-frontend:2.4.1",
                "dnsHostedZoneId": ZONE,
            },
            f'{PROJECT}:tenantDomain = "crm.example.com": contains appHost (app.staging.crm.example.com), which '
            "would then be routed and certified twice, as a tenant and as itself; allowed: a domain of the tenants' "
            "own that is not, and does not contain, appHost, e.g. tenants.staging.crm.example.com",
        ),
        (
            "staging",
            {"tenantDomain": STAGING_TENANTS, "dnsHostedZoneId": "z0123456789abcdefghij"},
            f'{PROJECT}:dnsHostedZoneId = "z0123456789abcdefghij": not a Route53 hosted zone ID; {ZONE_ALLOWED}',
        ),
        (
            "staging",
            {"tenantDomain": STAGING_TENANTS, "dnsHostedZoneId": f"/hostedzone/{ZONE}"},
            f'{PROJECT}:dnsHostedZoneId = "/hostedzone/{ZONE}": has the API\'s /hostedzone/ prefix; {ZONE_ALLOWED}, '
            "without it",
        ),
        (
            "staging",
            {"tenantDomain": STAGING_TENANTS, "dnsHostedZoneId": "Z" + "A" * 32},
            f'{PROJECT}:dnsHostedZoneId = "Z{"A" * 32}": not a Route53 hosted zone ID; {ZONE_ALLOWED}',
        ),
        (
            "staging",
            {"dnsHostedZoneId": ZONE},
            f'{PROJECT}:dnsHostedZoneId = "{ZONE}": names the zone of the tenant certificates\' DNS-01 challenges, '
            'and tenantDomain is ""; allowed: "", or set tenantDomain to the domain of the tenants\' hosts',
        ),
        (
            "pr-7",
            {"dnsHostedZoneId": ZONE},
            f'{PROJECT}:dnsHostedZoneId = "{ZONE}": names the zone of the tenant certificates\' DNS-01 challenges, '
            'and tenantDomain is ""; allowed: "", or set tenantDomain to the domain of the tenants\' hosts',
        ),
        (
            "staging",
            {"tenantDomain": STAGING_TENANTS},
            f"{PROJECT}:dnsHostedZoneId is missing: this stack installs cert-manager and serves tenant hosts under "
            f"{STAGING_TENANTS}, whose wildcard certificate only DNS-01 can prove, in the Route53 hosted zone "
            "holding its records; allowed: that zone's ID, e.g. `pulumi config set dnsHostedZoneId "
            "Z0123456789ABCDEFGHIJ --stack staging`",
        ),
        (
            "production",
            {"tenantDomain": "tenants.crm.example.com"},
            f"{PROJECT}:dnsHostedZoneId is missing: this stack installs cert-manager and serves tenant hosts under "
            "tenants.crm.example.com, whose wildcard certificate only DNS-01 can prove, in the Route53 hosted zone "
            "holding its records; allowed: that zone's ID, e.g. `pulumi config set dnsHostedZoneId "
            "Z0123456789ABCDEFGHIJ --stack production`",
        ),
        (
            "dev",
            {"tenantDomain": "tenants.crm.localhost", "dnsHostedZoneId": ZONE},
            f'{PROJECT}:dnsHostedZoneId = "{ZONE}": has no effect: the dev environment has no AWS account and issues '
            'tenant certificates from the self-signed issuer; allowed: "" (remove it)',
        ),
        (
            "dev",
            {"tenantDomain": "tenants.crm.localhost", "tlsIssuer": "letsencrypt-staging"},
            f'{PROJECT}:tlsIssuer = "letsencrypt-staging": cannot issue the tenant wildcard (tenantDomain) in the dev '
            "environment: HTTP-01 cannot prove a wildcard, and it has no AWS account for DNS-01; allowed: "
            'selfsigned, or tenantDomain ""',
        ),
    ],
    ids=[
        "upper-case",
        "scheme",
        "wildcard",
        "is-the-api-host",
        "contains-the-api-host",
        "contains-the-app-host",
        "zone-lower-case",
        "zone-api-prefix",
        "zone-too-long",
        "zone-without-tenants",
        "review-zone-without-tenants",
        "staging-tenants-without-zone",
        "production-tenants-without-zone",
        "dev-zone",
        "dev-acme-issuer",
    ],
)
def test_each_bad_tenant_setting_is_one_clear_problem(stack: str, changes: dict[str, str], problem: str) -> None:
    assert environment_problems(stack, changes) == [problem]


def test_a_review_tenant_domain_too_long_for_its_prefix_is_refused() -> None:
    """pr-<n>. in front must still give a host name of at most 253 characters."""
    long_domain = ".".join(["a" * 62] * 4)  # 251 characters: valid alone, 256 with "pr-7." in front
    assert environment_problems("pr-7", {"tenantDomain": long_domain}) == [
        f'{PROJECT}:tenantDomain = "{long_domain[:75]}...": gives the review tenant domain pr-7.{long_domain}: '
        f"wrong length; {HOST_ALLOWED}"
    ]
