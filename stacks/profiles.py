"""Per-environment defaults: what a stack gets for every key it leaves at "" or 0.

`dev` runs on a laptop cluster, `staging` is production's shape at small size,
`production` is full size, and `review` (stacks named pr-<number>) derives from staging
at minimum size in its own namespaces, on the staging cluster, owning no add-ons.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from enum import StrEnum


class Environment(StrEnum):
    DEV = "dev"
    STAGING = "staging"
    PRODUCTION = "production"
    REVIEW = "review"


REVIEW_STACK = re.compile(r"pr-(?P<number>[1-9][0-9]{0,6})")
"""Review stacks are named after their pull request: pr-<number>."""


@dataclass(frozen=True)
class QuotaSettings:
    """Namespace-wide totals for the app namespace's ResourceQuota."""

    cpu_requests: str
    cpu_limits: str
    memory_requests: str
    memory_limits: str
    pods: int


@dataclass(frozen=True)
class Profile:
    """Defaults and rules of one environment."""

    environment: Environment
    domain: str | None
    """Base domain; None means the stack must set `domain`."""
    requires_kube_context: bool
    """False only for dev: a laptop may deploy to its current context."""
    owns_cluster_addons: bool
    requires_email: bool
    """A deployed CRM sends password resets and notifications: staging and production need SMTP."""
    protect_namespaces: bool
    """Pulumi refuses to delete protected namespaces (and everything in them)."""
    quota: QuotaSettings


DEV = Profile(
    environment=Environment.DEV,
    domain="crm.localhost",  # *.localhost resolves to loopback (RFC 6761), so kind works as is
    requires_kube_context=False,
    owns_cluster_addons=True,
    requires_email=False,
    protect_namespaces=False,
    quota=QuotaSettings("4", "8", "8Gi", "16Gi", 40),
)

STAGING = Profile(
    environment=Environment.STAGING,
    domain=None,
    requires_kube_context=True,
    owns_cluster_addons=True,
    requires_email=True,
    protect_namespaces=False,
    quota=QuotaSettings("8", "16", "16Gi", "32Gi", 60),
)

PRODUCTION = Profile(
    environment=Environment.PRODUCTION,
    domain=None,
    requires_kube_context=True,
    owns_cluster_addons=True,
    requires_email=True,
    protect_namespaces=True,
    # Room for the seeds' peak: web HPA max 20 x 500m/1Gi limits, workers, 3 PostgreSQL
    # instances, poolers and Redis, with headroom for a rolling update.
    quota=QuotaSettings("32", "64", "64Gi", "128Gi", 200),
)

REVIEW = dataclasses.replace(
    STAGING,
    environment=Environment.REVIEW,
    owns_cluster_addons=False,
    quota=QuotaSettings("2", "4", "4Gi", "8Gi", 30),
)

PROFILES: dict[Environment, Profile] = {profile.environment: profile for profile in (DEV, STAGING, PRODUCTION, REVIEW)}


def environment_for_stack(stack: str) -> Environment | None:
    """The environment a stack name implies, or None for names with no profile."""
    if REVIEW_STACK.fullmatch(stack):
        return Environment.REVIEW
    try:
        environment = Environment(stack)
    except ValueError:
        return None
    return None if environment is Environment.REVIEW else environment
