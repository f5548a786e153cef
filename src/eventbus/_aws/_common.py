"""What every service's answers share: errors in AWS's codes, parameter reading.

A service module maps operation names to functions ``(world, params) ->
response``; ``params`` are the call's arguments as boto3 took them (botocore
has already checked their types and required members against the service
model).  An ``AwsError`` is answered as AWS answers an error (its code and
message, an HTTP status): botocore then raises the modelled ``ClientError``.
eventbus's own errors are translated by ``translate`` to the service's codes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .._exceptions import (
    ConflictError,
    IllegalStatusError,
    InvalidEventPatternError,
    LimitExceededError,
    ResourceAlreadyExistsError,
    ResourceNotFoundError,
    ServiceQuotaExceededError,
    ThrottlingError,
    ValidationError,
)
from .._world import World

__all__ = ["AwsError", "Operation", "Operations", "get", "page", "translate"]

Operation = Callable[[World, Mapping[str, Any]], dict[str, Any]]
Operations = dict[str, Operation]


class AwsError(Exception):
    """An error answer: ``code`` (the service model's error shape name), ``message``
    and ``status`` (the HTTP status AWS gives it)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


# per service: eventbus's error class -> (error code, HTTP status); the first class the error is an instance of wins
_CODES: dict[str, list[tuple[type[Exception], str, int]]] = {
    "events": [(InvalidEventPatternError, "InvalidEventPatternException", 400),
               (ValidationError, "ValidationException", 400),
               (ResourceNotFoundError, "ResourceNotFoundException", 400),
               (ResourceAlreadyExistsError, "ResourceAlreadyExistsException", 400),
               (ConflictError, "ResourceAlreadyExistsException", 400),
               (LimitExceededError, "LimitExceededException", 400),
               (IllegalStatusError, "IllegalStatusException", 400)],
    "scheduler": [(ValidationError, "ValidationException", 400),
                  (ResourceNotFoundError, "ResourceNotFoundException", 404),
                  (ConflictError, "ConflictException", 409),
                  (ServiceQuotaExceededError, "ServiceQuotaExceededException", 402)],
    "pipes": [(ValidationError, "ValidationException", 400),
              (ResourceNotFoundError, "NotFoundException", 404),
              (ConflictError, "ConflictException", 409),
              (LimitExceededError, "ServiceQuotaExceededException", 402)],
    "lambda": [(ValidationError, "InvalidParameterValueException", 400),
               (ResourceNotFoundError, "ResourceNotFoundException", 404),
               (ConflictError, "ResourceConflictException", 409),
               (ThrottlingError, "TooManyRequestsException", 429)],
    "sqs": [(ValidationError, "InvalidParameterValue", 400),
            (ResourceNotFoundError, "QueueDoesNotExist", 400),
            (ConflictError, "QueueNameExists", 400)],
}


def translate(service: str, exc: Exception) -> AwsError | None:
    """``exc`` as the service's error answer, or ``None`` if it is not one of eventbus's."""
    if isinstance(exc, AwsError):
        return exc
    for kind, code, status in _CODES.get(service, ()):
        if isinstance(exc, kind):
            return AwsError(code, str(exc), status)
    return None


def get(params: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """A parameter, or ``default`` when the call left it out."""
    value = params.get(name)
    return default if value is None else value


def page(items: list[Any], params: Mapping[str, Any], key: str, *, limit: str = "Limit", token: str = "NextToken",
         next_token: str = "NextToken", most: int = 100) -> dict[str, Any]:
    """One page of a list answer: ``items[start:start + limit]`` under ``key``, and
    ``next_token`` when more follow (the token is the next item's position, as
    text).  A token the list never gave is AWS's ``ValidationException``."""
    given = params.get(token)
    try:
        start = 0 if given is None else int(given)
    except ValueError:
        raise AwsError("ValidationException", f"The nextToken provided is invalid: {given}") from None
    if not 0 <= start <= len(items):
        raise AwsError("ValidationException", f"The nextToken provided is invalid: {given}")
    size = int(get(params, limit, most))
    out: dict[str, Any] = {key: items[start:start + size]}
    if start + size < len(items):
        out[next_token] = str(start + size)
    return out
