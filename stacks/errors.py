"""The one error a bad stack configuration produces, and the problems it lists.

Every problem names the full config key (as `pulumi config set` shows it), the value
that was given (never a secret's value) and what is allowed, so one read of the message
is enough to fix the stack file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi

SECRET_MARKER = "[secret]"
"""Stands in for a secret value wherever one would otherwise be shown."""

_LONGEST_SHOWN_VALUE = 80


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one config key."""

    key: str
    """Full key, `crm-platform:smtpPort`, or a path into it, `crm-platform:egressCidrs[1]`."""
    value: str | None
    """The value as given; None when the key is missing."""
    message: str
    """What is wrong and what is allowed."""
    secret: bool = False
    """True when `value` must never be shown."""

    def __str__(self) -> str:
        if self.value is None:
            return f"{self.key} is missing: {self.message}"
        return f"{self.key} = {self._shown_value()}: {self.message}"

    def _shown_value(self) -> str:
        if self.secret:
            return SECRET_MARKER
        shown = json.dumps(self.value, ensure_ascii=True)
        if len(shown) > _LONGEST_SHOWN_VALUE:
            shown = shown[: _LONGEST_SHOWN_VALUE - 4] + '..."'
        return shown


class SettingsError(pulumi.RunError):
    """The stack configuration is invalid; raised before any resource is declared.

    A subclass of `pulumi.RunError`, so the Pulumi CLI prints the message without a
    Python traceback.
    """

    def __init__(self, stack: str, problems: list[Problem]) -> None:
        self.stack = stack
        self.problems = tuple(problems)
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        listed = "; ".join(str(problem) for problem in problems)
        super().__init__(f'invalid configuration for stack "{stack}" ({count} {noun}): {listed}')
