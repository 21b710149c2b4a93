"""The policy catalogue and its per-stack configs: complete descriptions, levels by category, option
schemas, the config files the CLI takes, and no PolicyPack on import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from offline.program import PROJECT_DIR
from policies.config import PolicyConfigError, config_path_for_stack, load_policy_config
from policies.registry import POLICIES, POLICIES_BY_NAME, STACK_POLICIES

CONFIG_DIR = PROJECT_DIR / "policies" / "config"

BRIEF_POLICIES = {
    # issue 5, point 2: the restricted profile, the rules beyond it, and the stack policies.
    "pod-security-restricted",
    "read-only-root-filesystem",
    "container-resources",
    "liveness-and-readiness-probes",
    "image-pinned",
    "service-account-token",
    "no-exposed-services",
    "ingress-tls",
    "namespace-pod-security-labels",
    "no-secrets-in-configmaps",
    "no-secret-literals-in-env",
    "rbac-least-privilege",
    "cronjob-scheduling",
    "default-deny-network-policy",
    "disruption-budget",
    "s3-bucket-controls",
    "production-postgres-instances",
    "production-backups",
    "production-web-replicas",
}


def test_the_catalogue_is_the_brief() -> None:
    """Every policy the brief asks for exists, and nothing else."""
    assert set(POLICIES_BY_NAME) == BRIEF_POLICIES
    assert len(POLICIES) == len(BRIEF_POLICIES)
    assert {spec.name for spec in STACK_POLICIES} == {
        "default-deny-network-policy",
        "disruption-budget",
        "ingress-tls",
        "s3-bucket-controls",
        "production-postgres-instances",
        "production-backups",
        "production-web-replicas",
    }


@pytest.mark.parametrize("spec", POLICIES, ids=[spec.name for spec in POLICIES])
def test_every_policy_is_described(spec: Any) -> None:
    """Every policy has a description, a known severity, remediation steps, mandatory by default, and either
    kinds and a resource check or a stack check; its option schema is valid JSON Schema with valid defaults."""
    assert spec.description.strip() and spec.remediation.strip()
    assert spec.severity in ("low", "medium", "high", "critical")
    assert spec.default_enforcement == "mandatory"
    assert (spec.check is not None and spec.kinds) != spec.is_stack_policy
    schema = {"type": "object", "properties": dict(spec.config_schema), "additionalProperties": False}
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.validate(spec.defaults(), schema)
    for option in spec.config_schema.values():
        assert option.get("description"), spec.name
        assert "default" in option, spec.name


def test_production_only_policies_are_named_so() -> None:
    """The production category is exactly the production-* policies."""
    assert {spec.name for spec in POLICIES if spec.category == "production"} == {
        name for name in BRIEF_POLICIES if name.startswith("production-")
    }


@pytest.mark.parametrize("stack", ["production", "staging", "dev", "pr-7"])
def test_stack_configs_set_the_levels(stack: str) -> None:
    """Production: all mandatory. Elsewhere: security mandatory, production-only disabled; best practice
    mandatory in staging (the rehearsal of production) and advisory in dev and review stacks."""
    config = load_policy_config(config_path_for_stack(stack))
    for spec in POLICIES:
        level = config.level(spec)
        if stack == "production" or spec.category == "security":
            assert level == "mandatory", spec.name
        elif spec.category == "production":
            assert level == "disabled", spec.name
        else:
            assert level == ("mandatory" if stack == "staging" else "advisory"), spec.name


def test_config_options_reach_the_policies_with_defaults() -> None:
    """Allow-lists from the file, defaults for what it leaves out."""
    config = load_policy_config(config_path_for_stack("production"))
    assert config.options_for(POLICIES_BY_NAME["no-exposed-services"]) == {"allowed": ["traefik/traefik"]}
    assert config.options_for(POLICIES_BY_NAME["image-pinned"]) == {"requireDigest": False}
    assert config.options_for(POLICIES_BY_NAME["production-web-replicas"]) == {
        "deployments": ["crm-web"],
        "minReplicas": 2,
    }


def test_review_stacks_use_review_config() -> None:
    """pr-<number> stacks read policies/config/review.json."""
    assert config_path_for_stack("pr-42") == CONFIG_DIR / "review.json"


def test_every_config_file_names_every_policy() -> None:
    """Each config file is a JSON object naming every policy (the --policy-pack-config format), so a reader
    sees each level without knowing the defaults."""
    paths = sorted(CONFIG_DIR.glob("*.json"))
    assert [path.stem for path in paths] == ["dev", "production", "review", "staging"]
    for path in paths:
        document = json.loads(path.read_text(encoding="utf-8"))
        assert set(document) == set(POLICIES_BY_NAME), path.name
        load_policy_config(path)


def _config_file(tmp_path: Path, name: str, document: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "document", "message"),
    [
        (
            "loose.json",
            {"pod-security-restricted": {"enforcementLevel": "advisory"}},
            r"loose\.json: 'pod-security-restricted' is a security policy and stays mandatory, not advisory",
        ),
        (
            "production.json",
            {"read-only-root-filesystem": "advisory"},
            r"production\.json: 'read-only-root-filesystem' must be mandatory in production, not advisory",
        ),
        (
            "production.json",
            {"all": "advisory"},
            r"must be mandatory in production, not advisory",
        ),
        (
            "typo.json",
            {"read-only-rootfs": "advisory"},
            "unknown policy 'read-only-rootfs'; known: pod-security-restricted",
        ),
        ("level.json", {"image-pinned": "warn"}, "'image-pinned' has enforcement level \"warn\"; allowed: mandatory"),
        (
            "option.json",
            {"no-exposed-services": {"allowList": ["a/b"]}},
            r"no-exposed-services\.options: Additional properties are not allowed \('allowList' was unexpected\) "
            r"\(options of no-exposed-services: allowed\)",
        ),
        (
            "type.json",
            {"image-pinned": {"requireDigest": "yes"}},
            r"image-pinned\.requireDigest: 'yes' is not of type 'boolean'",
        ),
        ("list.json", ["image-pinned"], "must be a JSON object"),
    ],
)
def test_bad_config_is_refused_naming_file_key_and_allowed(
    tmp_path: Path, name: str, document: Any, message: str
) -> None:
    """Each mistake in a config file names the file, the key, the value and what is allowed."""
    with pytest.raises(PolicyConfigError, match=message):
        load_policy_config(_config_file(tmp_path, name, document))


def test_non_production_may_relax_best_practice_and_disable_production_rules(tmp_path: Path) -> None:
    """What the dev config does is allowed by name, not by accident."""
    config = load_policy_config(
        _config_file(tmp_path, "lab.json", {"container-resources": "advisory", "production-backups": "disabled"})
    )
    assert config.levels["container-resources"] == "advisory"
    assert config.levels["production-backups"] == "disabled"


@pytest.mark.parametrize("module", ["policies.registry", "policies.runner", "policies.pulumi_adapter"])
def test_import_does_not_load_pulumi_policy(module: str) -> None:
    """Importing the module (and its listing of POLICIES) in a fresh interpreter never imports pulumi_policy."""
    code = (
        f"import sys, {module}; from policies.registry import POLICIES; assert POLICIES; "
        "print(sorted(name for name in sys.modules if name.startswith('pulumi_policy')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_readme_policy_table_is_current() -> None:
    """The README's policy table is generated from the registry and the configs (`make docs`)."""
    from policies import reference

    assert not reference.is_stale(), "README.md policy table is stale: run `make docs`"
    for spec in POLICIES:
        assert f"| `{spec.name}` |" in (PROJECT_DIR / "README.md").read_text(encoding="utf-8")


def test_every_exemption_and_allow_list_entry_is_exact() -> None:
    """The configs name chart objects exactly (no globs), so a new object a chart adds is checked, not waved
    through; each probe exemption carries its reason."""
    for path in sorted(CONFIG_DIR.glob("*.json")):
        config = load_policy_config(path)
        for name, options in config.options.items():
            for value in options.values():
                entries = list(value) if isinstance(value, (list, dict)) else []
                assert all(not any(char in str(entry) for char in "*?[") for entry in entries), (path.name, name)
        reasons = config.options["liveness-and-readiness-probes"]["exempt"]
        assert all(len(reason) > 20 for reason in reasons.values()), path.name


def test_pack_descriptions_name_the_policy_version_the_checks_implement() -> None:
    """PulumiPolicy.yaml, the PolicyPack the CLI serves and pod-security-restricted all name the Kubernetes version
    whose Pod Security Standards policy/pod_security.py implements, so bumping one without the others fails."""
    from policies.pod_security import POLICY_VERSION

    version = f"Kubernetes {POLICY_VERSION.removeprefix('v')}"
    pack = yaml.safe_load((PROJECT_DIR / "policies" / "PulumiPolicy.yaml").read_text(encoding="utf-8"))
    served = (PROJECT_DIR / "policies" / "__main__.py").read_text(encoding="utf-8")
    assert version in pack["description"]
    assert f"restricted profile of {version}" in served
    assert version in POLICIES_BY_NAME["pod-security-restricted"].description
    assert f"policy version {POLICY_VERSION}" in POLICIES_BY_NAME["pod-security-restricted"].description
