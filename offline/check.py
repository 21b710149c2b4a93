"""The policy pack over what the program declares for a stack, run under mocks: `make check`.

    python -m offline check --stack staging [--policy-config FILE] [--json] [--sarif FILE]
                                            [--config KEY=VALUE ...] [--secrets-file FILE]

The stack's levels come from `policies/config/<stack>.json` (review.json for pr-<number>), the
file `pulumi preview --policy-pack-config` takes, unless --policy-config names another. Every
Kubernetes object and AWS resource is checked, with secrets masked before any policy sees them;
the report and the exit status are the pack's runner's (policies/runner.py): 0 no mandatory
violation, 1 at least one, 2 unusable input (unknown stack, bad policy config, a SARIF file that
cannot be written), one line on stderr.

--sarif FILE writes the findings as SARIF 2.1.0 (policies/sarif.py) located where `python -m
offline render --stack <stack>` writes each object: build/<stack>/manifests/<namespace>/<kind>-<name>.yaml
(offline/render.py, KubernetesObject.path), line 1, since each file holds one object; AWS
resources at the line their entry begins in build/<stack>/inventory.json; findings about the
stack as a whole at its stack file. The render is what a code-scanning upload sits beside.

offline/ uses the pack; the pack never imports offline/ (tests/test_layers.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path

from offline.program import PROJECT_DIR, Recording, run_program
from offline.render import inventory, kubernetes_objects, masked, normalized
from offline.stack_config import (
    StackConfigError,
    config_overrides,
    load_stack_config,
    secrets_file,
    with_overrides,
)
from policies.config import PolicyConfigError, config_path_for_stack, load_policy_config
from policies.findings import Location, Subject, evaluate
from policies.runner import EXIT_UNUSABLE_INPUT, UnusableInputError, report

PROGRAM = "offline check"
BUILD_DIR = PROJECT_DIR / "build"
"""Where `python -m offline render` writes a stack by default: build/<stack>/."""


def inventory_lines(recording: Recording) -> dict[str, int]:
    """URN -> the line its entry begins on in inventory.json, written as offline/render.py writes it."""
    written_inventory = inventory(recording)
    text = json.dumps(written_inventory, indent=2, sort_keys=True)
    lines: dict[str, int] = {}
    position = text.index('"resources": [')
    for entry in written_inventory["resources"]:
        # Each entry is written as json.dumps(entry, indent=2, sort_keys=True) at a depth of two (4 spaces).
        written = json.dumps(entry, indent=2, sort_keys=True).replace("\n", "\n    ")
        position = text.index(written, position)
        lines[entry["urn"]] = text.count("\n", 0, position) + 1
        position += len(written)
    return lines


def stack_subjects(
    stack: str,
    overrides: Mapping[str, str] | None = None,
    secrets: Mapping[str, str] | None = None,
    stack_file: Path | None = None,
) -> tuple[list[Subject], Location]:
    """Every Kubernetes object and AWS resource the program declares for `stack` (with `overrides` of its config and
    `secrets` instead of placeholders), run under mocks as `python -m offline render` does, at the file and line
    the render writes it to; secrets are masked before any policy sees them. Also where the stack as a whole is:
    its stack file."""
    try:
        config = with_overrides(
            load_stack_config(PROJECT_DIR, stack, secrets or {}, stack_file=stack_file), overrides or {}
        )
    except StackConfigError as error:
        raise UnusableInputError(str(error)) from None
    return recording_subjects(run_program(config), BUILD_DIR / stack), Location(PROJECT_DIR / config.stack_file, 1)


def recording_subjects(recording: Recording, render_dir: Path) -> list[Subject]:
    """Every Kubernetes object and AWS resource of a recording, secrets masked, at the file and line the render
    into `render_dir` writes it to: what the pack judges."""
    subjects = [
        Subject(
            document=obj.document,
            pulumi_type=obj.resource.type,
            origin=obj.resource.name,
            urn=obj.resource.urn,
            dependencies=frozenset(obj.resource.dependencies),
            location=Location(render_dir / "manifests" / obj.path, 1),
        )
        for obj in kubernetes_objects(recording)
    ]
    aws = [resource for resource in recording.resources if resource.type.startswith("aws:")]
    lines = inventory_lines(recording) if aws else {}
    subjects.extend(
        Subject(
            document=normalized(masked(resource.inputs)),
            pulumi_type=resource.type,
            origin=resource.name,
            urn=resource.urn,
            dependencies=frozenset(resource.dependencies),
            location=Location(render_dir / "inventory.json", lines[resource.urn]),
        )
        for resource in aws
    )
    return subjects


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", default="staging", help="stack name (default: staging)")
    parser.add_argument(
        "--policy-config",
        type=Path,
        help="enforcement levels (--policy-pack-config format); default: policies/config/<stack>.json",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    parser.add_argument(
        "--sarif",
        type=Path,
        metavar="FILE",
        help="also write the findings as SARIF 2.1.0 to FILE, at the files `python -m offline render` writes",
    )
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config value, as `pulumi preview --config` does (repeatable)",
    )
    parser.add_argument(
        "--secrets-file",
        type=Path,
        help="YAML map of secret config keys (or appSecrets.NAME paths) to values to use instead of placeholders",
    )
    parser.add_argument(
        "--stack-file",
        type=Path,
        help="read the stack's config from this file instead of Pulumi.<stack>.yaml (an example under examples/)",
    )


def check_command(arguments: argparse.Namespace) -> int:
    try:
        # The stack is resolved first, so an unknown stack reports as such rather than as a missing config.
        try:
            overrides, secrets = config_overrides(arguments.config), secrets_file(arguments.secrets_file)
        except StackConfigError as error:
            raise UnusableInputError(str(error)) from None
        subjects, stack_location = stack_subjects(arguments.stack, overrides, secrets, arguments.stack_file)
        config = load_policy_config(arguments.policy_config or config_path_for_stack(arguments.stack))
    except (UnusableInputError, PolicyConfigError) as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        return EXIT_UNUSABLE_INPUT
    return report(
        evaluate(subjects, config),
        config,
        program=PROGRAM,
        as_json=arguments.json,
        sarif=arguments.sarif,
        stack_location=stack_location,
        automation_id=f"crm-platform-policies/{arguments.stack}/",
    )
