"""AppWorkloads: the CRM's web, worker, beat and frontend, and the migration Job before them.

Per service: a ServiceAccount without a token, a Deployment under the restricted security
context with a read-only root filesystem, a Service where it listens, an autoscaler or a
fixed replica count, and a PodDisruptionBudget when it runs more than one pod. One
ConfigMap holds the shared non-secret settings; secrets come by reference. The services that
handle uploads get what the media store's attachment says (the volume, or the web identity
of the media bucket's role); the others, and the migration Job, get none of it.

Ordering: the migration Job for the current image runs first (after the `before_migration`
hook, where production's pre-migration backup goes); web, worker and beat wait for it. If
the Job fails, `pulumi up` stops before touching them, so the running version keeps serving.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.app import app_config
from components.app.app_config import AppConfigInputs
from components.shared import checksums, endpoints, pods
from components.shared.checksums import release_id
from components.shared.labels import COMPONENT, INSTANCE, NAME, with_component
from components.shared.references import AppSecret, MediaAttachment, PublishedService, ScrapeTarget
from stacks.model import AppSettings
from stacks.services import Role, ServiceSettings

CONFIG_MAP_PREFIX = "crm-app-config"
JOB_TIMEOUT = "30m"
"""How long Pulumi waits for the migration Job: beyond its own 20-minute deadline, so Pulumi
never gives up (and later replaces) a Job that is still migrating."""
MIGRATION_COMMAND = ("python", "manage.py", "migrate", "--noinput")
MIGRATION_DEADLINE_SECONDS = 1200
"""A migration still running after 20 minutes is stuck (or locked): fail and stop the rollout."""
METRICS_PATH = "/metrics"
"""django-prometheus's view (`django_prometheus.urls`), which the application routes."""
MULTIPROCESS_DIRECTORY = "/var/run/prometheus-multiproc"
"""Where web's gunicorn workers write their metrics for each other (PROMETHEUS_MULTIPROC_DIR): an emptyDir,
fresh with every pod, that prometheus-client finds existing and writable at import."""
MULTIPROCESS_SIZE_LIMIT = "64Mi"


@dataclass(frozen=True)
class AppWorkloadsArgs:
    namespace: pulumi.Input[str]
    """The app namespace."""
    stack: str
    """Stack name, the `app.kubernetes.io/instance` of every pod."""
    app: AppSettings
    """The services to run."""
    config: AppConfigInputs
    """What the shared ConfigMap is made from."""
    secrets: Mapping[str, AppSecret]
    """Environment variable -> secret every service reads (by reference; values only hashed)."""
    checksum_key: pulumi.Output[str]
    """A random secret that keys the checksum (the Django secret key)."""
    image_pull_secret: str | None
    """Registry pull secret name, when the registry is private."""
    strict_node_spread: bool
    """Never put two pods of a service on one node while another node has fewer (production)."""
    labels: Mapping[str, str]
    """Common labels of the stack."""
    before_migration: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """Resources the migration Job waits for: the database, a pre-migration backup Job."""
    media: MediaAttachment | None = None
    """How the upload handlers reach the media store; None for an application without uploads."""


def selector_labels(stack: str, role: Role) -> dict[str, str]:
    """The immutable Deployment selector of one service."""
    return {NAME: f"crm-{role.value}", INSTANCE: stack}


def migration_job_name(image: str) -> str:
    """One Job per image: a new tag gets a new Job (and so a new migration run)."""
    return f"crm-migrate-{release_id(image)}"


class AppWorkloads(pulumi.ComponentResource):
    """Deployments, Services, autoscalers, PDBs and the migration Job of the CRM application."""

    deployments: dict[Role, k8s.apps.v1.Deployment]
    migration_job: k8s.batch.v1.Job
    service_names: dict[Role, str]
    """Kubernetes Service of each listening service (web, frontend)."""
    ports: dict[Role, int]
    published: dict[Role, PublishedService]
    """Each listening service as the network policies let traffic in to it (web, frontend)."""
    metrics_target: ScrapeTarget
    """Web's /metrics (django-prometheus), for its PodMonitor and the Prometheus flow."""

    def __init__(self, name: str, args: AppWorkloadsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("crm:app:AppWorkloads", name, None, opts)
        self._name = name
        self._args = args
        child = pulumi.ResourceOptions(parent=self)
        labels = with_component(args.labels, "app")

        # Named after its content and immutable: a change is a new ConfigMap, and the old one
        # stays until the update has succeeded, so pods of the running version that restart
        # after a failed migration still start with their own configuration.
        data, self.config_map_name = config_map_content(
            app_config.config_map_data(args.config), args.media.config if args.media else {}
        )
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata={"name": self.config_map_name, "namespace": args.namespace, "labels": labels},
            data=data,
            immutable=True,
            opts=child,
        )
        secrets_checksum = pulumi.Output.unsecret(
            pulumi.Output.all(args.checksum_key, *(args.secrets[name].value for name in sorted(args.secrets))).apply(
                lambda values: checksums.secrets_checksum(values[0], values[1:])
            )
        )
        # The ConfigMap's name already changes with its content; Secrets keep their names.
        self._checksums: dict[str, pulumi.Input[str]] = {checksums.SECRETS_CHECKSUM: secrets_checksum}

        self.migration_job = self._migration_job(args.app.web, [config_map, *args.before_migration])

        self.deployments = {}
        self.service_names = {}
        self.ports = {}
        self.published = {}
        web = args.app.web
        assert web.port is not None, "web always listens"
        self.metrics_target = ScrapeTarget(
            web.name, selector_labels(args.stack, Role.WEB), web.port, "http", path=METRICS_PATH
        )
        for service in args.app.services:
            account_metadata: k8s.meta.v1.ObjectMetaArgsDict = {
                "name": service.name,
                "namespace": args.namespace,
                "labels": self._labels(service.role),
            }
            media = self._media_of(service)
            if media is not None and media.service_account_annotations:
                account_metadata["annotations"] = dict(media.service_account_annotations)
            account = k8s.core.v1.ServiceAccount(
                f"{name}-{service.role.value}",
                metadata=account_metadata,
                automount_service_account_token=False,
                opts=child,
            )
            # Every service waits, the frontend too: a failed migration must leave the whole
            # running version in place, not a new frontend on the old API.
            waits_for: list[pulumi.Resource] = [config_map, account, self.migration_job]
            if media is not None:
                waits_for.extend(media.waits_for)
            self.deployments[service.role] = self._deployment(service, waits_for)
            if service.port is not None:
                self._service(service)
            self._scaling(service)

        self.register_outputs(
            {
                "migration_job": self.migration_job.metadata.apply(lambda metadata: metadata.name),
                "services": dict(self.service_names),
            }
        )

    def _media_of(self, service: ServiceSettings) -> MediaAttachment | None:
        """The media attachment when `service` handles uploads, else None."""
        media = self._args.media
        return media if media is not None and service.role in media.services else None

    def _labels(self, role: Role) -> dict[str, str]:
        return {
            **self._args.labels,
            COMPONENT: role.value,
            **selector_labels(self._args.stack, role),
            endpoints.NETWORK_ROLE: endpoints.APP_ROLE,
        }

    def _pod_spec(
        self,
        service: ServiceSettings,
        container: k8s.core.v1.ContainerArgsDict,
        *,
        restart_never: bool = False,
        scratch: Sequence[tuple[str, str, str]] = (),
        media: MediaAttachment | None = None,
    ) -> k8s.core.v1.PodSpecArgsDict:
        """The pod around `container`; `scratch` adds (volume name, mount path, size limit) emptyDirs, `media` the
        media store's volumes, mounts and scheduling."""
        volumes, mounts = pods.writable_directories(service.writable_paths)
        for name, path, size_limit in scratch:
            volumes.append({"name": name, "empty_dir": {"size_limit": size_limit}})
            mounts.append({"name": name, "mount_path": path})
        if media is not None:
            volumes.extend(media.volumes)
            mounts.extend(media.mounts)
        container["volume_mounts"] = mounts
        spec: k8s.core.v1.PodSpecArgsDict = {
            "service_account_name": service.name,
            "automount_service_account_token": False,
            # Service links would add dozens of variables, some named like the app's own.
            "enable_service_links": False,
            "security_context": pods.pod_security_context(service.run_as_user),
            "termination_grace_period_seconds": service.termination_grace_seconds,
            "containers": [container],
            "volumes": volumes,
        }
        if restart_never:
            spec["restart_policy"] = "Never"
        if self._args.image_pull_secret:
            spec["image_pull_secrets"] = [{"name": self._args.image_pull_secret}]
        if media is not None and media.affinity is not None:
            spec["affinity"] = media.affinity
        return spec

    def _container(
        self,
        service: ServiceSettings,
        command: Sequence[str],
        args: Sequence[str],
        env_first: Sequence[k8s.core.v1.EnvVarArgsDict] = (),
        env_last: Sequence[k8s.core.v1.EnvVarArgsDict] = (),
    ) -> k8s.core.v1.ContainerArgsDict:
        container: k8s.core.v1.ContainerArgsDict = {
            "name": service.role.value,
            "image": service.image,
            "image_pull_policy": pods.IMAGE_PULL_POLICY,
            "env_from": [{"config_map_ref": {"name": self.config_map_name}}],
            "env": [
                *env_first,
                *app_config.container_env(
                    {variable: secret.ref for variable, secret in self._args.secrets.items()}, service.env
                ),
                *env_last,
            ],
            "resources": pods.resource_requirements(service.resources),
            "security_context": pods.container_security_context(),
        }
        if command:
            container["command"] = list(command)
        if args:
            container["args"] = list(args)
        return container

    def _migration_job(self, web: ServiceSettings, waits_for: list[pulumi.Resource]) -> k8s.batch.v1.Job:
        job_name = migration_job_name(web.image)
        labels = {**self._labels(Role.WEB), COMPONENT: "migration", NAME: "crm-migration"}
        # Migrations talk to the primary directly (transaction pooling breaks session settings
        # and advisory locks) and may run statements longer than the app's 30 s limit.
        migration_env: list[k8s.core.v1.EnvVarArgsDict] = [
            {"name": "DATABASE_HOST", "value": endpoints.DATABASE_DIRECT_HOST},
            {"name": "PGOPTIONS", "value": "-c statement_timeout=0"},
        ]
        container = self._container(web, MIGRATION_COMMAND, (), env_first=migration_env)
        return k8s.batch.v1.Job(
            # The Pulumi name follows the image too: a new tag is a new Job, the old one is deleted.
            f"{self._name}-{job_name}",
            metadata={
                "name": job_name,
                "namespace": self._args.namespace,
                "labels": labels,
                # A Job that failed (say, the database was down) is replaced by the next `pulumi up`
                # with the same image instead of being kept as a failure forever.
                "annotations": {"pulumi.com/replaceUnready": "true"},
            },
            spec={
                # Django migrations run in transactions on PostgreSQL: one retry is safe.
                "backoff_limit": 1,
                "active_deadline_seconds": MIGRATION_DEADLINE_SECONDS,
                "template": {
                    "metadata": {"labels": labels},
                    "spec": self._pod_spec(web, container, restart_never=True),
                },
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=waits_for,
                custom_timeouts=pulumi.CustomTimeouts(create=JOB_TIMEOUT, update=JOB_TIMEOUT),
            ),
        )

    def _deployment(self, service: ServiceSettings, waits_for: list[pulumi.Resource]) -> k8s.apps.v1.Deployment:
        labels = self._labels(service.role)
        metrics = service.role is Role.WEB
        media = self._media_of(service)
        env_last: list[k8s.core.v1.EnvVarArgsDict] = (
            app_config.web_metrics_env(self._args.config, MULTIPROCESS_DIRECTORY) if metrics else []
        )
        if media is not None:
            env_last += [{"name": name, "value": value} for name, value in sorted(media.environment.items())]
        container = self._container(service, service.command, service.args, env_last=env_last)
        host = self._args.config.app_host if service.role is Role.FRONTEND else self._args.config.api_host
        if service.port is not None:
            container["ports"] = [{"name": "http", "container_port": service.port, "protocol": "TCP"}]
        container["startup_probe"] = pods.startup_probe(service.liveness, service.port, host)
        container["liveness_probe"] = pods.probe(service.liveness, service.port, host, liveness=True)
        container["readiness_probe"] = pods.probe(service.readiness, service.port, host, liveness=False)

        pod_spec = self._pod_spec(
            service,
            container,
            scratch=[("prometheus-multiproc", MULTIPROCESS_DIRECTORY, MULTIPROCESS_SIZE_LIMIT)] if metrics else (),
            media=media,
        )
        if service.scale.maximum > 1:
            pod_spec["topology_spread_constraints"] = pods.topology_spread(
                selector_labels(self._args.stack, service.role), strict_nodes=self._args.strict_node_spread
            )
        template_labels = {**labels, **(media.pod_labels if media is not None else {})}
        spec: k8s.apps.v1.DeploymentSpecArgsDict = {
            "selector": {"match_labels": selector_labels(self._args.stack, service.role)},
            "revision_history_limit": 5,
            "progress_deadline_seconds": 600,
            "strategy": (
                # Two beats must never run at once: stop the old pod before starting the new.
                {"type": "Recreate"}
                if service.role is Role.BEAT
                # Never fewer ready pods than asked for while a new version starts.
                else {"type": "RollingUpdate", "rolling_update": {"max_surge": "25%", "max_unavailable": 0}}
            ),
            "template": {
                "metadata": {"labels": template_labels, "annotations": dict(self._checksums)},
                "spec": pod_spec,
            },
        }
        if service.scale.autoscaling is None:
            # With an autoscaler the count is left unset: a declared count would fight the
            # HPA on every `pulumi up` (server-side apply field ownership).
            spec["replicas"] = service.scale.replicas
        return k8s.apps.v1.Deployment(
            f"{self._name}-{service.role.value}",
            metadata={"name": service.name, "namespace": self._args.namespace, "labels": labels},
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self, depends_on=waits_for),
        )

    def _service(self, service: ServiceSettings) -> None:
        assert service.port is not None
        k8s.core.v1.Service(
            f"{self._name}-{service.role.value}",
            metadata={"name": service.name, "namespace": self._args.namespace, "labels": self._labels(service.role)},
            spec={
                "type": "ClusterIP",
                "selector": selector_labels(self._args.stack, service.role),
                "ports": [{"name": "http", "port": service.port, "target_port": "http", "protocol": "TCP"}],
            },
            # Pulumi waits for ready endpoints, which on a first deploy come after the migration.
            opts=pulumi.ResourceOptions(parent=self, custom_timeouts=pulumi.CustomTimeouts(create=JOB_TIMEOUT)),
        )
        self.service_names[service.role] = service.name
        self.ports[service.role] = service.port
        self.published[service.role] = PublishedService(
            service.name, selector_labels(self._args.stack, service.role), service.port
        )

    def _scaling(self, service: ServiceSettings) -> None:
        child = pulumi.ResourceOptions(parent=self, depends_on=[self.deployments[service.role]])
        labels = self._labels(service.role)
        scaling = service.scale.autoscaling
        if scaling is not None:
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{self._name}-{service.role.value}",
                metadata={"name": service.name, "namespace": self._args.namespace, "labels": labels},
                spec={
                    "scale_target_ref": {"api_version": "apps/v1", "kind": "Deployment", "name": service.name},
                    "min_replicas": scaling.min_replicas,
                    "max_replicas": scaling.max_replicas,
                    "metrics": [
                        _utilization("cpu", scaling.cpu_utilization),
                        _utilization("memory", scaling.memory_utilization),
                    ],
                    "behavior": {
                        "scale_down": {"stabilization_window_seconds": scaling.scale_down_stabilization_seconds}
                    },
                },
                opts=child,
            )
        if service.scale.minimum > 1:
            k8s.policy.v1.PodDisruptionBudget(
                f"{self._name}-{service.role.value}",
                metadata={"name": service.name, "namespace": self._args.namespace, "labels": labels},
                spec={
                    "max_unavailable": 1,
                    "selector": {"match_labels": selector_labels(self._args.stack, service.role)},
                    # A crash-looping pod must not block node drains.
                    "unhealthy_pod_eviction_policy": "AlwaysAllow",
                },
                opts=child,
            )


def config_map_content(
    data: Mapping[str, str], extra: Mapping[str, pulumi.Input[str]]
) -> tuple[pulumi.Input[Mapping[str, str]], pulumi.Input[str]]:
    """The shared ConfigMap's data and its name, `crm-app-config-<digest of the data>`, with `extra` added.

    Plain data gives a plain name, known before anything is created. An `extra` value that is an Output (the
    media bucket's name, which S3 completes from a prefix when it creates the bucket) makes both Outputs,
    the name still the digest of the resolved content: deterministic, and new whenever a value changes, so
    the pods roll as for any change. On the bucket's first creation `pulumi preview` shows the name as
    unknown; afterwards the bucket's name is settled and so is the ConfigMap's.
    """
    clashes = sorted(set(data) & set(extra))
    if clashes:
        raise ValueError(f"the ConfigMap's entries {', '.join(clashes)} are set twice")

    def named(content: Mapping[str, str]) -> str:
        return f"{CONFIG_MAP_PREFIX}-{checksums.config_checksum(content)[:10]}"

    if all(isinstance(value, str) for value in extra.values()):
        plain = {**data, **{key: str(value) for key, value in extra.items()}}
        return plain, named(plain)
    content = pulumi.Output.all(**extra).apply(lambda resolved: {**data, **resolved})
    return content, content.apply(named)


def _utilization(resource: str, percent: int) -> k8s.autoscaling.v2.MetricSpecArgsDict:
    return {
        "type": "Resource",
        "resource": {"name": resource, "target": {"type": "Utilization", "average_utilization": percent}},
    }
