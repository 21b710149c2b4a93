"""The stack file read as the CLI hands it to the program, for a secret object (appSecrets): each secure value a
placeholder or the value supplied, the whole object one secret, and a plain value in it refused by its path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from offline.program import PROJECT_DIR, run_program
from offline.render import kubernetes_objects
from offline.stack_config import StackConfigError, load_stack_config, placeholder

APP_SECRETS = "crm-platform:appSecrets"
CIPHERTEXT = "v1:c2VjdXJlLWJ1dC1ub3QtZGVjcnlwdGFibGUtb2ZmbGluZQ=="
"""Stands in for what `pulumi config set --secret --path` writes: the render cannot decrypt it, and need not."""


def project_with(tmp_path: Path, stack_file: str) -> Path:
    """A copy of the project's Pulumi.yaml beside a stack file of the test's own."""
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.dev.yaml").write_text(stack_file)
    return tmp_path


STACK_FILE = f"""\
config:
  crm-platform:appImage: ghcr.io/acme/crm-backend:2.4.1
  crm-platform:appSecrets:
    OPENAI_API_KEY:
      secure: {CIPHERTEXT}
    SENTRY_DSN:
      secure: {CIPHERTEXT}
"""


def test_each_secure_value_of_a_secret_object_gets_its_placeholder(tmp_path: Path) -> None:
    """`--secret --path` values reach the program as one secret JSON object, each value a placeholder (never the
    ciphertext), and the render lists each path as a placeholder."""
    config = load_stack_config(project_with(tmp_path, STACK_FILE), "dev")
    assert APP_SECRETS in config.secret_keys
    assert json.loads(config.values[APP_SECRETS]) == {
        "OPENAI_API_KEY": placeholder(f"{APP_SECRETS}.OPENAI_API_KEY"),
        "SENTRY_DSN": placeholder(f"{APP_SECRETS}.SENTRY_DSN"),
    }
    assert CIPHERTEXT not in json.dumps(config.values)
    assert {"appSecrets.OPENAI_API_KEY", "appSecrets.SENTRY_DSN"} <= set(config.placeholders)


def test_supplied_values_replace_placeholders_and_may_add_names(tmp_path: Path) -> None:
    """A value supplied for `appSecrets.NAME` is used as is, for a name of the file's or a new one."""
    supplied = {"appSecrets.SENTRY_DSN": "https://planted@sentry.example/1", "appSecrets.GEMINI_API_KEY": "g-planted"}
    config = load_stack_config(project_with(tmp_path, STACK_FILE), "dev", supplied)
    values = json.loads(config.values[APP_SECRETS])
    assert values["SENTRY_DSN"] == supplied["appSecrets.SENTRY_DSN"]
    assert values["GEMINI_API_KEY"] == "g-planted"
    assert values["OPENAI_API_KEY"] == placeholder(f"{APP_SECRETS}.OPENAI_API_KEY")


def test_the_program_runs_on_placeholders(tmp_path: Path) -> None:
    """Offline, a stack with application secrets renders without their values: crm-app-secrets holds every name."""
    config = load_stack_config(project_with(tmp_path, STACK_FILE), "dev")
    objects = kubernetes_objects(run_program(config, PROJECT_DIR))
    [secret] = [obj.document for obj in objects if obj.kind == "Secret" and obj.name == "crm-app-secrets"]
    assert secret["stringData"] == {"OPENAI_API_KEY": "[secret]", "SENTRY_DSN": "[secret]"}


def test_a_plain_value_in_a_secret_object_is_refused_by_its_path(tmp_path: Path) -> None:
    """A value set with `--path` but without `--secret` beside secure ones: the CLI would hand the whole object
    to the program as a secret, so the loader refuses it, naming the path and the command, never the value."""
    stack_file = STACK_FILE + "    RAZORPAY_KEY_SECRET: rzp-planted-plain-value\n"
    with pytest.raises(StackConfigError) as raised:
        load_stack_config(project_with(tmp_path, stack_file), "dev")
    assert str(raised.value) == (
        "Pulumi.dev.yaml: crm-platform:appSecrets.RAZORPAY_KEY_SECRET is stored in plain text; allowed: an encrypted "
        "value, set with `pulumi config set --secret --path 'appSecrets.RAZORPAY_KEY_SECRET' <value>`"
    )
    assert "rzp-planted" not in str(raised.value)


def test_supplied_paths_into_a_key_that_is_no_secret_object_are_refused() -> None:
    """Only secret objects take `KEY.NAME` paths: a typo is an error, not a silently unused value."""
    with pytest.raises(StackConfigError, match=r"not secrets of the project: appSecret\.X"):
        load_stack_config(PROJECT_DIR, "dev", {"appSecret.X": "value"})
