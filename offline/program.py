"""Run the Pulumi program (`__main__.py`) under recording mocks: no CLI, cluster or cloud.

The run is hermetic: PULUMI_* and KUBECONFIG variables of the calling shell are removed
first, since the SDKs read them as fallbacks and would make the result depend on the
machine.
"""

from __future__ import annotations

import os
import runpy
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from offline.mocks import SECRET_SIGNATURE, SECRET_SIGNATURE_KEY, RecordedResource, RecordingMocks, RecordingMonitor
from offline.stack_config import StackConfig

PROJECT_DIR = Path(__file__).resolve().parent.parent

_MACHINE_VARIABLES = ("KUBECONFIG", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION")


class DefaultProviderError(Exception):
    """A resource asked for a default provider that Pulumi.yaml disables."""


@dataclass(frozen=True)
class Recording:
    """What one run of the program declared."""

    config: StackConfig
    resources: tuple[RecordedResource, ...]
    """Every resource but the Stack itself, sorted by URN."""
    stack_outputs: dict[str, Any]
    generated_values: tuple[str, ...]
    """Values the mocked random resources produced; they must never reach the render."""
    invokes: tuple[str, ...]


def _hermetic_environment() -> None:
    for variable in list(os.environ):
        if variable.startswith("PULUMI_") or variable in _MACHINE_VARIABLES:
            del os.environ[variable]


def run_program(config: StackConfig, project_dir: Path = PROJECT_DIR) -> Recording:
    """Execute the program for `config.stack` under mocks and return what it declared.

    Exceptions from the program (a SettingsError for bad config) propagate unchanged.
    """
    _hermetic_environment()
    mocks = RecordingMocks()
    monitor = RecordingMonitor(mocks)
    runtime_settings.reset_options(project=config.project, stack=config.stack, preview=False)
    pulumi.runtime.set_mocks(mocks, project=config.project, stack=config.stack, preview=False, monitor=monitor)
    runtime_settings.SETTINGS.outputs.clear()
    pulumi.runtime.set_all_config(dict(config.values), sorted(config.secret_keys))

    if str(project_dir) not in sys.path:
        sys.path.insert(0, str(project_dir))
    program = str(project_dir / "__main__.py")

    def execute() -> None:
        runpy.run_path(program, run_name="__main__")

    _sync_await(run_pulumi_func(execute))
    stack_outputs = _sync_await(_resolve_exports())

    resources = tuple(sorted(mocks.resources, key=lambda resource: resource.urn))
    _check_providers(resources, config.disabled_default_providers)
    return Recording(
        config=config,
        resources=resources,
        stack_outputs=stack_outputs,
        generated_values=tuple(mocks.generated_values),
        invokes=tuple(sorted(mocks.invokes)),
    )


async def _resolve_exports() -> dict[str, Any]:
    """The program's `pulumi.export`s, each secret one wrapped the way the wire marks secrets.

    Under mocks the root stack registers its outputs before the program runs, so they are
    read from the stack resource instead.
    """
    root = runtime_settings.get_root_resource()
    exports: dict[str, Any] = getattr(root, "outputs", {})
    resolved: dict[str, Any] = {}
    for name, value in exports.items():
        output = pulumi.Output.from_input(value)
        plain = await output.future()
        resolved[name] = {SECRET_SIGNATURE_KEY: SECRET_SIGNATURE, "value": plain} if await output.is_secret() else plain
    return resolved


def _check_providers(resources: tuple[RecordedResource, ...], disabled: tuple[str, ...]) -> None:
    """Do what the engine does with `pulumi:disable-default-providers`: refuse the resource."""
    for resource in resources:
        package = resource.type.split(":", 1)[0]
        if (
            resource.custom
            and not resource.provider
            and package != "pulumi"
            and ("*" in disabled or package in disabled)
        ):
            raise DefaultProviderError(
                f"{resource.type} {resource.name!r} uses the default {package} provider, which "
                "Pulumi.yaml disables; pass the stack's explicit provider"
            )
