"""Every store against a plain reference model, after every step of random
sequences of operations.

The model shares nothing with the stores: items, keys, dead letters and
schedules are lists of dicts, scanned and sorted from scratch at every
question (no heaps, no SQL, no generations, no due column).  It is written
from the protocol's documentation: an item is claimable when it is free and
its ``not_before`` has come, or leased and its lease has run out; the
earliest such moment goes first, ties in enqueue order.  Time is whole
seconds, so ties are common.  The model learns each item's store id from
the store's own listing (``items``), once its content and place there have
been checked: ids are opaque, so this is all it can know of them.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from eventbus._store import Enqueued, MemoryStore, NatsStore, ScheduleClaim, SqliteStore, Store, Work

from .test_contract import NO_NATS, drop_buckets, fresh_prefix, nats_answers

T0 = datetime(2024, 1, 1, tzinfo=UTC)
RETENTION = 3  # seconds an ended item's key is remembered
QUEUES = ["a", "b"]
KEYS = [None, "k1", "k2", "k3"]
NAMES = ["s1", "s2", "s3"]


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Model:
    """The reference: what the protocol's documentation says a store does."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []  # live items, in enqueue order
        self.keys: list[dict[str, Any]] = []  # {"queue", "key", "expires": None while its item lives}
        self.dead: list[dict[str, Any]] = []
        self.schedules: list[dict[str, Any]] = []
        self.tokens = 0

    def token(self) -> int:
        self.tokens += 1
        return self.tokens

    @staticmethod
    def item_due(item: dict[str, Any]) -> int:
        """When an item can be claimed: its lease's end while leased, else its not_before."""
        return int(item["not_before"] if item["lease_until"] is None else item["lease_until"])

    @staticmethod
    def schedule_due(schedule: dict[str, Any]) -> int | None:
        """When a schedule can be claimed (None: never, it has no more fires)."""
        if schedule["lease_until"] is not None:
            return int(schedule["lease_until"])
        return None if schedule["next_fire"] is None else int(schedule["next_fire"])

    # -- items

    def enqueue(self, queue: str, payload: str, not_before: int, key: str | None) -> bool:
        if key is not None:
            if any(k["queue"] == queue and k["key"] == key for k in self.keys):
                return False
            self.keys.append({"queue": queue, "key": key, "expires": None})
        self.items.append({"queue": queue, "payload": payload, "key": key, "not_before": not_before,
                           "lease_until": None, "owner": None, "claim": None, "attempts": 0, "id": None})
        return True

    def claim(self, queue: str, now: int, limit: int, lease: int, owner: str) -> list[dict[str, Any]]:
        order = {id(item): n for n, item in enumerate(self.items)}
        ready = [item for item in self.items if item["queue"] == queue and self.item_due(item) <= now]
        ready.sort(key=lambda item: (self.item_due(item), order[id(item)]))
        out = []
        for item in ready[:limit]:
            took_over = item["lease_until"] is not None
            item["not_before"] = self.item_due(item)
            item["lease_until"] = now + lease
            item["owner"] = owner
            item["claim"] = self.token()
            item["attempts"] += 1
            out.append(dict(item, claimed_at=now, took_over=took_over))
        return out

    def holding(self, ticket: dict[str, Any]) -> dict[str, Any] | None:
        for item in self.items:
            if item["payload"] == ticket["payload"] and item["claim"] == ticket["claim"]:
                return item
        return None

    def _end(self, item: dict[str, Any], end: int) -> None:
        self.items.remove(item)
        for k in self.keys:
            if k["queue"] == item["queue"] and k["key"] == item["key"]:
                k["expires"] = end + RETENTION

    def ack(self, ticket: dict[str, Any], end: int, then: list[tuple[str, str, int, str | None]]) -> bool:
        item = self.holding(ticket)
        if item is None:
            return False
        self._end(item, end)
        for entry in then:
            self.enqueue(*entry)
        return True

    def dead_letter(self, ticket: dict[str, Any], reason: str, end: int,
                    then: list[tuple[str, str, int, str | None]]) -> bool:
        item = self.holding(ticket)
        if item is None:
            return False
        self.dead.append({"queue": item["queue"], "payload": item["payload"], "attempts": item["attempts"],
                          "reason": reason, "at": end, "key": item["key"]})
        self._end(item, end)
        for entry in then:
            self.enqueue(*entry)
        return True

    def retry(self, ticket: dict[str, Any], not_before: int, payload: str | None) -> bool:
        item = self.holding(ticket)
        if item is None:
            return False
        item.update(not_before=not_before, lease_until=None, owner=None, claim=None)
        if payload is not None:
            item["payload"] = payload
        return True

    def extend(self, ticket: dict[str, Any], until: int) -> bool:
        item = self.holding(ticket)
        if item is None:
            return False
        item["lease_until"] = until
        return True

    def sweep(self, now: int, limit: int) -> int:
        order = {id(item): n for n, item in enumerate(self.items)}
        run_out = sorted((item for item in self.items if item["lease_until"] is not None
                          and item["lease_until"] <= now),
                         key=lambda item: (item["lease_until"], order[id(item)]))[:limit]
        for item in run_out:
            item.update(not_before=item["lease_until"], lease_until=None, owner=None, claim=None)
        expired = sorted((k for k in self.keys if k["expires"] is not None and k["expires"] <= now),
                         key=lambda k: (k["expires"], k["queue"], k["key"]))[:limit - len(run_out)]
        for k in expired:
            self.keys.remove(k)
        return len(run_out) + len(expired)

    def remove(self, queue: str, item_id: str, end: int) -> bool:
        for item in self.items:
            if item["id"] == item_id and item["queue"] == queue:
                self._end(item, end)
                return True
        return False

    def purge(self, queue: str, end: int) -> int:
        mine = [item for item in self.items if item["queue"] == queue]
        for item in mine:
            self._end(item, end)
        return len(mine)

    def counts(self, queue: str) -> dict[str, int]:
        mine = [item for item in self.items if item["queue"] == queue]
        return {"ready": sum(item["lease_until"] is None for item in mine),
                "leased": sum(item["lease_until"] is not None for item in mine),
                "dead": sum(d["queue"] == queue for d in self.dead)}

    def next_due(self, queue: str | None) -> int | None:
        return min((self.item_due(item) for item in self.items if queue is None or item["queue"] == queue),
                   default=None)

    def drop_dead_letters(self, queue: str, before: int | None) -> int:
        gone = [d for d in self.dead if d["queue"] == queue and (before is None or d["at"] < before)]
        for d in gone:
            self.dead.remove(d)
        return len(gone)

    # -- schedules

    def put_schedule(self, name: str, next_fire: int | None, data: str) -> None:
        self.schedules = [s for s in self.schedules if s["name"] != name]
        self.schedules.append({"name": name, "next_fire": next_fire, "data": data, "lease_until": None,
                               "owner": None, "claim": None})

    def delete_schedule(self, name: str) -> bool:
        before = len(self.schedules)
        self.schedules = [s for s in self.schedules if s["name"] != name]
        return len(self.schedules) < before

    def claim_due_schedules(self, now: int, lease: int, owner: str, limit: int) -> list[dict[str, Any]]:
        due = [s for s in self.schedules
               if (when := self.schedule_due(s)) is not None and when <= now]
        due.sort(key=lambda s: (self.schedule_due(s), s["name"]))
        out = []
        for s in due[:limit]:
            took_over = s["lease_until"] is not None
            s.update(lease_until=now + lease, owner=owner, claim=self.token())
            out.append(dict(s, took_over=took_over))
        return out

    def schedule_fired(self, ticket: dict[str, Any], next_fire: int | None,
                       then: list[tuple[str, str, int, str | None]]) -> bool:
        found = [s for s in self.schedules if s["name"] == ticket["name"] and s["claim"] == ticket["claim"]]
        if not found:
            return False
        found[0].update(next_fire=next_fire, lease_until=None, owner=None, claim=None)
        for entry in then:
            self.enqueue(*entry)
        return True

    def next_schedule_due(self) -> int | None:
        times = [self.schedule_due(s) for s in self.schedules]
        return min((t for t in times if t is not None), default=None)


follow_ups = st.lists(st.tuples(st.sampled_from(QUEUES), st.sampled_from(KEYS), st.integers(-1, 3)), max_size=3)


class StoreAgainstModel(RuleBasedStateMachine):
    """Apply each operation to the store and to the model; compare the answers,
    and the whole visible state after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.store = self.open_store()
        self.model = Model()
        self.now = 0
        self.made = 0
        self.ids: dict[str, str] = {}  # store id -> payload (ids never change, never repeat)
        self.seen: list[str] = []  # every item id the store showed, in the order first seen (ended ones too)
        self.tickets: list[tuple[Work, dict[str, Any]]] = []  # every claim handed out, stale ones too
        self.fires: list[tuple[ScheduleClaim, dict[str, Any]]] = []

    def open_store(self) -> Store:
        raise NotImplementedError

    def teardown(self) -> None:
        self.store.close()

    def payload(self) -> str:
        self.made += 1
        return f'{{"n": {self.made}}}'

    def follow(self, spec: list[tuple[str, str | None, int]]) -> tuple[list[Enqueued], list[Any]]:
        payloads = [(queue, self.payload(), self.now + delay, key) for queue, key, delay in spec]
        return ([Enqueued(queue=q, payload=p, not_before=at(t), key=k) for q, p, t, k in payloads], payloads)

    def note_id(self, store_id: str, payload: str) -> None:
        assert self.ids.setdefault(store_id, payload) == payload, (store_id, payload)

    def pick(self, kept: list[Any], choice: int) -> Any:
        return kept[-1 - choice % len(kept)]  # (the recent ones most often: they are likelier to be live)

    # -- rules

    @rule(seconds=st.integers(0, 4))
    def advance(self, seconds: int) -> None:
        self.now += seconds

    @rule(queue=st.sampled_from(QUEUES), key=st.sampled_from(KEYS), delay=st.integers(-2, 4))
    def enqueue(self, queue: str, key: str | None, delay: int) -> None:
        payload = self.payload()
        got = self.store.enqueue(queue, payload, not_before=at(self.now + delay), key=key)
        expected = self.model.enqueue(queue, payload, self.now + delay, key)
        assert (got is not None) == expected
        event("enqueue: " + ("added" if expected else "key remembered"))
        if got is not None:
            assert got not in self.ids
            self.note_id(got, payload)

    @rule(spec=follow_ups)
    def enqueue_many(self, spec: list[tuple[str, str | None, int]]) -> None:
        entries, payloads = self.follow(spec)
        got = self.store.enqueue_many(entries)
        expected = [self.model.enqueue(*entry) for entry in payloads]
        assert [g is not None for g in got] == expected
        for store_id, entry in zip(got, payloads, strict=True):
            if store_id is not None:
                assert store_id not in self.ids
                self.note_id(store_id, entry[1])

    @rule(queue=st.sampled_from(QUEUES), limit=st.integers(1, 3), lease=st.integers(1, 4),
          owner=st.sampled_from(["w1", "w2"]))
    def claim(self, queue: str, limit: int, lease: int, owner: str) -> None:
        works = self.store.claim(queue, now=at(self.now), limit=limit, lease=timedelta(seconds=lease), owner=owner)
        expected = self.model.claim(queue, self.now, limit, lease, owner)
        assert [(w.queue, w.payload, w.key, w.not_before, w.attempts, w.owner, w.claimed_at, w.lease_until)
                for w in works] == [
            (e["queue"], e["payload"], e["key"], at(e["not_before"]), e["attempts"], e["owner"], at(self.now),
             at(e["lease_until"])) for e in expected]
        for work, ticket in zip(works, expected, strict=True):
            self.note_id(work.id, work.payload)
            self.tickets.append((work, ticket))
            event(f"claim: attempt {min(ticket['attempts'], 3)}{'+' if ticket['attempts'] >= 3 else ''}")
            if ticket["took_over"]:
                event("claim: took over a lease that ran out")

    @rule(wait=st.integers(1, 5), queue=st.sampled_from(QUEUES), limit=st.integers(1, 3), lease=st.integers(1, 4),
          owner=st.sampled_from(["w1", "w2"]))
    def wait_then_claim(self, wait: int, queue: str, limit: int, lease: int, owner: str) -> None:
        """(Time passing then a claim, as one step: makes leases that ran out common.)"""
        self.now += wait
        self.claim(queue, limit, lease, owner)

    @precondition(lambda self: self.tickets)
    @rule(choice=st.integers(0, 7), spec=follow_ups, late=st.none() | st.integers(0, 3))
    def ack(self, choice: int, spec: list[tuple[str, str | None, int]], late: int | None) -> None:
        work, ticket = self.pick(self.tickets, choice)
        entries, payloads = self.follow(spec)
        end = ticket["claimed_at"] if late is None else self.now + late
        got = self.store.ack(work, then=entries, at=None if late is None else at(end))
        assert got == self.model.ack(ticket, end, payloads)
        event(f"ack: {'ended' if got else 'stale claim'}")

    @precondition(lambda self: self.tickets)
    @rule(choices=st.lists(st.integers(0, 7), max_size=4))
    def ack_many(self, choices: list[int]) -> None:
        picked = [self.pick(self.tickets, choice) for choice in choices]
        got = self.store.ack_many([work for work, _ in picked])
        assert got == [self.model.ack(ticket, ticket["claimed_at"], []) for _, ticket in picked]
        event(f"ack_many: {sum(got)} of {len(got)} ended")

    @precondition(lambda self: self.tickets)
    @rule(choice=st.integers(0, 7), spec=follow_ups, reason=st.sampled_from(["r1", "r2"]),
          late=st.none() | st.integers(0, 3))
    def dead_letter(self, choice: int, spec: list[tuple[str, str | None, int]], reason: str,
                    late: int | None) -> None:
        work, ticket = self.pick(self.tickets, choice)
        entries, payloads = self.follow(spec)
        end = ticket["claimed_at"] if late is None else self.now + late
        got = self.store.dead_letter(work, reason=reason, then=entries, at=None if late is None else at(end))
        assert got == self.model.dead_letter(ticket, reason, end, payloads)
        event(f"dead_letter: {'ended' if got else 'stale claim'}")

    @precondition(lambda self: self.tickets)
    @rule(choice=st.integers(0, 7), delay=st.integers(-1, 5), payload=st.none() | st.sampled_from(["r1", "r2"]))
    def retry(self, choice: int, delay: int, payload: str | None) -> None:
        work, ticket = self.pick(self.tickets, choice)
        got = self.store.retry(work, not_before=at(self.now + delay), payload=payload)
        assert got == self.model.retry(ticket, self.now + delay, payload)
        if got and payload is not None:
            self.ids[work.id] = payload  # (the item's payload, from now on)
        event(f"retry: {'handed back' if got else 'stale claim'}")

    @precondition(lambda self: self.tickets)
    @rule(choice=st.integers(0, 7), delay=st.integers(-1, 6))
    def extend(self, choice: int, delay: int) -> None:
        work, ticket = self.pick(self.tickets, choice)
        got = self.store.extend(work, until=at(self.now + delay))
        assert got == self.model.extend(ticket, self.now + delay)

    @precondition(lambda self: self.seen)
    @rule(choice=st.integers(0, 7), queue=st.sampled_from(QUEUES), late=st.integers(0, 3))
    def remove(self, choice: int, queue: str, late: int) -> None:
        item_id = self.pick(self.seen, choice)
        got = self.store.remove(queue, item_id, at=at(self.now + late))
        assert got == self.model.remove(queue, item_id, self.now + late)
        event(f"remove: {'ended' if got else 'no such item in that queue'}")

    @rule(queue=st.sampled_from(QUEUES), late=st.integers(0, 3))
    def purge(self, queue: str, late: int) -> None:
        got = self.store.purge(queue, at=at(self.now + late))
        assert got == self.model.purge(queue, self.now + late)
        event(f"purge: {min(got, 3)}{'+' if got >= 3 else ''} items")

    @rule(limit=st.integers(1, 4))
    def sweep(self, limit: int) -> None:
        got = self.store.sweep(at(self.now), limit=limit)
        assert got == self.model.sweep(self.now, limit)
        event(f"sweep: {'at its limit' if got == limit else 'under its limit'}")

    @rule(queue=st.sampled_from(QUEUES), before=st.none() | st.integers(-2, 2))
    def drop_dead_letters(self, queue: str, before: int | None) -> None:
        cut = None if before is None else self.now + before
        got = self.store.drop_dead_letters(queue, before=None if cut is None else at(cut))
        assert got == self.model.drop_dead_letters(queue, cut)

    @rule(name=st.sampled_from(NAMES), delay=st.none() | st.integers(-1, 5))
    def put_schedule(self, name: str, delay: int | None) -> None:
        data = self.payload()
        fire = None if delay is None else self.now + delay
        self.store.put_schedule(name, None if fire is None else at(fire), data)
        self.model.put_schedule(name, fire, data)

    @rule(name=st.sampled_from(NAMES))
    def delete_schedule(self, name: str) -> None:
        assert self.store.delete_schedule(name) == self.model.delete_schedule(name)

    @rule(lease=st.integers(1, 4), owner=st.sampled_from(["p1", "p2"]), limit=st.integers(1, 3))
    def claim_due_schedules(self, lease: int, owner: str, limit: int) -> None:
        got = self.store.claim_due_schedules(now=at(self.now), lease=timedelta(seconds=lease), owner=owner,
                                             limit=limit)
        expected = self.model.claim_due_schedules(self.now, lease, owner, limit)
        assert [(c.name, c.next_fire, c.data, c.owner, c.lease_until) for c in got] == [
            (e["name"], at(e["next_fire"]), e["data"], e["owner"], at(e["lease_until"])) for e in expected]
        self.fires += zip(got, expected, strict=True)
        if any(e["took_over"] for e in expected):
            event("claim_due_schedules: took over a lease that ran out")

    @rule(wait=st.integers(1, 5), lease=st.integers(1, 4), owner=st.sampled_from(["p1", "p2"]),
          limit=st.integers(1, 3))
    def wait_then_claim_schedules(self, wait: int, lease: int, owner: str, limit: int) -> None:
        self.now += wait
        self.claim_due_schedules(lease, owner, limit)

    @precondition(lambda self: self.fires)
    @rule(choice=st.integers(0, 5), delay=st.none() | st.integers(0, 6), spec=follow_ups)
    def schedule_fired(self, choice: int, delay: int | None, spec: list[tuple[str, str | None, int]]) -> None:
        fire, ticket = self.pick(self.fires, choice)
        entries, payloads = self.follow(spec)
        next_fire = None if delay is None else self.now + delay
        got = self.store.schedule_fired(fire, next_fire=None if next_fire is None else at(next_fire), then=entries)
        assert got == self.model.schedule_fired(ticket, next_fire, payloads)
        event(f"schedule_fired: {'recorded' if got else 'stale claim'}")

    # -- the whole visible state, after every step

    @invariant()
    def the_visible_state_agrees(self) -> None:
        for queue in QUEUES:
            assert self.store.counts(queue) == self.model.counts(queue), queue
            listed = self.store.items(queue)
            mine = [item for item in self.model.items if item["queue"] == queue]
            assert [(i.queue, i.payload, i.key, i.not_before, i.attempts, i.owner, i.lease_until)
                    for i in listed] == [
                (m["queue"], m["payload"], m["key"], at(m["not_before"]), m["attempts"], m["owner"],
                 None if m["lease_until"] is None else at(m["lease_until"])) for m in mine], queue
            assert self.store.items(queue, limit=1) == listed[:1]
            for item, m in zip(listed, mine, strict=True):
                if m["id"] is None:  # first seen: a new id, never shown before
                    assert item.id not in self.seen, item.id
                    m["id"] = item.id
                    self.seen.append(item.id)
                assert item.id == m["id"], (item.id, m["id"])
            expected = self.model.next_due(queue)
            assert self.store.next_due(queue) == (None if expected is None else at(expected)), queue
            assert [(d.queue, self.ids[d.id], d.payload, d.attempts, d.reason, d.at, d.key)
                    for d in self.store.dead_letters(queue)] == [
                (d["queue"], d["payload"], d["payload"], d["attempts"], d["reason"], at(d["at"]), d["key"])
                for d in self.model.dead if d["queue"] == queue]
        expected = self.model.next_due(None)
        assert self.store.next_due() == (None if expected is None else at(expected))
        expected = self.model.next_schedule_due()
        assert self.store.next_schedule_due() == (None if expected is None else at(expected))
        assert [(s.name, s.next_fire, s.data, s.owner, s.lease_until) for s in self.store.schedules()] == [
            (s["name"], None if s["next_fire"] is None else at(s["next_fire"]), s["data"], s["owner"],
             None if s["lease_until"] is None else at(s["lease_until"]))
            for s in sorted(self.model.schedules, key=lambda s: s["name"])]


class MemoryStoreAgainstModel(StoreAgainstModel):
    def open_store(self) -> Store:
        return MemoryStore(key_retention=RETENTION)


class SqliteStoreAgainstModel(StoreAgainstModel):
    def open_store(self) -> Store:
        self.folder = Path(tempfile.mkdtemp(prefix="eventbus-durable-"))
        return SqliteStore(self.folder / "work.db", key_retention=RETENTION)

    @rule()
    def reopen(self) -> None:
        """A restart: a new store on the same file, without closing the old one
        first (as if its process had been killed); claims made before still count."""
        old = self.store
        self.store = SqliteStore(self.folder / "work.db", key_retention=RETENTION)
        old.close()

    def teardown(self) -> None:
        super().teardown()
        shutil.rmtree(self.folder, ignore_errors=True)


class NatsStoreAgainstModel(StoreAgainstModel):
    """The NATS store, each example on a fresh prefix (its buckets deleted after)."""

    def open_store(self) -> Store:
        self.prefix = fresh_prefix()
        return NatsStore(prefix=self.prefix, key_retention=RETENTION)

    @rule()
    def reopen(self) -> None:
        """A restart: a new store on the same prefix, the old one closed after (as if
        its process had been killed); claims made before still count."""
        old = self.store
        self.store = NatsStore(prefix=self.prefix, key_retention=RETENTION)
        old.close()

    def teardown(self) -> None:
        super().teardown()
        drop_buckets(self.prefix)


TestMemoryStoreAgainstTheModel = MemoryStoreAgainstModel.TestCase
TestSqliteStoreAgainstTheModel = SqliteStoreAgainstModel.TestCase
# (each step is a few round trips to the server: fewer examples)
NatsStoreAgainstModel.TestCase.settings = settings(settings.default, max_examples=15, deadline=None,
                                                   suppress_health_check=[HealthCheck.too_slow])
TestNatsStoreAgainstTheModel = pytest.mark.skipif(not nats_answers(), reason=NO_NATS)(NatsStoreAgainstModel.TestCase)
