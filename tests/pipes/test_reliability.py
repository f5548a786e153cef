"""A queue source loses nothing: a Hypothesis state machine sends, starts, stops,
crashes and advances a pipe whose target and enrichment fail at random, and
checks that every message is always somewhere (in the queue, delivered, filtered
out, skipped, or in the dead-letter queue), and that in the end each one was
delivered, filtered, skipped or dead-lettered."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from eventbus import ManualClock, Pipe, Queue


class PipeMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.dlq = Queue("dlq", clock=self.clock)
        self.queue = Queue("source", clock=self.clock, dead_letter_queue=self.dlq, max_receive_count=3,
                           visibility_timeout=10)
        self.sent: list[int] = []
        self.keep: dict[int, bool] = {}
        self.delivered: set[int] = set()
        self.enriched_away: set[int] = set()
        self.target_fails = False
        self.enrichment_fails = False
        self.receive_crashes = False
        self.pipe = Pipe("machine", self.queue, self.target, filters=[{"body": {"keep": [True]}}],
                         enrichment=self.enrich, batch_size=3, maximum_batching_window_in_seconds=2)

    # -- the pipe's collaborators -------------------------------------------------------
    def target(self, batch: list[Any]) -> Any:
        if self.target_fails:
            raise ConnectionError("target down")
        failures = []
        for item in batch:
            n = item["n"]
            if n % 7 == 3 and item["first"]:  # some items fail their first time (a partial batch failure)
                failures.append({"itemIdentifier": item["id"]})
            else:
                self.delivered.add(n)
        return {"batchItemFailures": failures}

    def enrich(self, batch: list[Any]) -> Any:
        if self.enrichment_fails:
            raise ConnectionError("enrichment down")
        out = []
        for record in batch:
            body = json.loads(record["body"])
            if body["n"] % 11 == 5:  # the enrichment drops some (they are skipped, not delivered)
                self.enriched_away.add(body["n"])
                continue
            out.append({"n": body["n"], "id": record["messageId"],
                        "first": record["attributes"]["ApproximateReceiveCount"] == "1"})
        return out or []

    # -- rules ---------------------------------------------------------------------------
    @rule(count=st.integers(1, 4), keep=st.booleans())
    def send(self, count: int, keep: bool) -> None:
        for _ in range(count):
            self._send(keep or len(self.sent) % 2 == 0)

    def _send(self, keep: bool) -> None:
        n = len(self.sent)
        self.queue.send({"n": n, "keep": keep})
        self.sent.append(n)
        self.keep[n] = keep

    @rule()
    def start(self) -> None:
        self.pipe.start()

    @rule()
    def stop(self) -> None:
        self.pipe.stop()

    @rule(fails=st.booleans())
    def target_health(self, fails: bool) -> None:
        self.target_fails = fails

    @rule(fails=st.booleans())
    def enrichment_health(self, fails: bool) -> None:
        self.enrichment_fails = fails

    @rule()
    def crash(self) -> None:
        """The pipe's runtime fails (reading the source raises): it stops, saying why."""
        receive = self.queue.receive

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise OSError("the source is unreachable")

        object.__setattr__(self.queue, "receive", broken)
        self._send(True)
        self.clock.advance(0)
        object.__setattr__(self.queue, "receive", receive)
        if self.pipe.current_state == "STOPPED" and self.pipe.state_reason is not None:
            assert "the source is unreachable" in self.pipe.state_reason

    @rule(seconds=st.sampled_from([0, 1, 2, 5, 11, 30]))
    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @rule()
    def run_until_idle(self) -> None:
        self.clock.run_until_idle()  # (it must end)

    # -- what always holds ------------------------------------------------------------
    def _where(self) -> dict[int, str]:
        where: dict[int, str] = {}
        for m in self.queue.messages():
            where[json.loads(m.body)["n"]] = "queue"
        for m in self.dlq.messages():
            where.setdefault(json.loads(m.body)["n"], "dlq")
        return where

    @invariant()
    def nothing_is_lost(self) -> None:
        where = self._where()
        for n in self.sent:
            if self.keep[n]:  # (one the filter lets through must be somewhere; the others may be filtered out)
                assert n in where or n in self.delivered or n in self.enriched_away, n

    def teardown(self) -> None:
        # heal everything and run on: each message ends delivered, skipped, filtered out or dead-lettered
        self.target_fails = self.enrichment_fails = False
        self.pipe.start()
        for _ in range(10):
            self.clock.advance(30)
        where = self._where()
        assert all(place == "dlq" for place in where.values()), where
        for n in self.sent:
            if self.keep[n]:
                assert n in self.delivered or n in self.enriched_away or where.get(n) == "dlq", n
            else:
                assert n not in self.delivered and where.get(n) in (None, "dlq"), n


TestPipeMachine = PipeMachine.TestCase
TestPipeMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
