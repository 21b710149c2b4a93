"""Pod templates for the policy tests: a restricted template using every allowed value, each pod-bearing
kind's wrapping, and path edits (`spec.containers[web].securityContext.privileged`)."""

from __future__ import annotations

import re
from typing import Any

from kube.objects import POD_SPEC_PATHS

POD_BEARING_KINDS = tuple(POD_SPEC_PATHS)

TEMPLATE_PREFIXES = {kind: "spec.template." for kind in POD_BEARING_KINDS} | {
    "Pod": "",
    "PodTemplate": "template.",
    "CronJob": "spec.jobTemplate.spec.template.",
}
"""What each kind puts before a pod template's own `metadata`/`spec` paths."""

DELETE = object()
"""An edit value meaning: remove the field."""

ALL_CONTAINERS = ("initContainers[migrate]", "containers[web]", "containers[sidecar]", "ephemeralContainers[debugger]")


def restricted_container(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "image": "ghcr.io/acme/crm-backend:2.4.1",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "procMount": "Default",
        },
    }


def restricted_template() -> dict[str, Any]:
    """A pod template meeting the restricted profile while using every allowed value it can."""
    migrate, web, sidecar, debugger = (restricted_container(name) for name in ("migrate", "web", "sidecar", "debugger"))
    web["ports"] = [{"name": "http", "containerPort": 8000, "hostPort": 0}]
    web["securityContext"] |= {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
        "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
        "seLinuxOptions": {"type": "container_t", "level": "s0:c1,c2"},
        "appArmorProfile": {"type": "RuntimeDefault"},
    }
    web["livenessProbe"] = {"httpGet": {"path": "/healthz", "port": 8000}}
    web["readinessProbe"] = {"tcpSocket": {"port": 8000}}
    web["startupProbe"] = {"exec": {"command": ["true"]}}
    web["lifecycle"] = {"preStop": {"httpGet": {"path": "/drain", "port": 8000}}}
    sidecar["securityContext"]["seccompProfile"] = {"type": "Localhost", "localhostProfile": "profiles/sidecar.json"}
    return {
        "metadata": {
            "labels": {"app.kubernetes.io/name": "crm-web"},
            "annotations": {
                "container.apparmor.security.beta.kubernetes.io/web": "runtime/default",
                "container.apparmor.security.beta.kubernetes.io/sidecar": "localhost/crm-sidecar",
            },
        },
        "spec": {
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "runAsGroup": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
                "appArmorProfile": {"type": "Localhost", "localhostProfile": "crm"},
                "seLinuxOptions": {"type": "container_init_t"},
                "sysctls": [{"name": "net.ipv4.tcp_keepalive_time", "value": "60"}],
            },
            "initContainers": [migrate],
            "containers": [web, sidecar],
            "ephemeralContainers": [debugger],
            "volumes": [
                {"name": "tmp", "emptyDir": {}},
                {"name": "config", "configMap": {"name": "crm-app-config"}},
                {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}},
                {"name": "data", "persistentVolumeClaim": {"claimName": "crm-data"}},
                {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
            ],
        },
    }


def render(kind: str, template: dict[str, Any]) -> dict[str, Any]:
    """The template wrapped as `kind` the way its API shapes it."""
    metadata = {"name": "crm-web", "namespace": "crm"}
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": kind, "metadata": metadata | template["metadata"], "spec": template["spec"]}
    if kind == "PodTemplate":
        return {"apiVersion": "v1", "kind": kind, "metadata": metadata, "template": template}
    if kind == "CronJob":
        spec: dict[str, Any] = {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": template}}}
    else:
        spec = {"selector": {"matchLabels": template["metadata"]["labels"]}, "template": template}
    return {"kind": kind, "metadata": metadata, "spec": spec}


_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[([^\]]+)\]")


def edit(template: dict[str, Any], path: str, value: object) -> None:
    """Set (or with DELETE remove) a field; `[x]` is a dict key, or a list item by name, added if missing."""
    tokens = [field or f"[{item}]" for field, item in _PATH_TOKEN.findall(path)]
    current: Any = template
    for position, token in enumerate(tokens):
        last = position == len(tokens) - 1
        next_is_item = not last and tokens[position + 1].startswith("[")
        if token.startswith("[") and isinstance(current, list):
            name = token[1:-1]
            matches = [item for item in current if item.get("name") == name]
            if not matches:
                current.append({"name": name})
                matches = current[-1:]
            current = matches[0]
            continue
        key = token.strip("[]")
        if last:
            if value is DELETE:
                current.pop(key, None)
            else:
                current[key] = value
        else:
            current = current.setdefault(key, [] if next_is_item and key not in {"annotations"} else {})


def variant(*edits: tuple[str, object]) -> dict[str, Any]:
    template = restricted_template()
    for path, value in edits:
        edit(template, path, value)
    return template


RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}


def compliant_template() -> dict[str, Any]:
    """The restricted template that also meets every platform rule for pods: resources on every init and
    regular container, probes on every long-running one, its own ServiceAccount without a token."""
    template = restricted_template()
    spec = template["spec"]
    spec["serviceAccountName"] = "crm-web"
    spec["automountServiceAccountToken"] = False
    for container in spec["initContainers"] + spec["containers"]:
        container["resources"] = {section: dict(values) for section, values in RESOURCES.items()}
    sidecar = spec["containers"][1]
    sidecar["livenessProbe"] = {"exec": {"command": ["true"]}}
    sidecar["readinessProbe"] = {"exec": {"command": ["true"]}}
    return template


def compliant_variant(*edits: tuple[str, object]) -> dict[str, Any]:
    template = compliant_template()
    for path, value in edits:
        edit(template, path, value)
    return template


def compliant_object(kind: str, *edits: tuple[str, object]) -> dict[str, Any]:
    """`kind` wrapping the compliant template with `edits`; CronJobs also set their scheduling fields."""
    document = render(kind, compliant_variant(*edits))
    if kind == "CronJob":
        document["spec"] |= {"concurrencyPolicy": "Forbid", "startingDeadlineSeconds": 600}
    return document
