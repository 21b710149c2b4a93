"""Pod Security Standards checks for Kubernetes 1.34: plain Kubernetes object dicts in, a list of violations out.

The restricted profile (baseline B1-B12 plus restricted R1-R6, REFERENCE.md section 3) is policy
version v1.34 of pod-security-admission, control for control as its `policy/check_*.go` evaluate
that version (Kubernetes v1.34.x, staging/src/k8s.io/pod-security-admission): the same fields, the
same allowed values at 1.34 (SELinux type container_engine_t since 1.31, the 1.32 safe sysctls, the
probe and lifecycle host check that 1.34 adds), the same pod-level versus container-level
precedence, the same exemption (Windows pods, `spec.os.name: windows`, from R2, R5 and R6), and
init, regular and ephemeral containers alike. At 1.34 `hostUsers: false` relaxes nothing: the
relaxation of runAsNonRoot, runAsUser and procMount for user-namespace pods is behind the API
server's UserNamespacesPodSecurityStandards feature gate (alpha, off by default, 1.29-1.34) and
procMount stays one baseline check; 1.35 made the relaxation default and split procMount into a
baseline and a restricted check. tests/policies/test_psa_conformance.py runs every upstream 1.34
fixture through these checks.

Each control reports every field that breaks it, where upstream reports one line per check; the
verdict (admitted or not, at baseline or restricted) is the same. Upstream's restricted level
replaces three baseline checks by stricter ones (hostPath volumes by R1, capabilities by R6,
seccomp by R5); `check_restricted` reports both, so one run says which baseline control a pod
breaks too. `check_read_only_root` adds this platform's own rule, which PSS does not have.
The functions read camelCase dicts as they appear in YAML and never raise on missing fields: an
absent field is "unset".
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from kube.objects import CONTAINER_GROUPS, dig_mapping, pod_metadata_path, pod_spec_path

POLICY_VERSION = "v1.34"
"""The Pod Security Standards version these checks implement: Kubernetes 1.34, the version the platform targets."""

CONTROLS: Mapping[str, str] = {
    "B1": "windowsOptions.hostProcess unset or false",
    "B2": "hostNetwork, hostPID, hostIPC unset or false",
    "B3": "privileged unset or false",
    "B4": "capabilities.add only from the baseline set",
    "B5": "no hostPath volumes",
    "B6": "hostPort unset or 0",
    "B7": "probe and lifecycle handlers set no host",
    "B8": "AppArmor profile RuntimeDefault, Localhost or unset",
    "B9": "SELinux type from the container_* set; user and role unset",
    "B10": "procMount unset or Default",
    "B11": "seccompProfile, where set, of type RuntimeDefault or Localhost",
    "B12": "sysctls only from the safe set",
    "R1": "volume types only from the restricted set",
    "R2": "allowPrivilegeEscalation explicitly false",
    "R3": "runAsNonRoot true at pod level or on every container, false nowhere",
    "R4": "runAsUser not 0",
    "R5": "seccompProfile.type RuntimeDefault or Localhost at pod level or on every container",
    "R6": "capabilities.drop includes ALL; add only NET_BIND_SERVICE",
}
"""Every control check_restricted reports, by id, as REFERENCE.md section 3 numbers them. Its R7 (a restricted
procMount check) does not exist at 1.34: procMount is the baseline control B10, which the restricted level includes."""

UPSTREAM_CHECKS: Mapping[str, str] = {
    "B1": "windowsHostProcess",
    "B2": "hostNamespaces",
    "B3": "privileged",
    "B4": "capabilities_baseline",
    "B5": "hostPathVolumes",
    "B6": "hostPorts",
    "B7": "hostProbesAndHostLifecycle",
    "B8": "appArmorProfile",
    "B9": "seLinuxOptions",
    "B10": "procMount",
    "B11": "seccompProfile_baseline",
    "B12": "sysctls",
    "R1": "restrictedVolumes",
    "R2": "allowPrivilegeEscalation",
    "R3": "runAsNonRoot",
    "R4": "runAsUser",
    "R5": "seccompProfile_restricted",
    "R6": "capabilities_restricted",
}
"""The pod-security-admission check id (policy/check_<id>.go) each control implements."""

BASELINE_CONTROLS = frozenset(control for control in CONTROLS if control.startswith("B"))
"""The controls of the baseline level; the restricted level is these plus R1-R6."""

READ_ONLY_ROOT_FILESYSTEM = "P1"
"""Control id of the platform rule beyond PSS: every container has readOnlyRootFilesystem true."""


# Values below are pod-security-admission's at policy version 1.34 (policy/check_*.go, REFERENCE.md section 3).
BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
RESTRICTED_ADDABLE_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
# container_engine_t joined the allowed types in policy version 1.31 (check_seLinuxOptions.go).
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
# The 1.32 set (check_sysctls.go); 1.37 adds more, which 1.34 refuses.
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_wmem",
    }
)
RESTRICTED_VOLUME_TYPES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "image",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
SECCOMP_RESTRICTED_TYPES = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_PROFILE_TYPES = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"
APPARMOR_ANNOTATION_VALUES = frozenset({"", "runtime/default"})
APPARMOR_ANNOTATION_LOCALHOST_PREFIX = "localhost/"
PROBE_FIELDS = ("livenessProbe", "readinessProbe", "startupProbe")
LIFECYCLE_HOOKS = ("postStart", "preStop")
HOST_BEARING_HANDLERS = ("httpGet", "tcpSocket")


@dataclass(frozen=True)
class Violation:
    """One control broken at one field: `path` is dotted from the object root, containers by name."""

    control: str
    path: str
    message: str


@dataclass(frozen=True)
class Container:
    """One container of a pod template: its dotted path, its list (`containers`, ...) and its fields."""

    path: str
    group: str
    fields: Mapping[str, Any]

    @property
    def name(self) -> str:
        return str(self.fields.get("name") or self.path)

    @property
    def security_context(self) -> Mapping[str, Any]:
        return _mapping(self.fields.get("securityContext"))


@dataclass(frozen=True)
class PodTemplate:
    """The pod spec and pod metadata of a pod-bearing object, with every container of every list."""

    spec_path: str
    spec: Mapping[str, Any]
    metadata_path: str
    metadata: Mapping[str, Any]
    containers: tuple[Container, ...]

    @property
    def security_context(self) -> Mapping[str, Any]:
        return _mapping(self.spec.get("securityContext"))

    @property
    def security_context_path(self) -> str:
        return f"{self.spec_path}.securityContext"

    @property
    def is_windows(self) -> bool:
        # PSS exempts Windows pods from R2, R5 and R6 (check_allowPrivilegeEscalation.go,
        # check_seccompProfile_restricted.go, check_capabilities_restricted.go, v1.25+).
        return _mapping(self.spec.get("os")).get("name") == "windows"


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _mappings(value: object) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _label(item: Mapping[str, Any], index: int) -> str:
    name = item.get("name")
    return name if isinstance(name, str) and name else str(index)


def _show(value: object) -> str:
    """A value as YAML/JSON would spell it (true, "Unconfined", 0), so messages match the manifests."""
    return json.dumps(value)


def _is_truthy_setting(value: object) -> bool:
    """Set to anything other than unset/false: what "must be unset or false" fields forbid."""
    return value is not None and value is not False


_reused_pod_templates: ContextVar[dict[int, tuple[Mapping[str, Any], PodTemplate | None]] | None] = ContextVar(
    "_reused_pod_templates", default=None
)


@contextmanager
def pod_templates_reused() -> Iterator[None]:
    """Within the block, `pod_template_of` reads each object's pod template once and hands the same one to every
    later call for that object: for a caller that runs every pod policy over objects it does not change meanwhile."""
    token = _reused_pod_templates.set({})
    try:
        yield
    finally:
        _reused_pod_templates.reset(token)


def pod_template_of(obj: Mapping[str, Any]) -> PodTemplate | None:
    """The pod template of a pod-bearing object (see POD_SPEC_PATHS), or None for any other kind."""
    reused = _reused_pod_templates.get()
    if reused is not None:
        known = reused.get(id(obj))
        # The object itself is kept with its template, so its id cannot be reused by another object meanwhile.
        if known is not None and known[0] is obj:
            return known[1]
    pod = _read_pod_template(obj)
    if reused is not None:
        reused[id(obj)] = (obj, pod)
    return pod


def _read_pod_template(obj: Mapping[str, Any]) -> PodTemplate | None:
    kind = obj.get("kind")
    spec_keys = pod_spec_path(kind) if isinstance(kind, str) else None
    metadata_keys = pod_metadata_path(kind) if isinstance(kind, str) else None
    spec = dig_mapping(obj, spec_keys) if spec_keys is not None else None
    # spec is None whenever spec_keys is, and metadata_keys is None exactly when spec_keys is (both come from
    # POD_SPEC_PATHS): the key tests narrow types. spec is tested before metadata_keys so that each `or` decides
    # something (a pod-bearing kind without its pod spec), where `metadata_keys or spec` had an equivalent `and`.
    if spec_keys is None or spec is None or metadata_keys is None:
        return None
    spec_path = ".".join(spec_keys)
    containers = tuple(
        Container(path=f"{spec_path}.{group}[{_label(container, index)}]", group=group, fields=container)
        for group in CONTAINER_GROUPS
        for index, container in enumerate(_mappings(spec.get(group)))
    )
    return PodTemplate(
        spec_path=spec_path,
        spec=spec,
        metadata_path=".".join(metadata_keys),
        metadata=dig_mapping(obj, metadata_keys) or {},
        containers=containers,
    )


def _check_host_process(pod: PodTemplate) -> Iterator[Violation]:
    """B1, check_windowsHostProcess.go."""
    setters = [(pod.security_context_path, pod.security_context)]
    setters += [(f"{container.path}.securityContext", container.security_context) for container in pod.containers]
    for path, security_context in setters:
        value = _mapping(security_context.get("windowsOptions")).get("hostProcess")
        if _is_truthy_setting(value):
            yield Violation(
                "B1",
                f"{path}.windowsOptions.hostProcess",
                f"windowsOptions.hostProcess is {_show(value)}; allowed: false or unset",
            )


def _check_host_namespaces(pod: PodTemplate) -> Iterator[Violation]:
    """B2, check_hostNamespaces.go."""
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        value = pod.spec.get(field)
        if _is_truthy_setting(value):
            yield Violation("B2", f"{pod.spec_path}.{field}", f"{field} is {_show(value)}; allowed: false or unset")


def _check_privileged(pod: PodTemplate) -> Iterator[Violation]:
    """B3, check_privileged.go."""
    for container in pod.containers:
        value = container.security_context.get("privileged")
        if _is_truthy_setting(value):
            yield Violation(
                "B3",
                f"{container.path}.securityContext.privileged",
                f"securityContext.privileged is {_show(value)}; allowed: false or unset",
            )


def _added_capabilities(container: Container) -> list[object]:
    added = _mapping(container.security_context.get("capabilities")).get("add")
    return list(added) if isinstance(added, list) else []


def _check_capabilities_baseline(pod: PodTemplate) -> Iterator[Violation]:
    """B4, check_capabilities_baseline.go."""
    for container in pod.containers:
        for capability in _added_capabilities(container):
            if capability not in BASELINE_CAPABILITIES:
                yield Violation(
                    "B4",
                    f"{container.path}.securityContext.capabilities.add",
                    f"securityContext.capabilities.add contains {_show(capability)}; "
                    f"allowed: {', '.join(sorted(BASELINE_CAPABILITIES))}",
                )


def _volumes(pod: PodTemplate) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for index, volume in enumerate(_mappings(pod.spec.get("volumes"))):
        yield f"{pod.spec_path}.volumes[{_label(volume, index)}]", volume


def _check_host_path_volumes(pod: PodTemplate) -> Iterator[Violation]:
    """B5, check_hostPathVolumes.go."""
    for path, volume in _volumes(pod):
        if volume.get("hostPath") is not None:
            yield Violation(
                "B5",
                f"{path}.hostPath",
                f"volume source hostPath is {_show(volume['hostPath'])}; allowed: no hostPath volumes",
            )


def _check_host_ports(pod: PodTemplate) -> Iterator[Violation]:
    """B6, check_hostPorts.go."""
    for container in pod.containers:
        for index, port in enumerate(_mappings(container.fields.get("ports"))):
            value = port.get("hostPort")
            if value is not None and value != 0:
                yield Violation(
                    "B6",
                    f"{container.path}.ports[{_label(port, index)}].hostPort",
                    f"ports[].hostPort is {_show(value)}; allowed: 0 or unset",
                )


def _check_probe_hosts(pod: PodTemplate) -> Iterator[Violation]:
    """B7, check_hostProbesAndHostLifecycleHooks.go."""
    for container in pod.containers:
        handlers = [(field, _mapping(container.fields.get(field))) for field in PROBE_FIELDS]
        lifecycle = _mapping(container.fields.get("lifecycle"))
        handlers += [(f"lifecycle.{hook}", _mapping(lifecycle.get(hook))) for hook in LIFECYCLE_HOOKS]
        for field, handler in handlers:
            for action in HOST_BEARING_HANDLERS:
                host = _mapping(handler.get(action)).get("host")
                if host:
                    yield Violation(
                        "B7",
                        f"{container.path}.{field}.{action}.host",
                        f"{field}.{action}.host is {_show(host)}; allowed: unset (the pod's own IP)",
                    )


def _check_app_armor(pod: PodTemplate) -> Iterator[Violation]:
    """B8, check_appArmorProfile.go: the beta annotations and the appArmorProfile fields."""
    annotations = _mapping(pod.metadata.get("annotations"))
    for key, value in annotations.items():
        if not str(key).startswith(APPARMOR_ANNOTATION_PREFIX):
            continue
        if value in APPARMOR_ANNOTATION_VALUES or str(value).startswith(APPARMOR_ANNOTATION_LOCALHOST_PREFIX):
            continue
        yield Violation(
            "B8",
            f"{pod.metadata_path}.annotations[{key}]",
            f"annotation {key} is {_show(value)}; allowed: runtime/default, localhost/<profile> or unset",
        )
    setters = [(pod.security_context_path, pod.security_context)]
    setters += [(f"{container.path}.securityContext", container.security_context) for container in pod.containers]
    for path, security_context in setters:
        profile = security_context.get("appArmorProfile")
        if profile is None:
            continue
        profile_type = _mapping(profile).get("type")
        if profile_type not in APPARMOR_PROFILE_TYPES:
            yield Violation(
                "B8",
                f"{path}.appArmorProfile.type",
                f"appArmorProfile.type is {_show(profile_type)}; allowed: RuntimeDefault, Localhost or unset",
            )


def _check_se_linux(pod: PodTemplate) -> Iterator[Violation]:
    """B9, check_seLinuxOptions.go."""
    setters = [(pod.security_context_path, pod.security_context)]
    setters += [(f"{container.path}.securityContext", container.security_context) for container in pod.containers]
    for path, security_context in setters:
        options = _mapping(security_context.get("seLinuxOptions"))
        selinux_type = options.get("type")
        if selinux_type is not None and selinux_type not in SELINUX_TYPES:
            yield Violation(
                "B9",
                f"{path}.seLinuxOptions.type",
                f"seLinuxOptions.type is {_show(selinux_type)}; allowed: "
                f"{', '.join(sorted(SELINUX_TYPES - {''}))} or unset",
            )
        for field in ("user", "role"):
            value = options.get(field)
            if value:
                yield Violation(
                    "B9", f"{path}.seLinuxOptions.{field}", f"seLinuxOptions.{field} is {_show(value)}; allowed: unset"
                )


def _check_proc_mount(pod: PodTemplate) -> Iterator[Violation]:
    """B10, check_procMount.go: at 1.34 a pod in a user namespace (`hostUsers: false`) is no exception."""
    for container in pod.containers:
        value = container.security_context.get("procMount")
        if value is not None and value != "Default":
            yield Violation(
                "B10",
                f"{container.path}.securityContext.procMount",
                f"securityContext.procMount is {_show(value)}; allowed: Default or unset",
            )


def _seccomp_type(security_context: Mapping[str, Any]) -> tuple[bool, object]:
    """Whether seccompProfile is set, and its type."""
    profile = security_context.get("seccompProfile")
    return profile is not None, _mapping(profile).get("type")


def _check_seccomp_baseline(pod: PodTemplate) -> Iterator[Violation]:
    """B11, check_seccompProfile_baseline.go (1.19+): a profile that is set must be RuntimeDefault or Localhost,
    so Unconfined and a profile without a type both fail."""
    setters = [(pod.security_context_path, pod.security_context)]
    setters += [(f"{container.path}.securityContext", container.security_context) for container in pod.containers]
    for path, security_context in setters:
        is_set, profile_type = _seccomp_type(security_context)
        if is_set and profile_type not in SECCOMP_RESTRICTED_TYPES:
            found = "unset" if profile_type is None else _show(profile_type)
            yield Violation(
                "B11",
                f"{path}.seccompProfile.type",
                f"seccompProfile.type is {found}; allowed: RuntimeDefault, Localhost, or no seccompProfile",
            )


def _check_sysctls(pod: PodTemplate) -> Iterator[Violation]:
    """B12, check_sysctls.go."""
    for index, sysctl in enumerate(_mappings(pod.security_context.get("sysctls"))):
        name = sysctl.get("name")
        if name not in SAFE_SYSCTLS:
            yield Violation(
                "B12",
                f"{pod.security_context_path}.sysctls[{_label(sysctl, index)}]",
                f"securityContext.sysctls contains {_show(name)}; allowed: {', '.join(sorted(SAFE_SYSCTLS))}",
            )


def _check_restricted_volumes(pod: PodTemplate) -> Iterator[Violation]:
    """R1, check_restrictedVolumes.go: a volume passes when one of the allowed sources is set, and fails, named by
    its first other source, when it sets another. A volume with no source at all passes: the API server defaults
    it to an emptyDir (SetDefaults_Volume) before admission sees it."""
    allowed = ", ".join(sorted(RESTRICTED_VOLUME_TYPES))
    for path, volume in _volumes(pod):
        if any(volume.get(source) is not None for source in RESTRICTED_VOLUME_TYPES):
            continue
        sources = [source for source, value in volume.items() if source != "name" and value is not None]
        if sources:
            yield Violation("R1", f"{path}.{sources[0]}", f"volume source is {sources[0]}; allowed: {allowed}")


def _check_privilege_escalation(pod: PodTemplate) -> Iterator[Violation]:
    """R2, check_allowPrivilegeEscalation.go."""
    if pod.is_windows:
        return
    for container in pod.containers:
        value = container.security_context.get("allowPrivilegeEscalation")
        if value is not False:
            found = "unset" if value is None else f"{_show(value)}"
            yield Violation(
                "R2",
                f"{container.path}.securityContext.allowPrivilegeEscalation",
                f"securityContext.allowPrivilegeEscalation is {found}; required: false, set explicitly",
            )


def _check_run_as_non_root(pod: PodTemplate) -> Iterator[Violation]:
    """R3, check_runAsNonRoot.go: pod-level true covers containers that leave it unset."""
    pod_value = pod.security_context.get("runAsNonRoot")
    if pod_value is not None and pod_value is not True:
        yield Violation(
            "R3",
            f"{pod.security_context_path}.runAsNonRoot",
            f"pod securityContext.runAsNonRoot is {_show(pod_value)}; "
            "required: true, or unset with every container true",
        )
    pod_is_non_root = pod_value is True
    for container in pod.containers:
        value = container.security_context.get("runAsNonRoot")
        path = f"{container.path}.securityContext.runAsNonRoot"
        if value is not None and value is not True:
            yield Violation("R3", path, f"securityContext.runAsNonRoot is {_show(value)}; required: true or unset")
        elif value is None and not pod_is_non_root:
            yield Violation(
                "R3",
                path,
                "securityContext.runAsNonRoot is unset and the pod-level value is not true; "
                "required: true here or at pod level",
            )


def _check_run_as_user(pod: PodTemplate) -> Iterator[Violation]:
    """R4, check_runAsUser.go."""
    setters = [(pod.security_context_path, pod.security_context)]
    setters += [(f"{container.path}.securityContext", container.security_context) for container in pod.containers]
    for path, security_context in setters:
        value = security_context.get("runAsUser")
        if isinstance(value, int | float) and not isinstance(value, bool) and value == 0:
            yield Violation(
                "R4", f"{path}.runAsUser", "securityContext.runAsUser is 0; allowed: any non-zero UID or unset"
            )


def _shown_type(profile_type: object) -> str:
    """A seccompProfile's type as a message shows it: a profile without one says unset, as B11's message does."""
    return "unset" if profile_type is None else _show(profile_type)


def _check_seccomp_restricted(pod: PodTemplate) -> Iterator[Violation]:
    """R5, check_seccompProfile_restricted.go: a valid pod-level profile covers containers that set none."""
    if pod.is_windows:
        return
    allowed = "RuntimeDefault or Localhost"
    pod_is_set, pod_type = _seccomp_type(pod.security_context)
    if pod_is_set and pod_type not in SECCOMP_RESTRICTED_TYPES:
        yield Violation(
            "R5",
            f"{pod.security_context_path}.seccompProfile.type",
            f"pod securityContext.seccompProfile.type is {_shown_type(pod_type)}; allowed: {allowed}",
        )
    pod_is_valid = pod_is_set and pod_type in SECCOMP_RESTRICTED_TYPES
    for container in pod.containers:
        is_set, profile_type = _seccomp_type(container.security_context)
        path = f"{container.path}.securityContext.seccompProfile.type"
        if is_set and profile_type not in SECCOMP_RESTRICTED_TYPES:
            yield Violation(
                "R5", path, f"securityContext.seccompProfile.type is {_shown_type(profile_type)}; allowed: {allowed}"
            )
        elif not is_set and not pod_is_valid:
            yield Violation(
                "R5",
                path,
                f"securityContext.seccompProfile is unset and the pod level sets no valid profile; "
                f"required: {allowed} here or at pod level",
            )


def _check_capabilities_restricted(pod: PodTemplate) -> Iterator[Violation]:
    """R6, check_capabilities_restricted.go."""
    if pod.is_windows:
        return
    for container in pod.containers:
        path = f"{container.path}.securityContext.capabilities"
        dropped = _mapping(container.security_context.get("capabilities")).get("drop")
        if not isinstance(dropped, list) or "ALL" not in dropped:
            found = "unset" if dropped is None else _show(dropped)
            yield Violation(
                "R6", f"{path}.drop", f"securityContext.capabilities.drop is {found}; required: includes ALL"
            )
        for capability in _added_capabilities(container):
            if capability not in RESTRICTED_ADDABLE_CAPABILITIES:
                yield Violation(
                    "R6",
                    f"{path}.add",
                    f"securityContext.capabilities.add contains {_show(capability)}; allowed: NET_BIND_SERVICE only",
                )


def _baseline_checks(pod: PodTemplate) -> tuple[Iterator[Violation], ...]:
    return (
        _check_host_process(pod),
        _check_host_namespaces(pod),
        _check_privileged(pod),
        _check_capabilities_baseline(pod),
        _check_host_path_volumes(pod),
        _check_host_ports(pod),
        _check_probe_hosts(pod),
        _check_app_armor(pod),
        _check_se_linux(pod),
        _check_proc_mount(pod),
        _check_seccomp_baseline(pod),
        _check_sysctls(pod),
    )


def _restricted_only_checks(pod: PodTemplate) -> tuple[Iterator[Violation], ...]:
    return (
        _check_restricted_volumes(pod),
        _check_privilege_escalation(pod),
        _check_run_as_non_root(pod),
        _check_run_as_user(pod),
        _check_seccomp_restricted(pod),
        _check_capabilities_restricted(pod),
    )


def check_baseline(obj: Mapping[str, Any]) -> list[Violation]:
    """Every baseline-profile violation (B1-B12) in a pod-bearing object, in control order; [] for other kinds."""
    pod = pod_template_of(obj)
    if pod is None:
        return []
    return [violation for check in _baseline_checks(pod) for violation in check]


def check_restricted(obj: Mapping[str, Any]) -> list[Violation]:
    """Every restricted-profile violation in a pod-bearing object, ordered B1..B12 then R1..R6; [] for other kinds."""
    pod = pod_template_of(obj)
    if pod is None:
        return []
    checks = _baseline_checks(pod) + _restricted_only_checks(pod)
    return [violation for check in checks for violation in check]


def check_read_only_root(obj: Mapping[str, Any]) -> list[Violation]:
    """Containers without readOnlyRootFilesystem true (platform rule, REFERENCE.md section 3); [] for other kinds."""
    pod = pod_template_of(obj)
    if pod is None:
        return []
    violations = []
    for container in pod.containers:
        value = container.security_context.get("readOnlyRootFilesystem")
        if value is not True:
            found = "unset" if value is None else _show(value)
            violations.append(
                Violation(
                    READ_ONLY_ROOT_FILESYSTEM,
                    f"{container.path}.securityContext.readOnlyRootFilesystem",
                    f"securityContext.readOnlyRootFilesystem is {found}; required: true",
                )
            )
    return violations
