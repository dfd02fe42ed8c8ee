"""A simulated AWS account on moto, in process: for `rotation-doctor demo`, the tests and the benchmarks.

Needs the `demo` extra (moto). Nothing here is imported by the diagnosis itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def simulated_aws() -> Iterator[Any]:
    """moto's mock of every service, Lambda without Docker, answering as AWS does where it matters."""
    from moto import mock_aws

    from rotation_doctor.simulated import moto_fidelity

    moto_fidelity.apply()
    with mock_aws(config={"lambda": {"use_docker": False}}) as mock:
        yield mock
