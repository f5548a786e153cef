"""Hypothesis strategies: small vocabularies so that patterns and events meet."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

KEYS = ["a", "b", "c"]
STRINGS = [
    "", "a", "ab", "abc", "A", "Ab", "b.c", "x*y", "*",
    # IP spellings: boundaries, leading zeros, too long to be IPv4, IPv4-mapped IPv6, other family
    "10.0.0.1", "10.0.1.9", "10.0.0.255", "10.0.0.256", "010.000.000.001", "0010.000.000.001",
    "::ffff:a00:1", "::FFFF:A00:1", "::a00:1", "2001:db8::1", "2001:db8::",
    # case pairs beyond ASCII: one-to-many, context and odd relatives
    "ß", "SS", "ss", "ẞ", "ς", "σ", "Σ", "\u212a", "k", "K", "é", "É", "ǅ", "ǆ", "Straße", "STRASSE",
]
NUMBERS = [0, 1, 2, 2.5, -1, 300, 300.0, 1e3, 0.1, 2**53, 2**53 + 1, -(2**53) - 1, 2**60, 10**20, 1e308, 5e-324]

scalars = st.one_of(
    st.sampled_from(STRINGS),
    st.sampled_from(NUMBERS),
    st.sampled_from([True, False, None]),
)

# JSON events: nested objects, arrays of scalars, arrays of objects.
event_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=3),
    ),
    max_leaves=12,
)
events = st.dictionaries(st.sampled_from(KEYS + ["a.b"]), event_values, max_size=4)

_affix = st.sampled_from(["", "a", "ab", "A", "b", "c", "1", "ß", "SS", "Σ", "σ", "\u212a", "ǅ"])
_nonempty_affix = st.sampled_from(["a", "ab", "A", "b", "c", "1", "ß", "Σ"])
_wild = st.sampled_from(["*", "a*", "*b", "a*c", "*b*", "A*", "x\\*y", "", "ab", "*.c", "1*"])
_cidr = st.sampled_from(["10.0.0.0/24", "10.0.0.0/8", "0.0.0.0/0", "2001:db8::/32", "10.0.1.0/24",
                         "10.1.2.3/8", "10.0.0.255/31", "10.0.0.1/30", "::/1", "::/0", "2001:db8::1/127",
                         "::ffff:a00:1/24", "::ffff:a00:1/120"])
_str_list = st.lists(st.sampled_from(STRINGS), min_size=1, max_size=3)
_num_list = st.lists(st.sampled_from(NUMBERS), min_size=1, max_size=3)
_ops_low = st.sampled_from([">", ">="])
_ops_high = st.sampled_from(["<", "<="])
_num = st.sampled_from(NUMBERS)


def _one_or_list(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(values, st.lists(values, min_size=1, max_size=3))


matchers = st.one_of(
    scalars,
    st.builds(lambda v: {"prefix": v}, _affix),
    st.builds(lambda v: {"prefix": {"equals-ignore-case": v}}, _affix),
    st.builds(lambda v: {"suffix": v}, _affix),
    st.builds(lambda v: {"suffix": {"equals-ignore-case": v}}, _affix),
    st.builds(lambda v: {"equals-ignore-case": v}, st.sampled_from(STRINGS)),
    st.builds(lambda v: {"anything-but": v}, st.one_of(st.sampled_from(STRINGS), _num, _str_list, _num_list)),
    st.builds(lambda v: {"anything-but": {"prefix": v}}, _one_or_list(_nonempty_affix)),
    st.builds(lambda v: {"anything-but": {"suffix": v}}, _one_or_list(_nonempty_affix)),
    st.builds(lambda v: {"anything-but": {"equals-ignore-case": v}}, _one_or_list(st.sampled_from(STRINGS))),
    st.builds(lambda v: {"anything-but": {"wildcard": v}}, _one_or_list(_wild)),
    st.builds(lambda op, v: {"numeric": [op, v]}, st.sampled_from(["=", "<", "<=", ">", ">="]), _num),
    st.builds(lambda lo, a, hi, b: {"numeric": [lo, a, hi, b]}, _ops_low, _num, _ops_high, _num),
    st.builds(lambda v: {"exists": v}, st.booleans()),
    st.builds(lambda v: {"cidr": v}, _cidr),
    st.builds(lambda v: {"wildcard": v}, _wild),
)

leaf = st.one_of(st.lists(matchers, min_size=1, max_size=1), st.lists(matchers, min_size=1, max_size=3))


def _pattern_objects(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    if depth == 0:
        values: st.SearchStrategy[Any] = leaf
    else:
        values = st.one_of(leaf, leaf, st.deferred(lambda: _pattern_objects(depth - 1)))
    plain = st.dictionaries(st.sampled_from(KEYS + ["a.b"]), values, min_size=1, max_size=3)
    if depth == 0:
        return plain
    branches = st.lists(st.deferred(lambda: _pattern_objects(depth - 1)), min_size=2, max_size=3)
    with_or = st.builds(lambda base, ors: {**base, "$or": ors}, st.dictionaries(st.sampled_from(KEYS), values,
                                                                                max_size=2), branches)
    return st.one_of(plain, plain, with_or)


# mostly small patterns (they match often, so a wrong answer shows), some deep ones
patterns = st.one_of(
    st.dictionaries(st.sampled_from(KEYS), leaf, min_size=1, max_size=2),
    st.dictionaries(st.sampled_from(KEYS), st.dictionaries(st.sampled_from(KEYS), leaf, min_size=1, max_size=2),
                    min_size=1, max_size=2),
    _pattern_objects(1),
    _pattern_objects(2),
)


def _value_for(draw: Any, matcher: Any) -> Any:
    """A value that often satisfies ``matcher`` (sometimes a near miss)."""
    if draw(st.integers(0, 4)) == 0:
        return draw(scalars)
    if not isinstance(matcher, dict):
        return matcher
    op, arg = next(iter(matcher.items()))
    if isinstance(arg, dict):  # prefix/suffix ignore-case, anything-but forms
        arg = next(iter(arg.values()))
    if isinstance(arg, list):
        arg = arg[0] if arg and not isinstance(arg[0], str) or op != "numeric" else arg
    tail = draw(st.sampled_from(["", "b", "B", "c"]))
    if op == "prefix":
        return str(arg) + tail
    if op == "suffix":
        return tail + str(arg)
    if op == "equals-ignore-case":
        return draw(st.sampled_from([str(arg), str(arg).upper(), str(arg).lower(), str(arg).swapcase(),
                                     str(arg).casefold()]))
    if op == "wildcard":
        return str(arg).replace("\\*", "*").replace("*", tail)
    if op == "numeric":
        terms = matcher["numeric"]
        bound = draw(st.sampled_from(terms[1::2]))  # near either bound, on both sides
        return bound + draw(st.sampled_from([0, 0.5, -0.5, 1, 1e-9, -1e-9]))
    if op == "cidr":
        return draw(st.sampled_from(["10.0.0.5", "10.0.1.5", "2001:db8::5", "11.0.0.1", "10.0.0.255", "10.0.0.0",
                                     "10.255.255.255", "9.255.255.255", "::ffff:a00:1", "0010.000.000.001",
                                     "010.000.000.001", "::a00:1", "::1", "2001:db8::1"]))
    if op == "exists":
        return draw(scalars)
    if op == "anything-but":
        excluded = arg[0] if isinstance(arg, list) else arg
        if not isinstance(matcher["anything-but"], dict):
            return draw(st.sampled_from([excluded, excluded, draw(scalars)]))
        return draw(st.sampled_from([excluded, str(excluded).upper() + tail, tail + str(excluded), draw(scalars)]))
    return draw(scalars)


@st.composite
def events_for(draw: Any, pattern: dict[str, Any]) -> dict[str, Any]:
    """An event shaped like ``pattern``: often matching, sometimes not, with
    arrays of objects that may split a rule's fields across elements."""

    def build(node: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "$or":
                for k, v in build(draw(st.sampled_from(value))).items():
                    out.setdefault(k, v)
                continue
            if draw(st.integers(0, 9)) == 0:
                continue  # leave the field out
            if isinstance(value, dict):
                child = build(value)
                shape = draw(st.integers(0, 3))
                if shape == 0:  # an array of objects, fields spread over two or three elements
                    keys = list(child)
                    first = {k: child[k] for k in keys if draw(st.booleans())}
                    second = {k: child[k] for k in keys if k not in first or draw(st.booleans())}
                    spread = [first, second]
                    if draw(st.booleans()):
                        spread.append({k: child[k] for k in keys if draw(st.booleans())} | build(value))
                    out[key] = draw(st.permutations(spread))
                elif shape == 1:
                    out[key] = [child, build(value)]
                else:
                    out[key] = child
            else:
                matcher = draw(st.sampled_from(value))
                if isinstance(matcher, dict) and matcher.get("exists") is False:
                    if draw(st.integers(0, 2)) == 0:  # present after all (in some element, maybe)
                        out[key] = draw(scalars)
                    continue
                leaf_value = _value_for(draw, matcher)
                if draw(st.integers(0, 4)) == 0:
                    out[key] = [draw(scalars), leaf_value]
                else:
                    out[key] = leaf_value
        if draw(st.integers(0, 3)) == 0:
            out[draw(st.sampled_from(KEYS))] = draw(event_values)
        return out

    return build(pattern)
