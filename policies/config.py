"""Per-stack policy config: `policies/config/<stack>.json`, the file `pulumi preview --policy-pack-config` reads.

The format is the CLI's: `{"all": <level>, "<policy>": <level> | {"enforcementLevel": <level>, <option>: ...}}`.
`load_policy_config` reads it into a level and the options (defaults filled in) per policy, and refuses
what the pack does not allow: an unknown policy or option, an option that breaks its schema, a security
policy below mandatory anywhere, and anything below mandatory in production.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kube.stack_names import is_review_stack
from policies.registry import POLICIES, POLICIES_BY_NAME, EnforcementLevel, PolicySpec

ENFORCEMENT_LEVELS: tuple[EnforcementLevel, ...] = ("mandatory", "advisory", "disabled")
POLICIES_DIR = Path(__file__).resolve().parent
CONFIG_DIR = POLICIES_DIR / "config"
REVIEW_CONFIG = "review"
"""Review stacks (pr-<number>) share one config file, as they share staging's stack file."""
PRODUCTION_CONFIG = "production"
CONFIG_ENCODING = "utf-8"
"""The encoding of every config file, whatever the locale: the Pulumi CLI reads the file as UTF-8."""


class PolicyConfigError(Exception):
    """A policy config file cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class PolicyConfig:
    """The level and the options of every policy, as one stack runs them."""

    levels: Mapping[str, EnforcementLevel]
    options: Mapping[str, Mapping[str, Any]]

    def level(self, spec: PolicySpec) -> EnforcementLevel:
        return self.levels[spec.name]

    def options_for(self, spec: PolicySpec) -> Mapping[str, Any]:
        return self.options[spec.name]


def default_config() -> PolicyConfig:
    """Every policy mandatory with its default options: what `pulumi preview` applies without a config file."""
    return PolicyConfig(
        levels={spec.name: spec.default_enforcement for spec in POLICIES},
        options={spec.name: spec.defaults() for spec in POLICIES},
    )


def config_name_for_stack(stack: str) -> str:
    """The config file stem of a stack: its own name, `review` for pr-<number> stacks."""
    return REVIEW_CONFIG if is_review_stack(stack) else stack


def config_path_for_stack(stack: str) -> Path:
    """`policies/config/<stack>.json` (review.json for pr-<number>), whether it exists or not."""
    return CONFIG_DIR / f"{config_name_for_stack(stack)}.json"


def _level(source: Path, key: str, value: object) -> EnforcementLevel:
    for level in ENFORCEMENT_LEVELS:
        if value == level:
            return level
    raise PolicyConfigError(
        f"{source}: {key!r} has enforcement level {json.dumps(value)}; allowed: {', '.join(ENFORCEMENT_LEVELS)}"
    )


def _options(source: Path, spec: PolicySpec, entry: Mapping[str, Any]) -> dict[str, Any]:
    options = {key: value for key, value in entry.items() if key != "enforcementLevel"}
    if not options:
        return spec.defaults()
    # Imported here: jsonschema costs more to import than a whole check of a small directory, and only a config
    # that sets options needs it.
    import jsonschema

    schema = {
        "type": "object",  # pragma: no mutate options is a dict already: the type alone refuses nothing
        "properties": dict(spec.config_schema),
        "additionalProperties": False,
    }
    try:
        jsonschema.validate(options, schema)
    except jsonschema.ValidationError as error:
        where = ".".join(str(part) for part in error.absolute_path) or "options"
        allowed = ", ".join(spec.config_schema) or "none"
        raise PolicyConfigError(
            f"{source}: {spec.name}.{where}: {error.message} (options of {spec.name}: {allowed})"
        ) from None
    return {**spec.defaults(), **options}


def _check_allowed(source: Path, spec: PolicySpec, level: EnforcementLevel, production: bool) -> None:
    if level == "mandatory":
        return
    if production:
        raise PolicyConfigError(f"{source}: {spec.name!r} must be mandatory in production, not {level}")
    if spec.category == "security":
        raise PolicyConfigError(f"{source}: {spec.name!r} is a security policy and stays mandatory, not {level}")


def policy_config(document: Mapping[str, Any], source: Path) -> PolicyConfig:
    """A checked PolicyConfig from a --policy-pack-config document; `source` names it in errors, and its stem
    `production` makes every policy mandatory."""
    production = source.stem == PRODUCTION_CONFIG
    levels = {spec.name: spec.default_enforcement for spec in POLICIES}
    options = {spec.name: spec.defaults() for spec in POLICIES}
    if "all" in document:
        levels = dict.fromkeys(levels, _level(source, "all", document["all"]))
    for key, value in document.items():
        if key == "all":
            continue
        spec = POLICIES_BY_NAME.get(key)
        if spec is None:
            raise PolicyConfigError(f"{source}: unknown policy {key!r}; known: {', '.join(POLICIES_BY_NAME)}")
        if isinstance(value, Mapping):
            if "enforcementLevel" in value:
                levels[key] = _level(source, key, value["enforcementLevel"])
            options[key] = _options(source, spec, value)
        else:
            levels[key] = _level(source, key, value)
    for spec in POLICIES:
        _check_allowed(source, spec, levels[spec.name], production)
    return PolicyConfig(levels=levels, options=options)


def load_policy_config(path: Path) -> PolicyConfig:
    """Read and check a `policies/config/<stack>.json` file."""
    try:
        document = json.loads(path.read_text(encoding=CONFIG_ENCODING))
    except FileNotFoundError:
        raise PolicyConfigError(f"no policy config {path}; create it (see policies/config/staging.json)") from None
    except OSError as error:
        raise PolicyConfigError(f"cannot read {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise PolicyConfigError(f"{path} is not valid JSON at line {error.lineno}, column {error.colno}") from None
    if not isinstance(document, dict):
        raise PolicyConfigError(f"{path} must be a JSON object mapping policy names to levels or settings")
    return policy_config(document, path)
