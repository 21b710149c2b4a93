"""Helm values for the ingress edge's two cluster add-ons: Traefik and cert-manager.

Pure data and functions, no resources: the chart sources (name, pinned version, repository),
the names other components select on (namespaces, IngressClass, Traefik's pod labels and
container ports), and `traefik_values` / `cert_manager_values`, which return the values map
a `helm.v4.Chart` is given. Every key is the chart's own, so the maps validate against the
charts' values.schema.json (../shared/helm-values-schemas).

Every pod the two charts run meets the Pod Security Standards restricted profile
(REFERENCE.md section 3) plus a read-only root filesystem, and has CPU and memory requests
and limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, TypedDict

import pulumi_kubernetes as k8s

from components.shared import irsa, pods
from components.shared.charts import ChartSource
from components.shared.references import IngressController, ScrapeTarget

TRAEFIK_CHART = ChartSource(name="traefik", version="41.3.0", repository="https://traefik.github.io/charts")
"""Traefik chart 41.3.0 ships Traefik v3.7.11 (its appVersion)."""

# cert-manager documents the OCI chart as the source of truth, published on release, while
# the legacy repository https://charts.jetstack.io is updated hours later
# (https://cert-manager.io/docs/installation/helm/). helm.v4.Chart takes an OCI reference as
# `chart="oci://..."` with `version` and no repository_opts, so the recommended source is
# directly usable.
CERT_MANAGER_CHART = ChartSource(name="cert-manager", version="v1.21.1", repository="oci://quay.io/jetstack/charts")

TRAEFIK_NAMESPACE = "traefik"
CERT_MANAGER_NAMESPACE = "cert-manager"
INGRESS_CLASS = "traefik"
"""The IngressClass the chart creates and the only class Traefik's Ingress provider serves."""

TRAEFIK_INSTANCE = "traefik"
TRAEFIK_POD_LABELS: Mapping[str, str] = MappingProxyType(
    {
        # The chart's selector labels (traefik/templates/_helpers.tpl, "traefik.labelselector"):
        # the name is the chart name; the instance defaults to "<release>-<namespace>", so the
        # values pin it with instanceLabelOverride to stay independent of the release name.
        "app.kubernetes.io/name": "traefik",
        "app.kubernetes.io/instance": TRAEFIK_INSTANCE,
    }
)
"""Labels on every Traefik pod, for NetworkPolicy peers and spread constraints."""
INGRESS_CONTROLLER = IngressController(TRAEFIK_NAMESPACE, TRAEFIK_POD_LABELS)
"""Where the ingress controller runs: the only peer the app's published services accept traffic from."""

# Container ports of the entrypoints (the chart's defaults, set explicitly so policies that
# use these constants cannot drift from the pods). All are above 1024: no NET_BIND_SERVICE.
TRAEFIK_WEB_PORT = 8000
TRAEFIK_WEBSECURE_PORT = 8443
TRAEFIK_METRICS_PORT = 9100
_TRAEFIK_INTERNAL_PORT = 8080
"""The chart's `traefik` entrypoint: ping (probes) and the API; never exposed."""

WEB_ENTRYPOINT = "web"
WEBSECURE_ENTRYPOINT = "websecure"
METRICS_ENTRYPOINT = "metrics"

CERT_MANAGER_CONTROLLER_LABELS: Mapping[str, str] = MappingProxyType(
    {
        # The chart's controller pod labels (deploy/charts/cert-manager/templates/deployment.yaml): name and
        # instance are the chart's and the release's, both cert-manager here.
        "app.kubernetes.io/name": "cert-manager",
        "app.kubernetes.io/instance": "cert-manager",
        "app.kubernetes.io/component": "controller",
    }
)
CERT_MANAGER_METRICS_PORT = 9402
"""The controller's `http-metrics` port: certmanager_certificate_* (expiry, readiness) come from it."""

METRICS_TARGETS = (
    ScrapeTarget("traefik", TRAEFIK_POD_LABELS, TRAEFIK_METRICS_PORT, METRICS_ENTRYPOINT, namespace=TRAEFIK_NAMESPACE),
    ScrapeTarget(
        "cert-manager",
        CERT_MANAGER_CONTROLLER_LABELS,
        CERT_MANAGER_METRICS_PORT,
        "http-metrics",
        namespace=CERT_MANAGER_NAMESPACE,
    ),
)
"""The edge add-ons' metrics (the chart names Traefik's container port after its entrypoint): scraped where
the add-ons are installed."""

NON_ROOT_ID = 65532
"""UID/GID of the pods: Traefik chart's default and cert-manager's image user since v1.20
(https://cert-manager.io/docs/releases/release-notes/release-notes-1.20/)."""

# Traefik v3 closes a connection whose request (headers and body) takes longer than
# `respondingTimeouts.readTimeout` to read; the default has been 60 s since v2.11.2
# (traefik/traefik commit 240b83b "Set default ReadTimeout value to 60s";
# https://doc.traefik.io/traefik/reference/install-configuration/entrypoints/#opt-transport-respondingTimeouts-readTimeout).
# It does not close WebSockets: the deadline is set on the connection while the request is
# read, and the upgrade hijacks the connection, which clears every deadline (Go net/http,
# server.go `hijackLocked`: `rwc.SetDeadline(time.Time{})`); after that Traefik only copies
# bytes until a peer closes (maintainer in https://github.com/traefik/traefik/issues/8668).
# What it does limit is uploads: the apps accept 50 MB bodies (REFERENCE.md section 1), which
# at 60 s needs ~7 Mbit/s of client upstream; 300 s needs ~1.4 Mbit/s and still bounds slow
# clients. writeTimeout stays 0 (Traefik's default, pinned): a write deadline would cut long
# downloads and streamed responses. idleTimeout is Traefik's default keep-alive idle time.
WEBSECURE_RESPONDING_TIMEOUTS: Mapping[str, str] = MappingProxyType(
    {"readTimeout": "300s", "writeTimeout": "0s", "idleTimeout": "180s"}
)


class ContainerResources(TypedDict):
    """Requests and limits of one container, in the Kubernetes shape, e.g. {"cpu": "100m", "memory": "128Mi"}."""

    requests: Mapping[str, str]
    limits: Mapping[str, str]


_REQUIRED_RESOURCES = ("cpu", "memory")

# Starting sizes for cert-manager's components on a cluster of a few hundred certificates; the
# chart sets none. The controller and cainjector cache Secrets and certificate resources, so
# they get more memory; the webhook and the one-shot API check are small.
CERT_MANAGER_RESOURCES: Mapping[str, ContainerResources] = MappingProxyType(
    {
        "controller": {"requests": {"cpu": "20m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        "webhook": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "64Mi"}},
        "cainjector": {"requests": {"cpu": "10m", "memory": "128Mi"}, "limits": {"cpu": "200m", "memory": "256Mi"}},
        "startupapicheck": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}},
    }
)

# cert-manager's controller and cainjector elect one leader: a second replica is a ready standby,
# a third adds nothing (https://cert-manager.io/docs/installation/best-practice/, "Replicas").
_CERT_MANAGER_LEADER_ELECTED_MAX_REPLICAS = 2


def _check_replicas(replicas: int) -> None:
    if replicas < 1:
        raise ValueError(f"replicas must be at least 1, got {replicas}: set a positive replica count")


def _check_resources(resources: ContainerResources, owner: str) -> None:
    for section, given in (("requests", resources.get("requests")), ("limits", resources.get("limits"))):
        missing = [name for name in _REQUIRED_RESOURCES if not (given or {}).get(name)]
        if missing:
            raise ValueError(
                f"{owner} resources.{section} lacks {', '.join(missing)}: every container needs cpu and memory "
                f"requests and limits, e.g. {{'{section}': {{'cpu': '100m', 'memory': '128Mi'}}}}"
            )


def _resources(resources: ContainerResources) -> dict[str, dict[str, str]]:
    return {"requests": dict(resources["requests"]), "limits": dict(resources["limits"])}


def _traefik_spread(*, strict_node_spread: bool) -> list[dict[str, Any]]:
    # pod-template-hash limits the count to one ReplicaSet, so the surge pod of a rolling update
    # is placed by its own revision and a hard constraint cannot block the rollout.
    # nodeTaintsPolicy Honor: a cordoned or tainted node is not an empty domain to fill, so a
    # drain cannot leave evicted pods Pending behind a hard constraint.
    selector = {
        "labelSelector": {"matchLabels": dict(TRAEFIK_POD_LABELS)},
        "matchLabelKeys": ["pod-template-hash"],
        "nodeTaintsPolicy": "Honor",
    }
    return [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            # Production must lose at most one Traefik pod with a node; elsewhere (a one-node
            # dev cluster) a second pod on the same node beats a Pending pod.
            "whenUnsatisfiable": "DoNotSchedule" if strict_node_spread else "ScheduleAnyway",
            **selector,
        },
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            # Zones are best effort: many clusters have one.
            "whenUnsatisfiable": "ScheduleAnyway",
            **selector,
        },
    ]


def traefik_values(
    *, replicas: int, resources: ContainerResources, strict_node_spread: bool, load_balancer: bool = True
) -> dict[str, Any]:
    """Values for the Traefik chart: the platform's only LoadBalancer, TLS on 443, 80 redirected to it.

    `replicas` is the Deployment's fixed size; above one, a PodDisruptionBudget keeps all but one
    pod through voluntary disruptions and the pods spread over nodes and zones (a hard node
    spread with `strict_node_spread`). `resources` are the Traefik container's requests and limits
    (cpu and memory both required). Without `load_balancer` (a laptop cluster with no load
    balancer controller) the Service is ClusterIP, reached with `kubectl port-forward`, and
    Ingresses report `localhost` as their address: Pulumi waits for an Ingress address, which
    a LoadBalancer that never gets one would withhold forever.
    """
    _check_replicas(replicas)
    _check_resources(resources, "Traefik")
    highly_available = replicas > 1
    values: dict[str, Any] = {
        "instanceLabelOverride": TRAEFIK_INSTANCE,
        "deployment": {"replicas": replicas},
        "podDisruptionBudget": {"enabled": True, "maxUnavailable": 1} if highly_available else {"enabled": False},
        "topologySpreadConstraints": _traefik_spread(strict_node_spread=strict_node_spread) if highly_available else [],
        "resources": _resources(resources),
        "podSecurityContext": pods.chart_pod_security_context(NON_ROOT_ID),
        "securityContext": pods.chart_container_security_context(),
        # No update checks or usage reports from inside the cluster.
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "core": {
            # Refuses the unsafe fallback to default TLS options on conflict (GHSA-g55h-rg46-x9c5,
            # https://github.com/traefik/traefik/security/advisories/GHSA-g55h-rg46-x9c5; needs v3.7.11).
            "strictTLSOptions": True,
        },
        "ingressClass": {"enabled": True, "isDefaultClass": False, "name": INGRESS_CLASS},
        "providers": {
            "kubernetesIngress": {
                "enabled": True,
                # Only Ingresses of class `traefik`; others belong to another controller.
                "ingressClass": INGRESS_CLASS,
                "allowExternalNameServices": False,
                **(
                    {}
                    if load_balancer
                    else {"publishedService": {"enabled": False}, "ingressEndpoint": {"hostname": "localhost"}}
                ),
            },
            "kubernetesCRD": {
                # traefik.io/v1alpha1 Middlewares (security headers, body size) for the Ingresses.
                "enabled": True,
                "allowCrossNamespace": False,
                "allowExternalNameServices": False,
                # Only Traefik's own namespace may define the cluster-wide `default` TLSOption/TLSStore.
                "defaultTLSResourcesNamespace": TRAEFIK_NAMESPACE,
            },
        },
        "ports": {
            "traefik": {"port": _TRAEFIK_INTERNAL_PORT, "expose": {"default": False}},
            WEB_ENTRYPOINT: {
                "port": TRAEFIK_WEB_PORT,
                "exposedPort": 80,
                "expose": {"default": True},
                # Permanent redirect of every plain-HTTP request. ACME HTTP-01 still
                # works: Let's Encrypt and cert-manager's self-check follow redirects to HTTPS and
                # do not verify the certificate there (cert-manager pkg/issuer/acme/http/http.go).
                "http": {
                    "redirections": {"entryPoint": {"to": WEBSECURE_ENTRYPOINT, "scheme": "https", "permanent": True}}
                },
            },
            WEBSECURE_ENTRYPOINT: {
                "port": TRAEFIK_WEBSECURE_PORT,
                "exposedPort": 443,
                "expose": {"default": True},
                "http": {"tls": {"enabled": True}},
                "transport": {"respondingTimeouts": dict(WEBSECURE_RESPONDING_TIMEOUTS)},
            },
            METRICS_ENTRYPOINT: {"port": TRAEFIK_METRICS_PORT, "expose": {"default": False}},
        },
        "service": {
            # Local keeps the client's source IP (no SNAT to another node); the load balancer
            # health-checks nodes and sends traffic only to those running a Traefik pod.
            "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local"}
            if load_balancer
            else {"type": "ClusterIP"},
        },
        # Prometheus metrics on the unexposed metrics entrypoint, scraped through the monitoring area's
        # PodMonitor (METRICS_TARGETS): the chart's own ServiceMonitor would be applied with this chart,
        # before kube-prometheus-stack (installed after cert-manager) has made its CRD.
        "metrics": {"prometheus": {"entryPoint": METRICS_ENTRYPOINT, "serviceMonitor": {"enabled": False}}},
        "api": {"dashboard": False},
        "ingressRoute": {"dashboard": {"enabled": False}},
        "log": {"format": "json", "level": "INFO"},
        # Request headers (cookies, Authorization) never reach the access log.
        "accessLog": {"enabled": True, "format": "json", "fields": {"headers": {"defaultMode": "drop"}}},
    }
    return values


def _pod_disruption_budget(replicas: int) -> dict[str, Any]:
    # minAvailable 1 only with a second replica: with one it would block every node drain
    # (https://cert-manager.io/docs/installation/best-practice/#poddisruptionbudget).
    return {"enabled": True, "minAvailable": 1} if replicas > 1 else {"enabled": False}


def _cert_manager_component(component: str, replicas: int | None) -> dict[str, Any]:
    resources = CERT_MANAGER_RESOURCES[component]
    _check_resources(resources, f"cert-manager {component}")
    values: dict[str, Any] = {
        "securityContext": pods.chart_pod_security_context(NON_ROOT_ID),
        "containerSecurityContext": pods.chart_container_security_context(),
        "resources": _resources(resources),
    }
    if replicas is not None:
        values["replicaCount"] = replicas
        values["podDisruptionBudget"] = _pod_disruption_budget(replicas)
    return values


CERT_MANAGER_SERVICE_ACCOUNT = "cert-manager"
"""The controller's ServiceAccount: the chart's full name, which is the release name `cert-manager` (templates/
_helpers.tpl `cert-manager.serviceAccountName`); the only account the Route53 role trusts."""


def ambient_credentials_args(*, cluster_issuers: bool) -> list[str]:
    """The controller's flags for credentials "drawn from the environment" (its own web identity, or a node's
    instance role): never for a namespaced Issuer, which anyone who may create one in any namespace would then
    wield; for ClusterIssuers (only the add-on owner makes them) exactly when they solve DNS-01 through Route53 as
    the controller's role. cert-manager's defaults are false and true (internal/apis/config/controller/v1alpha1/
    defaults.go); both are pinned here, so no node role is usable without a Route53 role either."""
    return [
        "--issuer-ambient-credentials=false",
        f"--cluster-issuer-ambient-credentials={'true' if cluster_issuers else 'false'}",
    ]


def route53_identity_values(role_arn: Any, region: str) -> dict[str, Any]:
    """What makes the controller assume `role_arn` by web identity (IRSA): the ServiceAccount annotation the EKS pod
    identity webhook reads, and the projected STS token and the AWS SDK's variables set by the platform itself, as
    every IRSA pod of the platform has them (components/shared/irsa.py), so it works with or without the webhook.
    With all four variables present the webhook leaves the container alone (it adds a second mount at the same
    path otherwise, which the API server refuses); STS is called in the stack's region."""
    return {
        "serviceAccount": {"annotations": {irsa.ROLE_ARN_ANNOTATION: role_arn}},
        "volumes": [pods.yaml_spelling(dict(irsa.token_volume()))],
        "volumeMounts": [pods.yaml_spelling(dict(irsa.token_mount()))],
        "extraEnv": [
            {"name": name, "value": value} for name, value in irsa.web_identity_environment(role_arn, region).items()
        ],
    }


def cert_manager_values(*, replicas: int, route53_role_arn: Any = None, region: str = "") -> dict[str, Any]:
    """Values for the cert-manager chart: CRDs installed and kept, every pod restricted and sized.

    The webhook runs `replicas` pods: when it is down, no cert-manager resource can be changed.
    The controller and cainjector run at most two (leader election: one active, one standby).
    With `route53_role_arn` (an IAM role ARN, or an Output of one) the controller solves DNS-01 challenges in
    Route53 as that role, by web identity in `region`, for the ClusterIssuers alone.
    """
    _check_replicas(replicas)
    if route53_role_arn is not None and not region:
        raise ValueError("a Route53 role needs the region of its STS calls: pass region, e.g. eu-west-1")
    leader_elected = min(replicas, _CERT_MANAGER_LEADER_ELECTED_MAX_REPLICAS)
    controller = _cert_manager_component("controller", leader_elected)
    controller["extraArgs"] = ambient_credentials_args(cluster_issuers=route53_role_arn is not None)
    if route53_role_arn is not None:
        controller.update(route53_identity_values(route53_role_arn, region))
    return {
        # The chart renders the CRDs as templates; `keep` annotates them helm.sh/resource-policy:
        # keep, which helm.v4.Chart turns into RetainOnDelete (pulumi-kubernetes
        # provider/pkg/provider/helm/v4/chart.go), so removing the chart never deletes every
        # Certificate and Issuer in the cluster. installCRDs is deprecated (REFERENCE.md section 2).
        "crds": {"enabled": True, "keep": True},
        # Leader-election leases in cert-manager's own namespace: the chart's default is kube-system,
        # which would give its Roles (and this stack) a foothold there.
        "global": {"leaderElection": {"namespace": CERT_MANAGER_NAMESPACE}},
        **controller,
        # Metrics on :9402, scraped through the monitoring area's PodMonitor (METRICS_TARGETS): the chart's
        # own would be applied before kube-prometheus-stack, which needs cert-manager first, made its CRD.
        "prometheus": {"enabled": True, "servicemonitor": {"enabled": False}, "podmonitor": {"enabled": False}},
        "webhook": _cert_manager_component("webhook", replicas),
        "cainjector": {"enabled": True, **_cert_manager_component("cainjector", leader_elected)},
        # The chart's API check is a post-install Helm hook, which helm.v4.Chart never runs; the
        # platform runs the same check as a plain Job instead (cert_manager_api_check_job), which
        # everything that creates a cert-manager resource waits for.
        "startupapicheck": {"enabled": False},
    }


CERT_MANAGER_API_CHECK = "cert-manager-api-check"
"""ServiceAccount, Role and RoleBinding of the API check; its Job's name adds the chart version."""
CERT_MANAGER_API_CHECK_IMAGE = f"quay.io/jetstack/cert-manager-startupapicheck:{CERT_MANAGER_CHART.version}"
"""The image the chart's own startupapicheck hook runs, at the chart's version."""
CERT_MANAGER_API_CHECK_UID = 10001
"""Any UID works (the binary looks up no user); 10000 and above keeps it clear of host accounts."""
CERT_MANAGER_API_CHECK_WAIT = "5m"
"""How long the check polls (every 5 s) before it gives up: a fresh cluster pulls images first."""


def cert_manager_api_check_name() -> str:
    """The Job's name: one per chart version, so an upgrade checks the API again before anything uses it."""
    return f"{CERT_MANAGER_API_CHECK}-{CERT_MANAGER_CHART.version.replace('.', '-')}"


def cert_manager_api_check_rules() -> list[k8s.rbac.v1.PolicyRuleArgsDict]:
    """The check's only permission: create (as a server-side dry run) CertificateRequests in its own namespace."""
    return [{"api_groups": ["cert-manager.io"], "resources": ["certificaterequests"], "verbs": ["create"]}]


def cert_manager_api_check_job() -> k8s.batch.v1.JobSpecArgsDict:
    """The Job spec (SDK spelling) that does what cert-manager's startupapicheck hook does.

    `check api --wait` dry-runs a CertificateRequest until the API answers, which proves the CRDs
    are served, the webhook is up and the cainjector has put its CA into the webhook
    configurations; before that, every cert-manager resource is refused with an x509 error
    (cert-manager's `cmd/startupapicheck`). Pulumi waits for the Job to complete, so a resource
    that depends on it is created only once cert-manager can admit it.
    """
    resources = CERT_MANAGER_RESOURCES["startupapicheck"]
    return {
        "backoff_limit": 2,
        "active_deadline_seconds": 900,
        "template": {
            "metadata": {"labels": {"app.kubernetes.io/name": CERT_MANAGER_API_CHECK}},
            "spec": {
                "service_account_name": CERT_MANAGER_API_CHECK,
                # The check calls the API server as its ServiceAccount: the token is its only credential.
                "automount_service_account_token": True,
                "restart_policy": "Never",
                "enable_service_links": False,
                "security_context": pods.pod_security_context(CERT_MANAGER_API_CHECK_UID),
                "containers": [
                    {
                        "name": "check",
                        "image": CERT_MANAGER_API_CHECK_IMAGE,
                        "image_pull_policy": pods.IMAGE_PULL_POLICY,
                        "args": ["check", "api", f"--wait={CERT_MANAGER_API_CHECK_WAIT}", "-v"],
                        # The dry-run CertificateRequest goes to the check's own namespace.
                        "env": [
                            {"name": "POD_NAMESPACE", "value_from": {"field_ref": {"field_path": "metadata.namespace"}}}
                        ],
                        "resources": {"requests": dict(resources["requests"]), "limits": dict(resources["limits"])},
                        "security_context": pods.container_security_context(),
                    }
                ],
            },
        },
    }
