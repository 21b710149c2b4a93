"""PostgreSQL settings derived from an instance's memory, plus the platform's fixed ones.

Pure: `parameters(memory)` gives the `postgresql.parameters` of the CloudNativePG Cluster.
The memory rules are the common starting points (PostgreSQL wiki, "Tuning Your PostgreSQL
Server"): a quarter of the memory for shared_buffers, three quarters as the planner's
effective_cache_size, and work_mem sized so that every connection can run a few sorts at
once without the instance running out of memory. Connections are few on purpose: the
application reaches PostgreSQL through PgBouncer (pool exhaustion was the seeds' measured
bottleneck at 500 users, not a lack of server connections).
"""

from __future__ import annotations

from decimal import Decimal

from kube import quantities

STATEMENT_TIMEOUT = "30s"
"""The seeds' limit (000, 001): a query running longer is a bug or a missing index."""
SLOW_QUERY_MS = 1000
"""Statements slower than this are logged with their duration (log_min_duration_statement)."""
SORTS_PER_CONNECTION = 3
"""Sort or hash nodes a connection may run at once, each up to work_mem."""


def _megabytes(size: Decimal) -> str:
    return f"{quantities.whole_mebibytes(size)}MB"


def max_connections(memory_bytes: Decimal) -> int:
    """25 per GiB, between 50 and 300: enough for the poolers and the operator's own, and few
    enough that each can sort with work_mem without the instance running out of memory."""
    # int() of the quotient rounds down as `//` would: memory is never negative.
    per_gibibyte = int(25 * memory_bytes / quantities.GIB)
    return min(300, max(50, per_gibibyte))


def parameters(memory: str) -> dict[str, str]:
    """postgresql.parameters for an instance with this much memory (request = limit)."""
    total = quantities.memory_bytes(memory)
    shared_buffers = total / 4
    connections = max_connections(total)
    work_mem = max(Decimal(4 * quantities.MIB), (total - shared_buffers) / (connections * SORTS_PER_CONNECTION))
    maintenance_work_mem = min(Decimal(2 * quantities.GIB), max(Decimal(64 * quantities.MIB), total / 20))
    return {
        "shared_buffers": _megabytes(shared_buffers),
        "effective_cache_size": _megabytes(total * 3 / 4),
        "work_mem": f"{int(work_mem / 1024)}kB",
        "maintenance_work_mem": _megabytes(maintenance_work_mem),
        "max_connections": str(connections),
        "statement_timeout": STATEMENT_TIMEOUT,
        # A transaction left open holds locks and blocks vacuum; end it after a minute.
        "idle_in_transaction_session_timeout": "60s",
        "log_min_duration_statement": f"{SLOW_QUERY_MS}ms",
        "log_lock_waits": "on",
        "log_temp_files": "0",
        # Needed by the slow-query dashboards and by `pg_stat_statements` users.
        "track_io_timing": "on",
    }
