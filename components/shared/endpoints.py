"""Names and labels that connect the application to the data layer and the network policies.

The workloads put these host names in the app's ConfigMap and the network policies select
pods by these labels; the data-layer components (CloudNativePG cluster and pooler, Redis)
must create Services with these names and label their pods with these roles. Keeping them in
one place is the contract between the three.
"""

from __future__ import annotations

from typing import Final

from kube import labels

NETWORK_ROLE: Final = labels.NETWORK_ROLE
"""Pod label the network policies select on."""
APP_ROLE: Final = "app"
"""Every pod running the application's backend code: web, worker, beat, the migration Job. They reach the
database and Redis and hold the platform's secrets."""
FRONTEND_ROLE: Final = "frontend"
"""The frontend's pods: they serve the browser app and call web inside the cluster, and nothing else: no
database, no Redis, no platform secret (a server-rendering frontend compromised must not reach the data)."""
POSTGRES_ROLE: Final = "postgres"
"""PostgreSQL instances and their PgBouncer poolers."""
REDIS_ROLE: Final = "redis"
"""Redis servers of both roles (cache and broker)."""

POSTGRES_PORT: Final = 5432
REDIS_PORT: Final = 6379

POSTGRES_CLUSTER: Final = "crm-postgres"
"""CloudNativePG Cluster name; the operator derives the -rw/-ro Service names from it."""
DATABASE_HOST: Final = f"{POSTGRES_CLUSTER}-pooler-rw"
"""Read-write connections go through the PgBouncer Pooler (pool exhaustion was the seeds' bottleneck)."""
DATABASE_DIRECT_HOST: Final = f"{POSTGRES_CLUSTER}-rw"
"""The primary itself, bypassing PgBouncer: for migrations (DDL, session settings, long statements)."""
DATABASE_READ_HOST: Final = f"{POSTGRES_CLUSTER}-ro"
"""Read-only connections go straight to the replicas' Service."""
DATABASE_NAME: Final = "crm"

REDIS_CACHE_HOST: Final = "crm-redis-cache"
REDIS_BROKER_HOST: Final = "crm-redis-broker"
