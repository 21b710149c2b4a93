"""A stack's config as the Pulumi CLI would hand it to the program, read without the CLI.

Mirrors what `pulumi up` does before running the program: take `Pulumi.<stack>.yaml`,
add every `Pulumi.yaml` default the stack does not set, turn YAML values into the strings
the program receives, and mark secure values as secrets. Encrypted values cannot be
decrypted offline (and need not be): each secret the stack file holds or lacks gets a
deterministic placeholder, unless the caller supplies a value (tests plant known ones).

An object key with secure values inside (`appSecrets`, set with `pulumi config set --secret
--path 'appSecrets.NAME'`) reaches the program as one secret JSON object, as the CLI hands it:
each secure value becomes its placeholder (or the value supplied for `appSecrets.NAME`). The
CLI marks such an object secret as soon as one value in it is, so a value set there without
`--secret` would pass unnoticed: for the project's secret objects this loader refuses any plain
value, naming its path (never quoting it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kube.stack_names import REVIEW_STACK
from stacks.schema import KEYS, KEYS_BY_NAME, PROJECT


class StackConfigError(Exception):
    """The project or stack file cannot be used; the message says which and why."""


@dataclass(frozen=True)
class StackConfig:
    project: str
    stack: str
    values: dict[str, str]
    """Full key to the string value the program receives."""
    secret_keys: frozenset[str]
    stack_file: str
    """The stack file the values came from."""
    placeholders: tuple[str, ...]
    """Secret keys given a placeholder because no value was available offline."""
    supplied: tuple[str, ...]
    """Secret keys whose value the caller supplied."""
    disabled_default_providers: tuple[str, ...]
    """Packages whose default provider Pulumi.yaml disables."""


def _config_text(value: Any) -> str:
    """A YAML value as the CLI passes it to the program: scalars as text, the rest as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def placeholder(key: str) -> str:
    """Deterministic stand-in for a secret that only the real stack can decrypt."""
    return "offline-placeholder-" + hashlib.sha256(key.encode()).hexdigest()[:24]


def _yaml_error(path: Path, error: yaml.YAMLError) -> StackConfigError:
    """Where the YAML is broken, without quoting it: the line may hold a secret."""
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return StackConfigError(f"{path} is not valid YAML{where}")


def read_yaml(path: Path, loader: type[yaml.SafeLoader] = yaml.SafeLoader) -> dict[str, Any]:
    """A YAML mapping from a file; errors name the file and position, never its content."""
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except OSError as error:
        raise StackConfigError(f"cannot read {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise _yaml_error(path, error) from None
    if not isinstance(document, dict):
        raise StackConfigError(f"{path} must be a YAML mapping")
    return document


def _stack_values(path: Path) -> dict[str, Any]:
    """The `config:` map of a stack file, scalars exactly as written.

    The CLI hands a scalar to the program as its literal text (`yes` stays "yes", `0x20`
    stays "0x20"); lists and maps arrive as JSON. PyYAML's YAML 1.1 would turn `yes` into
    true, so scalars are read untyped and only structured values typed.
    """
    literal = read_yaml(path, loader=yaml.BaseLoader).get("config") or {}  # type: ignore[arg-type]
    typed = read_yaml(path).get("config") or {}
    if not isinstance(literal, dict) or not isinstance(typed, dict):
        raise StackConfigError(f"{path.name}: `config` must be a mapping")
    # Maps keep their typed scalars (replicas: 3 is a number), as the CLI's JSON does.
    return {key: value if isinstance(value, str) or _is_secure(value) else typed[key] for key, value in literal.items()}


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def _has_secure(value: Any) -> bool:
    """Whether a structured value holds a secure value anywhere (the CLI then marks the whole key secret)."""
    if _is_secure(value):
        return True
    if isinstance(value, dict):
        return any(_has_secure(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_secure(item) for item in value)
    return False


SECRET_OBJECT_KEYS = frozenset(key.full_name for key in KEYS if key.secret and key.type == "object")
"""Object keys every value of which must be a secret (`appSecrets`)."""


def _secret_object(
    key: str, value: Any, supplied: Mapping[str, str], stack_file: str, placeholders: list[str]
) -> dict[str, Any]:
    """A secret object with each secure value replaced by its supplied value or placeholder."""
    short = key.split(":", 1)[1]
    if not isinstance(value, dict):
        raise StackConfigError(f"{stack_file}: {key} must be a mapping of names to secret values")
    resolved: dict[str, Any] = {}
    for name, item in value.items():
        path = f"{short}.{name}"
        if not _is_secure(item):
            raise StackConfigError(
                f"{stack_file}: {key}.{name} is stored in plain text; allowed: an encrypted value, set with "
                f"`pulumi config set --secret --path '{path}' <value>`"
            )
        if path in supplied or f"{key}.{name}" in supplied:
            resolved[name] = supplied.get(path, supplied.get(f"{key}.{name}", ""))
        else:
            resolved[name] = placeholder(f"{key}.{name}")
            placeholders.append(path)
    return resolved


def _needed(key: str, values: Mapping[str, str]) -> bool:
    """Whether the real stack must hold this secret: a secret of another namespace always, one of the project
    when the key that requires it is set. An optional secret (no such key: a receiver's credential switches
    its receiver on by being there) is needed only where the stack file stores it."""
    declaration = KEYS_BY_NAME.get(key.split(":", 1)[1]) if key.startswith(f"{PROJECT}:") else None
    if declaration is None:
        return True
    if not declaration.needed_when_set:
        return False
    return bool(values.get(f"{PROJECT}:{declaration.needed_when_set}"))


def stack_file_for(project_dir: Path, stack: str) -> Path:
    """The stack's own file; review stacks without one start from staging's, as the PR workflow does."""
    own = project_dir / f"Pulumi.{stack}.yaml"
    if own.exists():
        return own
    if REVIEW_STACK.fullmatch(stack):
        # `pulumi stack init pr-<n>` followed by `pulumi config cp --stack staging --dest pr-<n>`.
        return project_dir / "Pulumi.staging.yaml"
    known = sorted(path.name[len("Pulumi.") : -len(".yaml")] for path in project_dir.glob("Pulumi.*.yaml"))
    raise StackConfigError(
        f"unknown stack {stack!r}: there is no Pulumi.{stack}.yaml; known stacks: "
        f"{', '.join(known)} (and pr-<number> review stacks)"
    )


def _shown(path: Path, project_dir: Path) -> str:
    """A stack file as messages and the render name it: relative to the project where it lives inside it."""
    try:
        return str(path.resolve().relative_to(project_dir.resolve()))
    except ValueError:
        return str(path)


def load_stack_config(
    project_dir: Path,
    stack: str,
    supplied_secrets: Mapping[str, str] | None = None,
    stack_file: Path | None = None,
) -> StackConfig:
    """Merge Pulumi.yaml and the stack file the way the CLI does.

    `stack_file` reads another file than the project's Pulumi.<stack>.yaml for the stack (an example under
    examples/, a team's own copy): what `pulumi config` would hold had that file been the stack's.
    """
    project = read_yaml(project_dir / "Pulumi.yaml")
    project_name = str(project.get("name", ""))
    declarations = project.get("config") or {}
    if stack_file is not None and not stack_file.is_file():
        raise StackConfigError(f"stack file {stack_file} does not exist")
    stack_path = stack_file or stack_file_for(project_dir, stack)
    stack_config = _stack_values(stack_path)

    values: dict[str, str] = {}
    secret_keys: set[str] = set()
    # stacks/schema.py knows which keys are secrets (Pulumi.yaml cannot say so: see reference.py).
    declared_secrets = {key.full_name for key in KEYS if key.secret}
    for key, declaration in declarations.items():
        namespaced = key if ":" in key else f"{project_name}:{key}"
        if not isinstance(declaration, dict):
            values[namespaced] = _config_text(declaration)
            continue
        if declaration.get("secret"):
            declared_secrets.add(namespaced)
        if "value" in declaration:
            values[namespaced] = _config_text(declaration["value"])
        elif "default" in declaration:
            values[namespaced] = _config_text(declaration["default"])

    supplied = dict(supplied_secrets or {})
    placeholders: list[str] = []
    stored_secrets: set[str] = set()
    secret_objects: dict[str, dict[str, Any]] = {}
    for key, value in stack_config.items():
        if ":" not in str(key):
            raise StackConfigError(f"{stack_path.name}: key {key!r} has no namespace; write {project_name}:{key}")
        if _is_secure(value):
            stored_secrets.add(key)
            continue
        if key in SECRET_OBJECT_KEYS and value not in ({}, None):
            secret_objects[key] = _secret_object(key, value, supplied, stack_path.name, placeholders)
            continue
        values[key] = _config_text(value)

    # Values supplied for paths into a secret object (the stack file's or not): what `--secret --path` sets.
    object_paths: set[str] = set()
    for supplied_key, supplied_value in supplied.items():
        base, dot, name = supplied_key.partition(".")
        full_base = base if ":" in base else f"{project_name}:{base}"
        if dot and name and full_base in SECRET_OBJECT_KEYS:
            secret_objects.setdefault(full_base, {})[name] = supplied_value
            object_paths.add(supplied_key)
    for key, resolved in secret_objects.items():
        values[key] = _config_text(resolved)
        secret_keys.add(key)

    for key in sorted((declared_secrets - SECRET_OBJECT_KEYS) | stored_secrets):
        short = key.split(":", 1)[1]
        if short in supplied or key in supplied:
            values[key] = supplied.get(short, supplied.get(key, ""))
        elif key in stored_secrets or _needed(key, values):
            values[key] = placeholder(key)
            placeholders.append(short)
        else:
            # Unset on the real stack as far as anyone can tell: the CLI would pass the project default, "".
            values[key] = ""
        secret_keys.add(key)
    unknown_supplied = sorted(
        set(supplied) - object_paths - {key.split(":", 1)[1] for key in secret_keys} - secret_keys
    )
    if unknown_supplied:
        raise StackConfigError(
            f"supplied secrets for keys that are not secrets of the project: {', '.join(unknown_supplied)}"
        )

    disabled = values.get("pulumi:disable-default-providers", "[]")
    try:
        disabled_providers = tuple(str(item) for item in json.loads(disabled))
    except ValueError:
        raise StackConfigError("pulumi:disable-default-providers must be a list of package names") from None

    return StackConfig(
        project=project_name,
        stack=stack,
        values=values,
        secret_keys=frozenset(secret_keys),
        stack_file=_shown(stack_path, project_dir),
        placeholders=tuple(sorted(placeholders)),
        supplied=tuple(sorted(short for short in supplied)),
        disabled_default_providers=disabled_providers,
    )


def secrets_file(path: Path | None) -> dict[str, str]:
    """A `--secrets-file`: config key (or `appSecrets.NAME` path) -> value, for the render instead of placeholders."""
    if path is None:
        return {}
    document = read_yaml(path)
    if not all(isinstance(value, str) for value in document.values()):
        raise StackConfigError(f"secrets file {path} must map config keys to string values")
    return {str(key): value for key, value in document.items()}


def config_overrides(pairs: list[str]) -> dict[str, str]:
    """`--config key=value` pairs, as `pulumi up --config` takes them (project keys may be short)."""
    overrides: dict[str, str] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key:
            raise StackConfigError(f"--config {pair!r} is not key=value")
        overrides[key if ":" in key else f"{PROJECT}:{key}"] = value
    return overrides


def with_overrides(config: StackConfig, overrides: Mapping[str, str]) -> StackConfig:
    """The config with some values replaced (`--config`), as `pulumi up --config` does."""
    return dataclasses.replace(config, values={**config.values, **overrides}) if overrides else config
