"""Offline config: a secret the stack needs gets a placeholder; an optional one nobody set stays unset."""

from __future__ import annotations

from pathlib import Path

from offline.program import PROJECT_DIR
from offline.stack_config import load_stack_config, placeholder
from stacks.schema import PROJECT

CHAT = f"{PROJECT}:alertChatWebhookUrl"


def project_copy(tmp_path: Path, stack_file: str) -> Path:
    (tmp_path / "Pulumi.yaml").write_text((PROJECT_DIR / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.staging.yaml").write_text(stack_file)
    return tmp_path


def test_an_optional_secret_nobody_set_is_unset_as_the_cli_would_pass_it() -> None:
    """A receiver's credential missing from the stack file is "" (the project default), not a placeholder that
    would switch its receiver on in every render."""
    config = load_stack_config(PROJECT_DIR, "staging")
    assert config.values[CHAT] == ""
    assert "alertChatWebhookUrl" not in config.placeholders
    assert config.values[f"{PROJECT}:smtpPassword"] == placeholder(f"{PROJECT}:smtpPassword")


def test_an_optional_secret_the_stack_file_stores_gets_a_placeholder(tmp_path: Path) -> None:
    """`pulumi config set --secret` writes a secure value into the stack file: the real stack has it set."""
    base = (PROJECT_DIR / "Pulumi.staging.yaml").read_text()
    project = project_copy(tmp_path, base + f"  {CHAT}:\n    secure: v1:AAAAbase64==\n")
    config = load_stack_config(project, "staging")
    assert config.values[CHAT] == placeholder(CHAT)
    assert "alertChatWebhookUrl" in config.placeholders


def test_a_supplied_value_wins(tmp_path: Path) -> None:
    """A value planted by the caller is used as given."""
    config = load_stack_config(PROJECT_DIR, "staging", {"alertChatWebhookUrl": "https://hooks.example.com/x"})
    assert config.values[CHAT] == "https://hooks.example.com/x"
    assert CHAT in config.secret_keys
