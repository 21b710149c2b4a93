"""Policy config: a --policy-pack-config document becomes each policy's level and options, or one exact error.

Covers policies/config.py directly: which file a stack reads, the CLI's format (`all`, a bare level, an object
with `enforcementLevel` and options), the defaults filled in, and every refusal with the message a user reads
(the file, the key, the value and what is allowed). tests/policies/test_registry.py checks the shipped files.
"""

from __future__ import annotations

import json
import locale
from pathlib import Path
from typing import Any

import pytest

from policies.config import (
    PolicyConfig,
    PolicyConfigError,
    config_name_for_stack,
    config_path_for_stack,
    default_config,
    load_policy_config,
    policy_config,
)
from policies.registry import POLICIES, POLICIES_BY_NAME

POLICIES_DIR = Path(__file__).resolve().parents[2] / "policies"
KNOWN = ", ".join(spec.name for spec in POLICIES)
"""The known policies in the order a message lists them: the pack's order."""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _refusal(tmp_path: Path, name: str, document: Any) -> str:
    """The message load_policy_config gives for the document written to `name`, with the file's path as `<file>`."""
    path = _write(tmp_path, name, json.dumps(document))
    with pytest.raises(PolicyConfigError) as raised:
        load_policy_config(path)
    return str(raised.value).replace(str(path), "<file>")


@pytest.mark.parametrize(
    ("stack", "path"),
    [
        ("staging", POLICIES_DIR / "config" / "staging.json"),
        ("production", POLICIES_DIR / "config" / "production.json"),
        ("pr-7", POLICIES_DIR / "config" / "review.json"),
        ("dev", POLICIES_DIR / "config" / "dev.json"),
    ],
)
def test_each_stack_reads_its_file_and_review_stacks_share_one(stack: str, path: Path) -> None:
    """A stack reads policies/config/<stack>.json beside the pack; every pr-<number> stack reads review.json."""
    assert config_path_for_stack(stack) == path
    assert config_name_for_stack(stack) == path.stem
    assert path.is_file()


def test_without_a_file_every_policy_is_mandatory_with_its_defaults() -> None:
    """The config `pulumi preview` applies without a file: every level mandatory, every option at its default."""
    config = default_config()
    for spec in POLICIES:
        assert config.level(spec) == "mandatory", spec.name
        assert config.options_for(spec) == spec.defaults(), spec.name
    assert set(config.levels) == set(config.options) == set(POLICIES_BY_NAME)


SECURITY_MANDATORY = {spec.name: "mandatory" for spec in POLICIES if spec.category == "security"}
"""What a non-production config that relaxes `all` must say of each security policy."""


def test_all_sets_every_level_and_a_named_policy_overrides_it(tmp_path: Path) -> None:
    """`all` gives each policy its level; a policy named beside it (before or after, bare or as an object) keeps
    its own."""
    document: dict[str, Any] = {
        "container-resources": "mandatory",
        "all": "advisory",
        **SECURITY_MANDATORY,
        "image-pinned": {"enforcementLevel": "mandatory"},
        "production-backups": "disabled",
    }
    config = load_policy_config(_write(tmp_path, "lab.json", json.dumps(document)))
    expected = {spec.name: "advisory" for spec in POLICIES}
    expected.update({**SECURITY_MANDATORY, "container-resources": "mandatory", "production-backups": "disabled"})
    assert dict(config.levels) == expected


def test_a_security_policy_left_to_all_is_refused(tmp_path: Path) -> None:
    """`all: advisory` reaches every security policy not named: the first of them is refused."""
    document = {"all": "advisory", **SECURITY_MANDATORY, "service-account-token": {"tokenAllowed": ["a/b"]}}
    assert _refusal(tmp_path, "lab.json", document) == (
        "<file>: 'service-account-token' is a security policy and stays mandatory, not advisory"
    )


def test_options_without_a_level_keep_the_level_and_fill_in_the_defaults(tmp_path: Path) -> None:
    """An object without enforcementLevel sets options only: the level stays, unnamed options take defaults, and
    an object with a level alone keeps every default."""
    document = {
        "all": "advisory",
        **SECURITY_MANDATORY,
        "production-web-replicas": {"minReplicas": 3},
        "production-postgres-instances": {"enforcementLevel": "disabled"},
    }
    config = policy_config(document, tmp_path / "lab.json")
    web = POLICIES_BY_NAME["production-web-replicas"]
    postgres = POLICIES_BY_NAME["production-postgres-instances"]
    assert config.level(web) == "advisory"
    assert config.options_for(web) == {"deployments": ["crm-web"], "minReplicas": 3}
    assert config.level(postgres) == "disabled"
    assert config.options_for(postgres) == {"minInstances": 3}


def test_a_config_named_production_anywhere_keeps_every_policy_mandatory(tmp_path: Path) -> None:
    """The production rule follows the file's stem, wherever the file is; any other stem may relax best practice."""
    document = {"container-resources": "advisory"}
    with pytest.raises(PolicyConfigError):
        policy_config(document, tmp_path / "elsewhere" / "production.json")
    config = policy_config(document, tmp_path / "production-like.json")
    assert config.level(POLICIES_BY_NAME["container-resources"]) == "advisory"


@pytest.mark.parametrize(
    ("name", "document", "message"),
    [
        (
            "level.json",
            {"image-pinned": "warn"},
            "<file>: 'image-pinned' has enforcement level \"warn\"; allowed: mandatory, advisory, disabled",
        ),
        (
            "number.json",
            {"all": 1},
            "<file>: 'all' has enforcement level 1; allowed: mandatory, advisory, disabled",
        ),
        (
            "object.json",
            {"image-pinned": {"enforcementLevel": None}},
            "<file>: 'image-pinned' has enforcement level null; allowed: mandatory, advisory, disabled",
        ),
        (
            "typo.json",
            {"read-only-rootfs": "advisory"},
            f"<file>: unknown policy 'read-only-rootfs'; known: {KNOWN}",
        ),
        (
            "production.json",
            {"disruption-budget": "disabled"},
            "<file>: 'disruption-budget' must be mandatory in production, not disabled",
        ),
        (
            "loose.json",
            {"ingress-tls": {"enforcementLevel": "disabled"}},
            "<file>: 'ingress-tls' is a security policy and stays mandatory, not disabled",
        ),
        (
            "nested.json",
            {"production-web-replicas": {"deployments": ["crm-web", 7]}},
            "<file>: production-web-replicas.deployments.1: 7 is not of type 'string' "
            "(options of production-web-replicas: deployments, minReplicas)",
        ),
        (
            "top.json",
            {"production-web-replicas": {"replicas": 2}},
            "<file>: production-web-replicas.options: Additional properties are not allowed ('replicas' was "
            "unexpected) (options of production-web-replicas: deployments, minReplicas)",
        ),
        (
            "none.json",
            {"ingress-tls": {"enforcementLevel": "mandatory", "hosts": []}},
            "<file>: ingress-tls.options: Additional properties are not allowed ('hosts' was unexpected) "
            "(options of ingress-tls: none)",
        ),
        ("list.json", ["image-pinned"], "<file> must be a JSON object mapping policy names to levels or settings"),
    ],
)
def test_each_refusal_names_the_file_the_key_the_value_and_what_is_allowed(
    tmp_path: Path, name: str, document: Any, message: str
) -> None:
    """Each mistake gives exactly this message."""
    assert _refusal(tmp_path, name, document) == message


def test_a_missing_file_says_how_to_create_it(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    with pytest.raises(PolicyConfigError) as raised:
        load_policy_config(path)
    assert str(raised.value) == f"no policy config {path}; create it (see policies/config/staging.json)"


def test_an_unreadable_file_gives_the_reason(tmp_path: Path) -> None:
    with pytest.raises(PolicyConfigError) as raised:
        load_policy_config(tmp_path)
    assert str(raised.value) == f"cannot read {tmp_path}: Is a directory"


def test_invalid_json_gives_the_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "broken.json", '{\n  "image-pinned": mandatory\n}\n')
    with pytest.raises(PolicyConfigError) as raised:
        load_policy_config(path)
    assert str(raised.value) == f"{path} is not valid JSON at line 2, column 19"


def test_the_file_is_read_as_utf8_whatever_the_locale(tmp_path: Path) -> None:
    """A UTF-8 file (what the Pulumi CLI reads) with a non-ASCII reason reads as written, also where the process's
    locale is plain ASCII (LANG=C on a CI runner)."""
    reason = "l’exemple n’a pas de point de santé"
    path = tmp_path / "lab.json"
    path.write_bytes(
        json.dumps({"liveness-and-readiness-probes": {"exempt": {"a/b": reason}}}, ensure_ascii=False).encode()
    )
    previous = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    try:
        config = load_policy_config(path)
    finally:
        locale.setlocale(locale.LC_CTYPE, previous)
    assert config.options_for(POLICIES_BY_NAME["liveness-and-readiness-probes"]) == {"exempt": {"a/b": reason}}


def test_policy_config_holds_what_it_is_given() -> None:
    spec = POLICIES_BY_NAME["image-pinned"]
    config = PolicyConfig(levels={spec.name: "advisory"}, options={spec.name: {"requireDigest": True}})
    assert config.level(spec) == "advisory"
    assert config.options_for(spec) == {"requireDigest": True}
