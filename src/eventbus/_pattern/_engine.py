"""The matching engine: compiled sub-rules in blocks, matched in one pass.

How it works (details in ``docs/internals.md``):

* Sub-rules are filed in blocks of at most ``BLOCK_SIZE``; inside a block
  every sub-rule gets one bit.  For each field path its rules name, a block
  keeps ``PathTables`` (``_tables``) that answer "which sub-rules does this
  value satisfy here?" as an integer mask.  Masks are at most a block wide,
  so memory per rule does not grow with the number of rules, and adding a
  rule costs the size of its pattern, not the size of the index.
* Matching an event flattens just the parts of it that some rule names
  (``_flatten``, once per event), then, in each block, walks the paths: a
  sub-rule fails at a path when the path is absent (unless it allows
  absence) or when none of the values there satisfy it.  The matches are the
  sub-rules that failed nowhere.  A block whose rules all fail on the first
  paths costs a few dictionary look-ups.
* Arrays of objects: the masks cannot see which array element a value came
  from; ``_arrays`` re-checks the few sub-rules where that matters.

Concurrency: one writer at a time (``RuleIndex`` serialises writers with a
lock), any number of readers, which never lock.  In a block, a writer fills
in a new sub-rule's tables, stamps the paths it touched with the next
version, bumps ``version``, and publishes the bits in ``live`` last;
removing clears ``live`` first.  A reader reads ``live``, then ``version``,
and uses the plan (the matching order and the per-path views) built for that
version, building it if nobody has yet: so the derived state is rebuilt once
per change, on the first match after it, never once per rule.  Bits are never
reused inside a block; when garbage outweighs live bits, the block's rules
move to the open block and the block is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import Any, Generic, TypeVar

from ._arrays import recheck_arrays
from ._flatten import Tree, add_path, build_tree, flatten
from ._parse import SubRule
from ._tables import CACHE_SIZE, ExactGet, PathTables, PathView

__all__ = ["BLOCK_SIZE", "Engine"]

K = TypeVar("K", bound=Hashable)

# Sub-rules per block.  Masks, and so the memory a value costs, are at most this
# many bits wide; matching walks every block, so fewer, fuller blocks are faster.
BLOCK_SIZE = 4096

_ONES = re.compile("1")

# (constrained, path, keep_if_absent, exists | unconstrained, strings.get or None, view)
_Step = tuple[int, str, int, int, ExactGet | None, PathView]
# (AND of keep_if_absent over the absent paths, steps of the present paths)
_ShapePlan = tuple[int, tuple[tuple[int, str, int, ExactGet | None, PathView], ...]]
# (version, steps in matching order, per-shape plans, views by path)
_Plan = tuple[int, tuple[_Step, ...], dict[tuple[str, ...], _ShapePlan], dict[str, PathView]]
_MAX_SHAPES = 2048


def _shape_plan(plan: tuple[_Step, ...], shapes: dict[tuple[str, ...], _ShapePlan],
                shape: tuple[str, ...]) -> _ShapePlan:
    """What an event of this shape (the paths present) costs: the sub-rules its
    absent paths rule out, and the steps for its present paths."""
    present = set(shape)
    keep = -1
    steps = []
    for constrained, path, keep_if_absent, base, exact, view in plan:
        if path in present:
            steps.append((constrained, path, base, exact, view))
        else:
            keep &= keep_if_absent
    known = (keep, tuple(steps))
    if len(shapes) >= _MAX_SHAPES:
        shapes.clear()
    shapes[shape] = known
    return known


def _under(path: str, arrays: list[str]) -> bool:
    """Whether ``path`` is one of ``arrays`` or lies below one."""
    return any(path == array or path.startswith(array + ".") for array in arrays)


class _Block(Generic[K]):
    __slots__ = ("tables", "live", "version", "plan", "owners", "rules", "multi", "next_bit", "garbage",
                 "cache_size")

    def __init__(self, cache_size: int = CACHE_SIZE) -> None:
        self.tables: dict[str, PathTables] = {}
        self.live = 0
        self.version = 0
        self.plan: _Plan | None = None
        self.owners: list[K] = []  # bit number -> rule id
        self.rules: list[SubRule | None] = []  # bit number -> sub-rule (None once removed)
        self.multi: dict[str, int] = {}  # array path -> sub-rules naming 2+ paths under it
        self.next_bit = 0
        self.garbage = 0
        self.cache_size = cache_size

    def add(self, rule_id: K, subrules: tuple[SubRule, ...] | list[SubRule]) -> int:
        """File the sub-rules and publish them; returns their mask in this block."""
        version = self.version + 1
        mask = 0
        tables = self.tables
        for rule in subrules:
            number = self.next_bit
            self.next_bit += 1
            bit = 1 << number
            mask = mask | bit if mask else bit  # one sub-rule: share the bit's int object
            self.owners.append(rule_id)
            self.rules.append(rule)
            for path, matchers in rule.items():
                table = tables.get(path)
                if table is None:
                    table = tables[path] = PathTables(path)
                table.add(matchers, bit)
                table.stamp = version
            # under[p]: how many of the rule's paths are p or lie below p.  An
            # array at p with two or more elements of objects (or of arrays)
            # can hold values of those paths in different elements.
            if len(rule) > 1:
                under: dict[str, int] = {}
                for path in rule:
                    parts = path.split(".")
                    for k in range(1, len(parts) + 1):
                        head = ".".join(parts[:k])
                        under[head] = under.get(head, 0) + 1
                for head, count in under.items():
                    if count >= 2:
                        self.multi[head] = self.multi.get(head, 0) | bit
        self.version = version
        self.live |= mask  # publish last
        return mask

    def remove(self, mask: int) -> None:
        self.live &= ~mask  # unpublish first
        while mask:
            low = mask & -mask
            self.rules[low.bit_length() - 1] = None
            self.garbage += 1
            mask ^= low

    def live_rules(self) -> dict[K, list[SubRule]]:
        """The live rules, by id, their sub-rules in bit order."""
        found: dict[K, list[SubRule]] = {}
        for number, rule in enumerate(self.rules):
            if rule is not None:
                found.setdefault(self.owners[number], []).append(rule)
        return found

    def current_plan(self) -> _Plan:
        """The plan for the current version (built here if nobody has yet)."""
        version = self.version
        plan = self.plan
        if plan is not None and plan[0] == version:
            return plan
        old_views = plan[3] if plan is not None else {}
        universe = (1 << self.next_bit) - 1
        views: dict[str, PathView] = {}
        # list(): one step of the interpreter, so a writer adding a path cannot
        # change the dictionary while it is read
        for table in list(self.tables.values()):
            view = old_views.get(table.path)
            stamp = table.stamp
            if view is None or view.stamp != stamp:
                # a stamp past this version: a writer is changing the path right
                # now, so this view may hold half of it: use it, never reuse it
                view = PathView(table, stamp if stamp <= version else -1, self.cache_size)
            views[table.path] = view
        # cheap, selective paths first: they knock out most sub-rules before
        # the one-by-one matchers run
        order = sorted(views.values(), key=lambda v: (v.cost, -v.tables.constrained.bit_count()))
        steps = []
        # Equal masks are kept once: they are as wide as the block, and many paths
        # have the same ones (a path whose rules only ask that it exists has every
        # base equal to the universe).
        same: dict[int, int] = {universe: universe}
        one = same.setdefault
        for shared in order:
            t = shared.tables
            constrained = t.constrained
            view = shared.with_bases(universe ^ constrained, one)
            keep_if_absent = universe ^ (constrained ^ (constrained & t.absent_ok))
            exact = t.strings.get if t.exact_only else None
            present = t.exists | (universe ^ constrained)
            steps.append((constrained, t.path, keep_if_absent, one(present, present), exact, view))
        built: _Plan = (version, tuple(steps), {}, views)
        self.plan = built
        return built


class Engine(Generic[K]):
    """Sub-rules filed in blocks, with the tree of the paths they name.

    Not thread-safe for writers (``RuleIndex`` adds the lock); readers never lock.
    """

    __slots__ = ("blocks", "tree", "paths", "where", "block_size")

    def __init__(self, block_size: int | None = None) -> None:
        self.blocks: tuple[_Block[K], ...] = ()  # replaced, never mutated; the last is open
        self.tree: Tree = {}  # the paths the rules name, as a tree (see _flatten)
        self.paths: set[str] = set()  # the paths in the tree
        self.where: dict[K, tuple[_Block[K], int]] = {}  # rule id -> (block, mask)
        self.block_size = BLOCK_SIZE if block_size is None else block_size

    def _open_block(self, size: int) -> _Block[K]:
        blocks = self.blocks
        if blocks:
            last = blocks[-1]
            if last.next_bit + size <= self.block_size:
                return last
        block: _Block[K] = _Block(max(64, CACHE_SIZE // (len(blocks) + 1)))
        self.blocks = (*blocks, block)
        for other in blocks:  # the caches' memory stays bounded as blocks are added
            other.cache_size = block.cache_size
        return block

    def add(self, rule_id: K, subrules: tuple[SubRule, ...] | list[SubRule]) -> None:
        """File ``subrules`` under ``rule_id``, replacing what was filed under it."""
        for rule in subrules:  # paths first: a reader must find every path of a live rule
            for path in rule:
                if path not in self.paths:
                    add_path(self.tree, path)
                    self.paths.add(path)
        old = self.where.get(rule_id)
        block = self._open_block(len(subrules))
        # the new sub-rules go live before the old ones leave, so a reader never
        # sees the id missing while it is being replaced
        self.where[rule_id] = (block, block.add(rule_id, subrules))
        if old is not None:
            self._drop(*old)

    def remove(self, rule_id: K) -> bool:
        found = self.where.pop(rule_id, None)
        if found is None:
            return False
        self._drop(*found)
        return True

    def _drop(self, block: _Block[K], mask: int) -> None:
        block.remove(mask)
        garbage = block.garbage
        if garbage * 2 >= block.next_bit and (garbage >= 64 or garbage * 2 >= self.block_size or not block.live):
            self._compact(block)

    def _compact(self, block: _Block[K]) -> None:
        """Move the block's live rules to the open block(s) and drop it."""
        if self.blocks[-1] is block:  # a full block of garbage: start a fresh one
            self.blocks = (*self.blocks, _Block(block.cache_size))
        for rule_id, subrules in block.live_rules().items():
            target = self._open_block(len(subrules))
            self.where[rule_id] = (target, target.add(rule_id, subrules))
        self.blocks = tuple(b for b in self.blocks if b is not block)
        named = sum(len(b.tables) for b in self.blocks)
        if len(self.paths) > 2 * named + 64:  # many paths no rule names any more
            paths = {path for b in self.blocks for path in b.tables}
            self.tree = build_tree(paths)
            self.paths = paths

    def match(self, event: Any, pairs: bool = False) -> set[K]:
        """The ids whose sub-rules ``event`` satisfies (hot path).  ``pairs``: the
        event was read from JSON text, objects as tuples of pairs (see ``flatten``)."""
        blocks = self.blocks
        if not blocks:
            return set()
        fields, arrays = flatten(event, self.tree, pairs)
        shape = tuple(fields)
        found: set[K] = set()
        for block in blocks:
            if block.live:
                _match_block(block, fields, shape, arrays, event, pairs, found)
        if self.blocks is not blocks:
            # Blocks were added while this ran: a rule replaced meanwhile may have
            # left a block seen above for a block not seen yet.  Its new form was
            # published before its old one left, so it is in a newer block now.
            self._match_newer(blocks, event, pairs, found)
        return found

    def _match_newer(self, seen: tuple[_Block[K], ...], event: Any, pairs: bool, found: set[K]) -> None:
        done = {id(block) for block in seen}
        while True:
            current = self.blocks
            newer = [block for block in current if id(block) not in done]
            if newer:  # their rules may name paths the first walk skipped: walk again
                fields, arrays = flatten(event, self.tree, pairs)
                shape = tuple(fields)
                for block in newer:
                    done.add(id(block))
                    if block.live:
                        _match_block(block, fields, shape, arrays, event, pairs, found)
            if self.blocks is current:
                return


def _match_block(block: _Block[K], fields: dict[str, list[Any]], shape: tuple[str, ...], arrays: list[str],
                 event: Any, pairs: bool, found: set[K]) -> None:
    """Add the ids of the block's sub-rules that the flattened event satisfies (hot path)."""
    live = block.live  # before the version: see the module notes
    plan = block.plan
    if plan is None or plan[0] != block.version:
        plan = block.current_plan()
    # Events of one shape name the same paths: what their absence costs
    # is worked out once per shape (the tuple of paths present) and cached.
    known = plan[2].get(shape)
    if known is None:
        known = _shape_plan(plan[1], plan[2], shape)
    keep, steps = known
    ok = live & keep  # sub-rules not yet failed
    lenient = 0
    if arrays:
        # exists: false under an array of objects is judged per element: a
        # value elsewhere in the array does not rule it out here; the
        # sub-rules concerned are re-checked below, element by element
        for array in arrays:
            lenient |= block.multi.get(array, 0)
    for constrained, path, base, exact, view in steps:
        if not constrained & ok:
            continue
        values = fields[path]
        if exact is not None:  # exact strings only: inlined
            hits = base
            for value in values:
                if type(value) is str:
                    hits |= exact(value, 0)
        else:
            hits = 0
            for value in values:
                hits |= view.hits(value, ok)
        if lenient and view.tables.absent_ok & lenient and _under(path, arrays):
            hits |= view.tables.absent_ok & lenient
        ok &= hits
        if not ok:
            return
    if arrays:
        ok = recheck_arrays(block.multi, block.rules, event, arrays, ok, fields, pairs)
    if ok:
        owners = block.owners
        # one pass over the set bits, lowest first
        found.update(owners[bit.start()] for bit in _ONES.finditer(bin(ok)[:1:-1]))
