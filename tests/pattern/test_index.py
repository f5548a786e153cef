"""RuleIndex: its API, compaction, and readers running beside a writer."""

from __future__ import annotations

import json
import sys
import threading
import tracemalloc
from collections.abc import Callable, ItemsView, Iterator, Mapping
from typing import Any

import pytest

import eventbus
from eventbus._pattern import _engine
from tests.support import STACK_DEPTHS, from_deep_in_the_stack, nested_lists

pytestmark = pytest.mark.usefixtures("block_size")

EVENT = {"source": "app", "detail": {"n": 5, "tags": ["a", "b"]}}


def test_add_match_remove_and_len() -> None:
    index = eventbus.RuleIndex()
    assert index.match(EVENT) == set()
    index.add("by-source", '{"source": ["app"]}')
    index.add("by-number", {"detail": {"n": [{"numeric": [">", 1]}]}})
    index.add("other", {"source": ["nope"]})
    assert len(index) == 3
    assert "other" in index
    assert set(index) == {"by-source", "by-number", "other"}
    assert index.match(EVENT) == {"by-source", "by-number"}
    index.remove("by-number")
    assert index.match(EVENT) == {"by-source"}
    assert len(index) == 2
    with pytest.raises(eventbus.ResourceNotFoundError):
        index.remove("by-number")
    assert index.pattern("by-source") == eventbus.compile_pattern('{"source": ["app"]}')


def test_match_accepts_json_text_and_bytes() -> None:
    index = eventbus.RuleIndex()
    index.add(1, {"detail": {"tags": ["b"]}})
    assert index.match('{"detail": {"tags": ["a", "b"]}}') == {1}
    assert index.match(b'{"detail": {"tags": ["c"]}}') == set()


@pytest.mark.parametrize("text", ["nope", "[1]", "{", '{"a": Infinity}'])
def test_match_refuses_malformed_json_events(text: str) -> None:
    index = eventbus.RuleIndex()
    index.add(1, {"a": [1]})
    with pytest.raises(eventbus.ValidationError, match="Parameter Event is not valid"):
        index.match(text)


def test_an_invalid_pattern_leaves_the_index_unchanged() -> None:
    index = eventbus.RuleIndex()
    index.add("keep", {"source": ["app"]})
    with pytest.raises(eventbus.InvalidEventPatternError):
        index.add("keep", {"source": []})
    assert index.match(EVENT) == {"keep"}


def test_many_removals_compact_the_index_without_changing_answers() -> None:
    index = eventbus.RuleIndex()
    for i in range(500):
        index.add(i, {"detail": {"n": [i % 10]}})
    assert index.match(EVENT) == {i for i in range(500) if i % 10 == 5}
    for i in range(500):
        if i % 10 != 5:
            index.remove(i)
            if i % 97 == 0:  # matching between removals: plans are rebuilt, then compacted away
                assert index.match(EVENT) == {j for j in range(500) if j % 10 == 5 and j in index}
    assert len(index) == 50
    assert index.match(EVENT) == {i for i in range(500) if i % 10 == 5}
    index.add(1000, {"detail": {"n": [5]}})
    assert index.match(EVENT) == {i for i in range(500) if i % 10 == 5} | {1000}


@pytest.mark.measures_memory
def test_removed_rules_give_their_memory_back() -> None:
    def retained(build: Callable[[], object]) -> int:
        tracemalloc.start()
        try:
            kept = build()
            size = tracemalloc.get_traced_memory()[0]
            del kept
        finally:
            tracemalloc.stop()
        return size

    def full() -> object:
        index = eventbus.RuleIndex()
        index.add_all((i, {"source": [f"app.{i}"]}) for i in range(6000))
        index.match({"source": "app.1"})
        return index

    def emptied() -> object:
        index = full()
        assert isinstance(index, eventbus.RuleIndex)
        for i in range(60, 6000):
            index.remove(i)
        assert index.match({"source": "app.7"}) == {7}
        return index

    # without compaction the emptied index would keep every removed rule's tables
    assert retained(emptied) < retained(full) / 4


def test_readers_see_consistent_answers_while_a_writer_changes_rules() -> None:
    index = eventbus.RuleIndex()
    for i in range(20):
        index.add(("static", i), {"source": ["app"], "detail": {"n": [{"numeric": [">=", 0]}]}})
    stop = threading.Event()
    problems: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            got = index.match(EVENT)
            static = {r for r in got if r[0] == "static"}  # type: ignore[index]
            if len(static) != 20:
                problems.append(f"static rules missing: {len(static)}")
            if any(r[0] == "never" for r in got):  # type: ignore[index]
                problems.append("a rule that never matches matched")

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for round_ in range(300):
            index.add(("dyn", round_), {"source": ["app"]})
            index.add(("never", round_), {"source": ["app"], "detail": {"n": [{"numeric": ["<", 0]}]}})
            if round_ >= 5:
                index.remove(("dyn", round_ - 5))
                index.remove(("never", round_ - 5))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert problems == []
    dynamic = {r for r in index.match(EVENT) if r[0] == "dyn"}  # type: ignore[index]
    assert dynamic == {("dyn", r) for r in range(295, 300)}


def test_replacing_a_rule_never_hides_it_from_readers() -> None:
    index = eventbus.RuleIndex()
    index.add("r", {"source": ["app"]})
    stop = threading.Event()
    misses: list[int] = []

    def reader() -> None:
        while not stop.is_set():
            if "r" not in index.match(EVENT):
                misses.append(1)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(3000):
            index.add("r", {"source": ["app", f"v{i % 3}"]})
    finally:
        stop.set()
        thread.join()
    assert misses == []


@pytest.mark.parametrize("event", [None, [1], 5, 1.5])
def test_match_refuses_events_that_are_not_objects(event: object) -> None:
    index = eventbus.RuleIndex()
    index.add(1, {"a": ["x"]})
    with pytest.raises(eventbus.ValidationError, match="Parameter Event is not valid"):
        index.match(event)  # type: ignore[arg-type]


@pytest.mark.parametrize("frames", STACK_DEPTHS)
def test_events_nested_up_to_aws_limit_match_from_any_stack_depth(frames: int) -> None:
    index = eventbus.RuleIndex()
    index.add(1, {"a": {"b": ["x"]}})
    # {"a": {"b": [[...["x"]...]]}}: 2 object levels and 998 array levels, 1,000 in all
    event = {"a": {"b": nested_lists(998)}}
    assert from_deep_in_the_stack(frames, lambda: index.match(event)) == {1}
    text = '{"a": {"b": ' + "[" * 998 + '"x"' + "]" * 998 + "}}"
    assert from_deep_in_the_stack(frames, lambda: index.match(text)) == {1}
    objects = '{"a": {"b": "x", "c": ' + '{"d": ' * 998 + "1" + "}" * 998 + "}}"  # 1,000 object levels
    assert from_deep_in_the_stack(frames, lambda: index.match(objects)) == {1}


@pytest.mark.parametrize("frames", STACK_DEPTHS)
def test_events_nested_deeper_than_aws_limit_are_refused(frames: int) -> None:
    index = eventbus.RuleIndex()
    index.add(1, {"a": {"b": ["x"]}})
    event = {"a": {"b": nested_lists(999)}}
    with pytest.raises(eventbus.ValidationError, match="nested deeper than 1000 levels"):
        from_deep_in_the_stack(frames, lambda: index.match(event))
    with pytest.raises(eventbus.ValidationError, match="nested deeper than 1000 levels"):
        from_deep_in_the_stack(frames, lambda: index.match('{"a": {"b": ' + "[" * 999 + '"x"' + "]" * 999 + "}}"))
    with pytest.raises(eventbus.ValidationError, match="nested deeper than 1000 levels"):
        from_deep_in_the_stack(frames, lambda: index.match('{"a":' * 1001 + "1" + "}" * 1001))


def test_a_raised_recursion_limit_does_not_raise_the_event_depth_limit() -> None:
    index = eventbus.RuleIndex()
    index.add(1, {"a": ["x"]})
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000)
    try:
        with pytest.raises(eventbus.ValidationError, match="nested deeper than 1000 levels"):
            index.match('{"a": "x", "b":' + "[" * 1500 + "]" * 1500 + "}")
    finally:
        sys.setrecursionlimit(old)


@pytest.mark.slow_under_mutmut
def test_several_writers_and_readers_lose_no_rule_and_see_no_stranger() -> None:
    index = eventbus.RuleIndex()
    writers, per_writer = 4, 600
    stop = threading.Event()
    problems: list[str] = []

    def write(w: int) -> None:
        for i in range(per_writer):
            index.add((w, i), {"source": ["app"], "detail": {"w": [w], "i": [i]}})
            if i % 3 == 2:
                index.remove((w, i - 1))  # removals interleave with other writers' adds

    def read() -> None:
        while not stop.is_set():
            w, i = len(problems) % writers, 7
            got = index.match({"source": "app", "detail-type": "t", "detail": {"w": w, "i": i}})
            if got - {(w, i)}:
                problems.append(f"a rule that cannot match matched: {got}")

    readers = [threading.Thread(target=read) for _ in range(2)]
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns every few bytecodes: races show up
    try:
        for t in readers + threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        stop.set()
        for t in readers:
            t.join()
        sys.setswitchinterval(switch)
    kept = {(w, i) for w in range(writers) for i in range(per_writer) if i % 3 != 1}
    assert problems == [] and set(index) == kept
    lost = [r for r in kept if index.match({"source": "app", "detail": {"w": r[0], "i": r[1]}}) != {r}]
    assert lost == []


def test_rule_ids_keep_their_type() -> None:
    # Checked by mypy (CI type-checks the tests): a RuleIndex[str] answers set[str],
    # refuses other ids, and a bare RuleIndex takes any hashable.
    from typing import assert_type

    named = eventbus.RuleIndex[str]()
    named.add("ec2", {"source": ["aws.ec2"]})
    found = named.match({"source": "aws.ec2", "detail-type": "x", "detail": {}})
    assert_type(found, set[str])
    assert found == {"ec2"} and list(named) == ["ec2"]
    with pytest.raises(eventbus.ResourceNotFoundError):
        named.remove(7)  # type: ignore[arg-type]
    anything = eventbus.RuleIndex()
    anything.add(("tenant", 1), {"source": ["aws.ec2"]})
    assert anything.match({"source": "aws.ec2"}) == {("tenant", 1)}


@pytest.mark.parametrize("frames", STACK_DEPTHS)
def test_arrays_of_objects_nested_deeply_are_checked_without_recursion(frames: int) -> None:
    index = eventbus.RuleIndex()
    index.add(1, {"a": {"b": ["x"], "c": ["y"]}})
    inner: list[object] = ["y"]
    for _ in range(990):
        inner = [inner]
    together = {"a": [{"b": "x"}, {"c": inner}, {"b": "x", "c": inner}]}
    apart = {"a": [{"b": "x"}, {"c": inner}]}
    assert from_deep_in_the_stack(frames, lambda: index.match(together)) == {1}
    assert from_deep_in_the_stack(frames, lambda: index.match(apart)) == set()


class _PausingEvent(Mapping[str, Any]):
    """An event whose walk waits for a signal: it holds match() after match has
    taken its view of the blocks."""

    def __init__(self, event: dict[str, Any]) -> None:
        self.event = event
        self.entered = threading.Event()
        self.go = threading.Event()

    def __getitem__(self, key: str) -> Any:
        return self.event[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.event)

    def __len__(self) -> int:
        return len(self.event)

    def items(self) -> ItemsView[str, Any]:
        self.entered.set()
        self.go.wait(timeout=10)
        return self.event.items()


@pytest.mark.parametrize("new_path", [False, True])
def test_a_rule_replaced_into_a_new_block_is_not_missed_by_a_match_under_way(new_path: bool) -> None:
    size = _engine.BLOCK_SIZE
    index: eventbus.RuleIndex[Any] = eventbus.RuleIndex([(i, {"n": [i]}) for i in range(size - 1)])
    index.add("R", {"source": ["s"]})  # the block is full now
    event = _PausingEvent({"source": "s", "detail": {"x": 1}})
    got: list[set[Any]] = []
    reader = threading.Thread(target=lambda: got.append(index.match(event)))
    reader.start()
    assert event.entered.wait(timeout=10)
    # the new form lands in a new block, and the old one leaves the full block
    index.add("R", {"detail": {"x": [1]}} if new_path else {"source": [{"prefix": "s"}]})
    event.go.set()
    reader.join(timeout=10)
    assert got == [{"R"}]


def test_a_plan_never_changes_a_view_another_plan_uses() -> None:
    """Readers build plans without locks; two readers building plans for
    different versions must not write into the same object.  (A view shared by
    two plans once had its base masks refreshed in place: a reader building an
    older plan could leave its bases in the newer one, hiding a new rule.)"""
    engine: _engine.Engine[str] = _engine.Engine()
    engine.add("F", eventbus.compile_pattern({"p": [{"prefix": "v"}], "q": ["v"]}).subrules)
    engine.add("G", eventbus.compile_pattern({"r": ["v"]}).subrules)
    assert engine.match({"p": "v", "q": "v", "r": "v"}) == {"F", "G"}
    block = engine.blocks[0]
    older = block.current_plan()
    older_bases = [(view.string_base, view.number_base, view.other_base) for *_, view in older[1]]
    engine.add("B", eventbus.compile_pattern({"source": ["s"]}).subrules)  # names none of p, q, r
    newer = block.current_plan()
    assert newer[0] > older[0]
    assert [(view.string_base, view.number_base, view.other_base) for *_, view in older[1]] == older_bases
    assert not {id(view) for *_, view in older[1]} & {id(view) for *_, view in newer[1]}
    assert engine.match({"p": "v", "q": "v", "r": "v", "source": "s"}) == {"F", "G", "B"}


def test_blocks_added_during_a_match_are_read_with_the_event_in_either_form() -> None:
    """What match does when blocks appeared while it ran (see the race test above),
    called directly: the blocks not seen yet are read, for events as mappings and
    as text (objects as pairs), arrays of objects included."""
    from eventbus._pattern._json import parse_event_text

    engine: _engine.Engine[str] = _engine.Engine(block_size=2)
    first = eventbus.compile_pattern({"a": {"b": ["1"], "c": ["2"]}}).subrules
    engine.add("seen", first)
    seen = engine.blocks
    engine.add("x", eventbus.compile_pattern({"z": ["9"]}).subrules)
    engine.add("late", eventbus.compile_pattern({"a": {"b": ["1"], "c": ["2"]}, "n": [{"numeric": [">", 1]}]}).subrules)
    assert len(engine.blocks) == 2
    together = {"a": [{"b": "1", "c": "2"}, {"d": 0}], "n": 5}
    apart = {"a": [{"b": "1"}, {"c": "2"}], "n": 5}
    for event, expected in ((together, {"late"}), (apart, set())):
        found: set[str] = set()
        engine._match_newer(seen, event, False, found)
        assert found == expected
        found = set()
        engine._match_newer(seen, parse_event_text(json.dumps(event)), True, found)
        assert found == expected


def test_paths_no_rule_names_any_more_leave_the_walk() -> None:
    index = eventbus.RuleIndex()
    index.add_all((f"r{i}", {"detail": {f"f{i}": ["x"]}}) for i in range(300))
    assert repr(index) == "<RuleIndex rules=300 paths=300>"
    assert index.match({"detail": {"f7": "x"}}) == {"r7"}
    for i in range(300):
        if i != 7:
            index.remove(f"r{i}")
    paths = int(repr(index).split("paths=")[1].rstrip(">"))
    assert paths < 100  # of 300: the walk forgets most paths no rule names
    assert index.match({"detail": {"f7": "x", "f8": "x"}}) == {"r7"}
    index.add("r8", {"detail": {"f8": ["x"]}})
    assert index.match({"detail": {"f7": "x", "f8": "x"}}) == {"r7", "r8"}
