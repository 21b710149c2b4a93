"""Pod template pieces every workload shares, secure by default.

Pure functions: the restricted security context (REFERENCE.md section 3) plus a read-only
root filesystem, resources, probes and the writable emptyDirs a read-only image needs.
The security contexts come in two spellings of one definition: the SDK's (snake_case
arguments, for the pods the components declare) and Helm values' (camelCase, for the pods
the third-party charts make), so a chart's pods can never drift from the platform's own.
Nothing here creates a resource, so tests read the results directly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pulumi_kubernetes as k8s

from stacks.services import Probe, Resources

IMAGE_PULL_POLICY = "Always"
"""Every container start asks the registry what the tag names now (Checkov CKV_K8S_15).

Images are pinned by exact tag, not digest, and a tag can be pushed again (the official
images are rebuilt under the same tag for OS fixes). With IfNotPresent each node keeps
whichever build it cached first, and a pod can start from a private image another pod left
on the node without its pull secret being checked. Always resolves the tag on every start
and downloads only layers the node lacks: one manifest request per start, and the registry
must answer for a container to (re)start.
"""

TMP_SIZE_LIMIT = "256Mi"
"""Scratch space per pod (counted against the pod's memory if the node backs it with tmpfs)."""


def pod_security_context(run_as_user: int) -> k8s.core.v1.PodSecurityContextArgsDict:
    """Pod level of the restricted profile: non-root, fixed UID/GID, RuntimeDefault seccomp."""
    return {
        "run_as_non_root": True,
        "run_as_user": run_as_user,
        "run_as_group": run_as_user,
        # Files on the emptyDirs belong to the pod's group, so the app can write them.
        "fs_group": run_as_user,
        "fs_group_change_policy": "OnRootMismatch",
        "seccomp_profile": {"type": "RuntimeDefault"},
    }


def chart_pod_security_context(run_as_user: int) -> dict[str, Any]:
    """Pod level of the restricted profile (R3, R4, R5) in Helm values' spelling: non-root with a fixed UID/GID,
    RuntimeDefault seccomp. No fsGroup: the charts' pods write to no volume of their own."""
    return {
        "runAsNonRoot": True,
        "runAsUser": run_as_user,
        "runAsGroup": run_as_user,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def chart_container_security_context() -> dict[str, Any]:
    """`container_security_context` (R2, R6, B3, read-only root, non-root and seccomp per container) in Helm values'
    spelling."""
    spelled: dict[str, Any] = yaml_spelling(dict(container_security_context()))
    return spelled


def yaml_spelling(value: Any) -> Any:
    """Settings written for the SDK (snake_case keys) as YAML and Helm values spell them (camelCase)."""
    if isinstance(value, dict):
        return {_camel_case(str(key)): yaml_spelling(item) for key, item in value.items()}
    if isinstance(value, list):
        return [yaml_spelling(item) for item in value]
    return value


def _camel_case(key: str) -> str:
    first, *rest = key.split("_")
    return first + "".join(word.capitalize() for word in rest)


def container_security_context() -> k8s.core.v1.SecurityContextArgsDict:
    """Container level: no privilege escalation, no capabilities, nothing written to the image."""
    return {
        "allow_privilege_escalation": False,
        "privileged": False,
        "read_only_root_filesystem": True,
        "run_as_non_root": True,
        "capabilities": {"drop": ["ALL"]},
        "seccomp_profile": {"type": "RuntimeDefault"},
    }


def resource_requirements(resources: Resources) -> k8s.core.v1.ResourceRequirementsArgsDict:
    return {
        "requests": {"cpu": resources.cpu_request, "memory": resources.memory_request},
        "limits": {"cpu": resources.cpu_limit, "memory": resources.memory_limit},
    }


def probe(check: Probe, port: int | None, host: str | None, *, liveness: bool) -> k8s.core.v1.ProbeArgsDict:
    """A liveness or readiness probe.

    Liveness is patient (a restart is drastic); readiness reacts fast. HTTP probes send the
    public host name: kubelet would otherwise send the pod IP as Host, which Django's
    ALLOWED_HOSTS rejects with 400, failing the probe on a healthy pod.
    """
    timing: k8s.core.v1.ProbeArgsDict = (
        {"period_seconds": 20, "timeout_seconds": 5, "failure_threshold": 3}
        if liveness
        else {"period_seconds": 10, "timeout_seconds": 3, "failure_threshold": 3}
    )
    if check.http_path is not None:
        if port is None:
            raise ValueError("an HTTP probe needs the container's port")
        http_get: k8s.core.v1.HTTPGetActionArgsDict = {"path": check.http_path, "port": "http"}
        if host is not None:
            http_get["http_headers"] = [{"name": "Host", "value": host}]
        return {**timing, "http_get": http_get}
    # Commands (celery inspect ping) start a Python interpreter: allow them time.
    return {**timing, "exec_": {"command": list(check.command)}, "timeout_seconds": 20}


def startup_probe(check: Probe, port: int | None, host: str | None) -> k8s.core.v1.ProbeArgsDict:
    """Gives a slow start (imports, connections) up to 5 minutes before liveness counts."""
    base = probe(check, port, host, liveness=True)
    return {**base, "period_seconds": 10, "failure_threshold": 30}


def volume_name(path: str) -> str:
    """A DNS-label volume name for a mount path: /app/.next/cache -> writable-app-next-cache."""
    # Runs of letters and digits joined by single dashes, so a cut at 63 leaves at most one dash to remove.
    slug = "-".join(re.findall(r"[a-z0-9]+", path.lower()))
    return f"writable-{slug}"[:63].removesuffix("-")


def writable_directories(
    paths: Sequence[str],
) -> tuple[list[k8s.core.v1.VolumeArgsDict], list[k8s.core.v1.VolumeMountArgsDict]]:
    """emptyDirs for /tmp and every extra writable path, and their mounts."""
    volumes: list[k8s.core.v1.VolumeArgsDict] = [{"name": "tmp", "empty_dir": {"size_limit": TMP_SIZE_LIMIT}}]
    mounts: list[k8s.core.v1.VolumeMountArgsDict] = [{"name": "tmp", "mount_path": "/tmp"}]
    for path in paths:
        name = volume_name(path)
        volumes.append({"name": name, "empty_dir": {"size_limit": TMP_SIZE_LIMIT}})
        mounts.append({"name": name, "mount_path": path})
    return volumes, mounts


def topology_spread(
    selector: dict[str, str], *, strict_nodes: bool
) -> list[k8s.core.v1.TopologySpreadConstraintArgsDict]:
    """Spread a service's pods across zones and nodes.

    Zones are best effort (clusters without zone labels still schedule); nodes are strict in
    production, so losing one node never takes most of a service with it. matchLabelKeys
    limits the count to one ReplicaSet, so a rollout is not skewed by the old pods;
    nodeTaintsPolicy Honor keeps cordoned and tainted nodes out of the count, so a drain cannot
    strand evicted pods behind the hard node constraint.
    """
    common = {
        "max_skew": 1,
        "label_selector": {"match_labels": selector},
        "match_label_keys": ["pod-template-hash"],
        "node_taints_policy": "Honor",
    }
    return [
        {**common, "topology_key": "topology.kubernetes.io/zone", "when_unsatisfiable": "ScheduleAnyway"},  # type: ignore[typeddict-item]
        {
            **common,  # type: ignore[typeddict-item]
            "topology_key": "kubernetes.io/hostname",
            "when_unsatisfiable": "DoNotSchedule" if strict_nodes else "ScheduleAnyway",
        },
    ]
