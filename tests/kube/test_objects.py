"""Reading pod specs, pod metadata and containers out of Kubernetes objects, whatever shape they arrive in."""

from __future__ import annotations

from typing import Any

import pytest

from kube.objects import (
    POD_SPEC_PATHS,
    containers_of,
    dig,
    dig_mapping,
    pod_metadata_of,
    pod_metadata_path,
    pod_spec_of,
)

SPEC = {"containers": [{"name": "web"}]}
METADATA = {"labels": {"app": "crm"}}


def nest(path: tuple[str, ...], value: object) -> dict[str, Any]:
    """`value` placed at `path`."""
    document: Any = value
    for step in reversed(path):
        document = {step: document}
    return dict(document)


def pod_bearing(kind: str, spec: object = SPEC, metadata: object = METADATA) -> dict[str, Any]:
    """An object of `kind` with `spec` where its pod spec goes and `metadata` where its pod metadata goes."""
    spec_path = POD_SPEC_PATHS[kind]
    document: dict[str, Any] = {"kind": kind, "metadata": {"name": "object-itself"}}
    if kind == "Pod":
        return {"kind": kind, "metadata": metadata, "spec": spec}
    template = {"metadata": metadata, "spec": spec}
    document.update(nest(spec_path[:-1], template))
    return document


def test_dig_follows_mappings_and_stops_at_anything_else() -> None:
    """A missing key or a step into a non-mapping gives None, never an error."""
    document = {"a": {"b": {"c": 3}}, "list": [1], "text": "x"}
    assert dig(document, ("a", "b", "c")) == 3
    assert dig(document, ()) == document
    assert dig(document, ("a", "missing", "c")) is None
    assert dig(document, ("list", "0")) is None
    assert dig(document, ("text", "x")) is None


def test_dig_mapping_finds_only_mappings() -> None:
    """A value that is not a mapping counts as not found."""
    document = {"a": {"b": {"c": 3}}, "list": [{"c": 3}]}
    assert dig_mapping(document, ("a", "b")) == {"c": 3}
    assert dig_mapping(document, ("a", "b", "c")) is None
    assert dig_mapping(document, ("list",)) is None
    assert dig_mapping(document, ("missing",)) is None


@pytest.mark.parametrize("kind", sorted(POD_SPEC_PATHS))
def test_every_pod_bearing_kind_gives_its_pod_spec_and_pod_metadata(kind: str) -> None:
    """Each kind's pod spec and pod metadata are found where that kind keeps them, not the object's own metadata."""
    document = pod_bearing(kind)
    assert pod_spec_of(document) == SPEC
    assert pod_metadata_of(document) == METADATA
    assert containers_of(document) == SPEC["containers"]


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("Pod", ("metadata",)),
        ("PodTemplate", ("template", "metadata")),
        ("Deployment", ("spec", "template", "metadata")),
        ("CronJob", ("spec", "jobTemplate", "spec", "template", "metadata")),
        ("ConfigMap", None),
    ],
)
def test_pod_metadata_sits_beside_the_pod_spec(kind: str, path: tuple[str, ...] | None) -> None:
    """A Pod's own metadata; the template's for every other pod-bearing kind; none for other kinds."""
    assert pod_metadata_path(kind) == path


@pytest.mark.parametrize(
    "document",
    [
        {},
        {"kind": None, "spec": SPEC},
        {"kind": {"Pod": 1}, "spec": SPEC},
        {"kind": ["Pod"], "spec": SPEC},
        {"kind": "pod", "spec": SPEC},
        {"kind": "ConfigMap", "spec": SPEC},
    ],
)
def test_objects_of_no_pod_bearing_kind_have_no_pod(document: dict[str, Any]) -> None:
    """A missing, malformed (even unhashable) or other kind: no pod spec, no pod metadata, no containers."""
    assert pod_spec_of(document) is None
    assert pod_metadata_of(document) is None
    assert containers_of(document) == []


@pytest.mark.parametrize("spec", [None, "spec", ["containers"]])
def test_a_pod_bearing_object_without_a_pod_spec_has_no_pod(spec: object) -> None:
    """A Deployment whose template has metadata but no spec mapping has no pod spec and no pod metadata either."""
    document = pod_bearing("Deployment", spec=spec)
    assert pod_spec_of(document) is None
    assert pod_metadata_of(document) is None
    assert containers_of(document) == []


@pytest.mark.parametrize("metadata", [None, "labels", [1]])
def test_a_pod_without_metadata_has_empty_pod_metadata(metadata: object) -> None:
    """A pod spec without a metadata mapping beside it gives {} (the pod-bearing kind is still checked)."""
    assert pod_metadata_of(pod_bearing("Deployment", metadata=metadata)) == {}
    assert pod_metadata_of(pod_bearing("Pod", metadata=metadata)) == {}


def test_pod_spec_and_metadata_are_copies() -> None:
    """Changing what came back leaves the object as it was."""
    document = pod_bearing("Deployment")
    spec, metadata = pod_spec_of(document), pod_metadata_of(document)
    assert spec is not None and metadata is not None
    spec["hostNetwork"] = True
    metadata["labels"] = {}
    assert pod_spec_of(document) == SPEC
    assert pod_metadata_of(document) == METADATA


def test_containers_come_from_every_group_in_start_order() -> None:
    """Init, regular and ephemeral containers, in that order; non-mapping items and non-list groups are skipped."""
    spec = {
        "ephemeralContainers": [{"name": "debugger"}],
        "containers": [{"name": "web"}, "not-a-container", {"name": "sidecar"}],
        "initContainers": [{"name": "migrate"}],
        "volumes": [{"name": "tmp"}],
    }
    assert [container["name"] for container in containers_of(pod_bearing("Job", spec=spec))] == [
        "migrate",
        "web",
        "sidecar",
        "debugger",
    ]
    assert containers_of(pod_bearing("Job", spec={"containers": {"name": "web"}, "initContainers": None})) == []
