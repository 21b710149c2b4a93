"""Stack policies: rules about how a stack's resources fit together, not about one object alone.

Each check takes every resource of the stack (`StackResource`: Kubernetes objects and AWS resources
alike) and the policy's options, and returns violations attached to the resource they concern.
Control ids: S1 default-deny NetworkPolicy, S2 disruption budgets, S3 Ingress TLS and issuer,
S4 S3 bucket controls (and those of a bucket's kind: media, backups), S5-S7 production resilience
(PostgreSQL instances, backups, web replicas).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kube.labels import BUCKET_ROLE, NAMESPACE_ROLE
from policies.common import (
    StackResource,
    StackViolation,
    Violation,
    as_list,
    as_mapping,
    as_mappings,
    matches_any,
    metadata_of,
    show,
)

Options = Mapping[str, Any]
"""A policy's options with every default of its config schema filled in (policies/registry.py), so a check indexes
them: the schema is the one place a default lives."""
Resources = Sequence[StackResource]

SCALABLE_KINDS = frozenset({"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"})
ISSUER_ANNOTATIONS = ("cert-manager.io/cluster-issuer", "cert-manager.io/issuer")
CNPG_API_GROUP = "postgresql.cnpg.io/"


def _kubernetes(resources: Resources, kind: str) -> list[StackResource]:
    return [resource for resource in resources if resource.kind == kind]


def _spec(resource: StackResource) -> Mapping[str, Any]:
    return as_mapping(resource.props.get("spec"))


def _ref(resource: StackResource) -> str:
    return f"{resource.namespace}/{resource.object_name}" if resource.namespace else resource.object_name


# S1 ---------------------------------------------------------------------------------------------


def _is_default_deny(policy: StackResource) -> bool:
    spec = _spec(policy)
    selector = as_mapping(spec.get("podSelector"))
    selects_all = not selector.get("matchLabels") and not selector.get("matchExpressions")
    types = set(as_list(spec.get("policyTypes")))
    return selects_all and {"Ingress", "Egress"} <= types and not spec.get("ingress") and not spec.get("egress")


def check_default_deny(resources: Resources, options: Options) -> list[StackViolation]:
    """S1: every app namespace (role label `app`, or listed in `namespaces`) has a NetworkPolicy that selects
    every pod and allows nothing in either direction, so each flow must be opened by name."""
    extra = set(options["namespaces"])
    app_namespaces = [
        namespace
        for namespace in _kubernetes(resources, "Namespace")
        if as_mapping(metadata_of(namespace.props).get("labels")).get(NAMESPACE_ROLE) == "app"
        or namespace.object_name in extra
    ]
    protected = {policy.namespace for policy in _kubernetes(resources, "NetworkPolicy") if _is_default_deny(policy)}
    return [
        StackViolation(
            namespace,
            Violation(
                "S1",
                "metadata.name",
                f"namespace {namespace.object_name} has no default-deny NetworkPolicy (podSelector {{}}, "
                "policyTypes Ingress and Egress, no rules)",
            ),
        )
        for namespace in app_namespaces
        if namespace.object_name not in protected
    ]


# S2 ---------------------------------------------------------------------------------------------


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    """Whether a LabelSelector selects an object with `labels`; an empty selector selects nothing here,
    as a PodDisruptionBudget (policy/v1) with an empty selector covers no pod."""
    match_labels = as_mapping(selector.get("matchLabels"))
    expressions = as_mappings(selector.get("matchExpressions"))
    if not match_labels and not expressions:
        return False
    if any(labels.get(key) != value for key, value in match_labels.items()):
        return False
    for expression in expressions:
        key, operator = str(expression.get("key")), expression.get("operator")
        values = as_list(expression.get("values"))
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _minimum_replicas(workload: StackResource, autoscalers: list[StackResource]) -> int:
    for autoscaler in autoscalers:
        target = as_mapping(_spec(autoscaler).get("scaleTargetRef"))
        if (
            autoscaler.namespace == workload.namespace
            and target.get("kind") == workload.kind
            and target.get("name") == workload.object_name
        ):
            # Left out or not an integer (nothing to trust), minReplicas is Kubernetes' default: 1.
            minimum = _spec(autoscaler).get("minReplicas")
            return minimum if isinstance(minimum, int) else 1
    replicas = _spec(workload).get("replicas")
    return replicas if isinstance(replicas, int) else 1


def check_disruption_budgets(resources: Resources, options: Options) -> list[StackViolation]:
    """S2: a workload that runs more than one pod (replicas, or its HPA's minReplicas) has a
    PodDisruptionBudget selecting its pods, so a node drain cannot take them all at once; a CloudNativePG
    Cluster of several instances keeps the operator's own budget (enablePDB not false)."""
    autoscalers = _kubernetes(resources, "HorizontalPodAutoscaler")
    budgets = _kubernetes(resources, "PodDisruptionBudget")
    violations = []
    for workload in (resource for resource in resources if resource.kind in SCALABLE_KINDS):
        minimum = _minimum_replicas(workload, autoscalers)
        if minimum < 2:
            continue
        labels = as_mapping(metadata_of(as_mapping(_spec(workload).get("template"))).get("labels"))
        covered = any(
            budget.namespace == workload.namespace
            and selector_matches(as_mapping(_spec(budget).get("selector")), labels)
            for budget in budgets
        )
        if not covered:
            violations.append(
                StackViolation(
                    workload,
                    Violation(
                        "S2",
                        "spec.template.metadata.labels",
                        f"{workload.kind} {_ref(workload)} runs at least {minimum} pods but no PodDisruptionBudget "
                        "selects them",
                    ),
                )
            )
    for cluster in _postgres_clusters(resources):
        # Left out, instances is CloudNativePG's default of one, which no budget concerns.
        instances = _spec(cluster).get("instances")
        if isinstance(instances, int) and instances > 1 and _spec(cluster).get("enablePDB") is False:
            violations.append(
                StackViolation(
                    cluster,
                    Violation("S2", "spec.enablePDB", f"Cluster {_ref(cluster)} has {instances} instances and no PDB"),
                )
            )
    return violations


# S3 ---------------------------------------------------------------------------------------------


def _host_covered(host: str, tls_hosts: Iterable[str]) -> bool:
    for tls_host in tls_hosts:
        if tls_host == host:
            return True
        # A wildcard certificate covers exactly one more label: *.example.com covers a.example.com only.
        if tls_host.startswith("*.") and host.count(".") == tls_host.count(".") and host.endswith(tls_host[1:]):
            return True
    return False


def check_ingress_tls(resources: Resources, options: Options) -> list[StackViolation]:
    """S3: every Ingress host is served under TLS with a named secret, and every TLS secret is issued by
    cert-manager: one Ingress using it carries a cert-manager issuer annotation, or a Certificate writes it.
    Traefik IngressRoutes likewise: a tls.secretName issued that way, and every Host of every route among
    the names that secret is issued for, every HostRegexp one DNS label under a domain whose wildcard
    (`*.<domain>`) is among them.

    A stack policy because the issuer may sit on another Ingress: two Ingresses annotating the same
    secret would make cert-manager fight over one Certificate."""
    ingresses = _kubernetes(resources, "Ingress")
    issued: set[tuple[str, str]] = set()
    names: dict[tuple[str, str], set[str]] = defaultdict(set)
    """(namespace, secret) -> the host names it is issued for."""
    for ingress in ingresses:
        annotations = as_mapping(metadata_of(ingress.props).get("annotations"))
        if any(annotations.get(key) for key in ISSUER_ANNOTATIONS):
            for tls in as_mappings(_spec(ingress).get("tls")):
                annotated = (ingress.namespace, str(tls.get("secretName")))
                issued.add(annotated)
                names[annotated].update(str(host) for host in as_list(tls.get("hosts")))
    for certificate in _kubernetes(resources, "Certificate"):
        if certificate.type.startswith("kubernetes:cert-manager.io/"):
            written = (certificate.namespace, str(_spec(certificate).get("secretName")))
            issued.add(written)
            names[written].update(str(host) for host in as_list(_spec(certificate).get("dnsNames")))

    violations = []
    for ingress in ingresses:
        spec = _spec(ingress)
        tls_entries = as_mappings(spec.get("tls"))
        tls_hosts = [str(host) for tls in tls_entries if tls.get("secretName") for host in as_list(tls.get("hosts"))]
        for index, rule in enumerate(as_mappings(spec.get("rules"))):
            host = rule.get("host")
            if not host:
                violations.append(
                    StackViolation(
                        ingress,
                        Violation(
                            "S3", f"spec.rules[{index}].host", "a rule without host answers every host, outside TLS"
                        ),
                    )
                )
            elif not _host_covered(str(host), tls_hosts):
                violations.append(
                    StackViolation(
                        ingress,
                        Violation(
                            "S3",
                            f"spec.rules[{index}].host",
                            f"host {host} is not in any spec.tls entry with a secretName",
                        ),
                    )
                )
        for index, tls in enumerate(tls_entries):
            secret = tls.get("secretName")
            if secret and (ingress.namespace, str(secret)) not in issued:
                violations.append(
                    StackViolation(
                        ingress,
                        Violation(
                            "S3",
                            f"spec.tls[{index}].secretName",
                            f"TLS secret {secret} is issued by nothing: no Ingress using it has a cert-manager.io/"
                            "cluster-issuer or cert-manager.io/issuer annotation, and no Certificate writes it",
                        ),
                    )
                )
    violations.extend(_check_ingress_routes(resources, issued, names))
    return violations


_ROUTE_HOST = re.compile(r"Host\(\s*`([^`]*)`\s*\)")
"""A Traefik v3 rule's Host matcher (one host each; several are joined with ||)."""
_ROUTE_HOST_REGEXP = re.compile(r"HostRegexp\(\s*`([^`]*)`\s*\)")
"""A Traefik v3 rule's HostRegexp matcher: a Go regular expression over the whole host (unanchored unless it says)."""
_ONE_LABEL_UNDER_DOMAIN = re.compile(
    r"\^\[(?P<label>[A-Za-z0-9_-]+)\](?:\+|\{[1-9][0-9]*(?:,[0-9]*)?\})"
    r"\\\.(?P<domain>[a-z0-9-]+(?:\\\.[a-z0-9-]+)*)\$"
)
"""The one HostRegexp shape a certificate can be shown to cover: anchored, one non-empty run of a character class
(the label), an escaped dot, a literal domain with escaped dots: ^[a-z0-9-]+\\.tenants\\.example\\.com$."""


_CLASS_RANGE = re.compile(r"(.)-(.)")
"""A range in a character class body, read left to right as Go's regexp reads them: a '-' with no character on one
side is itself."""


def _class_leaves_out(body: str, character: str) -> bool:
    """Whether a character class body of letters, digits, '_' and '-' (ranges included) leaves out `character`, which
    is none of those: `--z` does not leave out '.', as the range from '-' to 'z' takes in the dot."""
    return not any(
        low <= character <= high  # pragma: no mutate `<` for `<=` is the same: no body holds '.', the one asked
        for low, high in _CLASS_RANGE.findall(body)
    )


def host_regexp_domain(pattern: str) -> str | None:
    """The domain a HostRegexp matches one DNS label under, or None when it may match anything else (unanchored,
    a dot or a wildcard in the label, an unescaped dot in the domain, any other construct)."""
    match = _ONE_LABEL_UNDER_DOMAIN.fullmatch(pattern)
    if match is None or not _class_leaves_out(match["label"], "."):
        return None
    return match["domain"].replace("\\.", ".")


def _check_ingress_routes(
    resources: Resources, issued: set[tuple[str, str]], names: Mapping[tuple[str, str], set[str]]
) -> list[StackViolation]:
    """S3 for Traefik IngressRoutes: a cert-manager-issued tls.secretName covering every routed host."""
    violations = []
    for route_object in _kubernetes(resources, "IngressRoute"):
        if not route_object.type.startswith("kubernetes:traefik."):
            continue
        spec = _spec(route_object)
        secret = as_mapping(spec.get("tls")).get("secretName")
        key = (route_object.namespace, str(secret))
        if not secret:
            violations.append(
                StackViolation(
                    route_object,
                    Violation("S3", "spec.tls.secretName", "an IngressRoute without tls.secretName serves no TLS"),
                )
            )
        elif key not in issued:
            violations.append(
                StackViolation(
                    route_object,
                    Violation(
                        "S3",
                        "spec.tls.secretName",
                        f"TLS secret {secret} is issued by nothing: no Certificate writes it and no Ingress using it "
                        "has a cert-manager.io/cluster-issuer or cert-manager.io/issuer annotation",
                    ),
                )
            )
        for index, route in enumerate(as_mappings(spec.get("routes"))):
            rule = str(route.get("match"))  # left out: "None", which holds no matcher
            hosts = _ROUTE_HOST.findall(rule)
            patterns = _ROUTE_HOST_REGEXP.findall(rule)
            path = f"spec.routes[{index}].match"
            if not hosts and not patterns:
                violations.append(
                    StackViolation(
                        route_object,
                        Violation("S3", path, "a route without Host(...) or HostRegexp(...) answers every host"),
                    )
                )
            elif secret and key in issued:
                issued_names = names[key]
                messages = [
                    f"host {host} is not among the names TLS secret {secret} is issued for"
                    for host in hosts
                    if not _host_covered(host, issued_names)
                ]
                for pattern in patterns:
                    domain = host_regexp_domain(pattern)
                    if domain is None:
                        messages.append(
                            f"HostRegexp `{pattern}` is not one DNS label under a domain (^[a-z0-9-]+\\.<domain>$ "
                            "with the dots escaped), so no certificate can be shown to cover every host it matches"
                        )
                    elif f"*.{domain}" not in issued_names:
                        messages.append(
                            f"HostRegexp `{pattern}` matches every one-label subdomain of {domain}, and TLS secret "
                            f"{secret} is not issued for *.{domain}"
                        )
                violations.extend(StackViolation(route_object, Violation("S3", path, message)) for message in messages)
    return violations


# S4 ---------------------------------------------------------------------------------------------

BUCKET_TYPES = frozenset({"aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"})


def _s3_module(resource: StackResource) -> str:
    """The module of an AWS type, `s3/bucketVersioning` for both BucketVersioning and BucketVersioningV2; another
    provider's type gives its package name (`kubernetes`), which holds no '/'."""
    return resource.type.removeprefix("aws:").split(":")[0].removesuffix("V2")


def _belongs_to(resource: StackResource, bucket: StackResource) -> bool:
    """A bucket setting belongs to a bucket it depends on or names: dependencies hold even in a preview,
    where the bucket's name is still unknown."""
    if bucket.urn in resource.dependencies:
        return True
    name = resource.props.get("bucket")
    return bool(name) and name in (bucket.props.get("bucket"), bucket.props.get("id"))


def _policy_statements(document: object) -> list[Mapping[str, Any]]:
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            return []
    statements = as_mapping(document).get("Statement")
    return as_mappings(statements) if isinstance(statements, list) else as_mappings([statements])


def _denies_plain_http(statement: Mapping[str, Any]) -> bool:
    condition = as_mapping(as_mapping(statement.get("Condition")).get("Bool"))
    return statement.get("Effect") == "Deny" and str(condition.get("aws:SecureTransport")).lower() == "false"


def _bucket_control_failures(settings: list[StackResource], options: Options) -> list[tuple[str, str]]:
    by_module: dict[str, list[StackResource]] = defaultdict(list)
    for setting in settings:
        by_module[_s3_module(setting)].append(setting)
    failures = []

    blocks = by_module["s3/bucketPublicAccessBlock"]
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    if not any(all(block.props.get(flag) is True for flag in flags) for block in blocks):
        failures.append(
            ("BucketPublicAccessBlock", f"no BucketPublicAccessBlock with all four flags true ({', '.join(flags)})")
        )

    algorithms = set(options["encryptionAlgorithms"])
    encrypted = any(
        as_mapping(rule.get("applyServerSideEncryptionByDefault")).get("sseAlgorithm") in algorithms
        for encryption in by_module["s3/bucketServerSideEncryptionConfiguration"]
        for rule in as_mappings(encryption.props.get("rules"))
    )
    if not encrypted:
        failures.append(
            (
                "BucketServerSideEncryptionConfiguration",
                f"no default encryption with one of {', '.join(sorted(algorithms))}",
            )
        )

    versioned = any(
        as_mapping(versioning.props.get("versioningConfiguration")).get("status") == "Enabled"
        for versioning in by_module["s3/bucketVersioning"]
    )
    if not versioned:
        failures.append(("BucketVersioning", "versioning is not Enabled"))

    lifecycle = any(
        rule.get("status") == "Enabled"
        for configuration in by_module["s3/bucketLifecycleConfiguration"]
        for rule in as_mappings(configuration.props.get("rules"))
    )
    if not lifecycle:
        failures.append(("BucketLifecycleConfiguration", "no lifecycle configuration with an Enabled rule"))

    tls_only = any(
        _denies_plain_http(statement)
        for policy in by_module["s3/bucketPolicy"]
        for statement in _policy_statements(policy.props.get("policy"))
    )
    if not tls_only:
        failures.append(("BucketPolicy", "no bucket policy denies requests with aws:SecureTransport false"))
    return failures


MEDIA_BUCKET_ROLE = "media"
"""The `crm-platform/bucket-role` of a bucket of user uploads."""


def bucket_role(bucket: StackResource) -> str | None:
    """What a bucket holds, from its `crm-platform/bucket-role` tag (the program's tags, or the provider's merged
    ones); None for a bucket without it, which is held to the common controls only."""
    for field in ("tags", "tagsAll"):
        role = as_mapping(bucket.props.get(field)).get(BUCKET_ROLE)
        if isinstance(role, str) and role:
            return role
    return None


def _expires_current_objects(rule: Mapping[str, Any]) -> bool:
    """An Enabled rule whose expiration has days or a date removes current objects; expiredObjectDeleteMarker
    alone removes only delete markers with no version left behind them."""
    expiration = as_mapping(rule.get("expiration"))
    return rule.get("status") == "Enabled" and (expiration.get("days") is not None or bool(expiration.get("date")))


def _is_locked(bucket: StackResource, own: list[StackResource]) -> tuple[bool, bool]:
    """(created with Object Lock, has an Enabled lock configuration with a default retention)."""
    created = bucket.props.get("objectLockEnabled") is True
    configured = any(
        _s3_module(setting) == "s3/bucketObjectLockConfiguration"
        and setting.props.get("objectLockEnabled", "Enabled") == "Enabled"
        and bool(as_mapping(as_mapping(setting.props.get("rule")).get("defaultRetention")).get("mode"))
        for setting in own
    )
    return created, configured


def _role_control_failures(bucket: StackResource, own: list[StackResource], options: Options) -> list[tuple[str, str]]:
    """The controls of the bucket's kind: a media bucket never expires or locks an upload; a bucket whose role is
    in `objectLockRoles` (production: backups) is created locked with a default retention."""
    role = bucket_role(bucket)
    if role is None:
        return []
    failures = []
    created, configured = _is_locked(bucket, own)
    if role == MEDIA_BUCKET_ROLE:
        expiring = sorted(
            str(rule.get("id") or "(no id)")
            for configuration in own
            if _s3_module(configuration) == "s3/bucketLifecycleConfiguration"
            for rule in as_mappings(configuration.props.get("rules"))
            if _expires_current_objects(rule)
        )
        if expiring:
            failures.append(
                (
                    "BucketLifecycleConfiguration",
                    f"holds media, and lifecycle rule {', '.join(expiring)} expires current objects: a user's upload "
                    "must stay until the application deletes it (keep deleted and overwritten ones as noncurrent "
                    "versions instead)",
                )
            )
        if created or configured:
            failures.append(
                (
                    "BucketObjectLockConfiguration",
                    "holds media, and Object Lock would keep a user's upload (personal data) from being erased",
                )
            )
    if role in set(options["objectLockRoles"]) and not (created and configured):
        failures.append(
            (
                "BucketObjectLockConfiguration",
                f"holds {role}, which must be locked: create the bucket with objectLockEnabled and give it a "
                "BucketObjectLockConfiguration with a default retention",
            )
        )
    return failures


def check_bucket_controls(resources: Resources, options: Options) -> list[StackViolation]:
    """S4: every S3 bucket has, as separate resources, a public access block (all four flags), default
    SSE-KMS encryption, versioning, a lifecycle rule and a policy denying plain HTTP (REFERENCE.md section 4);
    and the controls of its kind (tag crm-platform/bucket-role): a media bucket never expires a current upload
    and has no Object Lock; a bucket whose role is in `objectLockRoles` has Object Lock with a default retention."""
    buckets = [resource for resource in resources if resource.type in BUCKET_TYPES]
    # The buckets themselves come along (module s3/bucket), which no control reads.
    settings = [resource for resource in resources if _s3_module(resource).startswith("s3/bucket")]
    violations: list[StackViolation] = []
    for bucket in buckets:
        own = [setting for setting in settings if _belongs_to(setting, bucket)]
        violations.extend(
            StackViolation(bucket, Violation("S4", control, f"bucket {bucket.name}: {message}"))
            for control, message in [
                *_bucket_control_failures(own, options),
                *_role_control_failures(bucket, own, options),
            ]
        )
    return violations


# S5-S7 (production) ---------------------------------------------------------------------------


def _is_cnpg(resource: StackResource) -> bool:
    """Whether a Kubernetes object is CloudNativePG's (a Cluster or ScheduledBackup of another group is not)."""
    return str(resource.props.get("apiVersion")).startswith(CNPG_API_GROUP)


def _postgres_clusters(resources: Resources) -> list[StackResource]:
    return [resource for resource in _kubernetes(resources, "Cluster") if _is_cnpg(resource)]


def check_postgres_instances(resources: Resources, options: Options) -> list[StackViolation]:
    """S5: every CloudNativePG Cluster runs at least `minInstances` instances (a primary and replicas elsewhere)."""
    minimum = int(options["minInstances"])
    violations = []
    for cluster in _postgres_clusters(resources):
        instances = _spec(cluster).get("instances", 1)
        if not isinstance(instances, int) or instances < minimum:
            violations.append(
                StackViolation(
                    cluster,
                    Violation(
                        "S5",
                        "spec.instances",
                        f"Cluster {_ref(cluster)} has {show(instances)} instances; at least {minimum}",
                    ),
                )
            )
    return violations


def _archives_wal(cluster: StackResource) -> bool:
    spec = _spec(cluster)
    plugins = as_mappings(spec.get("plugins"))
    return any(
        plugin.get("isWALArchiver") is True and plugin.get("enabled") is not False for plugin in plugins
    ) or bool(as_mapping(spec.get("backup")).get("barmanObjectStore"))


def check_backups_configured(resources: Resources, options: Options) -> list[StackViolation]:
    """S6: every CloudNativePG Cluster archives its WAL, has a ScheduledBackup, and its namespace runs a
    logical backup CronJob (one of `logicalBackupCronJobs`)."""
    cronjob_names = list(options["logicalBackupCronJobs"])
    scheduled = {
        (backup.namespace, str(as_mapping(_spec(backup).get("cluster")).get("name")))
        for backup in _kubernetes(resources, "ScheduledBackup")
        if _is_cnpg(backup)
    }
    cronjobs = {(cronjob.namespace, cronjob.object_name) for cronjob in _kubernetes(resources, "CronJob")}
    violations = []
    for cluster in _postgres_clusters(resources):
        ref = _ref(cluster)
        if not _archives_wal(cluster):
            violations.append(
                StackViolation(
                    cluster, Violation("S6", "spec.plugins", f"Cluster {ref} archives no WAL (no isWALArchiver plugin)")
                )
            )
        if (cluster.namespace, cluster.object_name) not in scheduled:
            violations.append(
                StackViolation(cluster, Violation("S6", "metadata.name", f"no ScheduledBackup targets Cluster {ref}"))
            )
        if not any((cluster.namespace, name) in cronjobs for name in cronjob_names):
            violations.append(
                StackViolation(
                    cluster,
                    Violation(
                        "S6",
                        "metadata.namespace",
                        f"namespace {cluster.namespace} has no logical backup CronJob ({', '.join(cronjob_names)})",
                    ),
                )
            )
    return violations


def check_web_replicas(resources: Resources, options: Options) -> list[StackViolation]:
    """S7: the web Deployments (`deployments`) run at least `minReplicas` pods, by replicas or their HPA's minimum."""
    names = list(options["deployments"])
    minimum_required = int(options["minReplicas"])
    autoscalers = _kubernetes(resources, "HorizontalPodAutoscaler")
    violations = []
    for deployment in _kubernetes(resources, "Deployment"):
        if not matches_any(deployment.object_name, names):
            continue
        minimum = _minimum_replicas(deployment, autoscalers)
        if minimum < minimum_required:
            violations.append(
                StackViolation(
                    deployment,
                    Violation(
                        "S7",
                        "spec.replicas",
                        f"Deployment {_ref(deployment)} may run {minimum} pod(s); at least {minimum_required} "
                        "(replicas, or the HPA's minReplicas)",
                    ),
                )
            )
    return violations
