"""The stack's explicit Kubernetes provider, built from settings.

Every Kubernetes resource goes through this provider (Pulumi.yaml disables the default
one), so a stack can only ever talk to the cluster its settings name.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from stacks import Settings


def cluster_identifier(settings: Settings) -> str:
    """What identifies the target cluster to Pulumi: the environment and its kube context.

    Only a change of this replaces the provider (and with it every resource); rotating
    credentials or moving the kubeconfig file is an update.
    """
    return f"{settings.environment.value}/{settings.cluster.context or 'current-context'}"


def kubernetes_provider(settings: Settings) -> k8s.Provider:
    """The provider every Kubernetes resource of the stack uses.

    Every behaviour switch is spelled out: unset ones fall back to PULUMI_K8S_* variables
    of whoever runs `pulumi up`, and a deploy must not depend on that.
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
    )


def kubernetes_options(provider: k8s.Provider) -> pulumi.ResourceOptions:
    """Options for a component whose children talk to the cluster through `provider`."""
    return pulumi.ResourceOptions(providers={"kubernetes": provider})
