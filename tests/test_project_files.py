"""Project files keep their promises: exact pins, a CI entry that runs the README's command."""

from __future__ import annotations

import re
import subprocess

import pytest

from offline.program import PROJECT_DIR

REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)(\[[a-z,]+\])?==(?P<version>[0-9][A-Za-z0-9.]*)$")


def requirement_lines(name: str) -> list[str]:
    lines = (PROJECT_DIR / name).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith(("#", "-r "))]


@pytest.mark.parametrize(
    "name",
    [
        "requirements.txt",
        "requirements-dev.txt",
        "constraints.txt",
        "requirements-checkov.txt",
        "constraints-checkov.txt",
    ],
)
def test_every_python_package_is_pinned_exactly(name: str) -> None:
    """Every requirement is pinned with ==."""
    for line in requirement_lines(name):
        assert REQUIREMENT.match(line), f"{name}: {line!r} is not pinned with =="


def test_the_program_pins_every_sdk_it_needs() -> None:
    """requirements.txt pins pulumi and the kubernetes, aws and random SDKs."""
    names = {REQUIREMENT.match(line).group("name").lower() for line in requirement_lines("requirements.txt")}  # type: ignore[union-attr]
    assert {"pulumi", "pulumi-kubernetes", "pulumi-aws", "pulumi-random"} <= names


@pytest.mark.parametrize(
    ("constraints", "requirements"),
    [
        ("constraints.txt", ("requirements.txt", "requirements-dev.txt")),
        ("constraints-checkov.txt", ("requirements-checkov.txt",)),
    ],
)
def test_constraints_lock_every_direct_requirement_at_the_same_version(
    constraints: str, requirements: tuple[str, ...]
) -> None:
    """Each constraints file locks each direct requirement of its virtualenv at the version asked for."""

    def normalise(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    locked = {}
    for line in requirement_lines(constraints):
        match = REQUIREMENT.match(line)
        assert match
        locked[normalise(match.group("name"))] = match.group("version")
    for name in requirements:
        for line in requirement_lines(name):
            match = REQUIREMENT.match(line)
            assert match
            assert locked.get(normalise(match.group("name"))) == match.group("version"), line


def test_ci_runs_the_readme_test_command() -> None:
    """CI runs `make test`, the command the README gives."""
    ci = (PROJECT_DIR / ".ci" / "run").read_text(encoding="utf-8")
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    assert "exec make test" in ci
    assert "make test" in readme and "make render" in readme


def test_make_test_fails_when_pytest_collects_nothing() -> None:
    """pytest exits 5 when it selects no test; `make test` must turn that into a failure."""
    result = subprocess.run(
        ["make", "-s", "test", "PYTEST_ARGS=-q -k no_test_has_this_name"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode != 0
    assert "collected no tests" in result.stderr
