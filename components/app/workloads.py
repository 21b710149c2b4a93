"""AppWorkloads: the CRM's web, worker, beat and frontend, a release candidate, and the migration Jobs before them.

Per service: a ServiceAccount without a token, a Deployment under the restricted security
context with a read-only root filesystem, a Service where it listens, an autoscaler or a
fixed replica count, and a PodDisruptionBudget when it runs more than one pod. One
ConfigMap holds the shared non-secret settings; secrets come by reference, the platform's
to every container and the application's own (appSecrets) to the services that list them.
The services that handle uploads get what the media store's attachment says (the volume, or
the web identity of the media bucket's role); the others, and the migration Job, get none of it.

Ordering: the migration Job for the current image runs first (after the `before_migration`
hook, where the database goes, and the image's `before_release` hook, where production's
pre-migration backup goes); web, worker and beat wait for it. If the Job fails, `pulumi up`
stops before touching them, so the running version keeps serving. Where the profile says so,
the Job first runs Django's deployment checks (an init container): a release that fails them
never migrates, and nothing rolls.

A release candidate (canary, blue-green) is a second web Deployment, `crm-web-candidate`, with
its own Service, autoscaler and budget, after its own migration Job; pods are labelled
`crm-platform/release: stable|candidate`. Workers and beat run the released image only. The
edge's weighted routing decides which share of the requests it serves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import pulumi
import pulumi_kubernetes as k8s

from components.app import app_config
from components.app.app_config import AppConfigInputs
from components.shared import checksums, endpoints, pods
from components.shared.checksums import release_id
from components.shared.labels import COMPONENT, INSTANCE, NAME, RELEASE, with_component
from components.shared.references import AppSecret, MediaAttachment, PublishedService, ScrapeTarget
from stacks.model import AppSettings, MigrationSettings
from stacks.services import Release, Role, ServiceSettings

CONFIG_MAP_PREFIX = "crm-app-config"
JOB_TIMEOUT = "30m"
"""How long Pulumi waits for the migration Job: beyond its own 20-minute deadline, so Pulumi
never gives up (and later replaces) a Job that is still migrating."""
MIGRATION_DEADLINE_SECONDS = 1200
"""A migration still running after 20 minutes is stuck (or locked): fail and stop the rollout."""
METRICS_PATH = "/metrics"
"""django-prometheus's view (`django_prometheus.urls`), which the application routes."""
MULTIPROCESS_DIRECTORY = "/var/run/prometheus-multiproc"
"""Where web's gunicorn workers write their metrics for each other (PROMETHEUS_MULTIPROC_DIR): an emptyDir,
fresh with every pod, that prometheus-client finds existing and writable at import."""
MULTIPROCESS_SIZE_LIMIT = "64Mi"
DEPLOY_CHECK_CONTAINER = "deploy-check"


def deploy_check_command(level: str) -> list[str]:
    """Django's deployment checks, failing (exit 1) on any message at `level` or above."""
    return ["python", "manage.py", "check", "--deploy", "--fail-level", level]


@dataclass(frozen=True)
class AppWorkloadsArgs:
    namespace: pulumi.Input[str]
    """The app namespace."""
    stack: str
    """Stack name, the `app.kubernetes.io/instance` of every pod."""
    app: AppSettings
    """The services to run, the migration, the release candidate."""
    config: AppConfigInputs
    """What the shared ConfigMap is made from."""
    secrets: Mapping[str, AppSecret]
    """Environment variable -> platform secret every service reads (by reference; values only hashed)."""
    checksum_key: pulumi.Output[str]
    """A random secret that keys the checksum (the Django secret key)."""
    image_pull_secret: str | None
    """Registry pull secret name, when the registry is private."""
    strict_node_spread: bool
    """Never put two pods of a service on one node while another node has fewer (production)."""
    labels: Mapping[str, str]
    """Common labels of the stack."""
    application_secrets: Mapping[str, AppSecret] = field(default_factory=dict)
    """The application's own secrets (appSecrets) by variable name; each service reads those it lists."""
    before_migration: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """Resources every migration Job waits for: the database."""
    before_release: Mapping[str, Sequence[pulumi.Resource]] = field(default_factory=dict)
    """Release image -> what its migration Job also waits for (a pre-migration backup of that image)."""
    media: MediaAttachment | None = None
    """How the upload handlers reach the media store; None for an application without uploads."""


def selector_labels(stack: str, service: ServiceSettings) -> dict[str, str]:
    """The immutable Deployment selector of one service (the candidate's differs from web's: no overlap)."""
    return {NAME: service.name, INSTANCE: stack}


def migration_job_name(image: str) -> str:
    """One Job per image: a new tag gets a new Job (and so a new migration run)."""
    return f"crm-migrate-{release_id(image)}"


class AppWorkloads(pulumi.ComponentResource):
    """Deployments, Services, autoscalers, PDBs and the migration Jobs of the CRM application."""

    deployments: dict[Role, k8s.apps.v1.Deployment]
    """The released services' Deployments."""
    candidate_deployment: k8s.apps.v1.Deployment | None
    """The release candidate's web Deployment, while there is one."""
    migration_jobs: dict[str, k8s.batch.v1.Job]
    """Release image -> its migration Job (none with `migrationCommand: none`)."""
    migration_job: k8s.batch.v1.Job | None
    """The released image's migration Job."""
    service_names: dict[Role, str]
    """Kubernetes Service of each listening service (web, frontend)."""
    ports: dict[Role, int]
    published: dict[Role, PublishedService]
    """Each listening service as the network policies let traffic in to it (web, frontend)."""
    metrics_target: ScrapeTarget
    """Web's /metrics (django-prometheus), for its PodMonitor and the Prometheus flow."""
    candidate_metrics_target: ScrapeTarget | None
    """The candidate's /metrics, while a candidate runs: Prometheus compares the two releases."""
    candidate_published: PublishedService | None
    """The candidate's Service, reached by the ingress controller like web's."""

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

        web = args.app.web
        self.migration_jobs = {}
        if args.app.migration is not None:
            for release in args.app.web_releases:
                self.migration_jobs[release.image] = self._migration_job(
                    release,
                    args.app.migration,
                    [config_map, *args.before_migration, *args.before_release.get(release.image, ())],
                )
        self.migration_job = self.migration_jobs.get(web.image)

        self.deployments = {}
        self.service_names = {}
        self.ports = {}
        self.published = {}
        self.metrics_target = self._metrics_target(web)
        for service in args.app.services:
            self.deployments[service.role] = self._service_objects(service, config_map, self.migration_job)
        self.candidate_deployment = None
        self.candidate_published = None
        self.candidate_metrics_target = None
        candidate = args.app.candidate
        if candidate is not None:
            self.candidate_deployment = self._service_objects(
                candidate, config_map, self.migration_jobs.get(candidate.image)
            )
            self.candidate_metrics_target = self._metrics_target(candidate)

        self.register_outputs(
            {
                "migration_jobs": {
                    image: job.metadata.apply(lambda m: m.name) for image, job in self.migration_jobs.items()
                },
                "services": dict(self.service_names),
            }
        )

    def _metrics_target(self, web: ServiceSettings) -> ScrapeTarget:
        """A web release's /metrics on its own port: a PodMonitor and a flow from Prometheus."""
        assert web.port is not None, "web always listens"
        return ScrapeTarget(
            web.name,
            selector_labels(self._args.stack, web),
            web.port,
            "http",
            path=METRICS_PATH,
            # Both releases are web: one job, told apart by `release` (stable, candidate).
            job=self._args.app.web.name,
            label_from_pod={"release": RELEASE},
        )

    def _service_objects(
        self, service: ServiceSettings, config_map: k8s.core.v1.ConfigMap, migration: k8s.batch.v1.Job | None
    ) -> k8s.apps.v1.Deployment:
        """A service's ServiceAccount, Deployment, Service (where it listens), autoscaler and budget."""
        # Pulumi names: app-web, app-worker, ..., app-web-candidate.
        role = service.name.removeprefix("crm-")
        account_metadata: k8s.meta.v1.ObjectMetaArgsDict = {
            "name": service.name,
            "namespace": self._args.namespace,
            "labels": self._labels(service),
        }
        media = self._media_of(service)
        if media is not None and media.service_account_annotations:
            account_metadata["annotations"] = dict(media.service_account_annotations)
        account = k8s.core.v1.ServiceAccount(
            f"{self._name}-{role}",
            metadata=account_metadata,
            automount_service_account_token=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # Every service waits, the frontend too: a failed migration must leave the whole
        # running version in place, not a new frontend on the old API.
        waits_for: list[pulumi.Resource] = [config_map, account, *([migration] if migration else [])]
        if media is not None:
            waits_for.extend(media.waits_for)
        deployment = self._deployment(service, role, waits_for)
        if service.port is not None:
            self._service(service, role)
        self._scaling(service, role, deployment)
        return deployment

    def _media_of(self, service: ServiceSettings) -> MediaAttachment | None:
        """The media attachment when `service` handles uploads (a candidate web as web does), else None."""
        media = self._args.media
        return media if media is not None and service.role in media.services else None

    def _labels(self, service: ServiceSettings) -> dict[str, str]:
        frontend = service.role is Role.FRONTEND
        release = {} if frontend else {RELEASE: service.release.value}
        return {
            **self._args.labels,
            COMPONENT: service.role.value,
            **selector_labels(self._args.stack, service),
            endpoints.NETWORK_ROLE: endpoints.FRONTEND_ROLE if frontend else endpoints.APP_ROLE,
            **release,
        }

    def _platform_secrets(self, service: ServiceSettings) -> Mapping[str, AppSecret]:
        """The platform's secrets a service's containers read: all of them, but none for the frontend, which
        talks to web only (its own credentials, if any, come from appSecrets)."""
        return {} if service.role is Role.FRONTEND else self._args.secrets

    def _checksum(self, service: ServiceSettings) -> pulumi.Output[str]:
        """Keyed digest of every secret value the service's pods read: the platform's and the ones it lists."""
        platform = self._platform_secrets(service)
        values = [platform[variable].value for variable in sorted(platform)]
        values += [self._args.application_secrets[variable].value for variable in sorted(service.secrets)]
        return pulumi.Output.unsecret(
            pulumi.Output.all(self._args.checksum_key, *values).apply(
                lambda resolved: checksums.secrets_checksum(resolved[0], resolved[1:])
            )
        )

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
        if media is not None and media.affinity is not None:
            spec["affinity"] = media.affinity
        if self._args.image_pull_secret:
            spec["image_pull_secrets"] = [{"name": self._args.image_pull_secret}]
        return spec

    def _container(
        self,
        service: ServiceSettings,
        command: Sequence[str],
        args: Sequence[str],
        env_first: Sequence[k8s.core.v1.EnvVarArgsDict] = (),
        env_last: Sequence[k8s.core.v1.EnvVarArgsDict] = (),
        *,
        name: str | None = None,
    ) -> k8s.core.v1.ContainerArgsDict:
        application = {variable: self._args.application_secrets[variable].ref for variable in service.secrets}
        container: k8s.core.v1.ContainerArgsDict = {
            "name": name or service.role.value,
            "image": service.image,
            "image_pull_policy": pods.IMAGE_PULL_POLICY,
            "env_from": [{"config_map_ref": {"name": self.config_map_name}}],
            "env": [
                *env_first,
                *app_config.container_env(
                    {variable: secret.ref for variable, secret in self._platform_secrets(service).items()},
                    service.env,
                    channels=self._args.config.channels,
                    application=application,
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

    def _migration_job(
        self, web: ServiceSettings, migration: MigrationSettings, waits_for: list[pulumi.Resource]
    ) -> k8s.batch.v1.Job:
        """The Job of one release image. Its spec depends on the image only, never on whether the image is the
        released one or a candidate: promoting a candidate keeps its (finished) Job as it is, never re-running it."""
        # Run as web's own account whichever release the image is: the Job must not change when its image is promoted.
        web = replace(web, release=Release.STABLE)
        job_name = migration_job_name(web.image)
        args = self._args
        labels = {
            **args.labels,
            COMPONENT: "migration",
            NAME: "crm-migration",
            INSTANCE: args.stack,
            endpoints.NETWORK_ROLE: endpoints.APP_ROLE,
        }
        migration_env: list[k8s.core.v1.EnvVarArgsDict] = []
        if args.config.postgres:
            # Migrations talk to the primary directly (transaction pooling breaks session settings
            # and advisory locks) and may run statements longer than the app's 30 s limit.
            direct = {"DATABASE_HOST": endpoints.DATABASE_DIRECT_HOST, "PGOPTIONS": "-c statement_timeout=0"}
            app_config.checked(direct)
            migration_env = [{"name": variable, "value": value} for variable, value in direct.items()]
        container = self._container(web, migration.command, (), env_first=migration_env)
        pod_spec = self._pod_spec(web, container, restart_never=True)
        if migration.deploy_check_level is not None:
            # Before any migration: a release Django itself calls unsafe to deploy (DEBUG on, a weak
            # SECRET_KEY, no HTTPS settings) fails here, the Job fails and `pulumi up` stops before
            # the schema or any Deployment changes. Same image, environment and mounts as the migration.
            check = self._container(
                web,
                deploy_check_command(migration.deploy_check_level),
                (),
                env_first=migration_env,
                name=DEPLOY_CHECK_CONTAINER,
            )
            check["volume_mounts"] = container["volume_mounts"]
            pod_spec["init_containers"] = [check]
        return k8s.batch.v1.Job(
            # The Pulumi name follows the image too: a new tag is a new Job, the old one is deleted.
            f"{self._name}-{job_name}",
            metadata={
                "name": job_name,
                "namespace": args.namespace,
                "labels": labels,
                # A Job that failed (say, the database was down) is replaced by the next `pulumi up`
                # with the same image instead of being kept as a failure forever.
                "annotations": {"pulumi.com/replaceUnready": "true"},
            },
            spec={
                # Django migrations run in transactions on PostgreSQL: one retry is safe.
                "backoff_limit": 1,
                "active_deadline_seconds": MIGRATION_DEADLINE_SECONDS,
                "template": {"metadata": {"labels": labels}, "spec": pod_spec},
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=waits_for,
                custom_timeouts=pulumi.CustomTimeouts(create=JOB_TIMEOUT, update=JOB_TIMEOUT),
            ),
        )

    def _deployment(
        self, service: ServiceSettings, role: str, waits_for: list[pulumi.Resource]
    ) -> k8s.apps.v1.Deployment:
        labels = self._labels(service)
        metrics = service.role is Role.WEB
        media = self._media_of(service)
        env_last: list[k8s.core.v1.EnvVarArgsDict] = (
            list(app_config.web_metrics_env(self._args.config, MULTIPROCESS_DIRECTORY)) if metrics else []
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
        if service.drain_seconds:
            # The endpoint leaves the EndpointSlice when the pod starts terminating; Traefik and
            # kube-proxy need a moment to stop sending to it. Serve on meanwhile, then SIGTERM
            # lets the server finish in-flight requests (gunicorn --graceful-timeout) and close
            # WebSockets, all within terminationGracePeriodSeconds (stacks/services.py sizes both).
            container["lifecycle"] = {"pre_stop": {"sleep": {"seconds": service.drain_seconds}}}

        pod_spec = self._pod_spec(
            service,
            container,
            scratch=[("prometheus-multiproc", MULTIPROCESS_DIRECTORY, MULTIPROCESS_SIZE_LIMIT)] if metrics else (),
            media=media,
        )
        selector = selector_labels(self._args.stack, service)
        template_labels = {**labels, **(media.pod_labels if media is not None else {})}
        if service.scale.maximum > 1:
            pod_spec["topology_spread_constraints"] = pods.topology_spread(
                selector, strict_nodes=self._args.strict_node_spread
            )
        spec: k8s.apps.v1.DeploymentSpecArgsDict = {
            "selector": {"match_labels": selector},
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
                "metadata": {
                    "labels": template_labels,
                    "annotations": {checksums.SECRETS_CHECKSUM: self._checksum(service)},
                },
                "spec": pod_spec,
            },
        }
        if service.scale.autoscaling is None:
            # With an autoscaler the count is left unset: a declared count would fight the
            # HPA on every `pulumi up` (server-side apply field ownership).
            spec["replicas"] = service.scale.replicas
        return k8s.apps.v1.Deployment(
            f"{self._name}-{role}",
            metadata={"name": service.name, "namespace": self._args.namespace, "labels": labels},
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self, depends_on=waits_for),
        )

    def _service(self, service: ServiceSettings, role: str) -> None:
        assert service.port is not None
        selector = selector_labels(self._args.stack, service)
        k8s.core.v1.Service(
            f"{self._name}-{role}",
            metadata={"name": service.name, "namespace": self._args.namespace, "labels": self._labels(service)},
            spec={
                "type": "ClusterIP",
                "selector": selector,
                "ports": [{"name": "http", "port": service.port, "target_port": "http", "protocol": "TCP"}],
            },
            # Pulumi waits for ready endpoints, which on a first deploy come after the migration.
            opts=pulumi.ResourceOptions(parent=self, custom_timeouts=pulumi.CustomTimeouts(create=JOB_TIMEOUT)),
        )
        published = PublishedService(service.name, selector, service.port)
        if service.release is Release.CANDIDATE:
            self.candidate_published = published
            return
        self.service_names[service.role] = service.name
        self.ports[service.role] = service.port
        self.published[service.role] = published

    def _scaling(self, service: ServiceSettings, role: str, deployment: k8s.apps.v1.Deployment) -> None:
        child = pulumi.ResourceOptions(parent=self, depends_on=[deployment])
        labels = self._labels(service)
        scaling = service.scale.autoscaling
        if scaling is not None:
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{self._name}-{role}",
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
                f"{self._name}-{role}",
                metadata={"name": service.name, "namespace": self._args.namespace, "labels": labels},
                spec={
                    "max_unavailable": 1,
                    "selector": {"match_labels": selector_labels(self._args.stack, service)},
                    # A crash-looping pod must not block node drains.
                    "unhealthy_pod_eviction_policy": "AlwaysAllow",
                },
                opts=child,
            )


def _utilization(resource: str, percent: int) -> k8s.autoscaling.v2.MetricSpecArgsDict:
    return {
        "type": "Resource",
        "resource": {"name": resource, "target": {"type": "Utilization", "average_utilization": percent}},
    }


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
