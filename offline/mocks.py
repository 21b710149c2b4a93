"""Pulumi mocks that record every resource the program declares, for the render and tests.

The mock engine answers each registration with deterministic outputs (a Kubernetes object
echoes its inputs and gets a stable name when auto-named; a RandomPassword gets a value
derived from its name and keepers) and records type, name, parent, provider, protect flag
and raw inputs, secrets still wrapped so the render can mask exactly them.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs

SECRET_SIGNATURE_KEY = rpc._special_sig_key  # "4dabf18193072939515e22adb298388d"
SECRET_SIGNATURE = rpc._special_secret_sig

RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
RANDOM_STRING = "random:index/randomString:RandomString"


def is_secret(value: Any) -> bool:
    """True for an input the SDK sent wrapped as a secret."""
    return isinstance(value, dict) and value.get(SECRET_SIGNATURE_KEY) == SECRET_SIGNATURE


def map_secrets(value: Any, on_secret: Callable[[Any], Any]) -> Any:
    """`value` with every secret-wrapped part replaced by `on_secret(the wrapped value)`."""
    if is_secret(value):
        return on_secret(value["value"])
    if isinstance(value, dict):
        return {key: map_secrets(item, on_secret) for key, item in value.items()}
    if isinstance(value, list):
        return [map_secrets(item, on_secret) for item in value]
    return value


def unwrap_secrets(value: Any) -> Any:
    """The value with every secret wrapper removed (for the engine's answers, never for output)."""
    return map_secrets(value, unwrap_secrets)


@dataclass
class RecordedResource:
    urn: str
    type: str
    name: str
    parent: str
    provider: str
    """URN of the explicit provider, "" for a default provider."""
    custom: bool
    protect: bool
    inputs: dict[str, Any]
    """Inputs as the engine received them: wire names, secrets wrapped."""
    outputs: dict[str, Any] = field(default_factory=dict)
    dependencies: tuple[str, ...] = ()
    """URNs the resource waits for (depends_on and inputs from other resources)."""


@dataclass
class _Registration:
    urn: str
    parent: str
    provider: str
    protect: bool
    dependencies: tuple[str, ...]


def _deterministic_password(seed: str, length: int, special: bool) -> str:
    """A value meeting RandomPassword's minimums (lower, upper, digit, special), stable per seed."""
    digest = ""
    counter = 0
    while len(digest) < length:
        digest += hashlib.sha256(f"{seed}:{counter}".encode()).hexdigest()
        counter += 1
    prefix = "Aa1!" if special else "Aa1"
    return (prefix + digest)[: max(length, len(prefix))]


MOCK_AWS_ACCOUNT = "123456789012"
"""Stands in for the account AWS would report; the render never talks to AWS."""
MOCK_AWS_REGION = "eu-west-1"


def _aws_outputs(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """What AWS computes at creation and the program reads back: names, ids, ARNs (deterministic)."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    if typ == "aws:s3/bucket:Bucket":
        bucket = inputs.get("bucket") or f"{inputs.get('bucketPrefix', name)}{int(digest[:16], 16):026d}"[:63]
        return {"bucket": bucket, "arn": f"arn:aws:s3:::{bucket}", "id": bucket}
    if typ == "aws:kms/key:Key":
        key_id = f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
        return {"keyId": key_id, "arn": f"arn:aws:kms:{MOCK_AWS_REGION}:{MOCK_AWS_ACCOUNT}:key/{key_id}"}
    if typ == "aws:iam/role:Role":
        role = inputs.get("name") or f"{name}-{digest[:7]}"
        return {"name": role, "arn": f"arn:aws:iam::{MOCK_AWS_ACCOUNT}:role/{role}"}
    return {}


class RecordingMocks(pulumi.runtime.Mocks):
    """Deterministic engine answers plus a record of every registration."""

    def __init__(self) -> None:
        self.resources: list[RecordedResource] = []
        self.invokes: list[str] = []
        self.generated_values: list[str] = []
        """Every value a mocked random resource produced (the leak test looks for them)."""
        self._lock = threading.Lock()
        self._pending = threading.local()

    def expect(self, registration: _Registration) -> None:
        self._pending.registration = registration

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        registration: _Registration | None = getattr(self._pending, "registration", None)
        self._pending.registration = None
        outputs = self._outputs(args)
        if registration is not None:
            with self._lock:
                self.resources.append(
                    RecordedResource(
                        urn=registration.urn,
                        type=args.typ,
                        name=args.name,
                        parent=registration.parent,
                        provider=registration.provider,
                        custom=bool(args.custom),
                        protect=registration.protect,
                        inputs=copy.deepcopy(args.inputs),
                        outputs=outputs,
                        dependencies=registration.dependencies,
                    )
                )
        return self._resource_id(args, outputs), outputs

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        with self._lock:
            self.invokes.append(args.token)
        return {}, None

    def _outputs(self, args: MockResourceArgs) -> dict[str, Any]:
        outputs: dict[str, Any] = unwrap_secrets(copy.deepcopy(args.inputs))
        if args.typ in (RANDOM_PASSWORD, RANDOM_STRING):
            seed = f"{args.name}:{sorted((outputs.get('keepers') or {}).items())}"
            value = _deterministic_password(seed, int(outputs.get("length", 16)), bool(outputs.get("special", True)))
            with self._lock:
                self.generated_values.append(value)
            outputs["result"] = value
            if args.typ == RANDOM_PASSWORD:
                outputs["bcryptHash"] = "$2a$10$" + hashlib.sha256(value.encode()).hexdigest()[:53]
        if args.typ.startswith("aws:"):
            outputs.update(_aws_outputs(args.typ, args.name, outputs))
        if args.typ.startswith("kubernetes:") and "apiVersion" in outputs:
            metadata = outputs.setdefault("metadata", {})
            # The real provider auto-names with a random suffix; the render needs a stable one.
            metadata.setdefault("name", f"{args.name}-{hashlib.sha256(args.name.encode()).hexdigest()[:8]}")
        return outputs

    @staticmethod
    def _resource_id(args: MockResourceArgs, outputs: dict[str, Any]) -> str:
        if args.typ.startswith("aws:") and outputs.get("id"):
            return str(outputs["id"])
        metadata = outputs.get("metadata")
        if isinstance(metadata, dict) and metadata.get("name"):
            namespace = metadata.get("namespace")
            return f"{namespace}/{metadata['name']}" if namespace else str(metadata["name"])
        return f"{args.name}-id"


class RecordingMonitor(MockMonitor):
    """Mock monitor that tells the mocks what `MockResourceArgs` leaves out (parent, provider, protect)."""

    mocks: RecordingMocks

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        if request.type != "pulumi:pulumi:Stack":
            self.mocks.expect(
                _Registration(
                    urn=self.make_urn(request.parent, request.type, request.name),
                    parent=request.parent,
                    # "urn::id" of an explicit provider; empty means the default provider.
                    provider=request.provider.rsplit("::", 1)[0] if request.provider else "",
                    protect=bool(request.protect),
                    dependencies=tuple(sorted(request.dependencies)),
                )
            )
        return super().RegisterResource(request)  # type: ignore[no-untyped-call]
