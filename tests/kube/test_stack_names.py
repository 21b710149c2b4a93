"""Review stack names: pr-<number>, nothing else."""

from __future__ import annotations

import pytest

from kube.stack_names import is_review_stack


@pytest.mark.parametrize("stack", ["pr-1", "pr-42", "pr-9999999"])
def test_pull_request_stacks_are_review_stacks(stack: str) -> None:
    assert is_review_stack(stack) is True


@pytest.mark.parametrize("stack", ["pr-0", "pr-01", "pr-10000000", "pr-", "pr-42x", "xpr-42", "staging", "PR-42"])
def test_other_names_are_not(stack: str) -> None:
    """No leading zero, at most seven digits, the whole name."""
    assert is_review_stack(stack) is False
