"""boto3 clients with the standard configuration, call counting, how errors are told apart, and batching."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from rotation_doctor.model.snapshot import ReadFailure

if TYPE_CHECKING:
    import boto3

T = TypeVar("T")


# Raised when nothing can be diagnosed at all (no credentials, the first read refused, ...).
class AwsError(Exception):
    """An AWS error that stops the whole command (contract exit status 3)."""


class BadInput(Exception):
    """The user named something that does not exist or cannot be (contract exit status 2)."""


NOT_FOUND_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "ResourceNotFound",
        "NoSuchEntity",
        "NotFoundException",
        "DBInstanceNotFound",
        "DBInstanceNotFoundFault",
        "DBClusterNotFoundFault",
        "DBClusterNotFound",
        "DBProxyNotFoundFault",
        "DBProxyEndpointNotFoundFault",
        "DBClusterEndpointNotFoundFault",
        "DBSubnetGroupNotFoundFault",
        "ClusterNotFound",
        "ClusterNotFoundFault",
        "ClusterSubnetGroupNotFoundFault",
    }
)


class CallCounter:
    """Counts API calls (once per operation, not per retry) through botocore's event hooks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()

    def __call__(self, model: Any = None, **_: Any) -> None:
        name = f"{model.service_model.service_name}:{model.name}" if model is not None else "?"
        with self._lock:
            self.calls[name] += 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())


class AwsClients:
    """Lazily made clients of one session and region; injected wherever AWS is read or changed."""

    def __init__(
        self,
        session: boto3.session.Session | None = None,
        region: str | None = None,
        counter: CallCounter | None = None,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.session = session or boto3.session.Session()
        # AWS_REGION is the SDKs' standard variable; boto3 itself reads only AWS_DEFAULT_REGION and profiles.
        self.region = region or os.environ.get("AWS_REGION") or self.session.region_name
        if not self.region:
            raise BadInput("no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or a profile's region)")
        self.counter = counter or CallCounter()
        # Standard retries back off on throttling; AWS_MAX_ATTEMPTS and AWS_RETRY_MODE still win.
        retries: Any = {"mode": os.environ.get("AWS_RETRY_MODE", "standard")}
        if "AWS_MAX_ATTEMPTS" not in os.environ:
            retries["max_attempts"] = 6
        self._config = Config(
            retries=retries,
            connect_timeout=5,
            read_timeout=20,
            max_pool_connections=16,
            user_agent_extra="rotation-doctor",
        )
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                made = self.session.client(service, region_name=self.region, config=self._config)  # type: ignore[call-overload]
                made.meta.events.register("before-call.*.*", self.counter)
                self._clients[service] = made
            return self._clients[service]

    def __getattr__(self, service: str) -> Any:
        if service.startswith("_"):
            raise AttributeError(service)
        return self.client(service.rstrip("_").replace("_", "-"))


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", type(exc).__name__))
    return type(exc).__name__


def is_not_found(exc: BaseException) -> bool:
    code = error_code(exc)
    return code in NOT_FOUND_CODES or code.endswith(".NotFound")


def fatal(exc: BaseException) -> bool:
    """Errors after which no further read can succeed: credentials, connection, configuration."""
    from botocore import exceptions as bx

    return isinstance(
        exc,
        bx.NoCredentialsError
        | bx.PartialCredentialsError
        | bx.EndpointConnectionError
        | bx.NoRegionError
        | bx.ConnectTimeoutError
        | bx.CredentialRetrievalError
        | bx.TokenRetrievalError
        | bx.SSOTokenLoadError
        | bx.ProfileNotFound,
    )


def read_failure(operation: str, exc: BaseException) -> ReadFailure:
    """A failed read as a fact; the permission is the operation's IAM action (plus KMS when KMS said no)."""
    response = getattr(exc, "response", None)
    message = str(response.get("Error", {}).get("Message", "")) if isinstance(response, dict) else str(exc)
    permission = operation
    if "kms" in message.lower() and operation.startswith("secretsmanager:"):
        permission = f"{operation} and kms:Decrypt"
    return ReadFailure(operation, error_code(exc), message, permission)


def describe_fatal(exc: BaseException) -> str:
    """One line for a person: the error code and AWS's message."""
    code = error_code(exc)
    response = getattr(exc, "response", None)
    message = str(response.get("Error", {}).get("Message", "")) if isinstance(response, dict) else str(exc)
    return f"{code}: {message}" if message and message != code else code


def chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    """`items` in lists of at most `size`: AWS caps how many ids or filter values one call may carry."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def attempt(op: Callable[[], T]) -> T:
    """Run `op`; credentials and connection errors become AwsError, the rest propagate as they are."""
    try:
        return op()
    except Exception as exc:
        if fatal(exc):
            raise AwsError(describe_fatal(exc)) from exc
        raise
