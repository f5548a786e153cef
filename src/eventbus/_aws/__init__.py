"""AWS's APIs answered from a ``World``: one module per service, one dispatcher.

``answer(world, service, operation, params)`` returns ``(status, response)``:
200 and AWS's response shape, or AWS's error status and ``{"Error": {"Code":
..., "Message": ...}}``.  It needs neither boto3 nor botocore:
``eventbus.testing.mock_aws`` feeds it from botocore's events, and
``eventbus.load_template`` creates a template's resources through it.  An operation the world does not answer
raises ``UnsupportedOperationError`` naming it: never a silent empty answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._exceptions import UnsupportedOperationError
from .._world import World
from . import _events, _lambda, _pipes, _scheduler, _sqs
from ._common import AwsError, Operations, translate

__all__ = ["SERVICES", "AwsError", "UnsupportedOperationError", "answer", "supported"]

SERVICES: dict[str, Operations] = {
    "events": _events.OPERATIONS,
    "scheduler": _scheduler.OPERATIONS,
    "pipes": _pipes.OPERATIONS,
    "lambda": _lambda.OPERATIONS,
    "sqs": _sqs.OPERATIONS,
}


def supported() -> dict[str, list[str]]:
    """The operations answered, per service (sorted)."""
    return {service: sorted(operations) for service, operations in SERVICES.items()}


def answer(world: World, service: str, operation: str, params: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
    """Answer one call (see the module notes)."""
    operations = SERVICES.get(service)
    if operations is None:
        raise UnsupportedOperationError(
            f"eventbus.testing.mock_aws does not answer {service} ({operation}): it answers "
            f"{', '.join(sorted(SERVICES))}. Leave {service} to another double, or call it outside the mock.")
    handler = operations.get(operation)
    if handler is None:
        raise UnsupportedOperationError(
            f"eventbus.testing.mock_aws does not answer {service}.{operation} yet; it answers "
            f"{', '.join(sorted(operations))}")
    try:
        response = handler(world, params)
    except Exception as exc:
        error = translate(service, exc)
        if error is None:
            raise
        return error.status, {"Error": {"Code": error.code, "Message": error.message}}
    return response.pop("__status__", 200), response  # (an operation may answer another success status)
