"""One real Prometheus per session, scraping the real emitters that run here and the documented ones that do not.

Debian's `prometheus` (2.42) on 127.0.0.1, a temporary TSDB, scrape and rule evaluation every
second, every stack's rule groups loaded (dashboards read the recording rules). Targets, each
once per stack with the stack's namespace as a target label (as the ServiceMonitors and
PodMonitors give it): the Django application, redis_exporter as the cache's and the broker's
exporter, the CloudNativePG query results of a real PostgreSQL, and the synthetic series of
emitters.py (which carry their own namespaces: honor_labels, as kube-state-metrics is scraped).

Also `build_monitoring(stack, **changes)`: the Monitoring component built alone under the recording
mocks (tests/support/components.py), from the arguments the program gives it for the stack, with
what a test is about replaced.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from components.monitoring import Monitoring, MonitoringArgs, rules
from components.shared.references import AppSecret, ScrapeTarget, SecretKeyRef
from offline.program import PROJECT_DIR, Recording
from offline.render import KubernetesObject, kubernetes_objects
from offline.stack_config import load_stack_config
from stacks import build
from stacks.schema import PROJECT as PROJECT_NAME
from tests.components.monitoring import emitters
from tests.components.monitoring.support import STACKS, announce, require_tool, stack_under_test, tool_version
from tests.support.backup_harness import (
    MissingToolError,
    PostgresServer,
    Tools,
    free_port,
    postgres_bin_dir,
    scratch_space,
    unprivileged_account,
)
from tests.support.components import declare
from tests.support.tools import unavailable

PROJECT = Path(__file__).resolve().parents[3]
SCRAPE_INTERVAL = "1s"


class QueryError(RuntimeError):
    """Prometheus rejected a query (bad syntax, a type error): the message is its own."""


@dataclass(frozen=True)
class Prometheus:
    url: str

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant query's result vector (or scalar, as one element); QueryError if Prometheus rejects it."""
        address = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        try:
            with urllib.request.urlopen(address, timeout=30) as response:
                body = json.load(response)
        except urllib.error.HTTPError as error:
            body = json.load(error)
            raise QueryError(f"{body.get('errorType')}: {body.get('error')}") from None
        data = body["data"]
        if data["resultType"] == "scalar":
            return [{"value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def eventually(self, expr: str, timeout: float) -> list[dict[str, Any]]:
        """The query's result once it has one, or the empty result after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if result or time.monotonic() > deadline:
                return result
            time.sleep(0.5)


def _postgres(stack: ExitStack, say: Callable[[str], None]) -> PostgresServer:
    try:
        tools = Tools(
            postgres_bin=postgres_bin_dir(), python_bin=Path(sys.executable).parent, account=unprivileged_account()
        )
    except MissingToolError as missing:
        unavailable(str(missing))
    scratch = stack.enter_context(scratch_space(tools.account))
    server = PostgresServer(tools, scratch)
    server.start()
    stack.callback(server.stop)
    server.create_database("crm")
    say(tools.postgres_version())
    return server


def _process(stack: ExitStack, arguments: list[str], log: Path, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    output = stack.enter_context(log.open("wb"))
    process = subprocess.Popen(arguments, stdout=output, stderr=subprocess.STDOUT, cwd=cwd)

    def stop() -> None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    stack.callback(stop)
    return process


def _redis(stack: ExitStack, directory: Path, say: Callable[[str], None]) -> int:
    """A redis-server with a broker's policy and a `celery` queue, and its exporter; the exporter's port."""
    server = require_tool("redis-server")
    exporter = require_tool("prometheus-redis-exporter")
    say(tool_version(server, "--version"))
    say(tool_version(exporter, "--version"))
    port = free_port()
    process = _process(
        stack,
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
            "--maxmemory",
            "64mb",
            "--maxmemory-policy",
            "noeviction",
        ],
        directory / "redis.log",
    )
    deadline = time.monotonic() + 20
    while (
        subprocess.run(
            ["redis-cli", "-p", str(port), "rpush", "celery", "task-1", "task-2"], capture_output=True, check=False
        ).returncode
        != 0
    ):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError((directory / "redis.log").read_text())
        time.sleep(0.1)
    exporter_port = free_port()
    exporter_process = _process(
        stack,
        [
            exporter,
            f"--redis.addr=redis://127.0.0.1:{port}",
            f"--web.listen-address=127.0.0.1:{exporter_port}",
            "--check-single-keys=db0=celery",
        ],
        directory / "redis-exporter.log",
    )
    emitters.wait_for_http(
        f"http://127.0.0.1:{exporter_port}/metrics", exporter_process, directory / "redis-exporter.log"
    )
    return exporter_port


def _django(stack: ExitStack, directory: Path, say: Callable[[str], None]) -> int:
    say(f"Django {metadata.version('django')}, django-prometheus {metadata.version('django-prometheus')}")
    port = free_port()
    counters = [metric.counter for metric in stack_under_test("production").monitoring.business_metrics]
    process = _process(
        stack,
        [sys.executable, "-m", "tests.components.monitoring.django_app", str(port), *counters],
        directory / "django.log",
        cwd=PROJECT,
    )
    emitters.wait_for_http(f"http://127.0.0.1:{port}/metrics", process, directory / "django.log")
    return port


def _scrape_config(django: int, redis_exporter: int, pages: int) -> list[dict[str, Any]]:
    def per_stack(target: int, pods: list[dict[str, str]]) -> list[dict[str, Any]]:
        return [
            {
                "targets": [f"127.0.0.1:{target}"],
                "labels": {"namespace": stack_under_test(stack).facts.app_namespace, **labels},
            }
            for stack in STACKS
            for labels in pods
        ]

    return [
        {
            "job_name": "crm-web",
            "static_configs": per_stack(
                django, [{"pod": "crm-web-5d8f7c9b6d-x2x7q", "container": rules.WEB_CONTAINER}]
            ),
        },
        {
            "job_name": "redis",
            "static_configs": per_stack(
                redis_exporter,
                [{"pod": f"{server}-0", "container": "exporter"} for server in (rules.REDIS_CACHE, rules.REDIS_BROKER)],
            ),
        },
        {
            "job_name": "cnpg",
            "metrics_path": "/cnpg",
            "static_configs": per_stack(pages, [{"pod": "crm-postgres-1", "container": "postgres"}]),
        },
        {
            "job_name": "synthetic",
            "metrics_path": "/synthetic",
            "honor_labels": True,
            "static_configs": [{"targets": [f"127.0.0.1:{pages}"]}],
        },
    ]


def _rule_files(directory: Path) -> list[str]:
    files = []
    for stack in STACKS:
        under_test = stack_under_test(stack)
        groups = rules.rule_groups(
            under_test.monitoring,
            stack=under_test.facts.stack,
            environment=under_test.facts.environment,
            app_namespace=under_test.facts.app_namespace,
            high_availability_redis=under_test.facts.high_availability_redis,
            wal_archiving=under_test.facts.wal_archiving,
            postgres_instances=under_test.facts.postgres_instances,
            celery_worker=under_test.facts.celery_worker,
            celery_beat=under_test.facts.celery_beat,
            autoscaling=under_test.facts.autoscaling,
        )
        path = directory / f"{stack}.rules.yml"
        path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
        files.append(str(path))
    return files


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[Prometheus]:
    """A real Prometheus over the emitters, once its first scrapes and rule evaluations are in."""
    binary = require_tool("prometheus")

    def say(line: str) -> None:
        announce(pytestconfig, line)

    say(tool_version(binary, "--version"))
    directory = tmp_path_factory.mktemp("prometheus")
    with ExitStack() as stack:
        started = time.time()
        postgres = _postgres(stack, say)
        say(f"PostgreSQL up in {time.time() - started:.1f} s")
        cnpg = emitters.exposition(
            [
                emitters.sample(name, labels, value)
                for name, labels, value in emitters.cnpg_query_metrics(postgres, ["postgres", "crm"])
            ]
        )
        facts = [stack_under_test(name).facts for name in STACKS]
        pages = stack.enter_context(
            emitters.metrics_server(
                {"/cnpg": lambda: cnpg, "/synthetic": lambda: emitters.synthetic_exposition(facts, started)}
            )
        )
        say(f"CloudNativePG queries run in {time.time() - started:.1f} s")
        redis_exporter = _redis(stack, directory, say)
        django = _django(stack, directory, say)
        say(f"Redis and Django up in {time.time() - started:.1f} s")
        scrape_configs = _scrape_config(django, redis_exporter, pages)
        config = {
            "global": {
                "scrape_interval": SCRAPE_INTERVAL,
                "scrape_timeout": SCRAPE_INTERVAL,
                "evaluation_interval": SCRAPE_INTERVAL,
            },
            "rule_files": _rule_files(directory),
            "scrape_configs": scrape_configs,
        }
        (directory / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        port = free_port()
        process = _process(
            stack,
            [
                binary,
                f"--config.file={directory / 'prometheus.yml'}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            directory / "prometheus.log",
        )
        url = f"http://127.0.0.1:{port}"
        emitters.wait_for_http(f"{url}/-/ready", process, directory / "prometheus.log")
        say(f"Prometheus up in {time.time() - started:.1f} s")
        server = Prometheus(url)
        targets = sum(len(job["static_configs"]) for job in scrape_configs)
        # Every target scraped at least twice (rates need two samples) and the recording rules evaluated.
        # Prometheus 2.42 applies its targets on a 5-second tick: the first scrapes come about 5 s after start.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            up = server.query("count(up == 1)")
            recorded = server.query(f"count({rules.RESPONSE_RATE_RECORD})")
            if (
                up
                and int(float(up[0]["value"][1])) == targets
                and recorded
                and int(float(recorded[0]["value"][1])) == len(STACKS)
            ):
                break
            time.sleep(0.5)
        else:
            raise RuntimeError(f"Prometheus did not scrape every target:\n{(directory / 'prometheus.log').read_text()}")
        say(f"real Prometheus ready in {time.time() - started:.1f} s")
        yield server


@dataclasses.dataclass(frozen=True)
class ComponentRun:
    recording: Recording
    objects: tuple[KubernetesObject, ...]

    def named(self, kind: str, name: str) -> KubernetesObject:
        [found] = [obj for obj in self.objects if obj.kind == kind and obj.name == name]
        return found

    def of_kind(self, kind: str) -> list[KubernetesObject]:
        return [obj for obj in self.objects if obj.kind == kind]


BuildMonitoring = Callable[..., ComponentRun]


def base_args(stack: str, secrets: dict[str, str]) -> MonitoringArgs:
    config = load_stack_config(PROJECT_DIR, stack, secrets)
    settings = build(stack, config.values, config.secret_keys)
    web = ScrapeTarget("crm-web", {"app.kubernetes.io/name": "crm-web"}, 8000, "http")
    return MonitoringArgs(
        namespace=settings.namespaces.monitoring,
        app_namespace=settings.namespaces.app,
        app_namespace_name=settings.namespaces.app,
        stack=stack,
        settings=settings.monitoring,
        installs_stack=settings.cluster.owns_addons,
        storage_class=None,
        strict_node_spread=settings.strict_node_spread,
        environment=settings.environment.value,
        protect_namespaces=False,
        labels={"app.kubernetes.io/part-of": PROJECT_NAME},
        targets=[web],
        addon_targets=[],
        worker_args=("worker",),
        broker_password=AppSecret(SecretKeyRef("crm-redis-broker", "password"), pulumi.Output.secret("broker-1")),
        broker_pods={"crm-redis-broker": {"app.kubernetes.io/name": "crm-redis-broker"}},
        grafana_admin_password=pulumi.Output.secret("grafana-1"),
    )


@pytest.fixture
def build_monitoring() -> BuildMonitoring:
    """Build Monitoring for `stack` under fresh mocks; keyword arguments replace MonitoringArgs fields, and
    `outputs` returns more replacements made inside the run (an Output belongs to the run that makes it)."""

    def run(
        stack: str,
        secrets: dict[str, str] | None = None,
        outputs: Callable[[], dict[str, Any]] | None = None,
        **changes: Any,
    ) -> ComponentRun:
        def build() -> Monitoring:
            replaced = {**changes, **(outputs() if outputs is not None else {})}
            return Monitoring("monitoring", dataclasses.replace(base_args(stack, secrets or {}), **replaced))

        declared = declare(build, stack=stack)
        recording = Recording(
            config=load_stack_config(PROJECT_DIR, stack, secrets),
            resources=declared.resources,
            stack_outputs={},
            generated_values=(),
            invokes=(),
        )
        return ComponentRun(recording=recording, objects=tuple(kubernetes_objects(recording)))

    return run
