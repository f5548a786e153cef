"""boto3 answered in process: ``mock_aws()``, botocore's events, and nothing else.

While a ``mock_aws`` is active, every botocore client's calls to the
services the ``World`` models (events, scheduler, pipes, lambda, sqs) are
answered from the world, with no network and no HTTP:

* ``before-parameter-build.*.*`` keeps the call's arguments (as the caller gave
  them, before serialisation) in the request context;
* ``before-call.*.*`` answers ``(AWSResponse, parsed)``, the mechanism
  ``botocore.stub.Stubber`` uses.  An error answer has an HTTP status of 400 or
  more and ``Error.Code``: botocore raises the modelled ``ClientError``
  (``client.exceptions.ResourceNotFoundException`` ...).

botocore still checks the arguments against the service model first
(``ParamValidationError``).  Clients created before the mock was started,
even before eventbus was imported, are answered too: once a mock has
started, ``BaseClient._make_api_call`` makes sure, while any mock is active,
that the client's event emitter carries the two handlers (each client gets a
copy of its session's emitter, so registering on sessions would miss
clients that exist already).  When no mock is active, a client made under
one (it holds the mock's fake credentials) refuses its calls rather than
send them to AWS; any other client works as botocore makes it work.

Mocks started in different threads or asyncio tasks answer their own
thread's or task's calls; a thread or task that started none (a worker of
the code under test) is answered by the last mock started anywhere.  After
each outermost call the world runs what is due now (``World.settle``), so a
handler reached by ``PutEvents`` has run when ``put_events`` returns; retries
and schedules wait for ``advance``.

A call to another service, or to an operation not modelled, raises
``UnsupportedOperationError`` naming it.  While mocks are active the
environment holds fake credentials and the region (as moto does) and no
``AWS_PROFILE``, so no real credentials are looked up or used; the last mock
to stop puts the environment back as it was.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import io
import os
import sys
import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar, cast, overload

from .._aws import answer
from .._clock import Clock
from .._exceptions import ValidationError
from .._world import World

__all__ = ["MockAws", "current_world", "mock_aws"]

F = TypeVar("F", bound=Callable[..., Any])

_PARAMS = "eventbus_mock_params"
_lock = threading.RLock()
_active: list[MockAws] = []  # started mocks, in the order they started (any thread or task)
# the mocks started in this thread or task, innermost last: the last of them still active answers its calls;
# a thread or task that started none (a worker thread of the code under test) is answered by the last started
_here: ContextVar[tuple[MockAws, ...]] = ContextVar("eventbus_mock_aws", default=())
_original: Any = None  # BaseClient._make_api_call before the first mock started
_saved_environment: dict[str, str | None] = {}  # the variables the mocks changed, as they were before
_depth = threading.local()
_FAKE_KEY = "eventbus-testing"
_FAKE_ENVIRONMENT = {"AWS_ACCESS_KEY_ID": _FAKE_KEY, "AWS_SECRET_ACCESS_KEY": _FAKE_KEY,
                     "AWS_SESSION_TOKEN": _FAKE_KEY, "AWS_SECURITY_TOKEN": _FAKE_KEY}
_REMOVED_ENVIRONMENT = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")  # a profile would win over the fake credentials


def _botocore() -> Any:
    """botocore, with the modules used here imported (boto3 and botocore are the
    ``testing`` extra, imported only when a mock starts)."""
    try:
        for module in ("botocore.client", "botocore.response", "botocore.awsrequest"):
            importlib.import_module(module)
    except ImportError:  # pragma: no cover - the testing extra is installed in CI
        raise ImportError("eventbus.testing.mock_aws answers boto3: install it with "
                          "pip install 'eventbus[testing]' (boto3 is not installed)") from None
    return sys.modules["botocore"]


def _answering() -> MockAws | None:
    """The mock that answers a call made here (see ``_here``)."""
    with _lock:
        for mock in reversed(_here.get()):
            if mock in _active:
                return mock
        return _active[-1] if _active else None


def _keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    if _active:
        context[_PARAMS] = dict(params)


def _made_under_a_mock(request_signer: Any) -> bool:
    credentials = getattr(request_signer, "_credentials", None)
    return getattr(credentials, "access_key", None) == _FAKE_KEY


def _stopped(operation: str) -> ValidationError:
    return ValidationError(f"This client was made under eventbus.testing.mock_aws (it holds the mock's fake "
                           f"credentials) and no mock is active now: {operation} would go to AWS. Make the "
                           "client again outside the mock, or call it while a mock is active")


def _answer(model: Any, params: dict[str, Any], context: dict[str, Any], request_signer: Any = None,
            **_: Any) -> Any:
    mock = _answering()
    if mock is None:
        if _made_under_a_mock(request_signer):
            raise _stopped(model.name)
        return None  # (a real client, used after the mocks stopped: the call goes on as botocore makes it)
    botocore = _botocore()
    world = mock.world
    region = getattr(request_signer, "region_name", None)
    if region is not None and region != world.region:
        raise ValidationError(f"eventbus.testing.mock_aws answers region {world.region} (its World's); this client "
                              f"is for {region}: give mock_aws(region={region!r}), or make the client for "
                              f"{world.region}")
    service = model.service_model.service_name
    outermost = not getattr(_depth, "value", 0)
    _depth.value = getattr(_depth, "value", 0) + 1
    try:
        status, parsed = answer(world, service, model.name, context.get(_PARAMS, {}))
        if outermost and status < 300:
            world.settle()
    finally:
        _depth.value -= 1
    if status >= 300:
        parsed["Error"]["Code"] = _wire_code(model, parsed["Error"]["Code"])
    else:
        payload = model.output_shape.serialization.get("payload") if model.output_shape is not None else None
        if payload is not None and isinstance(parsed.get(payload), bytes):
            data = parsed[payload]
            parsed[payload] = botocore.response.StreamingBody(io.BytesIO(data), len(data))
    parsed["ResponseMetadata"] = {"RequestId": world.new_id(), "HTTPStatusCode": status,
                                  "HTTPHeaders": {"x-eventbus": "mock_aws"}, "RetryAttempts": 0}
    return botocore.awsrequest.AWSResponse(None, status, {}, None), parsed


def _wire_code(model: Any, name: str) -> str:
    """The code botocore maps to the modelled exception named ``name`` (SQS's
    query-compatible errors have codes other than their shape names)."""
    for shape in model.service_model.error_shapes:
        if shape.name == name:
            return str(shape.error_code or name)
    return name


def _ensure_handlers(client: Any) -> None:
    events = client.meta.events
    if getattr(events, "_eventbus_mock_aws", False):
        return  # (registering checks the handlers' signatures each time: done once per emitter)
    events._eventbus_mock_aws = True
    events.register_first("before-parameter-build.*.*", _keep_params, unique_id="eventbus-mock-aws-params")
    events.register_first("before-call.*.*", _answer, unique_id="eventbus-mock-aws-answer")


def _patch() -> None:
    global _original
    botocore = _botocore()
    base = botocore.client.BaseClient
    if _original is not None:
        return
    _original = base._make_api_call

    def _make_api_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        if _active:
            _ensure_handlers(self)
        elif _made_under_a_mock(getattr(self, "_request_signer", None)):
            raise _stopped(operation_name)
        return original(self, operation_name, api_params)

    original = _original
    base._make_api_call = _make_api_call


class MockAws:
    """``mock_aws()``: a context manager (``with mock_aws() as aws:``, ``aws`` the
    ``World``), a decorator (sync or ``async def``; the world is the mock's
    ``world``) and, through the pytest plugin, the ``eventbus_aws`` fixture.
    Mocks nest: the innermost active one answers."""

    def __init__(self, world: World | None = None, *, clock: Clock | None = None, account: str = "123456789012",
                 region: str = "us-east-1") -> None:
        if world is not None and not isinstance(world, World):
            raise ValidationError(f"mock_aws(world=...) takes an eventbus.testing.World, not {world!r}")
        self._given = world
        self._settings = {"clock": clock, "account": account, "region": region}
        self.world: World = world if world is not None else World(clock=clock, account=account, region=region)

    def __repr__(self) -> str:
        return f"<mock_aws {'active' if self in _active else 'inactive'} {self.world!r}>"

    def start(self) -> World:
        """Answer boto3 from the world until ``stop()``; returns the world.  Calls
        made in this thread or task go to the last mock started in it; calls from
        a thread or task that started none go to the last mock started anywhere."""
        _botocore()
        with _lock:
            if self in _active:
                raise ValidationError("This mock_aws is active already")
            _patch()
            if not _active:  # the first mock: keep the environment as it was, for the last one to restore
                _saved_environment.clear()
                _saved_environment.update({key: os.environ.get(key)
                                           for key in (*_FAKE_ENVIRONMENT, "AWS_DEFAULT_REGION",
                                                       *_REMOVED_ENVIRONMENT)})
            _active.append(self)
            _here.set((*_here.get(), self))
            os.environ.update({**_FAKE_ENVIRONMENT, "AWS_DEFAULT_REGION": self.world.region})
            for key in _REMOVED_ENVIRONMENT:
                os.environ.pop(key, None)
        return self.world

    def stop(self) -> None:
        """Stop answering.  Clients made while a mock was active refuse calls once
        none is (they hold its fake credentials); other clients go back to
        botocore's own handling."""
        with _lock:
            if self not in _active:
                return
            _active.remove(self)
            _here.set(tuple(mock for mock in _here.get() if mock is not self))
            if _active:
                os.environ["AWS_DEFAULT_REGION"] = _active[-1].world.region
                return
            for key, value in _saved_environment.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def __enter__(self) -> World:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __call__(self, fn: F) -> F:
        """Decorate a test function, or a class whose ``test*`` methods are each
        decorated: each call runs under a fresh mock (a fresh world unless one was
        given), so tests do not share resources."""
        if inspect.isclass(fn):
            for name, member in list(vars(fn).items()):
                if name.startswith("test") and inspect.isfunction(member):
                    setattr(fn, name, self(member))
            return fn

        def fresh() -> MockAws:
            return MockAws(self._given, **cast(Any, self._settings))

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with fresh():
                    return await fn(*args, **kwargs)
            return cast(F, run_async)

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            with fresh():
                return fn(*args, **kwargs)
        return cast(F, run)


@overload
def mock_aws(world: F, /) -> F: ...


@overload
def mock_aws(world: World | None = None, *, clock: Clock | None = None, account: str = "123456789012",
             region: str = "us-east-1") -> MockAws: ...


def mock_aws(world: Any = None, *, clock: Clock | None = None, account: str = "123456789012",
             region: str = "us-east-1") -> Any:
    """Answer boto3's events, scheduler, pipes, lambda and sqs clients in process
    from ``world`` (a new ``World`` on ``clock`` by default); see the module notes.
    ``@mock_aws`` without parentheses decorates as ``@mock_aws()`` does."""
    if world is not None and not isinstance(world, World) and (callable(world) or inspect.isclass(world)):
        return MockAws(clock=clock, account=account, region=region)(world)
    return MockAws(world, clock=clock, account=account, region=region)


def current_world() -> World:
    """The world the innermost active ``mock_aws`` answers from (for helpers that
    move its time or read what happened without being handed it)."""
    mock = _answering()
    if mock is None:
        raise ValidationError("No mock_aws is active: current_world() is the world of an active mock")
    return mock.world
