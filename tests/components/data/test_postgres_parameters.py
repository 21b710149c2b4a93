"""The PostgreSQL parameters every stack declares, accepted by a real PostgreSQL and visible in SHOW.

Each stack's `postgresql.parameters` come from its rendered Cluster. Memory sizes are scaled
down in proportion so the test fits a CI machine (shared_buffers at most 128 MB); every
other value is used exactly as declared.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from components.data import postgres_parameters
from kube import quantities
from tests.conftest import STACKS, RunStack
from tests.support.backup_harness import (
    MissingToolError,
    PostgresServer,
    Tools,
    postgres_bin_dir,
    scratch_space,
    unprivileged_account,
)
from tests.support.tools import unavailable

MEMORY_UNITS = {"kB": 1, "MB": 1024, "GB": 1024**2, "TB": 1024**3}
TIME_UNITS = {"us": 0.001, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
MEMORY_PARAMETERS = ("shared_buffers", "effective_cache_size", "maintenance_work_mem")
MACHINE_SHARED_BUFFERS_KB = 128 * 1024

StartPostgres = Callable[[dict[str, str]], PostgresServer]


@pytest.fixture(scope="module")
def tools() -> Tools:
    """The backup tests' harness: PostgreSQL binaries, and the account servers run as under root."""
    try:
        return Tools(
            postgres_bin=postgres_bin_dir(), python_bin=Path(sys.executable).parent, account=unprivileged_account()
        )
    except MissingToolError as missing:
        unavailable(str(missing))


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


@pytest.fixture
def start_postgres(tools: Tools) -> Iterator[StartPostgres]:
    """Start real PostgreSQL servers with given postgresql.conf parameters; stopped afterwards."""
    started: list[PostgresServer] = []
    with scratch_space(tools.account) as scratch:

        def start(parameters: dict[str, str]) -> PostgresServer:
            server = PostgresServer(tools, scratch, parameters=parameters)
            server.start()  # raises, with pg_ctl's output, if PostgreSQL refuses a parameter
            started.append(server)
            return server

        yield start
        for server in started:
            server.stop()


def pg_settings(server: PostgresServer, names: list[str]) -> dict[str, tuple[str, str | None]]:
    query = "SELECT name, setting, unit FROM pg_settings WHERE name IN (" + ",".join(f"'{n}'" for n in names) + ")"
    rows = [line.split("|") for line in server.psql(query).splitlines() if line]
    return {name: (setting, unit or None) for name, setting, unit in rows}


def show(server: PostgresServer, name: str) -> str:
    return server.psql(f"SHOW {name}").strip()


@pytest.mark.parametrize("stack", STACKS)
def test_each_stacks_parameters_are_accepted_and_in_effect(
    run_stack: RunStack, stack: str, start_postgres: StartPostgres
) -> None:
    """A real PostgreSQL starts with the stack's parameters (memory scaled) and reports every one as set."""
    [cluster] = run_stack(stack).kind("Cluster")
    declared = {name: str(value) for name, value in cluster["spec"]["postgresql"]["parameters"].items()}
    parameters = scaled_to_machine(declared)
    server = start_postgres(parameters)
    actual = pg_settings(server, list(parameters))
    assert set(actual) == set(parameters)
    for name, value in parameters.items():
        setting, unit = actual[name]
        if value in ("on", "off"):
            assert setting == value, name
        else:
            assert in_base_units(setting, None) == pytest.approx(in_base_units(value, unit), rel=0.01), name
    assert show(server, "statement_timeout") == "30s"
    assert show(server, "log_min_duration_statement") == "1s"


def test_the_declared_statement_timeout_cancels_a_long_statement(start_postgres: StartPostgres) -> None:
    """The parameters set statement_timeout (not 0, which is off), and PostgreSQL cancels a statement that runs
    longer. Only the duration is lowered, to 1 s, so the test need not wait 30 s."""
    parameters = scaled_to_machine(postgres_parameters.parameters("1Gi"))
    assert in_base_units(parameters["statement_timeout"], "ms") > 0, "statement_timeout is off"
    server = start_postgres({**parameters, "statement_timeout": "1s"})
    quick = server.session("SELECT pg_sleep(0.2)")
    assert quick.returncode == 0, quick.stderr
    slow = server.session("SELECT pg_sleep(3)")
    assert slow.returncode != 0
    assert "canceling statement due to statement timeout" in slow.stderr


def test_the_declared_idle_in_transaction_timeout_ends_an_abandoned_transaction(start_postgres: StartPostgres) -> None:
    """The parameters set idle_in_transaction_session_timeout (not 0, which is off), and PostgreSQL ends a
    session left idle inside a transaction longer than that, while a session idle outside one stays. Only the
    duration is lowered, to 1 s, so the test need not wait a minute."""
    parameters = scaled_to_machine(postgres_parameters.parameters("1Gi"))
    assert in_base_units(parameters["idle_in_transaction_session_timeout"], "ms") > 0, "the timeout is off"
    server = start_postgres({**parameters, "idle_in_transaction_session_timeout": "1s"})
    # psql sleeps (a shell command) between statements: the server sees the session idle.
    abandoned = server.session("BEGIN", "SELECT 1", "\\! sleep 2.5", "SELECT 2", "COMMIT")
    assert abandoned.returncode != 0
    assert "terminating connection due to idle-in-transaction timeout" in abandoned.stderr
    idle_outside = server.session("SELECT 1", "\\! sleep 2.5", "BEGIN", "SELECT 2", "COMMIT")
    assert idle_outside.returncode == 0, idle_outside.stderr
    assert idle_outside.stdout.split() == ["1", "2"]


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
    # ... and uses that memory: work_mem grows with the instance instead of staying at the 4 MB floor.
    assert int(connections) * 3 * work_mem_kb + in_base_units(shared_buffers, "kB") >= total_kb * 0.99


@pytest.mark.parametrize("memory", ["256Mi", "512Mi"])
def test_work_mem_never_goes_below_four_megabytes(memory: str) -> None:
    """On a small instance the share per sort would be under 4 MB (sorts spill to disk at once); the floor holds,
    whatever the arithmetic gives."""
    assert postgres_parameters.parameters(memory)["work_mem"] == "4096kB"


def test_every_parameter_is_accepted_by_postgresql_and_in_effect(start_postgres: StartPostgres) -> None:
    """A real PostgreSQL starts with parameters() of an instance (memory scaled to this machine) and reports every
    one as set to the declared value: a misspelt name or a value PostgreSQL cannot read stops it from starting."""
    parameters = scaled_to_machine(postgres_parameters.parameters("2Gi"))
    server = start_postgres(parameters)
    actual = pg_settings(server, list(parameters))
    assert set(actual) == set(parameters)
    for name, value in parameters.items():
        setting, unit = actual[name]
        if value in ("on", "off"):
            assert setting == value, name
        else:
            assert in_base_units(setting, None) == pytest.approx(in_base_units(value, unit), rel=0.01), name
    assert [show(server, name) for name in ("statement_timeout", "idle_in_transaction_session_timeout")] == [
        "30s",
        "1min",
    ]
    assert show(server, "log_min_duration_statement") == "1s"
    assert [show(server, name) for name in ("log_lock_waits", "log_temp_files", "track_io_timing")] == ["on", "0", "on"]


@pytest.mark.parametrize(
    ("memory", "connections"),
    [("1Gi", 50), ("2Gi", 50), ("3Gi", 75), ("4Gi", 100), ("12Gi", 300), ("12929000000", 300), ("64Gi", 300)],
)
def test_connections_are_25_per_gibibyte_between_50_and_300(memory: str, connections: int) -> None:
    """12,929,000,000 bytes is 12.04 GiB: 301 by the rule, held at 300."""
    assert postgres_parameters.max_connections(quantities.memory_bytes(memory)) == connections
    assert postgres_parameters.parameters(memory)["max_connections"] == str(connections)


@pytest.mark.parametrize(
    ("memory", "shared_buffers", "cache", "work_mem", "maintenance_work_mem"),
    [
        # work_mem at its 4 MB floor; maintenance_work_mem at its 64 MB floor.
        ("256Mi", "64MB", "192MB", "4096kB", "64MB"),
        # 768 MiB beside shared_buffers over 50 connections x 3 sorts; 1/20 of 1 GiB is below 64 MB.
        ("1Gi", "256MB", "768MB", "5242kB", "64MB"),
        ("8Gi", "2048MB", "6144MB", "10485kB", "409MB"),
        # maintenance_work_mem at its 2 GB ceiling (1/20 would be 3276 MB).
        ("64Gi", "16384MB", "49152MB", "55924kB", "2048MB"),
    ],
)
def test_memory_settings_share_the_memory_within_their_floors_and_ceilings(
    memory: str, shared_buffers: str, cache: str, work_mem: str, maintenance_work_mem: str
) -> None:
    parameters = postgres_parameters.parameters(memory)
    assert (
        parameters["shared_buffers"],
        parameters["effective_cache_size"],
        parameters["work_mem"],
        parameters["maintenance_work_mem"],
    ) == (shared_buffers, cache, work_mem, maintenance_work_mem)
