"""The PostgreSQL parameters every stack declares, accepted by a real PostgreSQL and visible in SHOW.

Each stack's `postgresql.parameters` come from its rendered Cluster. Memory sizes are scaled
down in proportion so the test fits a CI machine (shared_buffers at most 128 MB); every
other value is used exactly as declared.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from components import postgres_parameters
from tests.conftest import STACKS, RunStack

MEMORY_UNITS = {"kB": 1, "MB": 1024, "GB": 1024**2, "TB": 1024**3}
TIME_UNITS = {"us": 0.001, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
MEMORY_PARAMETERS = ("shared_buffers", "effective_cache_size", "maintenance_work_mem")
MACHINE_SHARED_BUFFERS_KB = 128 * 1024


def postgres_bin_dir() -> Path | None:
    """Where initdb, pg_ctl and psql are: Debian's /usr/lib/postgresql/<major>/bin, else PATH."""
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"), key=lambda path: int(path.parts[4]))
    if debian:
        return debian[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("psql", path=str(Path(initdb).parent)) else None


@pytest.fixture(scope="module")
def bin_dir() -> Path:
    found = postgres_bin_dir()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(
                "PostgreSQL (initdb, pg_ctl) is missing: `apt-get install postgresql` (scripts/bootstrap.sh does)"
            )
        pytest.skip("PostgreSQL is not installed")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def in_base_units(value: str, unit: str | None) -> float:
    """A setting as a number of pg_settings' unit (8kB pages, ms, ...), or the number itself."""
    match = re.fullmatch(r"(-?[0-9.]+)\s*([a-zA-Z]*)", value)
    assert match, value
    number, suffix = float(match[1]), match[2]
    if not unit:
        return number
    unit_match = re.fullmatch(r"([0-9]*)([a-zA-Z]+)", unit)
    assert unit_match, unit
    multiplier = float(unit_match[1] or 1)
    if unit_match[2] in MEMORY_UNITS:
        return number * MEMORY_UNITS[suffix or unit_match[2]] / (MEMORY_UNITS[unit_match[2]] * multiplier)
    return number * TIME_UNITS[suffix or unit_match[2]] / (TIME_UNITS[unit_match[2]] * multiplier)


def scaled_to_machine(parameters: dict[str, str]) -> dict[str, str]:
    """The memory parameters shrunk by one factor so shared_buffers is at most 128 MB."""
    shared_kb = in_base_units(parameters["shared_buffers"], "kB")
    factor = min(1.0, MACHINE_SHARED_BUFFERS_KB / shared_kb)
    scaled = dict(parameters)
    for name in MEMORY_PARAMETERS:
        scaled[name] = f"{int(in_base_units(parameters[name], 'kB') * factor)}kB"
    return scaled


def as_server_user() -> list[str]:
    """PostgreSQL refuses to run as root (CI runs as root): run its programs as `postgres` then."""
    if os.geteuid() != 0:
        return []
    pwd.getpwnam("postgres")  # created by Debian's postgresql package
    return ["runuser", "-u", "postgres", "--"]


@pytest.fixture
def server_dir() -> Iterator[Path]:
    """A directory the server's user owns (pytest's tmp_path is private to root)."""
    directory = Path(tempfile.mkdtemp(prefix="crm-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(directory, user.pw_uid, user.pw_gid)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def start_postgres(bin_dir: Path, server_dir: Path) -> Iterator[object]:
    started: list[Path] = []
    tmp_path = server_dir

    def start(parameters: dict[str, str]) -> tuple[int, Path]:
        data = tmp_path / f"data{len(started)}"
        initdb = subprocess.run(
            [*as_server_user(), bin_dir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync"],
            capture_output=True,
            text=True,
        )
        assert initdb.returncode == 0, initdb.stderr
        port = free_port()
        lines = [f"{name} = '{value}'" for name, value in parameters.items()]
        lines += [f"port = {port}", "listen_addresses = '127.0.0.1'", f"unix_socket_directories = '{tmp_path}'"]
        (data / "postgresql.auto.conf").write_text("\n".join(lines) + "\n")
        result = subprocess.run(
            [*as_server_user(), bin_dir / "pg_ctl", "-D", data, "-l", data / "server.log", "-w", "-t", "60", "start"],
            capture_output=True,
            text=True,
        )
        log = (data / "server.log").read_text() if (data / "server.log").exists() else ""
        assert result.returncode == 0, f"PostgreSQL refused the parameters:\n{result.stderr}\n{log}"
        started.append(data)
        return port, data

    yield start
    for data in started:
        subprocess.run(
            [*as_server_user(), bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True
        )


def pg_settings(bin_dir: Path, port: int, names: list[str]) -> dict[str, tuple[str, str | None]]:
    query = "SELECT name, setting, unit FROM pg_settings WHERE name IN (" + ",".join(f"'{n}'" for n in names) + ")"
    output = subprocess.run(
        [bin_dir / "psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-At", "-F", "|", "-c", query],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rows = [line.split("|") for line in output.splitlines()]
    return {name: (setting, unit or None) for name, setting, unit in rows}


def show(bin_dir: Path, port: int, name: str) -> str:
    return subprocess.run(
        [bin_dir / "psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-At", "-c", f"SHOW {name}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.mark.parametrize("stack", STACKS)
def test_each_stacks_parameters_are_accepted_and_in_effect(
    run_stack: RunStack, stack: str, bin_dir: Path, start_postgres: object
) -> None:
    """A real PostgreSQL starts with the stack's parameters (memory scaled) and reports every one as set."""
    [cluster] = run_stack(stack).kind("Cluster")
    declared = {name: str(value) for name, value in cluster["spec"]["postgresql"]["parameters"].items()}
    parameters = scaled_to_machine(declared)
    port, _data = start_postgres(parameters)  # type: ignore[operator]
    actual = pg_settings(bin_dir, port, list(parameters))
    assert set(actual) == set(parameters)
    for name, value in parameters.items():
        setting, unit = actual[name]
        if value in ("on", "off"):
            assert setting == value, name
        else:
            assert in_base_units(setting, None) == pytest.approx(in_base_units(value, unit), rel=0.01), name
    assert show(bin_dir, port, "statement_timeout") == "30s"
    assert show(bin_dir, port, "log_min_duration_statement") == "1s"


def test_a_statement_over_thirty_seconds_is_cancelled(bin_dir: Path, start_postgres: object) -> None:
    """With the declared statement_timeout, PostgreSQL cancels a long statement (checked with a 1 s timeout)."""
    parameters = scaled_to_machine(postgres_parameters.parameters("1Gi"))
    port, _data = start_postgres({**parameters, "statement_timeout": "1s"})  # type: ignore[operator]
    result = subprocess.run(
        [bin_dir / "psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-c", "SELECT pg_sleep(3)"],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "canceling statement due to statement timeout" in result.stderr


@pytest.mark.parametrize(
    ("memory", "shared_buffers", "cache", "connections"),
    [("1Gi", "256MB", "768MB", "50"), ("8Gi", "2048MB", "6144MB", "200"), ("32Gi", "8192MB", "24576MB", "300")],
)
def test_memory_settings_follow_the_instance_size(
    memory: str, shared_buffers: str, cache: str, connections: str
) -> None:
    """A quarter of memory for shared_buffers, three quarters for the cache estimate, connections 50-300."""
    parameters = postgres_parameters.parameters(memory)
    assert parameters["shared_buffers"] == shared_buffers
    assert parameters["effective_cache_size"] == cache
    assert parameters["max_connections"] == connections
    work_mem_kb = int(parameters["work_mem"].removesuffix("kB"))
    assert work_mem_kb >= 4096
    # Every connection running three sorts at work_mem still fits beside shared_buffers.
    total_kb = in_base_units(memory.replace("Gi", "GB"), "kB")
    assert int(connections) * 3 * work_mem_kb + in_base_units(shared_buffers, "kB") <= total_kb * 1.01
