"""The stack's explicit AWS provider: one region, the stack's default tags, no skipped checks.

Every AWS resource goes through this provider (Pulumi.yaml disables the default one), so a
stack never falls back to whatever region or account the deployer's shell points at.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.labels import STACK


def default_tags(stack: str) -> dict[str, str]:
    """Tags the provider puts on every AWS resource of the stack that can carry tags."""
    return {STACK: stack, "managed-by": "pulumi", "app": "crm-platform"}


def aws_provider(region: str, stack: str, *, account_id: str | None = None) -> aws.Provider:
    """The provider every AWS resource of the stack uses.

    `region` is set explicitly: left unset, the SDK reads AWS_REGION / AWS_DEFAULT_REGION
    from whoever runs `pulumi up`. With `account_id` (the account of the cluster's OIDC
    provider), the provider refuses to touch any other account, whatever credentials the
    deployer has loaded. Credentials themselves stay the deployer's (profile, SSO, CI role).
    """
    return aws.Provider(
        "aws",
        region=region,
        allowed_account_ids=[account_id] if account_id else None,
        default_tags={"tags": default_tags(stack)},
        # Each skip trades a safety check for speed; none is worth it here: a wrong region
        # name, invalid credentials or an unknown account fail at the start, not half-way.
        skip_credentials_validation=False,
        skip_region_validation=False,
        skip_requesting_account_id=False,
        insecure=False,
    )


def aws_options(provider: aws.Provider) -> pulumi.ResourceOptions:
    """Options for a component whose children are AWS resources made through `provider`."""
    return pulumi.ResourceOptions(providers={"aws": provider})
