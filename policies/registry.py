"""The policy pack's policies as plain data: name, description, severity, remediation, level, options and check.

Two consumers read this catalogue: `policies/__main__.py` turns each spec into a pulumi_policy
`ResourceValidationPolicy` or `StackValidationPolicy` for `pulumi preview --policy-pack policies`, and
`policies/runner.py` runs the same checks over plain manifests (`offline/check.py` over a stack's render).
Importing it never imports pulumi_policy: constructing a `PolicyPack` starts the analyzer's gRPC server and
blocks, so only `policies/pulumi_adapter.py` (lazily) and `__main__` touch it.

Levels: `security` policies stay mandatory on every stack; `best-practice` ones may be advisory outside
production; `production` ones are disabled outside production. Production keeps every policy mandatory
(`policies/config.py` enforces this).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from kube.objects import POD_SPEC_PATHS
from policies import object_rules, stack_rules, workload_rules
from policies.common import StackResource, StackViolation, Violation
from policies.pod_security import check_read_only_root, check_restricted

Severity = Literal["low", "medium", "high", "critical"]
EnforcementLevel = Literal["mandatory", "advisory", "disabled"]
Category = Literal["security", "best-practice", "production"]
Options = Mapping[str, Any]
ResourceCheck = Callable[[Mapping[str, Any], Options], list[Violation]]
StackCheck = Callable[[Sequence[StackResource], Options], list[StackViolation]]

POD_BEARING_KINDS = frozenset(POD_SPEC_PATHS)

_PATTERNS = {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True}


def _patterns(description: str, default: Sequence[str] = ()) -> dict[str, Any]:
    return {**_PATTERNS, "description": description, "default": list(default)}


@dataclass(frozen=True)
class PolicySpec:
    """One policy, described without pulumi_policy so tests and the offline runner can import it.

    A resource policy has `kinds` and a `check` of one object; a stack policy has a `stack_check` of
    every resource. `config_schema` holds JSON Schema properties of the policy's options (allow-lists);
    their defaults apply when a config leaves them out.
    """

    name: str
    description: str
    severity: Severity
    remediation: str
    category: Category
    check: ResourceCheck | None = None
    kinds: frozenset[str] = frozenset()
    """Kubernetes kinds `check` looks at; every other object passes untouched."""
    stack_check: StackCheck | None = None
    config_schema: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def is_stack_policy(self) -> bool:
        return self.stack_check is not None

    @property
    def default_enforcement(self) -> EnforcementLevel:
        """The pack's own level, what `pulumi preview` applies without --policy-pack-config: mandatory."""
        return "mandatory"

    def defaults(self) -> dict[str, Any]:
        """Each option's default, from the schema."""
        return {key: schema["default"] for key, schema in self.config_schema.items() if "default" in schema}

    def evaluate(self, document: Mapping[str, Any], options: Options | None = None) -> list[Violation]:
        """A resource policy's violations for one Kubernetes object dict; [] for other kinds and stack policies."""
        if self.check is None or str(document.get("kind", "")) not in self.kinds:
            return []
        return self.check(document, {**self.defaults(), **(options or {})})

    def evaluate_with(self, document: Mapping[str, Any], options: Options) -> list[Violation]:
        """`evaluate` for a caller that has matched the object's kind against `kinds` and holds complete options
        (defaults filled in, as `PolicyConfig.options_for` gives them): no per-object merging."""
        return self.check(document, options) if self.check is not None else []

    def evaluate_stack(
        self, resources: Sequence[StackResource], options: Options | None = None
    ) -> list[StackViolation]:
        """A stack policy's violations over every resource of a stack; [] for resource policies."""
        if self.stack_check is None:
            return []
        return self.stack_check(resources, {**self.defaults(), **(options or {})})


def _pod_security(document: Mapping[str, Any], options: Options) -> list[Violation]:
    return check_restricted(document)


def _read_only_root(document: Mapping[str, Any], options: Options) -> list[Violation]:
    return check_read_only_root(document)


POLICIES: tuple[PolicySpec, ...] = (
    PolicySpec(
        name="pod-security-restricted",
        description="Pod-bearing objects meet the Pod Security Standards restricted profile of Kubernetes 1.34 "
        "(pod-security-admission policy version v1.34: baseline B1-B12, restricted R1-R6), every container list, "
        "pod- and container-level precedence as upstream evaluates it.",
        severity="high",
        remediation="Set runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities.drop: [ALL] and "
        "seccompProfile.type: RuntimeDefault; remove privileged, host namespaces, hostPath volumes and hostPorts. "
        "The message names the control and the field.",
        category="security",
        check=_pod_security,
        kinds=POD_BEARING_KINDS,
    ),
    PolicySpec(
        name="read-only-root-filesystem",
        description="Every container runs with securityContext.readOnlyRootFilesystem: true (platform rule P1).",
        severity="medium",
        remediation="Set securityContext.readOnlyRootFilesystem: true on the container and mount an emptyDir "
        "where it must write (/tmp, caches).",
        category="best-practice",
        check=_read_only_root,
        kinds=POD_BEARING_KINDS,
    ),
    PolicySpec(
        name="container-resources",
        description="Every init and regular container requests CPU and memory and limits memory (W1).",
        severity="medium",
        remediation="Set resources.requests.cpu, resources.requests.memory and resources.limits.memory; in this "
        "platform, per service under `services.<role>.resources` in the stack config.",
        category="best-practice",
        check=workload_rules.check_resources,
        kinds=POD_BEARING_KINDS,
    ),
    PolicySpec(
        name="liveness-and-readiness-probes",
        description="Long-running containers (Deployments, StatefulSets, DaemonSets, ReplicaSets, "
        "ReplicationControllers, restartable Pods and PodTemplates, native sidecars) have a liveness and a readiness "
        "probe (W2).",
        severity="medium",
        remediation="Add livenessProbe (restart when stuck) and readinessProbe (stop traffic when not ready); "
        "a startupProbe covers slow starts. Jobs and CronJobs are exempt.",
        category="best-practice",
        check=workload_rules.check_probes,
        kinds=POD_BEARING_KINDS,
        config_schema={
            "exempt": {
                "type": "object",
                "additionalProperties": {"type": "string", "minLength": 10},
                "default": {},
                "description": "`<namespace>/<workload>` patterns exempt from the rule, each mapped to the reason "
                "(an upstream chart whose container has no health endpoint).",
            }
        },
    ),
    PolicySpec(
        name="image-pinned",
        description="Every container image names a version: a tag other than latest, or a digest; a digest "
        "when requireDigest is true (W3).",
        severity="high",
        remediation="Use an exact version tag (postgres:16.13-bookworm) or a digest (image@sha256:...); set "
        "requireDigest in the policy config to demand digests.",
        category="security",
        check=workload_rules.check_image_pinned,
        kinds=POD_BEARING_KINDS,
        config_schema={
            "requireDigest": {
                "type": "boolean",
                "default": False,
                "description": "Demand image@sha256:... for every container, not just a pinned tag.",
            }
        },
    ),
    PolicySpec(
        name="service-account-token",
        description="Pods run as their own ServiceAccount, not `default`, and set automountServiceAccountToken: "
        "false unless the account is allow-listed (W4).",
        severity="high",
        remediation="Give each workload a ServiceAccount and set automountServiceAccountToken: false on the pod; "
        "add `<namespace>/<serviceaccount>` to tokenAllowed only for pods that call the Kubernetes API.",
        category="security",
        check=workload_rules.check_service_account,
        kinds=POD_BEARING_KINDS,
        config_schema={
            "tokenAllowed": _patterns("`<namespace>/<serviceaccount>` patterns whose pods may mount an API token."),
            "defaultAllowed": _patterns("`<namespace>/default` patterns where pods may run as the default account."),
        },
    ),
    PolicySpec(
        name="no-secret-literals-in-env",
        description="No container env holds a secret as a literal: neither a secret-looking name (PASSWORD, "
        "TOKEN, ..._API_KEY) with a value, nor a value shaped like a secret (private key, token, URL password) (W5).",
        severity="critical",
        remediation="Use valueFrom.secretKeyRef; compose URLs as $(VAR) recipes over secretKeyRef variables. "
        "The message names the variable, never the value.",
        category="security",
        check=workload_rules.check_env_secrets,
        kinds=POD_BEARING_KINDS,
    ),
    PolicySpec(
        name="cronjob-scheduling",
        description="CronJobs set concurrencyPolicy to an allowed value (Forbid or Replace by default) and a "
        "positive startingDeadlineSeconds (W6).",
        severity="low",
        remediation="Set spec.concurrencyPolicy: Forbid (or Replace) and spec.startingDeadlineSeconds.",
        category="best-practice",
        check=workload_rules.check_cronjob_scheduling,
        kinds=frozenset({"CronJob"}),
        config_schema={
            "allowedConcurrencyPolicies": {
                "type": "array",
                "items": {"enum": ["Allow", "Forbid", "Replace"]},
                "minItems": 1,
                "uniqueItems": True,
                "default": ["Forbid", "Replace"],
                "description": "concurrencyPolicy values accepted; unset means Allow.",
            }
        },
    ),
    PolicySpec(
        name="no-exposed-services",
        description="No Service of type LoadBalancer or NodePort except allow-listed ones (O1).",
        severity="high",
        remediation="Use type ClusterIP behind the ingress controller; allow-list the controller's own Service "
        "as `<namespace>/<name>` in allowed.",
        category="security",
        check=object_rules.check_service_exposure,
        kinds=frozenset({"Service"}),
        config_schema={"allowed": _patterns("`<namespace>/<name>` patterns of Services that may be exposed.")},
    ),
    PolicySpec(
        name="namespace-pod-security-labels",
        description="Every Namespace carries pod-security.kubernetes.io/enforce: restricted (O2).",
        severity="high",
        remediation="Label the namespace pod-security.kubernetes.io/enforce: restricted (and warn/audit); exempt "
        "a namespace only by name in exempt, with a reason in the config's review.",
        category="security",
        check=object_rules.check_namespace_pod_security,
        kinds=frozenset({"Namespace"}),
        config_schema={"exempt": _patterns("Namespace name patterns exempt from the label.")},
    ),
    PolicySpec(
        name="no-secrets-in-configmaps",
        description="No ConfigMap key names a secret with a literal value, and no value is shaped like a secret (O3).",
        severity="critical",
        remediation="Move the value to a Secret and read it with secretKeyRef or a secret volume; allow-list a "
        "false positive as `<namespace>/<configmap>/<key>` in allowedKeys.",
        category="security",
        check=object_rules.check_configmap_secrets,
        kinds=frozenset({"ConfigMap"}),
        config_schema={"allowedKeys": _patterns("`<namespace>/<configmap>/<key>` patterns that are not secrets.")},
    ),
    PolicySpec(
        name="rbac-least-privilege",
        description="Roles and ClusterRoles grant no '*', no escalate, bind or impersonate, and no cluster-wide "
        "Secret reads; no binding grants cluster-admin (O4).",
        severity="critical",
        remediation="List API groups, resources and verbs explicitly; read Secrets through a namespaced Role, "
        "ideally with resourceNames. Operators that must watch Secrets cluster-wide go in allowedClusterRoles.",
        category="security",
        check=object_rules.check_rbac,
        kinds=frozenset({"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}),
        config_schema={
            "allowedClusterRoles": _patterns("ClusterRole name patterns exempt (operators installed by charts).")
        },
    ),
    PolicySpec(
        name="default-deny-network-policy",
        description="Every app namespace (label crm-platform/namespace-role: app, or listed) has a NetworkPolicy "
        "selecting every pod with policyTypes Ingress and Egress and no rules (S1).",
        severity="high",
        remediation="Declare a default-deny NetworkPolicy in the namespace, then one policy per allowed flow "
        "(components/platform/network_policies.py).",
        category="security",
        stack_check=stack_rules.check_default_deny,
        config_schema={"namespaces": _patterns("More namespaces that must have a default deny.")},
    ),
    PolicySpec(
        name="disruption-budget",
        description="Every workload running more than one pod (replicas or HPA minReplicas) has a "
        "PodDisruptionBudget selecting its pods; multi-instance CloudNativePG Clusters keep enablePDB (S2).",
        severity="medium",
        remediation="Add a PodDisruptionBudget (maxUnavailable: 1) whose selector matches the pod template labels.",
        category="best-practice",
        stack_check=stack_rules.check_disruption_budgets,
    ),
    PolicySpec(
        name="ingress-tls",
        description="Every Ingress host is covered by a spec.tls entry with a secretName, and every such secret is "
        "issued by cert-manager (an issuer annotation on one Ingress using it, or a Certificate); every Traefik "
        "IngressRoute has such a tls.secretName, issued for every Host its routes match and, where a route's "
        "HostRegexp matches one DNS label under a domain, for that domain's wildcard (any other HostRegexp fails) "
        "(S3).",
        severity="high",
        remediation="Add the host to spec.tls with a secretName, and the cert-manager.io/cluster-issuer "
        "annotation on exactly one Ingress per secret; for an IngressRoute, a cert-manager Certificate writing "
        "its tls.secretName with every routed host in dnsNames, and the wildcard of the domain of a HostRegexp "
        "written as one label under it with its dots escaped (^[a-z0-9-]+\\.example\\.com$).",
        category="security",
        stack_check=stack_rules.check_ingress_tls,
    ),
    PolicySpec(
        name="s3-bucket-controls",
        description="Every S3 bucket has, as separate resources, a public access block with all four flags, "
        "default SSE-KMS encryption, versioning, a lifecycle rule and a TLS-only bucket policy; by its "
        "crm-platform/bucket-role tag, a media bucket never expires a current upload and has no Object Lock, "
        "and a bucket of a role in objectLockRoles is locked (S4).",
        severity="critical",
        remediation="Declare BucketPublicAccessBlock, BucketServerSideEncryptionConfiguration (aws:kms), "
        "BucketVersioning (Enabled), BucketLifecycleConfiguration and a BucketPolicy denying "
        "aws:SecureTransport false (components/data/buckets.py); keep uploads with noncurrent-version expiry "
        "instead of expiring them; lock backups with objectLockEnabled and a BucketObjectLockConfiguration.",
        category="security",
        stack_check=stack_rules.check_bucket_controls,
        config_schema={
            "encryptionAlgorithms": {
                "type": "array",
                "items": {"enum": ["aws:kms", "aws:kms:dsse", "AES256"]},
                "minItems": 1,
                "uniqueItems": True,
                "default": ["aws:kms", "aws:kms:dsse"],
                "description": "Default encryption algorithms accepted (Security Hub S3.17 wants KMS).",
            },
            "objectLockRoles": _patterns(
                "crm-platform/bucket-role values whose buckets must have Object Lock (Security Hub S3.15), e.g. "
                "backups in production."
            ),
        },
    ),
    PolicySpec(
        name="production-postgres-instances",
        description="Production: every CloudNativePG Cluster runs at least minInstances instances (S5).",
        severity="high",
        remediation="Raise the profile's PostgreSQL instances (stacks/profiles.py) to 3: a primary and two "
        "replicas on separate nodes.",
        category="production",
        stack_check=stack_rules.check_postgres_instances,
        config_schema={
            "minInstances": {"type": "integer", "minimum": 1, "default": 3, "description": "Fewest instances."}
        },
    ),
    PolicySpec(
        name="production-backups",
        description="Production: every CloudNativePG Cluster archives WAL, has a ScheduledBackup, and its namespace "
        "runs a logical backup CronJob (S6).",
        severity="critical",
        remediation="Enable backups for the stack (the production profile sets backups to S3 with the Barman "
        "Cloud plugin and the crm-backup CronJob).",
        category="production",
        stack_check=stack_rules.check_backups_configured,
        config_schema={
            "logicalBackupCronJobs": _patterns("Names of CronJobs that take logical backups.", ("crm-backup",))
        },
    ),
    PolicySpec(
        name="production-web-replicas",
        description="Production: the web Deployments run at least minReplicas pods, by replicas or the HPA "
        "minimum (S7).",
        severity="high",
        remediation="Set services.web.replicas (or autoscaling.minReplicas) to at least 2.",
        category="production",
        stack_check=stack_rules.check_web_replicas,
        config_schema={
            "deployments": _patterns("Deployment name patterns that serve web traffic.", ("crm-web",)),
            "minReplicas": {"type": "integer", "minimum": 1, "default": 2, "description": "Fewest web pods."},
        },
    ),
)
POLICIES_BY_NAME: Mapping[str, PolicySpec] = {spec.name: spec for spec in POLICIES}
RESOURCE_POLICIES: tuple[PolicySpec, ...] = tuple(spec for spec in POLICIES if not spec.is_stack_policy)
STACK_POLICIES: tuple[PolicySpec, ...] = tuple(spec for spec in POLICIES if spec.is_stack_policy)
