"""A small IAM policy evaluator, for tests and the policy pack: what one policy says about one request.

`evaluate(policy, action, resource, context)` answers "allow", "deny" (an explicit Deny
statement matches) or "implicit-deny" (nothing matches), following the evaluation logic
of one policy in AWS's documentation (IAM User Guide, "Policy evaluation logic"):

- an explicit Deny wins over any Allow; with neither, the request is implicitly denied;
- Action/NotAction match case-insensitively, with `*` and `?` wildcards;
- Resource/NotResource match case-sensitively, an ARN component by component (the six
  colon-separated parts, the last one keeping its own colons and slashes), with wildcards
  (a pattern that is not an ARN is refused, as IAM refuses it);
  a statement without either (a role's trust policy) applies to the resource it is attached to;
- Principal/NotPrincipal are checked only when `principal` is given (the ARN, service or
  provider name of the caller; "*" in the policy matches anyone);
- Condition: every operator block and every key in it must hold (AND); one of a key's
  values must match (OR). Condition key names are case-insensitive. A key missing from the
  context makes a positive operator (StringEquals, StringLike, Bool, ArnEquals, ArnLike)
  false and a negated one (StringNotEquals, StringNotLike, ArnNotEquals, ArnNotLike) true;
  the `IfExists` suffix makes any of them true for a missing key; `Null` tests presence.
- Multivalued context keys (a list of strings in the context, as Route53's record set keys
  list every change of a batch) are judged by the set operators `ForAllValues:` (every value
  of the request matches one of the policy's; true for a missing or empty key, which is why
  policies pair it with Null) and `ForAnyValue:` (at least one does; false for a missing key),
  over StringEquals, StringLike, ArnEquals and ArnLike (IAM User Guide, "Set operators for
  multivalued context keys"). A multivalued key under a single-valued operator is refused.

Anything else (Numeric*, Date*, IpAddress, a negated or IfExists operator under a set
operator, policy variables such as `${aws:username}`) raises `UnsupportedPolicyError` instead
of being guessed at: a policy this evaluator cannot judge exactly must not be judged at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

Decision = Literal["allow", "deny", "implicit-deny"]
ContextValue = str | bool | list[str] | tuple[str, ...]
"""A single-valued key's value, or a multivalued key's values."""


class UnsupportedPolicyError(ValueError):
    """The policy uses an element or operator this evaluator does not implement."""


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """`value` matches `pattern`, where `*` is any run of characters (none included) and `?` exactly one."""
    expression = "".join(
        ".*" if character == "*" else "." if character == "?" else re.escape(character) for character in pattern
    )
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.fullmatch(expression, value, flags) is not None


def arn_match(pattern: str, arn: str) -> bool:
    """`arn` matches `pattern` component by component, as ArnLike and the Resource element compare ARNs.

    A bare `*` matches everything, and a wildcard never spans two components. A pattern
    that is neither is not an ARN: IAM rejects such a policy, so this raises; a value that
    is not an ARN matches nothing else.
    """
    if pattern == "*":
        return True
    pattern_parts = pattern.split(":", 5)
    arn_parts = arn.split(":", 5)
    if len(pattern_parts) != 6 or pattern_parts[0] != "arn":
        raise UnsupportedPolicyError(
            f"{pattern!r} is neither '*' nor an ARN (arn:partition:service:region:account:resource)"
        )
    if len(arn_parts) != 6:
        return False
    return all(wildcard_match(part, value) for part, value in zip(pattern_parts, arn_parts, strict=True))


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _text(value: ContextValue) -> str:
    """A context or policy value as IAM compares it: booleans are the strings "true"/"false"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        raise UnsupportedPolicyError(
            f"multivalued context value {list(value)!r} under a single-valued operator: use ForAllValues: or "
            "ForAnyValue:"
        )
    return str(value)


def _check_no_variables(value: Any) -> None:
    for item in _as_list(value):
        if isinstance(item, str) and "${" in item:
            raise UnsupportedPolicyError(f"policy variable in {item!r}: not supported; use literal values")


def _string_equals(pattern: str, value: str) -> bool:
    return pattern == value


def _string_like(pattern: str, value: str) -> bool:
    return wildcard_match(pattern, value)


def _bool(pattern: str, value: str) -> bool:
    return pattern.lower() == value.lower()


# Positive operators; each negated one is "not any value matches", true for a missing key.
_POSITIVE: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": _string_equals,
    "StringLike": _string_like,
    "Bool": _bool,
    "ArnEquals": arn_match,  # ArnEquals and ArnLike behave the same (IAM User Guide, ARN condition operators).
    "ArnLike": arn_match,
}
_NEGATED: dict[str, Callable[[str, str], bool]] = {
    "StringNotEquals": _string_equals,
    "StringNotLike": _string_like,
    "ArnNotEquals": arn_match,
    "ArnNotLike": arn_match,
}


_SET_QUALIFIERS = ("ForAllValues", "ForAnyValue")
_SET_OPERATORS = ("StringEquals", "StringLike", "ArnEquals", "ArnLike")


def _set_condition_holds(qualifier: str, operator: str, patterns: list[str], values: ContextValue | None) -> bool:
    """ForAllValues / ForAnyValue over a multivalued key's values (a single value counts as a set of one)."""
    if operator not in _SET_OPERATORS:
        raise UnsupportedPolicyError(
            f"{qualifier}:{operator} is not supported; supported under a set operator: {', '.join(_SET_OPERATORS)}"
        )
    if values is None or isinstance(values, bool):
        requested = [] if values is None else [_text(values)]
    elif isinstance(values, str):
        requested = [values]
    else:
        requested = [str(value) for value in values]
    matched = [any(_POSITIVE[operator](pattern, value) for pattern in patterns) for value in requested]
    return all(matched) if qualifier == "ForAllValues" else any(matched)


def _condition_holds(operator: str, key: str, expected: Any, context: Mapping[str, ContextValue]) -> bool:
    _check_no_variables(expected)
    patterns = [_text(item) for item in _as_list(expected)]
    lowered = {name.lower(): value for name, value in context.items()}
    if ":" in operator:
        qualifier, base = operator.split(":", 1)
        if qualifier not in _SET_QUALIFIERS:
            raise UnsupportedPolicyError(f"condition operator {operator!r} is not supported")
        return _set_condition_holds(qualifier, base, patterns, lowered.get(key.lower()))
    value = lowered.get(key.lower())
    # An empty multivalued key is no key at all (Null holds, a positive operator fails).
    present = value is not None and value != [] and value != ()
    actual = _text(value) if present and operator != "Null" and value is not None else ""

    if operator == "Null":
        # {"key": "true"} holds when the key is absent, {"key": "false"} when it is present.
        return any((pattern.lower() == "true") != present for pattern in patterns)

    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists") if if_exists else operator
    if base in _POSITIVE:
        if not present:
            return if_exists
        return any(_POSITIVE[base](pattern, actual) for pattern in patterns)
    if base in _NEGATED:
        if not present:
            return True
        return not any(_NEGATED[base](pattern, actual) for pattern in patterns)
    raise UnsupportedPolicyError(
        f"condition operator {operator!r} is not supported; supported: Null and "
        f"{', '.join(sorted([*_POSITIVE, *_NEGATED]))}, each optionally with IfExists"
    )


def _conditions_hold(conditions: Mapping[str, Any], context: Mapping[str, ContextValue]) -> bool:
    for operator, block in conditions.items():
        if not isinstance(block, Mapping):
            raise UnsupportedPolicyError(f"condition {operator!r} must map condition keys to values")
        for key, expected in block.items():
            if not _condition_holds(operator, key, expected, context):
                return False
    return True


def _matches_any(patterns: Any, value: str, match: Callable[[str, str], bool]) -> bool:
    _check_no_variables(patterns)
    return any(match(str(pattern), value) for pattern in _as_list(patterns))


def _action_match(pattern: str, action: str) -> bool:
    return wildcard_match(pattern, action, ignore_case=True)


def _principal_values(principal: Any) -> list[str]:
    """Every identifier a Principal element names: "*" or the values of its AWS/Federated/Service map."""
    if principal == "*":
        return ["*"]
    if isinstance(principal, Mapping):
        return [str(item) for values in principal.values() for item in _as_list(values)]
    raise UnsupportedPolicyError(f"Principal {principal!r} must be '*' or a map such as {{'AWS': [...]}}")


def _principal_match(pattern: str, principal: str) -> bool:
    return pattern == "*" or pattern == principal


def _element(statement: Mapping[str, Any], name: str, negated: str) -> tuple[Any, bool] | None:
    """The statement's `name` or `negated` element and whether it is the negated one; None if neither."""
    if name in statement and negated in statement:
        raise UnsupportedPolicyError(f"a statement has both {name} and {negated}")
    if name in statement:
        return statement[name], False
    if negated in statement:
        return statement[negated], True
    return None


def statement_applies(
    statement: Mapping[str, Any],
    action: str,
    resource: str,
    context: Mapping[str, ContextValue],
    principal: str | None = None,
) -> bool:
    """Whether one statement's Principal, Action, Resource and Condition all match the request."""
    actions = _element(statement, "Action", "NotAction")
    if actions is None:
        raise UnsupportedPolicyError("a statement needs Action or NotAction")
    patterns, negated = actions
    if _matches_any(patterns, action, _action_match) == negated:
        return False

    resources = _element(statement, "Resource", "NotResource")
    if resources is not None:
        patterns, negated = resources
        if _matches_any(patterns, resource, arn_match) == negated:
            return False

    principals = _element(statement, "Principal", "NotPrincipal")
    if principals is not None and principal is not None:
        element, negated = principals
        if _matches_any(_principal_values(element), principal, _principal_match) == negated:
            return False

    return _conditions_hold(statement.get("Condition", {}), context)


def evaluate(
    policy: Mapping[str, Any],
    action: str,
    resource: str,
    context: Mapping[str, ContextValue] | None = None,
    principal: str | None = None,
) -> Decision:
    """What `policy` decides for `principal` doing `action` on `resource` with these condition keys."""
    statements: Sequence[Mapping[str, Any]] = _as_list(policy.get("Statement", []))
    allowed = False
    for statement in statements:
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise UnsupportedPolicyError(f"Effect must be Allow or Deny, not {effect!r}")
        if statement_applies(statement, action, resource, context or {}, principal):
            if effect == "Deny":
                return "deny"
            allowed = True
    return "allow" if allowed else "implicit-deny"
