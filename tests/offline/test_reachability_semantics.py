"""offline/reachability.py against Kubernetes' own account of NetworkPolicy.

Each documented example is written out here as a fixture, with the outcome the documentation
states for it:
- the concepts page, https://kubernetes.io/docs/concepts/services-networking/network-policies/
  (test-network-policy with ipBlock/except, namespaceSelector and podSelector together or apart,
  the default deny / allow-all policies, endPort, a namespace targeted by its name);
- the task page, https://kubernetes.io/docs/tasks/administer-cluster/declare-network-policy/
  (access-nginx: only pods labelled access=true reach nginx);
- the API reference (policyTypes defaulting, empty `from`/`to`/`ports`, named ports, selectors).
"""

from __future__ import annotations

from typing import Any

import pytest

from offline.reachability import ContainerPort, External, Network, Workload, policy_types, selector_matches, workloads


def policy(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def pod(namespace: str, name: str, ports: tuple[ContainerPort, ...] = (), **labels: str) -> Workload:
    return Workload("Pod", namespace, name, labels, ports)


def network(*documents: dict[str, Any]) -> Network:
    return Network.from_documents(documents)


# --- test-network-policy: the concepts page's first example --------------------------------

TEST_NETWORK_POLICY = policy(
    "test-network-policy",
    "default",
    {
        "podSelector": {"matchLabels": {"role": "db"}},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [
            {
                "from": [
                    {"ipBlock": {"cidr": "172.17.0.0/16", "except": ["172.17.1.0/24"]}},
                    {"namespaceSelector": {"matchLabels": {"project": "myproject"}}},
                    {"podSelector": {"matchLabels": {"role": "frontend"}}},
                ],
                "ports": [{"protocol": "TCP", "port": 6379}],
            }
        ],
        "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/24"}}], "ports": [{"protocol": "TCP", "port": 5978}]}],
    },
)
EXAMPLE = network(
    TEST_NETWORK_POLICY,
    namespace("default"),
    namespace("myproject", project="myproject"),
    namespace("elsewhere", project="other"),
)
DB = pod("default", "db", role="db")


@pytest.mark.parametrize(
    ("source", "allowed"),
    [
        # "any pod in the default namespace with the label role=frontend"
        (pod("default", "frontend", role="frontend"), True),
        (pod("default", "unlabelled"), False),
        # the podSelector peer is the policy's own namespace: a frontend elsewhere is not let in
        (pod("elsewhere", "frontend", role="frontend"), False),
        # "any pod in a namespace with the label project=myproject"
        (pod("myproject", "anything", app="any"), True),
        # "IP addresses in the ranges 172.17.0.0–172.17.0.255 and 172.17.2.0–172.17.255.255"
        (External.at("172.17.0.0"), True),
        (External.at("172.17.0.255"), True),
        (External.at("172.17.1.0"), False),
        (External.at("172.17.1.255"), False),
        (External.at("172.17.2.0"), True),
        (External.at("172.17.255.255"), True),
        (External.at("172.18.0.1"), False),
        # a range is let in only if every address of it is
        (External.at("172.17.2.0/24"), True),
        (External.at("172.17.0.0/23"), False),
    ],
    ids=str,
)
def test_test_network_policy_ingress_sources(source: Workload | External, allowed: bool) -> None:
    """role=db pods accept TCP 6379 from exactly the three documented sources."""
    assert EXAMPLE.allows(source, DB, 6379) is allowed


def test_test_network_policy_ingress_is_one_port_and_one_protocol() -> None:
    """The documented port is TCP 6379: another port, or UDP on 6379, is refused even to a listed source."""
    frontend = pod("default", "frontend", role="frontend")
    assert EXAMPLE.allows(frontend, DB, 6379, "TCP")
    assert not EXAMPLE.allows(frontend, DB, 6380, "TCP")
    assert not EXAMPLE.allows(frontend, DB, 6379, "UDP")


@pytest.mark.parametrize(
    ("destination", "port", "allowed"),
    [
        (External.at("10.0.0.7"), 5978, True),  # "to CIDR 10.0.0.0/24 on TCP port 5978"
        (External.at("10.0.0.7"), 5979, False),
        (External.at("10.0.1.7"), 5978, False),
        (External.at("10.0.0.128/25"), 5978, True),
        (External.at("10.0.0.0/23"), 5978, False),  # half of it lies outside 10.0.0.0/24
        (pod("default", "frontend", role="frontend"), 5978, False),  # isolated for egress: pods too
    ],
    ids=str,
)
def test_test_network_policy_egress(destination: Workload | External, port: int, allowed: bool) -> None:
    """role=db pods may connect to 10.0.0.0/24 on TCP 5978 and nowhere else."""
    assert EXAMPLE.allows(DB, destination, port) is allowed


def test_test_network_policy_leaves_other_pods_alone() -> None:
    """Only role=db pods are isolated: a frontend still sends and receives anything (it is not selected)."""
    frontend = pod("default", "frontend", role="frontend")
    assert EXAMPLE.allows(frontend, External.at("8.8.8.8"), 53, "UDP")
    assert EXAMPLE.allows(pod("elsewhere", "client"), frontend, 8080)
    decision = EXAMPLE.decide(frontend, DB, 6379)
    assert decision.egress.isolating == ()
    assert decision.ingress.admitting == ("test-network-policy",)


# --- namespaceSelector and podSelector: one peer (AND) or two peers (OR) -------------------

NAMESPACES = (namespace("default"), namespace("alice-ns", user="alice"), namespace("bob-ns", user="bob"))
SERVER = pod("default", "server", app="server")


def client_policy(peers: list[dict[str, Any]]) -> dict[str, Any]:
    return policy(
        "clients", "default", {"podSelector": {"matchLabels": {"app": "server"}}, "ingress": [{"from": peers}]}
    )


AND_POLICY = client_policy(
    [{"namespaceSelector": {"matchLabels": {"user": "alice"}}, "podSelector": {"matchLabels": {"role": "client"}}}]
)
OR_POLICY = client_policy(
    [{"namespaceSelector": {"matchLabels": {"user": "alice"}}}, {"podSelector": {"matchLabels": {"role": "client"}}}]
)


@pytest.mark.parametrize(
    ("source", "allowed_by_and", "allowed_by_or"),
    [
        # "Pods with the label role=client in namespaces with the label user=alice"
        (pod("alice-ns", "client", role="client"), True, True),
        # "from Pods in the local Namespace with the label role=client": OR only
        (pod("default", "client", role="client"), False, True),
        # "or from any Pod in any namespace with the label user=alice": OR only
        (pod("alice-ns", "other", role="other"), False, True),
        (pod("bob-ns", "client", role="client"), False, False),
    ],
    ids=str,
)
def test_one_peer_with_both_selectors_is_and_two_peers_are_or(
    source: Workload, allowed_by_and: bool, allowed_by_or: bool
) -> None:
    """The concepts page's two `from` spellings: one element selects pods within namespaces, two add up."""
    assert network(AND_POLICY, *NAMESPACES).allows(source, SERVER, 80) is allowed_by_and
    assert network(OR_POLICY, *NAMESPACES).allows(source, SERVER, 80) is allowed_by_or


def test_a_namespace_is_targeted_by_its_name_label_even_outside_the_render() -> None:
    """The API server sets kubernetes.io/metadata.name on every namespace: a namespace the render does not
    declare (kube-system) still matches it, and only it; extra labels can be supplied for such namespaces."""
    by_name = client_policy([{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}])
    dns = Workload("Deployment", "kube-system", "coredns", {"k8s-app": "kube-dns"})
    assert network(by_name).allows(dns, SERVER, 80)
    assert not network(by_name).allows(pod("kube-public", "x"), SERVER, 80)
    by_label = client_policy([{"namespaceSelector": {"matchLabels": {"tier": "system"}}}])
    assert not network(by_label).allows(dns, SERVER, 80)
    with_labels = Network.from_documents([by_label], extra_namespace_labels={"kube-system": {"tier": "system"}})
    assert with_labels.allows(dns, SERVER, 80)
    assert with_labels.labels_of_namespace("kube-system") == {
        "tier": "system",
        "kubernetes.io/metadata.name": "kube-system",
    }


# --- default policies -------------------------------------------------------------------------

DEFAULT_DENY_INGRESS = policy("default-deny-ingress", "default", {"podSelector": {}, "policyTypes": ["Ingress"]})
ALLOW_ALL_INGRESS = policy(
    "allow-all-ingress", "default", {"podSelector": {}, "ingress": [{}], "policyTypes": ["Ingress"]}
)
DEFAULT_DENY_EGRESS = policy("default-deny-egress", "default", {"podSelector": {}, "policyTypes": ["Egress"]})
ALLOW_ALL_EGRESS = policy("allow-all-egress", "default", {"podSelector": {}, "egress": [{}], "policyTypes": ["Egress"]})
DEFAULT_DENY_ALL = policy("default-deny-all", "default", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
ALLOW_EGRESS_DENY_INGRESS = policy(
    "allow-egress-deny-ingress",
    "default",
    {"podSelector": {}, "policyTypes": ["Egress", "Ingress"], "egress": [{}], "ingress": []},
)
INSIDE = pod("default", "inside", app="inside")
NEIGHBOUR = pod("default", "neighbour", app="neighbour")
OUTSIDE = pod("other", "outside", app="outside")
INTERNET = External.at("93.184.216.34")


@pytest.mark.parametrize(
    ("policies", "ingress_allowed", "egress_allowed"),
    [
        # "By default, if no policies exist in a namespace, then all ingress and egress traffic is allowed"
        ((), True, True),
        # default deny ingress: "does not change the default egress isolation behavior"
        ((DEFAULT_DENY_INGRESS,), False, True),
        # allow all ingress, "even if policies are added that cause some pods to be treated as isolated"
        ((DEFAULT_DENY_INGRESS, ALLOW_ALL_INGRESS), True, True),
        # default deny egress: "does not change the default ingress isolation behavior"
        ((DEFAULT_DENY_EGRESS,), True, False),
        ((DEFAULT_DENY_EGRESS, ALLOW_ALL_EGRESS), True, True),
        # default deny all: "not be allowed ingress or egress traffic"
        ((DEFAULT_DENY_ALL,), False, False),
        ((DEFAULT_DENY_ALL, ALLOW_ALL_INGRESS, ALLOW_ALL_EGRESS), True, True),
        ((ALLOW_EGRESS_DENY_INGRESS,), False, True),
    ],
    ids=lambda value: "+".join(item["metadata"]["name"] for item in value) if isinstance(value, tuple) else str(value),
)
def test_default_policies(policies: tuple[dict[str, Any], ...], ingress_allowed: bool, egress_allowed: bool) -> None:
    """The concepts page's default policies, for pods of the namespace, another namespace and the Internet."""
    net = network(*policies)
    for other in (NEIGHBOUR, OUTSIDE, INTERNET):
        assert net.decide(other, INSIDE, 8080).ingress.allowed is ingress_allowed, other
        assert net.decide(INSIDE, other, 443).egress.allowed is egress_allowed, other
    # End to end, where the other end is governed by nothing (another namespace, the Internet).
    for other in (OUTSIDE, INTERNET):
        assert net.allows(other, INSIDE, 8080) is ingress_allowed, other
        assert net.allows(INSIDE, other, 443) is egress_allowed, other
    # A pod of another namespace is governed by its own namespace's policies only.
    assert net.allows(OUTSIDE, INTERNET, 443)


# --- endPort ----------------------------------------------------------------------------------

MULTI_PORT_EGRESS = policy(
    "multi-port-egress",
    "default",
    {
        "podSelector": {"matchLabels": {"role": "db"}},
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": [{"ipBlock": {"cidr": "10.0.0.0/24"}}],
                "ports": [{"protocol": "TCP", "port": 32000, "endPort": 32768}],
            }
        ],
    },
)


@pytest.mark.parametrize(
    ("port", "protocol", "allowed"),
    [(31999, "TCP", False), (32000, "TCP", True), (32500, "TCP", True), (32768, "TCP", True), (32769, "TCP", False),
     (32000, "UDP", False)],
)  # fmt: skip
def test_end_port_opens_the_range_inclusive(port: int, protocol: str, allowed: bool) -> None:
    """multi-port-egress: "any IP within the range 10.0.0.0/24 if the target port is between 32000 and 32768"."""
    assert network(MULTI_PORT_EGRESS).allows(DB, External.at("10.0.0.9"), port, protocol) is allowed


def test_end_port_needs_a_numeric_port_at_or_below_it() -> None:
    """ "endPort must be equal to or greater than port", and "the port field must be numeric"."""
    for bad in ({"port": 100, "endPort": 99}, {"port": "http", "endPort": 99}, {"endPort": 99}):
        broken = policy("broken", "default", {"podSelector": {}, "ingress": [{"ports": [bad]}]})
        with pytest.raises(ValueError, match="endPort"):
            network(broken).allows(NEIGHBOUR, INSIDE, 99)


# --- the "Declare Network Policy" task --------------------------------------------------------

ACCESS_NGINX = policy(
    "access-nginx",
    "default",
    # No policyTypes and no ports: Ingress only, every port.
    {
        "podSelector": {"matchLabels": {"app": "nginx"}},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"access": "true"}}}]}],
    },
)
NGINX = pod("default", "nginx", app="nginx")


def test_declare_network_policy_task() -> None:
    """busybox reaches nginx before access-nginx; after it, only a busybox labelled access=true does."""
    busybox = pod("default", "busybox", run="busybox")
    labelled_busybox = pod("default", "busybox", run="busybox", access="true")
    assert network().allows(busybox, NGINX, 80)
    assert not network(ACCESS_NGINX).allows(busybox, NGINX, 80)  # "wget: download timed out"
    assert network(ACCESS_NGINX).allows(labelled_busybox, NGINX, 80)  # "remote file exists"
    assert network(ACCESS_NGINX).allows(labelled_busybox, NGINX, 8080)  # no `ports`: every port
    assert network(ACCESS_NGINX).allows(NGINX, busybox, 80)  # nginx's egress is not isolated


# --- policyTypes defaults, empty lists, named ports, selectors --------------------------------


@pytest.mark.parametrize(
    ("spec", "types"),
    [
        ({"podSelector": {}}, ("Ingress",)),
        ({"podSelector": {}, "ingress": [{}]}, ("Ingress",)),
        ({"podSelector": {}, "egress": [{}]}, ("Ingress", "Egress")),
        # An empty egress list is no egress rule (len(spec.Egress) != 0 in the API server's defaulting).
        ({"podSelector": {}, "egress": []}, ("Ingress",)),
        ({"podSelector": {}, "policyTypes": [], "egress": [{}]}, ("Ingress", "Egress")),
        ({"podSelector": {}, "policyTypes": ["Egress"], "ingress": [{}]}, ("Egress",)),
    ],
    ids=str,
)
def test_policy_types_default_as_the_api_server_sets_them(spec: dict[str, Any], types: tuple[str, ...]) -> None:
    """ "Ingress will always be set and Egress will be set if the NetworkPolicy has any egress rules"."""
    assert policy_types(spec) == types


def test_omitted_policy_types_isolate_egress_only_with_egress_rules() -> None:
    """A policy with egress rules and no policyTypes isolates egress too: traffic its rule does not list is refused."""
    egress_rules = policy(
        "egress-rules",
        "default",
        {"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]},
    )
    assert network(egress_rules).allows(INSIDE, External.at("10.1.2.3"), 443)
    assert not network(egress_rules).allows(INSIDE, INTERNET, 443)
    assert not network(egress_rules).allows(NEIGHBOUR, INSIDE, 443)  # and ingress, with no ingress rule
    no_rules = policy("no-rules", "default", {"podSelector": {}, "egress": []})
    assert network(no_rules).allows(INSIDE, INTERNET, 443)


def test_empty_peers_and_ports_mean_everything() -> None:
    """A rule without `from` (or with `from: []`) admits every source; without `ports` (or `ports: []`) every port."""
    rules: tuple[dict[str, Any], ...] = ({"ports": [{"port": 443}]}, {"from": [], "ports": [{"port": 443}]})
    for rule in rules:
        net = network(policy("rule", "default", {"podSelector": {}, "ingress": [rule]}))
        assert net.allows(OUTSIDE, INSIDE, 443)
        assert net.allows(INTERNET, INSIDE, 443)
        assert not net.allows(OUTSIDE, INSIDE, 444)
    rules = ({"from": [{"podSelector": {}}]}, {"from": [{"podSelector": {}}], "ports": []})
    for rule in rules:
        net = network(policy("rule", "default", {"podSelector": {}, "ingress": [rule]}))
        assert net.allows(NEIGHBOUR, INSIDE, 1)
        assert net.allows(NEIGHBOUR, INSIDE, 65535, "UDP")
        assert not net.allows(OUTSIDE, INSIDE, 1)  # podSelector {} is every pod of the policy's namespace only


def test_a_port_without_a_number_is_every_port_of_its_protocol() -> None:
    """{protocol: UDP} with no port matches any UDP port and no TCP port."""
    net = network(policy("udp", "default", {"podSelector": {}, "ingress": [{"ports": [{"protocol": "UDP"}]}]}))
    assert net.allows(NEIGHBOUR, INSIDE, 5353, "UDP")
    assert not net.allows(NEIGHBOUR, INSIDE, 5353, "TCP")


WEB = pod("default", "web", (ContainerPort("http", 8080), ContainerPort("dns", 5353, "UDP")), app="web")


def test_a_named_port_resolves_against_the_destination_pod() -> None:
    """Ingress `port: http` is the destination's container port named http, with the rule's protocol."""
    net = network(policy("http", "default", {"podSelector": {}, "ingress": [{"ports": [{"port": "http"}]}]}))
    assert net.allows(NEIGHBOUR, WEB, 8080)
    assert not net.allows(NEIGHBOUR, WEB, 80)
    assert not net.allows(NEIGHBOUR, WEB, 5353, "UDP")  # named dns, not http
    assert not net.allows(WEB, NEIGHBOUR, 8080)  # NEIGHBOUR declares no port named http
    udp = network(policy("dns", "default", {"podSelector": {}, "ingress": [{"ports": [{"port": "dns"}]}]}))
    assert not udp.allows(NEIGHBOUR, WEB, 5353, "UDP")  # the rule's protocol defaults to TCP


def test_an_egress_named_port_is_the_callee_s_and_never_an_address_s() -> None:
    """Egress `port: http` resolves against the pod called, not the caller; an address has no named ports."""
    net = network(
        policy(
            "http-out",
            "default",
            {"podSelector": {"matchLabels": {"app": "neighbour"}}, "egress": [{"ports": [{"port": "http"}]}]},
        )
    )
    assert net.allows(NEIGHBOUR, WEB, 8080)
    assert not net.allows(NEIGHBOUR, INSIDE, 8080)
    assert not net.allows(NEIGHBOUR, External.at("10.0.0.1"), 8080)


@pytest.mark.parametrize(
    ("expression", "labels", "matches"),
    [
        ({"key": "tier", "operator": "In", "values": ["web", "api"]}, {"tier": "api"}, True),
        ({"key": "tier", "operator": "In", "values": ["web", "api"]}, {"tier": "db"}, False),
        ({"key": "tier", "operator": "In", "values": ["web"]}, {}, False),
        ({"key": "tier", "operator": "NotIn", "values": ["db"]}, {"tier": "web"}, True),
        ({"key": "tier", "operator": "NotIn", "values": ["db"]}, {"tier": "db"}, False),
        ({"key": "tier", "operator": "NotIn", "values": ["db"]}, {}, True),  # absent key: not in
        ({"key": "tier", "operator": "Exists"}, {"tier": ""}, True),
        ({"key": "tier", "operator": "Exists"}, {"other": "x"}, False),
        ({"key": "tier", "operator": "DoesNotExist"}, {"other": "x"}, True),
        ({"key": "tier", "operator": "DoesNotExist"}, {"tier": "web"}, False),
    ],
    ids=str,
)
def test_match_expressions(expression: dict[str, Any], labels: dict[str, str], matches: bool) -> None:
    """In, NotIn, Exists and DoesNotExist as apimachinery's label selectors evaluate them."""
    assert selector_matches({"matchExpressions": [expression]}, labels) is matches


def test_match_labels_and_expressions_must_all_hold() -> None:
    """A selector's requirements are ANDed; the empty selector selects everything."""
    selector = {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "Exists"}]}
    assert selector_matches(selector, {"app": "web", "tier": "x"})
    assert not selector_matches(selector, {"app": "web"})
    assert not selector_matches(selector, {"app": "api", "tier": "x"})
    assert selector_matches({}, {})
    narrowed = policy(
        "narrowed",
        "default",
        {
            "podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["inside"]}]},
            "policyTypes": ["Ingress"],
        },
    )
    assert not network(narrowed).allows(NEIGHBOUR, INSIDE, 80)
    assert network(narrowed).allows(INSIDE, NEIGHBOUR, 80)  # neighbour not selected


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["b"]}]}, "operator 'Equals'"),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}, "needs values"),
        ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["b"]}]}, "takes no values"),
    ],
)
def test_a_malformed_selector_is_refused(selector: dict[str, Any], message: str) -> None:
    """What the API server would reject is an error, not a silent match or miss."""
    with pytest.raises(ValueError, match=message):
        selector_matches(selector, {"a": "b"})


@pytest.mark.parametrize(
    "peer",
    [
        {"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}},
        {"ipBlock": {"cidr": "10.0.0.0/8"}, "namespaceSelector": {}},
        {},
    ],
    ids=str,
)
def test_a_malformed_peer_is_refused(peer: dict[str, Any]) -> None:
    """ipBlock excludes the selectors, and a peer must name something (API validation)."""
    broken = policy("broken", "default", {"podSelector": {}, "ingress": [{"from": [peer]}]})
    with pytest.raises(ValueError, match="NetworkPolicy broken"):
        network(broken).allows(NEIGHBOUR, INSIDE, 80)


def test_a_connection_needs_a_pod_a_known_protocol_and_a_valid_port() -> None:
    with pytest.raises(ValueError, match="neither end is a pod"):
        network().decide(INTERNET, External.at("10.0.0.1"), 443)
    with pytest.raises(ValueError, match="protocol 'ICMP'"):
        network().decide(INSIDE, INTERNET, 443, "ICMP")
    with pytest.raises(ValueError, match="port 0"):
        network().decide(INSIDE, INTERNET, 0)


def test_both_ends_must_allow() -> None:
    """ "both the egress policy on the source pod and the ingress policy on the destination pod need to allow"."""
    egress_only = policy(
        "out", "default", {"podSelector": {"matchLabels": {"app": "inside"}}, "egress": [{"to": [{"podSelector": {}}]}]}
    )
    deny_neighbour = policy(
        "in", "default", {"podSelector": {"matchLabels": {"app": "neighbour"}}, "policyTypes": ["Ingress"]}
    )
    decision = network(egress_only, deny_neighbour).decide(INSIDE, NEIGHBOUR, 80)
    assert decision.egress.allowed and not decision.ingress.allowed and not decision.allowed
    assert decision.ingress.isolating == ("in",) and decision.ingress.admitting == ()
    assert str(decision) == (
        "denied (egress: isolated by out; admitted by out; ingress: isolated by in; admitted by nothing)"
    )


def test_without_removes_exactly_one_policy() -> None:
    net = network(DEFAULT_DENY_INGRESS, ALLOW_ALL_INGRESS)
    assert not net.without("default", "allow-all-ingress").allows(NEIGHBOUR, INSIDE, 80)
    with pytest.raises(KeyError, match="default/absent"):
        net.without("default", "absent")


# --- reading workloads from a render ---------------------------------------------------------


def test_workloads_are_read_from_pod_templates_and_cloudnative_pg_resources() -> None:
    """A CronJob's pod labels and named ports; a Cluster's pods carry inheritedMetadata's labels and the operator's
    cnpg.io ones, a Pooler's its template's and the operator's; objects that run no pods are skipped."""
    documents = [
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "backup", "namespace": "app", "labels": {"object": "label"}},
            "spec": {
                "jobTemplate": {
                    "spec": {
                        "template": {
                            "metadata": {"labels": {"role": "backup"}},
                            "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 80}]}]},
                        }
                    }
                }
            },
        },
        {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "Cluster",
            "metadata": {"name": "db", "namespace": "app"},
            "spec": {"inheritedMetadata": {"labels": {"role": "postgres"}}},
        },
        {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "Pooler",
            "metadata": {"name": "db-pooler", "namespace": "app"},
            "spec": {"template": {"metadata": {"labels": {"role": "postgres"}}}},
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "app"}},
    ]
    backup, cluster, pooler = workloads(documents)
    assert backup == Workload("CronJob", "app", "backup", {"role": "backup"}, (ContainerPort("http", 80),))
    assert (cluster.kind, cluster.labels["role"], cluster.labels["cnpg.io/cluster"]) == ("Cluster", "postgres", "db")
    assert cluster.labels["cnpg.io/podRole"] == "instance"
    assert ContainerPort("postgresql", 5432) in cluster.ports
    assert (pooler.kind, pooler.labels) == (
        "Pooler",
        {"role": "postgres", "cnpg.io/poolerName": "db-pooler", "cnpg.io/podRole": "pooler"},
    )
