"""The Redis roles' exact configuration and scripts, run by a real redis-server (and redis-sentinel).

Each server starts through the production start script (`start-redis.sh`) with the role's
exact redis.conf from components/redis_config.py. Only what must differ on a test machine is
substituted, line for line: the port (a free one), `bind` (loopback only), `dir` (a
temporary directory) and the path of the include the script writes the password to.

What the broker's `appendfsync everysec` guarantees, and what the tests assert:
- The server process dies (kill -9, OOM kill, container restart) while the node stays up:
  a write is lost only if it had not reached the kernel. Redis writes the append-only
  buffer to the file before it answers, except when the previous second's fsync is still
  running (a slow disk): then it may hold the write back for up to 2 s. So every write
  acknowledged more than 2 s before the kill survives, and every write that had reached the
  kernel (INFO `aof_buffer_length:0`) survives; the tests assert exactly these two.
- The node loses power: up to about the last second (2 s when fsync lags) of acknowledged
  writes may be lost. kill -9 cannot show that, so no test claims otherwise.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from components.data import redis_config
from components.data.redis_config import RedisRole
from tests.support.tools import require_tool, unavailable

PASSWORD = "testPassw0rdForRedisRealServer"
MASTER_SET = "crm-redis-broker"


def _tool(name: str) -> str:
    return require_tool(name, package="redis-server")


@pytest.fixture(scope="module")
def redis_server() -> str:
    """The redis-server binary (and redis-cli next to it), which CI must have."""
    _tool("redis-cli")
    return _tool("redis-server")


def free_port() -> int:
    """A TCP port free on every address (the failover test binds it on three loopback addresses)."""
    with socket.socket() as probe:
        probe.bind(("", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class ErrorReply:
    message: str


Reply = Any
"""str (simple or bulk string), int, None, list of replies, or ErrorReply."""


class Client:
    """A minimal RESP2 client: one command, one reply, no pipelining (each reply is an acknowledgement)."""

    def __init__(self, port: int, host: str = "127.0.0.1", password: str | None = PASSWORD) -> None:
        self._socket = socket.create_connection((host, port), timeout=10)
        self._reader = self._socket.makefile("rb")
        if password is not None:
            assert self.call("AUTH", password) == "OK"

    def call(self, *arguments: str | int | bytes) -> Reply:
        encoded = [argument if isinstance(argument, bytes) else str(argument).encode() for argument in arguments]
        request = b"*%d\r\n" % len(encoded) + b"".join(b"$%d\r\n%s\r\n" % (len(part), part) for part in encoded)
        self._socket.sendall(request)
        return self._read()

    def _read(self) -> Reply:
        line = self._reader.readline()
        if not line:
            raise ConnectionError("the server closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return ErrorReply(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            length = int(rest)
            return None if length < 0 else self._reader.read(length + 2)[:-2].decode()
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self._read() for _ in range(count)]
        raise ValueError(f"not a RESP reply: {line!r}")

    def info(self, section: str) -> dict[str, str]:
        text = self.call("INFO", section)
        assert isinstance(text, str), text
        return dict(line.split(":", 1) for line in text.splitlines() if ":" in line and not line.startswith("#"))

    def close(self) -> None:
        self._reader.close()
        self._socket.close()


def for_this_machine(text: str, replacements: dict[str, str]) -> str:
    """`text` with each whole line in `replacements` swapped; each must occur exactly once."""
    lines = text.splitlines()
    for old, new in replacements.items():
        assert lines.count(old) == 1, f"expected one line {old!r} in the configuration"
        lines[lines.index(old)] = new
    return "\n".join(lines) + "\n"


@dataclass
class Node:
    """One pod's worth of Redis on this machine: its directories, address and processes."""

    root: Path
    host: str
    port: int
    sentinel_port: int
    peers: Sequence[str] = ()
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def prepare(self, role: RedisRole, memory_limit: str) -> None:
        for directory in ("config", "data", "runtime", "sentinel"):
            (self.root / directory).mkdir(parents=True, exist_ok=True)
        conf = redis_config.redis_conf(role, memory_limit, replicated=bool(self.peers))
        (self.config_dir / "redis.conf").write_text(
            for_this_machine(
                conf,
                {
                    f"port {redis_config.REDIS_PORT}": f"port {self.port}",
                    "bind * -::*": f"bind {self.host}",
                    f"dir {redis_config.DATA_DIR}": f"dir {self.data_dir}",
                    f"include {redis_config.RUNTIME_CONFIG}": f"include {self.root / 'runtime' / 'runtime.conf'}",
                },
            )
        )
        if self.peers:
            sentinel = redis_config.sentinel_conf(MASTER_SET)
            monitor = f"sentinel monitor {MASTER_SET} {redis_config.MASTER_HOST_PLACEHOLDER}"
            (self.config_dir / "sentinel.conf").write_text(
                for_this_machine(
                    sentinel,
                    {
                        f"port {redis_config.SENTINEL_PORT}": f"port {self.sentinel_port}",
                        "bind * -::*": f"bind {self.host}",
                        f"dir {redis_config.SENTINEL_DIR}": f"dir {self.root / 'sentinel'}",
                        f"{monitor} {redis_config.REDIS_PORT} {redis_config.SENTINEL_QUORUM}": (
                            f"{monitor} {self.port} {redis_config.SENTINEL_QUORUM}"
                        ),
                    },
                )
            )
        for name, script in redis_config.scripts().items():
            (self.config_dir / name).write_text(script)

    def environment(self) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            redis_config.PASSWORD_VARIABLE: PASSWORD,
            "REDIS_CONFIG_DIR": str(self.config_dir),
            "REDIS_RUNTIME_DIR": str(self.root / "runtime"),
            "REDIS_SENTINEL_DIR": str(self.root / "sentinel"),
            "REDIS_SERVER_PORT": str(self.port),
            "REDIS_SENTINEL_PORT": str(self.sentinel_port),
        }
        if self.peers:
            env.update({"REDIS_SELF": self.host, "REDIS_PEERS": " ".join(self.peers), "REDIS_MASTER_SET": MASTER_SET})
        return env

    def start(self, what: str = "redis") -> None:
        """Run start-<what>.sh, which becomes the server (exec), so the process is the server itself."""
        log = (self.root / f"{what}.log").open("ab")
        self.processes[what] = subprocess.Popen(
            ["bash", str(self.config_dir / f"start-{what}.sh")],
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.wait_until_answering(self.port if what == "redis" else self.sentinel_port, what)

    def wait_until_answering(self, port: int, what: str) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.processes[what].poll() is not None:
                pytest.fail(f"{what} exited: {(self.root / f'{what}.log').read_text(errors='replace')}")
            try:
                client = Client(port, self.host)
            except OSError:
                time.sleep(0.05)
                continue
            reply = client.call("PING")
            client.close()
            if reply == "PONG":
                return
            time.sleep(0.05)
        pytest.fail(f"{what} on {self.host}:{port} did not answer within 30 s")

    def kill(self, what: str = "redis") -> None:
        process = self.processes.pop(what)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def client(self) -> Client:
        return Client(self.port, self.host)

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self.processes.clear()


@pytest.fixture
def node(redis_server: str, tmp_path: Path) -> Iterator[Node]:
    """A single server (dev, staging), stopped at the end."""
    single = Node(tmp_path / "node", "127.0.0.1", free_port(), free_port())
    yield single
    single.stop_all()


def test_every_write_that_reached_the_kernel_survives_kill_9(node: Node) -> None:
    """10,000 acknowledged INCR and LPUSH, written out (aof_buffer_length 0), all survive kill -9 and a restart."""
    node.prepare(RedisRole.BROKER, "256Mi")
    node.start()
    client = node.client()
    for number in range(1, 10_001):
        assert client.call("INCR", "counter") == number
        assert client.call("LPUSH", "queue", f"task-{number}") == number
    deadline = time.monotonic() + 3  # a held-back write reaches the kernel within 2 s
    while client.info("persistence")["aof_buffer_length"] != "0":
        assert time.monotonic() < deadline, "the AOF buffer was not written out within 3 s"
        time.sleep(0.01)
    client.close()
    node.kill()

    node.start()
    client = node.client()
    assert client.call("GET", "counter") == "10000"
    assert client.call("LRANGE", "queue", 0, -1) == [f"task-{number}" for number in range(10_000, 0, -1)]
    assert client.call("CONFIG", "GET", "appendfsync") == ["appendfsync", "everysec"]
    assert (node.data_dir / "appendonlydir").is_dir() and not (node.data_dir / "dump.rdb").exists()
    client.close()


def test_writes_acknowledged_two_seconds_before_kill_9_survive(node: Node) -> None:
    """Under continuous writes, a kill -9 loses no INCR acknowledged 2 s earlier, and invents none."""
    node.prepare(RedisRole.BROKER, "256Mi")
    node.start()
    client = node.client()
    acknowledged: list[tuple[float, int]] = []
    started = time.monotonic()
    while time.monotonic() - started < 3.5:
        value = client.call("INCR", "counter")
        acknowledged.append((time.monotonic(), value))
    # Killed right after an acknowledgement: no write is in flight.
    killed_at = time.monotonic()
    node.kill()
    client.close()

    node.start()
    client = node.client()
    survived = int(client.call("GET", "counter"))
    client.close()
    guaranteed = max(value for at, value in acknowledged if at <= killed_at - 2)
    assert guaranteed > 0
    assert guaranteed <= survived <= acknowledged[-1][1]


def test_the_cache_evicts_least_recently_used_keys_instead_of_refusing_writes(node: Node) -> None:
    """With the cache's config, writes past maxmemory all succeed and evict the keys unused the longest."""
    node.prepare(RedisRole.CACHE, "8Mi")
    node.start()
    client = node.client()
    maxmemory = redis_config.maxmemory_bytes(RedisRole.CACHE, "8Mi")
    assert client.call("CONFIG", "GET", "maxmemory") == ["maxmemory", str(maxmemory)]
    value = "x" * 1024
    for number in range(3000):
        assert client.call("SET", f"old-{number}", value) == "OK"
    time.sleep(2.1)  # Redis's LRU clock ticks once a second: make the old keys measurably older
    for number in range(3000):
        assert client.call("SET", f"new-{number}", value) == "OK"
    new = sum(client.call("EXISTS", f"new-{number}") for number in range(3000))
    old = sum(client.call("EXISTS", f"old-{number}") for number in range(3000))
    assert new == 3000 and old < 3000  # every evicted key was one of the old ones
    assert int(client.info("stats")["evicted_keys"]) >= 3000 - old
    # Redis evicts before each command, so between commands it may sit a few bytes over.
    assert int(client.info("memory")["used_memory"]) <= maxmemory * 1.01
    assert client.call("CONFIG", "GET", "save") == ["save", ""]
    assert client.call("CONFIG", "GET", "appendonly") == ["appendonly", "no"]
    client.close()
    assert list(node.data_dir.iterdir()) == []


def test_the_broker_refuses_writes_when_full_and_keeps_every_queued_task(node: Node) -> None:
    """With the broker's config, a full server answers OOM to writes, evicts nothing, and still drains."""
    node.prepare(RedisRole.BROKER, "8Mi")
    node.start()
    client = node.client()
    value = "t" * 1024
    pushed = 0
    while True:
        reply = client.call("LPUSH", "queue", value)
        if isinstance(reply, ErrorReply):
            break
        pushed += 1
        assert pushed < 20_000, "the broker never filled up"
    assert reply.message.startswith("OOM command not allowed when used memory > 'maxmemory'")
    assert pushed > 1000
    assert client.call("LLEN", "queue") == pushed
    assert client.info("stats")["evicted_keys"] == "0"
    for _ in range(500):  # the workers drain the queue
        assert client.call("RPOP", "queue") == value
    assert client.call("LPUSH", "queue", value) == pushed - 499
    client.close()


@pytest.fixture
def sentinel_set(redis_server: str, tmp_path: Path) -> Iterator[list[Node]]:
    """Three servers with Sentinels on 127.0.0.1-3 (one port each, as pods have one IP each), stopped at the end."""
    hosts = [f"127.0.0.{number}" for number in (1, 2, 3)]
    for host in hosts:
        try:
            with socket.socket() as probe:
                probe.bind((host, 0))
        except OSError:
            unavailable(f"cannot bind {host}: the failover test needs Linux's 127.0.0.0/8 loopback addresses")
    port, sentinel_port = free_port(), free_port()
    nodes = [Node(tmp_path / f"pod-{index}", host, port, sentinel_port, hosts) for index, host in enumerate(hosts)]
    yield nodes
    for pod in nodes:
        pod.stop_all()


def _master_per_sentinel(nodes: Sequence[Node]) -> list[str | None]:
    answers: list[str | None] = []
    for pod in nodes:
        if "sentinel" not in pod.processes:
            continue
        client = Client(pod.sentinel_port, pod.host)
        reply = client.call("SENTINEL", "get-master-addr-by-name", MASTER_SET)
        client.close()
        answers.append(reply[0] if isinstance(reply, list) else None)
    return answers


def _role(pod: Node) -> str:
    client = pod.client()
    reply = client.call("ROLE")
    client.close()
    assert isinstance(reply, list), reply
    return str(reply[0])


def _wait_for(condition: str, check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {condition}"
        time.sleep(0.2)


def _replicas_in_sync(master: Node) -> bool:
    """Both replicas online at the master's offset."""
    client = master.client()
    info = client.info("replication")
    client.close()
    offsets = [
        line.split("offset=")[1].split(",")[0]
        for key, line in info.items()
        if key.startswith("slave") and "state=online" in line
    ]
    return offsets == [info["master_repl_offset"]] * 2


def _failover_settled(nodes: Sequence[Node], master: str) -> bool:
    """Every Sentinel has switched to `master` and has no failover in progress."""
    for pod in nodes:
        client = Client(pod.sentinel_port, pod.host)
        reply = client.call("SENTINEL", "MASTER", MASTER_SET)
        client.close()
        state = dict(zip(reply[::2], reply[1::2], strict=True))
        if state["ip"] != master or state["flags"] != "master":
            return False
    return True


def _hand_over(pod: Node) -> subprocess.CompletedProcess[str]:
    """Run the preStop hook as the kubelet would."""
    return subprocess.run(
        ["bash", str(pod.config_dir / "hand-over.sh")],
        env=pod.environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_sentinels_fail_over_and_a_returning_master_asks_them_first(sentinel_set: list[Node]) -> None:
    """Pod 0 starts master; hand-over is lossless or declined; a killed master is replaced and returns as replica."""
    nodes = sentinel_set
    for pod in nodes:
        pod.prepare(RedisRole.BROKER, "64Mi")
    for pod in nodes:
        pod.start("redis")
        pod.start("sentinel")
    first = nodes[0].host
    assert [_role(pod) for pod in nodes] == ["master", "slave", "slave"]
    _wait_for("every Sentinel names pod 0", lambda: _master_per_sentinel(nodes) == [first] * 3, 15)
    _wait_for("both replicas are in sync", lambda: _replicas_in_sync(nodes[0]), 20)

    master = nodes[0].client()
    for number in range(1, 1001):
        assert master.call("INCR", "counter") == number
    master.close()

    # With a replica away, the hook declines (a Sentinel might promote a replica lacking data).
    nodes[2].kill("redis")
    declined = _hand_over(nodes[0])
    assert declined.returncode == 0 and "leaving the failover to the Sentinels" in declined.stderr
    master = nodes[0].client()
    assert _role(nodes[0]) == "master" and master.call("INCR", "counter") == 1001  # writes are unpaused
    master.close()
    nodes[2].start("redis")
    assert _role(nodes[2]) == "slave"
    _wait_for("both replicas are in sync again", lambda: _replicas_in_sync(nodes[0]), 20)

    # A planned stop: the preStop hook hands the master role over before the pod goes.
    handed = _hand_over(nodes[0])
    assert handed.returncode == 0 and "now a replica of" in handed.stderr, handed.stderr
    assert _role(nodes[0]) == "slave"
    [promoted] = [pod for pod in nodes if _role(pod) == "master"]
    client = promoted.client()
    assert client.call("GET", "counter") == "1001"
    client.close()
    _wait_for("the failover has ended everywhere", lambda: _failover_settled(nodes, promoted.host), 30)

    # An unplanned loss: kill -9 the master; the Sentinels promote another server.
    promoted.kill("redis")
    _wait_for(
        "the Sentinels promote another server",
        lambda: all(answer not in (None, promoted.host) for answer in _master_per_sentinel(nodes)),
        30,
    )
    [successor] = set(_master_per_sentinel(nodes))

    # The old master returns: asked first, the Sentinels make it a replica, not a second master.
    promoted.start("redis")
    assert _role(promoted) == "slave"
    client = promoted.client()
    assert client.call("ROLE")[1] == successor
    _wait_for("the returning server has synced", lambda: client.call("GET", "counter") == "1001", 20)
    client.close()
    assert [_role(pod) for pod in nodes].count("master") == 1


@pytest.mark.parametrize("role", list(RedisRole))
def test_a_replica_serves_the_masters_data_and_refuses_writes(sentinel_set: list[Node], role: RedisRole) -> None:
    """With a role's replicated config, a replica has the master's writes and answers a write of its own with
    READONLY, so no client can write where the next failover would lose it."""
    master, replica = sentinel_set[:2]
    for pod in (master, replica):
        pod.prepare(role, "64Mi")
        pod.start("redis")
    assert [_role(master), _role(replica)] == ["master", "slave"]
    writer = master.client()
    assert writer.call("SET", "owner", "written-on-the-master") == "OK"
    writer.close()
    reader = replica.client()
    _wait_for("the replica has the master's write", lambda: reader.call("GET", "owner") == "written-on-the-master", 20)
    refused = reader.call("SET", "owner", "written-on-the-replica")
    assert isinstance(refused, ErrorReply) and refused.message.startswith("READONLY"), refused
    assert isinstance(reader.call("LPUSH", "queue", "task"), ErrorReply)
    assert reader.call("GET", "owner") == "written-on-the-master"
    assert reader.call("EXISTS", "queue") == 0
    reader.close()


def _sentinel_view(pod: Node) -> dict[str, str]:
    """What the Sentinel of `pod` knows of the master set (SENTINEL MASTER, as a mapping)."""
    client = Client(pod.sentinel_port, pod.host)
    reply = client.call("SENTINEL", "MASTER", MASTER_SET)
    client.close()
    assert isinstance(reply, list), reply
    return dict(zip(reply[::2], reply[1::2], strict=True))


def test_one_sentinel_alone_cannot_fail_the_master_over(sentinel_set: list[Node]) -> None:
    """With the declared quorum, one Sentinel that finds the master down (s_down) does not make it
    objectively down (o_down), and no failover happens: the master keeps its role and the epoch stays."""
    nodes = sentinel_set
    for pod in nodes:
        pod.prepare(RedisRole.BROKER, "64Mi")
    for pod in nodes:
        pod.start("redis")
        pod.start("sentinel")
    first = nodes[0].host

    def settled() -> bool:
        views = [_sentinel_view(pod) for pod in nodes]
        return all(view["ip"] == first and view["num-other-sentinels"] == "2" for view in views)

    _wait_for("every Sentinel names pod 0 and knows the other two", settled, 30)
    _wait_for("both replicas are in sync", lambda: _replicas_in_sync(nodes[0]), 20)
    epochs = [_sentinel_view(pod)["config-epoch"] for pod in nodes]

    # One hasty Sentinel: it finds the master down after 200 ms without an answer; the other two keep the
    # declared down-after-milliseconds, longer than the silence below.
    hasty = nodes[2]
    client = Client(hasty.sentinel_port, hasty.host)
    assert client.call("SENTINEL", "SET", MASTER_SET, "down-after-milliseconds", "200") == "OK"
    client.close()
    silence_ms = redis_config.DOWN_AFTER_MILLISECONDS * 3 // 5
    master = nodes[0].client()
    assert master.call("CLIENT", "PAUSE", silence_ms, "ALL") == "OK"  # it answers nobody, Sentinels included
    master.close()
    flags: set[str] = set()
    silent_until = time.monotonic() + silence_ms / 1000
    while time.monotonic() < silent_until + 3:  # and a while after, for a failover under way to show
        flags.update(_sentinel_view(hasty)["flags"].split(","))
        time.sleep(0.1)

    assert "s_down" in flags, f"the hasty Sentinel never found the master down: {flags}"
    assert "o_down" not in flags and "failover_in_progress" not in flags, flags
    assert [_role(pod) for pod in nodes] == ["master", "slave", "slave"]
    assert [_sentinel_view(pod)["ip"] for pod in nodes] == [first] * 3
    assert [_sentinel_view(pod)["config-epoch"] for pod in nodes] == epochs


@pytest.mark.parametrize("role", list(RedisRole))
def test_module_debug_and_protected_config_commands_are_refused(node: Node, role: RedisRole, tmp_path: Path) -> None:
    """With a role's config, MODULE LOAD, DEBUG and CONFIG SET of dir and dbfilename are refused, even on a
    loopback connection (which the `local` setting would let through); other settings still change."""
    node.prepare(role, "64Mi")
    node.start()
    client = node.client()
    module = client.call("MODULE", "LOAD", str(tmp_path / "module.so"))
    assert isinstance(module, ErrorReply) and "MODULE command not allowed" in module.message, module
    debug = client.call("DEBUG", "SLEEP", "0")
    assert isinstance(debug, ErrorReply) and "DEBUG command not allowed" in debug.message, debug
    for name, value in (("dir", str(tmp_path)), ("dbfilename", "elsewhere.rdb")):
        before = client.call("CONFIG", "GET", name)
        refused = client.call("CONFIG", "SET", name, value)
        assert isinstance(refused, ErrorReply) and "can't set protected config" in refused.message, refused
        assert client.call("CONFIG", "GET", name) == before
    assert client.call("CONFIG", "SET", "maxmemory-samples", "7") == "OK"
    client.close()
