"""Helm values as the charts' pods will run them: where a key occurs, and whether the pods are restricted.

A chart's values hold its security contexts under keys of its own choosing (`podSecurityContext`,
`securityContext`, `containerSecurityContext`); these helpers find them and judge them with the
policy pack's own Pod Security checks, so chart tests and the pack never disagree on "restricted".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from policies.pod_security import check_read_only_root, check_restricted


def found_under(values: Any, key: str, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, value) stored under `key` anywhere in nested values."""
    if isinstance(values, dict):
        for name, child in values.items():
            child_path = f"{path}.{name}" if path else name
            if name == key:
                yield child_path, child
            yield from found_under(child, key, child_path)
    elif isinstance(values, list):
        for index, item in enumerate(values):
            yield from found_under(item, key, f"{path}[{index}]")


def security_context_problems(values: dict[str, Any], keys: dict[str, str]) -> tuple[list[str], int]:
    """Violations of the restricted profile plus read-only root, judged by the policy pack's own checks, and the
    number of contexts checked. Each pod-level context is tried with each container-level context of the values
    as one Pod, the way the chart's templates combine them."""
    pods = [
        (path, context) for key, level in keys.items() if level == "pod" for path, context in found_under(values, key)
    ]
    containers = [
        (path, context)
        for key, level in keys.items()
        if level == "container"
        for path, context in found_under(values, key)
    ]
    problems: list[str] = []
    for pod_path, pod_context in pods or [("(no pod context)", {})]:
        if not isinstance(pod_context.get("runAsUser"), int):
            problems.append(f"{pod_path}: no numeric runAsUser for the kubelet to verify")
        for container_path, container_context in containers:
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "chart"},
                "spec": {
                    "securityContext": pod_context,
                    "containers": [{"name": "chart", "image": "chart:1", "securityContext": container_context}],
                },
            }
            for violation in [*check_restricted(pod), *check_read_only_root(pod)]:
                problems.append(f"{pod_path} + {container_path}: {violation.control} {violation.message}")
    return problems, len(pods) + len(containers)
