"""The stack's explicit providers: Kubernetes (the cluster its settings name) and AWS (one region,
the stack's default tags, one account).

Every resource goes through one of these (Pulumi.yaml disables the default providers), so a stack
can only ever talk to the cluster and the account its settings name, never to whatever the
deployer's shell points at.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.shared.labels import STACK
from stacks import Settings


def cluster_identifier(settings: Settings) -> str:
    """What identifies the stack's cluster to Pulumi: the project and stack, nothing else.

    Only a change of the identifier replaces the provider, and with it every resource of
    the stack. Tying it to the kube context would turn a renamed context into a mass
    delete-and-recreate; this way changing kubeContext, kubeconfig or credentials is an
    update. Moving a stack to another cluster is done by destroying it first (README).
    """
    return f"{settings.project}/{settings.stack}"


def kubernetes_provider(settings: Settings) -> k8s.Provider:
    """The provider every Kubernetes resource of the stack uses.

    Every switch the SDK would otherwise read from a PULUMI_K8S_* variable of whoever runs
    `pulumi up` is set here, so a deploy does not depend on that person's shell. An unset
    kubeconfig still falls back to $KUBECONFIG / ~/.kube/config: that is where it lives.
    """
    return k8s.Provider(
        "kubernetes",
        context=settings.cluster.context,
        kubeconfig=settings.cluster.kubeconfig,
        cluster_identifier=cluster_identifier(settings),
        enable_server_side_apply=True,
        # A field owned by another manager (kubectl, an operator) is a conflict to look
        # at, not something to overwrite silently.
        enable_patch_force=False,
        # Never adopt objects someone created by hand; importing is an explicit step.
        upsert_existing_objects=False,
        delete_unreachable=False,
        skip_update_unreachable=False,
        # Secrets and ConfigMaps keep fixed names that workloads and operators (the
        # CloudNativePG owner Secret) refer to: change them in place rather than replace
        # them, which deletes a named object before recreating it.
        enable_secret_mutable=True,
        enable_config_map_mutable=True,
        suppress_deprecation_warnings=False,
        suppress_helm_hook_warnings=False,
    )


def kubernetes_options(provider: k8s.Provider) -> pulumi.ResourceOptions:
    """Options for a component whose children talk to the cluster through `provider`."""
    return pulumi.ResourceOptions(providers={"kubernetes": provider})


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
