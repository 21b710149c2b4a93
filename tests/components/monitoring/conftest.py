"""Build the Monitoring component on its own under the recording mocks, with arguments `__main__.py` does not
pass yet (rules, dashboards, an Alertmanager configuration builder): `build_monitoring(stack, **changes)`.

The arguments start from what the program gives the component for the stack (its settings, its scrape
targets), so a test changes only what it is about.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pulumi
import pytest
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.monitoring import Monitoring, MonitoringArgs
from components.shared.references import AppSecret, ScrapeTarget, SecretKeyRef
from offline.mocks import RecordedResource, RecordingMocks, RecordingMonitor
from offline.program import PROJECT_DIR, Recording
from offline.render import KubernetesObject, kubernetes_objects
from offline.stack_config import load_stack_config
from stacks import build
from stacks.schema import PROJECT


@dataclasses.dataclass(frozen=True)
class ComponentRun:
    recording: Recording
    objects: tuple[KubernetesObject, ...]

    def named(self, kind: str, name: str) -> KubernetesObject:
        [found] = [obj for obj in self.objects if obj.kind == kind and obj.name == name]
        return found

    def of_kind(self, kind: str) -> list[KubernetesObject]:
        return [obj for obj in self.objects if obj.kind == kind]


BuildMonitoring = Callable[..., ComponentRun]


def base_args(stack: str, secrets: dict[str, str]) -> MonitoringArgs:
    config = load_stack_config(PROJECT_DIR, stack, secrets)
    settings = build(stack, config.values, config.secret_keys)
    web = ScrapeTarget("crm-web", {"app.kubernetes.io/name": "crm-web"}, 8000, "http")
    return MonitoringArgs(
        namespace=settings.namespaces.monitoring,
        app_namespace=settings.namespaces.app,
        app_namespace_name=settings.namespaces.app,
        stack=stack,
        settings=settings.monitoring,
        installs_stack=settings.cluster.owns_addons,
        storage_class=None,
        strict_node_spread=settings.strict_node_spread,
        environment=settings.environment.value,
        protect_namespaces=False,
        labels={"app.kubernetes.io/part-of": PROJECT},
        targets=[web],
        addon_targets=[],
        worker_args=("worker",),
        broker_password=AppSecret(SecretKeyRef("crm-redis-broker", "password"), pulumi.Output.secret("broker-1")),
        broker_pods={"crm-redis-broker": {"app.kubernetes.io/name": "crm-redis-broker"}},
        grafana_admin_password=pulumi.Output.secret("grafana-1"),
    )


@pytest.fixture
def build_monitoring() -> BuildMonitoring:
    """Build Monitoring for `stack` under fresh mocks; keyword arguments replace MonitoringArgs fields, and
    `outputs` returns more replacements made inside the run (an Output belongs to the run that makes it)."""

    def run(
        stack: str,
        secrets: dict[str, str] | None = None,
        outputs: Callable[[], dict[str, Any]] | None = None,
        **changes: Any,
    ) -> ComponentRun:
        mocks = RecordingMocks()
        monitor = RecordingMonitor(mocks)
        runtime_settings.reset_options(project=PROJECT, stack=stack, preview=False)
        pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)

        def program() -> None:
            replaced = {**changes, **(outputs() if outputs is not None else {})}
            Monitoring("monitoring", dataclasses.replace(base_args(stack, secrets or {}), **replaced))

        _sync_await(run_pulumi_func(program))
        resources: tuple[RecordedResource, ...] = tuple(sorted(mocks.resources, key=lambda resource: resource.urn))
        recording = Recording(
            config=load_stack_config(PROJECT_DIR, stack, secrets),
            resources=resources,
            stack_outputs={},
            generated_values=tuple(mocks.generated_values),
            invokes=(),
        )
        return ComponentRun(recording=recording, objects=tuple(kubernetes_objects(recording)))

    return run
