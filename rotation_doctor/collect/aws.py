"""boto3 clients with the standard configuration, call counting, how errors are told apart, and batching."""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, TypeVar, cast

from rotation_doctor.model.snapshot import ReadFailure

# The clients' types come from boto3-stubs, a development dependency: nothing here imports them at run time.
if TYPE_CHECKING:
    import boto3
    from botocore.client import BaseClient
    from botocore.config import _RetryDict
    from botocore.model import OperationModel
    from mypy_boto3_docdb import DocDBClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_redshift import RedshiftClient
    from mypy_boto3_redshift_serverless import RedshiftServerlessClient
    from mypy_boto3_route53 import Route53Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

T = TypeVar("T")


# The SDK and the HTTP stack below it. At DEBUG, botocore logs whole request and response bodies (GetSecretValue's holds
# the password) and urllib3 logs every connection.
SDK_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")


def quiet_sdk_loggers() -> None:
    """Pin the SDK's loggers at WARNING, whatever the root logger's level (`--verbose`, a Lambda's DEBUG log level):
    what was read is logged by our own loggers, never what came back."""
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


# Raised when nothing can be diagnosed at all (no credentials, the first read refused, ...).
class AwsError(Exception):
    """An AWS error that stops the whole command (contract exit status 3)."""


class BadInput(Exception):
    """The user named something that does not exist or cannot be (contract exit status 2)."""


class BadSetting(BadInput):
    """A setting that cannot work (a region, a profile, an endpoint URL): exit status 2, naming the setting."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting


class SecretNotFound(BadInput):
    """Secrets Manager has no such secret (ResourceNotFoundException): deleted, or never there."""


class SecretUnreadable(AwsError):
    """One secret could not be read (its owner's resource policy denies the read, a KMS key refuses, AWS failed):
    that secret is unknown, with `failure` as the reason; every other secret can still be read. The command line's
    `diagnose` of that one secret stops on it (an AwsError); the service reports the secret and goes on."""

    def __init__(self, secret_id: str, failure: ReadFailure) -> None:
        super().__init__(f"cannot read secret {secret_id!r}: {failure.error_code}: {failure.message}")
        self.secret_id = secret_id
        self.failure = failure


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

    def __call__(self, model: OperationModel | None = None, **_: object) -> None:
        name = f"{model.service_model.service_name}:{model.name}" if model is not None else "?"
        with self._lock:
            self.calls[name] += 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())


# A boto3 session is not thread-safe: making two clients of one session at once can fail. Clients of
# several places (accounts, regions) are made by several threads and may share the base session, so
# clients are made one at a time; the clients themselves are thread-safe and used concurrently.
SESSION_LOCK = threading.Lock()


class AwsClients:
    """Lazily made clients of one session and region; injected wherever AWS is read or changed.

    Each service has a typed property (`clients.ec2`, `clients.lambda_`, ...); `client(name)` is for code whose
    operation names are data (the executor's steps, the paged reads), and answers the same client object.
    """

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
        # Standard retries back off on throttling; AWS_RETRY_MODE and AWS_MAX_ATTEMPTS, when set, are left to
        # botocore, which reads them from the environment.
        retries: _RetryDict = {}
        if "AWS_RETRY_MODE" not in os.environ:
            retries["mode"] = "standard"
        if "AWS_MAX_ATTEMPTS" not in os.environ:
            retries["max_attempts"] = 6
        self._config = Config(
            retries=retries,
            connect_timeout=5,
            read_timeout=20,
            max_pool_connections=16,
            user_agent_extra="rotation-doctor",
        )
        self._clients: dict[str, BaseClient] = {}
        self._lock = threading.Lock()

    def client(self, service: str) -> BaseClient:
        """The client of `service` ("ec2", "redshift-serverless", ...), made once and counted."""
        with self._lock:
            made = self._clients.get(service)
            if made is None:
                with SESSION_LOCK:
                    made = self.session.client(service, region_name=self.region, config=self._config)  # type: ignore[call-overload]
                made.meta.events.register("before-call.*.*", self.counter)
                self._clients[service] = made
            return made

    # boto3 makes for each service name the client class that boto3-stubs describes under that name.
    @property
    def docdb(self) -> DocDBClient:
        return cast("DocDBClient", self.client("docdb"))

    @property
    def dynamodb(self) -> DynamoDBClient:
        return cast("DynamoDBClient", self.client("dynamodb"))

    @property
    def ec2(self) -> EC2Client:
        return cast("EC2Client", self.client("ec2"))

    @property
    def iam(self) -> IAMClient:
        return cast("IAMClient", self.client("iam"))

    @property
    def lambda_(self) -> LambdaClient:
        return cast("LambdaClient", self.client("lambda"))

    @property
    def logs(self) -> CloudWatchLogsClient:
        return cast("CloudWatchLogsClient", self.client("logs"))

    @property
    def rds(self) -> RDSClient:
        return cast("RDSClient", self.client("rds"))

    @property
    def redshift(self) -> RedshiftClient:
        return cast("RedshiftClient", self.client("redshift"))

    @property
    def redshift_serverless(self) -> RedshiftServerlessClient:
        return cast("RedshiftServerlessClient", self.client("redshift-serverless"))

    @property
    def route53(self) -> Route53Client:
        return cast("Route53Client", self.client("route53"))

    @property
    def secretsmanager(self) -> SecretsManagerClient:
        return cast("SecretsManagerClient", self.client("secretsmanager"))

    @property
    def sns(self) -> SNSClient:
        return cast("SNSClient", self.client("sns"))

    @property
    def sqs(self) -> SQSClient:
        return cast("SQSClient", self.client("sqs"))


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
    # A proxy or a non-AWS endpoint answers with a whole HTML page: one line of it is enough.
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    message = lines[0][:200] + (" …" if len(lines) > 1 or len(lines[0]) > 200 else "") if lines else ""
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
