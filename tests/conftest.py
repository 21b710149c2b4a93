"""The recording-mocks fixture: run the real program for a stack and look at what it declared.

`run_stack(stack, config=..., secrets=...)` runs `__main__.py` under recording mocks with the
stack's files as the CLI would merge them, plus any config overrides; results without
overrides are cached for the session, since every stack renders the same way every time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import pytest

from offline.mocks import RecordedResource
from offline.program import PROJECT_DIR, Recording, run_program
from offline.render import KubernetesObject, kubernetes_objects
from offline.stack_config import load_stack_config
from stacks.schema import PROJECT

STACKS = ("dev", "staging", "production", "pr-7")
"""Every stack the repository defines, and one review stack made from staging."""


@dataclass(frozen=True)
class StackRun:
    """One run of the program: the recording and the Kubernetes objects it renders to."""

    recording: Recording
    objects: tuple[KubernetesObject, ...]

    def of_type(self, pulumi_type: str) -> list[RecordedResource]:
        return [resource for resource in self.recording.resources if resource.type == pulumi_type]

    def kind(self, kind: str) -> list[dict[str, Any]]:
        return [obj.document for obj in self.objects if obj.kind == kind]

    def named(self, kind: str, name: str) -> dict[str, Any]:
        matches = [document for document in self.kind(kind) if document["metadata"]["name"] == name]
        assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
        return matches[0]

    def resource(self, kind: str, name: str) -> RecordedResource:
        matches = [obj.resource for obj in self.objects if obj.kind == kind and obj.name == name]
        assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
        return matches[0]


RunStack = Callable[..., StackRun]


def _run(stack: str, config: Mapping[str, str], secrets: Mapping[str, str]) -> StackRun:
    stack_config = load_stack_config(PROJECT_DIR, stack, secrets)
    if config:
        values = dict(stack_config.values)
        values.update({f"{PROJECT}:{key}" if ":" not in key else key: value for key, value in config.items()})
        stack_config = replace(stack_config, values=values)
    recording = run_program(stack_config)
    return StackRun(recording=recording, objects=tuple(kubernetes_objects(recording)))


@pytest.fixture(scope="session")
def run_stack() -> RunStack:
    """Run the program for a stack; `config` overrides keys (short or full names), `secrets` plants values."""
    cache: dict[str, StackRun] = {}

    def run(stack: str, config: Mapping[str, str] | None = None, secrets: Mapping[str, str] | None = None) -> StackRun:
        if config or secrets:
            return _run(stack, config or {}, secrets or {})
        if stack not in cache:
            cache[stack] = _run(stack, {}, {})
        return cache[stack]

    return run
