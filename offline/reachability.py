"""Who may connect to whom: Kubernetes NetworkPolicy semantics, evaluated over rendered objects.

`Network.from_documents(render)` reads the NetworkPolicies and Namespaces of a render (camelCase
dicts), `workloads(render)` the pods its objects make, and `Network.decide(source, destination,
port, protocol)` answers whether a connection is allowed, and by which policies. No cluster, no
network plugin: the rules are those of the API reference and the concepts page,
https://kubernetes.io/docs/concepts/services-networking/network-policies/ ("the concepts page"
below), which tests/offline/test_reachability_semantics.py holds this module to with the page's examples.

What the model leaves out, on purpose: traffic a pod cannot block (to itself, from its own
node), hostNetwork pods, Service address translation (a connection here is to a pod's own port,
as the policies see it after DNAT), and pod IP addresses (an `ipBlock` matches only `External`
endpoints, since "these should be cluster-external IPs, since Pod IPs are ephemeral and
unpredictable").
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from kube.labels import NAMESPACE_NAME
from kube.objects import containers_of, dig, pod_metadata_of

PROTOCOLS: Final = ("TCP", "UDP", "SCTP")
"""NetworkPolicyPort.protocol values; TCP when omitted (API reference)."""
INGRESS: Final = "Ingress"
EGRESS: Final = "Egress"

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class ContainerPort:
    """A port a container declares: what a named port in a policy resolves to."""

    name: str
    port: int
    protocol: str = "TCP"


@dataclass(frozen=True)
class Workload:
    """The pods one object makes, as a NetworkPolicy sees them: namespace, labels and named ports."""

    kind: str
    namespace: str
    name: str
    labels: Mapping[str, str]
    ports: tuple[ContainerPort, ...] = ()

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True)
class External:
    """Addresses outside the pod network (a mail relay, the API server, S3): only `ipBlock` peers match them.

    A network stands for every address in it: a connection to it is allowed only if it is
    allowed to each of them.
    """

    network: IPNetwork

    @classmethod
    def at(cls, address: str) -> External:
        """An address ("203.0.113.10") or network ("203.0.113.0/28", host bits zero)."""
        return cls(ipaddress.ip_network(address))

    def __str__(self) -> str:
        return str(self.network)


Endpoint = Workload | External


@dataclass(frozen=True)
class Side:
    """One direction's verdict: the policies that isolate the pod for it, and those that admit the connection."""

    isolating: tuple[str, ...]
    admitting: tuple[str, ...]

    @property
    def allowed(self) -> bool:
        """A pod no policy isolates for this direction allows everything (the concepts page, "isolated pods")."""
        return not self.isolating or bool(self.admitting)


@dataclass(frozen=True)
class Decision:
    """Both ends of a connection: it is allowed only if the source's egress and the destination's ingress allow it."""

    egress: Side
    ingress: Side

    @property
    def allowed(self) -> bool:
        return self.egress.allowed and self.ingress.allowed

    def __str__(self) -> str:
        def side(name: str, verdict: Side) -> str:
            if not verdict.isolating:
                return f"{name}: not isolated"
            admitted = ", ".join(verdict.admitting) or "nothing"
            return f"{name}: isolated by {', '.join(verdict.isolating)}; admitted by {admitted}"

        verdict = "allowed" if self.allowed else "denied"
        return f"{verdict} ({side('egress', self.egress)}; {side('ingress', self.ingress)})"


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A LabelSelector: every matchLabels pair and every matchExpressions requirement holds; {} selects all.

    NotIn and DoesNotExist hold for an object without the key (apimachinery's labels.Selector).
    """
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for requirement in selector.get("matchExpressions") or []:
        key, operator, values = requirement["key"], requirement["operator"], list(requirement.get("values") or [])
        if operator in ("In", "NotIn") and not values:
            raise ValueError(f"matchExpressions {key!r} {operator} needs values")
        if operator in ("Exists", "DoesNotExist") and values:
            raise ValueError(f"matchExpressions {key!r} {operator} takes no values, got {values}")
        if operator == "In":
            holds = key in labels and labels[key] in values
        elif operator == "NotIn":
            holds = key not in labels or labels[key] not in values
        elif operator == "Exists":
            holds = key in labels
        elif operator == "DoesNotExist":
            holds = key not in labels
        else:
            raise ValueError(
                f"matchExpressions {key!r}: operator {operator!r}; allowed: In, NotIn, Exists, DoesNotExist"
            )
        if not holds:
            return False
    return True


def policy_types(spec: Mapping[str, Any]) -> tuple[str, ...]:
    """spec.policyTypes, or the API server's default when it is omitted or empty: Ingress always,
    Egress when the policy has egress rules (SetDefaults_NetworkPolicySpec, `len(spec.Egress) != 0`)."""
    given = spec.get("policyTypes")
    if given:
        return tuple(given)
    return (INGRESS, EGRESS) if spec.get("egress") else (INGRESS,)


def _block_contains(block: Mapping[str, Any], network: IPNetwork) -> bool:
    """An ipBlock holds every address of `network`: inside `cidr`, and sharing none with any `except`."""
    cidr = ipaddress.ip_network(block["cidr"], strict=False)
    # An address of the other IP version is in no network of this one.
    if network.network_address not in cidr or network.broadcast_address not in cidr:
        return False
    excepted = (ipaddress.ip_network(item, strict=False) for item in block.get("except") or [])
    return not any(item.version == network.version and item.overlaps(network) for item in excepted)


def _port_matches(entry: Mapping[str, Any], destination: Endpoint, port: int, protocol: str) -> bool:
    """A NetworkPolicyPort: protocol (TCP by default), then a number, a number range up to endPort, a
    name resolved against the destination pod's container ports, or, without `port`, every port."""
    if entry.get("protocol", "TCP") != protocol:
        return False
    wanted = entry.get("port")
    end = entry.get("endPort")
    if wanted is None:
        if end is not None:
            raise ValueError(f"endPort {end} without port")
        return True
    if isinstance(wanted, str):
        if end is not None:
            raise ValueError(f"endPort {end} with the named port {wanted!r}: endPort needs a numeric port")
        # Only a pod has named ports; the name means the destination's container port of that name.
        return isinstance(destination, Workload) and any(
            declared.name == wanted and declared.port == port and declared.protocol == protocol
            for declared in destination.ports
        )
    if end is None:
        return port == int(wanted)
    if int(end) < int(wanted):
        raise ValueError(f"endPort {end} below port {wanted}")
    return int(wanted) <= port <= int(end)


def _ports_match(entries: Sequence[Mapping[str, Any]] | None, destination: Endpoint, port: int, protocol: str) -> bool:
    """A rule's `ports`: absent or empty means every port (API reference, NetworkPolicyIngressRule.ports)."""
    return not entries or any(_port_matches(entry, destination, port, protocol) for entry in entries)


@dataclass(frozen=True)
class Network:
    """The NetworkPolicies of a cluster and the labels of its namespaces."""

    policies: tuple[Mapping[str, Any], ...]
    """NetworkPolicy documents (camelCase, as rendered)."""
    namespace_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Labels of the namespaces the render declares, by name."""

    def __post_init__(self) -> None:
        for policy in self.policies:
            if not dig(policy, ("metadata", "name")) or not dig(policy, ("metadata", "namespace")):
                raise ValueError(
                    f"a NetworkPolicy needs metadata.name and metadata.namespace, got {policy.get('metadata')}"
                )

    @classmethod
    def from_documents(
        cls,
        documents: Iterable[Mapping[str, Any]],
        extra_namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
    ) -> Network:
        """The policies and namespace labels of a render; `extra_namespace_labels` adds labels (by namespace)
        of namespaces the render does not declare or labels it does not set."""
        documents = list(documents)
        namespaces: dict[str, dict[str, str]] = {}
        for document in documents:
            if document.get("kind") == "Namespace":
                namespaces[document["metadata"]["name"]] = dict(dig(document, ("metadata", "labels")) or {})
        for name, labels in (extra_namespace_labels or {}).items():
            namespaces[name] = {**namespaces.get(name, {}), **labels}
        policies = tuple(document for document in documents if document.get("kind") == "NetworkPolicy")
        return cls(policies=policies, namespace_labels=namespaces)

    def labels_of_namespace(self, name: str) -> dict[str, str]:
        """A namespace's labels, with the kubernetes.io/metadata.name the API server sets on every namespace
        (the concepts page, "targeting a namespace by its name"); a namespace the render does not declare
        (kube-system, an add-on's) has that label only."""
        return {**self.namespace_labels.get(name, {}), NAMESPACE_NAME: name}

    def without(self, namespace: str, name: str) -> Network:
        """The same network with one policy deleted."""
        remaining = tuple(
            policy
            for policy in self.policies
            if (policy["metadata"].get("namespace"), policy["metadata"]["name"]) != (namespace, name)
        )
        if len(remaining) == len(self.policies):
            raise KeyError(f"no NetworkPolicy {namespace}/{name}")
        return replace(self, policies=remaining)

    def decide(self, source: Endpoint, destination: Endpoint, port: int, protocol: str = "TCP") -> Decision:
        """Whether `source` may open a connection to `destination` on `port`/`protocol` (replies are implied)."""
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol {protocol!r}; allowed: {', '.join(PROTOCOLS)}")
        if not 1 <= port <= 65535:
            raise ValueError(f"port {port}; allowed: 1 to 65535")
        if isinstance(source, External) and isinstance(destination, External):
            raise ValueError(f"{source} -> {destination}: neither end is a pod, no NetworkPolicy applies")
        return Decision(
            egress=self._side(EGRESS, source, destination, port, protocol),
            ingress=self._side(INGRESS, source, destination, port, protocol),
        )

    def allows(self, source: Endpoint, destination: Endpoint, port: int, protocol: str = "TCP") -> bool:
        return self.decide(source, destination, port, protocol).allowed

    def _side(self, direction: str, source: Endpoint, destination: Endpoint, port: int, protocol: str) -> Side:
        """The verdict of the policies selecting the local pod (the source for egress, the destination for
        ingress) for that direction: admitted if any rule of any of them matches the remote end and the port."""
        local, remote = (source, destination) if direction == EGRESS else (destination, source)
        if not isinstance(local, Workload):
            return Side(isolating=(), admitting=())  # an address outside the cluster has no policies
        isolating: list[str] = []
        admitting: list[str] = []
        for policy in self.policies:
            spec = policy.get("spec") or {}
            namespace = policy["metadata"].get("namespace")
            if namespace != local.namespace or direction not in policy_types(spec):
                continue
            if not selector_matches(spec.get("podSelector") or {}, local.labels):
                continue
            name = policy["metadata"]["name"]
            isolating.append(name)
            rules = spec.get("egress" if direction == EGRESS else "ingress") or []
            peers_key = "to" if direction == EGRESS else "from"
            if any(
                self._peers_match(name, namespace, rule.get(peers_key), remote)
                and _ports_match(rule.get("ports"), destination, port, protocol)
                for rule in rules
            ):
                admitting.append(name)
        return Side(isolating=tuple(isolating), admitting=tuple(admitting))

    def _peers_match(
        self, policy: str, namespace: str, peers: Sequence[Mapping[str, Any]] | None, endpoint: Endpoint
    ) -> bool:
        """A rule's `from`/`to`: absent or empty means every peer, in and outside the cluster."""
        return not peers or any(self._peer_matches(policy, namespace, peer, endpoint) for peer in peers)

    def _peer_matches(self, policy: str, namespace: str, peer: Mapping[str, Any], endpoint: Endpoint) -> bool:
        """One NetworkPolicyPeer (the concepts page, "behavior of to and from selectors"):
        - podSelector alone: those pods of the policy's own namespace;
        - namespaceSelector alone: every pod of the namespaces it selects;
        - both in one peer: those pods, in those namespaces (AND);
        - ipBlock (exclusive with the selectors): addresses in `cidr` and not in `except`."""
        block = peer.get("ipBlock")
        pods = peer.get("podSelector")
        namespaces = peer.get("namespaceSelector")
        if block is not None:
            if pods is not None or namespaces is not None:
                raise ValueError(f"NetworkPolicy {policy}: a peer with ipBlock may have no selector, got {dict(peer)}")
            return isinstance(endpoint, External) and _block_contains(block, endpoint.network)
        if pods is None and namespaces is None:
            raise ValueError(
                f"NetworkPolicy {policy}: an empty peer {{}}; give podSelector, namespaceSelector or ipBlock"
            )
        if not isinstance(endpoint, Workload):
            return False
        if namespaces is None:
            in_namespace = endpoint.namespace == namespace
        else:
            in_namespace = selector_matches(namespaces, self.labels_of_namespace(endpoint.namespace))
        return in_namespace and (pods is None or selector_matches(pods, endpoint.labels))


def _declared_ports(containers: Iterable[Mapping[str, Any]]) -> tuple[ContainerPort, ...]:
    return tuple(
        ContainerPort(str(port["name"]), int(port["containerPort"]), str(port.get("protocol", "TCP")))
        for container in containers
        for port in container.get("ports") or []
        if port.get("name")
    )


# CloudNativePG makes its pods itself: instance pods carry the Cluster's inheritedMetadata labels plus
# the operator's own (cnpg.io/cluster, cnpg.io/podRole: instance), pooler pods the Pooler's template
# labels plus cnpg.io/poolerName and cnpg.io/podRole: pooler, each with ports of the operator's own
# naming (cloudnative-pg.io/documentation, "Labels and annotations", "Monitoring", "Connection pooling").
CLOUDNATIVE_PG_INSTANCE_PORTS: Final = (
    ContainerPort("postgresql", 5432),
    ContainerPort("status", 8000),
    ContainerPort("metrics", 9187),
)
CLOUDNATIVE_PG_POOLER_PORTS: Final = (ContainerPort("pgbouncer", 5432), ContainerPort("metrics", 9127))


def workloads(documents: Iterable[Mapping[str, Any]]) -> list[Workload]:
    """Every set of pods the render makes: each pod-bearing object's template (kube/objects.py), and the
    pods CloudNativePG makes for a Cluster (instances) and a Pooler (PgBouncer)."""
    found: list[Workload] = []
    for document in documents:
        kind = str(document.get("kind", ""))
        namespace = str(dig(document, ("metadata", "namespace")) or "")
        name = str(dig(document, ("metadata", "name")) or "")
        metadata = pod_metadata_of(document)
        if metadata is not None:
            labels = dict(metadata.get("labels") or {})
            found.append(Workload(kind, namespace, name, labels, _declared_ports(containers_of(document))))
        elif kind == "Cluster" and str(document.get("apiVersion", "")).startswith("postgresql.cnpg.io/"):
            labels = {
                **(dig(document, ("spec", "inheritedMetadata", "labels")) or {}),
                "cnpg.io/cluster": name,
                "cnpg.io/podRole": "instance",
            }
            found.append(Workload(kind, namespace, name, labels, CLOUDNATIVE_PG_INSTANCE_PORTS))
        elif kind == "Pooler" and str(document.get("apiVersion", "")).startswith("postgresql.cnpg.io/"):
            labels = {
                **(dig(document, ("spec", "template", "metadata", "labels")) or {}),
                "cnpg.io/poolerName": name,
                "cnpg.io/podRole": "pooler",
            }
            found.append(Workload(kind, namespace, name, labels, CLOUDNATIVE_PG_POOLER_PORTS))
    return found
