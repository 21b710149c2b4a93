"""`python -m offline check --stack`: the policy pack over what the program declares for each stack."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from offline.program import PROJECT_DIR
from tests.conftest import STACKS


def check_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Run the check as `make check` does, from the project root with the venv's interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "offline", "check", *arguments],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_passes(stack: str) -> None:
    """Every stack's render has no violation at its own levels: exit 0 and `0 mandatory, 0 advisory`."""
    result = check_cli("--stack", stack)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "0 mandatory, 0 advisory"


def test_json_output_of_a_clean_stack() -> None:
    """--json on a clean stack is an empty violation list and zero counts, exit 0."""
    result = check_cli("--stack", "production", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"violations": [], "mandatory": 0, "advisory": 0}


def test_unknown_stack_is_unusable_input() -> None:
    """An unknown stack exits 2 with StackConfigError's one-line message on stderr and nothing on stdout."""
    result = check_cli("--stack", "qa")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "offline check: unknown stack 'qa': there is no Pulumi.qa.yaml; known stacks: dev, production, staging "
        "(and pr-<number> review stacks)"
    ]
