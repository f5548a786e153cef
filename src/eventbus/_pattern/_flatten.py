"""Event flattening: the leaf values of an event at the paths the rules name.

The rules' paths form a tree (key -> (dotted path, children)); ``flatten``
walks the event and the tree together, so it neither builds nor hashes path
strings for keys no rule names.  ``flatten_with_trails`` is the slower walk
the arrays-of-objects check needs: each value with the array elements it sits
in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from .._exceptions import ValidationError
from ._json import EVENT_NOT_VALID, MAX_EVENT_DEPTH
from ._matchers import BigNumber, json_float

__all__ = ["LEAF_KINDS", "Trail", "Tree", "add_path", "build_tree", "flatten", "flatten_with_trails", "plain_leaf"]

# A tree of the paths the rules name: key -> (dotted path, children).  The
# flattener walks the event and this tree together, so it neither builds nor
# hashes path strings for keys no rule names.
Tree = dict[str, tuple[str, "Tree"]]


def add_path(tree: Tree, path: str) -> None:
    """Insert ``path`` into ``tree`` in place (readers only ``get`` from it, so a
    half-inserted path is invisible to them until it is complete)."""
    node = tree
    parts = path.split(".")
    for k, part in enumerate(parts):
        entry = node.get(part)
        if entry is None:
            entry = (".".join(parts[: k + 1]), {})
            node[part] = entry
        node = entry[1]


def build_tree(paths: Iterable[str]) -> Tree:
    tree: Tree = {}
    for path in paths:
        add_path(tree, path)
    return tree


def _dotted(tree: Tree, key: str) -> tuple[str, Tree] | None:
    """The node for an event key with dots in it: "a.b" names the path a -> b."""
    node: tuple[str, Tree] | None = None
    children = tree
    for part in key.split("."):
        node = children.get(part)
        if node is None:
            return None
        children = node[1]
    return node


def flatten(event: Any, tree: Tree, pairs: bool = False) -> tuple[dict[str, list[Any]], list[str]]:
    """Leaf values at the paths some rule names (hot path).

    Also returns the paths of arrays holding two or more objects (or
    arrays), where array-consistent matching may matter.  The walk keeps its
    own stack, so no nesting depth and no caller's stack depth can make it
    fail.

    ``pairs``: the event was read from JSON text, objects as tuples of
    (key, value) pairs (see ``_json.parse_event_text``), so a repeated key
    gives all its values, as AWS's matcher reads it; otherwise objects are
    mappings, and tuples are arrays like lists.
    """
    fields: dict[str, list[Any]] = {}
    arrays: list[str] = []
    todo: list[tuple[Any, Tree]] = []
    obj: Any = event
    try:
        while True:
            get = tree.get
            for key, value in (obj if pairs else obj.items()):
                node = get(key)
                if node is None:
                    if type(key) is not str and not isinstance(key, str):
                        raise ValidationError(f"{EVENT_NOT_VALID} (field names must be strings)")
                    if "." not in key or (node := _dotted(tree, key)) is None:
                        continue
                kind = type(value)
                if kind is dict:
                    if node[1]:
                        todo.append((value, node[1]))
                elif kind in LEAF_KINDS:
                    found = fields.get(node[0])
                    if found is None:
                        fields[node[0]] = [value]
                    else:
                        found.append(value)
                elif kind is list:
                    _walk_list(value, node, fields, arrays, todo, pairs)
                elif kind is tuple and pairs:
                    if node[1]:
                        todo.append((value, node[1]))
                elif isinstance(value, Mapping):
                    if node[1]:
                        todo.append((value, node[1]))
                elif isinstance(value, (list, tuple)):
                    _walk_list(value, node, fields, arrays, todo, pairs)
                else:
                    fields.setdefault(node[0], []).append(plain_leaf(value))
            if not todo:
                return fields, arrays
            obj, tree = todo.pop()
    except (TypeError, AttributeError):
        raise ValidationError(f"{EVENT_NOT_VALID} (field names must be strings)") from None


def _walk_list(items: Sequence[Any], node: tuple[str, Tree], fields: dict[str, list[Any]], arrays: list[str],
               todo: list[tuple[Any, Tree]], pairs: bool) -> None:
    """The values of an array (and of the arrays nested in it) at one path."""
    path, children = node
    lists = [(items, path.count(".") + 2)]  # (array, its nesting level in the event)
    while lists:
        items, level = lists.pop()
        if level > MAX_EVENT_DEPTH:
            raise ValidationError(f"{EVENT_NOT_VALID} (nested deeper than {MAX_EVENT_DEPTH} levels)")
        containers = 0
        for item in items:
            kind = type(item)
            if kind in LEAF_KINDS:
                found = fields.get(path)
                if found is None:
                    fields[path] = [item]
                else:
                    found.append(item)
            elif kind is dict or (kind is tuple and pairs) or (kind is not tuple and isinstance(item, Mapping)):
                containers += 1
                if children:
                    todo.append((item, children))
            elif kind is list or isinstance(item, (list, tuple)):
                containers += 1
                lists.append((item, level + 1))
            else:
                fields.setdefault(path, []).append(plain_leaf(item))
        if containers >= 2:
            arrays.append(path)


LEAF_KINDS = frozenset((str, int, float, bool, type(None), BigNumber))


def plain_leaf(value: Any) -> Any:
    """A leaf that is not one of JSON's own types, as the JSON value it stands for:
    a subclass of str, int or float (an enum member, say) as its plain value,
    a ``Decimal`` as the number it is.  Anything else is not a JSON value."""
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, Decimal) and value.is_finite():
        return json_float(str(value)) if value.as_tuple().exponent != 0 else int(value)
    raise ValidationError(f"{EVENT_NOT_VALID} ({type(value).__name__} is not a JSON value)")


Trail = tuple[tuple[int, int], ...]


def flatten_with_trails(event: Any, wanted: set[str], pairs: bool) -> dict[str, list[tuple[Any, Trail]]]:
    """Leaf values at the wanted paths, each with its trail: the (array, element)
    pairs of the arrays of objects it sits in.  Arrays are numbered as the walk
    meets them, so an array's number is below the numbers of the arrays inside
    it.  An explicit stack: no depth of nesting can exhaust Python's."""
    fields: dict[str, list[tuple[Any, Trail]]] = {}
    arrays = 0
    todo: list[tuple[Any, str, Trail]] = [(event, "", ())]
    while todo:
        value, path, trail = todo.pop()
        kind = type(value)
        if kind in LEAF_KINDS:
            fields.setdefault(path, []).append((value, trail))
        elif kind is dict or (kind is tuple and pairs) or (kind is not list and kind is not tuple
                                                         and isinstance(value, Mapping)):
            base = path + "." if path else ""
            for key, item in (value if kind is tuple else value.items()):
                if base + key in wanted:
                    todo.append((item, base + key, trail))
        elif kind is list or kind is tuple or isinstance(value, (list, tuple)):
            arrays += 1
            for position, item in enumerate(value):
                if type(item) in LEAF_KINDS:
                    fields.setdefault(path, []).append((item, trail))
                else:
                    todo.append((item, path, (*trail, (arrays, position))))
        else:
            fields.setdefault(path, []).append((plain_leaf(value), trail))
    return fields
