"""Platform rules for pod-bearing objects beyond the Pod Security Standards.

Each check takes a plain Kubernetes object and the policy's options (its config, defaults filled in: the
registry's config schema is the one place a default is written, so the checks index options directly) and
returns violations; objects of other kinds pass. Control ids: W1 resources, W2 probes, W3 image
pinning, W4 service account and token, W5 secrets in env, W6 CronJob scheduling.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from kube.secret_names import looks_secret
from policies.common import Violation, as_mapping, as_mappings, matches_any, metadata_of, object_key, show
from policies.pod_security import Container, PodTemplate, pod_template_of
from policies.secret_patterns import is_reference, secret_shape

Options = Mapping[str, Any]

LONG_RUNNING_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController"})
"""Kinds whose pods are meant to run until replaced; a bare Pod (or PodTemplate) is long-running unless it may
complete."""
RESTART_POLICY_KINDS = frozenset({"Pod", "PodTemplate"})
"""Kinds whose own restartPolicy (default Always) says whether their pods run until replaced."""

_DIGEST = re.compile(r"^[A-Za-z0-9_+.-]+:[0-9a-fA-F]{32,}$")


def _long_running_containers(pod: PodTemplate) -> Iterator[Container]:
    """Regular containers, and init containers that are native sidecars (restartPolicy: Always)."""
    for container in pod.containers:
        is_sidecar = container.group == "initContainers" and container.fields.get("restartPolicy") == "Always"
        if container.group == "containers" or is_sidecar:
            yield container


def _is_long_running(obj: Mapping[str, Any], pod: PodTemplate) -> bool:
    kind = obj.get("kind")
    if kind in RESTART_POLICY_KINDS:
        return bool(pod.spec.get("restartPolicy", "Always") == "Always")
    return kind in LONG_RUNNING_KINDS


def check_resources(obj: Mapping[str, Any], options: Options) -> list[Violation]:
    """W1: every container (init and regular; ephemeral ones cannot have any) requests CPU and memory
    and limits memory, so the scheduler places it and the node reclaims a leak from it, not its neighbours."""
    pod = pod_template_of(obj)
    if pod is None:
        return []
    violations = []
    for container in (container for container in pod.containers if container.group != "ephemeralContainers"):
        resources = as_mapping(container.fields.get("resources"))
        for section, resource in (("requests", "cpu"), ("requests", "memory"), ("limits", "memory")):
            if as_mapping(resources.get(section)).get(resource) in (None, ""):
                violations.append(
                    Violation(
                        "W1",
                        f"{container.path}.resources.{section}.{resource}",
                        f"container {container.name!r} sets no {section}.{resource}",
                    )
                )
    return violations


def check_probes(obj: Mapping[str, Any], options: Options) -> list[Violation]:
    """W2: long-running containers have a liveness and a readiness probe; Jobs and CronJobs are exempt, and so
    are workloads whose `<namespace>/<name>` the config's `exempt` maps to a reason (a chart without probes)."""
    pod = pod_template_of(obj)
    if pod is None or not _is_long_running(obj, pod):
        return []
    if matches_any(object_key(obj), options.get("exempt", {})):
        return []
    return [
        Violation("W2", f"{container.path}.{probe}", f"long-running container {container.name!r} has no {probe}")
        for container in _long_running_containers(pod)
        for probe in ("livenessProbe", "readinessProbe")
        if not isinstance(container.fields.get(probe), Mapping)
    ]


def image_reference(image: str) -> tuple[str, str, str]:
    """(repository, tag, digest) of an image reference; tag and digest are "" when absent.

    The tag is what follows the last ':' after the last '/', so `registry:5000/app` has none.
    """
    name, _, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :], digest
    return name, "", digest


def check_image_pinned(obj: Mapping[str, Any], options: Options) -> list[Violation]:
    """W3: every image names a version: a tag other than `latest`, or a digest; a digest when `requireDigest`."""
    pod = pod_template_of(obj)
    if pod is None:
        return []
    require_digest = bool(options["requireDigest"])
    violations = []
    for container in pod.containers:
        path = f"{container.path}.image"
        image = container.fields.get("image")
        if not isinstance(image, str) or not image.strip():
            violations.append(Violation("W3", path, f"container {container.name!r} names no image"))
            continue
        _, tag, digest = image_reference(image.strip())
        if digest and not _DIGEST.match(digest):
            violations.append(Violation("W3", path, f"image {image} has a malformed digest"))
        elif require_digest and not digest:
            violations.append(
                Violation("W3", path, f"image {image} is not pinned by digest (requireDigest is true); add @sha256:...")
            )
        elif not digest and not tag:
            violations.append(Violation("W3", path, f"image {image} has no tag, so it means latest; pin a version"))
        elif not digest and tag == "latest":
            violations.append(Violation("W3", path, f"image {image} uses the tag latest; pin a version"))
    return violations


def check_service_account(obj: Mapping[str, Any], options: Options) -> list[Violation]:
    """W4: pods run as their own ServiceAccount and mount no API token, unless allow-listed.

    The token rule reads the pod spec only: a ServiceAccount's own `automountServiceAccountToken: false`
    is invisible to a resource policy, and the pod's field overrides it anyway, so the pod must say false.
    Allow-list entries are `<namespace>/<serviceaccount>` patterns.
    """
    pod = pod_template_of(obj)
    if pod is None:
        return []
    namespace = str(metadata_of(obj).get("namespace") or "")
    account = pod.spec.get("serviceAccountName") or pod.spec.get("serviceAccount") or "default"
    identity = f"{namespace}/{account}"
    violations = []
    if account == "default" and not matches_any(identity, options["defaultAllowed"]):
        violations.append(
            Violation(
                "W4",
                f"{pod.spec_path}.serviceAccountName",
                "the pod runs as the namespace's default ServiceAccount; give the workload its own",
            )
        )
    automount = pod.spec.get("automountServiceAccountToken")
    if automount is not False and not matches_any(identity, options["tokenAllowed"]):
        found = "unset (the ServiceAccount decides, true by default)" if automount is None else show(automount)
        violations.append(
            Violation(
                "W4",
                f"{pod.spec_path}.automountServiceAccountToken",
                f"automountServiceAccountToken is {found} for ServiceAccount {identity}; set false, or allow-list "
                "the account in tokenAllowed if it calls the Kubernetes API",
            )
        )
    return violations


def check_env_secrets(obj: Mapping[str, Any], options: Options) -> list[Violation]:
    """W5: no secret as a literal env value: a secret-looking name with a literal, or a value shaped like a secret.

    `$(VAR)` recipes over secretKeyRef variables are references, not secrets. Messages never quote the value.
    """
    pod = pod_template_of(obj)
    if pod is None:
        return []
    violations = []
    for container in pod.containers:
        for index, variable in enumerate(as_mappings(container.fields.get("env"))):
            name = str(variable.get("name") or index)
            value = variable.get("value")
            if not isinstance(value, str) or not value or is_reference(value):
                continue
            path = f"{container.path}.env[{name}].value"
            shape = secret_shape(value)
            if shape is not None:
                violations.append(Violation("W5", path, f"env {name} holds {shape} as a literal; use secretKeyRef"))
            elif looks_secret(name):
                violations.append(
                    Violation(
                        "W5", path, f"env {name} looks secret but has a literal value; use valueFrom.secretKeyRef"
                    )
                )
    return violations


def check_cronjob_scheduling(obj: Mapping[str, Any], options: Options) -> list[Violation]:
    """W6: a CronJob says what happens when runs overlap and how late a missed run may still start."""
    if obj.get("kind") != "CronJob":
        return []
    spec = as_mapping(obj.get("spec"))
    allowed = list(options["allowedConcurrencyPolicies"])
    violations = []
    policy = spec.get("concurrencyPolicy")
    if policy not in allowed:
        found = "unset (Allow)" if policy is None else show(policy)
        violations.append(
            Violation(
                "W6",
                "spec.concurrencyPolicy",
                f"concurrencyPolicy is {found}; allowed: {', '.join(allowed)} (overlapping runs pile up otherwise)",
            )
        )
    deadline = spec.get("startingDeadlineSeconds")
    if not isinstance(deadline, int) or isinstance(deadline, bool) or deadline <= 0:
        found = "unset" if deadline is None else show(deadline)
        violations.append(
            Violation(
                "W6",
                "spec.startingDeadlineSeconds",
                f"startingDeadlineSeconds is {found}; set a positive number of seconds so a run missed "
                "during an outage is skipped rather than started at any hour",
            )
        )
    return violations
