"""Write what one stack declares: Kubernetes manifests, an inventory and a summary.

build/<stack>/
  manifests/<namespace or _cluster>/<kind>-<name>.yaml   one Kubernetes object per file
  inventory.json    every resource of every provider, inputs with secrets masked
  summary.md        resources by type, compute per namespace, images and tags

Secrets are masked exactly where the SDK marked them: a secret map keeps its keys (so the
object still has its shape and validates) and every value becomes "[secret]". Output is
deterministic: sorted keys, integral numbers as integers, no timestamps.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import yaml

from kube.objects import dig, pod_spec_of
from kube.quantities import cpu_millicores, format_cores, format_gibibytes, memory_bytes
from offline.mocks import RecordedResource, is_secret, map_secrets
from offline.program import PROJECT_DIR, Recording
from offline.sizes import sizes_table
from stacks.errors import SECRET_MARKER

T = TypeVar("T", int, Decimal)

_TOP_LEVEL_ORDER = ("apiVersion", "kind", "metadata")


@dataclass(frozen=True)
class KubernetesObject:
    """One rendered object and the file it goes to."""

    path: str
    """Relative to manifests/."""
    document: dict[str, Any]
    resource: RecordedResource

    @property
    def kind(self) -> str:
        return str(self.document.get("kind", ""))

    @property
    def namespace(self) -> str:
        return str(self.document.get("metadata", {}).get("namespace", ""))

    @property
    def name(self) -> str:
        return str(self.document.get("metadata", {}).get("name", ""))


def masked(value: Any) -> Any:
    """`value` with every secret-wrapped part replaced by the marker, keeping map keys."""
    return map_secrets(value, _mask_leaves)


def _mask_leaves(value: Any) -> Any:
    if is_secret(value):  # a secret nested in a secret
        return _mask_leaves(value["value"])
    if isinstance(value, dict):
        return {key: _mask_leaves(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_leaves(item) for item in value]
    return SECRET_MARKER


def normalized(value: Any) -> Any:
    """Integral floats back to integers (the wire sends every number as a float), keys sorted."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: normalized(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [normalized(item) for item in value]
    return value


def _manifest_order(document: dict[str, Any]) -> dict[str, Any]:
    ordered = {key: document[key] for key in _TOP_LEVEL_ORDER if key in document}
    ordered.update({key: document[key] for key in sorted(document) if key not in ordered})
    return ordered


def kubernetes_objects(recording: Recording) -> list[KubernetesObject]:
    """Every Kubernetes object the program declared, masked and normalized."""
    objects: dict[str, KubernetesObject] = {}
    for resource in recording.resources:
        if not resource.type.startswith("kubernetes:") or "kind" not in resource.inputs:
            continue
        document = normalized(masked(resource.inputs))
        metadata = document.setdefault("metadata", {})
        metadata.setdefault("name", resource.outputs.get("metadata", {}).get("name"))
        namespace = metadata.get("namespace") or "_cluster"
        path = f"{namespace}/{str(document['kind']).lower()}-{metadata['name']}.yaml"
        if path in objects:
            raise ValueError(f"two objects render to manifests/{path}: {objects[path].resource.urn} and {resource.urn}")
        objects[path] = KubernetesObject(path=path, document=_manifest_order(document), resource=resource)
    return [objects[path] for path in sorted(objects)]


def inventory(recording: Recording) -> dict[str, Any]:
    """All resources of all providers, as the engine saw them, secrets masked."""
    return {
        "project": recording.config.project,
        "stack": recording.config.stack,
        "resources": [
            {
                "urn": resource.urn,
                "type": resource.type,
                "name": resource.name,
                "parent": resource.parent,
                "provider": resource.provider,
                "custom": resource.custom,
                "protect": resource.protect,
                "dependsOn": list(resource.dependencies),
                "inputs": normalized(masked(resource.inputs)),
            }
            for resource in recording.resources
        ],
        "outputs": normalized(masked(recording.stack_outputs)),
    }


def _pod_counts(document: Mapping[str, Any], autoscaled: Mapping[tuple[str, str], tuple[int, int]]) -> tuple[int, int]:
    """Fewest and most pods an object runs: replicas, or its autoscaler's range."""
    kind = document.get("kind")
    if kind in ("Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"):
        metadata = document.get("metadata", {})
        scaled = autoscaled.get((str(kind), str(metadata.get("name"))))
        if scaled is not None:
            return scaled
        replicas = dig(document, ("spec", "replicas"))
        count = int(replicas) if replicas is not None else 1
        return count, count
    if kind == "PodTemplate":
        # A template that controllers copy; it runs no pod of its own.
        return 0, 0
    if kind == "Job":
        count = int(dig(document, ("spec", "parallelism")) or 1)
    elif kind == "CronJob":
        count = int(dig(document, ("spec", "jobTemplate", "spec", "parallelism")) or 1)
    else:
        count = 1
    return count, count


@dataclass
class _Compute:
    pods: int = 0
    cpu_requests: Decimal = Decimal(0)
    cpu_limits: Decimal = Decimal(0)
    memory_requests: Decimal = Decimal(0)
    memory_limits: Decimal = Decimal(0)


def _autoscaled(objects: list[KubernetesObject]) -> dict[tuple[str, str], tuple[int, int]]:
    """(kind, name) of each autoscaled workload -> (minReplicas, maxReplicas)."""
    ranges = {}
    for obj in objects:
        if obj.kind == "HorizontalPodAutoscaler":
            spec = obj.document.get("spec", {})
            target = spec.get("scaleTargetRef", {})
            ranges[(str(target.get("kind")), str(target.get("name")))] = (
                int(spec.get("minReplicas", 1)),
                int(spec.get("maxReplicas", 1)),
            )
    return ranges


def _compute_by_namespace(objects: list[KubernetesObject]) -> dict[str, tuple[_Compute, _Compute]]:
    """Namespace -> (totals at minimum scale, totals at maximum scale)."""
    autoscaled = _autoscaled(objects)
    compute: dict[str, tuple[_Compute, _Compute]] = {
        obj.name: (_Compute(), _Compute()) for obj in objects if obj.kind == "Namespace"
    }
    for obj in objects:
        spec = pod_spec_of(obj.document)
        if spec is None:
            continue
        counts = _pod_counts(obj.document, autoscaled)
        totals = compute.setdefault(obj.namespace, (_Compute(), _Compute()))
        for total, pods in zip(totals, counts, strict=True):
            total.pods += pods
            for container in spec.get("containers", []):
                resources = container.get("resources", {})
                requests, limits = resources.get("requests", {}), resources.get("limits", {})
                total.cpu_requests += pods * cpu_millicores(requests.get("cpu", "0"))
                total.cpu_limits += pods * cpu_millicores(limits.get("cpu", "0"))
                total.memory_requests += pods * memory_bytes(requests.get("memory", "0"))
                total.memory_limits += pods * memory_bytes(limits.get("memory", "0"))
    return compute


def _span(low: T, high: T, shown: Callable[[T], str]) -> str:
    return shown(low) if low == high else f"{shown(low)}-{shown(high)}"


def _images(objects: list[KubernetesObject]) -> dict[tuple[str, str], list[str]]:
    images: dict[tuple[str, str], list[str]] = {}
    for obj in objects:
        spec = pod_spec_of(obj.document)
        if spec is None:
            continue
        for list_name in ("initContainers", "containers", "ephemeralContainers"):
            for container in spec.get(list_name, []):
                reference = str(container.get("image", ""))
                repository, tag = split_image(reference)
                images.setdefault((repository, tag), []).append(f"{obj.namespace}/{obj.kind}/{obj.name}")
    return images


def split_image(reference: str) -> tuple[str, str]:
    """("ghcr.io/acme/crm", "1.4.2") from an image reference; a digest counts as the tag."""
    if "@" in reference:
        repository, digest = reference.split("@", 1)
        return repository, digest
    last_segment = reference.rsplit("/", 1)[-1]
    if ":" in last_segment:
        repository, tag = reference.rsplit(":", 1)
        return repository, tag
    return reference, "(none: latest)"


def summary(recording: Recording, objects: list[KubernetesObject]) -> str:
    """The human-readable page: what this stack would create, and how big it is."""
    config = recording.config
    settings = normalized(masked(recording.stack_outputs.get("settings", {})))
    lines = [
        f"# Offline render of stack `{config.stack}`",
        "",
        f"Rendered from Pulumi.yaml and {config.stack_file} with mocks: no cluster, no cloud, no credentials.",
        "",
        "## Settings",
        "",
        "| setting | value |",
        "|---|---|",
    ]
    lines += [f"| {key} | `{json.dumps(settings[key])}` |" for key in sorted(settings)]

    lines += ["", "## Config secrets", "", "| key | value in this render |", "|---|---|"]
    for key in sorted(config.placeholders):
        lines.append(f"| {key} | placeholder: not readable offline (set with `pulumi config set --secret`) |")
    for key in sorted(config.supplied):
        lines.append(f"| {key} | supplied to the render, masked in every output |")

    counts = Counter(resource.type for resource in recording.resources)
    lines += [
        "",
        "## Resources by type",
        "",
        f"{len(recording.resources)} resources.",
        "",
        "| Pulumi type | count |",
        "|---|---|",
    ]
    lines += [f"| `{kind}` | {count} |" for kind, count in sorted(counts.items())]

    lines += [
        "",
        "## Application sizes by environment",
        "",
        "Per service: replicas or autoscaler range, and per-pod requests/limits (CPU/memory).",
        "",
        *sizes_table(PROJECT_DIR, config.stack),
    ]

    quotas = {
        obj.namespace: obj.document.get("spec", {}).get("hard", {}) for obj in objects if obj.kind == "ResourceQuota"
    }
    lines += [
        "",
        "## Compute per namespace",
        "",
        "Sums over the containers of every pod template times its replicas, at the autoscalers' "
        "minimum and maximum (min-max).",
        "",
        "| namespace | pods | CPU requests | CPU limits | memory requests | memory limits "
        "| quota (CPU req/lim, memory req/lim, pods) |",
        "|---|---|---|---|---|---|---|",
    ]
    for namespace, (low, high) in sorted(_compute_by_namespace(objects).items()):
        hard = quotas.get(namespace)
        quota = (
            f"{hard.get('requests.cpu')}/{hard.get('limits.cpu')}, "
            f"{hard.get('requests.memory')}/{hard.get('limits.memory')}, {hard.get('pods')}"
            if hard
            else "none"
        )
        lines.append(
            f"| {namespace} | {_span(low.pods, high.pods, str)} "
            f"| {_span(low.cpu_requests, high.cpu_requests, format_cores)} "
            f"| {_span(low.cpu_limits, high.cpu_limits, format_cores)} "
            f"| {_span(low.memory_requests, high.memory_requests, format_gibibytes)} "
            f"| {_span(low.memory_limits, high.memory_limits, format_gibibytes)} | {quota} |"
        )

    images = _images(objects)
    lines += ["", "## Images", ""]
    if images:
        lines += ["| image | tag | used by |", "|---|---|---|"]
        for (repository, tag), users in sorted(images.items()):
            lines.append(f"| `{repository}` | `{tag}` | {', '.join(sorted(users))} |")
    else:
        lines.append("No container images are declared by this stack yet.")
    return "\n".join(lines) + "\n"


# libyaml's emitter when PyYAML has it (its wheels do): the same bytes as the pure-Python emitter for every
# object the program renders (tests/offline/test_render.py compares the two), about five times faster, which
# is a third of a production render's time otherwise.
_SAFE_DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _ManifestDumper(_SAFE_DUMPER):  # type: ignore[valid-type,misc]
    """Block-style YAML with multi-line strings as literal blocks."""


def _represent_string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ManifestDumper.add_representer(str, _represent_string)


def dump_yaml(document: Any) -> str:
    return yaml.dump(document, Dumper=_ManifestDumper, sort_keys=False, default_flow_style=False, width=120)


@dataclass(frozen=True)
class RenderResult:
    out_dir: Path
    recording: Recording
    objects: tuple[KubernetesObject, ...]


RENDER_MARKER = ".offline-render"
"""File that marks a directory as a render, which the next render may replace."""


class RenderDirectoryError(Exception):
    """The output directory holds something other than an earlier render."""


def _clear(out_dir: Path) -> None:
    """Remove an earlier render; refuse to delete a directory the render did not write."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir() or (any(out_dir.iterdir()) and not (out_dir / RENDER_MARKER).exists()):
        raise RenderDirectoryError(
            f"refusing to replace {out_dir}: it is not an earlier render (no {RENDER_MARKER} in it); "
            "choose an empty or new directory with --out"
        )
    shutil.rmtree(out_dir)


def write_render(recording: Recording, out_dir: Path) -> RenderResult:
    """Replace out_dir (new, empty or an earlier render) with the render of `recording`."""
    objects = kubernetes_objects(recording)
    _clear(out_dir)
    manifests = out_dir / "manifests"
    for obj in objects:
        target = manifests / obj.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dump_yaml(obj.document), encoding="utf-8")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "inventory.json").write_text(
        json.dumps(inventory(recording), indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    (out_dir / "summary.md").write_text(summary(recording, objects), encoding="utf-8")
    (out_dir / RENDER_MARKER).write_text("written by `python -m offline render`; safe to replace\n", encoding="utf-8")
    return RenderResult(out_dir=out_dir, recording=recording, objects=tuple(objects))
