"""Stack names with a meaning of their own: review stacks are named after their pull request."""

from __future__ import annotations

import re

REVIEW_STACK = re.compile(r"pr-(?P<number>[1-9][0-9]{0,6})")
"""Review stacks are named after their pull request: pr-<number>."""


def is_review_stack(stack: str) -> bool:
    """Whether `stack` is a review stack's name (pr-<number>)."""
    return REVIEW_STACK.fullmatch(stack) is not None
