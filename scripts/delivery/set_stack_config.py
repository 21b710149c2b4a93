"""Set plain config values in a stack file by rewriting only their lines: comments, order and every other value stay.

    python scripts/delivery/set_stack_config.py Pulumi.production.yaml \\
        appImage=ghcr.io/acme/crm-backend:2.5.0 candidateImage= candidateTrafficPercent=0

The promotion workflow records what it applied with this (docs/delivery.md): `pulumi config set`
rewrites the whole file, and the committed stack files carry comments a reviewer relies on. Each
key is the project's (`crm-platform:<key>`); a line `  crm-platform:<key>: <value>` is replaced,
or added at the end of the `config:` map. Only single-line plain values can be set: a key whose
value is a list, a map or a `secure:` secret is refused. The result is parsed again and must hold
exactly the old values with these keys changed, or nothing is written.

Exit status: 0 written; 2 bad input (one line on stderr naming the file, key and what is allowed).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

PLAIN_SCALAR = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@+-]*")
YAML_WORDS = re.compile(r"(?i)(true|false|yes|no|on|off|null|y|n|~)")
KEY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")


class StackFileError(Exception):
    """The file or a key cannot be edited this way; the message says why."""


def scalar(value: str) -> str:
    """`value` as a YAML scalar that reads back as the same string (or number text)."""
    if PLAIN_SCALAR.fullmatch(value) and not YAML_WORDS.fullmatch(value) and ": " not in value:
        return value
    return json.dumps(value)  # a JSON string is a YAML double-quoted scalar


def _config_map(text: str, path: Path) -> dict[str, Any]:
    try:
        document = yaml.load(text, Loader=yaml.BaseLoader)  # every scalar as its text, as the CLI reads it
    except yaml.YAMLError:
        raise StackFileError(f"{path} is not valid YAML") from None
    config = (document or {}).get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise StackFileError(f"{path} has no `config:` map")
    return config


def set_values(text: str, path: Path, project: str, values: dict[str, str]) -> str:
    """`text` with each key's line set to its value; StackFileError when a key cannot be set that way."""
    before = _config_map(text, path)
    lines = text.splitlines(keepends=True)
    try:
        config_line = next(index for index, line in enumerate(lines) if line.rstrip() == "config:")
    except StopIteration:
        raise StackFileError(f"{path}: `config:` is not a top-level line of its own") from None
    # The map ends at the next top-level line (or the end); comments and blank lines inside belong to it.
    end = next(
        (index for index in range(config_line + 1, len(lines)) if lines[index][:1] not in (" ", "\n", "#", "")),
        len(lines),
    )
    last_entry = max(
        (index for index in range(config_line + 1, end) if lines[index].startswith("  ") and lines[index].strip()),
        default=config_line,
    )
    for key, value in values.items():
        full_key = f"{project}:{key}"
        new_line = f"  {full_key}: {scalar(value)}\n"
        found = [
            index for index in range(config_line + 1, end) if re.match(rf"  {re.escape(full_key)}:(\s|$)", lines[index])
        ]
        if not found:
            lines.insert(last_entry + 1, new_line)
            last_entry, end = last_entry + 1, end + 1
            continue
        [index] = found
        if not isinstance(before.get(full_key), str):
            raise StackFileError(
                f"{path}: {full_key} holds a list, a map or a secure value; only single-line plain values can be set"
            )
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if following.startswith("   ") or following.startswith("  - "):
            raise StackFileError(f"{path}: {full_key} spans several lines; only single-line plain values can be set")
        lines[index] = new_line
    result = "".join(lines)
    after = _config_map(result, path)
    expected = {**before, **{f"{project}:{key}": value for key, value in values.items()}}
    if after != expected:
        raise StackFileError(f"{path}: the edit would change more than {', '.join(sorted(values))}; edit it by hand")
    return result


def parse_assignments(arguments: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for argument in arguments:
        key, separator, value = argument.partition("=")
        if not separator or not KEY_NAME.fullmatch(key):
            raise StackFileError(f"{argument!r} is not key=value with a config key such as appImage")
        if "\n" in value:
            raise StackFileError(f"the value of {key} spans several lines; only single-line plain values can be set")
        values[key] = value
    return values


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: set_stack_config.py <Pulumi.<stack>.yaml> key=value...", file=sys.stderr)
        return 2
    path = Path(argv[0])
    try:
        values = parse_assignments(argv[1:])
        project_file = path.parent / "Pulumi.yaml"
        project = yaml.safe_load(project_file.read_text(encoding="utf-8")).get("name")
        if not isinstance(project, str) or not project:
            raise StackFileError(f"{project_file} names no project")
        path.write_text(set_values(path.read_text(encoding="utf-8"), path, project, values), encoding="utf-8")
    except (StackFileError, OSError) as error:
        print(f"set_stack_config: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
