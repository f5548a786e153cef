"""Hostile use, found by trying the runtime as a demanding new user: odd exceptions, cancelled
timers, handlers that wait on their own clock, far-future timers, text that is not quite JSON."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from eventbus import (
    AsyncioClock,
    Function,
    ManualClock,
    Outcome,
    Queue,
    ResourceNotFoundError,
    RetryPolicy,
    StoredMessage,
    SystemClock,
    Target,
    ThrottlingError,
    Timer,
    ValidationError,
    use_clock,
)

from ..clock.conftest import LoopThread


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("cannot format")


def raise_unprintable(event: Any, context: Any = None) -> None:
    raise Unprintable()


def test_an_exception_that_cannot_be_printed_still_ends_the_delivery() -> None:
    clock = ManualClock()
    dlq = Queue(clock=clock)
    fn = Function(raise_unprintable, clock=clock, maximum_retry_attempts=0, dead_letter_queue=dlq)
    target = Target(raise_unprintable, clock=clock, dead_letter_queue=dlq)
    rid = fn.invoke({}, "Event")["RequestId"]
    delivery = target.deliver({})
    clock.run_until_idle()
    assert fn.outcome(rid)[0] is Outcome.DEAD_LETTERED  # type: ignore[index]
    assert target.outcome(delivery)[0] is Outcome.DEAD_LETTERED  # type: ignore[index]
    messages = {m.attributes.get("ErrorMessage", m.attributes.get("ERROR_MESSAGE")) for m in dlq.receive(10)}
    assert messages == {"Unprintable: <unprintable Unprintable>", "<unprintable Unprintable>"}
    response = fn.invoke({})
    assert response["Payload"]["errorMessage"] == "<unprintable Unprintable>"


def test_a_failure_in_eventbus_own_bookkeeping_still_ends_the_delivery(caplog: pytest.LogCaptureFixture) -> None:
    class BrokenDestination:
        """A dead-letter 'queue' whose refusal cannot even be printed."""

        def deliver(self, payload: Any, attributes: Any = None) -> None:
            raise Unprintable()

    clock = ManualClock()
    target = Target(raise_unprintable, clock=clock, dead_letter_queue=BrokenDestination())
    delivery = target.deliver({})
    clock.run_until_idle()
    outcome, reason = target.outcome(delivery)  # type: ignore[misc]
    assert outcome is Outcome.DROPPED and target.metrics.pending == 0
    assert reason.startswith("no dead-letter queue or failure destination took it")


def test_cancelling_a_delivery_timer_ends_the_delivery() -> None:
    clock = ManualClock()
    fn = Function(lambda e, c: 1 / 0, clock=clock)
    rid = fn.invoke({}, "Event")["RequestId"]
    clock.advance(1)  # attempt 1 failed; retry 1 waits
    [retry] = clock.pending()
    assert retry.cancel()
    assert fn.outcome(rid) == (Outcome.DROPPED, "the timer was cancelled before retry 1")
    assert fn.metrics.pending == 0 and clock.pending() == []


def timers_alive() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, Timer))


def kept_after_cancelling(clock: Any, n: int = 5_000, expect: int = 64) -> int:
    """How many of ``n`` timers, set an hour ahead and cancelled, the clock still holds
    (waiting up to 2 s for it to come down to ``expect``: an AsyncioClock drops its
    loop handles on the loop, which may be slow to get to it on a busy machine)."""
    clock.call_later(1, lambda: None)  # a live timer in front of them
    before = timers_alive()
    for _ in range(n):
        clock.call_later(3600, lambda: None).cancel()
    for _ in range(100):
        kept = timers_alive() - before
        if kept <= expect:
            break
        time.sleep(0.02)
    return kept


def test_cancelled_timers_do_not_pile_up() -> None:
    for clock in (ManualClock(), SystemClock(workers=1)):
        try:
            assert kept_after_cancelling(clock) <= 64  # a few wait for the next sweep
        finally:
            clock.shutdown(drain=False)
    loop = LoopThread()
    try:
        async def make() -> AsyncioClock:
            return AsyncioClock()

        clock = loop.run(make())
        # (<= 0: a timer of an earlier clock in this process, still held when counting
        # began, may be freed meanwhile; what matters is that none of these is kept)
        assert kept_after_cancelling(clock, expect=0) <= 0
        clock.shutdown(drain=False)
    finally:
        loop.close()


def test_deleted_messages_are_not_held_by_the_queue() -> None:
    queue = Queue(clock=ManualClock(), visibility_timeout=60)
    for n in range(1000):
        queue.send(str(n))
    while batch := queue.receive(10):
        for message in batch:
            queue.change_visibility(message, 30)  # a stale entry for each, too
            queue.delete(message)
    queue.send("one more")
    assert len(queue.receive()) == 1  # (claims sweep stale entries once they outnumber live ones)
    gc.collect()
    assert sum(1 for o in gc.get_objects() if isinstance(o, StoredMessage)) <= 64


def test_a_timer_centuries_away_does_not_stop_a_system_clock() -> None:
    with SystemClock(workers=1) as clock:
        clock.call_at(datetime(2500, 1, 1, tzinfo=UTC), lambda: None)
        time.sleep(0.05)
        fn = Function(lambda e, c: "ok", clock=clock)
        assert fn.wait(fn.invoke({}, "Event")["RequestId"], timeout=5)[0] is Outcome.SUCCEEDED
        clock.shutdown(drain=False)


def test_handlers_waiting_on_their_own_clock_do_not_deadlock_or_nest() -> None:
    clock = SystemClock(workers=1)
    try:
        gate = threading.Event()
        fn = Function(lambda e, c: clock.idle(timeout=10), clock=clock, maximum_retry_attempts=0)
        blocker = Function(lambda e, c: gate.wait(10), clock=clock)
        blocker.invoke({}, "Event")
        ids = [fn.invoke({"n": n}, "Event")["RequestId"] for n in range(100)]
        gate.set()
        started = time.monotonic()
        outcomes = [fn.wait(rid, timeout=20)[0] for rid in ids]
        assert outcomes == [Outcome.SUCCEEDED] * 100  # no recursion, every idle() saw quiet
        assert time.monotonic() - started < 10
    finally:
        clock.shutdown(timeout=10)


def test_two_handlers_that_both_wait_for_quiet_both_get_it() -> None:
    for workers in (2, 1):
        clock = SystemClock(workers=workers)
        try:
            def wait_for_quiet(event: Any, context: Any, clock: SystemClock = clock) -> bool:
                return clock.idle(timeout=10)

            fn = Function(wait_for_quiet, clock=clock)
            ids = [fn.invoke({}, "Event")["RequestId"] for _ in range(2)]
            started = time.monotonic()
            assert [fn.wait(rid, timeout=10) for rid in ids] == [(Outcome.SUCCEEDED, "")] * 2
            assert time.monotonic() - started < 5
        finally:
            clock.shutdown(timeout=10)


def test_a_handler_can_wait_for_another_delivery_on_a_one_worker_clock() -> None:
    clock = SystemClock(workers=1)
    try:
        child = Function(lambda e, c: "child", clock=clock)
        parent = Function(lambda e, c: child.wait(child.invoke({}, "Event")["RequestId"], timeout=5)[0].name,
                          clock=clock)
        assert parent.wait(parent.invoke({}, "Event")["RequestId"], timeout=10) == (Outcome.SUCCEEDED, "")
    finally:
        clock.shutdown(timeout=10)


def test_a_plain_handler_on_an_asyncio_clock_can_wait_for_quiet_or_shut_it_down() -> None:
    async def main() -> Any:
        clock = AsyncioClock(workers=1)
        seen: dict[str, Any] = {}

        def idler(event: Any, context: Any) -> None:
            seen["idle"] = clock.idle(timeout=5)

        def stopper(event: Any, context: Any) -> None:
            seen["left"] = clock.shutdown(timeout=5)

        rid = Function(idler, clock=clock).invoke({}, "Event")["RequestId"]
        stop = Function(stopper, clock=clock)
        await asyncio.sleep(0.05)
        stop_id = stop.invoke({}, "Event")["RequestId"]
        started = time.monotonic()
        found = await stop.wait_async(stop_id, timeout=10)
        return seen, found, time.monotonic() - started, rid

    seen, found, took, _ = asyncio.run(main())
    assert seen == {"idle": True, "left": []} and found == (Outcome.SUCCEEDED, "") and took < 3


def test_plain_work_abandoned_in_the_pool_is_handed_back() -> None:
    async def main() -> Any:
        clock = AsyncioClock(workers=1)
        gate = threading.Event()
        fn = Function(lambda e, c: gate.wait(5), clock=clock)
        for n in range(3):
            fn.invoke({"n": n}, "Event")
        await asyncio.sleep(0.05)
        left = await clock.shutdown_async(timeout=0.05)
        gate.set()
        for _ in range(100):
            if not fn.metrics.pending:
                break
            await asyncio.sleep(0.01)
        return left, fn.metrics

    left, metrics = asyncio.run(main())
    assert len(left) == 2 and all(t.label.startswith("function lambda") for t in left)
    assert (metrics.succeeded, metrics.dropped, metrics.pending) == (1, 2, 0)


def test_cancelling_invoke_async_keeps_the_concurrency_slot_until_the_handler_returns() -> None:
    async def main() -> tuple[int, int]:
        running, most, throttled = 0, 0, 0
        lock = threading.Lock()

        def slow(event: Any, context: Any) -> None:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            time.sleep(0.2)
            with lock:
                running -= 1

        fn = Function(slow, clock=ManualClock(), reserved_concurrency=1)
        for _ in range(3):
            try:
                await asyncio.wait_for(fn.invoke_async({}), 0.01)
            except TimeoutError:  # cancelled while the handler runs on: its slot stays taken
                pass
            except ThrottlingError:
                throttled += 1
        await asyncio.sleep(0.5)
        return most, throttled

    most, throttled = asyncio.run(main())
    assert most == 1 and throttled == 2


@pytest.mark.parametrize("text", ['{"x": 1e999}', "-1e400", '{"a": "\\ud800"}', '["\\udc00"]'])
def test_json_text_payloads_get_the_same_checks_as_values(text: str) -> None:
    fn = Function(lambda e, c: None, clock=ManualClock())
    with pytest.raises(ValidationError):
        fn.invoke(text, "Event")
    with pytest.raises(ValidationError):
        fn.invoke(text.encode())
    assert fn.metrics.invocations == 0


def test_results_and_error_messages_with_lone_surrogates() -> None:
    clock = ManualClock()
    assert Function(lambda e, c: "\ud800", clock=clock).invoke({})["Payload"]["errorType"] == "Runtime.MarshalError"
    failures = Queue(clock=clock)

    def bad_name(event: Any, context: Any) -> None:
        raise FileNotFoundError("no such file: caf\udce9")  # as os.fsdecode gives for undecodable names

    fn = Function(bad_name, clock=clock, on_failure=failures, maximum_retry_attempts=0)
    assert fn.wait(fn.invoke({}, "Event")["RequestId"])[0] is Outcome.DEAD_LETTERED
    assert failures.receive()[0].json()["responsePayload"]["errorMessage"] == "no such file: caf?"


def test_waiting_with_no_outcomes_kept() -> None:
    clock = ManualClock()
    fn = Function(lambda e, c: None, clock=clock, outcome_retention=0)
    rid = fn.invoke({}, "Event")["RequestId"]
    assert fn.wait(rid) == (Outcome.SUCCEEDED, "")  # caught as it ended
    with pytest.raises(ResourceNotFoundError, match="no longer kept"):
        fn.wait(rid)

    async def main() -> Any:
        other = Function(lambda e, c: None, clock=clock, outcome_retention=0)
        return await other.wait_async(other.invoke({}, "Event")["RequestId"])

    assert asyncio.run(main()) == (Outcome.SUCCEEDED, "")


def test_waiting_from_a_second_thread_while_the_attempt_runs_on_a_manual_clock() -> None:
    clock = ManualClock()
    inside, release = threading.Event(), threading.Event()

    def handler(event: Any, context: Any) -> str:
        inside.set()
        release.wait(5)
        return "ok"

    fn = Function(handler, clock=clock)
    rid = fn.invoke({}, "Event")["RequestId"]
    runner = threading.Thread(target=clock.advance, args=(0,))
    runner.start()
    inside.wait(5)
    threading.Timer(0.05, release.set).start()
    assert fn.wait(rid, timeout=5) == (Outcome.SUCCEEDED, "")
    runner.join(5)


def test_an_asyncio_clock_whose_loop_ends_first_shuts_itself_down(caplog: pytest.LogCaptureFixture) -> None:
    holder: dict[str, Any] = {}

    async def main() -> None:
        clock = AsyncioClock()
        fn = Function(lambda e, c: 1 / 0, clock=clock)
        holder.update(clock=clock, fn=fn, rid=fn.invoke({}, "Event")["RequestId"])
        await asyncio.sleep(0.05)  # attempt 1 fails; retry 1 waits a minute; the loop ends first

    asyncio.run(main())
    assert holder["clock"].closed
    assert holder["fn"].outcome(holder["rid"]) == (Outcome.DROPPED, "the event loop is ending before retry 1")
    assert any("ending before shutdown()" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: ManualClock().call_later(10**400, print), "less than or equal to"),
    (lambda: SystemClock(workers=10**5000), "more than 4300 digits"),
    (lambda: Function(lambda e, c: None, clock=ManualClock(), timeout=-(10**5000)), "at 'timeout'"),
    (lambda: ManualClock(datetime.max.replace(tzinfo=UTC)).advance(1), "past the last time"),
    (lambda: ManualClock().run_until_idle(limit="x"), "Invalid type for parameter limit"),  # type: ignore[arg-type]
    (lambda: Function(lambda e, c: None, clock=ManualClock()).outcome([]),  # type: ignore[arg-type]
     "Invalid type for parameter delivery_id"),
    (lambda: Function(lambda e, c: None, clock=ManualClock()).subscribe(5),  # type: ignore[arg-type]
     "Invalid type for parameter listener"),
    (lambda: ManualClock().call_later(1, print, label=5), "Invalid type for parameter label"),  # type: ignore[arg-type]
    (lambda: ManualClock().call_later(1, print, on_abandon=5), "Invalid type for parameter on_abandon"),  # type: ignore[arg-type]
    (lambda: ManualClock().idle(timeout="x"), "Invalid type for parameter timeout"),  # type: ignore[arg-type]
    (lambda: ManualClock().shutdown(drain="no"), "Invalid type for parameter drain"),  # type: ignore[arg-type]
    (lambda: use_clock(None).__enter__(), "Invalid type for parameter clock"),  # type: ignore[type-var]
    (lambda: Function(lambda e, c: None, clock=ManualClock()).deliver({}, 5), "Invalid type for parameter"),  # type: ignore[arg-type]
    (lambda: Queue(clock=ManualClock(), region=""), "at 'region'"),
    (lambda: Queue(clock=ManualClock(), account="x y"), "at 'account'"),
    (lambda: Target(print, clock=ManualClock(), rule_arn="\ud800"), "at 'rule_arn'.*valid Unicode"),
    (lambda: Queue(clock=ManualClock()).send("x", {"a": "nul \x00"}), "Invalid characters found"),
    (lambda: Function(Unprintable, clock=ManualClock(), timeout=0), "at 'timeout'"),
])
def test_bad_input_is_a_validation_error_never_a_raw_python_error(call: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        call()


def test_clocks_settings_are_read_only_and_readable() -> None:
    clock = SystemClock(workers=3, seed=4)
    try:
        assert (clock.workers, clock.seed) == (3, 4)
        with pytest.raises(AttributeError, match="read-only"):
            clock.workers = 99  # type: ignore[misc]
        manual = ManualClock(seed=2)
        assert (manual.seed, manual.start) == (2, datetime(2024, 1, 1, tzinfo=UTC))
        fn = Function(lambda e, c: None, clock=manual, seed=5, outcome_retention=7)
        assert (fn.seed, fn.outcome_retention) == (5, 7)
        queue = Queue(clock=manual, region="eu-west-1", account="111122223333", seed=1)
        assert (queue.region, queue.account, queue.seed) == ("eu-west-1", "111122223333", 1)
        with pytest.raises(AttributeError, match="has no setting 'timeout_seconds'"):
            fn.timeout_seconds = 5
    finally:
        clock.shutdown()


def test_bound_methods_and_callables_on_another_clock_are_refused() -> None:
    a, b = ManualClock(), ManualClock()
    other_queue = Queue(clock=b)
    other_fn = Function(lambda e, c: None, clock=b)
    for build in (lambda: Function(lambda e, c: None, clock=a, on_success=other_queue.send),
                  lambda: Function(lambda e, c: None, clock=a, on_failure=other_queue.deliver),
                  lambda: Target(other_fn.invoke, clock=a),
                  lambda: Function(other_fn, clock=a)):  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="share one clock"):
            build()


def test_a_message_body_parses_at_any_stack_depth() -> None:
    queue = Queue(clock=ManualClock())
    text = "[" * 200 + "]" * 200
    queue.send(text)
    queue.send("not json")
    message, not_json = queue.receive(2)

    def deep(n: int) -> Any:
        return deep(n - 1) if n else message.json()

    assert str(deep(850)).replace(" ", "") == text
    with pytest.raises(ValidationError, match="Could not parse message body into json"):
        not_json.json()


@pytest.mark.slow_under_mutmut
def test_counters_add_up_while_threads_deliver_and_calls_run_concurrently() -> None:
    """Deliveries are accepted from four threads while a worker pool runs the calls
    (some fail once and are retried) and a fifth thread reads the counters: every
    snapshot adds up, and at the end every delivery and call is counted once."""
    calls: list[int] = []
    lock = threading.Lock()

    def handler(event: Any) -> None:
        with lock:
            calls.append(event["n"])
            first = calls.count(event["n"]) == 1
        if first and event["n"] % 3 == 0:
            raise RuntimeError("once")

    per_thread, threads = 250, 4
    with SystemClock(workers=4, seed=1) as clock:
        target = Target(handler, clock=clock, retry_policy=RetryPolicy(base_delay=0.001, max_delay=0.002))
        done = threading.Event()
        broken: list[str] = []

        def read() -> None:
            accepted = 0
            while not done.is_set():
                m = target.metrics
                if m.accepted != m.succeeded + m.dead_lettered + m.dropped + m.pending or m.accepted < accepted:
                    broken.append(repr(m))
                if m.attempts < m.succeeded + m.failures or m.retries > m.attempts:
                    broken.append(repr(m))
                accepted = m.accepted

        ids: list[str] = []

        def put(base: int) -> None:
            for n in range(base, base + per_thread):
                ids.append(target.deliver({"n": n}))

        reader = threading.Thread(target=read)
        reader.start()
        writers = [threading.Thread(target=put, args=(k * per_thread,)) for k in range(threads)]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
        for delivery_id in ids:  # (idle() would not wait for a retry that is not due yet)
            target.wait(delivery_id, timeout=30)
        done.set()
        reader.join()
    total = per_thread * threads
    m = target.metrics
    assert broken == []
    assert [o for o in target.outcomes.values() if o[0] is not Outcome.SUCCEEDED] == []
    assert (m.accepted, m.succeeded, m.pending, m.dropped, m.dead_lettered) == (total, total, 0, 0, 0)
    assert m.attempts == len(calls) == total + len(range(0, total, 3))
    assert m.retries == m.failures == len(range(0, total, 3))


def test_an_event_too_old_at_the_attempt_ends_even_if_the_clock_then_reads_earlier() -> None:
    """A clock read once past the event's age limit, then earlier (a wall clock
    stepped back): the attempt gives the delivery up on the reading it made."""

    ahead = [0]  # readings still to make 61 s ahead

    class Stepping(ManualClock):
        def now(self) -> datetime:
            if ahead[0]:
                ahead[0] -= 1
                return super().now() + timedelta(seconds=61)
            return super().now()

    clock = Stepping()
    calls: list[Any] = []
    target = Target(calls.append, clock=clock, retry_policy=RetryPolicy(maximum_event_age_in_seconds=60))
    delivery = target.deliver({})
    ahead[0] = 1
    clock.run_until_idle()
    assert calls == []
    outcome, reason = target.outcome(delivery)  # type: ignore[misc]
    assert outcome is Outcome.DROPPED and "EventTooOldError" in reason
    assert target.metrics.pending == 0
