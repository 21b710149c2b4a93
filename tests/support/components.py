"""The one way to test a component: build it alone under the recording mocks and look at what it declared.

    declared = declare(lambda: Redis("redis", RedisArgs(...)))
    declared.named("StatefulSet", "crm-redis-cache")

The component is built exactly as `__main__.py` builds it (a real `pulumi.ComponentResource`
under Pulumi's mock monitor), and its Kubernetes objects are rendered the way the offline
render writes them (offline/render.py: secrets masked, numbers normalized), so a component
test and the render agree on what an object looks like. `tests/conftest.py`'s `run_stack`
is the same for the whole program.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from offline.mocks import RecordedResource, RecordingMocks, RecordingMonitor
from offline.render import masked, normalized

C = TypeVar("C")


@dataclass(frozen=True)
class Declared(Generic[C]):
    """What building one component declared."""

    component: C
    """What the build returned (the component, to read its outputs)."""
    resources: tuple[RecordedResource, ...]
    """Every registration, the component's own included, sorted by URN."""
    objects: tuple[dict[str, Any], ...]
    """Its Kubernetes objects as the render writes them."""
    registered_outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """What each component handed `register_outputs`, by URN, as the engine received it."""

    def of_type(self, pulumi_type: str) -> list[RecordedResource]:
        return [resource for resource in self.resources if resource.type == pulumi_type]

    def one(self, pulumi_type: str) -> dict[str, Any]:
        """The inputs of the only resource of `pulumi_type`."""
        [resource] = self.of_type(pulumi_type)
        return resource.inputs

    def kind(self, kind: str) -> list[dict[str, Any]]:
        return [document for document in self.objects if document["kind"] == kind]

    def named(self, kind: str, name: str) -> dict[str, Any]:
        matches = [document for document in self.kind(kind) if document["metadata"]["name"] == name]
        assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
        return matches[0]

    def output(self, output: pulumi.Output[Any]) -> Any:
        """The resolved value of one of the component's outputs."""
        return _sync_await(output.future())


def rendered(resource: RecordedResource) -> dict[str, Any]:
    """A Kubernetes resource's object as the render writes it; an auto-named one takes the mock's name."""
    document: dict[str, Any] = normalized(masked(resource.inputs))
    document.setdefault("metadata", {}).setdefault("name", resource.outputs.get("metadata", {}).get("name"))
    return document


class _OutputsRecordingMonitor(RecordingMonitor):
    """The recording monitor, also keeping what each component registers as its outputs."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.registered_outputs: dict[str, dict[str, Any]] = {}

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        self.registered_outputs[request.urn] = dict(rpc.deserialize_properties(request.outputs))
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]


def declare(build: Callable[[], C], *, stack: str = "test", mocks: RecordingMocks | None = None) -> Declared[C]:
    """Run `build` (which constructs one component) as a Pulumi program under recording mocks.

    `mocks` may be a subclass that answers what a provider would (AWS ARNs, for example).
    """
    mocks = mocks or RecordingMocks()
    runtime_settings.reset_options(project="crm-platform", stack=stack, preview=False)
    monitor = _OutputsRecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="crm-platform", stack=stack, preview=False, monitor=monitor)
    built: list[C] = []
    _sync_await(run_pulumi_func(lambda: built.append(build())))
    resources = tuple(sorted(mocks.resources, key=lambda resource: resource.urn))
    objects = tuple(
        rendered(resource)
        for resource in resources
        if resource.type.startswith("kubernetes:") and "kind" in resource.inputs
    )
    return Declared(
        component=built[0], resources=resources, objects=objects, registered_outputs=monitor.registered_outputs
    )
