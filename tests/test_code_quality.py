"""House style is enforced, not hoped for: ruff (lint and format) and mypy --strict are clean."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from offline.program import PROJECT_DIR

BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "command",
    [
        [str(BIN / "ruff"), "check", "."],
        [str(BIN / "ruff"), "format", "--check", "."],
        [str(BIN / "mypy")],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_tool_is_clean(command: list[str]) -> None:
    """The tool reports nothing on the whole tree."""
    result = subprocess.run(command, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_components_never_read_config_or_the_environment() -> None:
    """Settings flow in through args (DESIGN.md section 1); only stacks/ reads pulumi.Config."""
    for path in (PROJECT_DIR / "components").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        for forbidden in ("pulumi.Config", "os.environ", "getenv", "stacks.load"):
            assert forbidden not in source, f"{path.name} uses {forbidden}"


def undocumented_fields(source: str) -> list[str]:
    """`Class.field` of every dataclass field in `source` without a docstring right below it."""
    missing = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef):
            continue
        decorators = [
            decorator.func if isinstance(decorator, ast.Call) else decorator for decorator in node.decorator_list
        ]
        if not any(isinstance(decorator, ast.Name) and decorator.id == "dataclass" for decorator in decorators):
            continue
        for index, statement in enumerate(node.body):
            if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
                following = node.body[index + 1] if index + 1 < len(node.body) else None
                documented = (
                    isinstance(following, ast.Expr)
                    and isinstance(following.value, ast.Constant)
                    and isinstance(following.value.value, str)
                )
                if not documented:
                    missing.append(f"{node.name}.{statement.target.id}")
    return missing


@pytest.mark.parametrize("package", ["kube", "stacks", "components"])
def test_every_settings_and_args_field_is_documented(package: str) -> None:
    """Every field of every dataclass (component args, settings, contracts) says what it is, in a docstring below it."""
    missing = [
        f"{path.relative_to(PROJECT_DIR)}: {field}"
        for path in sorted((PROJECT_DIR / package).rglob("*.py"))
        for field in undocumented_fields(path.read_text(encoding="utf-8"))
    ]
    assert missing == []


def test_an_undocumented_field_is_found() -> None:
    """The documentation check reports a field without a docstring and accepts one with it."""
    source = "@dataclass(frozen=True)\nclass A:\n    good: int\n    '''Documented.'''\n    bad: str\n"
    assert undocumented_fields(source) == ["A.bad"]
