"""The real-server harness of the backup tests and the backup benchmark.

A real PostgreSQL (initdb into a scratch directory, pg_ctl on a free port, scram password
auth over TCP for the role `crm`), a moto S3 endpoint in this process with a bucket and a KMS
key, and `run_script`, which runs the scripts the CronJobs run with the variable names of
components/data/backup_contract.py. As root, PostgreSQL runs as an unprivileged account
(PostgreSQL refuses root), and every script runs as the pods do: as the contract's RUN_AS_UID,
a uid with no passwd entry (restore-verify.sh then gives initdb one through nss_wrapper).

tests/components/data/ (the pipeline and fault tests) and offline/bench_backups.py (the
benchmark) share it; it is test support, not part of the program. Also here: reading the
verification's table report, which only tests compare.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import pwd
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import IO, Any, Final

from components.data import backup_contract as contract
from components.data.backup_contract import BackupStore, S3Store

ROLE: Final = "crm"
"""The application role: owns the databases and takes the backups, with a scram password over TCP."""
ROLE_PASSWORD: Final = "crm-backup-test-password"
REGION: Final = "eu-west-1"
BUCKET: Final = "crm-backups-test"
TEN_GB: Final = 10 * 1024**3
RESTORE_TARGET_SECONDS: Final = 15 * 60


class MissingToolError(RuntimeError):
    """An OS tool the harness needs is not installed."""


# --- tools and accounts ------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    """An unprivileged uid (and gid) the harness runs something as when we are root."""

    name: str
    """The passwd entry's name; empty for a uid that has none (the pods' RUN_AS_UID)."""
    uid: int
    gid: int


def _has_initdb(directory: Path) -> bool:
    return (directory / "initdb").is_file() and (directory / "pg_ctl").is_file()


def postgres_bin_dir() -> Path:
    """The PostgreSQL server binaries: pg_config --bindir, initdb on PATH, else the newest Debian install."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False, timeout=30)
        if result.returncode == 0:
            candidates.append(Path(result.stdout.strip()))
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in path.parent.name.split(".") if part.isdigit())

    debian = [path for path in Path("/usr/lib/postgresql").glob("*/bin") if path.parent.name[:1].isdigit()]
    candidates += sorted(debian, key=version, reverse=True)
    for candidate in candidates:
        if _has_initdb(candidate):
            return candidate
    raise MissingToolError(
        "PostgreSQL server binaries (initdb, pg_ctl, pg_dump, pg_restore) not found via pg_config, PATH or "
        "/usr/lib/postgresql/*/bin; install them (Debian: apt-get install postgresql)"
    )


def unprivileged_account() -> Account | None:
    """None when not root; else the `postgres` account, or `nobody`."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return Account(name=name, uid=entry.pw_uid, gid=entry.pw_gid)
    raise MissingToolError("running as root, but neither a `postgres` nor a `nobody` account exists to run PostgreSQL")


def pod_account() -> Account | None:
    """None when not root; else the uid and gid the backup pods run as (RUN_AS_UID), which must have no
    passwd entry here either, as in the images; restore-verify.sh then needs nss_wrapper."""
    if os.geteuid() != 0:
        return None
    uid = contract.RUN_AS_UID
    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        pass
    else:
        raise MissingToolError(
            f"uid {uid} (the backup pods' RUN_AS_UID) has a passwd entry here ({entry.pw_name}), so the scripts "
            "could not run as they do in their pods, as a uid without one; remove that account"
        )
    if not nss_wrapper_libraries():
        raise MissingToolError(
            f"nss_wrapper is missing (none of {' '.join(contract.NSS_WRAPPER_SEARCH)}): restore-verify.sh needs it "
            f"to give uid {uid} a user name for initdb, as the postgres image does; apt-get install libnss-wrapper"
        )
    return Account(name="", uid=uid, gid=uid)


def nss_wrapper_libraries() -> list[str]:
    """The nss_wrapper libraries restore-verify.sh would find by its default search, in its order."""
    return [str(found) for pattern in contract.NSS_WRAPPER_SEARCH for found in sorted(Path("/").glob(pattern[1:]))]


@dataclass(frozen=True)
class Tools:
    postgres_bin: Path
    python_bin: Path
    """The virtualenv's bin directory: `aws` (awscli) lives there."""
    account: Account | None
    """The account PostgreSQL (the live server) runs as when we are root."""
    pod: Account | None = None
    """The uid the scripts run as when we are root: the pods' RUN_AS_UID, without a passwd entry."""
    aws_as_pod: bool = True
    """Whether the pods' uid can run the virtualenv's aws CLI. Not when the interpreter lives where only
    root may read (a pyenv under /root); the aws-cli image's scripts then run as the harness's user, and
    the postgres image's (dump, verify: the ones that need a user name) still as the pods' uid."""

    def account_for(self, script: str) -> Account | None:
        """The account `script` runs as: the pods' uid (None: the harness's own user)."""
        [container] = [c for c in (*contract.BACKUP_POD, *contract.RESTORE_POD) if c.script == script]
        if container.image_repository == contract.AWS_CLI_IMAGE_REPOSITORY and not self.aws_as_pod:
            return None
        return self.pod

    @property
    def path(self) -> str:
        return f"{self.postgres_bin}:{self.python_bin}:/usr/local/bin:/usr/bin:/bin"

    def postgres_version(self) -> str:
        return subprocess.run(
            [str(self.postgres_bin / "postgres"), "--version"], capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()


def find_tools() -> Tools:
    """Everything the harness runs; MissingToolError names what is absent."""
    postgres_bin = postgres_bin_dir()
    for tool in ("pg_dump", "pg_restore", "psql", "postgres"):
        if not (postgres_bin / tool).is_file():
            raise MissingToolError(f"{tool} is missing from {postgres_bin}")
    python_bin = Path(sys.executable).parent
    if not (python_bin / "aws").is_file():
        raise MissingToolError(f"the aws CLI is missing from {python_bin}; pip install -r requirements-dev.txt")
    if shutil.which("bash") is None or shutil.which("sha256sum") is None:
        raise MissingToolError("bash and sha256sum (coreutils) are needed to run the backup scripts")
    pod = pod_account()
    return Tools(
        postgres_bin=postgres_bin,
        python_bin=python_bin,
        account=unprivileged_account(),
        pod=pod,
        aws_as_pod=pod is None or _can_run(pod, [str(python_bin / "aws"), "--version"]),
    )


def _can_run(account: Account, command: list[str]) -> bool:
    try:
        result = subprocess.run(command, capture_output=True, timeout=60, check=False, **as_account(account))
    except OSError:
        return False
    return result.returncode == 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# --- scratch space ---------------------------------------------------------------------------


@dataclass
class Scratch:
    """Short paths under /tmp (unix socket paths are limited): the servers' directories owned by the account
    they run as, the scripts' (work, store, cluster) by the pods' uid, as the pods' fsGroup makes them."""

    root: Path
    account: Account | None
    pod: Account | None = None
    _count: int = 0

    def directory(self, name: str) -> Path:
        """A new directory the scripts may write (owned by the pods' uid when we are root)."""
        return self._new(name, self.pod)

    def server_directory(self, name: str) -> Path:
        """A new directory the live PostgreSQL may write (owned by its account when we are root)."""
        return self._new(name, self.account)

    def _new(self, name: str, owner: Account | None) -> Path:
        self._count += 1
        path = self.root / f"{name}-{self._count}"
        path.mkdir(mode=0o755)
        if owner is not None:
            os.chown(path, owner.uid, owner.gid)
        return path

    def own(self, path: Path) -> None:
        if self.account is not None:
            os.chown(path, self.account.uid, self.account.gid)


@contextmanager
def scratch_space(account: Account | None, pod: Account | None = None) -> Iterator[Scratch]:
    root = Path(tempfile.mkdtemp(prefix="crm-bk-"))
    root.chmod(0o755)
    scratch = Scratch(root=root, account=account, pod=pod)
    scratch.own(root)
    # The scripts as the ConfigMap mounts them: readable by the unprivileged account wherever
    # the checkout lives (a clone under /root is not).
    scripts = root / "scripts"
    scripts.mkdir(mode=0o755)
    for name, text in contract.script_texts().items():
        (scripts / name).write_text(text, encoding="utf-8")
        (scripts / name).chmod(0o644)
    try:
        yield scratch
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- running things ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScriptRun:
    script: str
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    cpu_seconds: float
    """User + system time of the script and its descendants; a daemon it leaves behind (the throwaway
    postmaster) counts only when this process is a child subreaper, as the benchmark makes itself."""
    harness_cpu_seconds: float = 0.0
    """User + system time of this process meanwhile: the moto S3 server's threads, for the aws CLI scripts."""

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def check(self) -> ScriptRun:
        if self.returncode != 0:
            raise AssertionError(f"{self.script} exited {self.returncode}:\n{self.output}")
        return self


def run_command(
    command: list[str],
    env: Mapping[str, str],
    *,
    account: Account | None,
    cwd: Path,
    timeout: float,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command with exactly `env`, as `account` when given (we are root then)."""
    return subprocess.run(
        command,
        env=dict(env),
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **as_account(account),
    )


def as_account(account: Account | None) -> dict[str, Any]:
    """subprocess arguments that run a child as `account` (no supplementary groups), or as we are; umask 022."""
    if account is None:
        return {"umask": 0o022}
    return {"user": account.uid, "group": account.gid, "extra_groups": [], "umask": 0o022}


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def become_child_subreaper() -> bool:
    """Adopt orphaned descendants (Linux prctl PR_SET_CHILD_SUBREAPER), so that the throwaway postmaster
    pg_ctl leaves behind is reaped here and its CPU time (and its backends') is counted."""
    global _subreaper
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        _subreaper = bool(libc.prctl(36, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        _subreaper = False
    return _subreaper


_subreaper = False


def _reap_orphans() -> None:
    """Reap adopted descendants that have exited; only a child subreaper has any to reap."""
    while _subreaper:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _kill_all(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.kill()


def _terminate_all(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to each process still running (the returncode is set by the wait4 loop once it ended)."""
    for process in processes:
        # os.kill, not send_signal: that polls, and a poll could reap the child the wait4 loop waits for.
        if process.returncode is None:
            with suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)


def _read_and_close(stream: IO[str]) -> str:
    stream.seek(0)
    text = stream.read()
    stream.close()
    return text


# --- PostgreSQL ----------------------------------------------------------------------------------


@dataclass
class PostgresServer:
    """A real PostgreSQL for the tests: TCP on 127.0.0.1 with scram passwords, trust on its own socket."""

    tools: Tools
    scratch: Scratch
    parameters: Mapping[str, str] = field(default_factory=dict)
    """postgresql.conf settings after the harness's own (the parameter tests use the stacks')."""
    data_dir: Path = field(init=False)
    socket_dir: Path = field(init=False)
    port: int = field(init=False)

    def start(self) -> None:
        self.data_dir = self.scratch.server_directory("live-data")
        self.data_dir.chmod(0o700)
        self.socket_dir = self.scratch.server_directory("live-socket")
        self.port = free_port()
        self._run(
            "initdb",
            f"--pgdata={self.data_dir}",
            "--username=postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        settings = (
            f"listen_addresses = '127.0.0.1'\nport = {self.port}\nunix_socket_directories = '{self.socket_dir}'\n"
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
        )
        settings += "".join(f"{name} = '{value}'\n" for name, value in self.parameters.items())
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(settings)
        log = self.scratch.root / f"live-{self.port}.log"
        self._run("pg_ctl", f"--pgdata={self.data_dir}", f"--log={log}", "--wait", "--timeout=120", "start")
        self.psql(f"CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD '{ROLE_PASSWORD}'")

    def stop(self) -> None:
        self._run("pg_ctl", f"--pgdata={self.data_dir}", "--mode=immediate", "--wait", "stop", check=False)

    def _run(self, tool: str, *arguments: str, check: bool = True, timeout: float = 300) -> str:
        env = {"PATH": self.tools.path, "LANG": "C.UTF-8", "HOME": str(self.scratch.root)}
        result = run_command(
            [str(self.tools.postgres_bin / tool), *arguments],
            env,
            account=self.tools.account,
            cwd=self.scratch.root,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(arguments)} failed:\n{result.stdout}{result.stderr}")
        return result.stdout

    def psql(self, sql: str, database: str = "postgres", user: str = "postgres", timeout: float = 600) -> str:
        """Run SQL over the trusted socket; the output unaligned, tuples only, fields split by |."""
        return self._run(
            "psql",
            "--no-psqlrc",
            "--quiet",
            "--tuples-only",
            "--no-align",
            "--field-separator=|",
            "--set=ON_ERROR_STOP=1",
            f"--host={self.socket_dir}",
            f"--port={self.port}",
            f"--username={user}",
            f"--dbname={database}",
            f"--command={sql}",
            timeout=timeout,
        )

    def session(
        self, *commands: str, database: str = "postgres", timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """One psql session over the trusted socket running `commands` in order (SQL or one backslash command
        each, such as `\\! sleep 2`), stopping at the first error; the completed process, whatever its status."""
        arguments = [f"--command={command}" for command in commands]
        return run_command(
            [
                str(self.tools.postgres_bin / "psql"),
                "--no-psqlrc",
                "--quiet",
                "--tuples-only",
                "--no-align",
                "--set=ON_ERROR_STOP=1",
                f"--host={self.socket_dir}",
                f"--port={self.port}",
                "--username=postgres",
                f"--dbname={database}",
                *arguments,
            ],
            {"PATH": self.tools.path, "LANG": "C.UTF-8", "HOME": str(self.scratch.root)},
            account=self.tools.account,
            cwd=self.scratch.root,
            timeout=timeout,
        )

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}" OWNER {ROLE}')
        return name

    def connection(self, database: str, password: str = ROLE_PASSWORD) -> dict[str, str]:
        """backup-dump.sh's connection variables: TCP with password auth, as the CronJob connects."""
        return {
            contract.PGHOST: "127.0.0.1",
            contract.PGPORT: str(self.port),
            contract.PGUSER: ROLE,
            contract.PGPASSWORD: password,
            contract.PGDATABASE: database,
        }

    def table_report(self, database: str) -> dict[str, TableReport]:
        """Rows and checksum per table of `database`, by the statement restore-verify.sh runs."""
        return parse_table_report(self.psql(table_report_sql(), database=database, user=ROLE))

    def database_size(self, database: str) -> int:
        return int(self.psql(f"SELECT pg_database_size('{database}')").strip())


# Five tables in two schemas, of every common type, NULLs and non-ASCII text included;
# crm_activity holds large text values (20-60 KB) every `large_every` rows, crm_attachment
# bytea values of 4-64 KB. Random data (fixed seed) so that compression does not flatter.
SEED_SQL: Final = """
SELECT setseed(0.2026);
CREATE TABLE crm_account (
  id bigint PRIMARY KEY, name text NOT NULL, industry text, created_at timestamptz NOT NULL,
  annual_revenue numeric(14, 2), settings jsonb NOT NULL);
INSERT INTO crm_account
SELECT i, format('Account %s %s', i, md5(i::text)),
       CASE WHEN i % 7 = 0 THEN NULL ELSE (ARRAY['retail', 'finance', 'health', 'ünïcødé ✓ 日本'])[1 + i % 4] END,
       timestamptz '2024-01-01 00:00:00+00' + i * interval '37 minutes',
       round((random() * 10000000)::numeric, 2),
       jsonb_build_object('tier', i % 3, 'flags', jsonb_build_array(i % 2 = 0, i % 5 = 0), 'note', E'a\\nb\\tc')
FROM generate_series(1, {accounts}) AS i;
CREATE TABLE crm_contact (
  id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES crm_account, email text NOT NULL UNIQUE,
  score double precision, tags text[], birthday date, active boolean NOT NULL);
INSERT INTO crm_contact
SELECT i, 1 + i % {accounts}, format('contact%s@example.com', i),
       CASE WHEN i % 11 = 0 THEN NULL ELSE random() * 100 END,
       ARRAY['tag' || i % 13, 'tag' || i % 17], date '1950-01-01' + i % 20000, i % 9 <> 0
FROM generate_series(1, {contacts}) AS i;
CREATE INDEX crm_contact_account ON crm_contact (account_id);
CREATE TABLE crm_activity (
  id bigserial PRIMARY KEY, contact_id bigint NOT NULL REFERENCES crm_contact, kind text NOT NULL,
  body text, occurred_at timestamptz NOT NULL, duration interval);
INSERT INTO crm_activity (contact_id, kind, body, occurred_at, duration)
SELECT 1 + i % {contacts}, (ARRAY['call', 'email', 'meeting'])[1 + i % 3],
       CASE WHEN i % {large_every} = 0
            THEN (SELECT string_agg(md5(random()::text || i || g), ' ')
                  FROM generate_series(1, 600 + i * 7 % 1300) AS g)
            ELSE format('Short note %s about %s', i, md5(i::text)) END,
       timestamptz '2025-01-01 00:00:00+00' + i * interval '63 seconds', make_interval(mins => i % 90)
FROM generate_series(1, {activities}) AS i;
CREATE TABLE crm_attachment (
  id integer PRIMARY KEY, activity_id bigint NOT NULL REFERENCES crm_activity, filename text NOT NULL,
  content bytea NOT NULL);
INSERT INTO crm_attachment
SELECT i, i * 10, format('file-%s.bin', i),
       (SELECT decode(string_agg(md5(random()::text || i || g), ''), 'hex')
        FROM generate_series(1, 256 + i * 13 % 3840) AS g)
FROM generate_series(1, {attachments}) AS i;
CREATE SCHEMA audit;
CREATE TABLE audit.event (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, happened_at timestamptz NOT NULL DEFAULT now(),
  actor text, payload jsonb, amount real);
INSERT INTO audit.event (actor, payload, amount)
SELECT CASE WHEN i % 3 = 0 THEN NULL ELSE 'user' || i END,
       CASE WHEN i % 4 = 0 THEN NULL ELSE jsonb_build_object('i', i) END, i / 7.0
FROM generate_series(1, {events}) AS i;
ANALYZE;
"""


@dataclass(frozen=True)
class Seed:
    accounts: int
    contacts: int
    activities: int
    attachments: int
    events: int
    large_every: int

    @property
    def rows(self) -> dict[str, int]:
        return {
            "public.crm_account": self.accounts,
            "public.crm_contact": self.contacts,
            "public.crm_activity": self.activities,
            "public.crm_attachment": self.attachments,
            "audit.event": self.events,
        }

    @property
    def sql(self) -> str:
        return SEED_SQL.format(
            accounts=self.accounts,
            contacts=self.contacts,
            activities=self.activities,
            attachments=self.attachments,
            events=self.events,
            large_every=self.large_every,
        )

    def scaled(self, factor: int) -> Seed:
        """`factor` times the rows of every table, same shape: the same share of large values."""
        if factor < 1:
            raise ValueError(f"scale must be a whole number >= 1, not {factor}")
        return Seed(
            accounts=self.accounts * factor,
            contacts=self.contacts * factor,
            activities=self.activities * factor,
            attachments=self.attachments * factor,
            events=self.events * factor,
            large_every=self.large_every,
        )


LARGE_SEED: Final = Seed(
    accounts=10_000, contacts=60_000, activities=30_000, attachments=400, events=1_000, large_every=100
)
"""101,400 rows; 300 text values of 20-60 KB and 400 bytea values of 4-64 KB."""
SMALL_SEED: Final = Seed(accounts=20, contacts=100, activities=50, attachments=3, events=10, large_every=25)


def seed(server: PostgresServer, database: str, plan: Seed) -> None:
    server.create_database(database)
    server.psql(plan.sql, database=database, user=ROLE)


# --- S3 (moto) -----------------------------------------------------------------------------------


@dataclass
class MotoS3:
    """moto's S3 and KMS in server mode, in this process, with the backup bucket and a KMS key."""

    port: int = field(default_factory=free_port)
    kms_key_id: str = ""
    _server: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        self.create_bucket(BUCKET)
        self.kms_key_id = str(self.client("kms").create_key(Description="crm backups (test)")["KeyMetadata"]["KeyId"])

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def create_bucket(self, name: str) -> None:
        """Create bucket `name` in REGION. botocore retries a request whose response it lost (a busy CI machine,
        werkzeug closing the connection), and the retry then meets the bucket the first attempt made: that
        answer means the bucket is ours, so it counts as created."""
        client = self.client("s3")
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})

    def client(self, service: str) -> Any:
        import boto3  # type: ignore[import-untyped]

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def store(self, prefix: str, *, bucket: str = BUCKET, endpoint_url: str | None = None) -> S3Store:
        return S3Store(
            bucket=bucket,
            region=REGION,
            prefix=prefix,
            kms_key_id=self.kms_key_id,
            endpoint_url=endpoint_url or self.url,
        )

    def keys(self, prefix: str) -> list[str]:
        response = self.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return sorted(str(item["Key"]) for item in response.get("Contents", []))

    def read(self, key: str) -> bytes:
        body: bytes = self.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
        return body

    def write(self, key: str, body: bytes) -> None:
        self.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body)

    def delete(self, prefix: str) -> None:
        """Remove every object under `prefix` (the benchmark's, so that moto does not pile them up)."""
        client = self.client("s3")
        for key in self.keys(prefix):
            client.delete_object(Bucket=BUCKET, Key=key)


# --- the harness -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupRun:
    dump: ScriptRun
    upload: ScriptRun
    """Both containers of the pod run at once: the upload streams the dump while pg_dump writes it."""
    work_dir: Path
    store: BackupStore
    seconds: float
    """Wall time of the pod: from the start of both scripts until the later one has ended."""

    @property
    def manifest(self) -> dict[str, Any]:
        """The manifest backup-dump.sh wrote into the work directory."""
        manifest: dict[str, Any] = json.loads((self.work_dir / contract.MANIFEST_FILE).read_text(encoding="utf-8"))
        return manifest

    @property
    def keys(self) -> tuple[str, str]:
        """Where the dump and the manifest are stored: key in S3, path under the store directory."""
        return contract.run_keys(self.store.prefix, self.manifest["backup_id"], self.manifest["dump_file"])

    @property
    def succeeded(self) -> bool:
        return self.dump.returncode == 0 and self.upload.returncode == 0

    def check(self) -> BackupRun:
        self.dump.check()
        self.upload.check()
        return self

    @property
    def output(self) -> str:
        return self.dump.output + self.upload.output


@dataclass(frozen=True)
class RestoreRun:
    fetch: ScriptRun
    verify: ScriptRun | None
    work_dir: Path

    def check(self) -> RestoreRun:
        self.fetch.check()
        assert self.verify is not None
        self.verify.check()
        return self

    @property
    def output(self) -> str:
        return self.fetch.output + (self.verify.output if self.verify else "")

    @property
    def seconds(self) -> float:
        return self.fetch.seconds + (self.verify.seconds if self.verify else 0.0)

    @property
    def report(self) -> dict[str, TableReport]:
        return parse_verify_report(self.verify.stdout if self.verify else "")


@dataclass
class Harness:
    tools: Tools
    scratch: Scratch
    postgres: PostgresServer
    s3: MotoS3
    runs: list[ScriptRun] = field(default_factory=list)
    """Every script run so far, in order (the fault tests check which failure each of theirs reached)."""

    def base_environment(self) -> dict[str, str]:
        """What every script gets besides its contract variables: tools on PATH, dummy AWS credentials."""
        return {
            "PATH": self.tools.path,
            "LANG": "C.UTF-8",
            "HOME": str(self.scratch.root),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def run_script(
        self,
        script: str,
        env: Mapping[str, str],
        *,
        timeout: float = 600,
        as_harness_user: bool = False,
        terminate_after: float | None = None,
    ) -> ScriptRun:
        """`bash <script>` with the base environment plus `env`, as the pods' uid when we are root (or, with
        `as_harness_user`, as whoever runs the harness); SIGTERM after `terminate_after` seconds if given."""
        return self.run_scripts_together(
            [(script, env)], timeout=timeout, as_harness_user=as_harness_user, terminate_after=terminate_after
        )[0]

    def run_scripts_together(
        self,
        scripts: Sequence[tuple[str, Mapping[str, str]]],
        *,
        timeout: float = 600,
        as_harness_user: bool = False,
        terminate_after: float | None = None,
    ) -> list[ScriptRun]:
        """Start every script at once, as the containers of one pod start, and wait for all of them.

        Each ScriptRun has its own wall time (from the common start to its own end) and its own CPU
        time (os.wait4: the script and the descendants it waited for); the harness CPU time (the moto
        server's threads) is that of the whole run, on every script. `terminate_after`: SIGTERM to
        every script after that many seconds, as the kubelet sends at a Job's deadline.
        """
        own_before = _own_cpu_seconds()
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="crm-bk-out-") as output:
            processes = []
            for index, (script, env) in enumerate(scripts):
                account = None if as_harness_user else self.tools.account_for(script)
                # Closed once read, below.
                stdout = (Path(output) / f"{index}.out").open("w+", encoding="utf-8")
                stderr = (Path(output) / f"{index}.err").open("w+", encoding="utf-8")
                process = subprocess.Popen(
                    ["bash", str(self.scratch.root / "scripts" / script)],
                    env={**self.base_environment(), **env},
                    cwd=self.scratch.root,
                    stdin=subprocess.DEVNULL,
                    stdout=stdout,
                    stderr=stderr,
                    **as_account(account),
                )
                processes.append((script, process, stdout, stderr))
            # A script that hangs is killed at the deadline (its run then shows the kill's exit status).
            started = [process for _, process, _, _ in processes]
            deadline = threading.Timer(timeout, _kill_all, [started])
            deadline.start()
            terminate = threading.Timer(terminate_after or 0.0, _terminate_all, [started])
            if terminate_after is not None:
                terminate.start()
            ended = []
            try:
                for _, process, _, _ in processes:
                    _, status, usage = os.wait4(process.pid, 0)
                    process.returncode = os.waitstatus_to_exitcode(status)
                    ended.append((time.perf_counter() - start, usage.ru_utime + usage.ru_stime))
            finally:
                deadline.cancel()
                terminate.cancel()
            _reap_orphans()
            own_seconds = _own_cpu_seconds() - own_before
            runs = []
            for (script, process, stdout, stderr), (seconds, cpu_seconds) in zip(processes, ended, strict=True):
                out, err = (_read_and_close(stream) for stream in (stdout, stderr))
                assert process.returncode is not None
                runs.append(ScriptRun(script, process.returncode, out, err, seconds, cpu_seconds, own_seconds))
        self.runs.extend(runs)
        return runs

    def unique_prefix(self, name: str) -> str:
        cleaned = "".join(character if character.isalnum() or character in "_.-" else "-" for character in name)
        return f"tests/{cleaned.strip('-._')[:60] or 'run'}-{uuid.uuid4().hex[:8]}"

    def backup(
        self,
        database: str,
        store: BackupStore,
        *,
        password: str = ROLE_PASSWORD,
        dump_env: Mapping[str, str] | None = None,
        upload_env: Mapping[str, str] | None = None,
    ) -> BackupRun:
        """The backup pod: dump and upload at once, in a new work directory."""
        work_dir = self.scratch.directory("backup-work")
        start = time.perf_counter()
        dump, upload = self.run_scripts_together(
            [
                (contract.BACKUP_DUMP, self._dump_environment(database, password, work_dir, dump_env)),
                (contract.BACKUP_UPLOAD, {**contract.transfer_environment(store, str(work_dir)), **(upload_env or {})}),
            ]
        )
        return BackupRun(dump, upload, work_dir, store, seconds=time.perf_counter() - start)

    def _dump_environment(
        self, database: str, password: str, work_dir: Path, env: Mapping[str, str] | None
    ) -> dict[str, str]:
        return {**self.postgres.connection(database, password), contract.BACKUP_WORK_DIR: str(work_dir), **(env or {})}

    def dump(
        self,
        database: str,
        *,
        password: str = ROLE_PASSWORD,
        env: Mapping[str, str] | None = None,
        work_dir: Path | None = None,
    ) -> tuple[ScriptRun, Path]:
        """backup-dump.sh alone, into `work_dir` or a new work directory; returns the run and that directory."""
        work_dir = work_dir or self.scratch.directory("backup-work")
        return self.run_script(
            contract.BACKUP_DUMP, self._dump_environment(database, password, work_dir, env)
        ), work_dir

    def upload(self, store: BackupStore, work_dir: Path, env: Mapping[str, str] | None = None) -> ScriptRun:
        """backup-upload.sh alone, on a work directory a dump has been (or is being) written to."""
        return self.run_script(
            contract.BACKUP_UPLOAD, {**contract.transfer_environment(store, str(work_dir)), **(env or {})}
        )

    def restore(
        self,
        store: BackupStore,
        minimum_rows: Mapping[str, int],
        *,
        verify_env: Mapping[str, str] | None = None,
        cluster_dir: Path | None = None,
    ) -> RestoreRun:
        """The restore-verification pod: fetch (init container), then verify only if the fetch succeeded."""
        fetch, work_dir = self.fetch(store)
        if fetch.returncode != 0:
            return RestoreRun(fetch=fetch, verify=None, work_dir=work_dir)
        verify = self.verify(work_dir, minimum_rows, verify_env, cluster_dir=cluster_dir)
        return RestoreRun(fetch=fetch, verify=verify, work_dir=work_dir)

    def fetch(self, store: BackupStore, env: Mapping[str, str] | None = None) -> tuple[ScriptRun, Path]:
        """restore-fetch.sh alone, into a new work directory; returns the run and that directory."""
        work_dir = self.scratch.directory("restore-work")
        environment = {**contract.transfer_environment(store, str(work_dir)), **(env or {})}
        return self.run_script(contract.RESTORE_FETCH, environment), work_dir

    def verify(
        self,
        work_dir: Path,
        minimum_rows: Mapping[str, int],
        env: Mapping[str, str] | None = None,
        *,
        cluster_dir: Path | None = None,
    ) -> ScriptRun:
        """restore-verify.sh on `work_dir`; its throwaway cluster is removed afterwards, unless in `cluster_dir`."""
        scratch = cluster_dir or self.scratch.directory("cluster")
        environment = contract.verify_environment(minimum_rows, work_dir=str(work_dir), cluster_dir=str(scratch))
        run = self.run_script(contract.RESTORE_VERIFY, {**environment, **(env or {})})
        if cluster_dir is None:
            shutil.rmtree(scratch, ignore_errors=True)
        return run


@contextmanager
def harness(tools: Tools | None = None) -> Iterator[Harness]:
    """Start PostgreSQL and moto; stop both and remove the scratch space afterwards."""
    tools = tools or find_tools()
    with scratch_space(tools.account, tools.pod) as scratch:
        postgres = PostgresServer(tools, scratch)
        s3 = MotoS3()
        try:
            postgres.start()
            s3.start()
            yield Harness(tools=tools, scratch=scratch, postgres=postgres, s3=s3)
        finally:
            s3.stop()
            if hasattr(postgres, "data_dir"):
                postgres.stop()


# --- the verification's table report ---------------------------------------------------------


@cache
def table_report_sql() -> str:
    """The per-table row count and checksum statement restore-verify.sh runs (its <<'SQL' here-document).

    Run it with `psql --no-psqlrc --quiet --tuples-only --no-align --field-separator='|' --command=<sql>`:
    one `schema.table|rows|checksum` line per user table.
    """
    match = re.search(r"<<'SQL'\n(.*?)\nSQL\n", contract.script_text(contract.RESTORE_VERIFY), re.DOTALL)
    if match is None:
        raise ValueError(f"{contract.RESTORE_VERIFY} has no <<'SQL' here-document")
    return match.group(1)


@dataclass(frozen=True)
class TableReport:
    rows: int
    checksum: str


_REPORT_LINE = re.compile(
    r"restore-verify: table (?P<table>\S+) rows=(?P<rows>\d+) checksum=(?P<checksum>[0-9a-f]{32})"
)
_PSQL_LINE = re.compile(r"(?P<table>[^|]+)\|(?P<rows>\d+)\|(?P<checksum>[0-9a-f]{32})")


def parse_verify_report(output: str) -> dict[str, TableReport]:
    """The `restore-verify: table ... rows=... checksum=...` lines of restore-verify.sh's output."""
    return _parse(_REPORT_LINE, output)


def parse_table_report(psql_output: str) -> dict[str, TableReport]:
    """The `schema.table|rows|checksum` lines of table_report_sql() run by psql (see its docstring)."""
    return _parse(_PSQL_LINE, psql_output)


def _parse(pattern: re.Pattern[str], output: str) -> dict[str, TableReport]:
    report = {}
    for line in output.splitlines():
        match = pattern.fullmatch(line.strip())
        if match:
            report[match["table"]] = TableReport(rows=int(match["rows"]), checksum=match["checksum"])
    return report
