"""Validate rendered objects as the API server would, with unknown fields as errors.

Core objects: the Kubernetes OpenAPI schema of the cluster version the platform supports
(kubernetes-validate's strict schemas). Custom resources: the `openAPIV3Schema` of their
CustomResourceDefinition from ../shared/crds, made strict the way server-side field
validation behaves (every object schema with declared properties rejects other fields,
unless it preserves unknown fields). Chart values: the chart's values.schema.json.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from offline.program import PROJECT_DIR

KUBERNETES_VERSION = "1.34"
"""The Kubernetes minor version the platform supports and validates against."""

SHARED_DIR = Path(os.environ.get("CRM_SHARED_DIR", PROJECT_DIR.parent / "shared"))
CRDS_DIR = SHARED_DIR / "crds"
HELM_VALUES_SCHEMAS_DIR = SHARED_DIR / "helm-values-schemas"

# API groups served by Kubernetes itself; anything else needs a CRD.
_CORE_GROUPS = {
    "",
    "apps",
    "batch",
    "autoscaling",
    "policy",
    "rbac.authorization.k8s.io",
    "networking.k8s.io",
    "storage.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "certificates.k8s.io",
    "node.k8s.io",
}


def api_group(api_version: str) -> str:
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def is_core(document: Mapping[str, Any]) -> bool:
    return api_group(str(document.get("apiVersion", ""))) in _CORE_GROUPS


def core_errors(document: Mapping[str, Any]) -> list[str]:
    """Schema errors of a core object (empty when valid)."""
    try:
        kubernetes_validate.validate(dict(document), KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        location = "/".join(str(step) for step in error.path) or "(root)"
        return [f"{location}: {error.message}"]
    except kubernetes_validate.SchemaNotFoundError as error:
        return [error.message]
    return []


class _CrdLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML 1.1 reads a bare `=` as the 'value' tag; in these files it is just the string."""


_CrdLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def strict_schema(schema: Any) -> Any:
    """A structural CRD schema turned into JSON Schema that rejects unknown fields."""
    if isinstance(schema, list):
        return [strict_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result: dict[str, Any] = {}
    for keyword, value in schema.items():
        if keyword.startswith("x-kubernetes-"):
            continue
        if keyword in ("properties", "patternProperties", "definitions", "$defs"):
            result[keyword] = {name: strict_schema(sub) for name, sub in value.items()}
        elif keyword in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            result[keyword] = strict_schema(value)
        else:
            result[keyword] = value
    if schema.get("x-kubernetes-int-or-string"):
        result.pop("type", None)
        result.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        result["additionalProperties"] = False
    return result


@dataclass(frozen=True)
class CustomResourceSchemas:
    """Strict schemas of every custom resource kind the shared CRDs define."""

    by_kind: dict[tuple[str, str, str], Any]
    """(group, version, kind) to the strict JSON schema."""

    @classmethod
    def load(cls, crds_dir: Path = CRDS_DIR) -> CustomResourceSchemas:
        by_kind: dict[tuple[str, str, str], Any] = {}
        for path in sorted(crds_dir.glob("*.yaml")):
            for crd in yaml.load_all(path.read_text(encoding="utf-8"), Loader=_CrdLoader):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                spec = crd["spec"]
                for version in spec["versions"]:
                    schema = version["schema"]["openAPIV3Schema"]
                    by_kind[(spec["group"], version["name"], spec["names"]["kind"])] = strict_schema(schema)
        if not by_kind:
            raise FileNotFoundError(f"no CustomResourceDefinitions under {crds_dir}")
        return cls(by_kind)

    def errors(self, document: Mapping[str, Any]) -> list[str]:
        """Schema errors of a custom resource (empty when valid)."""
        api_version = str(document.get("apiVersion", ""))
        group, _, version = api_version.rpartition("/")
        key = (group, version, str(document.get("kind")))
        schema = self.by_kind.get(key)
        if schema is None:
            return [f"no CRD in {CRDS_DIR} defines {document.get('kind')} {api_version}"]
        validator = jsonschema.Draft7Validator(schema)
        problems = [
            f"{'/'.join(str(step) for step in error.path) or '(root)'}: {error.message}"
            for error in sorted(validator.iter_errors(dict(document)), key=lambda error: list(error.path))
        ]
        # CRD schemas leave metadata open; the API server checks it as ObjectMeta.
        carrier = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": document.get("metadata", {})}
        problems += core_errors(carrier)
        return problems


def helm_values_errors(chart: str, version: str, values: Mapping[str, Any]) -> list[str]:
    """Errors of Helm values against the chart's published values.schema.json."""
    path = HELM_VALUES_SCHEMAS_DIR / f"{chart}-{version}.values.schema.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema)
    return [
        f"{'/'.join(str(step) for step in error.path) or '(root)'}: {error.message}"
        for error in validator.iter_errors(dict(values))
    ]
