"""An AWS account and region, in process: what boto3 calls are answered from.

A ``World`` owns the resources an application's infrastructure creates and
resolves their names, ARNs and queue URLs: event buses (with their rules,
targets, archives and replays), the scheduler (schedules and groups), pipes,
SQS queues, Lambda functions and their event source mappings.  Everything
runs on one clock, a ``ManualClock`` unless another is given, so a test
moves time with ``advance(minutes=5)`` instead of sleeping.

A Lambda function is a Python callable: ``register_function(name, handler)``
before the application creates it, or ``CreateFunction`` with
``Handler="package.module.function"``, resolved by import.  Targets name
what they deliver to by ARN and find it when they deliver, as in AWS: a
function created after the rule that targets it is found, and a target whose
function is gone fails its delivery (and is retried, then dead-lettered).

The world is the model; ``eventbus.testing.mock_aws()`` answers boto3 from it
(``eventbus.testing``), and ``eventbus.load_template`` builds one from a
CloudFormation template.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import os
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ._bus import EventBus
from ._clock import Clock, ManualClock
from ._clock._default import default_clock
from ._delivery import Function, Queue
from ._exceptions import ConflictError, ResourceNotFoundError, ValidationError
from ._pipes import Pipe
from ._schedule import Scheduler
from ._validate import ACCOUNT, REGION, check_callable, check_name

__all__ = ["ArnDestination", "FunctionEntry", "Invocation", "PipeEntry", "QueueArnDestination", "QueueEntry", "World",
           "lambda_arn", "queue_url"]

_FUNCTION_NAME = r"[a-zA-Z0-9-_]+"
# Lambda's FunctionName: a name, a partial ARN or a full ARN, with an optional version or alias
_FUNCTION_REFERENCE = re.compile(r"(?:arn:aws[a-zA-Z-]*:lambda:)?(?:(?P<region>[a-z]{2}(?:-gov)?-[a-z]+-\d):)?"
                                 r"(?:(?P<account>\d{12}):)?(?:function:)?(?P<name>[a-zA-Z0-9\-_.]+)"
                                 r"(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9\-_]+))?")


def lambda_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:lambda:{region}:{account}:function:{name}"


def queue_url(region: str, account: str, name: str) -> str:
    return f"https://sqs.{region}.amazonaws.com/{account}/{name}"


class ImportModuleError(Exception):
    """A function's ``Handler`` names a module or function that cannot be imported
    (Lambda reports ``Runtime.ImportModuleError`` when it is invoked)."""

    lambda_error_type = "Runtime.ImportModuleError"


@dataclass
class FunctionEntry:
    """A Lambda function: its handler, its settings as AWS shows them, and the
    ``Function`` that runs it (built again when its invoke settings change)."""

    name: str
    handler: Callable[..., Any]
    function: Function
    configuration: dict[str, Any]  # GetFunctionConfiguration's shape
    invoke_config: dict[str, Any] | None = None  # PutFunctionEventInvokeConfig's settings
    dead_letter_arn: str | None = None  # the function's DeadLetterConfig
    registered: bool = False  # by register_function, not yet claimed by CreateFunction


@dataclass
class QueueEntry:
    queue: Queue
    url: str
    attributes: dict[str, str]  # as created (GetQueueAttributes adds the counts)
    created: datetime
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class PipeEntry:
    pipe: Pipe
    definition: dict[str, Any]  # the CreatePipe request, as DescribePipe shows it
    created: datetime
    modified: datetime


@dataclass(frozen=True)
class Invocation:
    """One call of a function's handler, as the world saw it: the event it was
    given, when, and what it returned or raised."""

    function: str
    event: Any
    at: datetime
    result: Any = None
    error: BaseException | None = None


RECEIVED_KEPT = 1_000  # calls kept per function (the oldest go first)


def _recording(world: World, name: str, handler: Callable[..., Any]) -> Callable[..., Any]:
    """``handler`` wrapped to run as Lambda runs it: with the function's
    environment variables set (and ``AWS_LAMBDA_FUNCTION_NAME``, ``AWS_REGION``)
    while it runs, each call kept (bounded) in ``world.calls[name]``."""
    def keep(event: Any, result: Any, error: BaseException | None) -> None:
        calls = world.calls.setdefault(name, deque(maxlen=RECEIVED_KEPT))
        calls.append(Invocation(name, event, world.clock.now(), result, error))

    def environment() -> dict[str, str]:
        entry = world.functions.get(name)
        given = ((entry.configuration.get("Environment") or {}).get("Variables") or {}) if entry else {}
        return {"AWS_LAMBDA_FUNCTION_NAME": name, "AWS_REGION": world.region, "AWS_DEFAULT_REGION": world.region,
                **{str(k): str(v) for k, v in given.items()}}

    if inspect.iscoroutinefunction(handler):
        async def run_async(event: Any, context: Any) -> Any:
            with _environment(environment()):
                try:
                    result = await handler(event, context)
                except BaseException as exc:
                    keep(event, None, exc)
                    raise
            keep(event, result, None)
            return result
        return functools.update_wrapper(run_async, handler)

    def run(event: Any, context: Any) -> Any:
        with _environment(environment()):
            try:
                result = handler(event, context)
            except BaseException as exc:
                keep(event, None, exc)
                raise
        keep(event, result, None)
        return result
    return functools.update_wrapper(run, handler)


_environment_lock = threading.RLock()


@contextmanager
def _environment(variables: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` with ``variables`` set, put back afterwards.  (The process has
    one environment: handlers running at the same time in several threads see
    each other's variables; under a ``ManualClock`` they run one at a time.)"""
    with _environment_lock:
        before = {key: os.environ.get(key) for key in variables}
        os.environ.update(variables)
    try:
        yield
    finally:
        with _environment_lock:
            for key, value in before.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


class ArnDestination:
    """A target's destination named by ARN, found when a delivery is made (as AWS
    resolves a target's ARN): a Lambda function, an SQS queue or an event bus."""

    def __init__(self, world: World, arn: str) -> None:
        self._world = world
        self.arn = arn
        self.clock = world.clock

    def __repr__(self) -> str:
        return f"<ArnDestination {self.arn}>"

    def deliver(self, payload: Any, attributes: Mapping[str, str] | None = None) -> None:
        self._world.resolve(self.arn).deliver(payload, attributes)



class QueueArnDestination(ArnDestination):
    """An SQS queue named by ARN: it also takes the text as the target rendered it,
    kept byte for byte (as AWS puts a target's ``Input`` on SQS), so a queue
    target may be given any text."""

    def deliver_text(self, text: str, attributes: Mapping[str, str] | None = None) -> None:
        self._world.queue(self.arn).deliver_text(text, attributes)


class World:
    """One AWS account and region in process (see the module notes).

    ``World(*, clock=None, account="123456789012", region="us-east-1")``:
    without ``clock``, the default clock if it is a ``ManualClock`` (as under
    the pytest plugin's ``eventbus_clock``), else a new ``ManualClock``.
    """

    def __init__(self, *, clock: Clock | None = None, account: str = "123456789012",
                 region: str = "us-east-1") -> None:
        if clock is None:
            found = default_clock()
            clock = found if isinstance(found, ManualClock) else ManualClock()
        self.clock: Clock = clock
        self.account = check_name("account", account, ACCOUNT)
        self.region = check_name("region", region, REGION)
        self.lock = threading.RLock()
        self.buses: dict[str, EventBus] = {}
        self.buses["default"] = self._new_bus("default")
        self.bus_created: dict[str, datetime] = {"default": self.clock.now()}
        self.bus_settings: dict[str, dict[str, Any]] = {}  # CreateEventBus's Description and Tags
        # AWS's target definitions as given, per (bus, rule) and target id, for ListTargetsByRule
        self.targets: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self.scheduler = Scheduler(clock=self.clock, account=self.account, region=self.region)
        # what GetSchedule shows that a Schedule does not keep (RoleArn, KmsKeyArn), per (group, name), with the
        # target it was given for
        self.schedule_settings: dict[tuple[str, str], tuple[Any, dict[str, Any]]] = {}
        self.tags: dict[str, dict[str, str]] = {}  # by ARN: schedule groups' and pipes' tags (TagResource)
        self.queues: dict[str, QueueEntry] = {}
        self.functions: dict[str, FunctionEntry] = {}
        self.pipes: dict[str, PipeEntry] = {}
        self.mappings: dict[str, dict[str, Any]] = {}  # event source mappings by UUID
        self.mapping_pipes: dict[str, Pipe] = {}
        self.max_callbacks_per_instant = 10_000  # settle()/advance() give up on a loop beyond this
        self.calls: dict[str, deque[Invocation]] = {}  # each function's handler calls (received())
        self._rng = self.clock.random()

    def __repr__(self) -> str:
        return (f"<World {self.account}/{self.region}: {len(self.buses)} buses, {len(self.queues)} queues, "
                f"{len(self.functions)} functions, {len(self.pipes)} pipes>")

    def _new_bus(self, name: str) -> EventBus:
        return EventBus(name, clock=self.clock, account=self.account, region=self.region)

    def new_id(self) -> str:
        """A fresh UUID (from the clock's seed when it has one)."""
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    # -- time ---------------------------------------------------------------------------
    def advance(self, delta: float | timedelta = 0, *, seconds: float = 0, minutes: float = 0, hours: float = 0,
                days: float = 0) -> int:
        """Move the clock forward (``delta`` in seconds or a ``timedelta``, plus the
        keywords), firing every schedule, retry, pipe poll and delivery due on the
        way, in time order; returns when the work due by then has settled.
        Returns how many callbacks ran."""
        clock = self._manual("advance")
        total = (delta if isinstance(delta, timedelta) else timedelta(seconds=_number("delta", delta))) \
            + timedelta(seconds=_number("seconds", seconds), minutes=_number("minutes", minutes),
                        hours=_number("hours", hours), days=_number("days", days))
        if total < timedelta(0):
            raise ValidationError(f"advance() moves time forward; it was given {total.total_seconds():g} seconds")
        return clock._advance_to(clock.now() + total, "advance_async", per_instant=self._per_instant(clock))

    def settle(self) -> int:
        """Run what is due now (deliveries just accepted, their handlers) without
        moving time; returns how many callbacks ran.  Work that never settles (a
        loop: ``max_callbacks_per_instant`` callbacks at one instant beyond what
        the work pending at the start accounts for) raises ``WaitTimeoutError``
        instead of hanging; ``advance`` does the same."""
        clock = self.clock
        if not isinstance(clock, ManualClock):
            return 0
        return clock._advance_to(clock.now(), "advance_async", per_instant=self._per_instant(clock))

    def _per_instant(self, clock: ManualClock) -> int:
        """How many callbacks may run at one instant before the work is taken for a
        loop: ``max_callbacks_per_instant`` beyond a generous share for the work
        already pending (a test may put 100,000 events, then settle)."""
        return self.max_callbacks_per_instant + 20 * clock._count

    def _manual(self, what: str) -> ManualClock:
        if not isinstance(self.clock, ManualClock):
            raise ValidationError(f"World.{what}() needs a ManualClock; this world runs on {self.clock!r}")
        return self.clock

    # -- names and ARNs -----------------------------------------------------------------
    def bus(self, name_or_arn: str = "default") -> EventBus:
        """The event bus with this name or ARN (``ResourceNotFoundError`` if none)."""
        name = name_or_arn.rsplit("/", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn
        found = self.buses.get(name)
        if found is None or (name_or_arn.startswith("arn:") and found.arn != name_or_arn):
            raise ResourceNotFoundError(f"Event bus {name_or_arn} does not exist.")
        return found

    def queue(self, name_url_or_arn: str) -> Queue:
        """The SQS queue with this name, URL or ARN."""
        return self.queue_entry(name_url_or_arn).queue

    def queue_entry(self, name_url_or_arn: str) -> QueueEntry:
        """The queue's entry, by name, URL (``QueueUrl``) or ARN."""
        key = name_url_or_arn
        if key.startswith("arn:"):
            key = key.rsplit(":", 1)[-1]
        elif "://" in key:
            key = key.rstrip("/").rsplit("/", 1)[-1]
        found = self.queues.get(key)
        if found is None or name_url_or_arn not in (key, found.url, found.queue.arn):
            raise ResourceNotFoundError("The specified queue does not exist.")
        return found

    def function(self, name_or_arn: str) -> Function:
        """The Lambda function with this name or ARN (its ``Function``)."""
        return self.function_entry(name_or_arn).function

    def function_entry(self, name_or_arn: str) -> FunctionEntry:
        """The function's entry, by any form Lambda's ``FunctionName`` takes: a name,
        ``name:$LATEST``, ``account:function:name``, a partial or full ARN.  A form
        naming another account or region, or a version or alias other than
        ``$LATEST`` (not modelled), is not found."""
        found = _FUNCTION_REFERENCE.fullmatch(name_or_arn) if isinstance(name_or_arn, str) else None
        if found is None:
            raise ValidationError(f"1 validation error detected: Value '{name_or_arn}' at 'functionName' failed to "
                                  "satisfy constraint: Member must satisfy regular expression pattern: "
                                  "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?"
                                  "(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?")
        region, account, name, qualifier = found.group("region", "account", "name", "qualifier")
        entry = self.functions.get(name)
        arn = lambda_arn(region or self.region, account or self.account, name)
        if qualifier not in (None, "$LATEST"):
            arn = f"{arn}:{qualifier}"
        if entry is None or (region or self.region) != self.region or (account or self.account) != self.account \
                or qualifier not in (None, "$LATEST"):
            raise ResourceNotFoundError(f"Function not found: {arn}")
        return entry

    def pipe(self, name: str) -> Pipe:
        """The pipe with this name."""
        found = self.pipes.get(name)
        if found is None:
            raise ResourceNotFoundError(f"Pipe {name} does not exist.")
        return found.pipe

    def resolve(self, arn: str) -> Any:
        """What an ARN names: a ``Function``, a ``Queue`` or an ``EventBus``
        (``ResourceNotFoundError`` if it does not exist, ``ValidationError`` for a
        kind of ARN the world does not model)."""
        if not isinstance(arn, str) or not arn.startswith("arn:"):
            raise ValidationError(f"Parameter {arn!r} is not a valid ARN")
        service = arn.split(":")[2] if arn.count(":") >= 5 else ""
        if service == "lambda":
            return self.function(arn)
        if service == "sqs":
            return self.queue(arn)
        if service == "events" and ":event-bus/" in arn:
            return self.bus(arn)
        raise ValidationError(f"eventbus models Lambda functions, SQS queues and event buses as targets; "
                              f"{arn} is none of them")

    def destination(self, arn: str) -> Any:
        """A destination for ``arn``: an existing event bus itself (bus-to-bus keeps
        its own rules), otherwise an ``ArnDestination`` found at delivery time."""
        if ":event-bus/" in arn:
            try:
                return self.bus(arn)
            except ResourceNotFoundError:
                pass
        kind = self.resolve_kind(arn)
        return QueueArnDestination(self, arn) if kind == "sqs" else ArnDestination(self, arn)

    def resolve_kind(self, arn: str) -> str:
        """The kind of resource ``arn`` names (``lambda``, ``sqs``, ``events``), checked
        without looking it up."""
        parts = arn.split(":") if isinstance(arn, str) else []
        if len(parts) < 6 or parts[0] != "arn":
            raise ValidationError(f"Parameter {arn} is not valid. Reason: Provided Arn is not in correct format.")
        if parts[2] not in ("lambda", "sqs", "events"):
            raise ValidationError(f"eventbus models Lambda functions, SQS queues and event buses as targets; "
                                  f"{arn} is none of them")
        return parts[2]

    # -- Lambda functions ---------------------------------------------------------------
    def register_function(self, name: str, handler: Callable[..., Any], **settings: Any) -> Function:
        """Make ``handler(event, context)`` the Lambda function ``name``: it exists
        at once, and a later ``CreateFunction`` of that name (the application's
        infrastructure code) takes this handler instead of importing its
        ``Handler``.  ``settings``: ``timeout``, ``maximum_retry_attempts``,
        ``maximum_event_age_in_seconds``, ``reserved_concurrency``."""
        check_name("FunctionName", name, _FUNCTION_NAME, 64)
        check_callable("handler", handler)
        with self.lock:
            if name in self.functions and not self.functions[name].registered:
                raise ConflictError(f"Function already exist: {name}")
            configuration = {"FunctionName": name, "FunctionArn": lambda_arn(self.region, self.account, name),
                             "Runtime": "python3.12",
                             "Handler": f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__name__', '?')}",
                             "Timeout": int(settings.get("timeout", 3)), "MemorySize": 128,
                             "Role": f"arn:aws:iam::{self.account}:role/eventbus-registered",
                             "LastModified": _lambda_time(self.clock.now()), "Version": "$LATEST",
                             "State": "Active", "PackageType": "Zip"}
            entry = FunctionEntry(name, handler, self._build_function(name, handler, configuration, None, None,
                                                                      settings), configuration, registered=True)
            self.functions[name] = entry
            return entry.function

    def create_function(self, configuration: dict[str, Any], *, dead_letter_arn: str | None = None) -> FunctionEntry:
        """Create a function from AWS's settings (``FunctionName``, ``Handler``,
        ``Timeout`` ...): a registered handler of that name is taken; otherwise
        ``Handler`` is imported."""
        name = configuration["FunctionName"]
        with self.lock:
            existing = self.functions.get(name)
            if existing is not None and not existing.registered:
                raise ConflictError(f"Function already exist: {name}")
            handler = existing.handler if existing is not None else import_handler(configuration.get("Handler", ""))
            entry = FunctionEntry(name, handler, self._build_function(name, handler, configuration, None,
                                                                      dead_letter_arn, {}),
                                  configuration, dead_letter_arn=dead_letter_arn)
            self.functions[name] = entry
            return entry

    def rebuild_function(self, entry: FunctionEntry) -> None:
        """Build ``entry``'s ``Function`` again after its settings changed (a
        ``Function``'s settings are fixed once built; deliveries under way end on
        the old one)."""
        entry.function = self._build_function(entry.name, entry.handler, entry.configuration, entry.invoke_config,
                                              entry.dead_letter_arn, {})

    def _build_function(self, name: str, handler: Callable[..., Any], configuration: Mapping[str, Any],
                        invoke_config: Mapping[str, Any] | None, dead_letter_arn: str | None,
                        settings: Mapping[str, Any]) -> Function:
        invoke = invoke_config or {}
        destinations = invoke.get("DestinationConfig") or {}
        on_success = (destinations.get("OnSuccess") or {}).get("Destination")
        on_failure = (destinations.get("OnFailure") or {}).get("Destination")
        return Function(
            _recording(self, name, handler), name=name, clock=self.clock, region=self.region, account=self.account,
            timeout=int(configuration.get("Timeout", 3)),
            maximum_retry_attempts=int(invoke.get("MaximumRetryAttempts",
                                                  settings.get("maximum_retry_attempts", 2))),
            maximum_event_age_in_seconds=int(invoke.get("MaximumEventAgeInSeconds",
                                                        settings.get("maximum_event_age_in_seconds", 21600))),
            reserved_concurrency=settings.get("reserved_concurrency"),
            on_success=None if on_success is None else self.destination(on_success),
            on_failure=None if on_failure is None else self.destination(on_failure),
            dead_letter_queue=None if dead_letter_arn is None else self.destination(dead_letter_arn))

    # -- what happened --------------------------------------------------------------------
    def received(self, name_or_arn: str) -> list[Any]:
        """What a function's handler was called with (every call: retries too, the
        last 1,000), or the bodies of the messages a queue holds (JSON parsed where
        they are JSON), oldest first."""
        if name_or_arn.startswith("arn:aws:sqs:") or "://" in name_or_arn or name_or_arn in self.queues:
            try:
                queue = self.queue(name_or_arn)
            except ResourceNotFoundError:
                raise ResourceNotFoundError(f"No queue {name_or_arn} in this world; its queues: "
                                            f"{', '.join(sorted(self.queues)) or 'none'}") from None
            return [_parsed(message.body) for message in queue.messages()]
        try:
            entry = self.function_entry(name_or_arn)
        except ResourceNotFoundError:
            raise ResourceNotFoundError(
                f"No function or queue named {name_or_arn} in this world; its functions: "
                f"{', '.join(sorted(self.functions)) or 'none'}; its queues: "
                f"{', '.join(sorted(self.queues)) or 'none'}") from None
        return [call.event for call in self.calls.get(entry.name, ())]

    def invocations(self, name_or_arn: str) -> list[Invocation]:
        """A function's handler calls (the last 1,000): event, time, result or error."""
        return list(self.calls.get(self.function_entry(name_or_arn).name, ()))

    # -- queues -------------------------------------------------------------------------
    def add_queue(self, queue: Queue, attributes: dict[str, str], tags: Mapping[str, str] | None = None) -> QueueEntry:
        entry = QueueEntry(queue, queue_url(self.region, self.account, queue.name), attributes, self.clock.now(),
                           dict(tags or {}))
        self.queues[queue.name] = entry
        return entry


def import_handler(handler: str) -> Callable[..., Any]:
    """Lambda's ``Handler`` (``package.module.function``) as a callable; one that
    cannot be imported gives a handler that fails as Lambda does
    (``Runtime.ImportModuleError``) when invoked."""
    module_name, _, attribute = handler.rpartition(".")
    problem: str
    if not module_name or not attribute:
        problem = f"Bad handler '{handler}': not enough values to unpack (expected 2, got 1)"
    else:
        try:
            module = importlib.import_module(module_name.replace("/", "."))
        except Exception as exc:
            problem = f"Unable to import module '{module_name}': {exc}"
        else:
            found = getattr(module, attribute, None)
            if callable(found):
                return found  # type: ignore[no-any-return]
            problem = f"Handler '{attribute}' missing on module '{module_name}'"

    def cannot_import(event: Any, context: Any) -> Any:
        raise ImportModuleError(problem)

    cannot_import.__qualname__ = cannot_import.__name__ = f"import {handler}"
    return cannot_import


def _parsed(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{name} must be a number of {name}, not {value!r}")
    return float(value)


def _lambda_time(when: datetime) -> str:
    """Lambda's LastModified form: ``2024-01-01T00:00:00.000+0000``."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"
