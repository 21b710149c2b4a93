"""Pulumi.yaml and the README's configuration reference agree with stacks/schema.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from offline.program import PROJECT_DIR
from offline.stack_config import load_stack_config
from stacks import build, reference
from stacks.schema import KEYS, PROJECT

PYTHON_TYPES = {"string": str, "integer": int, "array": list, "object": dict}


def project_file() -> dict[str, object]:
    document = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def test_generated_files_are_up_to_date() -> None:
    """`make docs` has been run after the last schema change."""
    assert reference.stale_files() == []


def test_every_key_the_program_reads_is_declared_with_type_description_and_default() -> None:
    """Pulumi.yaml declares exactly the keys of the schema, each typed, described and defaulted."""
    config = project_file()["config"]
    assert isinstance(config, dict)
    declared = {name: spec for name, spec in config.items() if ":" not in name}
    assert set(declared) == {key.name for key in KEYS}
    for name, spec in declared.items():
        assert spec["type"] in PYTHON_TYPES, name
        assert spec["description"].strip(), name
        assert isinstance(spec["default"], PYTHON_TYPES[spec["type"]]), name
        if spec["type"] == "array":
            assert spec["items"] == {"type": "string"}, name


def test_no_declaration_is_both_secret_and_defaulted() -> None:
    """The CLI validates `secret: true` keys after writing defaults: an unencrypted default
    would fail every stack that leaves the key unset (pulumi/pulumi mergeConfig)."""
    config = project_file()["config"]
    assert isinstance(config, dict)
    for name, spec in config.items():
        assert not (spec.get("secret") and "default" in spec), name


def test_other_namespaces_in_the_project_file_carry_values_not_types() -> None:
    """The CLI rejects a type or default on a key outside the project's namespace."""
    config = project_file()["config"]
    assert isinstance(config, dict)
    for name, spec in config.items():
        if ":" in name and not name.startswith(f"{PROJECT}:"):
            assert set(spec) == {"value"}, name


def test_project_runs_python_in_the_virtualenv_make_creates() -> None:
    """Pulumi runs the program in ./venv, the virtualenv `make venv` creates."""
    document = project_file()
    assert document["name"] == PROJECT
    assert document["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": "venv"}}


@pytest.mark.parametrize("stack", ["dev", "staging", "production", "pr-7"])
def test_the_cli_writing_project_defaults_changes_nothing(stack: str) -> None:
    """Pulumi writes every Pulumi.yaml default into the stack; the profiles must still decide."""
    config = load_stack_config(PROJECT_DIR, stack)
    with_defaults = build(stack, config.values, config.secret_keys)
    only_stack_file = {
        key: value
        for key, value in config.values.items()
        if key in config.secret_keys or _set_in_stack_file(stack, key)
    }
    assert build(stack, only_stack_file, config.secret_keys) == with_defaults


def _set_in_stack_file(stack: str, key: str) -> bool:
    path = PROJECT_DIR / f"Pulumi.{stack}.yaml"
    if not path.exists():
        path = PROJECT_DIR / "Pulumi.staging.yaml"
    document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return key in (document.get("config") or {})


def test_readme_lists_every_key() -> None:
    """The README's configuration reference names every key."""
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    for key in KEYS:
        assert f"| `{key.name}` |" in readme
