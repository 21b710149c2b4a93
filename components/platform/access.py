"""Access: who may do what in the app namespace, with namespaced Roles only.

- `crm-deployer`: a ServiceAccount (for CI) and groups from settings may roll out the
  application: create and change Deployments, Services, ConfigMaps, Jobs, CronJobs, HPAs,
  PDBs and Ingresses, and read ReplicaSets, Pods, logs and events to follow a rollout.
  No Secrets, no RBAC, no wildcards, no escalate/bind/impersonate.
- `crm-read-only`: groups from settings may read everything a rollout touches, except
  Secrets.

Nothing here is cluster-wide: the application gets no ClusterRole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.shared.labels import with_component

RBAC_API_GROUP = "rbac.authorization.k8s.io"
DEPLOYER = "crm-deployer"
READ_ONLY = "crm-read-only"

READ = ("get", "list", "watch")
MANAGE = (*READ, "create", "update", "patch", "delete")

# (API group, resources) a rollout manages, and those it only follows.
_DEPLOYER_MANAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("apps", ("deployments",)),
    ("", ("services", "configmaps")),
    ("batch", ("jobs", "cronjobs")),
    ("autoscaling", ("horizontalpodautoscalers",)),
    ("policy", ("poddisruptionbudgets",)),
    ("networking.k8s.io", ("ingresses",)),
)
_DEPLOYER_FOLLOWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # `kubectl rollout status/undo` read ReplicaSets; the Deployment controller owns them.
    ("apps", ("replicasets",)),
    ("", ("pods", "pods/log", "events")),
    ("events.k8s.io", ("events",)),
)
_READ_ONLY_READS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "",
        (
            "pods",
            "pods/log",
            "services",
            "endpoints",
            "configmaps",
            "events",
            "persistentvolumeclaims",
            "serviceaccounts",
        ),
    ),
    ("apps", ("deployments", "replicasets", "statefulsets")),
    ("batch", ("jobs", "cronjobs")),
    ("autoscaling", ("horizontalpodautoscalers",)),
    ("policy", ("poddisruptionbudgets",)),
    ("networking.k8s.io", ("ingresses", "networkpolicies")),
    ("discovery.k8s.io", ("endpointslices",)),
    ("events.k8s.io", ("events",)),
)


def _rules(grants: Sequence[tuple[str, tuple[str, ...]]], verbs: Sequence[str]) -> list[k8s.rbac.v1.PolicyRuleArgsDict]:
    return [{"api_groups": [group], "resources": list(resources), "verbs": list(verbs)} for group, resources in grants]


def deployer_rules() -> list[k8s.rbac.v1.PolicyRuleArgsDict]:
    """PolicyRules of the deployer Role: manage what a rollout changes, read what it watches."""
    return _rules(_DEPLOYER_MANAGES, MANAGE) + _rules(_DEPLOYER_FOLLOWS, READ)


def read_only_rules() -> list[k8s.rbac.v1.PolicyRuleArgsDict]:
    """PolicyRules of the read-only Role; Secrets are deliberately absent."""
    return _rules(_READ_ONLY_READS, READ)


def group_subjects(groups: Sequence[str]) -> list[k8s.rbac.v1.SubjectArgsDict]:
    return [{"kind": "Group", "api_group": RBAC_API_GROUP, "name": group} for group in groups]


@dataclass(frozen=True)
class AccessArgs:
    namespace: pulumi.Input[str]
    """The app namespace; every Role and binding lives there."""
    deployer_groups: Sequence[str]
    """Groups bound to the deployer Role."""
    read_only_groups: Sequence[str]
    """Groups bound to the read-only Role."""
    labels: Mapping[str, str]
    """Common labels of the stack."""


class Access(pulumi.ComponentResource):
    """Deployer ServiceAccount and namespaced deployer / read-only Roles with their bindings."""

    deployer_service_account: pulumi.Output[str]

    def __init__(self, name: str, args: AccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("crm:core:Access", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = with_component(args.labels, "access")

        def metadata(object_name: str) -> k8s.meta.v1.ObjectMetaArgsDict:
            return {"name": object_name, "namespace": args.namespace, "labels": labels}

        account = k8s.core.v1.ServiceAccount(
            f"{name}-deployer-account",
            metadata=metadata(DEPLOYER),
            # The account is used from outside the cluster (short-lived tokens from
            # `kubectl create token`); no pod needs its token mounted.
            automount_service_account_token=False,
            opts=child,
        )
        deployer_role = k8s.rbac.v1.Role(
            f"{name}-deployer-role", metadata=metadata(DEPLOYER), rules=deployer_rules(), opts=child
        )
        service_account_subject: k8s.rbac.v1.SubjectArgsDict = {
            "kind": "ServiceAccount",
            "name": DEPLOYER,
            "namespace": args.namespace,
        }
        k8s.rbac.v1.RoleBinding(
            f"{name}-deployer-binding",
            metadata=metadata(DEPLOYER),
            role_ref={"api_group": RBAC_API_GROUP, "kind": "Role", "name": DEPLOYER},
            subjects=[service_account_subject, *group_subjects(args.deployer_groups)],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account, deployer_role]),
        )

        read_only_role = k8s.rbac.v1.Role(
            f"{name}-read-only-role", metadata=metadata(READ_ONLY), rules=read_only_rules(), opts=child
        )
        if args.read_only_groups:
            k8s.rbac.v1.RoleBinding(
                f"{name}-read-only-binding",
                metadata=metadata(READ_ONLY),
                role_ref={"api_group": RBAC_API_GROUP, "kind": "Role", "name": READ_ONLY},
                subjects=group_subjects(args.read_only_groups),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[read_only_role]),
            )

        self.deployer_service_account = account.metadata.apply(lambda meta: meta.name or DEPLOYER)
        self.register_outputs({"deployer_service_account": self.deployer_service_account})
