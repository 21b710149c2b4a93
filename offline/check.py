"""The policy pack over what the program declares for a stack, run under mocks: `make check`.

    python -m offline check --stack staging [--policy-config FILE] [--json] [--config KEY=VALUE ...]
                                            [--secrets-file FILE]

The stack's levels come from `policies/config/<stack>.json` (review.json for pr-<number>), the
file `pulumi preview --policy-pack-config` takes, unless --policy-config names another. Every
Kubernetes object and AWS resource is checked, with secrets masked before any policy sees them;
the report and the exit status are the pack's runner's (policies/runner.py): 0 no mandatory
violation, 1 at least one, 2 unusable input (unknown stack, bad policy config), one line on stderr.

offline/ uses the pack; the pack never imports offline/ (tests/test_layers.py).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

from offline.program import PROJECT_DIR, run_program
from offline.render import kubernetes_objects, masked, normalized
from offline.stack_config import (
    StackConfigError,
    config_overrides,
    load_stack_config,
    secrets_file,
    with_overrides,
)
from policies.config import PolicyConfigError, config_path_for_stack, load_policy_config
from policies.runner import EXIT_UNUSABLE_INPUT, Subject, UnusableInputError, check


def stack_subjects(
    stack: str, overrides: Mapping[str, str] | None = None, secrets: Mapping[str, str] | None = None
) -> list[Subject]:
    """Every Kubernetes object and AWS resource the program declares for `stack` (with `overrides` of its config and
    `secrets` instead of placeholders), run under mocks as `python -m offline render` does; secrets are masked
    before any policy sees them."""
    try:
        config = with_overrides(load_stack_config(PROJECT_DIR, stack, secrets), overrides or {})
    except StackConfigError as error:
        raise UnusableInputError(str(error)) from None
    recording = run_program(config)
    subjects = [
        Subject(
            document=obj.document,
            pulumi_type=obj.resource.type,
            origin=obj.resource.name,
            urn=obj.resource.urn,
            dependencies=frozenset(obj.resource.dependencies),
        )
        for obj in kubernetes_objects(recording)
    ]
    subjects.extend(
        Subject(
            document=normalized(masked(resource.inputs)),
            pulumi_type=resource.type,
            origin=resource.name,
            urn=resource.urn,
            dependencies=frozenset(resource.dependencies),
        )
        for resource in recording.resources
        if resource.type.startswith("aws:")
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


def check_command(arguments: argparse.Namespace) -> int:
    try:
        # The stack is resolved first, so an unknown stack reports as such rather than as a missing config.
        try:
            overrides, secrets = config_overrides(arguments.config), secrets_file(arguments.secrets_file)
        except StackConfigError as error:
            raise UnusableInputError(str(error)) from None
        subjects = stack_subjects(arguments.stack, overrides, secrets)
        config = load_policy_config(arguments.policy_config or config_path_for_stack(arguments.stack))
    except (UnusableInputError, PolicyConfigError) as error:
        print(f"offline check: {error}", file=sys.stderr)
        return EXIT_UNUSABLE_INPUT
    return check(subjects, config, as_json=arguments.json)
