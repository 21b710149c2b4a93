"""Who may reach whom in each stack: the rendered NetworkPolicies held against an expected table.

Each stack is rendered (the session's `run_stack`), its policies, namespaces and workloads read
by offline/reachability.py, and every row of MATRIX decided: `allow`, `deny`, or `-` where the
stack has no such workload (dev has no frontend; only production runs the Redis proxies).
Peers outside the render are named in `cast`: the ingress controller, Prometheus, CoreDNS, the
CloudNativePG operator, cert-manager's solver, look-alikes in other namespaces, and addresses
outside the cluster.

Beyond the table: every workload the stack renders appears in it; every policy the stack
renders changes at least one row when it is removed (no policy is dead weight); and the rows
towards outside addresses agree with the stack's `egressCidrs` in Pulumi.<stack>.yaml.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass

import pytest

from components.edge.charts import TRAEFIK_NAMESPACE, TRAEFIK_POD_LABELS
from components.monitoring.chart import SCRAPER
from components.shared.endpoints import APP_ROLE, NETWORK_ROLE
from kube.labels import NAMESPACE_ROLE
from offline.reachability import ContainerPort, Endpoint, External, Network, Workload, workloads
from stacks import build
from stacks.schema import PROJECT
from tests.conftest import STACKS, RunStack, StackRun

MATRIX = """
source               destination          port       dev    staging  production  pr-7

# The ingress controller reaches the published services on their own ports, and nothing else;
# its labels count only in its namespace, and its namespace only with its labels.
traefik              web                  8000/TCP   allow  allow    allow       allow
traefik              frontend             3000/TCP   -      allow    allow       allow
traefik              frontend             8000/TCP   -      deny     deny        deny
traefik              worker               8000/TCP   deny   deny     deny        deny
traefik              beat                 8000/TCP   deny   deny     deny        deny
traefik              postgres             5432/TCP   deny   deny     deny        deny
traefik              redis-cache          6379/TCP   deny   deny     deny        deny
traefik              acme-solver          8089/TCP   allow  allow    allow       allow
traefik              acme-solver          8000/TCP   deny   deny     deny        deny
traefik-lookalike    web                  8000/TCP   deny   deny     deny        deny
traefik-lookalike    acme-solver          8089/TCP   deny   deny     deny        deny
traefik-neighbour    web                  8000/TCP   deny   deny     deny        deny
web                  acme-solver          8089/TCP   deny   deny     deny        deny

# The frontend renders pages by calling the API inside the cluster, never the other way round.
frontend             web                  8000/TCP   -      allow    allow       allow
frontend             web                  3000/TCP   -      deny     deny        deny
web                  frontend             3000/TCP   -      deny     deny        deny
worker               web                  8000/TCP   deny   deny     deny        deny
web                  web                  8000/TCP   deny   deny     deny        deny
web                  worker               8000/TCP   deny   deny     deny        deny

# The application's pods reach PostgreSQL (instances and PgBouncer) and Redis on their ports only.
web                  postgres             5432/TCP   allow  allow    allow       allow
web                  pooler               5432/TCP   allow  allow    allow       allow
worker               pooler               5432/TCP   allow  allow    allow       allow
beat                 pooler               5432/TCP   allow  allow    allow       allow
migration            postgres             5432/TCP   allow  allow    allow       allow
web                  postgres             8000/TCP   deny   deny     deny        deny
frontend             postgres             5432/TCP   -      deny     deny        deny
frontend             redis-cache          6379/TCP   -      deny     deny        deny
frontend             pooler               5432/TCP   -      deny     deny        deny
frontend             redis-broker         6379/TCP   -      deny     deny        deny
frontend             partner              443/TCP    -      deny     deny        deny
web                  redis-cache          6379/TCP   allow  allow    allow       allow
worker               redis-broker         6379/TCP   allow  allow    allow       allow
beat                 redis-broker         6379/TCP   allow  allow    allow       allow
worker               redis-broker-proxy   6379/TCP   -      -        allow       -
web                  redis-cache-proxy    6379/TCP   -      -        allow       -
worker               redis-broker         26379/TCP  deny   deny     deny        deny
worker               redis-broker         9121/TCP   deny   deny     deny        deny
app-lookalike        postgres             5432/TCP   deny   deny     deny        deny
app-lookalike        redis-broker         6379/TCP   deny   deny     deny        deny

# The Celery exporter reads the broker's queues (through the proxies where Redis fails over), nothing else.
celery-exporter      redis-broker         6379/TCP   allow  allow    deny        allow
celery-exporter      redis-broker-proxy   6379/TCP   -      -        allow       -
celery-exporter      redis-cache          6379/TCP   deny   deny     deny        deny
celery-exporter      postgres             5432/TCP   deny   deny     deny        deny
celery-exporter      public               443/TCP    deny   deny     deny        deny

# The cert-manager API check (add-on owners) talks to the API server from cert-manager's namespace.
cert-manager-api-check api-server         443/TCP    allow  allow    allow       -

# Backups reach PostgreSQL, and S3 where they store there (staging, production); not Redis.
backup               postgres             5432/TCP   allow  allow    allow       allow
backup               postgres             443/TCP    deny   deny     deny        deny
backup               pooler               5432/TCP   allow  allow    allow       allow
restore-verification postgres             5432/TCP   allow  allow    allow       allow
pre-migration-backup postgres             5432/TCP   -      -        allow       -
backup               redis-broker         6379/TCP   deny   deny     deny        deny
backup               web                  8000/TCP   deny   deny     deny        deny
backup               s3                   443/TCP    deny   allow    allow       deny
pre-migration-backup s3                   443/TCP    -      -        allow       -
backup               s3                   80/TCP     deny   deny     deny        deny
backup               relay                587/TCP    deny   deny     deny        deny

# PostgreSQL: the operator manages the instances (5432, status 8000), instances replicate and
# PgBouncer connects among themselves, and all of them watch the API server; nothing else.
cnpg-operator        postgres             5432/TCP   allow  allow    allow       allow
cnpg-operator        postgres             8000/TCP   allow  allow    allow       allow
cnpg-operator        pooler               8000/TCP   allow  allow    allow       allow
cnpg-operator        web                  8000/TCP   deny   deny     deny        deny
postgres             postgres             5432/TCP   allow  allow    allow       allow
pooler               postgres             5432/TCP   allow  allow    allow       allow
postgres             postgres             22/TCP     deny   deny     deny        deny
postgres             api-server           6443/TCP   allow  allow    allow       allow
pooler               api-server           443/TCP    allow  allow    allow       allow
postgres             s3                   443/TCP    allow  allow    allow       allow
postgres             api-server           80/TCP     deny   deny     deny        deny
postgres             web                  8000/TCP   deny   deny     deny        deny
postgres             redis-broker         6379/TCP   deny   deny     deny        deny
# The API server and S3 have no selector, so 443 and 6443 are open to any address and to any pod
# whose namespace does not isolate it (Traefik's, here).
postgres             public               443/TCP    allow  allow    allow       allow
postgres             traefik-neighbour    6443/TCP   allow  allow    allow       allow
redis-broker         postgres             5432/TCP   deny   deny     deny        deny

# Redis with failover (production): servers replicate and run Sentinel among themselves, the
# proxies reach their own role's servers on the Redis port; single servers need no peer.
redis-broker         redis-broker         6379/TCP   deny   deny     allow       deny
redis-broker         redis-broker         26379/TCP  deny   deny     allow       deny
redis-cache          redis-cache          6379/TCP   deny   deny     allow       deny
redis-cache          redis-cache          26379/TCP  deny   deny     allow       deny
redis-cache          redis-broker         6379/TCP   deny   deny     deny        deny
redis-broker-proxy   redis-broker         6379/TCP   -      -        allow       -
redis-cache-proxy    redis-cache          6379/TCP   -      -        allow       -
redis-broker-proxy   redis-broker         26379/TCP  -      -        deny        -
redis-cache-proxy    redis-broker         6379/TCP   -      -        deny        -
redis-broker         api-server           443/TCP    deny   deny     deny        deny

# The cluster's Prometheus scrapes each metrics port (web, the exporters, PostgreSQL and its pooler) and
# nothing else; no other pod of a monitoring namespace reaches them.
prometheus           web                  8000/TCP   allow  allow    allow       allow
prometheus           redis-cache          9121/TCP   allow  allow    allow       allow
prometheus           redis-broker         9121/TCP   allow  allow    allow       allow
prometheus           celery-exporter      9808/TCP   allow  allow    allow       allow
prometheus           postgres             9187/TCP   allow  allow    allow       allow
prometheus           pooler               9127/TCP   allow  allow    allow       allow
prometheus           redis-broker         6379/TCP   deny   deny     deny        deny
prometheus           postgres             5432/TCP   deny   deny     deny        deny
prometheus           worker               8000/TCP   deny   deny     deny        deny
monitoring-neighbour web                  8000/TCP   deny   deny     deny        deny
monitoring-neighbour postgres             9187/TCP   deny   deny     deny        deny
app-lookalike        web                  8000/TCP   deny   deny     deny        deny

# Every pod resolves names with the cluster's DNS (or NodeLocal DNSCache), and with no other.
web                  kube-dns             53/UDP     allow  allow    allow       allow
web                  kube-dns             53/TCP     allow  allow    allow       allow
worker               kube-dns             53/UDP     allow  allow    allow       allow
frontend             kube-dns             53/UDP     -      allow    allow       allow
backup               kube-dns             53/UDP     allow  allow    allow       allow
postgres             kube-dns             53/UDP     allow  allow    allow       allow
redis-broker         kube-dns             53/UDP     allow  allow    allow       allow
redis-broker-proxy   kube-dns             53/UDP     -      -        allow       -
worker               node-local-dns       53/UDP     allow  allow    allow       allow
web                  kube-dns             9153/TCP   deny   deny     deny        deny
web                  kube-system-other    53/UDP     deny   deny     deny        deny
web                  public               53/UDP     deny   deny     deny        deny

# Outside the cluster: HTTPS and SMTP to the stack's egressCidrs only (none in dev); where uploads are in
# the media bucket (staging, production), the media services (web, worker) reach 443 at any address too,
# as S3 and STS have no fixed ones (mediaEgressCidrs narrows it).
web                  relay                587/TCP    deny   allow    allow       allow
worker               relay                587/TCP    deny   allow    allow       allow
worker               relay                443/TCP    deny   allow    allow       allow
worker               partner              443/TCP    deny   allow    allow       deny
beat                 partner              443/TCP    deny   deny     allow       deny
worker               relay                25/TCP     deny   deny     deny        deny
worker               relay                80/TCP     deny   deny     deny        deny
worker               public               443/TCP    deny   allow    allow       deny
beat                 public               443/TCP    deny   deny     deny        deny
web                  api-server           443/TCP    deny   allow    allow       deny

# User uploads: the media services reach S3 (and STS, for their web identity) on 443 where uploads are in
# the stack's bucket; no other pod of the application does, and dev and review keep uploads on a volume.
web                  s3                   443/TCP    deny   allow    allow       deny
worker               s3                   443/TCP    deny   allow    allow       deny
beat                 s3                   443/TCP    deny   deny     deny        deny
frontend             s3                   443/TCP    -      deny     deny        deny
migration            s3                   443/TCP    deny   deny     deny        deny
web                  s3                   80/TCP     deny   deny     deny        deny
"""
"""Expected verdicts, one row per connection: source, destination, port/protocol, then one column per stack."""

KNOWN_GAPS: dict[tuple[str, str, int, str], str] = {}
"""Rows the stacks do not meet yet, expected to fail (strict: the day they pass, remove them here)."""

RENDERED = {
    "web": ("Deployment", "crm-web"),
    "worker": ("Deployment", "crm-worker"),
    "beat": ("Deployment", "crm-beat"),
    "frontend": ("Deployment", "crm-frontend"),
    "migration": ("Job", "crm-migrate-*"),
    "backup": ("CronJob", "crm-backup"),
    "restore-verification": ("CronJob", "crm-restore-verification"),
    "pre-migration-backup": ("Job", "crm-pre-migration-backup-*"),
    "postgres": ("Cluster", "crm-postgres"),
    "pooler": ("Pooler", "crm-postgres-pooler-rw"),
    "redis-cache": ("StatefulSet", "crm-redis-cache"),
    "redis-broker": ("StatefulSet", "crm-redis-broker"),
    "redis-cache-proxy": ("Deployment", "crm-redis-cache-proxy"),
    "redis-broker-proxy": ("Deployment", "crm-redis-broker-proxy"),
    "celery-exporter": ("Deployment", "crm-celery-exporter"),
    "cert-manager-api-check": ("Job", "cert-manager-api-check-*"),
}
"""The table's names for the workloads the program renders (kind, name; `*` ends a name that carries a hash)."""

# Addresses outside the pod network, from the documentation ranges (RFC 5737) where they stand
# for something the stacks configure, so a table row never depends on a real host.
OUTSIDE = {
    "relay": External.at("203.0.113.25"),  # the SMTP relay, inside staging's and production's first egressCidr
    "partner": External.at("198.51.100.7"),  # a partner API, inside production's second egressCidr only
    "api-server": External.at("192.0.2.10"),  # the Kubernetes API server's endpoint, outside the pod network
    "s3": External.at("192.0.2.80"),  # an S3 endpoint: listed in no egressCidr
    "public": External.at("8.8.8.8"),
    "node-local-dns": External.at("169.254.20.10"),  # NodeLocal DNSCache's link-local address
}


@dataclass(frozen=True)
class Row:
    source: str
    destination: str
    port: int
    protocol: str
    expected: Mapping[str, str]
    """Per stack: allow, deny or - (no such workload)."""

    @property
    def key(self) -> tuple[str, str, int, str]:
        return (self.source, self.destination, self.port, self.protocol)

    def __str__(self) -> str:
        return f"{self.source}->{self.destination}:{self.port}/{self.protocol}"


def parse(matrix: str) -> list[Row]:
    lines = [line.split() for line in matrix.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    header, *body = lines
    stacks = header[3:]
    assert tuple(stacks) == STACKS, f"the table's columns {stacks} are not the stacks {STACKS}"
    rows = []
    for cells in body:
        assert len(cells) == len(header), f"row {' '.join(cells)} has {len(cells)} cells, the header {len(header)}"
        port, protocol = cells[2].split("/")
        expected = dict(zip(stacks, cells[3:], strict=True))
        assert set(expected.values()) <= {"allow", "deny", "-"}, cells
        rows.append(Row(cells[0], cells[1], int(port), protocol, expected))
    keys = [row.key for row in rows]
    assert len(keys) == len(set(keys)), "a row appears twice"
    return rows


ROWS = parse(MATRIX)


@dataclass(frozen=True)
class Stack:
    """A rendered stack, read for reachability: its network and the table's names for its pods and peers."""

    network: Network
    cast: Mapping[str, Endpoint | None]
    rendered: tuple[Workload, ...]


def _find(rendered: list[Workload], kind: str, name: str) -> Workload | None:
    prefix = name.removesuffix("*")
    matches = [
        workload
        for workload in rendered
        if workload.kind == kind and (workload.name.startswith(prefix) if name.endswith("*") else workload.name == name)
    ]
    assert len(matches) <= 1, f"{kind} {name} names {len(matches)} workloads"
    return matches[0] if matches else None


def read_stack(run: StackRun) -> Stack:
    documents = [obj.document for obj in run.objects]
    rendered = workloads(documents)
    network = Network.from_documents(documents)
    [app_namespace] = {workload.namespace for workload in rendered if workload.labels.get(NETWORK_ROLE) == APP_ROLE}
    [monitoring_namespace] = [
        name
        for name, labels in network.namespace_labels.items()
        if labels.get(NAMESPACE_ROLE) == "monitoring" and name != SCRAPER.namespace
    ]
    cast: dict[str, Endpoint | None] = {alias: _find(rendered, *where) for alias, where in RENDERED.items()}
    cast.update(
        {
            # The Traefik chart's pods (components/edge/charts.py pins their selector labels).
            "traefik": Workload("Deployment", TRAEFIK_NAMESPACE, "traefik", TRAEFIK_POD_LABELS),
            # Another pod of Traefik's namespace, and Traefik's labels in another namespace.
            "traefik-neighbour": Workload("Pod", TRAEFIK_NAMESPACE, "debug", {"run": "debug"}),
            "traefik-lookalike": Workload("Deployment", "default", "traefik", TRAEFIK_POD_LABELS),
            # A pod in another namespace labelled like the application's.
            "app-lookalike": Workload("Deployment", "default", "impostor", {NETWORK_ROLE: APP_ROLE}),
            # The cluster's Prometheus (kube-prometheus-stack, components/monitoring/chart.py), and another pod of
            # the stack's own monitoring namespace, which scrapes nothing.
            "prometheus": Workload("StatefulSet", SCRAPER.namespace, "prometheus", dict(SCRAPER.pod_labels)),
            "monitoring-neighbour": Workload("Pod", monitoring_namespace, "debug", {"run": "debug"}),
            # CoreDNS as kind, k3d, EKS, GKE and AKS run it.
            "kube-dns": Workload(
                "Deployment",
                "kube-system",
                "coredns",
                {"k8s-app": "kube-dns"},
                (ContainerPort("dns", 53, "UDP"), ContainerPort("dns-tcp", 53), ContainerPort("metrics", 9153)),
            ),
            # Another pod of kube-system, listening on 53 too.
            "kube-system-other": Workload("DaemonSet", "kube-system", "node-agent", {"k8s-app": "node-agent"}),
            # The cloudnative-pg chart's operator pods.
            "cnpg-operator": Workload(
                "Deployment", "cnpg-system", "cloudnative-pg", {"app.kubernetes.io/name": "cloudnative-pg"}
            ),
            # The HTTP-01 solver pod cert-manager starts in the app namespace during an ACME order.
            "acme-solver": Workload(
                "Pod", app_namespace, "cm-acme-http-solver", {"acme.cert-manager.io/http01-solver": "true"}
            ),
            **OUTSIDE,
        }
    )
    return Stack(network=network, cast=cast, rendered=tuple(rendered))


@pytest.fixture(scope="module")
def stacks(run_stack: RunStack) -> dict[str, Stack]:
    return {stack: read_stack(run_stack(stack)) for stack in STACKS}


def verdict(stack: Stack, row: Row, network: Network | None = None) -> str:
    source, destination = stack.cast[row.source], stack.cast[row.destination]
    if source is None or destination is None:
        return "-"
    return "allow" if (network or stack.network).allows(source, destination, row.port, row.protocol) else "deny"


def _params() -> list[object]:
    params: list[object] = []
    for row in ROWS:
        for stack in STACKS:
            gap = KNOWN_GAPS.get(row.key)
            marks = [pytest.mark.xfail(strict=True, reason=gap)] if gap and row.expected[stack] != "-" else []
            params.append(pytest.param(stack, row, id=f"{stack}:{row}", marks=marks))
    return params


@pytest.mark.parametrize(("stack", "row"), _params())
def test_matrix(stacks: dict[str, Stack], stack: str, row: Row) -> None:
    """The stack decides the connection as the table says (or has no such workload, for `-`)."""
    read = stacks[stack]
    source, destination = read.cast[row.source], read.cast[row.destination]
    if source is None or destination is None:
        assert row.expected[stack] == "-", f"{stack} renders no {row.source if source is None else row.destination}"
        return
    decision = read.network.decide(source, destination, row.port, row.protocol)
    assert ("allow" if decision.allowed else "deny") == row.expected[stack], f"{source} -> {destination}: {decision}"


def test_the_table_names_only_known_endpoints() -> None:
    """Every name in the table is a rendered workload or a peer `read_stack` models, and every name is used."""
    names = {*RENDERED, *OUTSIDE, "traefik", "traefik-neighbour", "traefik-lookalike", "app-lookalike"}
    names |= {"prometheus", "monitoring-neighbour", "kube-dns", "kube-system-other", "cnpg-operator", "acme-solver"}
    used = {row.source for row in ROWS} | {row.destination for row in ROWS}
    assert used == names


@pytest.mark.parametrize("stack", STACKS)
def test_every_rendered_workload_is_in_the_table(stacks: dict[str, Stack], stack: str) -> None:
    """A new Deployment, StatefulSet, Job, CronJob or database cannot escape the table: each has a name in it."""
    named = [endpoint for endpoint in stacks[stack].cast.values() if endpoint is not None]
    missing = [str(workload) for workload in stacks[stack].rendered if workload not in named]
    assert not missing, f"give these a name in RENDERED and rows in MATRIX: {missing}"


@pytest.mark.parametrize("stack", STACKS)
def test_no_policy_is_dead_weight(stacks: dict[str, Stack], stack: str) -> None:
    """Removing any one policy changes a row: an allow-* policy turns an expected `allow` into `deny`;
    default-deny (the only other) turns an expected `deny` into `allow`."""
    read = stacks[stack]
    rows = [row for row in ROWS if row.expected[stack] != "-" and row.key not in KNOWN_GAPS]
    dead = []
    for policy in read.network.policies:
        namespace, name = policy["metadata"]["namespace"], policy["metadata"]["name"]
        without = read.network.without(namespace, name)
        was, becomes = ("allow", "deny") if name.startswith("allow-") else ("deny", "allow")
        if not any(
            row.expected[stack] == was == verdict(read, row) and verdict(read, row, without) == becomes for row in rows
        ):
            dead.append(name)
    assert not dead, f"no row of the table depends on {dead}: add the flow they open (or close) to MATRIX"


def _egress_cidrs(run: StackRun) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The stack's egressCidrs as the CLI hands them to the program (Pulumi.<stack>.yaml, merged)."""
    return [ipaddress.ip_network(cidr) for cidr in json.loads(run.recording.config.values[f"{PROJECT}:egressCidrs"])]


def _media_egress(run: StackRun) -> tuple[set[str], list[ipaddress.IPv4Network | ipaddress.IPv6Network] | None]:
    """The Deployments of the stack's media services, and the networks they reach on 443 for S3 (None: any
    address), from the stack's settings: none where uploads are not in a bucket."""
    config = run.recording.config
    media = build(config.stack, config.values, config.secret_keys).media
    if media is None or media.bucket is None:
        return set(), []
    names = {f"crm-{role.value}" for role in media.services}
    cidrs = [ipaddress.ip_network(cidr) for cidr in media.bucket.egress_cidrs]
    return names, cidrs or None


@pytest.mark.parametrize("stack", STACKS)
def test_outside_rows_follow_the_stack_egress_cidrs(run_stack: RunStack, stacks: dict[str, Stack], stack: str) -> None:
    """For the application's pods, a row to an outside address on 443 or the SMTP port says `allow` exactly
    where the stack's egressCidrs cover the address, or, for a media service where uploads are in the bucket,
    on 443 where mediaEgressCidrs cover it (any address when it is empty); on any other port, `deny`."""
    run = run_stack(stack)
    cidrs = _egress_cidrs(run)
    media_services, media_cidrs = _media_egress(run)
    smtp_port = int(run.recording.config.values[f"{PROJECT}:smtpPort"])
    checked = []
    for row in ROWS:
        source, destination = stacks[stack].cast[row.source], stacks[stack].cast[row.destination]
        if not (isinstance(source, Workload) and source.labels.get(NETWORK_ROLE) == APP_ROLE):
            continue
        if not isinstance(destination, External) or row.destination == "node-local-dns":
            continue
        address = destination.network.network_address
        covered = any(address in cidr for cidr in cidrs)
        opened = covered and row.port in (443, smtp_port) and row.protocol == "TCP"
        if source.name in media_services and row.port == 443 and row.protocol == "TCP":
            opened = opened or media_cidrs is None or any(address in cidr for cidr in media_cidrs)
        assert row.expected[stack] == ("allow" if opened else "deny"), f"{stack} {row}: egressCidrs {cidrs}"
        checked.append(row)
    assert len(checked) >= 8, checked
